"""sync.index: opening and migrations, refusal of newer or damaged databases, transactions, the
pure rule of local change, history rows and per-file errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sync.index import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Index,
    IndexCorrupt,
    IndexTooNew,
    LocalUpdate,
    next_local_record,
)
from sync.records import FileRecord, FileType, Ordering, VersionVector

DEV = "DEVICE"
OTHER = "OTHERDEV"


class Clock:
    def __init__(self, start: int = 1_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


def file(path: str = "a.txt", content: bytes = b"h" * 32, size: int = 10, mtime: int = 1, mode: int = 0o644,
         inode: int = 7) -> FileRecord:
    return FileRecord(path, FileType.FILE, size=size, mtime_ns=mtime, mode=mode, inode=inode, content_hash=content)


@pytest.fixture
def index(tmp_path: Path) -> Index:
    idx = Index.open(tmp_path / "index.db", DEV, clock=Clock())
    yield idx
    idx.close()


# -- opening -------------------------------------------------------------------------------------


def test_migrates_from_empty(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "index.db"
    with Index.open(path, DEV) as idx:
        (version,) = idx._conn.execute("PRAGMA user_version").fetchone()
        tables = {r[0] for r in idx._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        (mode,) = idx._conn.execute("PRAGMA journal_mode").fetchone()
    assert version == SCHEMA_VERSION == len(MIGRATIONS)
    assert {"meta", "files", "history", "errors"} <= tables
    assert mode == "wal"


def test_reopening_keeps_everything_and_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    with Index.open(path, DEV) as idx:
        idx.commit_local([LocalUpdate("a.txt", file())])
        idx.set_meta("cursor", "42")
        idx.add_history(idx.get("a.txt"), "stored", 5, "replaced")
        idx.record_errors([("b", "permission", "denied")])
    with Index.open(path, DEV) as idx:
        assert idx.get("a.txt").content_hash == file().content_hash
        assert idx.get_meta("cursor") == "42"
        assert [h.stored_name for h in idx.history()] == ["stored"]
        assert [e.path for e in idx.errors()] == ["b"]
        assert idx.sequence() == 1


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    Index.open(path, DEV).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(IndexTooNew, match="Upgrade Cove"):
        Index.open(path, DEV)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    conn.close()


def test_garbage_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    garbage = b"this is not a database, just some text " * 200
    path.write_bytes(garbage)
    with pytest.raises(IndexCorrupt, match="damaged"):
        Index.open(path, DEV)
    assert path.read_bytes() == garbage


def test_damaged_pages_are_refused_and_the_file_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    with Index.open(path, DEV) as idx:
        idx.commit_local([LocalUpdate(f"dir/file-{i:04}", file(f"dir/file-{i:04}")) for i in range(500)])
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    assert len(data) > 6 * page_size
    # Scribble over the middle of the file (b-tree pages of the files table and its indexes).
    for page in range(2, len(data) // page_size):
        start = page * page_size
        data[start : start + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt):
        Index.open(path, DEV)
    assert path.read_bytes() == bytes(data)


# -- transactions --------------------------------------------------------------------------------


def test_exception_rolls_back_everything(index: Index) -> None:
    with pytest.raises(RuntimeError), index.transaction():
        index.commit_local([LocalUpdate("a", file("a")), LocalUpdate("b", file("b"))])
        index.set_meta("cursor", "1")
        index.add_history(file("a"), "s", 1, "replaced")
        index.record_errors([("c", "kind", "msg")])
        raise RuntimeError("boom")
    assert index.count(include_deleted=True) == 0
    assert index.get_meta("cursor") is None
    assert index.history() == []
    assert index.errors() == []
    assert index.sequence() == 0
    # And the index is usable afterwards.
    index.commit_local([LocalUpdate("a", file("a"))])
    assert index.sequence() == 1


def test_nested_transactions_commit_once(index: Index, tmp_path: Path) -> None:
    with index.transaction():
        index.set_meta("k", "outer")
        with index.transaction():
            index.commit_local([LocalUpdate("a", file("a"))])
        # Another connection sees nothing yet: the inner block did not commit on its own.
        peek = sqlite3.connect(tmp_path / "index.db")
        assert peek.execute("SELECT count(*) FROM files").fetchone()[0] == 0
        peek.close()
    assert index.get("a") is not None
    assert index.get_meta("k") == "outer"


def test_nested_failure_rolls_back_outer(index: Index) -> None:
    with pytest.raises(ValueError), index.transaction():
        index.set_meta("k", "outer")
        with index.transaction():
            index.commit_local([LocalUpdate("a", file("a"))])
            raise ValueError("inner")
    assert index.get_meta("k") is None
    assert index.get("a") is None


def test_caught_nested_failure_undoes_only_the_inner_block(index: Index) -> None:
    with index.transaction():
        index.set_meta("k", "outer")
        try:
            with index.transaction():
                index.commit_local([LocalUpdate("a", file("a"))])
                raise ValueError("inner")
        except ValueError:
            pass
        index.commit_local([LocalUpdate("b", file("b"))])
    assert index.get_meta("k") == "outer"
    assert index.get("a") is None
    assert index.get("b") is not None
    assert index.sequence() == 1


# -- the rule of local change (pure) -------------------------------------------------------------

V1 = VersionVector.of({DEV: 1})
V_OTHER = VersionVector.of({OTHER: 3})
LIVE = file().with_changes(version=V1, sequence=1, modified_by=DEV)
REMOTE = file().with_changes(version=V_OTHER, sequence=1, modified_by=OTHER)
TOMB = FileRecord("a.txt", FileType.FILE, version=VersionVector.of({DEV: 2}), deleted=True, sequence=2)

NEXT_TABLE = [
    # (what, old, observed, expected: None (no change) or (version, deleted))
    ("new file", None, file(), (VersionVector.of({DEV: 1}), False)),
    ("content modified", LIVE, file(content=b"x" * 32, size=11), (VersionVector.of({DEV: 2}), False)),
    ("only mtime and inode differ", LIVE, file(mtime=99, inode=8), None),
    ("mode change", LIVE, file(mode=0o755), (VersionVector.of({DEV: 2}), False)),
    ("type change", LIVE, FileRecord("a.txt", FileType.DIRECTORY, mode=0o644), (VersionVector.of({DEV: 2}), False)),
    ("modify a remote version", REMOTE, file(content=b"y" * 32), (VersionVector.of({OTHER: 3, DEV: 4}), False)),
    ("delete", LIVE, None, (VersionVector.of({DEV: 2}), True)),
    ("delete of a tombstone", TOMB, None, None),
    ("delete of nothing", None, None, None),
    ("re-create after delete", TOMB, file(), (VersionVector.of({DEV: 3}), False)),
]


@pytest.mark.parametrize("what, old, observed, expected", NEXT_TABLE, ids=[r[0] for r in NEXT_TABLE])
def test_next_local_record_table(what: str, old, observed, expected) -> None:
    new = next_local_record(old, observed, DEV, sequence=9)
    if expected is None:
        assert new is None
        return
    version, deleted = expected
    assert new is not None
    assert (new.version, new.deleted, new.sequence, new.modified_by) == (version, deleted, 9, DEV)
    if old is not None:
        assert new.version.compare(old.version) is Ordering.NEWER
    if observed is not None:
        assert new.same_content(observed.with_changes(deleted=False))
        assert new.mode == observed.mode


def test_recreate_dominates_the_tombstone_through_the_index(index: Index) -> None:
    (created,) = index.commit_local([LocalUpdate("a", file("a"))])
    (tomb,) = index.commit_local([LocalUpdate("a", None)])
    assert index.commit_local([LocalUpdate("a", None)]) == []
    (again,) = index.commit_local([LocalUpdate("a", file("a"))])
    assert tomb.deleted and not again.deleted
    assert tomb.version.compare(created.version) is Ordering.NEWER
    assert again.version.compare(tomb.version) is Ordering.NEWER
    assert [created.sequence, tomb.sequence, again.sequence] == [1, 2, 3]


def test_metadata_only_change_refreshes_stat_without_a_version(index: Index) -> None:
    (first,) = index.commit_local([LocalUpdate("a", file("a", mtime=1, inode=7))])
    assert index.commit_local([LocalUpdate("a", file("a", mtime=2, inode=8))]) == []
    now = index.get("a")
    assert (now.mtime_ns, now.inode, now.version, now.sequence) == (2, 8, first.version, first.sequence)


def test_one_batch_gets_consecutive_sequences(index: Index) -> None:
    changed = index.commit_local([LocalUpdate(p, file(p)) for p in ("c", "a", "b")])
    assert [r.sequence for r in changed] == [1, 2, 3]
    assert [r.path for r in index.changes_since(1)] == ["a", "b"]


# -- history rows --------------------------------------------------------------------------------


def test_history_numbers_versions_per_path(index: Index) -> None:
    a, b = file("a").with_changes(version=V1), file("b")
    h1 = index.add_history(a, "s1", 10, "replaced")
    h2 = index.add_history(a, "s2", 20, "deleted")
    h3 = index.add_history(b, "s3", 30, "replaced")
    assert [(h.path, h.version_no) for h in (h1, h2, h3)] == [("a", 1), ("a", 2), ("b", 1)]
    assert h1.version == V1 and h1.content_hash == a.content_hash
    assert index.history("a") == [h1, h2]
    index.remove_history([h1.id])
    assert index.history() == [h2, h3]


# -- errors --------------------------------------------------------------------------------------


def test_errors_scope_clearing(tmp_path: Path) -> None:
    clock = Clock(100)
    with Index.open(tmp_path / "index.db", DEV, clock=clock) as idx:
        idx.record_errors([("a", "perm", "denied"), ("a/x", "perm", "denied"), ("ab", "perm", "denied"), ("c", "io", "eio")])
        clock.now = 200
        # Rescan of "a" only: a/x is fixed, a still fails; ab and c are outside the scope.
        idx.record_errors([("a", "perm", "still denied")], clear_under=["a"])
        got = {(e.path, e.message, e.first_seen_ns, e.last_seen_ns) for e in idx.errors()}
        assert got == {("a", "still denied", 100, 200), ("ab", "denied", 100, 100), ("c", "eio", 100, 100)}
        # Whole-folder scan ("" in scope, or None): only what is reported survives.
        clock.now = 300
        idx.record_errors([("c", "io", "eio")], clear_under=[""])
        assert [(e.path, e.first_seen_ns, e.last_seen_ns) for e in idx.errors()] == [("c", 100, 300)]
        idx.record_errors([])
        assert idx.errors() == []
