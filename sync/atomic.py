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
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return  # directories cannot be opened here (Windows): nothing to sync
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
