"""What a scan of the local folder observed: changes and per-file errors, as plain data.

The scanner produces these and the index consumes them (``Index.apply_scan``), so they live in
this leaf module: the index imports it without importing the scanner. A :class:`Change` carries
the *observed* :class:`~sync.records.FileRecord` with no version and no sequence: the index
assigns those. A :class:`FileError` is a per-file problem; it never stops the scan, and a path
with an error keeps its previous record (it is never read as deleted).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sync.records import FileRecord


class ChangeKind(enum.Enum):
    ADDED = "added"  # a path the index did not have
    MODIFIED = "modified"  # same path and type, other content or mode (or symlink target)
    DELETED = "deleted"  # the path is gone; ``record`` is the previous record, deleted=True
    MOVED = "moved"  # ``old_path`` vanished and ``path`` appeared with the same content
    TYPE_CHANGED = "type_changed"  # e.g. a file replaced by a directory or a symlink
    # Same content and mode; only local stat data (mtime_ns, inode) moved on. The index refreshes
    # its stat cache so the next scan does not hash the file again; whether that is a new version
    # is the index's decision (the scanner suggests: no, content did not change).
    METADATA = "metadata"


@dataclass(frozen=True)
class Change:
    """One change at ``path``.

    ``record`` is what is on disk now (for DELETED: the previous record with ``deleted=True``).
    ``previous`` is the index's record it replaces (None for ADDED; for MOVED, the record at
    ``old_path``).
    """

    kind: ChangeKind
    path: str
    record: FileRecord
    previous: FileRecord | None = None
    old_path: str | None = None

    def __str__(self) -> str:
        if self.kind is ChangeKind.MOVED:
            return f"moved {self.old_path} -> {self.path}"
        return f"{self.kind.value} {self.path}"


class ErrorKind(enum.Enum):
    # Errors: the path could not be read; its previous record (and subtree) is kept as is.
    PERMISSION_DENIED = "permission_denied"
    KEEPS_CHANGING = "keeps_changing"  # modified during every hashing attempt
    IO_ERROR = "io_error"
    UNDECODABLE_NAME = "undecodable_name"  # bytes that are not UTF-8: cannot be indexed or synced
    # Warnings: the path is indexed under its exact name, but other systems may not hold it.
    RESERVED_NAME = "reserved_name"  # CON, aux.txt, LPT1 ... (Windows)
    INVALID_CHARACTER = "invalid_character"  # < > : " | ? * \ or control characters
    TRAILING_DOT_OR_SPACE = "trailing_dot_or_space"  # Windows strips them
    NAME_TOO_LONG = "name_too_long"  # over 255 UTF-8 bytes or UTF-16 units
    CASE_COLLISION = "case_collision"  # A.txt and a.txt in one directory
    NORMALIZATION_COLLISION = "normalization_collision"  # NFC and NFD spellings of one name
    UNSUPPORTED_TYPE = "unsupported_type"  # fifo, socket, device: skipped

    @property
    def is_warning(self) -> bool:
        return self in _WARNINGS


_WARNINGS = frozenset(
    {
        ErrorKind.RESERVED_NAME,
        ErrorKind.INVALID_CHARACTER,
        ErrorKind.TRAILING_DOT_OR_SPACE,
        ErrorKind.NAME_TOO_LONG,
        ErrorKind.CASE_COLLISION,
        ErrorKind.NORMALIZATION_COLLISION,
        ErrorKind.UNSUPPORTED_TYPE,
    }
)


@dataclass(frozen=True)
class FileError:
    """A problem with one path. ``others`` names the colliding paths for collisions."""

    path: str
    kind: ErrorKind
    message: str
    others: tuple[str, ...] = ()

    @property
    def is_warning(self) -> bool:
        return self.kind.is_warning

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"
