"""Filesystem block store: ciphertext blocks as files under ``DATA/blocks``.

Layout: ``blocks/<folder>/<id[0:2]>/<id>`` (256 fan-out directories per folder); folder and block IDs are validated formats
(URL-safe base64 and lowercase hex), so they cannot contain ``.`` or ``/`` and paths cannot
escape the root — checked again here as defence in depth. A write goes to ``blocks/.tmp/`` (same
filesystem), is fsynced, renamed into place, and the directory is fsynced: a reader never sees a
partial block, and a block is durable once ``write`` returns. Leftover temporaries from a crash
are removed at startup by :meth:`FsBlockStore.sweep_temporaries`.

The file is only a cache of bytes: the metadata store decides whether a block exists. A file
without a metadata row (crash between rename and commit) is invisible and overwritten by the next
upload of that block.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from relay.errors import NotFound
from sync.wire.ids import is_block_id, is_folder_id


class FsBlockStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / ".tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def _path(self, folder: str, block_id: str) -> Path:
        if not is_folder_id(folder) or not is_block_id(block_id):
            raise NotFound("no such block", code="block_not_found")
        return self.root / folder / block_id[:2] / block_id

    def write(self, folder: str, block_id: str, data: bytes) -> None:
        final = self._path(folder, block_id)
        tmp = self.tmp / f"{block_id}.{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fdatasync(fd)  # data and size; the rename is made durable by the directory fsync
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        new_dirs = not final.parent.exists()
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        if new_dirs:
            _fsync_dir(final.parent.parent)
            _fsync_dir(self.root)

    def read(self, folder: str, block_id: str) -> bytes:
        try:
            return self._path(folder, block_id).read_bytes()
        except FileNotFoundError:
            raise NotFound("no such block", code="block_not_found") from None

    def delete(self, folder: str, block_id: str) -> None:
        self._path(folder, block_id).unlink(missing_ok=True)

    def sweep_temporaries(self) -> int:
        n = 0
        for p in self.tmp.iterdir():
            p.unlink(missing_ok=True)
            n += 1
        return n


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
