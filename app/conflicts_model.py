"""The conflict workbench's view-model: typed conflicts, what the widgets show of them, and how they
are resolved, behind a small :class:`ConflictSource` seam.

The widgets (:mod:`app.pages.conflicts`) only know :class:`ConflictItem` and :class:`Resolution`.
Today :class:`ConflictCopySource` finds conflicts on disk by the engine's conflict-copy names
(``name (conflict from DEVICE YYYY-MM-DD HHMM).ext``, docs/relay-sync-design.md) and resolves them
with the engine's history (the version that loses is kept as a history version, never just
deleted). When the engine publishes ``sync.planner.ConflictRecord`` and a resolve operation, an
``EngineConflictSource`` built with :func:`item_from_record` replaces it; the widgets stay.

Previews and diffs are pure functions of bytes (:func:`preview_of`, :func:`diff_html`) so they
run on worker threads and are tested as data.
"""

from __future__ import annotations

import difflib
import enum
import html
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt

from app.icons import human_size, when
from app.models import TableModel, _titled
from sync.history import ArchiveReason, Keep

PREVIEW_LIMIT = 2 << 20  # read at most this much of a version for a preview
TEXT_SUFFIXES = {".txt", ".md", ".py", ".json", ".csv", ".toml", ".yaml", ".yml", ".ini", ".cfg",
                 ".html", ".css", ".js", ".ts", ".c", ".h", ".rs", ".go", ".sh", ".xml", ".tex", ".rst"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".svg"}
COPY_RE = re.compile(r"^(?P<stem>.*) \(conflict from (?P<device>[^ )]+) (?P<date>\d{4}-\d{2}-\d{2} \d{4})\)(?P<ext>\.[^./ ]*)?$")


class Resolution(enum.Enum):
    KEEP_MINE = "keep mine"
    KEEP_THEIRS = "keep theirs"
    KEEP_BOTH = "keep both"


@dataclass(frozen=True)
class Side:
    """One version in a conflict."""

    label: str  # "This device", "laptop-3F2A", "Common ancestor"
    device: str
    mtime_ns: int
    size: int
    file: Path | None = None  # where its bytes can be read for a preview (None: not available)


@dataclass(frozen=True)
class ConflictItem:
    key: str  # stable identity (folder id + path)
    folder_id: str
    folder_label: str
    path: str  # the conflicted path, relative
    mine: Side
    theirs: Side
    ancestor: Side | None = None
    copy_path: str = ""  # the conflict copy's relative path
    recorded: bool = False  # the engine has a conflict record for it (resolve through the engine)

    @property
    def kind(self) -> str:
        suffix = Path(self.path).suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            return "image"
        if suffix in TEXT_SUFFIXES:
            return "text"
        return "binary"


class ConflictSource(Protocol):
    def conflicts(self) -> list[ConflictItem]:
        """The open conflicts (worker thread)."""
        ...

    def resolve(self, item: ConflictItem, resolution: Resolution) -> None:
        """Resolve one conflict (worker thread); raises a CoveError the view shows."""
        ...


# -- previews --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    kind: str  # "text", "image", "binary", "missing"
    text: str = ""
    data: bytes = b""
    note: str = ""


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            return f.read(PREVIEW_LIMIT)
    except OSError:
        return None


def looks_like_text(data: bytes) -> bool:
    if b"\x00" in data[:8192]:
        return False
    try:
        data[:8192].decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start > 8192 - 4  # cut in the middle of a character
    return True


def preview_of(side: Side | None, kind: str) -> Preview:
    """What to show of one version (worker thread: reads the file)."""
    if side is None:
        return Preview("missing", note="not known")
    data = _read(side.file)
    if data is None:
        return Preview("missing", note="this version's bytes are not on this device")
    if kind == "image":
        return Preview("image", data=data)
    if kind == "text" or looks_like_text(data):
        return Preview("text", text=data.decode("utf-8", "replace"))
    return Preview("binary", note=f"binary file, {human_size(side.size)}")


def diff_html(mine: str, theirs: str, mine_label: str = "mine", theirs_label: str = "theirs",
              context: int = 3) -> str:
    """A unified diff of two texts as HTML for a QTextBrowser. Pure."""
    lines = list(difflib.unified_diff(
        mine.splitlines(), theirs.splitlines(), mine_label, theirs_label, n=context, lineterm=""))
    if not lines:
        return "<p><i>The two versions have the same text.</i></p>"
    out = []
    for line in lines[:5000]:
        esc = html.escape(line) or "&nbsp;"
        if line.startswith(("+++", "---")):
            out.append(f'<div style="color:#555;font-weight:bold">{esc}</div>')
        elif line.startswith("@@"):
            out.append(f'<div style="color:#6a4fb3;background:#f2effa">{esc}</div>')
        elif line.startswith("+"):
            out.append(f'<div style="background:#e6f6e8;color:#135c22">{esc}</div>')
        elif line.startswith("-"):
            out.append(f'<div style="background:#fbe9e9;color:#8a1c1c">{esc}</div>')
        else:
            out.append(f"<div>{esc}</div>")
    return '<div style="font-family:monospace;white-space:pre">' + "".join(out) + "</div>"


# -- conflicts found by their copies on disk --------------------------------------------------------


def parse_copy_name(name: str) -> tuple[str, str] | None:
    """``"a (conflict from DEV 2026-01-02 1304).txt"`` → ``("a.txt", "DEV")``."""
    m = COPY_RE.match(name)
    if not m:
        return None
    return m.group("stem") + (m.group("ext") or ""), m.group("device")


class ConflictCopySource:
    """Conflicts as conflict copies on disk, resolved through the engine's history.

    ``folders`` yields ``(folder id, label, root, runner)`` for each folder; ``device`` is this
    device's short ID (a copy named after it holds *my* version)."""

    def __init__(self, folders: Callable[[], Sequence[tuple[str, str, Path, Any]]], device: str):
        self._folders = folders
        self.device = device

    def conflicts(self) -> list[ConflictItem]:
        items: list[ConflictItem] = []
        for folder_id, label, root, _runner in self._folders():
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = [d for d in dirnames if d != ".cove"]
                for name in filenames:
                    parsed = parse_copy_name(name)
                    if parsed is None:
                        continue
                    original, device = parsed
                    copy = Path(dirpath) / name
                    orig = Path(dirpath) / original
                    rel_copy = copy.relative_to(root).as_posix()
                    rel = orig.relative_to(root).as_posix()
                    cst = copy.stat()
                    ost = orig.stat() if orig.exists() else None
                    copy_side = Side("This device" if device == self.device else device, device,
                                     cst.st_mtime_ns, cst.st_size, copy)
                    orig_side = Side("Other device" if device == self.device else "This device", "",
                                     ost.st_mtime_ns if ost else 0, ost.st_size if ost else 0,
                                     orig if ost else None)
                    mine, theirs = (copy_side, orig_side) if device == self.device else (orig_side, copy_side)
                    items.append(ConflictItem(f"{folder_id}:{rel_copy}", folder_id, label, rel, mine,
                                              theirs, None, rel_copy))
        return sorted(items, key=lambda i: (i.folder_label, i.path))

    def _runner(self, folder_id: str) -> tuple[Path, Any]:
        for fid, _label, root, runner in self._folders():
            if fid == folder_id:
                return root, runner
        raise KeyError(folder_id)

    def resolve(self, item: ConflictItem, resolution: Resolution) -> None:
        root, runner = self._runner(item.folder_id)
        copy, orig = root / item.copy_path, root / item.path
        copy_is_mine = item.mine.file == copy
        if resolution is Resolution.KEEP_BOTH:
            stem, ext = os.path.splitext(item.path)
            device = parse_copy_name(Path(item.copy_path).name)[1]  # type: ignore[index]
            n, target = 1, root / f"{stem} ({device}){ext}"
            while target.exists():
                n += 1
                target = root / f"{stem} ({device} {n}){ext}"
            os.rename(copy, target)
            return
        keep_copy = (resolution is Resolution.KEEP_MINE) == copy_is_mine
        history = runner.history
        if keep_copy:
            if orig.exists():
                current = _observed(root, item.path)
                history.archive(current, ArchiveReason.CONFLICT, Keep.LINK)
            os.replace(copy, orig)
        else:
            history.archive(_observed(root, item.copy_path), ArchiveReason.CONFLICT, Keep.MOVE)


def _observed(root: Path, rel: str):
    from sync.scanner import observe_path

    record = observe_path(root, rel)
    if record is None:
        raise FileNotFoundError(f"{rel} is gone")
    return record


# -- conflicts the engine recorded (sync.planner.ConflictRecord via Engine.conflicts) -------------


def item_from_open(conflict: Any) -> ConflictItem:
    """A :class:`sync.conflicts.OpenConflict` as the workbench shows it. The path holds the
    winning version, the copy the losing one; ``mine_is_copy`` says which one is this device's."""
    rec, folder = conflict.record, conflict.folder
    at_path = Side("", rec.winner.record.modified_by, rec.winner.record.mtime_ns, rec.winner.record.size,
                   conflict.path)
    at_copy = Side("", rec.loser.record.modified_by, rec.loser.record.mtime_ns, rec.loser.record.size,
                   conflict.copy)
    mine, theirs = (at_copy, at_path) if conflict.mine_is_copy else (at_path, at_copy)
    mine = Side("This device", mine.device, mine.mtime_ns, mine.size, mine.file)
    theirs = Side(theirs.device or "Other device", theirs.device, theirs.mtime_ns, theirs.size, theirs.file)
    anc = rec.ancestor
    ancestor = Side("Common ancestor", anc.modified_by, anc.mtime_ns, anc.size, None) if anc else None
    return ConflictItem(f"{folder.id}:{rec.copy_path}", folder.id, folder.label or folder.path.name, rec.path,
                        mine, theirs, ancestor, rec.copy_path, recorded=True)


class EngineConflictSource:
    """The engine's open conflicts (``Engine.conflicts``), resolved with ``Engine.resolve`` on the
    app's asyncio loop; conflict copies on disk without a record (e.g. made by an older Cove) are
    listed and resolved by :class:`ConflictCopySource`."""

    def __init__(self, engine: Any, loop: Any, copies: ConflictCopySource):
        self.engine, self.loop, self.copies = engine, loop, copies

    def conflicts(self) -> list[ConflictItem]:
        recorded = [item_from_open(c) for c in self.engine.conflicts()]
        known = {i.key for i in recorded} | self._resolved_keys()
        return sorted(recorded + [i for i in self.copies.conflicts() if i.key not in known],
                      key=lambda i: (i.folder_label, i.path))

    def _resolved_keys(self) -> set[str]:
        """Copies of conflicts already resolved (keep both leaves the copy in place): not open."""
        import json

        out = set()
        for f in list(self.engine.folders()):
            for _id, _path, data, _created, resolved_at, _res in self.engine.runner(f.id).index.conflicts(
                    include_resolved=True):
                if resolved_at is not None:
                    out.add(f"{f.id}:{json.loads(data)['copy_path']}")
        return out

    def resolve(self, item: ConflictItem, resolution: Resolution) -> None:
        if not item.recorded:
            self.copies.resolve(item, resolution)
            return
        import asyncio

        from sync.conflicts import Keep as EngineKeep

        keep = {Resolution.KEEP_MINE: EngineKeep.MINE, Resolution.KEEP_THEIRS: EngineKeep.THEIRS,
                Resolution.KEEP_BOTH: EngineKeep.BOTH}[resolution]
        root = self.engine.folder(item.folder_id).path
        future = asyncio.run_coroutine_threadsafe(self.engine.resolve(root / item.path, keep), self.loop)
        future.result(timeout=300)


# -- the list model ---------------------------------------------------------------------------------


class ConflictColumn(enum.IntEnum):
    FILE = 0
    FOLDER = 1
    MINE = 2
    THEIRS = 3


_titled(ConflictColumn, {"FILE": "File", "FOLDER": "Folder", "MINE": "Mine", "THEIRS": "Theirs"})


def side_text(side: Side | None) -> str:
    if side is None:
        return "—"
    who = side.label + (f" ({side.device})" if side.device and side.device != side.label else "")
    return f"{who} · {when(side.mtime_ns)} · {human_size(side.size)}"


class ConflictsModel(TableModel[ConflictItem]):
    columns = ConflictColumn

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)

    def cell(self, row: ConflictItem, column: ConflictColumn, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                ConflictColumn.FILE: row.path,
                ConflictColumn.FOLDER: row.folder_label,
                ConflictColumn.MINE: side_text(row.mine),
                ConflictColumn.THEIRS: side_text(row.theirs),
            }[column]
        return None

    def find(self, key: str) -> int:
        return next((i for i, r in enumerate(self.rows) if r.key == key), -1)
