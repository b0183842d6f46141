"""Replacing a small file (config, keys, markers) all at once: temp file in the same directory,
fsync, rename, fsync the directory. A crash leaves the old file or the new one, never a mix.
A leaf module: anything may import it. (Files inside synced folders go through
:mod:`sync.fileops`, which also verifies content hashes and keeps history.)"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename or link in ``directory`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # e.g. Windows: directory fsync is neither possible nor needed
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
