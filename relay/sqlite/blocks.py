"""SQLite implementation of :class:`relay.storage.BlockIndex`: which blocks each folder holds,
their sizes and SHA-256, reference counts from log entries, the account each is charged to, and
per-account usage against quotas.

A block is charged to the account that first uploaded it into a folder; uploading a block the
folder already has costs nothing. Blocks with no references whose ``touched_at`` (last upload) is
older than the grace period are garbage.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from relay.errors import InsufficientStorage, NotFound
from relay.records import BlockInfo
from relay.sqlite.db import Database

_CHUNK = 400


def _block(row: sqlite3.Row) -> BlockInfo:
    return BlockInfo(row["folder_id"], row["block_id"], row["size"], row["sha256"], row["charged_to"],
                     row["refcount"], row["touched_at"])


class SqliteBlocks:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get_block(self, folder: str, block_id: str) -> BlockInfo | None:
        row = self.db.query_one("SELECT * FROM blocks WHERE folder_id=? AND block_id=?", (folder, block_id))
        return _block(row) if row else None

    def missing(self, folder: str, block_ids: Iterable[str]) -> list[str]:
        wanted = list(dict.fromkeys(block_ids))
        present: set[str] = set()
        for i in range(0, len(wanted), _CHUNK):
            part = wanted[i : i + _CHUNK]
            rows = self.db.query(
                f"SELECT block_id FROM blocks WHERE folder_id=? AND block_id IN ({','.join('?' * len(part))})",
                (folder, *part),
            )
            present.update(r[0] for r in rows)
        return [b for b in wanted if b not in present]

    def check_quota(self, username: str, size: int) -> None:
        row = self.db.query_one("SELECT used, quota FROM users WHERE username=?", (username,))
        if row is None:
            raise NotFound("no such user", code="user_not_found")
        if row["used"] + size > row["quota"]:
            raise InsufficientStorage("account quota exceeded", used=row["used"], quota=row["quota"])

    def add_block(self, folder: str, block_id: str, size: int, sha256: str, charged_to: str, now: float) -> bool:
        """Record a stored block; False (and only a touch) if the folder already had it."""
        return self.add_blocks(folder, [(block_id, size, sha256)], charged_to, now)[0]

    def add_blocks(self, folder: str, blocks: list[tuple[str, int, str]], charged_to: str, now: float) -> list[bool]:
        """Record stored blocks ``(block_id, size, sha256)`` in one transaction: per block, True if
        it is new to the folder, False if the folder had it (its grace period is renewed). All
        or nothing: the new blocks together must fit the account's quota (507 otherwise)."""
        with self.db.transaction() as c:
            present: set[str] = set()
            ids = [b[0] for b in blocks]
            for i in range(0, len(ids), _CHUNK):
                part = ids[i : i + _CHUNK]
                rows = c.execute(
                    f"SELECT block_id FROM blocks WHERE folder_id=? AND block_id IN ({','.join('?' * len(part))})",
                    (folder, *part),
                ).fetchall()
                present.update(r[0] for r in rows)
            new = [b for b in blocks if b[0] not in present]
            if present:
                c.executemany("UPDATE blocks SET touched_at=? WHERE folder_id=? AND block_id=?",
                              [(now, folder, b) for b in present])
            if new:
                added = sum(b[1] for b in new)
                user = c.execute("SELECT used, quota FROM users WHERE username=?", (charged_to,)).fetchone()
                if user is None:
                    raise NotFound("no such user", code="user_not_found")
                if user["used"] + added > user["quota"]:
                    raise InsufficientStorage("account quota exceeded", used=user["used"], quota=user["quota"])
                c.executemany("INSERT INTO blocks VALUES (?,?,?,?,?,0,?)",
                              [(folder, b, size, sha, charged_to, now) for b, size, sha in new])
                c.execute("UPDATE users SET used = used + ? WHERE username=?", (added, charged_to))
                c.execute("UPDATE stats SET value = value + ? WHERE name='blocks'", (len(new),))
                c.execute("UPDATE stats SET value = value + ? WHERE name='block_bytes'", (added,))
            return [b[0] not in present for b in blocks]

    def gc_candidates(self, unreferenced_before: float, limit: int) -> list[BlockInfo]:
        rows = self.db.query(
            "SELECT * FROM blocks WHERE refcount=0 AND touched_at < ? ORDER BY touched_at LIMIT ?",
            (unreferenced_before, limit),
        )
        return [_block(r) for r in rows]

    def delete_if_unreferenced(self, folder: str, block_id: str, unreferenced_before: float) -> bool:
        with self.db.transaction() as c:
            row = c.execute(
                "SELECT * FROM blocks WHERE folder_id=? AND block_id=? AND refcount=0 AND touched_at < ?",
                (folder, block_id, unreferenced_before),
            ).fetchone()
            if row is None:
                return False
            c.execute("DELETE FROM blocks WHERE folder_id=? AND block_id=?", (folder, block_id))
            c.execute("UPDATE users SET used = MAX(0, used - ?) WHERE username=?", (row["size"], row["charged_to"]))
            c.execute("UPDATE stats SET value = value - 1 WHERE name='blocks'")
            c.execute("UPDATE stats SET value = value - ? WHERE name='block_bytes'", (row["size"],))
            return True

    def usage(self, username: str) -> tuple[int, int, int]:
        """(bytes used, quota, blocks charged) for an account."""
        row = self.db.query_one("SELECT used, quota FROM users WHERE username=?", (username,))
        if row is None:
            raise NotFound("no such user", code="user_not_found")
        n = self.db.query_one("SELECT COUNT(*) FROM blocks WHERE charged_to=?", (username,))[0]
        return row["used"], row["quota"], n

    def count(self) -> tuple[int, int]:
        """(number of blocks, total bytes) across the relay."""
        rows = {r["name"]: r["value"] for r in self.db.query("SELECT name, value FROM stats")}
        return rows.get("blocks", 0), rows.get("block_bytes", 0)
