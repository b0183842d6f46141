"""sync.queries against a real index and folder: one directory's children with statuses, counts,
recent changes, and the folder as it was at a time."""

from __future__ import annotations

import time
from pathlib import Path

from sync.config import Dirs
from sync.engine import Engine
from sync.history import ArchiveReason, Keep
from sync.ignore import IgnoreRules
from sync.queries import FileStatus, IndexReader, advice_for, list_directory


def test_children_and_statuses(tmp_path: Path, dirs: Dirs, folder: Path) -> None:
    (folder / "later.txt").write_text("not scanned yet")
    (folder / "skip.tmp").write_text("ignored")
    (folder / "docs" / "b.md").unlink()  # gone from disk, delete not recorded yet
    (folder / "notes (conflict from ABC 2026-01-02 1304).txt").write_text("x")
    with Engine.create(dirs) as engine:
        fid = engine.folder_for(folder).id
        engine.runner(fid).index.record_errors([("docs/a.md", "permission_denied", "cannot read")])
        with IndexReader(dirs.index_path(fid)) as reader:
            top = list_directory(reader, folder, "", IgnoreRules.from_text("*.tmp\n"))
            docs = list_directory(reader, folder, "docs")
            assert reader.counts().files == 3
            assert [c.path for c in reader.recent_changes(2)]
            (problem,) = reader.problems()
    by_name = {e.name: e for e in top}
    assert top[0].name == "docs"  # directories first
    assert by_name["docs"].status is FileStatus.ERROR  # an error below it
    assert by_name["notes.txt"].status is FileStatus.SYNCED
    assert by_name["later.txt"].status is FileStatus.PENDING
    assert by_name["skip.tmp"].status is FileStatus.IGNORED
    assert by_name["notes (conflict from ABC 2026-01-02 1304).txt"].status is FileStatus.PENDING
    assert ".cove" not in by_name
    docs_by = {e.name: e for e in docs}
    assert docs_by["a.md"].status is FileStatus.ERROR and docs_by["a.md"].message == "cannot read"
    assert docs_by["b.md"].status is FileStatus.PENDING
    assert problem.advice == advice_for("permission_denied") and "read access" in problem.advice


def test_children_is_one_level_and_prefix_safe(tmp_path: Path, dirs: Dirs) -> None:
    root = tmp_path / "f"
    for p in ("a/x.txt", "a/sub/y.txt", "a-b/z.txt", "a0.txt"):
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_text(p)
    with Engine.create(dirs) as engine:
        f = engine.add_folder(root)
        engine.scan(f.id)
        with IndexReader(dirs.index_path(f.id)) as reader:
            assert [r[0] for r in reader.children("a")] == ["a/sub", "a/x.txt"]
            assert [r[0] for r in reader.children("")] == ["a", "a-b", "a0.txt"]


def test_folder_at_time(tmp_path: Path, dirs: Dirs, folder: Path) -> None:
    with Engine.create(dirs) as engine:
        fid = engine.folder_for(folder).id
        runner = engine.runner(fid)
        before_edit = time.time_ns()
        runner.history.archive(runner.index.get("notes.txt"), ArchiveReason.REPLACED, Keep.COPY)
        (folder / "notes.txt").write_text("second\n")
        engine.scan(fid)
        (folder / "new.txt").write_text("new")
        engine.scan(fid)
        with IndexReader(dirs.index_path(fid)) as reader:
            past = {e.path: e for e in reader.folder_at(before_edit)}
            now = {e.path: e for e in reader.folder_at(time.time_ns())}
    assert past["notes.txt"].version_no == 1 and past["notes.txt"].size == len("hello\n")
    assert past["docs/a.md"].is_current
    assert "new.txt" not in past
    assert now["notes.txt"].is_current and "new.txt" in now
