"""The scanner through the real SQLite index: versions, moves, stat refreshes, stored errors."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from sync.changes import ChangeKind
from sync.fs import OsFileSystem
from sync.index import Index
from sync.scanner import RootMissing, ScanIndex, Scanner

DEV = "AAAAAAAAAAAAA"


class DenyFS(OsFileSystem):
    def __init__(self) -> None:
        self.deny: set[str] = set()

    def open_read(self, path):
        if path in self.deny:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return super().open_read(path)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "folder"
    (r / ".cove").mkdir(parents=True)
    (r / ".cove" / "folder.json").write_text('{"folder_id": "x"}')
    return r


@pytest.fixture
def index(tmp_path):
    idx = Index.open(tmp_path / "index.db", device=DEV)
    yield idx
    idx.close()


@pytest.fixture
def fs():
    return DenyFS()


@pytest.fixture
def scanner(root, index, fs):
    store: ScanIndex = index  # the real Index satisfies the scanner's protocol
    return Scanner(root, store, fs=fs, racy_ns=0)


def test_scan_assigns_versions_and_sequences(root, index, scanner):
    (root / "a.txt").write_text("hello")
    (root / "d").mkdir()
    (root / "d" / "b").write_bytes(os.urandom(500_000))
    scanner.scan()
    a = index.get("a.txt")
    assert a is not None and a.version.as_dict() == {DEV: 1} and a.sequence > 0
    assert index.get("d/b").blocks and index.count() == 3
    (root / "a.txt").write_text("hello, world")
    scanner.scan()
    assert index.get("a.txt").version.get(DEV) == 2


def test_move_leaves_a_tombstone_and_reuses_blocks(root, index, scanner):
    (root / "old.bin").write_bytes(os.urandom(300_000))
    scanner.scan()
    blocks = index.get("old.bin").blocks
    os.rename(root / "old.bin", root / "new.bin")
    result = scanner.scan()
    assert [c.kind for c in result.changes] == [ChangeKind.MOVED]
    assert index.get("old.bin").deleted
    assert index.get("new.bin").blocks == blocks and not index.get("new.bin").deleted
    assert set(index.scan_state()) == {"new.bin"}


def test_touch_refreshes_stat_without_a_new_version(root, index, scanner):
    p = root / "f"
    p.write_text("same")
    scanner.scan()
    before = index.get("f")
    os.utime(p, ns=(before.mtime_ns + 10**9, before.mtime_ns + 10**9))
    result = scanner.scan()
    assert [c.kind for c in result.changes] == [ChangeKind.METADATA]
    after = index.get("f")
    assert after.version == before.version and after.mtime_ns == before.mtime_ns + 10**9
    assert scanner.scan().changes == []  # the refreshed stat makes the next scan quiet


def test_errors_are_stored_and_cleared_by_a_later_scan_of_their_scope(root, index, scanner, fs):
    (root / "locked").write_text("x")
    (root / "aux.txt").write_text("y")
    fs.deny.add(str(root / "locked"))
    scanner.scan()
    assert {(e.path, e.kind) for e in index.errors()} == {
        ("locked", "permission_denied"),
        ("aux.txt", "reserved_name"),
    }
    assert index.get("locked") is None
    fs.deny.clear()
    scanner.scan(["locked"])
    assert {(e.path, e.kind) for e in index.errors()} == {("aux.txt", "reserved_name")}
    assert index.get("locked") is not None


def test_missing_root_changes_nothing(root, index, scanner, tmp_path):
    (root / "a").write_text("1")
    scanner.scan()
    seq = index.sequence()
    os.rename(root, tmp_path / "moved-away")
    with pytest.raises(RootMissing):
        scanner.scan()
    assert index.sequence() == seq and index.get("a") is not None and not index.get("a").deleted
