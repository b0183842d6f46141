"""The local index: one SQLite database per folder (WAL), through sqlite-utils.

Responsible for storing file records, local history entries, per-file errors and small metadata,
and for the rules of *local* change: when the scanner reports what it saw, the index bumps the
version vector with this device's counter, assigns the next local sequence, and writes it all in
one transaction. Schema changes are numbered migrations (:data:`MIGRATIONS`); a database written
by a newer Cove is refused with a clear message, as is a corrupt one.

Transactions nest: ``with index.transaction():`` around several calls makes them one commit, so
index, cursors and history always change together.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from sync.changes import Change, ChangeKind, FileError
from sync.entries import record_from_wire, record_to_wire
from sync.records import FileRecord, FileType, RemoteRecord, VersionVector, decode_blocks, encode_blocks

# Each migration produces the schema version equal to its position (1-based).
MIGRATIONS: tuple[str, ...] = (
    # 1: initial schema
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE files (
        path TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        mode INTEGER NOT NULL,
        content_hash BLOB,
        blocks BLOB,
        symlink_target TEXT,
        version TEXT NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0,
        sequence INTEGER NOT NULL,
        modified_by TEXT NOT NULL,
        changed_at_ns INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX files_sequence ON files(sequence);
    CREATE INDEX files_content_hash ON files(content_hash) WHERE content_hash IS NOT NULL;
    CREATE TABLE history (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        version_no INTEGER NOT NULL,
        stored_name TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        mode INTEGER NOT NULL,
        content_hash BLOB,
        version TEXT NOT NULL,
        modified_by TEXT NOT NULL,
        archived_at_ns INTEGER NOT NULL,
        reason TEXT NOT NULL,
        UNIQUE (path, version_no)
    );
    CREATE TABLE errors (
        path TEXT NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        first_seen_ns INTEGER NOT NULL,
        last_seen_ns INTEGER NOT NULL,
        PRIMARY KEY (path, kind)
    );
    """,
    # 2: remote state for device-to-device sync
    """
    CREATE TABLE remote_records (
        origin TEXT NOT NULL,
        path TEXT NOT NULL,
        record TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        origin_seq INTEGER NOT NULL,
        PRIMARY KEY (origin, path)
    );
    CREATE INDEX remote_records_path ON remote_records(path);
    CREATE TABLE heads (device TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL);
    CREATE TABLE outbox (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL, local_seq INTEGER NOT NULL);
    CREATE TABLE conflicts (
        id TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at_ns INTEGER NOT NULL,
        resolved_at_ns INTEGER,
        resolution TEXT
    );
    CREATE TABLE block_locations (
        hash BLOB NOT NULL,
        path TEXT NOT NULL,
        offset INTEGER NOT NULL,
        size INTEGER NOT NULL
    );
    CREATE INDEX block_locations_hash ON block_locations(hash);
    CREATE INDEX block_locations_path ON block_locations(path);
    ALTER TABLE files ADD COLUMN publish INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE entries (
        device TEXT NOT NULL,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        wire TEXT NOT NULL,
        PRIMARY KEY (device, seq)
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

_FILE_COLUMNS = (
    "path, type, size, mtime_ns, inode, mode, content_hash, blocks, symlink_target, "
    "version, deleted, sequence, modified_by"
)


class IndexError_(Exception):  # noqa: N801 - avoid shadowing the builtin IndexError
    """Base for index failures."""


class IndexCorrupt(IndexError_):
    pass


class IndexTooNew(IndexError_):
    pass


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    path: str
    version_no: int
    stored_name: str
    size: int
    mtime_ns: int
    mode: int
    content_hash: bytes | None
    version: VersionVector
    modified_by: str
    archived_at_ns: int
    reason: str


@dataclass(frozen=True)
class StoredError:
    path: str
    kind: str
    message: str
    first_seen_ns: int
    last_seen_ns: int


@dataclass(frozen=True)
class LocalUpdate:
    """What the disk now holds at ``path``: ``observed`` (version and sequence ignored), or None if
    the path is gone."""

    path: str
    observed: FileRecord | None


def next_local_record(
    old: FileRecord | None, observed: FileRecord | None, device: str, sequence: int
) -> FileRecord | None:
    """Pure rule for a local change. Returns the record to store, or None when nothing changed
    that other devices need to hear about.

    * New content, type, link target or mode: bump this device's counter on top of the old
      version (a tombstone's too, so a re-created file dominates its delete).
    * Same content and mode, only mtime/inode differ: no new version (caller refreshes the stat
      fields with :meth:`Index.refresh_stat`).
    * Gone: a tombstone with a bumped version; deleting a tombstone or nothing is no change.
    """
    if observed is None:
        if old is None or old.deleted:
            return None
        return FileRecord(
            path=old.path,
            type=old.type,
            mode=old.mode,
            version=old.version.bump(device),
            deleted=True,
            sequence=sequence,
            modified_by=device,
        )
    if old is not None and not old.deleted and old.same_content(observed) and old.mode == observed.mode:
        return None
    base = old.version if old is not None else VersionVector()
    return observed.with_changes(
        version=base.bump(device), deleted=False, sequence=sequence, modified_by=device
    )


def _row_to_record(row: tuple) -> FileRecord:
    (path, typ, size, mtime_ns, inode, mode, content_hash, blocks, target, version, deleted, seq, by) = row
    return FileRecord(
        path=path,
        type=FileType(typ),
        size=size,
        mtime_ns=mtime_ns,
        inode=inode,
        mode=mode,
        content_hash=content_hash,
        blocks=decode_blocks(blocks),
        symlink_target=target,
        version=VersionVector.from_json(version),
        deleted=bool(deleted),
        sequence=seq,
        modified_by=by,
    )


class Index:
    """A folder's index. Safe to share between threads (one connection, one lock)."""

    def __init__(self, conn: sqlite3.Connection, device: str, clock: Callable[[], int]):
        self._conn = conn
        self.db = sqlite_utils.Database(conn)
        self.device = device
        self._clock = clock
        self._lock = threading.RLock()
        self._depth = 0

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: Path, device: str, clock: Callable[[], int] = time.time_ns, check: bool = True
    ) -> Index:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            if check:
                result = conn.execute("PRAGMA quick_check").fetchone()
                if result is None or result[0] != "ok":
                    conn.close()
                    raise IndexCorrupt(f"index {path} failed its integrity check: {result}")
        except sqlite3.DatabaseError as e:
            if conn is not None:
                conn.close()
            raise IndexCorrupt(
                f"index {path} is damaged ({e}). Your files are untouched; move the index away "
                "and run `cove scan` to rebuild it."
            ) from e
        index = cls(conn, device, clock)
        try:
            index._migrate(path)
        except sqlite3.DatabaseError as e:
            conn.close()
            raise IndexCorrupt(f"index {path} is damaged ({e})") from e
        except BaseException:
            conn.close()
            raise
        return index

    def _migrate(self, path: Path) -> None:
        (current,) = self._conn.execute("PRAGMA user_version").fetchone()
        if current > SCHEMA_VERSION:
            raise IndexTooNew(
                f"index {path} has schema version {current}, newer than this Cove understands "
                f"({SCHEMA_VERSION}). Upgrade Cove."
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                for statement in MIGRATIONS[version - 1].split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                if version == 2:
                    for record in self.records():
                        self._locate_blocks(record)
                self._conn.execute(f"PRAGMA user_version={version}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One SQLite transaction; nested uses join the outer one. A nested block is a savepoint:
        if it raises, its own changes are undone even when the outer block catches the exception
        and commits, so a half-applied inner batch is never committed."""
        with self._lock:
            depth = self._depth
            if depth == 0:
                self._conn.execute("BEGIN IMMEDIATE")
            else:
                self._conn.execute(f"SAVEPOINT nested_{depth}")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if not self._conn.in_transaction:
                    pass  # SQLite already rolled the whole transaction back (e.g. disk full)
                elif depth == 0:
                    self._conn.execute("ROLLBACK")
                else:
                    self._conn.execute(f"ROLLBACK TO nested_{depth}")
                    self._conn.execute(f"RELEASE nested_{depth}")
                raise
            self._depth -= 1
            if depth == 0:
                try:
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            else:
                self._conn.execute(f"RELEASE nested_{depth}")

    # -- metadata ----------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._conn.execute(
                "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, value),
            )

    # -- records -----------------------------------------------------------------------------

    def get(self, path: str) -> FileRecord | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE path=?", (path,)).fetchone()
        return _row_to_record(row) if row else None

    def get_many(self, paths: Sequence[str]) -> dict[str, FileRecord]:
        """The records of those of ``paths`` the index has."""
        return self._get_many(paths)

    def _get_many(self, paths: Sequence[str]) -> dict[str, FileRecord]:
        out: dict[str, FileRecord] = {}
        with self._lock:
            for i in range(0, len(paths), 500):
                chunk = paths[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for row in self._conn.execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE path IN ({marks})", chunk):
                    out[row[0]] = _row_to_record(row)
        return out

    def records(self, include_deleted: bool = False, prefix: str | None = None) -> Iterator[FileRecord]:
        """Records in path order, optionally only under directory ``prefix``."""
        sql = f"SELECT {_FILE_COLUMNS} FROM files"
        where, args = [], []
        if not include_deleted:
            where.append("deleted=0")
        if prefix:
            # a range, so SQLite uses the primary key: "p/..." sorts between "p/" and "p0"
            where.append("(path=? OR (path>=? AND path<?))")
            args += [prefix, prefix + "/", prefix + "0"]
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY path"
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return (_row_to_record(r) for r in rows)

    def scan_state(self) -> dict[str, FileRecord]:
        """Every live record by path: what the scanner compares the disk against."""
        return {r.path: r for r in self.records()}

    def count(self, include_deleted: bool = False) -> int:
        sql = "SELECT count(*) FROM files" + ("" if include_deleted else " WHERE deleted=0")
        with self._lock:
            return self._conn.execute(sql).fetchone()[0]

    def by_content_hash(self, content_hash: bytes) -> list[FileRecord]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_FILE_COLUMNS} FROM files WHERE content_hash=? AND deleted=0", (content_hash,)
            ).fetchall()
        return [_row_to_record(r) for r in rows]

    def sequence(self) -> int:
        """The highest local sequence assigned so far."""
        with self._lock:
            row = self._conn.execute("SELECT max(sequence) FROM files").fetchone()
        return row[0] or 0

    def changes_since(self, sequence: int, limit: int = 1000, publish_only: bool = False) -> list[FileRecord]:
        """Records changed after local ``sequence``, in order. ``publish_only``: only this
        device's own new versions (what it must tell other devices), not records it took over
        from them."""
        where = "sequence>?" + (" AND publish=1" if publish_only else "")
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_FILE_COLUMNS} FROM files WHERE {where} ORDER BY sequence LIMIT ?",
                (sequence, limit),
            ).fetchall()
        return [_row_to_record(r) for r in rows]

    def put(self, record: FileRecord, publish: bool = True) -> None:
        """Store ``record`` exactly as given (version and sequence included). ``publish``: it is a
        version this device made and must announce; False for what it took over from others."""
        with self.transaction():
            self._put(record, publish)

    def _put(self, r: FileRecord, publish: bool = True) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO files (path, type, size, mtime_ns, inode, mode, content_hash, blocks, "
            "symlink_target, version, deleted, sequence, modified_by, changed_at_ns, publish) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                r.path,
                r.type.value,
                r.size,
                r.mtime_ns,
                r.inode,
                r.mode,
                r.content_hash,
                encode_blocks(r.blocks) if r.blocks else None,
                r.symlink_target,
                r.version.to_json(),
                int(r.deleted),
                r.sequence,
                r.modified_by,
                self._clock(),
                int(publish),
            ),
        )
        self._locate_blocks(r)

    def _locate_blocks(self, r: FileRecord) -> None:
        """Keep ``block_locations`` (which local file holds which block) in step with ``files``."""
        self._conn.execute("DELETE FROM block_locations WHERE path=?", (r.path,))
        if r.deleted or r.type is not FileType.FILE or not r.blocks:
            return
        offset = 0
        rows = []
        for b in r.blocks:
            rows.append((b.hash, r.path, offset, b.size))
            offset += b.size
        self._conn.executemany(
            "INSERT INTO block_locations (hash, path, offset, size) VALUES (?,?,?,?)", rows
        )

    def commit_local(self, updates: Sequence[LocalUpdate]) -> list[FileRecord]:
        """Record what the disk holds now, as changes made by this device, in one transaction.
        Returns the records that got a new version."""
        changed: list[FileRecord] = []
        with self.transaction():
            seq = self.sequence()
            olds = self._get_many([u.path for u in updates])
            for u in updates:
                old = olds.get(u.path)
                new = next_local_record(old, u.observed, self.device, seq + 1)
                if new is None:
                    if u.observed is not None and old is not None and not old.deleted:
                        self._refresh_stat(u.observed)
                    continue
                seq += 1
                self._put(new)
                olds[u.path] = new  # a path may come twice in a batch (moved away, then re-created)
                changed.append(new)
        return changed

    def apply_scan(
        self,
        changes: Sequence[Change],
        errors: Sequence[FileError],
        scope: Sequence[str] | None = None,
    ) -> list[FileRecord]:
        """Record a scan's outcome in one transaction: changes become new local versions (a move
        is a tombstone at the old path plus the record at the new one, blocks reused), stat-only
        changes refresh the stat cache, and the per-file errors of the scanned ``scope`` (paths
        and their subtrees; None means the whole folder) are replaced by ``errors``."""
        updates: list[LocalUpdate] = []
        with self.transaction():
            for c in changes:
                if c.kind is ChangeKind.METADATA:
                    self._refresh_stat(c.record)
                elif c.kind is ChangeKind.DELETED:
                    updates.append(LocalUpdate(c.path, None))
                elif c.kind is ChangeKind.MOVED:
                    assert c.old_path is not None
                    updates.append(LocalUpdate(c.old_path, None))
                    updates.append(LocalUpdate(c.path, c.record))
                else:
                    updates.append(LocalUpdate(c.path, c.record))
            changed = self.commit_local(updates)
            self.record_errors(((e.path, e.kind.value, e.message) for e in errors), clear_under=scope)
            self.set_meta("last_scan_ns", str(self._clock()))
        return changed

    def refresh_stat(self, observed: FileRecord) -> None:
        """Remember a new mtime/inode for a file whose content did not change."""
        with self.transaction():
            self._refresh_stat(observed)

    def _refresh_stat(self, observed: FileRecord) -> None:
        self._conn.execute(
            "UPDATE files SET mtime_ns=?, inode=?, size=? WHERE path=?",
            (observed.mtime_ns, observed.inode, observed.size, observed.path),
        )

    def blocks_held(self, hashes: Sequence[bytes]) -> set[bytes]:
        """Which of ``hashes`` some local file holds (by the index; readers still verify)."""
        return set(self.block_sources_many(hashes))

    def block_sources_many(self, hashes: Sequence[bytes]) -> dict[bytes, list[tuple[str, int, int]]]:
        """:meth:`block_sources` of many blocks in a few queries: hash -> [(path, offset, size)]."""
        out: dict[bytes, list[tuple[str, int, int]]] = {}
        unique = list(dict.fromkeys(hashes))
        with self._lock:
            for i in range(0, len(unique), 500):
                chunk = unique[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for h, path, offset, size in self._conn.execute(
                    f"SELECT hash, path, offset, size FROM block_locations WHERE hash IN ({marks})", chunk
                ):
                    out.setdefault(h, []).append((path, offset, size))
        return out

    def block_sources(self, block_hash: bytes) -> list[tuple[str, int, int]]:
        """Local files that hold a block, as ``(path, offset, size)``: a download reads these
        before asking the network."""
        with self._lock:
            return self._conn.execute(
                "SELECT path, offset, size FROM block_locations WHERE hash=?", (block_hash,)
            ).fetchall()

    # -- remote state ------------------------------------------------------------------------

    def put_remote(self, origin: str, record: FileRecord, epoch: int, origin_seq: int) -> None:
        """Remember ``origin``'s latest record of ``record.path``."""
        with self.transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO remote_records (origin, path, record, epoch, origin_seq) "
                "VALUES (?,?,?,?,?)",
                (origin, record.path, json.dumps(record_to_wire(record), sort_keys=True), epoch, origin_seq),
            )

    def remote_for(self, path: str) -> list[RemoteRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT origin, record, epoch FROM remote_records WHERE path=? ORDER BY origin", (path,)
            ).fetchall()
        return [RemoteRecord(origin, record_from_wire(json.loads(rec)), epoch) for origin, rec, epoch in rows]

    def remote_for_many(self, paths: Iterable[str]) -> dict[str, list[RemoteRecord]]:
        """:meth:`remote_for` of many paths in a few queries (paths without records are absent)."""
        out: dict[str, list[RemoteRecord]] = {}
        unique = list(dict.fromkeys(paths))
        with self._lock:
            rows = []
            for i in range(0, len(unique), 500):
                chunk = unique[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows += self._conn.execute(
                    f"SELECT path, origin, record, epoch FROM remote_records WHERE path IN ({marks})", chunk
                ).fetchall()
        rows.sort(key=lambda r: (r[0], r[1]))
        for path, origin, rec, epoch in rows:
            out.setdefault(path, []).append(RemoteRecord(origin, record_from_wire(json.loads(rec)), epoch))
        return out

    def remote_paths(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT DISTINCT path FROM remote_records ORDER BY path")]

    def head(self, device: str) -> tuple[int, str] | None:
        """The newest verified entry of ``device``'s log: ``(seq, hash)``."""
        with self._lock:
            row = self._conn.execute("SELECT seq, hash FROM heads WHERE device=?", (device,)).fetchone()
        return (row[0], row[1]) if row else None

    def set_head(self, device: str, seq: int, entry_hash: str) -> None:
        with self.transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO heads (device, seq, hash) VALUES (?,?,?)", (device, seq, entry_hash)
            )

    def put_entry(self, device: str, seq: int, entry_hash: str, wire: str) -> None:
        """Keep a verified log entry (this device's own or another's), to serve LAN peers."""
        with self.transaction():
            self._conn.execute(
                "INSERT OR IGNORE INTO entries (device, seq, hash, wire) VALUES (?,?,?,?)",
                (device, seq, entry_hash, wire),
            )

    def entries_after(self, device: str, seq: int, limit: int = 1000) -> list[str]:
        """Wire forms of ``device``'s entries after ``seq``, in order."""
        with self._lock:
            return [
                r[0]
                for r in self._conn.execute(
                    "SELECT wire FROM entries WHERE device=? AND seq>? ORDER BY seq LIMIT ?", (device, seq, limit)
                )
            ]

    def heads(self) -> dict[str, tuple[int, str]]:
        with self._lock:
            return {d: (s, h) for d, s, h in self._conn.execute("SELECT device, seq, hash FROM heads")}

    def outbox_add(self, seq: int, entry_json: str, local_seq: int) -> None:
        """Keep a sealed entry until the relay acknowledges it, so a retry after a crash sends the
        very same bytes (the relay treats an identical retry as a no-op)."""
        with self.transaction():
            self._conn.execute(
                "INSERT INTO outbox (seq, entry, local_seq) VALUES (?,?,?)", (seq, entry_json, local_seq)
            )

    def outbox(self) -> list[tuple[int, str, int]]:
        with self._lock:
            return self._conn.execute("SELECT seq, entry, local_seq FROM outbox ORDER BY seq").fetchall()

    def outbox_remove(self, seq: int) -> None:
        with self.transaction():
            self._conn.execute("DELETE FROM outbox WHERE seq=?", (seq,))

    def put_conflict(self, conflict_id: str, path: str, data: str, created_at_ns: int) -> bool:
        """Store a conflict record once; returns False when it was already known."""
        with self.transaction():
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO conflicts (id, path, data, created_at_ns) VALUES (?,?,?,?)",
                (conflict_id, path, data, created_at_ns),
            )
            return cur.rowcount > 0

    def resolve_conflict(self, conflict_id: str, resolution: str, at_ns: int) -> None:
        with self.transaction():
            self._conn.execute(
                "UPDATE conflicts SET resolved_at_ns=?, resolution=? WHERE id=? AND resolved_at_ns IS NULL",
                (at_ns, resolution, conflict_id),
            )

    def conflicts(self, include_resolved: bool = False) -> list[tuple[str, str, str, int, int | None, str | None]]:
        """``(id, path, data, created_at_ns, resolved_at_ns, resolution)`` rows, oldest first."""
        sql = "SELECT id, path, data, created_at_ns, resolved_at_ns, resolution FROM conflicts"
        if not include_resolved:
            sql += " WHERE resolved_at_ns IS NULL"
        with self._lock:
            return self._conn.execute(sql + " ORDER BY created_at_ns, id").fetchall()

    # -- history -----------------------------------------------------------------------------

    def add_history(
        self, record: FileRecord, stored_name: str, archived_at_ns: int, reason: str
    ) -> HistoryEntry:
        with self.transaction():
            row = self._conn.execute(
                "SELECT max(version_no) FROM history WHERE path=?", (record.path,)
            ).fetchone()
            version_no = (row[0] or 0) + 1
            cur = self._conn.execute(
                "INSERT INTO history (path, version_no, stored_name, size, mtime_ns, mode, content_hash, "
                "version, modified_by, archived_at_ns, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.path,
                    version_no,
                    stored_name,
                    record.size,
                    record.mtime_ns,
                    record.mode,
                    record.content_hash,
                    record.version.to_json(),
                    record.modified_by,
                    archived_at_ns,
                    reason,
                ),
            )
            return self._history_by_id(cur.lastrowid)  # type: ignore[arg-type]

    def _history_by_id(self, hid: int) -> HistoryEntry:
        row = self._conn.execute(
            "SELECT id, path, version_no, stored_name, size, mtime_ns, mode, content_hash, version, "
            "modified_by, archived_at_ns, reason FROM history WHERE id=?",
            (hid,),
        ).fetchone()
        return _row_to_history(row)

    def history(self, path: str | None = None) -> list[HistoryEntry]:
        """Kept versions of ``path`` (all paths when None), oldest first."""
        sql = (
            "SELECT id, path, version_no, stored_name, size, mtime_ns, mode, content_hash, version, "
            "modified_by, archived_at_ns, reason FROM history"
        )
        args: tuple = ()
        if path is not None:
            sql += " WHERE path=?"
            args = (path,)
        sql += " ORDER BY path, version_no"
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [_row_to_history(r) for r in rows]

    def remove_history(self, ids: Iterable[int]) -> None:
        with self.transaction():
            self._conn.executemany("DELETE FROM history WHERE id=?", [(i,) for i in ids])

    # -- errors ------------------------------------------------------------------------------

    def record_errors(
        self, errors: Iterable[tuple[str, str, str]], clear_under: Sequence[str] | None = None
    ) -> None:
        """Store per-file errors ``(path, kind, message)``. First clears the old errors of the
        scanned scope: everything when ``clear_under`` is None, else those paths and what is below
        them ("" means the whole folder). An error seen again keeps its first-seen time."""
        now = self._clock()
        with self.transaction():
            old = {(p, k): f for p, k, f in self._conn.execute("SELECT path, kind, first_seen_ns FROM errors")}
            if clear_under is None or "" in clear_under:
                self._conn.execute("DELETE FROM errors")
            else:
                for prefix in clear_under:
                    self._conn.execute(
                        "DELETE FROM errors WHERE path=? OR substr(path, 1, ?)=?",
                        (prefix, len(prefix) + 1, prefix + "/"),
                    )
            for path, kind, message in errors:
                first = old.get((path, kind), now)
                self._conn.execute(
                    "INSERT OR REPLACE INTO errors (path, kind, message, first_seen_ns, last_seen_ns) "
                    "VALUES (?,?,?,?,?)",
                    (path, kind, message, first, now),
                )

    def errors(self) -> list[StoredError]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT path, kind, message, first_seen_ns, last_seen_ns FROM errors ORDER BY path, kind"
            ).fetchall()
        return [StoredError(*r) for r in rows]


def _row_to_history(row: tuple) -> HistoryEntry:
    (hid, path, no, stored, size, mtime_ns, mode, content_hash, version, by, at, reason) = row
    return HistoryEntry(
        id=hid,
        path=path,
        version_no=no,
        stored_name=stored,
        size=size,
        mtime_ns=mtime_ns,
        mode=mode,
        content_hash=content_hash,
        version=VersionVector.from_json(version),
        modified_by=by,
        archived_at_ns=at,
        reason=reason,
    )
