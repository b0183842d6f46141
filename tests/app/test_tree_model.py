"""The Files tree model without a window: lazy loading through a lister on worker threads, paging,
statuses and roles, refresh; and a 100,000-file index whose root loads at once and whose
directories load on demand."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt

from app.jobs import Jobs
from app.pages.files import folder_lister
from app.tree_model import PAGE, Column, FileTreeModel, Role
from sync.config import Dirs, write_marker
from sync.index import Index
from sync.queries import Entry, FileStatus

DIRS, PER_DIR = 100, 1000  # 100,000 files


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory) -> tuple[Path, Path]:
    """A folder root (mostly empty on disk) and an index of 100,100 records."""
    base = tmp_path_factory.mktemp("big")
    root = base / "root"
    root.mkdir()
    write_marker(root, "bigfolder")
    db = Dirs.under(base / "home").index_path("bigfolder")
    Index.open(db, "DEVICE").close()  # the real schema
    rows, seq = [], 0
    for d in range(DIRS):
        (root / f"d{d:03}").mkdir()
        seq += 1
        rows.append((f"d{d:03}", "dir", 0, 0, None, seq))
        for i in range(PER_DIR):
            seq += 1
            rows.append((f"d{d:03}/f{i:04}.txt", "file", i, i, b"h" * 32, seq))
    with sqlite3.connect(db) as conn:  # bulk insert: Index.put per row would take seconds
        conn.executemany(
            "INSERT INTO files (path, type, size, mtime_ns, inode, mode, content_hash, blocks, "
            "symlink_target, version, deleted, sequence, modified_by, changed_at_ns) "
            "VALUES (?, ?, ?, ?, 0, 420, ?, NULL, NULL, '{\"DEVICE\": 1}', 0, ?, 'DEVICE', 1)",
            rows,
        )
    with Index.open(db, "DEVICE") as index:
        assert index.count() == DIRS * (PER_DIR + 1)
    return root, db


def entries(directory: str, names: list[str], dirs: set[str] = frozenset()) -> list[Entry]:
    prefix = directory + "/" if directory else ""
    return [Entry(prefix + n, n, n in dirs, 10, 0, "DEV", FileStatus.SYNCED) for n in names]


def test_lazy_fetch_roles_and_refresh(qtbot) -> None:
    calls: list[str] = []
    tree = {"": entries("", ["a", "b.txt"], {"a"}), "a": entries("a", ["c.txt"])}

    def lister(d: str) -> list[Entry]:
        calls.append(d)
        return tree[d]

    model = FileTreeModel(lister, Jobs())
    assert model.rowCount() == 0 and model.canFetchMore(QModelIndex())
    with qtbot.waitSignal(model.loaded):
        model.fetchMore(QModelIndex())
    assert calls == [""] and model.rowCount() == 2
    a = model.index(0, 0)
    assert model.data(a, Role.PATH) == "a" and model.data(a, Role.IS_DIR)
    assert model.hasChildren(a) and model.rowCount(a) == 0 and model.canFetchMore(a)
    b = model.index(1, Column.STATUS)
    assert model.data(b) == "Synced" and model.data(b, Role.STATUS) is FileStatus.SYNCED
    assert not model.hasChildren(model.index(1, 0))
    with qtbot.waitSignal(model.loaded):
        model.fetchMore(a)
    assert model.rowCount(a) == 1 and not model.canFetchMore(a)
    assert model.data(model.index(0, Column.NAME, a)) == "c.txt"
    assert model.parent(model.index(0, 0, a)) == a
    assert model.headerData(Column.CHANGED_BY, Qt.Orientation.Horizontal) == "Changed by"

    tree["a"] = entries("a", ["c.txt", "d.txt"])
    tree[""] = [e if e.name != "b.txt" else Entry("b.txt", "b.txt", False, 10, 0, "DEV", FileStatus.CONFLICT)
                for e in tree[""]]
    model.refresh()
    qtbot.waitUntil(lambda: model.rowCount(a) == 2)
    qtbot.waitUntil(lambda: model.data(model.index(1, 0), Role.STATUS) is FileStatus.CONFLICT)
    assert model.index_for_path("a/d.txt").isValid()


def test_big_directory_is_inserted_in_pages(qtbot) -> None:
    names = [f"f{i:05}" for i in range(PAGE * 2 + 5)]
    model = FileTreeModel(lambda d: entries(d, names), Jobs())
    with qtbot.waitSignal(model.loaded):
        model.fetchMore(QModelIndex())
    assert model.rowCount() == PAGE and model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    assert model.rowCount() == len(names) and not model.canFetchMore(QModelIndex())


def test_100k_file_index_loads_lazily(qtbot, big_folder) -> None:
    root, db = big_folder
    calls: list[str] = []
    real = folder_lister(root, db)

    def lister(d: str) -> list[Entry]:
        calls.append(d)
        return real(d)

    model = FileTreeModel(lister, Jobs())
    started = time.perf_counter()
    with qtbot.waitSignal(model.loaded, timeout=10_000):
        model.fetchMore(QModelIndex())
    root_seconds = time.perf_counter() - started
    assert model.rowCount() == DIRS and model.loaded_count() == DIRS
    assert root_seconds < 2.0, root_seconds  # ~0.1 s here: the root is one range query
    d42 = model.index(42, 0)
    assert model.data(d42, Role.PATH) == "d042"
    started = time.perf_counter()
    with qtbot.waitSignal(model.loaded, timeout=10_000):
        model.fetchMore(d42)
    assert time.perf_counter() - started < 2.0
    assert model.rowCount(d42) == PER_DIR
    first = model.index(0, 0, d42)
    assert model.data(first, Role.PATH) == "d042/f0000.txt"
    # indexed but absent from disk: shown as pending (its delete is not recorded yet)
    assert model.data(first, Role.STATUS) is FileStatus.PENDING
    assert calls == ["", "d042"]
    assert model.loaded_count() == DIRS + PER_DIR
