"""The workbench's view-model as data: copy names, engine conflict records, previews and diffs."""

from __future__ import annotations

from pathlib import Path

from app.conflicts_model import (
    Side,
    diff_html,
    item_from_open,
    parse_copy_name,
    preview_of,
)
from sync.config import FolderConfig
from sync.conflicts import OpenConflict
from sync.planner import ConflictRecord, ConflictSide
from sync.records import FileRecord, FileType


def test_copy_names() -> None:
    assert parse_copy_name("a b (conflict from DEV1 2026-01-02 1304).txt") == ("a b.txt", "DEV1")
    assert parse_copy_name("Makefile (conflict from X 2026-01-02 1304)") == ("Makefile", "X")
    assert parse_copy_name("a.txt") is None


def test_item_from_engine_record(tmp_path: Path) -> None:
    def rec(by: str, size: int) -> FileRecord:
        return FileRecord("n.txt", FileType.FILE, size=size, mtime_ns=5, modified_by=by)

    record = ConflictRecord(id="c1", path="n.txt", copy_path="n (conflict from ME 2026-01-02 1304).txt",
                            winner=ConflictSide("OTHER-FULL", rec("OTHER", 7)), loser=ConflictSide("ME-FULL", rec("ME", 3)),
                            ancestor=rec("ME", 1), created_at_ns=9, created_by="ME")
    folder = FolderConfig(id="f", path=tmp_path, label="Cove")
    item = item_from_open(OpenConflict(record, folder, mine_is_copy=True))
    assert item.recorded and item.key == "f:n (conflict from ME 2026-01-02 1304).txt"
    assert (item.mine.size, item.mine.file) == (3, tmp_path / record.copy_path)
    assert (item.theirs.size, item.theirs.device, item.theirs.file) == (7, "OTHER", tmp_path / "n.txt")
    assert item.ancestor is not None and item.ancestor.size == 1 and item.kind == "text"


def test_previews_and_diff(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("a\nb\n")
    (tmp_path / "b.bin").write_bytes(b"\x00\x01" * 100)
    assert preview_of(Side("m", "", 0, 4, tmp_path / "t.txt"), "text").text == "a\nb\n"
    assert preview_of(Side("m", "", 0, 200, tmp_path / "b.bin"), "binary").kind == "binary"
    assert preview_of(Side("m", "", 0, 1, tmp_path / "gone"), "text").kind == "missing"
    html = diff_html("a\nb\n", "a\nc\n")
    assert "-b" in html and "+c" in html
    assert "same text" in diff_html("x", "x")
