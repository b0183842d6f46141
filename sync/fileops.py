"""The one place that writes into a synced folder, and the guards around every write.

* :func:`resolve_inside` turns a relative path that came from elsewhere (a peer, the relay, the
  index) into a path under the folder root, or refuses it: absolute paths, ``..`` / ``.`` / empty
  components, NUL, the reserved ``.cove`` directory and temp names, and any parent directory that
  is a symlink (the index treats a symlink as a leaf, so writing *through* one would either escape
  the root or alias another path).
* :func:`atomic_write` never leaves a torn file: it writes a temp file (``TEMP_PREFIX``) beside the
  destination, fsyncs it, verifies its content hash, sets mode and mtime, re-checks an optional
  precondition, renames it into place and fsyncs the directory. On any failure the temp file is
  removed and the destination is untouched.
* :func:`unchanged_since` answers "is the disk still what the index last saw here?", which the
  executor asks before it replaces or deletes anything.

Hashing is injectable (``verify``); the default is :mod:`sync.chunker`'s file hash, so what is
verified here is exactly the ``content_hash`` the scanner puts in records.
Known limit: checks and renames go by path, so a change made between the last check and the rename
can still be replaced (the window is one ``lstat`` wide; Syncthing has the same one).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from sync import chunker
from sync.atomic import fsync_dir
from sync.config import MARKER_DIR, TEMP_PREFIX
from sync.errors import CoveError
from sync.records import FileRecord, FileType

HashFile = Callable[[Path], bytes]
"""Content hash of the file at a path, in :mod:`sync.chunker`'s definition."""

Source = Iterable[bytes] | Path | BinaryIO
"""Content to write: byte chunks, a file to copy, or a binary stream."""

_COPY_BUFSIZE = 1 << 20


def content_hash_of(path: Path) -> bytes:
    """The default :data:`HashFile`: :func:`sync.chunker.hash_file`'s ``content_hash``."""
    return chunker.hash_file(path).content_hash


class FileOpsError(CoveError):
    """A write into the folder was refused or failed; the destination is untouched."""


class UnsafePath(FileOpsError):
    """A relative path that must never be written: it would escape the root or hit reserved names."""


class HashMismatch(FileOpsError):
    """What was written does not hash to what was expected."""


class ChangedOnDisk(FileOpsError):
    """The destination changed since it was last looked at; it was left alone."""


# -- paths ---------------------------------------------------------------------------------------


def check_relpath(relpath: str) -> tuple[str, ...]:
    """The components of an index-form path (``/`` separators), or :class:`UnsafePath`.

    Pure: looks at the string only. Refused: empty, absolute, drive letters, NUL, empty, ``.`` or
    ``..`` components, the OS separator inside a component, and the names :mod:`sync.ignore`
    always ignores (a ``.cove`` component, a component starting with the temp prefix).
    """
    if not relpath:
        raise UnsafePath("empty path", relpath)
    if "\x00" in relpath:
        raise UnsafePath(f"path contains a NUL byte: {relpath!r}", relpath)
    if relpath.startswith(("/", "\\\\")) or (len(relpath) >= 2 and relpath[1] == ":"):
        raise UnsafePath(f"absolute path refused: {relpath!r}", relpath)
    parts = tuple(relpath.split("/"))
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePath(f"path has an empty, '.' or '..' component: {relpath!r}", relpath)
        if os.sep != "/" and os.sep in part:
            raise UnsafePath(f"path component contains {os.sep!r}: {relpath!r}", relpath)
        if os.altsep and os.altsep != "/" and os.altsep in part:
            raise UnsafePath(f"path component contains {os.altsep!r}: {relpath!r}", relpath)
        # The same names sync.ignore always ignores: the engine never syncs them, so never writes them.
        if part.startswith(TEMP_PREFIX):
            raise UnsafePath(f"path uses Cove's reserved temp prefix: {relpath!r}", relpath)
        if part == MARKER_DIR:
            raise UnsafePath(f"path goes through Cove's reserved {MARKER_DIR}/ directory: {relpath!r}", relpath)
    return parts


def resolve_inside(root: Path, relpath: str) -> Path:
    """``root / relpath``, after refusing anything that could land outside ``root``.

    Besides :func:`check_relpath`, every existing parent directory between ``root`` and the
    final component must be a real directory, not a symlink. The final component itself may be a
    symlink (a write or delete replaces the link, never follows it). Parents that do not exist yet
    are fine: they will be created as real directories. The returned path is *not* resolved.
    """
    parts = check_relpath(relpath)
    current = root
    for part in parts[:-1]:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            break  # nothing below can be a symlink yet
        except NotADirectoryError as e:
            raise UnsafePath(f"a parent of {relpath!r} is not a directory", relpath) from e
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePath(f"a parent of {relpath!r} is a symlink; Cove does not write through links", relpath)
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePath(f"a parent of {relpath!r} is not a directory", relpath)
    return root.joinpath(*parts)


def relpath_of(root: Path, path: Path) -> str | None:
    """The index-form relative path of ``path`` under ``root``, or None when it is outside.
    Purely lexical (no symlinks resolved)."""
    try:
        rel = PurePosixPath(Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix())
    except ValueError:
        return None
    text = str(rel)
    return None if text in ("", ".") else text


# -- stat comparison -----------------------------------------------------------------------------


def file_type_of(st: os.stat_result) -> FileType | None:
    if stat.S_ISREG(st.st_mode):
        return FileType.FILE
    if stat.S_ISDIR(st.st_mode):
        return FileType.DIRECTORY
    if stat.S_ISLNK(st.st_mode):
        return FileType.SYMLINK
    return None


def unchanged_since(path: Path, record: FileRecord | None) -> bool:
    """True when the disk at ``path`` is still what ``record`` says it was at the last scan.

    ``record`` None or deleted: true only if nothing is there. A file: same type, size, mtime_ns
    and inode (inode only when the record knows one, i.e. non-zero). A symlink: same link text
    (and inode when known). A directory: still a directory (its contents are checked per entry).
    Never follows symlinks; any error reading the disk counts as "changed".
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return record is None or record.deleted
    except OSError:
        return False
    if record is None or record.deleted:
        return False
    if file_type_of(st) is not record.type:
        return False
    if record.inode and st.st_ino != record.inode:
        return False
    if record.type is FileType.FILE:
        return st.st_size == record.size and st.st_mtime_ns == record.mtime_ns
    if record.type is FileType.SYMLINK:
        try:
            return os.readlink(path) == record.symlink_target
        except OSError:
            return False
    return True


# -- writing -------------------------------------------------------------------------------------


def _write_source(out: BinaryIO, source: Source) -> None:
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            shutil.copyfileobj(f, out, _COPY_BUFSIZE)
    elif hasattr(source, "read"):
        shutil.copyfileobj(source, out, _COPY_BUFSIZE)  # type: ignore[arg-type, type-var]
    else:
        out.writelines(source)  # type: ignore[arg-type]


def atomic_write(
    dest: Path,
    source: Source,
    *,
    expected_hash: bytes | None = None,
    verify: HashFile | None = None,
    mode: int | None = None,
    mtime_ns: int | None = None,
    precondition: Callable[[], bool] | None = None,
) -> os.stat_result:
    """Put ``source``'s bytes at ``dest`` all at once, or not at all.

    ``expected_hash`` is checked with ``verify`` (default :func:`content_hash_of`) against the
    fsynced temp file before anything is renamed. ``mode`` (permission bits, default 0o644) and
    ``mtime_ns`` (default: now) are set on the temp file. ``precondition`` is called last, just before the rename (typically
    ``lambda: unchanged_since(dest, record)``); if it returns False, :class:`ChangedOnDisk` is
    raised. Missing parent directories are created. Returns the ``lstat`` of the written file
    (its inode and mtime are what the index should remember).
    """
    verify = verify or content_hash_of
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _write_source(out, source)
            out.flush()
            os.fsync(out.fileno())
        if expected_hash is not None:
            actual = verify(tmp)
            if actual != expected_hash:
                raise HashMismatch(
                    f"content written for {dest.name} does not match its expected hash "
                    f"(got {actual.hex()[:16]}…, expected {expected_hash.hex()[:16]}…); nothing was changed",
                    dest,
                )
        os.chmod(tmp, (mode if mode is not None else 0o644) & 0o7777)
        if mtime_ns is not None:
            os.utime(tmp, ns=(mtime_ns, mtime_ns))
        if precondition is not None and not precondition():
            raise ChangedOnDisk(f"{dest} changed on disk since it was scanned; it was left alone", dest)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(dest.parent)
    return os.lstat(dest)


def remove_stale_temps(directory: Path, older_than_s: float = 0.0) -> list[Path]:
    """Delete leftover ``TEMP_PREFIX`` files directly in ``directory`` (after a crash). Returns
    what was removed. Only call when no write into ``directory`` is in flight, or pass
    ``older_than_s``: only files whose inode changed (ctime: any write, chmod or utime) longer
    ago than that go."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return removed
    cutoff = time.time() - older_than_s
    for entry in entries:
        if entry.name.startswith(TEMP_PREFIX) and entry.is_file(follow_symlinks=False):
            try:
                if older_than_s and entry.stat(follow_symlinks=False).st_ctime > cutoff:
                    continue
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except FileNotFoundError:
                pass
    return removed
