"""Filesystem block store: ciphertext blocks as files under ``DATA/blocks``.

Layout: ``blocks/<folder>/<id[0:2]>/<id>`` (256 fan-out directories per folder); folder and block
IDs are validated formats (URL-safe base64 and lowercase hex), so they cannot contain ``.`` or
``/`` and paths cannot escape the root — checked again here as defence in depth.

Writing is split in three steps so that many blocks (one batch request, or concurrent single
uploads) share one durability barrier instead of paying for one each:

1. :meth:`FsBlockStore.stage` writes the bytes to a new file in ``blocks/.tmp/`` (same
   filesystem), not yet synced;
2. :meth:`FsBlockStore.publish` renames it into place and returns what must be synced: the file
   and its directory (plus the parents it had to create);
3. :meth:`FsBlockStore.sync` makes a set of those durable with parallel ``fdatasync``/``fsync``
   calls — concurrent syncs share the filesystem's journal commits, so a batch costs about one
   commit instead of one per block.

A reader never sees a partial file at a final path (rename is atomic). The file is only a cache of
bytes: the metadata store decides whether a block exists, and its row is committed only after
step 3 returned. A file without a row (a crash before the commit, whether or not its bytes
reached the disk) is invisible and replaced by the next upload of that block. :meth:`write` does
all three steps for one block. Leftover temporaries from a crash are removed at startup by
:meth:`FsBlockStore.sweep_temporaries`.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from relay.errors import NotFound
from sync.wire.ids import is_block_id, is_folder_id

SYNC_THREADS = 16


class FsBlockStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / ".tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._root_s = str(self.root)
        self._tmp_s = str(self.tmp)
        self._sync_pool = ThreadPoolExecutor(max_workers=SYNC_THREADS, thread_name_prefix="relay-fsync")

    def _path(self, folder: str, block_id: str) -> str:
        if not is_folder_id(folder) or not is_block_id(block_id):
            raise NotFound("no such block", code="block_not_found")
        return f"{self._root_s}/{folder}/{block_id[:2]}/{block_id}"

    # -- writing ------------------------------------------------------------------------------

    def stage(self, block_id: str, data: bytes | memoryview) -> str:
        """Write ``data`` to a new temporary file (not synced); returns its path."""
        if not is_block_id(block_id):
            raise NotFound("no such block", code="block_not_found")
        tmp = f"{self._tmp_s}/{block_id}.{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        return tmp

    def publish(self, folder: str, block_id: str, tmp: str) -> list[str]:
        """Rename a staged file into place; returns the paths :meth:`sync` must make durable
        (the file first, then directories)."""
        final = self._path(folder, block_id)
        parent = os.path.dirname(final)
        paths = [final, parent]
        try:
            os.replace(tmp, final)
        except FileNotFoundError:  # first block of its fan-out directory (or of the folder)
            folder_dir = os.path.dirname(parent)
            if not os.path.isdir(folder_dir):
                paths.append(self._root_s)
            paths.append(folder_dir)
            os.makedirs(parent, exist_ok=True)
            os.replace(tmp, final)
        return paths

    def sync(self, paths: Iterable[str]) -> None:
        """Make published files and their directory entries durable: all syncs run in parallel."""
        unique = list(dict.fromkeys(paths))
        if len(unique) == 1:
            _sync_path(unique[0])
            return
        for _ in self._sync_pool.map(_sync_path, unique):
            pass

    def discard(self, tmp: str) -> None:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass

    def write(self, folder: str, block_id: str, data: bytes) -> None:
        """Stage, publish and sync one block: durable when this returns."""
        self.sync(self.publish(folder, block_id, self.stage(block_id, data)))

    # -- reading and deleting -----------------------------------------------------------------

    def read(self, folder: str, block_id: str) -> bytes:
        try:
            with open(self._path(folder, block_id), "rb", buffering=0) as f:
                return f.read()
        except FileNotFoundError:
            raise NotFound("no such block", code="block_not_found") from None

    def delete(self, folder: str, block_id: str) -> None:
        Path(self._path(folder, block_id)).unlink(missing_ok=True)

    def sweep_temporaries(self) -> int:
        n = 0
        for p in self.tmp.iterdir():
            p.unlink(missing_ok=True)
            n += 1
        return n

    def close(self) -> None:
        self._sync_pool.shutdown(wait=True)


def _sync_path(path: str) -> None:
    """fdatasync a regular file (data and size), fsync a directory (its entries)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.fsync(fd)
        else:
            os.fdatasync(fd)
    finally:
        os.close(fd)
