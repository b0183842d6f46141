"""sync.history: retention tables (pure, injected now), archive and restore with real files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync import chunker
from sync.config import TEMP_PREFIX, VersioningConfig
from sync.fileops import ChangedOnDisk, UnsafePath, atomic_write
from sync.history import (
    DAY,
    HOUR,
    ArchiveReason,
    History,
    HistoryError,
    Keep,
    VersionNotFound,
    VersionUnavailable,
    select_prune,
)
from sync.index import HistoryEntry, Index, LocalUpdate
from sync.records import FileRecord, FileType, Ordering, VersionVector

MINUTE = 60 * 10**9
NOW = 1_700_000_000 * 10**9


# -- retention (pure) ----------------------------------------------------------------------------


def entries(ages: list[int], path: str = "f", first_id: int = 1) -> list[HistoryEntry]:
    """One entry per age (ns before NOW), ids in list order."""
    return [
        HistoryEntry(
            id=first_id + i, path=path, version_no=first_id + i, stored_name=f"s{first_id + i}", size=0,
            mtime_ns=0, mode=0o644, content_hash=None, version=VersionVector(), modified_by="d",
            archived_at_ns=NOW - age, reason="replaced",
        )
        for i, age in enumerate(ages)
    ]


H, D = HOUR, DAY

RETENTION_TABLE = [
    # (what, ages oldest first, keep, max_age_days, expected dropped ids (1-based positions))
    ("first hour keeps every version", [50 * MINUTE, 30 * MINUTE, 29 * MINUTE, MINUTE, 0], 0, 0, set()),
    ("keep limits the count, oldest go", [50 * MINUTE, 40 * MINUTE, 30 * MINUTE, 20 * MINUTE, 10 * MINUTE], 3, 0, {1, 2}),
    ("first day: one per hour", [3 * H, 5 * H // 2, 2 * H, 6 * H // 5, 50 * MINUTE, 10 * MINUTE], 0, 0, {2, 4}),
    ("first month: one per day", [10 * D, 19 * D // 2, 9 * D, 2 * D, 3 * D // 2, 20 * H], 0, 0, {2, 5}),
    ("after a month: one per week", [60 * D, 55 * D, 53 * D, 40 * D, 35 * D, 29 * D], 0, 0, {2, 5}),
    ("nothing older than max_age_days", [31 * D, 29 * D, MINUTE], 0, 30, {1}),
    ("max_age_days 0 keeps forever", [400 * D, 300 * D], 0, 0, set()),
    ("thinning before counting", [3 * H, 5 * H // 2, 2 * H, 50 * MINUTE, 10 * MINUTE], 2, 0, {1, 2, 3}),
    ("archived in the future counts as new", [10 * MINUTE, -5 * MINUTE], 1, 0, {1}),
    ("single old version survives thinning", [100 * D], 20, 365, set()),
]


@pytest.mark.parametrize("what, ages, keep, max_age, expected", RETENTION_TABLE, ids=[r[0] for r in RETENTION_TABLE])
def test_select_prune_table(what: str, ages: list[int], keep: int, max_age: int, expected: set[int]) -> None:
    assert select_prune(entries(ages), NOW, VersioningConfig(keep=keep, max_age_days=max_age)) == expected


def test_select_prune_is_per_path() -> None:
    es = entries([30 * MINUTE, 20 * MINUTE, 10 * MINUTE], "a") + entries([25 * MINUTE, 5 * MINUTE], "b", first_id=10)
    assert select_prune(es, NOW, VersioningConfig(keep=2, max_age_days=0)) == {1}


def test_select_prune_input_order_does_not_matter() -> None:
    es = entries([3 * H, 5 * H // 2, 2 * H, 6 * H // 5, 50 * MINUTE])
    assert select_prune(list(reversed(es)), NOW, VersioningConfig(0, 0)) == {2, 4}


@given(
    ages=st.lists(st.integers(min_value=0, max_value=400 * DAY), max_size=40),
    keep=st.integers(min_value=0, max_value=10),
    max_age=st.integers(min_value=0, max_value=100),
)
def test_select_prune_is_idempotent_and_keeps_the_newest_recent(ages: list[int], keep: int, max_age: int) -> None:
    config = VersioningConfig(keep=keep, max_age_days=max_age)
    es = entries(sorted(ages, reverse=True))
    drop = select_prune(es, NOW, config)
    survivors = [e for e in es if e.id not in drop]
    assert select_prune(survivors, NOW, config) == set()
    if keep:
        assert len(survivors) <= keep
    recent = [e for e in es if NOW - e.archived_at_ns < HOUR]
    if recent:
        assert recent[-1] in survivors


# -- archive and restore (real files) ------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        self.now += 1000
        return self.now


def observe(root: Path, relpath: str) -> FileRecord | None:
    """Stat and hash one path, as the scanner does."""
    path = root / relpath
    try:
        s = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(s.st_mode):
        return FileRecord(relpath, FileType.SYMLINK, inode=s.st_ino, symlink_target=os.readlink(path))
    if stat.S_ISDIR(s.st_mode):
        return FileRecord(relpath, FileType.DIRECTORY, inode=s.st_ino, mode=stat.S_IMODE(s.st_mode))
    hashed = chunker.hash_file(path)
    return FileRecord(
        relpath, FileType.FILE, size=hashed.size, mtime_ns=s.st_mtime_ns, mode=stat.S_IMODE(s.st_mode),
        inode=s.st_ino, content_hash=hashed.content_hash, blocks=hashed.blocks,
    )


class Folder:
    def __init__(self, tmp_path: Path, config: VersioningConfig | None = None) -> None:
        self.root = tmp_path / "root"
        self.root.mkdir()
        self.clock = Clock()
        self.index = Index.open(tmp_path / "index.db", device="DEVICE", clock=self.clock)
        self.history = History(self.root, self.index, config or VersioningConfig(), self.clock, observe=observe)

    def write(self, relpath: str, data: bytes) -> FileRecord:
        """The user writes a file, and a scan records it."""
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.index.commit_local([LocalUpdate(relpath, observe(self.root, relpath))])
        rec = self.index.get(relpath)
        assert rec is not None
        return rec

    def replace(self, relpath: str, data: bytes) -> None:
        """The engine replaces a file with a remote version: archive, then atomic write."""
        old = self.index.get(relpath)
        assert old is not None
        with self.index.transaction():
            self.history.archive(old, ArchiveReason.REPLACED, Keep.LINK)
            atomic_write(self.root / relpath, [data])
            self.index.commit_local([LocalUpdate(relpath, observe(self.root, relpath))])

    def history_files(self) -> list[str]:
        return sorted(os.listdir(self.history.dir)) if self.history.dir.exists() else []


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    f = Folder(tmp_path)
    yield f
    f.index.close()


def test_archive_link_then_replace_keeps_old_bytes(folder: Folder) -> None:
    old = folder.write("docs/a.txt", b"version one")
    folder.replace("docs/a.txt", b"version two")
    (entry,) = folder.history.versions("docs/a.txt")
    assert (entry.version_no, entry.reason, entry.size) == (1, "replaced", len(b"version one"))
    assert entry.content_hash == old.content_hash
    assert entry.version == old.version
    assert folder.history.stored_path(entry).read_bytes() == b"version one"
    assert (folder.root / "docs/a.txt").read_bytes() == b"version two"
    assert "/" not in entry.stored_name


def test_archive_move_is_the_delete(folder: Folder) -> None:
    rec = folder.write("a.txt", b"doomed")
    with folder.index.transaction():
        entry = folder.history.archive(rec, ArchiveReason.DELETED, Keep.MOVE)
        folder.index.commit_local([LocalUpdate("a.txt", None)])
    assert entry is not None
    assert not (folder.root / "a.txt").exists()
    assert folder.history.stored_path(entry).read_bytes() == b"doomed"
    assert folder.index.get("a.txt").deleted


def test_archive_copy_is_independent_of_in_place_edits(folder: Folder) -> None:
    rec = folder.write("a.txt", b"original")
    entry = folder.history.archive(rec, ArchiveReason.CONFLICT, Keep.COPY)
    assert entry is not None
    with open(folder.root / "a.txt", "r+b") as f:  # edit in place: same inode
        f.write(b"EDITED!!")
    assert folder.history.stored_path(entry).read_bytes() == b"original"
    assert not folder.history.stored_path(entry).samefile(folder.root / "a.txt")


@pytest.mark.parametrize("keep", list(Keep))
def test_archive_refuses_a_file_changed_since_the_scan(folder: Folder, keep: Keep) -> None:
    rec = folder.write("a.txt", b"scanned")
    (folder.root / "a.txt").write_bytes(b"edited, not scanned yet")
    with pytest.raises(ChangedOnDisk):
        folder.history.archive(rec, ArchiveReason.REPLACED, keep)
    assert (folder.root / "a.txt").read_bytes() == b"edited, not scanned yet"
    assert folder.history.versions("a.txt") == []
    assert [n for n in folder.history_files() if not n.startswith(TEMP_PREFIX)] == []
    assert [n for n in folder.history_files() if n.startswith(TEMP_PREFIX)] == []


def test_archive_keeps_nothing_for_symlinks_and_directories(folder: Folder) -> None:
    (folder.root / "d").mkdir()
    (folder.root / "l").symlink_to("d")
    assert folder.history.archive(observe(folder.root, "d"), ArchiveReason.DELETED, Keep.MOVE) is None
    assert folder.history.archive(observe(folder.root, "l"), ArchiveReason.DELETED, Keep.MOVE) is None
    assert (folder.root / "l").is_symlink() and (folder.root / "d").is_dir()


def test_failed_index_write_puts_a_moved_file_back(folder: Folder, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = folder.write("a.txt", b"keep me")

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("index write failed")

    monkeypatch.setattr(folder.index, "add_history", broken)
    with pytest.raises(RuntimeError):
        folder.history.archive(rec, ArchiveReason.DELETED, Keep.MOVE)
    assert (folder.root / "a.txt").read_bytes() == b"keep me"
    assert folder.history_files() == []


def test_archive_rolls_back_with_the_index_change(folder: Folder) -> None:
    rec = folder.write("a.txt", b"v1")
    with pytest.raises(RuntimeError), folder.index.transaction():
        folder.history.archive(rec, ArchiveReason.REPLACED, Keep.LINK)
        folder.index.commit_local([LocalUpdate("a.txt", None)])
        raise RuntimeError("executor failed before the rename")
    assert folder.history.versions("a.txt") == []
    assert folder.index.get("a.txt") == rec
    assert len(folder.history_files()) == 1  # an orphan link, collected after the grace period
    assert folder.history.collect_orphans() == []
    folder.clock.now += 2 * HOUR
    assert len(folder.history.collect_orphans()) == 1
    assert folder.history_files() == []
    assert (folder.root / "a.txt").read_bytes() == b"v1"


def test_restore_round_trip(folder: Folder) -> None:
    folder.write("a.txt", b"one")
    folder.replace("a.txt", b"two")
    before = folder.index.get("a.txt")
    result = folder.history.restore("a.txt", 1)
    assert (folder.root / "a.txt").read_bytes() == b"one"
    assert result.path == folder.root / "a.txt"
    # The replaced content was kept first, as version 2.
    assert result.archived is not None and result.archived.version_no == 2
    assert result.archived.reason == "before-restore"
    assert folder.history.stored_path(result.archived).read_bytes() == b"two"
    # And the restore is a local change that dominates what was there.
    after = folder.index.get("a.txt")
    assert result.record == after
    assert after.content_hash == chunker.hash_bytes(b"one").content_hash
    assert after.version.compare(before.version) is Ordering.NEWER
    assert after.sequence > before.sequence
    # Restore the restore's victim: round trip back.
    folder.history.restore("a.txt", 2)
    assert (folder.root / "a.txt").read_bytes() == b"two"


def test_restore_keeps_the_version_mode(folder: Folder) -> None:
    folder.write("run.sh", b"#!/bin/sh\n")
    os.chmod(folder.root / "run.sh", 0o755)
    folder.index.commit_local([LocalUpdate("run.sh", observe(folder.root, "run.sh"))])
    folder.replace("run.sh", b"#!/bin/sh\necho new\n")
    folder.history.restore("run.sh", 1)
    assert stat.S_IMODE(os.lstat(folder.root / "run.sh").st_mode) == 0o755


def test_restore_a_deleted_file(folder: Folder) -> None:
    rec = folder.write("gone.txt", b"bring me back")
    with folder.index.transaction():
        folder.history.archive(rec, ArchiveReason.DELETED, Keep.MOVE)
        folder.index.commit_local([LocalUpdate("gone.txt", None)])
    tomb = folder.index.get("gone.txt")
    result = folder.history.restore("gone.txt", 1)
    assert result.archived is None
    assert (folder.root / "gone.txt").read_bytes() == b"bring me back"
    revived = folder.index.get("gone.txt")
    assert not revived.deleted
    assert revived.version.compare(tomb.version) is Ordering.NEWER


def test_restore_same_content_archives_nothing(folder: Folder) -> None:
    rec = folder.write("a.txt", b"same")
    folder.history.archive(rec, ArchiveReason.CONFLICT, Keep.COPY)
    result = folder.history.restore("a.txt", 1)
    assert result.archived is None
    assert len(folder.history.versions("a.txt")) == 1
    assert (folder.root / "a.txt").read_bytes() == b"same"


def test_restore_archives_unscanned_edits_first(folder: Folder) -> None:
    folder.write("a.txt", b"one")
    folder.replace("a.txt", b"two")
    (folder.root / "a.txt").write_bytes(b"edited, never scanned")
    result = folder.history.restore("a.txt", 1)
    assert result.archived is not None
    assert folder.history.stored_path(result.archived).read_bytes() == b"edited, never scanned"
    assert (folder.root / "a.txt").read_bytes() == b"one"


def test_save_as_copy_inside_the_folder(folder: Folder) -> None:
    folder.write("a.txt", b"one")
    folder.replace("a.txt", b"two")
    result = folder.history.restore("a.txt", 1, dest=Path("copies/a (old).txt"))
    assert (folder.root / "copies/a (old).txt").read_bytes() == b"one"
    assert (folder.root / "a.txt").read_bytes() == b"two"
    assert result.archived is None
    copy = folder.index.get("copies/a (old).txt")
    assert copy is not None and copy.content_hash == chunker.hash_bytes(b"one").content_hash
    # An absolute path inside the folder is the same thing.
    folder.history.restore("a.txt", 1, dest=folder.root / "b.txt")
    assert folder.index.get("b.txt") is not None


def test_save_as_copy_outside_the_folder(folder: Folder, tmp_path: Path) -> None:
    folder.write("a.txt", b"one")
    folder.replace("a.txt", b"two")
    seq = folder.index.sequence()
    out = tmp_path / "elsewhere" / "a.txt"
    result = folder.history.restore("a.txt", 1, dest=out)
    assert out.read_bytes() == b"one"
    assert result.record is None
    assert folder.index.sequence() == seq
    with pytest.raises(HistoryError, match="already exists"):
        folder.history.restore("a.txt", 1, dest=out)


def snapshot(folder: Folder) -> tuple:
    return (
        sorted((p.relative_to(folder.root).as_posix(), p.read_bytes()) for p in folder.root.rglob("*") if p.is_file()),
        list(folder.index.records(include_deleted=True)),
        folder.index.history(),
    )


def test_restore_of_a_missing_version_touches_nothing(folder: Folder) -> None:
    folder.write("a.txt", b"one")
    folder.replace("a.txt", b"two")
    (entry,) = folder.history.versions("a.txt")
    folder.history.stored_path(entry).unlink()
    before = snapshot(folder)
    with pytest.raises(VersionUnavailable, match="missing"):
        folder.history.restore("a.txt", 1)
    assert snapshot(folder) == before


@pytest.mark.parametrize("damage", [b"ONE", b"one and more"])
def test_restore_of_a_corrupt_version_touches_nothing(folder: Folder, damage: bytes) -> None:
    folder.write("a.txt", b"one")
    folder.replace("a.txt", b"two")
    (entry,) = folder.history.versions("a.txt")
    stored = folder.history.stored_path(entry)
    os.chmod(stored, 0o644)
    stored.write_bytes(damage)
    before = snapshot(folder)
    with pytest.raises(VersionUnavailable, match="damaged"):
        folder.history.restore("a.txt", 1)
    with pytest.raises(VersionUnavailable):
        folder.history.restore("a.txt", 1, dest=Path("copy.txt"))
    assert snapshot(folder) == before


def test_restore_of_an_unknown_version(folder: Folder) -> None:
    folder.write("a.txt", b"one")
    with pytest.raises(VersionNotFound):
        folder.history.restore("a.txt", 7)


def test_restore_over_a_directory_is_refused(folder: Folder) -> None:
    folder.write("a.txt", b"one")
    folder.replace("a.txt", b"two")
    (folder.root / "d").mkdir()
    (folder.root / "d" / "x").write_bytes(b"x")
    before = snapshot(folder)
    with pytest.raises(HistoryError):
        folder.history.restore("a.txt", 1, dest=Path("d"))
    assert snapshot(folder) == before


def test_restore_refuses_unsafe_destinations(folder: Folder) -> None:
    folder.write("a.txt", b"one")
    folder.replace("a.txt", b"two")
    for dest in (Path("../escape.txt"), Path(".cove/folder.json")):
        with pytest.raises(UnsafePath):
            folder.history.restore("a.txt", 1, dest=dest)
    assert not (folder.root.parent / "escape.txt").exists()


def test_prune_removes_entries_and_their_files(tmp_path: Path) -> None:
    folder = Folder(tmp_path, VersioningConfig(keep=2, max_age_days=0))
    try:
        folder.write("a.txt", b"v0")
        for i in range(1, 5):
            folder.replace("a.txt", f"v{i}".encode())
        assert len(folder.history.versions("a.txt")) == 4
        dropped = folder.history.prune()
        assert [e.version_no for e in dropped] == [1, 2]
        kept = folder.history.versions("a.txt")
        assert [folder.history.stored_path(e).read_bytes() for e in kept] == [b"v2", b"v3"]
        assert sorted(e.stored_name for e in kept) == folder.history_files()
        assert folder.history.prune() == []
    finally:
        folder.index.close()


def test_collect_orphans_spares_young_files_and_strangers(folder: Folder) -> None:
    folder.history.dir.mkdir(parents=True)
    young = folder.history.dir / f"{folder.clock.now:020d}-young"
    old = folder.history.dir / f"{folder.clock.now - 2 * HOUR:020d}-old"
    stranger = folder.history.dir / "README"
    stale_temp = folder.history.dir / f"{TEMP_PREFIX}x"
    for p in (young, old, stranger, stale_temp):
        p.write_bytes(b"x")
    os.utime(stale_temp, ns=(NOW - 2 * HOUR, NOW - 2 * HOUR))
    removed = folder.history.collect_orphans()
    assert sorted(p.name for p in removed) == sorted([old.name, stale_temp.name])
    assert sorted(folder.history_files()) == sorted([young.name, stranger.name])
