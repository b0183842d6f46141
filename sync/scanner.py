"""Local scanning: what changed in a folder on disk since the index last looked.

Three parts, so that every decision is a pure function tested as a table:

* the **walker** (:func:`walk`, I/O): lists the folder (or only some subtrees) with ``os.scandir``
  and ``lstat``, prunes ignored and engine paths, never follows symlinks, and turns unreadable
  paths into per-file errors plus *protected* paths whose previous records must be kept;
* the **hasher** (:meth:`Scanner._hash_entries`, I/O + CPU): hashes only entries whose type, size,
  mtime_ns or inode differ from the index (:func:`needs_hash`), on a thread pool; a file is read
  between two ``lstat`` calls and hashed again if they differ, so a record is never half old;
* the **diff** (:func:`diff`, pure): previous records against observed ones, with moves paired by
  content, giving :class:`~sync.changes.Change` values; :func:`needs_confirmation` decides whether
  the deletes are too many to commit without asking.

Safety before anything else: a root that is missing, not a directory, not marked (no
``.cove/folder.json``), or suddenly empty while the index has files raises a
:class:`~sync.errors.FolderError` (:class:`RootMissing`, :class:`RootEmptied`, ...); it is never
read as "everything was deleted". The scanner never writes to the folder.
"""

from __future__ import annotations

import errno
import gc
import os
import stat as stat_mod
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from sync import chunker
from sync.changes import Change, ChangeKind, ErrorKind, FileError
from sync.config import MARKER_DIR, MARKER_FILE
from sync.errors import CoveError, FolderError
from sync.fs import OS_FS, FileSystem
from sync.ignore import IGNORE_FILE, IgnoreRules
from sync.names import find_collisions, name_issues
from sync.records import FileRecord, FileType

ROOT_MARKER = f"{MARKER_DIR}/{MARKER_FILE}"
MAX_HASH_ATTEMPTS = 4  # a file that changes during this many reads in a row is reported
MASS_DELETE_RATIO = 0.5  # more than this share of the indexed paths deleted in one scan ...
MASS_DELETE_MIN = 20  # ... of a folder with at least this many paths needs confirmation
PARALLEL_MIN_FILE = 1 << 20  # files this large are hashed on the thread pool; smaller ones inline
# A file whose mtime was this close to "now" when it was hashed may change again within the same
# timestamp tick (Linux stamps with a coarse clock; FAT and HFS+ have 2 s / 1 s granularity) and
# look unchanged. Such "racily clean" paths are hashed again at the next scan (as git does).
RACY_NS = 2_000_000_000

HashStream = Callable[[BinaryIO], chunker.Hashed]


class ScanIndex(Protocol):
    """What the scanner needs from the index (:class:`sync.index.Index` satisfies it)."""

    def scan_state(self) -> dict[str, FileRecord]:
        """Every non-deleted record, by path (full scans)."""
        ...

    def records(self, include_deleted: bool = False, prefix: str | None = None) -> Iterable[FileRecord]:
        """Non-deleted records at ``prefix`` and below it (targeted scans)."""
        ...

    def get(self, path: str) -> FileRecord | None:
        """The record at ``path`` (possibly deleted), or None."""
        ...

    def count(self, include_deleted: bool = False) -> int:
        """How many non-deleted records there are (the base of the mass-delete rule)."""
        ...

    def apply_scan(
        self,
        changes: Sequence[Change],
        errors: Sequence[FileError],
        scope: Sequence[str] | None = None,
    ) -> object:
        """Commit a scan: changes get versions and sequences; errors of ``scope`` are replaced."""
        ...


# -- errors that stop a scan -----------------------------------------------------------------


class RootMissing(FolderError):
    """The folder root does not exist (unmounted disk, deleted or moved folder)."""


class RootNotDirectory(FolderError):
    """The folder root is not a directory."""


class RootNotMarked(FolderError):
    """The root has no ``.cove/folder.json``: not this folder, or a disk that is not mounted."""


class RootUnreadable(FolderError):
    """The root itself, or its ``.coveignore``, cannot be read."""


class RootEmptied(FolderError):
    """The root is suddenly empty while the index has files; confirm to record the deletes."""


def check_root(root: str, fs: FileSystem = OS_FS, marker: str = ROOT_MARKER) -> None:
    """Raise a :class:`FolderError` unless ``root`` is an existing, marked directory."""
    try:
        st = fs.lstat(root)
    except FileNotFoundError:
        raise RootMissing(f"the folder {root} is missing; nothing was recorded as deleted", root) from None
    except OSError as e:
        raise RootUnreadable(f"the folder {root} cannot be read: {e.strerror}", root) from e
    if not stat_mod.S_ISDIR(st.st_mode):
        raise RootNotDirectory(f"{root} is not a directory", root)
    try:
        fs.lstat(os.path.join(root, marker))
    except FileNotFoundError:
        raise RootNotMarked(
            f"{root} has no {marker}: the disk may not be mounted, or this is not the synced folder",
            root,
        ) from None
    except OSError as e:
        raise RootUnreadable(f"the marker of {root} cannot be read: {e.strerror}", root) from e


# -- the walker ------------------------------------------------------------------------------


@dataclass(slots=True)
class Entry:
    """One path as listed: its type and stat data (no content yet)."""

    path: str
    type: FileType
    size: int
    mtime_ns: int
    inode: int
    mode: int


@dataclass
class Walk:
    """What a walk saw: entries by path, per-path errors, and paths whose old records must stay."""

    entries: dict[str, Entry] = field(default_factory=dict)
    errors: list[FileError] = field(default_factory=list)
    protected: set[str] = field(default_factory=set)


def _entry_type(mode: int) -> FileType | None:
    if stat_mod.S_ISREG(mode):
        return FileType.FILE
    if stat_mod.S_ISDIR(mode):
        return FileType.DIRECTORY
    if stat_mod.S_ISLNK(mode):
        return FileType.SYMLINK
    return None


def _os_error(path: str, e: OSError, what: str) -> FileError:
    if isinstance(e, PermissionError):
        return FileError(path, ErrorKind.PERMISSION_DENIED, f"permission denied ({what})")
    return FileError(path, ErrorKind.IO_ERROR, f"cannot {what}: {e.strerror or e}")


def walk(root: str, rules: IgnoreRules, scope: Sequence[str] | None = None, fs: FileSystem = OS_FS) -> Walk:
    """List ``root`` (or the subtrees ``scope``, relative paths whose ancestors are real
    directories; "" is the whole folder). Ignored and engine paths are skipped, directories are
    not entered when ignored, symlinks are entries and never followed."""
    out = Walk()
    stack: list[str] = []
    for top in [""] if scope is None else scope:
        if top == "":
            stack.append("")
            continue
        try:
            st = fs.lstat(os.path.join(root, top))
        except FileNotFoundError:
            continue  # gone: the diff reads what was under it as deleted
        except OSError as e:
            out.errors.append(_os_error(top, e, "read its status"))
            out.protected.add(top)
            continue
        if rules.is_ignored(top, stat_mod.S_ISDIR(st.st_mode)):
            continue
        if _add_entry(out, top, st) is FileType.DIRECTORY:
            stack.append(top)
    while stack:
        rel = stack.pop()
        try:
            listing = list(fs.scandir(os.path.join(root, rel) if rel else root))
        except FileNotFoundError:
            if rel:
                out.entries.pop(rel, None)  # vanished since it was listed
                continue
            raise
        except OSError as e:
            if not rel:
                raise RootUnreadable(f"the folder {root} cannot be listed: {e.strerror}", root) from e
            out.errors.append(_os_error(rel, e, "list the directory"))
            out.protected.add(rel)  # its old subtree is kept, never read as deleted
            continue
        prefix = rel + "/" if rel else ""
        for de in listing:  # the hot loop of a scan: kept flat on purpose
            name = de.name
            path = prefix + name
            try:
                is_dir = de.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if rules.matches(path, is_dir, name):
                continue
            try:
                st = de.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError as e:
                out.errors.append(_os_error(path, e, "read its status"))
                out.protected.add(path)
                continue
            if _add_entry(out, path, st, name) is FileType.DIRECTORY:
                stack.append(path)
    return out


def _add_entry(out: Walk, path: str, st: os.stat_result, name: str | None = None) -> FileType | None:
    if name is None:
        name = path.rpartition("/")[2]
    mode = st.st_mode
    typ = FileType.FILE if stat_mod.S_ISREG(mode) else _entry_type(mode)
    if typ is None:
        out.errors.append(
            FileError(path, ErrorKind.UNSUPPORTED_TYPE, "not a file, directory or symlink; skipped")
        )
        out.protected.add(path)
        return None
    issues = name_issues(name)
    if issues:
        for issue in issues:
            if issue.kind is ErrorKind.UNDECODABLE_NAME:
                # Cannot be stored or synced; nothing can have been indexed under it: skip it all.
                out.errors.append(FileError(path, issue.kind, issue.message))
                return None
        for issue in issues:
            out.errors.append(FileError(path, issue.kind, issue.message))
    out.entries[path] = Entry(path, typ, st.st_size, st.st_mtime_ns, st.st_ino, mode & 0o7777)
    return typ


# -- pure decisions --------------------------------------------------------------------------


def needs_hash(previous: FileRecord | None, entry: Entry) -> bool:
    """Whether the content must be read again; directories never are."""
    if entry.type is FileType.DIRECTORY:
        return False
    return (
        previous is None
        or previous.type is not entry.type
        or previous.size != entry.size
        or previous.mtime_ns != entry.mtime_ns
        or previous.inode != entry.inode
    )


def unchanged_record(previous: FileRecord, entry: Entry) -> FileRecord:
    """The observed record of an entry whose content was not read again: the previous record,
    with the stat data of now (the same object when nothing differs, which :func:`diff` skips).
    A directory's mtime and size are not tracked: they change whenever a child does."""
    if entry.type is FileType.DIRECTORY:
        if (previous.mode, previous.inode) == (entry.mode, entry.inode):
            return previous
        return previous.with_changes(mode=entry.mode, inode=entry.inode, mtime_ns=entry.mtime_ns)
    if (previous.mode, previous.mtime_ns, previous.inode, previous.size) == (
        entry.mode,
        entry.mtime_ns,
        entry.inode,
        entry.size,
    ):
        return previous
    return previous.with_changes(mode=entry.mode, mtime_ns=entry.mtime_ns, inode=entry.inode, size=entry.size)


def _same_observation(a: FileRecord, b: FileRecord) -> bool:
    return (
        a.type is b.type
        and a.same_content(b)
        and (a.mode, a.mtime_ns, a.inode, a.size) == (b.mode, b.mtime_ns, b.inode, b.size)
    )


def directory_record(entry: Entry) -> FileRecord:
    return FileRecord(
        path=entry.path, type=FileType.DIRECTORY, mtime_ns=entry.mtime_ns, mode=entry.mode, inode=entry.inode
    )


def under_any(path: str, roots: Collection[str]) -> bool:
    """``path`` is one of ``roots`` or below one of them ("" is everything)."""
    if not roots:
        return False
    if "" in roots or path in roots:
        return True
    i = path.find("/")
    while i != -1:
        if path[:i] in roots:
            return True
        i = path.find("/", i + 1)
    return False


def _move_key(r: FileRecord) -> tuple[object, ...] | None:
    if r.type is FileType.FILE:
        if r.size == 0:  # every empty file has one hash: pair only the same inode
            return (r.type, 0, r.inode) if r.inode else None
        return (r.type, r.size, r.content_hash)
    if r.type is FileType.SYMLINK:
        return (r.type, r.symlink_target, r.inode if not r.symlink_target else None)
    return (r.type, r.inode) if r.inode else None  # a directory moved is the same inode


def diff(
    previous: Mapping[str, FileRecord],
    observed: Mapping[str, FileRecord],
    protected: Collection[str] = (),
) -> list[Change]:
    """The changes from ``previous`` (the index's records of the scanned area) to ``observed``
    (what is there now). Paths in or under ``protected`` keep their previous records: no change is
    reported for them, whatever ``observed`` holds.

    A path that vanished and a path that appeared with the same content (size and hash; the same
    link target; for a directory or an empty file, the same inode) are one MOVED change. When
    several could pair, the same inode wins, then the same name, then path order.

    Order: everything but deletes in path order (a parent before its children), then deletes
    deepest first (children before their parent).
    """
    changes: list[Change] = []
    added: list[FileRecord] = []
    for path, obs in observed.items():
        prev = previous.get(path)
        if obs is prev or (protected and under_any(path, protected)):
            continue
        if prev is None:
            added.append(obs)
        elif prev.type is not obs.type:
            changes.append(Change(ChangeKind.TYPE_CHANGED, path, obs, prev))
        elif not prev.same_content(obs) or prev.mode != obs.mode:
            changes.append(Change(ChangeKind.MODIFIED, path, obs, prev))
        elif prev.inode != obs.inode or (
            obs.type is not FileType.DIRECTORY and (prev.mtime_ns != obs.mtime_ns or prev.size != obs.size)
        ):
            changes.append(Change(ChangeKind.METADATA, path, obs, prev))
    vanished = [
        r for p, r in previous.items() if p not in observed and not (protected and under_any(p, protected))
    ]
    by_key: dict[tuple[object, ...], list[FileRecord]] = defaultdict(list)
    for r in vanished:
        key = _move_key(r)
        if key is not None:
            by_key[key].append(r)
    moved_from: set[str] = set()
    for obs in sorted(added, key=lambda r: r.path):
        key = _move_key(obs)
        candidates = by_key.get(key) if key is not None else None
        if not candidates:
            changes.append(Change(ChangeKind.ADDED, obs.path, obs))
            continue
        name = obs.path.rpartition("/")[2]
        best = min(
            candidates,
            key=lambda r: (r.inode != obs.inode or not r.inode, r.path.rpartition("/")[2] != name, r.path),
        )
        candidates.remove(best)
        moved_from.add(best.path)
        changes.append(Change(ChangeKind.MOVED, obs.path, obs, best, old_path=best.path))
    changes.sort(key=lambda c: c.path)
    deletes = [
        Change(ChangeKind.DELETED, r.path, r.with_changes(deleted=True), r)
        for r in vanished
        if r.path not in moved_from
    ]
    deletes.sort(key=lambda c: c.path, reverse=True)
    return changes + deletes


def needs_confirmation(
    changes: Sequence[Change],
    indexed: int,
    ratio: float = MASS_DELETE_RATIO,
    minimum: int = MASS_DELETE_MIN,
) -> bool:
    """A scan that deletes more than ``ratio`` of a folder of at least ``minimum`` indexed paths
    must be confirmed by the user before it is recorded. Moves are not deletes."""
    deletes = sum(1 for c in changes if c.kind is ChangeKind.DELETED)
    return indexed >= minimum and deletes > ratio * indexed


def normalize_scope(paths: Iterable[str], known_dirs: Callable[[str], bool]) -> list[str] | None:
    """Turn dirty paths into scan roots: None (whole folder) if any is "", else the paths with
    redundant descendants removed. ``known_dirs(p)`` says whether ``p`` is a directory both on
    disk and in the index; a path whose ancestor is not is raised to that ancestor, so new
    directories are added and a directory replaced by a symlink is never looked through."""
    roots: set[str] = set()
    for p in paths:
        p = p.strip("/")
        if p in ("", "."):
            return None
        parts = p.split("/")
        top = p
        for i in range(1, len(parts)):
            anc = "/".join(parts[:i])
            if not known_dirs(anc):
                top = anc
                break
        roots.add(top)
    return sorted(r for r in roots if not under_any_strict(r, roots))


def under_any_strict(path: str, roots: Collection[str]) -> bool:
    i = path.find("/")
    while i != -1:
        if path[:i] in roots:
            return True
        i = path.find("/", i + 1)
    return False


def hash_entry(
    entry: Entry,
    root: str,
    fs: FileSystem = OS_FS,
    hash_stream: HashStream = chunker.hash_stream,
    max_attempts: int = MAX_HASH_ATTEMPTS,
) -> FileRecord | FileError | None:
    """The record of one file or symlink, read between two ``lstat`` calls and read again while
    they differ (size, mtime_ns, inode, type), so it is never half old. None if it vanished; a
    :class:`FileError` if it cannot be read or keeps changing."""
    full = os.path.join(root, entry.path)
    before = (entry.type, entry.size, entry.mtime_ns, entry.inode)
    for _attempt in range(max_attempts):
        try:
            if entry.type is FileType.SYMLINK:
                target = fs.readlink(full)
                try:
                    data = target.encode("utf-8")
                except UnicodeEncodeError:
                    return FileError(
                        entry.path, ErrorKind.UNDECODABLE_NAME, "symlink target is not valid UTF-8"
                    )
                hashed = chunker.hash_bytes(data)
                record = FileRecord(
                    path=entry.path,
                    type=FileType.SYMLINK,
                    size=entry.size,
                    mtime_ns=entry.mtime_ns,
                    mode=entry.mode,
                    inode=entry.inode,
                    content_hash=hashed.content_hash,
                    symlink_target=target,
                )
            else:
                with fs.open_read(full) as f:
                    hashed = hash_stream(f)
                record = FileRecord(
                    path=entry.path,
                    type=FileType.FILE,
                    size=hashed.size,
                    mtime_ns=entry.mtime_ns,
                    mode=entry.mode,
                    inode=entry.inode,
                    content_hash=hashed.content_hash,
                    blocks=hashed.blocks,
                )
            st = fs.lstat(full)
        except FileNotFoundError:
            st = None
        except PermissionError:
            return FileError(entry.path, ErrorKind.PERMISSION_DENIED, "permission denied (read the file)")
        except OSError as e:
            if e.errno not in (errno.ELOOP, errno.EINVAL):  # replaced by a symlink, or not one
                return _os_error(entry.path, e, "read the file")
            st = None
        if st is not None:
            after = (_entry_type(st.st_mode), st.st_size, st.st_mtime_ns, st.st_ino)
            if after == before and (entry.type is FileType.SYMLINK or record.size == entry.size):
                return record
        else:
            try:
                st = fs.lstat(full)
            except FileNotFoundError:
                return None  # gone: not observed, so the diff reads it as deleted
            except OSError as e:
                return _os_error(entry.path, e, "read its status")
        typ = _entry_type(st.st_mode)
        if typ not in (FileType.FILE, FileType.SYMLINK):
            break  # became a directory or a special file: the next scan looks again
        entry = Entry(entry.path, typ, st.st_size, st.st_mtime_ns, st.st_ino, stat_mod.S_IMODE(st.st_mode))
        before = (entry.type, entry.size, entry.mtime_ns, entry.inode)
    return FileError(
        entry.path,
        ErrorKind.KEEPS_CHANGING,
        f"file keeps changing: it changed during each of {max_attempts} attempts to read it",
    )


class PathUnreadable(CoveError):
    """:func:`observe_path` could not read the path; ``error`` says why."""

    def __init__(self, error: FileError) -> None:
        super().__init__(str(error), error.path)
        self.error = error


def observe_path(
    root: str | os.PathLike[str],
    rel: str,
    fs: FileSystem = OS_FS,
    hash_stream: HashStream = chunker.hash_stream,
) -> FileRecord | None:
    """What the disk holds at one relative path now (hashed), or None if nothing is there.
    Raises :class:`PathUnreadable` when it cannot be read or keeps changing."""
    full = os.path.join(os.fspath(root), rel)
    try:
        st = fs.lstat(full)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise PathUnreadable(_os_error(rel, e, "read its status")) from e
    typ = _entry_type(st.st_mode)
    if typ is None:
        raise PathUnreadable(FileError(rel, ErrorKind.UNSUPPORTED_TYPE, "not a file, directory or symlink"))
    entry = Entry(rel, typ, st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode & 0o7777)
    if typ is FileType.DIRECTORY:
        return directory_record(entry)
    out = hash_entry(entry, os.fspath(root), fs, hash_stream)
    if isinstance(out, FileError):
        raise PathUnreadable(out)
    return out


# -- the scan --------------------------------------------------------------------------------


@contextmanager
def _no_gc() -> Iterator[None]:
    """A scan allocates a few objects per path and none in cycles; the cycle collector would walk
    the whole (100k-record) state again and again for nothing. Paused for one scan, and only
    the process-wide switch is touched, so nested or concurrent use stays correct enough."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass
class ScanStats:
    entries: int = 0
    hashed_files: int = 0
    hashed_bytes: int = 0
    reused_by_inode: int = 0  # renamed files whose hash was taken over without reading them
    seconds: float = 0.0


@dataclass
class ScanResult:
    """The outcome of one scan. ``scope`` is None for the whole folder, else the subtrees scanned.
    When ``needs_confirmation`` is set nothing was committed: too many deletes (see
    :func:`needs_confirmation`); scan again with ``confirm_mass_delete=True`` to record them."""

    changes: list[Change]
    errors: list[FileError]
    scope: list[str] | None
    stats: ScanStats
    needs_confirmation: bool = False
    committed: bool = False

    def of_kind(self, kind: ChangeKind) -> list[Change]:
        return [c for c in self.changes if c.kind is kind]


class Scanner:
    """Scans one folder root against an index.

    ``hash_stream`` is the content hasher (injected by tests to count or slow down reads);
    ``workers`` threads hash in parallel when there is enough to hash. Thread-safe only in the
    sense that one scan runs at a time per Scanner (the caller serialises scans).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        index: ScanIndex,
        *,
        fs: FileSystem = OS_FS,
        hash_stream: HashStream = chunker.hash_stream,
        workers: int | None = None,
        marker: str = ROOT_MARKER,
        max_attempts: int = MAX_HASH_ATTEMPTS,
        mass_delete_ratio: float = MASS_DELETE_RATIO,
        mass_delete_min: int = MASS_DELETE_MIN,
        racy_ns: int = RACY_NS,
    ) -> None:
        self.root = os.path.realpath(os.fspath(root))
        self.index = index
        self.fs = fs
        self.hash_stream = hash_stream
        self.workers = workers if workers is not None else min(4, os.cpu_count() or 1)
        self.marker = marker
        self.max_attempts = max_attempts
        self.mass_delete_ratio = mass_delete_ratio
        self.mass_delete_min = mass_delete_min
        self.racy_ns = racy_ns
        self._racy: set[str] = set()  # hashed with an mtime too close to the clock; see RACY_NS

    # -- public --

    def scan(
        self,
        paths: Iterable[str] | None = None,
        *,
        confirm_mass_delete: bool = False,
        commit: bool = True,
    ) -> ScanResult:
        """Scan the folder (or the subtrees ``paths``, relative; "" is the whole folder) and,
        unless it needs confirmation, commit the result to the index.

        Raises a :class:`FolderError` when the root is missing, not a directory, not marked,
        unreadable, or emptied (unless ``confirm_mass_delete``)."""
        with _no_gc():
            return self._scan(paths, confirm_mass_delete, commit)

    def _scan(self, paths: Iterable[str] | None, confirm_mass_delete: bool, commit: bool) -> ScanResult:
        started = time.perf_counter()
        check_root(self.root, self.fs, self.marker)
        rules = self.load_rules()
        scope = None if paths is None else normalize_scope(paths, self._is_known_dir)
        if scope is None:
            previous: Mapping[str, FileRecord] = self.index.scan_state()
            indexed = len(previous)
        else:  # only the records of the scanned subtrees: cheap for a big folder
            previous = {r.path: r for top in scope for r in self.index.records(prefix=top)}
            indexed = self.index.count()
        w = walk(self.root, rules, scope, self.fs)
        if scope is None and not w.entries and previous and not confirm_mass_delete:
            raise RootEmptied(
                f"the folder {self.root} is empty but {len(previous)} paths were indexed; "
                "nothing was recorded. If you deleted everything on purpose, confirm the scan.",
                self.root,
            )
        stats = ScanStats(entries=len(w.entries))
        observed, errors, protected = self._observe(w, previous, stats)
        del w
        # Paths now ignored keep their records: an ignore rule is not a delete.
        protected |= {
            p
            for p in previous
            if p not in observed and rules.is_ignored(p, previous[p].type is FileType.DIRECTORY)
        }
        changes = diff(previous, observed, protected)
        errors += self._collisions(observed, scope, rules)
        result = ScanResult(changes, errors, scope, stats)
        result.needs_confirmation = not confirm_mass_delete and needs_confirmation(
            changes, indexed, self.mass_delete_ratio, self.mass_delete_min
        )
        if commit and not result.needs_confirmation:
            self.index.apply_scan(changes, errors, scope)
            result.committed = True
        stats.seconds = time.perf_counter() - started
        return result

    def load_rules(self) -> IgnoreRules:
        path = os.path.join(self.root, IGNORE_FILE)
        try:
            with self.fs.open_read(path) as f:
                data = f.read()
        except FileNotFoundError:
            return IgnoreRules()
        except OSError as e:
            # Scanning without the user's rules could index (and upload) what they excluded.
            raise RootUnreadable(f"{path} cannot be read ({e.strerror}); fix it to resume", path) from e
        return IgnoreRules.from_text(data.decode("utf-8", "replace"))

    # -- internals --

    def _is_known_dir(self, path: str) -> bool:
        rec = self.index.get(path)
        if rec is None or rec.type is not FileType.DIRECTORY:
            return False
        try:
            return stat_mod.S_ISDIR(self.fs.lstat(os.path.join(self.root, path)).st_mode)
        except OSError:
            return False

    def _observe(
        self, w: Walk, previous: Mapping[str, FileRecord], stats: ScanStats
    ) -> tuple[dict[str, FileRecord], list[FileError], set[str]]:
        observed: dict[str, FileRecord] = {}
        errors = list(w.errors)
        protected = set(w.protected)
        todo: list[tuple[Entry, FileRecord | None]] = []
        vanished_by_stat: dict[tuple[int, int, int], FileRecord] | None = None
        for path, e in w.entries.items():
            prev = previous.get(path)
            if needs_hash(prev, e) or (path in self._racy and e.type is not FileType.DIRECTORY):
                if prev is None and e.type is FileType.FILE and e.inode:
                    if vanished_by_stat is None:
                        vanished_by_stat = {
                            (r.inode, r.size, r.mtime_ns): r
                            for p, r in previous.items()
                            if p not in w.entries and r.type is FileType.FILE and r.inode
                        }
                    twin = vanished_by_stat.get((e.inode, e.size, e.mtime_ns))
                    if twin is not None:  # renamed, untouched: same inode, size and mtime
                        observed[path] = twin.with_changes(path=path, mode=e.mode)
                        stats.reused_by_inode += 1
                        continue
                todo.append((e, prev))
            elif e.type is FileType.DIRECTORY and (prev is None or prev.type is not FileType.DIRECTORY):
                observed[path] = directory_record(e)
            else:
                assert prev is not None
                observed[path] = unchanged_record(prev, e)
        racy_before = time.time_ns() - self.racy_ns
        self._racy.difference_update(e.path for e, _ in todo)
        for e, outcome in self._hash_entries([e for e, _ in todo], stats):
            if isinstance(outcome, FileRecord):
                prev = previous.get(e.path)
                if prev is not None and _same_observation(prev, outcome):
                    outcome = prev  # a racy rehash that found nothing new: keep the old object
                observed[e.path] = outcome
                if outcome.mtime_ns > racy_before:
                    self._racy.add(e.path)
            elif isinstance(outcome, FileError):
                errors.append(outcome)
                protected.add(e.path)
            # None: the file vanished while it was read; it is absent from observed
        return observed, errors, protected

    def _hash_entries(
        self, entries: list[Entry], stats: ScanStats
    ) -> Iterable[tuple[Entry, FileRecord | FileError | None]]:
        """Hash entries; large files on ``workers`` threads (FastCDC and BLAKE3 run without the
        GIL there), small ones on this thread meanwhile (for them a pool costs more than it saves:
        measured 3x slower on 2 cores)."""
        big = [e for e in entries if e.size >= PARALLEL_MIN_FILE]
        if self.workers > 1 and len(big) > 1:
            big.sort(key=lambda e: e.size, reverse=True)  # largest first: none runs alone at the end
            with ThreadPoolExecutor(self.workers, thread_name_prefix="cove-hash") as pool:
                futures = [(e, pool.submit(self._hash_one, e)) for e in big]
                for e in entries:
                    if e.size < PARALLEL_MIN_FILE:
                        yield self._counted(e, self._hash_one(e), stats)
                for e, f in futures:
                    yield self._counted(e, f.result(), stats)
        else:  # one at a time, so a big scan never holds all new records twice
            for e in entries:
                yield self._counted(e, self._hash_one(e), stats)

    @staticmethod
    def _counted(
        e: Entry, out: FileRecord | FileError | None, stats: ScanStats
    ) -> tuple[Entry, FileRecord | FileError | None]:
        if isinstance(out, FileRecord):
            stats.hashed_files += 1
            stats.hashed_bytes += out.size if out.type is FileType.FILE else 0
        return e, out

    def _hash_one(self, entry: Entry) -> FileRecord | FileError | None:
        return hash_entry(entry, self.root, self.fs, self.hash_stream, self.max_attempts)

    def _collisions(
        self, observed: Mapping[str, FileRecord], scope: list[str] | None, rules: IgnoreRules
    ) -> list[FileError]:
        """Collision warnings for the observed paths. A scoped scan saw whole subtrees below its
        roots, so only the roots' own siblings are missing: they are listed from the disk."""
        names: list[str] = list(observed)
        roots = set(scope or ())
        for parent in {r.rpartition("/")[0] for r in roots}:
            try:
                listing = list(self.fs.scandir(os.path.join(self.root, parent) if parent else self.root))
            except OSError:
                continue
            prefix = parent + "/" if parent else ""
            for de in listing:
                path = prefix + de.name
                if path not in observed and not rules.matches(path, False, de.name):
                    names.append(path)
        out: list[FileError] = []
        for c in find_collisions(names):
            what = (
                "differ only in Unicode normalization"
                if c.kind is ErrorKind.NORMALIZATION_COLLISION
                else "differ only in case"
            )
            for p in c.paths:
                if scope is None or under_any(p, roots):
                    others = tuple(o for o in c.paths if o != p)
                    out.append(
                        FileError(
                            p,
                            c.kind,
                            f"{what} from {', '.join(others)}: a case-insensitive or normalizing "
                            "system can hold only one of them; both are kept here",
                            others,
                        )
                    )
        return out
