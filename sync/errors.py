"""The engine's error types. One base, :class:`CoveError`, whose message is written for a person;
the CLI and the app show it as it is. Per-file problems are not exceptions but records in the
index (see :mod:`sync.changes`); these are failures of a whole operation."""

from __future__ import annotations

from pathlib import Path


class CoveError(Exception):
    """A failure the user can understand and act on."""

    def __init__(self, message: str, path: Path | str | None = None):
        super().__init__(message)
        self.path = path


class FolderNotFound(CoveError):
    pass


class FolderError(CoveError):
    """The folder cannot be synced right now (root missing, emptied, marker mismatch)."""


class NeedsConfirmation(CoveError):
    """A scan would delete a large share of the folder; nothing was recorded."""
