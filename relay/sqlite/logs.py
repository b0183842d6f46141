"""SQLite implementation of :class:`relay.storage.LogStore`: per-device entry chains in each
folder, the folder's relay sequence, device heads and durable per-device cursors.

An append is one transaction: compare-and-set on the device head (:func:`relay.rules.decide_append`),
check that every referenced block is stored in the folder, bump their reference counts, give the
entry the folder's next relay sequence number, move the head.
"""

from __future__ import annotations

import json

from relay import rules
from relay.errors import Conflict, NotFound, Unprocessable
from relay.records import Head, StoredEntry
from relay.sqlite.db import Database
from sync.wire.envelopes import GENESIS_HASH, LogEntry

_CHUNK = 400  # host parameters per IN (...) query


class SqliteLogs:
    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, entry: LogEntry, entry_hash: str, now: float) -> tuple[int, bool]:
        with self.db.transaction() as c:
            folder = c.execute("SELECT last_rseq FROM folders WHERE folder_id=?", (entry.folder,)).fetchone()
            if folder is None:
                raise NotFound("no such folder", code="folder_not_found")
            existing = c.execute(
                "SELECT rseq, hash FROM entries WHERE folder_id=? AND device_id=? AND seq=?",
                (entry.folder, entry.device, entry.seq),
            ).fetchone()
            hrow = c.execute(
                "SELECT seq, hash FROM heads WHERE folder_id=? AND device_id=?", (entry.folder, entry.device)
            ).fetchone()
            head = Head(hrow["seq"], hrow["hash"]) if hrow else Head(0, GENESIS_HASH)
            decision = rules.decide_append(
                head, existing["hash"] if existing else None, entry.seq, entry.prev, entry_hash
            )
            if decision is rules.AppendDecision.DUPLICATE:
                return existing["rseq"], False
            if decision is rules.AppendDecision.CONFLICT:
                raise Conflict(
                    "entry does not extend the device's head",
                    code="head_mismatch",
                    head={"seq": head.seq, "hash": head.hash},
                )
            unique = sorted(set(entry.blocks))
            present: set[str] = set()
            for i in range(0, len(unique), _CHUNK):
                part = unique[i : i + _CHUNK]
                rows = c.execute(
                    f"SELECT block_id FROM blocks WHERE folder_id=? AND block_id IN ({','.join('?' * len(part))})",
                    (entry.folder, *part),
                ).fetchall()
                present.update(r[0] for r in rows)
            missing = [b for b in unique if b not in present]
            if missing:
                raise Unprocessable(
                    "entry references blocks the relay does not hold",
                    code="missing_blocks",
                    missing=missing[:100],
                    missing_count=len(missing),
                )
            c.executemany(
                "UPDATE blocks SET refcount = refcount + 1 WHERE folder_id=? AND block_id=?",
                [(entry.folder, b) for b in unique],
            )
            rseq = folder["last_rseq"] + 1
            c.execute(
                "INSERT INTO entries VALUES (?,?,?,?,?,?,?)",
                (entry.folder, rseq, entry.device, entry.seq, entry_hash,
                 json.dumps(entry.to_wire(), separators=(",", ":")), now),
            )
            c.execute(
                "INSERT OR REPLACE INTO heads VALUES (?,?,?,?)", (entry.folder, entry.device, entry.seq, entry_hash)
            )
            c.execute("UPDATE folders SET last_rseq=? WHERE folder_id=?", (rseq, entry.folder))
            return rseq, True

    def heads(self, folder: str) -> dict[str, Head]:
        rows = self.db.query("SELECT device_id, seq, hash FROM heads WHERE folder_id=?", (folder,))
        return {r["device_id"]: Head(r["seq"], r["hash"]) for r in rows}

    def read(self, folder: str, after: int, limit: int) -> list[StoredEntry]:
        rows = self.db.query(
            "SELECT rseq, wire FROM entries WHERE folder_id=? AND rseq>? ORDER BY rseq LIMIT ?",
            (folder, after, limit),
        )
        return [StoredEntry(r["rseq"], r["wire"]) for r in rows]

    def last_rseq(self, folder: str) -> int:
        row = self.db.query_one("SELECT last_rseq FROM folders WHERE folder_id=?", (folder,))
        if row is None:
            raise NotFound("no such folder", code="folder_not_found")
        return row["last_rseq"]

    def set_cursor(self, folder: str, device_id: str, rseq: int) -> None:
        with self.db.transaction() as c:
            row = c.execute("SELECT last_rseq FROM folders WHERE folder_id=?", (folder,)).fetchone()
            if row is None:
                raise NotFound("no such folder", code="folder_not_found")
            if rseq > row["last_rseq"]:
                raise Unprocessable("cursor beyond the end of the log", code="cursor_out_of_range",
                                    last_rseq=row["last_rseq"])
            c.execute("INSERT OR REPLACE INTO cursors VALUES (?,?,?)", (folder, device_id, rseq))

    def get_cursor(self, folder: str, device_id: str) -> int:
        row = self.db.query_one("SELECT rseq FROM cursors WHERE folder_id=? AND device_id=?", (folder, device_id))
        return row["rseq"] if row else 0
