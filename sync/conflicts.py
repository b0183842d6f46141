"""Open conflicts as people see them, and resolving one (keep mine, keep theirs, keep both).

A conflict record (made by the device whose version lost, see :mod:`sync.planner`) names the
path, which holds the winning version, and the conflict copy, which holds the losing one. "Mine"
is the version this device made: the copy on the device that lost, the file at the path
everywhere else. Resolving is done with ordinary, safe file operations — the version that goes
away is kept in local history first — so the next scan publishes it like any edit; the resolution
itself is also published, so every device lists the conflict as resolved.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sync.config import FolderConfig
from sync.errors import CoveError
from sync.fileops import atomic_write, resolve_inside, unchanged_since
from sync.history import ArchiveReason, Keep as HistoryKeep
from sync.index import Index
from sync.planner import ConflictRecord
from sync.wire.ids import short_id


class Keep(enum.Enum):
    MINE = "mine"
    THEIRS = "theirs"
    BOTH = "both"


class ConflictNotFound(CoveError):
    pass


@dataclass(frozen=True)
class OpenConflict:
    record: ConflictRecord
    folder: FolderConfig
    mine_is_copy: bool  # this device's version is the conflict copy

    @property
    def path(self) -> Path:
        return self.folder.path / self.record.path

    @property
    def copy(self) -> Path:
        return self.folder.path / self.record.copy_path


def open_conflicts(index: Index, folder: FolderConfig) -> list[OpenConflict]:
    out = []
    for _id, _path, data, _created, _resolved, _res in index.conflicts():
        record = ConflictRecord.from_dict(json.loads(data))
        out.append(OpenConflict(record, folder, short_id(record.loser.origin) == index.device))
    return out


def find_conflict(index: Index, folder: FolderConfig, relpath: str) -> OpenConflict:
    for c in open_conflicts(index, folder):
        if relpath in (c.record.path, c.record.copy_path):
            return c
    raise ConflictNotFound(f"no open conflict at {relpath} (see `cove conflicts`)", relpath)


def resolve_conflict(runner, relpath: str, keep: Keep, device: str, clock: Callable[[], int]) -> OpenConflict:
    """Apply a resolution on disk and mark the conflict resolved locally. ``runner`` is the
    folder's :class:`sync.folder.FolderRunner` (index and history)."""
    index: Index = runner.index
    conflict = find_conflict(index, runner.folder, relpath)
    root = runner.folder.path
    target = resolve_inside(root, conflict.record.path)
    copy = resolve_inside(root, conflict.record.copy_path)
    if keep is not Keep.BOTH:
        if not os.path.lexists(copy):
            raise CoveError(
                f"the conflict copy {conflict.record.copy_path} is not on this device (yet); sync first", copy
            )
        keep_copy = (keep is Keep.MINE) == conflict.mine_is_copy
        target_rec = index.get(conflict.record.path)
        copy_rec = index.get(conflict.record.copy_path)
        if not unchanged_since(target, target_rec) or not unchanged_since(copy, copy_rec):
            raise CoveError("the files changed since the last scan; scan and try again", target)
        with index.transaction():
            if keep_copy:
                if target_rec is not None and not target_rec.deleted:
                    runner.history.archive(target_rec, ArchiveReason.CONFLICT, HistoryKeep.LINK)
                atomic_write(
                    target,
                    Path(copy),
                    mode=copy_rec.mode if copy_rec else None,
                    precondition=lambda: unchanged_since(target, target_rec),
                )
            if copy_rec is not None:
                runner.history.archive(copy_rec, ArchiveReason.CONFLICT, HistoryKeep.MOVE)
            if os.path.lexists(copy):
                os.unlink(copy)
    index.resolve_conflict(conflict.record.id, keep.value, clock())
    return conflict
