"""What the engine tells its embedder (the desktop app, the daemon's log) as things happen.

One :class:`EngineEvents` object, passed in when the engine is wired, with a callback per kind of
event; every callback defaults to doing nothing. Callbacks run on the engine's event loop thread
and must return quickly (the app hands them to Qt signals).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sync.records import FileRecord


def _ignore(*_args: Any) -> None:
    return None


@dataclass
class EngineEvents:
    # (folder_id, state, progress 0..1 or None): "up to date", "scanning", "syncing", "error: ...",
    # "paused", "offline", "waiting for confirmation"
    folder_state: Callable[[str, str, float | None], None] = _ignore
    # (folder_id, records, remote): records that changed here; remote=True when they came from
    # other devices, False for local edits the scanner found
    changes: Callable[[str, Sequence[FileRecord], bool], None] = _ignore
    # (folder_id, conflict record): a conflict this device made or learned of
    conflict: Callable[[str, Any], None] = _ignore
    # (folder_id, path, kind, message): per-file or folder errors ("" path for the folder)
    error: Callable[[str, str, str, str], None] = _ignore
    # (line): a one-line human-readable report (the daemon prints these)
    report: Callable[[str], None] = _ignore


__all__ = ["EngineEvents"]
