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

import errno
import fcntl
import mmap
import os
import secrets
import stat
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from relay.errors import NotFound
from sync.wire.ids import is_block_id, is_folder_id

SYNC_THREADS = 16
_ALIGN = 4096
_O_DIRECT = getattr(os, "O_DIRECT", 0)


class FsBlockStore:
    def __init__(self, root: Path, *, direct_io: bool = True) -> None:
        self.root = Path(root)
        self.direct_io = direct_io and _O_DIRECT != 0
        self._local = threading.local()
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
        view = memoryview(data).cast("B")
        direct = self.direct_io and len(view) >= _ALIGN
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            fd = os.open(tmp, flags | (_O_DIRECT if direct else 0), 0o600)
        except OSError as exc:
            if not direct or exc.errno != errno.EINVAL:
                raise
            self.direct_io = direct = False  # this filesystem has no O_DIRECT (e.g. tmpfs)
            fd = os.open(tmp, flags, 0o600)
        try:
            if direct:
                view = self._write_direct(fd, view)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        return tmp

    def _write_direct(self, fd: int, view: memoryview) -> memoryview:
        """Write the 4 KiB-aligned head of ``view`` with O_DIRECT from an aligned per-thread
        buffer, then switch ``fd`` back to buffered I/O; returns the part still to write.

        O_DIRECT skips the page-cache copy (the largest CPU cost of ingest here) and keeps cold
        uploaded ciphertext from evicting hot pages; durability is unchanged, since
        :meth:`sync` still fdatasyncs every file (size, allocation, the tail, the disk cache)."""
        head = len(view) - len(view) % _ALIGN
        buf = getattr(self._local, "buf", None)
        if buf is None or len(buf) < head:
            if buf is not None:
                buf.close()
            buf = self._local.buf = mmap.mmap(-1, max(head, 1 << 20))
        buf[:head] = view[:head]
        written = 0
        try:
            with memoryview(buf) as aligned:
                while written < head:
                    n = os.write(fd, aligned[written:head])
                    if n <= 0 or n % _ALIGN:
                        written += max(n, 0)
                        break
                    written += n
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            self.direct_io = False  # the device wants a larger alignment: stop trying
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_O_DIRECT)
        return view[written:]

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
