"""Local history: old versions of files, kept before the engine overwrites or deletes them.

Whenever the engine is about to replace or delete a file, it first calls :meth:`History.archive`,
which keeps the old bytes under ``<root>/.cove/history/`` and records a :class:`HistoryEntry` in
the index. How the bytes are kept depends on what happens next (:class:`Keep`):

* ``LINK`` — the file is about to be replaced by a rename: hard-link it into history (cheap,
  atomic; after the rename the history link is the only name of the old inode);
* ``MOVE`` — the file is being deleted: rename it into history, which *is* the delete;
* ``COPY`` — the file stays where it is (and may be edited in place): copy it, verified.

Stored files are named ``<archived_at_ns>-<random>``: never the user's path (which could be too
long, or collide), and the time prefix lets :meth:`History.collect_orphans` tell a leftover of a
crash (file kept, entry never committed) from an archive in flight.

The entry is written inside ``index.transaction()``, so a caller that wraps archive + write +
index update in one transaction changes index and history together. Retention is the pure
:func:`select_prune` (staggered like Syncthing's versioner); :meth:`History.restore` writes a kept
version back through :func:`sync.fileops.atomic_write` and records it as a local change.
"""

from __future__ import annotations

import enum
import os
import secrets
import stat
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sync.config import HISTORY_DIR, MARKER_DIR, TEMP_PREFIX, VersioningConfig
from sync.errors import CoveError
from sync.fileops import (
    ChangedOnDisk,
    HashFile,
    HashMismatch,
    atomic_write,
    content_hash_of,
    fsync_dir,
    relpath_of,
    resolve_inside,
    unchanged_since,
)
from sync.index import HistoryEntry, Index, LocalUpdate
from sync.records import FileRecord, FileType

Observe = Callable[[Path, str], FileRecord | None]
"""Stat and hash one path: ``(root, relpath)`` → what the disk holds there (None if nothing)."""

SECOND = 10**9
HOUR = 3600 * SECOND
DAY = 24 * HOUR
WEEK = 7 * DAY

STAGGER: tuple[tuple[int | None, int], ...] = (
    (HOUR, 0),  # younger than an hour: keep every version
    (DAY, HOUR),  # younger than a day: at least an hour apart
    (30 * DAY, DAY),  # younger than 30 days: at least a day apart
    (None, WEEK),  # older: at least a week apart
)
"""(age below which the rule applies, minimum spacing between kept versions), in nanoseconds."""

ORPHAN_GRACE_NS = HOUR


class ArchiveReason(str, enum.Enum):
    REPLACED = "replaced"  # a newer version arrived
    DELETED = "deleted"  # the file was deleted
    RESTORE = "before-restore"  # an older version was restored over it
    CONFLICT = "conflict"  # resolved away in a conflict


class Keep(enum.Enum):
    LINK = "link"
    MOVE = "move"
    COPY = "copy"


class HistoryError(CoveError):
    """A history operation failed; nothing was changed."""


class VersionNotFound(HistoryError):
    pass


class VersionUnavailable(HistoryError):
    """The kept copy of a version is missing or damaged."""


@dataclass(frozen=True)
class Restored:
    """What :meth:`History.restore` did: where it wrote, the version it wrote, the version of the
    replaced file it kept first (if any), and the new index record (None outside the folder)."""

    path: Path
    version: HistoryEntry
    archived: HistoryEntry | None
    record: FileRecord | None


def _spacing(age_ns: int) -> int:
    for limit, spacing in STAGGER:
        if limit is None or age_ns < limit:
            return spacing
    raise AssertionError("unreachable: the last STAGGER rule has no limit")


def select_prune(entries: Iterable[HistoryEntry], now_ns: int, config: VersioningConfig) -> set[int]:
    """Ids of history entries to drop. Pure.

    Per path, oldest first: drop what is older than ``max_age_days`` (0: no limit); keep a
    version only if it is at least :data:`STAGGER`'s spacing (chosen by its age) newer than the
    last version kept, so the oldest of each span survives and the choice is stable over time;
    of the survivors keep the newest ``keep`` (0: no limit).
    """
    by_path: dict[str, list[HistoryEntry]] = defaultdict(list)
    for e in entries:
        by_path[e.path].append(e)
    max_age = config.max_age_days * DAY if config.max_age_days > 0 else None
    drop: set[int] = set()
    for versions in by_path.values():
        versions.sort(key=lambda e: (e.archived_at_ns, e.id))
        kept: list[HistoryEntry] = []
        for e in versions:
            age = max(0, now_ns - e.archived_at_ns)
            too_old = max_age is not None and age > max_age
            too_close = bool(kept) and e.archived_at_ns - kept[-1].archived_at_ns < _spacing(age)
            if too_old or too_close:
                drop.add(e.id)
            else:
                kept.append(e)
        if config.keep > 0 and len(kept) > config.keep:
            drop.update(e.id for e in kept[: len(kept) - config.keep])
    return drop


def _name_time(name: str) -> int | None:
    head, sep, _ = name.partition("-")
    return int(head) if sep and head.isdigit() else None


class History:
    """The local history of one folder. Thread-safe: every operation runs inside
    ``index.transaction()``, which also serialises it with other index writers (one lock, so no
    lock-order deadlock). Call :meth:`prune` outside transactions: it deletes kept files once its
    index change has committed."""

    def __init__(
        self,
        root: Path,
        index: Index,
        config: VersioningConfig,
        clock: Callable[[], int] = time.time_ns,
        *,
        hash_file: HashFile = content_hash_of,
        observe: Observe | None = None,
    ):
        self.root = root
        self.index = index
        self.config = config
        self._clock = clock
        self._hash = hash_file
        self._observe = observe

    @property
    def dir(self) -> Path:
        return self.root / MARKER_DIR / HISTORY_DIR

    def stored_path(self, entry: HistoryEntry) -> Path:
        return self.dir / entry.stored_name

    def versions(self, path: str) -> list[HistoryEntry]:
        """Kept versions of ``path``, oldest first."""
        return self.index.history(path)

    # -- archiving -----------------------------------------------------------------------------

    def archive(self, record: FileRecord, reason: ArchiveReason, keep: Keep = Keep.LINK) -> HistoryEntry | None:
        """Keep the file ``record`` describes before it is replaced or deleted.

        ``record`` must describe what is on disk now (the index record after
        :func:`~sync.fileops.unchanged_since`, or a fresh observation); if the disk differs,
        :class:`~sync.fileops.ChangedOnDisk` is raised and nothing changes. Only regular files
        have history: for anything else nothing is kept and None is returned (with ``MOVE`` the
        caller still has to remove it).
        """
        if record.deleted or record.type is not FileType.FILE:
            return None
        src = resolve_inside(self.root, record.path)
        with self.index.transaction():  # also serialises archive, restore and prune
            if not unchanged_since(src, record):
                raise ChangedOnDisk(f"{record.path} changed on disk since it was scanned", record.path)
            now = self._clock()
            name = f"{now:020d}-{secrets.token_hex(8)}"
            stored = self.dir / name
            self.dir.mkdir(parents=True, exist_ok=True)
            self._store(src, stored, record, keep)
            fsync_dir(self.dir)
            if keep is Keep.MOVE:
                fsync_dir(src.parent)
            try:
                return self.index.add_history(record, name, now, reason.value)
            except BaseException:
                self._unstore(src, stored, keep)
                raise

    def _store(self, src: Path, stored: Path, record: FileRecord, keep: Keep) -> None:
        if keep is Keep.COPY:
            self._copy(src, stored, record)
            return
        try:
            if keep is Keep.LINK:
                os.link(src, stored, follow_symlinks=False)
            else:
                os.rename(src, stored)
        except OSError:
            # No hard links / another filesystem below the root: fall back to a verified copy.
            self._copy(src, stored, record)
            if keep is Keep.MOVE:
                os.unlink(src)
            return
        if unchanged_since(stored, record):
            return
        # The file changed between the check and the link/rename: undo, leave it alone.
        if keep is Keep.MOVE:
            try:
                os.link(stored, src)  # never overwrites whatever appeared at src meanwhile
            except OSError as e:
                raise HistoryError(
                    f"{record.path} changed while it was being deleted; its content is kept in "
                    f"{stored}", record.path
                ) from e
        os.unlink(stored)
        raise ChangedOnDisk(f"{record.path} changed on disk since it was scanned", record.path)

    def _copy(self, src: Path, stored: Path, record: FileRecord) -> None:
        try:
            atomic_write(
                stored, src, expected_hash=record.content_hash, verify=self._hash, mode=record.mode,
                mtime_ns=record.mtime_ns,
            )
        except HashMismatch as e:
            raise ChangedOnDisk(f"{record.path} changed on disk since it was scanned", record.path) from e

    def _unstore(self, src: Path, stored: Path, keep: Keep) -> None:
        try:
            if keep is Keep.MOVE and not os.path.lexists(src):
                os.rename(stored, src)
            else:
                os.unlink(stored)
        except OSError:
            pass  # left as an orphan; collect_orphans removes it later

    # -- restoring -----------------------------------------------------------------------------

    def restore(self, path: str, version_no: int, dest: Path | None = None) -> Restored:
        """Write version ``version_no`` of ``path`` back, atomically.

        ``dest`` restores to another place ("save as a copy"): relative paths are inside the
        folder; an absolute path may be inside the folder or anywhere else (then the index is not
        touched and an existing file there is never overwritten). A current file at the target
        whose content differs is archived first. Inside the folder the result is recorded as a
        local change. A missing or damaged kept copy raises :class:`VersionUnavailable` before
        anything is touched.
        """
        entry = self._entry(path, version_no)
        stored = self.stored_path(entry)
        self._check_stored(entry, stored)
        target, relpath = self._target(path, dest)
        with self.index.transaction():
            current: FileRecord | None = None
            archived: HistoryEntry | None = None
            if relpath is not None:
                current = self._current(target, relpath)
                if current is not None and current.type is FileType.DIRECTORY:
                    raise HistoryError(f"cannot restore {path} over the directory {relpath}", relpath)
                if current is not None and current.type is FileType.FILE and not (
                    current.size == entry.size and current.content_hash == entry.content_hash
                ):
                    archived = self.archive(current, ArchiveReason.RESTORE, Keep.LINK)
            elif os.path.lexists(target):
                raise HistoryError(f"{target} already exists; choose another name", target)

            def still_as_seen() -> bool:
                return unchanged_since(target, current)

            try:
                atomic_write(
                    target, stored, expected_hash=entry.content_hash, verify=self._hash,
                    mode=entry.mode, mtime_ns=self._clock(), precondition=still_as_seen,
                )
            except BaseException:
                if archived is not None:
                    self._unstore(target, self.stored_path(archived), Keep.LINK)
                raise
            record = None
            if relpath is not None:
                self.index.commit_local([LocalUpdate(relpath, self._observe_path(relpath))])
                record = self.index.get(relpath)
        return Restored(path=target, version=entry, archived=archived, record=record)

    def _entry(self, path: str, version_no: int) -> HistoryEntry:
        for e in self.index.history(path):
            if e.version_no == version_no:
                return e
        raise VersionNotFound(f"{path} has no kept version {version_no}", path)

    def _check_stored(self, entry: HistoryEntry, stored: Path) -> None:
        label = f"version {entry.version_no} of {entry.path}"
        try:
            st = os.lstat(stored)
        except FileNotFoundError:
            raise VersionUnavailable(f"the kept copy of {label} is missing ({stored})", entry.path) from None
        if not stat.S_ISREG(st.st_mode) or st.st_size != entry.size:
            raise VersionUnavailable(f"the kept copy of {label} is damaged (wrong size)", entry.path)
        if entry.content_hash is not None and self._hash(stored) != entry.content_hash:
            raise VersionUnavailable(f"the kept copy of {label} is damaged (content changed)", entry.path)

    def _target(self, path: str, dest: Path | None) -> tuple[Path, str | None]:
        if dest is None:
            return resolve_inside(self.root, path), path
        if not dest.is_absolute():
            rel = dest.as_posix()
            return resolve_inside(self.root, rel), rel
        inside = relpath_of(self.root, dest)
        if inside is None:
            return dest, None
        return resolve_inside(self.root, inside), inside

    def _current(self, target: Path, relpath: str) -> FileRecord | None:
        """What is at ``target`` now: the index record if the disk still matches it, else a fresh
        observation (an unscanned edit is archived like any other version)."""
        known = self.index.get(relpath)
        if known is not None and not known.deleted and unchanged_since(target, known):
            return known
        if not os.path.lexists(target):
            return None
        return self._observe_path(relpath)

    def _observe_path(self, relpath: str) -> FileRecord | None:
        if self._observe is None:
            raise HistoryError("History needs an observe function to restore into the folder")
        return self._observe(self.root, relpath)

    # -- retention -----------------------------------------------------------------------------

    def prune(self) -> list[HistoryEntry]:
        """Apply the retention rules now; returns the entries dropped. Deletes their kept files
        after the index commit (a crash in between leaves orphans, collected next time)."""
        with self.index.transaction():
            entries = self.index.history()
            drop = select_prune(entries, self._clock(), self.config)
            dropped = [e for e in entries if e.id in drop]
            if dropped:
                self.index.remove_history(drop)
        for e in dropped:
            try:
                os.unlink(self.stored_path(e))
            except FileNotFoundError:
                pass
        self.collect_orphans()
        return dropped

    def collect_orphans(self, grace_ns: int = ORPHAN_GRACE_NS) -> list[Path]:
        """Remove kept files that no entry refers to and temp files, once older than ``grace_ns``
        (younger ones may belong to an archive whose transaction has not committed yet)."""
        removed: list[Path] = []
        with self.index.transaction():
            try:
                names = os.listdir(self.dir)
            except FileNotFoundError:
                return removed
            referenced = {e.stored_name for e in self.index.history()}
            cutoff = self._clock() - grace_ns
            for name in names:
                path = self.dir / name
                if name in referenced:
                    continue
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    continue
                born = st.st_mtime_ns if name.startswith(TEMP_PREFIX) else _name_time(name)
                if born is None or born > cutoff:
                    continue
                try:
                    os.unlink(path)
                    removed.append(path)
                except FileNotFoundError:
                    pass
        return removed
