"""Replacing a small file (config, keys, markers) all at once: temp file in the same directory,
fsync, rename, fsync the directory. A crash leaves the old file or the new one, never a mix.
A leaf module: anything may import it. (Files inside synced folders go through
:mod:`sync.fileops`, which also verifies content hashes and keeps history.)"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
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


def _load_syncfs():  # Linux: syncfs(2), which the os module does not wrap
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return fn


_syncfs = _load_syncfs()
HAVE_SYNCFS = _syncfs is not None


def sync_filesystem(path: Path) -> None:
    """Write out everything dirty on the filesystem holding ``path`` (data and metadata) and wait:
    one ``syncfs(2)`` instead of an fsync per file, for batches of many small files. Raises
    OSError when it fails or is not available (callers then fsync file by file). Linux reports
    writeback errors through syncfs since 5.8."""
    if _syncfs is None:
        raise OSError("syncfs is not available on this platform")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        if _syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"syncfs: {os.strerror(err)}", str(path))
    finally:
        os.close(fd)
