"""The filesystem seam of the scanner: the few calls it makes, behind a small Protocol.

The scanner reads the disk only through :class:`FileSystem`, so tests can inject faults that a
real tree cannot produce on demand: tests run as root, and root reads mode-000 files, so
"permission denied" is simulated by wrapping :class:`OsFileSystem` and raising for chosen paths;
"file changes while it is hashed" is simulated by a stream whose ``readinto`` runs a hook between
reads. Paths are absolute ``str`` paths in the OS's own form; nothing here knows about folders,
records or ignore rules.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO, Protocol


class FileSystem(Protocol):
    """What the scanner needs from a filesystem (all calls may raise ``OSError``)."""

    def scandir(self, path: str) -> Iterator[os.DirEntry[str]]:
        """Entries of a directory (``os.scandir`` semantics; a context manager is not needed)."""
        ...

    def lstat(self, path: str) -> os.stat_result:
        """Status of ``path`` itself; symlinks are not followed."""
        ...

    def open_read(self, path: str) -> BinaryIO:
        """An unbuffered binary stream over a regular file (supports ``readinto`` and ``fileno``)."""
        ...

    def readlink(self, path: str) -> str:
        """The target text of a symlink."""
        ...


class OsFileSystem:
    """The real filesystem."""

    def scandir(self, path: str) -> Iterator[os.DirEntry[str]]:
        with os.scandir(path) as it:
            yield from it

    def lstat(self, path: str) -> os.stat_result:
        return os.lstat(path)

    def open_read(self, path: str) -> BinaryIO:
        # O_NOFOLLOW: a path that became a symlink since it was listed is never followed.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
        return os.fdopen(fd, "rb", buffering=0)  # type: ignore[return-value]

    def readlink(self, path: str) -> str:
        return os.readlink(path)


OS_FS = OsFileSystem()
