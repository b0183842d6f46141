"""Scanning real temporary trees against a tiny dict-backed store (a test double for the index).

Tests run as root, and root reads mode-000 files and lists mode-000 directories, so permission
failures are injected through the scanner's filesystem seam (:class:`FaultFS`, wrapping the real
filesystem and raising ``PermissionError`` for chosen paths). Files that change while they are
hashed are simulated by a stream hook that runs between reads.
"""

from __future__ import annotations

import errno
import os
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from sync import chunker
from sync.changes import Change, ChangeKind, ErrorKind, FileError
from sync.fs import OsFileSystem
from sync.ignore import TEMP_PREFIX
from sync.records import FileRecord, FileType
from sync.scanner import (
    RootEmptied,
    RootMissing,
    RootNotDirectory,
    RootNotMarked,
    RootUnreadable,
    Scanner,
)

K = ChangeKind


class DictStore:
    """The index as far as the scanner sees it: live records by path, and the last applied scan."""

    def __init__(self) -> None:
        self.by_path: dict[str, FileRecord] = {}
        self.applied: list[tuple[list[Change], list[FileError], Sequence[str] | None]] = []

    def scan_state(self) -> dict[str, FileRecord]:
        return dict(self.by_path)

    def records(self, include_deleted=False, prefix=None):
        return [r for p, r in self.by_path.items() if not prefix or p == prefix or p.startswith(prefix + "/")]

    def get(self, path):
        return self.by_path.get(path)

    def count(self, include_deleted=False):
        return len(self.by_path)

    def apply_scan(self, changes, errors, scope=None) -> None:
        self.applied.append((list(changes), list(errors), scope))
        for c in changes:
            if c.kind is K.DELETED:
                del self.by_path[c.path]
            elif c.kind is K.MOVED:
                del self.by_path[c.old_path]
                self.by_path[c.path] = c.record
            else:
                self.by_path[c.path] = c.record


class FaultFS(OsFileSystem):
    """The real filesystem, with permission failures and read hooks for chosen absolute paths."""

    def __init__(self) -> None:
        self.deny: set[str] = set()
        self.read_hooks: dict[str, Callable[[int], None]] = {}

    def scandir(self, path):
        if path in self.deny:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return super().scandir(path)

    def open_read(self, path):
        if path in self.deny:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        stream = super().open_read(path)
        hook = self.read_hooks.get(path)
        return _Hooked(stream, hook) if hook else stream


class _Hooked:
    """A stream that calls ``hook(n_reads)`` after each read: where tests change the file."""

    def __init__(self, stream, hook):
        self._s, self._hook, self._n = stream, hook, 0

    def read(self, n=-1):
        data = self._s.read(n)
        self._n += 1
        self._hook(self._n)
        return data

    def readinto(self, b):
        n = self._s.readinto(b)
        self._n += 1
        self._hook(self._n)
        return n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._s.close()


class CountingHasher:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, stream):
        self.calls += 1
        return chunker.hash_stream(stream)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "folder"
    (r / ".cove").mkdir(parents=True)
    (r / ".cove" / "folder.json").write_text('{"folder_id": "x"}')
    return r


@pytest.fixture
def store() -> DictStore:
    return DictStore()


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def fs() -> FaultFS:
    return FaultFS()


@pytest.fixture
def scanner(root, store, hasher, fs) -> Scanner:
    return Scanner(root, store, fs=fs, hash_stream=hasher, racy_ns=0)


def write(root: Path, rel: str, data: bytes | str = b"x", mtime_ns: int | None = None) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    if mtime_ns is not None:
        os.utime(p, ns=(mtime_ns, mtime_ns))
    return p


def kinds(result) -> list[tuple[ChangeKind, str]]:
    return [(c.kind, c.path if c.kind is not K.MOVED else f"{c.old_path}->{c.path}") for c in result.changes]


def bag(pairs) -> list:
    """Changes as an order-free list, for comparing sets of (kind, path)."""
    return sorted(pairs, key=lambda t: (t[0].value, t[1]))


def errors_of(result, kind: ErrorKind) -> list[str]:
    return sorted(e.path for e in result.errors if e.kind is kind)


# -- basics ----------------------------------------------------------------------------------


def test_initial_scan_records_files_dirs_and_links(root, scanner, store):
    write(root, "a.txt", b"hello")
    write(root, "sub/b.bin", os.urandom(300_000))
    (root / "empty").mkdir()
    os.symlink("a.txt", root / "link")
    result = scanner.scan()
    assert result.committed and not result.errors
    assert bag(kinds(result)) == bag([(K.ADDED, p) for p in ["a.txt", "sub", "sub/b.bin", "empty", "link"]])
    a = store.by_path["a.txt"]
    assert a.type is FileType.FILE and a.size == 5
    assert a.content_hash == chunker.hash_bytes(b"hello").content_hash
    assert a.version.is_empty() and a.sequence == 0  # the index assigns those
    assert store.by_path["sub/b.bin"].blocks == chunker.hash_file(root / "sub/b.bin").blocks
    assert store.by_path["sub"].type is FileType.DIRECTORY
    lnk = store.by_path["link"]
    assert lnk.type is FileType.SYMLINK and lnk.symlink_target == "a.txt"
    assert lnk.content_hash == chunker.hash_bytes(b"a.txt").content_hash


def test_unchanged_rescan_reads_nothing_and_reports_nothing(root, scanner, hasher):
    write(root, "a", b"1")
    write(root, "d/b", b"2")
    scanner.scan()
    hasher.calls = 0
    result = scanner.scan()
    assert result.changes == [] and hasher.calls == 0


def test_modify_chmod_touch_delete(root, scanner, store):
    write(root, "content", b"aaaa", mtime_ns=10**18)
    write(root, "mode", b"m")
    write(root, "touched", b"t", mtime_ns=10**18)
    write(root, "gone", b"g")
    scanner.scan()
    write(root, "content", b"bbbb", mtime_ns=10**18 + 1)
    os.chmod(root / "mode", 0o755)
    os.utime(root / "touched", ns=(10**18 + 5, 10**18 + 5))
    (root / "gone").unlink()
    result = scanner.scan()
    assert bag(kinds(result)) == bag(
        [(K.MODIFIED, "content"), (K.MODIFIED, "mode"), (K.METADATA, "touched"), (K.DELETED, "gone")]
    )
    assert store.by_path["mode"].executable()
    assert store.by_path["content"].content_hash == chunker.hash_bytes(b"bbbb").content_hash
    assert store.by_path["touched"].mtime_ns == 10**18 + 5
    assert "gone" not in store.by_path


def test_racily_clean_file_is_hashed_again(root, store, hasher):
    """Same size, same mtime (one timestamp tick), new content: caught by the racy rule."""
    scanner = Scanner(root, store, hash_stream=hasher)  # default racy window
    p = write(root, "f", b"one")
    st = p.stat()
    scanner.scan()
    p.write_bytes(b"two")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    result = scanner.scan()
    assert kinds(result) == [(K.MODIFIED, "f")]


def test_type_changes(root, scanner):
    write(root, "f2d", b"x")
    write(root, "f2l", b"x")
    write(root, "d2f/inner", b"x")
    scanner.scan()
    (root / "f2d").unlink()
    (root / "f2d").mkdir()
    (root / "f2l").unlink()
    os.symlink("elsewhere", root / "f2l")
    (root / "d2f/inner").unlink()
    (root / "d2f").rmdir()
    write(root, "d2f", b"now a file")
    result = scanner.scan()
    assert bag(kinds(result)) == bag(
        [(K.TYPE_CHANGED, "f2d"), (K.TYPE_CHANGED, "f2l"), (K.TYPE_CHANGED, "d2f"), (K.DELETED, "d2f/inner")]
    )


# -- moves -----------------------------------------------------------------------------------


def test_rename_is_a_move_and_reuses_the_hash(root, scanner, hasher, store):
    write(root, "a/report.pdf", os.urandom(200_000))
    scanner.scan()
    old = store.by_path["a/report.pdf"]
    hasher.calls = 0
    os.rename(root / "a/report.pdf", root / "a/final.pdf")
    result = scanner.scan()
    assert kinds(result) == [(K.MOVED, "a/report.pdf->a/final.pdf")]
    assert hasher.calls == 0 and result.stats.reused_by_inode == 1
    new = store.by_path["a/final.pdf"]
    assert new.content_hash == old.content_hash and new.blocks == old.blocks


def test_move_by_content_across_a_copy(root, scanner, hasher):
    data = os.urandom(100_000)
    write(root, "x/one", data)
    scanner.scan()
    write(root, "y/two", data)  # a new inode: found by its content hash
    (root / "x/one").unlink()
    result = scanner.scan()
    assert bag(kinds(result)) == bag([(K.ADDED, "y"), (K.MOVED, "x/one->y/two")])


def test_directory_rename_is_many_moves_and_no_delete(root, scanner, hasher):
    for i in range(25):
        write(root, f"photos/2024/img{i}.jpg", f"image {i}")
    write(root, "photos/readme", "r")
    scanner.scan()
    hasher.calls = 0
    os.rename(root / "photos", root / "pictures")
    result = scanner.scan()
    assert {c.kind for c in result.changes} == {K.MOVED}
    moved = {(c.old_path, c.path) for c in result.changes}
    assert ("photos", "pictures") in moved and ("photos/2024", "pictures/2024") in moved
    assert ("photos/2024/img7.jpg", "pictures/2024/img7.jpg") in moved
    assert len(moved) == 28 and not result.needs_confirmation
    assert hasher.calls == 0


# -- symlinks --------------------------------------------------------------------------------


def test_symlinks_are_never_followed(root, scanner, store, tmp_path):
    outside = tmp_path / "outside"
    write(outside, "secret", "s")
    os.symlink(outside, root / "to-dir")
    os.symlink("missing-target", root / "dangling")
    os.symlink("loop", root / "loop")
    result = scanner.scan()
    assert bag(kinds(result)) == bag([(K.ADDED, "dangling"), (K.ADDED, "loop"), (K.ADDED, "to-dir")])
    assert store.by_path["to-dir"].symlink_target == str(outside)
    assert not any(p.startswith("to-dir/") for p in store.by_path)
    os.remove(root / "dangling")
    os.symlink("other-target", root / "dangling")
    assert kinds(scanner.scan()) == [(K.MODIFIED, "dangling")]


# -- errors ----------------------------------------------------------------------------------


def test_unreadable_directory_keeps_its_subtree(root, scanner, store, fs):
    write(root, "private/a", "1")
    write(root, "private/deep/b", "2")
    write(root, "public", "3")
    scanner.scan()
    before = dict(store.by_path)
    fs.deny.add(str(root / "private"))
    (root / "public").unlink()
    result = scanner.scan()
    assert kinds(result) == [(K.DELETED, "public")]
    assert errors_of(result, ErrorKind.PERMISSION_DENIED) == ["private"]
    for p in ("private", "private/a", "private/deep", "private/deep/b"):
        assert store.by_path[p] == before[p]


def test_unreadable_file_keeps_its_record_and_is_not_added_when_new(root, scanner, store, fs):
    write(root, "locked", "old")
    scanner.scan()
    write(root, "locked", "new content")
    write(root, "new-locked", "n")
    fs.deny.update({str(root / "locked"), str(root / "new-locked")})
    result = scanner.scan()
    assert result.changes == []
    assert errors_of(result, ErrorKind.PERMISSION_DENIED) == ["locked", "new-locked"]
    assert store.by_path["locked"].size == 3 and "new-locked" not in store.by_path
    fs.deny.clear()
    assert bag(kinds(scanner.scan())) == bag([(K.MODIFIED, "locked"), (K.ADDED, "new-locked")])


def test_file_changed_during_hashing_is_hashed_again(root, scanner, store, fs, hasher):
    p = write(root, "growing.log", os.urandom(200_000))
    final = os.urandom(300_000)

    def change_once(n_reads: int) -> None:
        if n_reads == 1 and hasher.calls == 1:
            p.write_bytes(final)  # another writer, between two reads of ours

    fs.read_hooks[str(p)] = change_once
    result = scanner.scan()
    assert hasher.calls == 2
    assert kinds(result) == [(K.ADDED, "growing.log")]
    rec = store.by_path["growing.log"]
    assert rec.size == len(final) and rec.content_hash == chunker.hash_bytes(final).content_hash


def test_file_that_keeps_changing_is_an_error_and_keeps_its_record(root, scanner, store, fs, hasher):
    p = write(root, "busy", b"v0" * 50_000)
    scanner.scan()
    before = store.by_path["busy"]
    write(root, "busy", b"v1" * 50_000)
    counter = iter(range(10**6))

    def always(n_reads: int) -> None:
        if n_reads == 1:
            p.write_bytes(b"w%d" % next(counter) * 40_000)

    fs.read_hooks[str(p)] = always
    result = scanner.scan()
    assert result.changes == []
    (err,) = result.errors
    assert err.kind is ErrorKind.KEEPS_CHANGING and "keeps changing" in err.message
    assert store.by_path["busy"] == before
    assert hasher.calls == 1 + scanner.max_attempts


def test_file_removed_while_being_hashed_is_deleted(root, scanner, store, fs):
    p = write(root, "tmp", os.urandom(100_000))
    scanner.scan()
    write(root, "tmp", os.urandom(100_001))

    def vanish(n_reads: int) -> None:
        if p.exists():
            p.unlink()

    fs.read_hooks[str(p)] = vanish
    assert kinds(scanner.scan()) == [(K.DELETED, "tmp")]


def test_special_files_and_undecodable_names_are_reported_not_indexed(root, scanner, store):
    os.mkfifo(root / "pipe")
    bad = os.fsencode(root) + b"/bad\xffname"
    with open(bad, "wb") as f:
        f.write(b"x")
    write(root, "ok", "1")
    result = scanner.scan()
    assert kinds(result) == [(K.ADDED, "ok")]
    assert errors_of(result, ErrorKind.UNSUPPORTED_TYPE) == ["pipe"]
    assert len(errors_of(result, ErrorKind.UNDECODABLE_NAME)) == 1
    assert all(e.is_warning for e in result.errors if e.kind is ErrorKind.UNSUPPORTED_TYPE)


# -- names -----------------------------------------------------------------------------------


def test_unicode_and_case_collisions_keep_both_files(root, scanner, store):
    nfc = unicodedata.normalize("NFC", "café.txt")
    nfd = unicodedata.normalize("NFD", "café.txt")
    write(root, nfc, "composed")
    write(root, nfd, "decomposed")
    write(root, "A.txt", "upper")
    write(root, "a.txt", "lower")
    result = scanner.scan()
    assert {nfc, nfd, "A.txt", "a.txt"} <= set(store.by_path)
    assert store.by_path[nfc].content_hash != store.by_path[nfd].content_hash
    assert errors_of(result, ErrorKind.NORMALIZATION_COLLISION) == sorted([nfc, nfd])
    assert errors_of(result, ErrorKind.CASE_COLLISION) == ["A.txt", "a.txt"]
    err = next(e for e in result.errors if e.path == "A.txt")
    assert err.others == ("a.txt",) and err.is_warning


def test_names_other_systems_cannot_hold_are_indexed_with_warnings(root, scanner, store):
    # (Over-long names are table-tested in test_names: ext4 itself refuses names over 255 bytes.)
    for name in ["aux.txt", "a:b", "trailing.", "q?"]:
        write(root, name, "1")
    result = scanner.scan()
    assert {"aux.txt", "a:b", "trailing.", "q?"} <= set(store.by_path)
    assert errors_of(result, ErrorKind.RESERVED_NAME) == ["aux.txt"]
    assert errors_of(result, ErrorKind.INVALID_CHARACTER) == ["a:b", "q?"]
    assert errors_of(result, ErrorKind.TRAILING_DOT_OR_SPACE) == ["trailing."]
    assert all(e.is_warning for e in result.errors)


# -- ignore ----------------------------------------------------------------------------------


def test_ignore_rules_and_engine_paths(root, scanner, store):
    (root / ".coveignore").write_text("*.log\nbuild/\n!keep.log\n")
    write(root, "app.log", "l")
    write(root, "keep.log", "k")
    write(root, "build/out.o", "o")
    write(root, "src/main.c", "c")
    write(root, "src/" + TEMP_PREFIX + "123", "partial")
    write(root, ".cove/index.db", "db")
    scanner.scan()
    assert set(store.by_path) == {".coveignore", "keep.log", "src", "src/main.c"}


def test_a_new_ignore_rule_does_not_delete_indexed_files(root, scanner, store):
    write(root, "cache/a", "1")
    scanner.scan()
    (root / ".coveignore").write_text("cache/\n")
    result = scanner.scan()
    assert kinds(result) == [(K.ADDED, ".coveignore")]
    assert "cache/a" in store.by_path


def test_unreadable_ignore_file_stops_the_scan(root, scanner, fs):
    (root / ".coveignore").write_text("secret/\n")
    fs.deny.add(str(root / ".coveignore"))
    with pytest.raises(RootUnreadable):
        scanner.scan()


# -- root safety -----------------------------------------------------------------------------


def test_missing_root_is_an_error_not_a_mass_delete(root, scanner, store, tmp_path):
    write(root, "a", "1")
    scanner.scan()
    os.rename(root, tmp_path / "elsewhere")
    with pytest.raises(RootMissing):
        scanner.scan()
    assert "a" in store.by_path and len(store.applied) == 1


def test_root_that_is_a_file_or_unmarked(root, store, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(RootNotDirectory):
        Scanner(f, store).scan()
    unmarked = tmp_path / "unmarked"
    unmarked.mkdir()
    with pytest.raises(RootNotMarked):
        Scanner(unmarked, store).scan()


def test_root_that_lost_its_marker_keeps_the_index(root, scanner, store):
    write(root, "a", "1")
    scanner.scan()
    (root / ".cove" / "folder.json").unlink()
    (root / "a").unlink()
    with pytest.raises(RootNotMarked):
        scanner.scan()
    assert "a" in store.by_path


def test_emptied_root_is_an_error_until_confirmed(root, scanner, store):
    write(root, "a", "1")
    write(root, "d/b", "2")
    scanner.scan()
    for p in ("a", "d/b"):
        (root / p).unlink()
    (root / "d").rmdir()
    with pytest.raises(RootEmptied):
        scanner.scan()
    assert set(store.by_path) == {"a", "d", "d/b"}
    result = scanner.scan(confirm_mass_delete=True)
    assert result.committed and store.by_path == {}


def test_mass_delete_needs_confirmation(root, scanner, store):
    for i in range(30):
        write(root, f"f{i:02}", str(i))
    scanner.scan()
    for i in range(20):
        (root / f"f{i:02}").unlink()
    write(root, "new", "n")
    result = scanner.scan()
    assert result.needs_confirmation and not result.committed
    assert len(result.of_kind(K.DELETED)) == 20
    assert len(store.by_path) == 30 and "new" not in store.by_path  # nothing recorded
    result = scanner.scan(confirm_mass_delete=True)
    assert result.committed and len(store.by_path) == 11


def test_a_few_deletes_do_not_ask(root, scanner, store):
    for i in range(30):
        write(root, f"f{i:02}", str(i))
    scanner.scan()
    for i in range(10):
        (root / f"f{i:02}").unlink()
    result = scanner.scan()
    assert result.committed and not result.needs_confirmation


# -- targeted scans --------------------------------------------------------------------------


def test_scan_of_some_paths_touches_only_them(root, scanner, store, hasher):
    write(root, "a/x", "1")
    write(root, "b/y", "2")
    scanner.scan()
    write(root, "a/x", "changed!")
    write(root, "b/y", "changed too")  # not in the scope: not seen
    write(root, "new/deep/z", "3")
    hasher.calls = 0
    result = scanner.scan(["a/x", "new/deep/z"])
    assert result.scope == ["a/x", "new"]
    assert bag(kinds(result)) == bag(
        [(K.MODIFIED, "a/x"), (K.ADDED, "new"), (K.ADDED, "new/deep"), (K.ADDED, "new/deep/z")]
    )
    assert hasher.calls == 2
    assert store.applied[-1][2] == ["a/x", "new"]


def test_scan_of_a_removed_subtree_deletes_only_it(root, scanner, store):
    write(root, "keep/a", "1")
    write(root, "drop/b", "2")
    write(root, "drop/c/d", "3")
    scanner.scan()
    for p in ("drop/b", "drop/c/d"):
        (root / p).unlink()
    (root / "drop/c").rmdir()
    (root / "drop").rmdir()
    result = scanner.scan(["drop"])
    assert [c.path for c in result.changes] == ["drop/c/d", "drop/c", "drop/b", "drop"]
    assert set(store.by_path) == {"keep", "keep/a"}


def test_scoped_move_with_both_ends(root, scanner):
    write(root, "a/f", os.urandom(1000))
    scanner.scan()
    (root / "b").mkdir()
    os.rename(root / "a/f", root / "b/f")
    result = scanner.scan(["a/f", "b/f"])
    assert bag(kinds(result)) == bag([(K.ADDED, "b"), (K.MOVED, "a/f->b/f")])


def test_scoped_scan_reports_collisions_with_indexed_siblings(root, scanner):
    write(root, "d/Readme", "1")
    scanner.scan()
    write(root, "d/README", "2")
    result = scanner.scan(["d/README"])
    assert errors_of(result, ErrorKind.CASE_COLLISION) == ["d/README"]


def test_scoped_scan_does_not_look_through_a_symlinked_parent(root, scanner, store, tmp_path):
    write(root, "d/f", "1")
    scanner.scan()
    outside = tmp_path / "outside"
    write(outside, "f", "other")
    (root / "d/f").unlink()
    (root / "d").rmdir()
    os.symlink(outside, root / "d")
    result = scanner.scan(["d/f"])
    assert bag(kinds(result)) == bag([(K.TYPE_CHANGED, "d"), (K.DELETED, "d/f")])
    assert store.by_path["d"].type is FileType.SYMLINK


# -- scale -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_ten_thousand_files_rescan_hashes_only_what_changed(root, store, hasher):
    old = 1_600_000_000 * 10**9
    for i in range(100):
        d = root / f"dir{i:03}"
        d.mkdir()
        for j in range(100):
            p = d / f"file{j:03}.txt"
            p.write_bytes(b"content %d %d" % (i, j))
            os.utime(p, ns=(old, old))
    scanner = Scanner(root, store, hash_stream=hasher)  # default racy window: files are old
    result = scanner.scan()
    assert len(result.changes) == 10_100 and hasher.calls == 10_000
    hasher.calls = 0
    assert scanner.scan().changes == [] and hasher.calls == 0
    touched = ["dir000/file000.txt", "dir005/file050.txt", "dir099/file099.txt"]
    for rel in touched:
        (root / rel).write_bytes(b"new content")
    os.utime(root / "dir042/file042.txt", ns=(old + 1, old + 1))  # touched, same bytes
    hasher.calls = 0
    result = scanner.scan()
    assert hasher.calls == 4
    assert bag(kinds(result)) == bag(
        [(K.MODIFIED, p) for p in touched] + [(K.METADATA, "dir042/file042.txt")]
    )


def test_targeted_scan_does_not_load_the_whole_index(root, scanner, store, monkeypatch):
    write(root, "a/x", "1")
    scanner.scan()
    monkeypatch.setattr(store, "scan_state", lambda: pytest.fail("a targeted scan loaded every record"))
    write(root, "a/x", "22")
    assert kinds(scanner.scan(["a/x"])) == [(K.MODIFIED, "a/x")]


def test_observe_path(root):
    from sync.scanner import PathUnreadable, observe_path

    write(root, "f", b"data")
    os.symlink("f", root / "l")
    (root / "d").mkdir()
    assert observe_path(root, "f").content_hash == chunker.hash_bytes(b"data").content_hash
    assert observe_path(root, "l").symlink_target == "f"
    assert observe_path(root, "d").type is FileType.DIRECTORY
    assert observe_path(root, "missing") is None
    fs = FaultFS()
    fs.deny.add(str(root / "f"))
    with pytest.raises(PathUnreadable) as exc:
        observe_path(root, "f", fs=fs)
    assert exc.value.error.kind is ErrorKind.PERMISSION_DENIED
