"""The SQLite connection: pragmas, migrations and transactions.

WAL mode, ``synchronous=FULL`` by default (a commit is on disk before it is acknowledged; NORMAL
survives process crashes but not power loss), foreign keys on, and a busy timeout so the admin CLI
can work on a live data directory. Transactions use ``BEGIN IMMEDIATE`` so a writer never upgrades
a read lock mid-transaction.

Reads can also run on their own connections (:meth:`Database.reader`, used by
:meth:`relay.offload.Offload.read` on reader threads and by ``Offload.read_now`` on the event
loop): each thread gets its own read-only connection, so reads (per-request authentication, block
lookups, log pages) never queue behind the writer's commit and its fsync. WAL gives every reader
the last committed state and never makes it wait for the writer; a write attempted inside
``reader()`` raises.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from relay.sqlite.migrations import MIGRATIONS

SCHEMA_VERSION = max(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer relay; refuse to touch it."""


class Database:
    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA"}:
            raise ValueError("synchronous must be FULL, NORMAL or EXTRA")
        self.path = Path(path)
        self.conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=10.0
        )
        self.conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._savepoints = itertools.count()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=10000")
        self.migrate()

    def migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(f"database schema {version} is newer than this relay ({SCHEMA_VERSION})")
        for target in sorted(v for v in MIGRATIONS if v > version):
            with self.transaction() as conn:
                for statement in _split(MIGRATIONS[target]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={target}")

    @contextlib.contextmanager
    def reader(self) -> Iterator[None]:
        """Run the enclosed calls on this thread's own read-only connection (see module doc)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        self._local.active = True
        try:
            yield
        finally:
            self._local.active = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A connection for several reads from one snapshot: the thread's reader connection inside
        :meth:`reader`, else the writer connection under its lock."""
        if getattr(self._local, "active", False):
            conn = self._local.conn
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
            return
        with self._lock:
            yield self.conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A transaction, or a savepoint when called inside :meth:`batch`."""
        if getattr(self._local, "active", False):
            raise RuntimeError("write attempted on a reader thread")
        with self._lock:
            if self.conn.in_transaction:
                name = f"sp{next(self._savepoints)}"
                self.conn.execute(f"SAVEPOINT {name}")
                try:
                    yield self.conn
                except BaseException:
                    self.conn.execute(f"ROLLBACK TO {name}")
                    self.conn.execute(f"RELEASE {name}")
                    raise
                else:
                    self.conn.execute(f"RELEASE {name}")
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """One outer transaction around several calls (group commit, see relay.offload)."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    def query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        if getattr(self._local, "active", False):
            return self._local.conn.execute(sql, params).fetchall()
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple = ()) -> sqlite3.Row | None:
        if getattr(self._local, "active", False):
            return self._local.conn.execute(sql, params).fetchone()
        with self._lock:
            return self.conn.execute(sql, params).fetchone()

    def close(self) -> None:
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        with self._lock:
            self.conn.close()


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
