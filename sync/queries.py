"""Read-only queries for the desktop app: one directory's children with a per-file status, folder
counts, recent changes, errors with advice, and a folder as it was at a chosen time.

Everything here *reads*: the index through its own read-only SQLite connection (WAL lets readers
run beside the engine's writer without taking its lock) and the disk through ``os.scandir``, so the
app can call it from worker threads while the engine scans. Listing one directory never loads the
whole index: the children of ``dir`` are a range of the primary key (``dir/`` .. ``dir0``).

Statuses come from what exists today: the index (synced), its per-file errors (error), the disk
(files not yet indexed are pending, files the ``.coveignore`` rules exclude are ignored), conflict
copies by name (conflict), and an ``overlay`` the caller passes for what the engine is doing right
now (syncing). When the engine gains remote state (outbox, conflicts table), it plugs in here.
"""

from __future__ import annotations

import enum
import os
import sqlite3
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sync.ignore import IgnoreRules, is_engine_name

CONFLICT_MARK = " (conflict from "


class FileStatus(enum.Enum):
    SYNCED = "synced"
    PENDING = "pending"
    SYNCING = "syncing"
    CONFLICT = "conflict"
    ERROR = "error"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Entry:
    """One child of a directory, as the Files view shows it."""

    path: str  # relative to the folder root, "/" separators
    name: str
    is_dir: bool
    size: int
    mtime_ns: int
    modified_by: str  # short device ID of the device that made the current version ("" if none)
    status: FileStatus
    message: str = ""  # the error, when status is ERROR


@dataclass(frozen=True)
class Change:
    """One recent change in the index (a new local or, later, remote version)."""

    path: str
    deleted: bool
    is_dir: bool
    size: int
    modified_by: str
    changed_at_ns: int


@dataclass(frozen=True)
class Problem:
    """A per-file error with what a person can do about it."""

    path: str
    kind: str
    message: str
    advice: str
    first_seen_ns: int
    last_seen_ns: int


@dataclass(frozen=True)
class Counts:
    files: int
    directories: int
    bytes: int
    errors: int
    history_versions: int
    last_scan_ns: int | None


@dataclass(frozen=True)
class PastEntry:
    """The version of ``path`` that was current at a chosen time: the file as it is now
    (``version_no`` None) or kept version ``version_no`` of the local history."""

    path: str
    size: int
    mtime_ns: int
    modified_by: str
    version_no: int | None

    @property
    def is_current(self) -> bool:
        return self.version_no is None


ADVICE: dict[str, str] = {
    "permission_denied": "Cove cannot read this. Give your user read access (e.g. chmod u+r), or "
    "add it to the ignore patterns.",
    "keeps_changing": "The file changed every time Cove read it. Close the program writing it; "
    "Cove retries on the next change.",
    "io_error": "The disk reported an error. Check the disk and the file; Cove retries on the next scan.",
    "undecodable_name": "The name is not valid UTF-8 and cannot be synced. Rename the file.",
    "reserved_name": "Windows cannot hold this name. Rename it if you sync with Windows devices.",
    "invalid_character": "The name has characters other systems reject. Rename it if you sync "
    "with Windows or macOS devices.",
    "trailing_dot_or_space": "Windows drops trailing dots and spaces. Rename it if you sync with Windows.",
    "name_too_long": "The name is too long for some systems. Shorten it.",
    "case_collision": "Two names differ only in case; on macOS and Windows they would overwrite "
    "each other. Rename one of them.",
    "normalization_collision": "Two names look identical but are spelled with different Unicode "
    "forms. Rename one of them.",
    "unsupported_type": "Pipes, sockets and devices are not synced. Nothing to do, or ignore it.",
}
DEFAULT_ADVICE = "Check the file; Cove retries on the next change or rescan."


def advice_for(kind: str) -> str:
    return ADVICE.get(kind, DEFAULT_ADVICE)


def is_conflict_copy(name: str) -> bool:
    return CONFLICT_MARK in name


class IndexReader:
    """A read-only connection to a folder's index. Use one per thread (or open per query): the
    connection is not shared, so no lock is needed."""

    def __init__(self, db_path: Path):
        self.db_path = db_path
        self._conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False)
        self._conn.execute("PRAGMA query_only=1")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> IndexReader:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- listing ---------------------------------------------------------------------------------

    def children(self, directory: str) -> list[tuple]:
        """Live index rows ``(path, type, size, mtime_ns, modified_by)`` directly inside
        ``directory`` ("" is the root), in path order."""
        if directory:
            lo, hi, skip = directory + "/", directory + "0", len(directory) + 2
            rows = self._conn.execute(
                "SELECT path, type, size, mtime_ns, modified_by FROM files "
                "WHERE path > ? AND path < ? AND deleted=0 AND instr(substr(path, ?), '/')=0 "
                "ORDER BY path",
                (lo, hi, skip),
            ).fetchall()
        else:
            rows = self._conn.execute(
                "SELECT path, type, size, mtime_ns, modified_by FROM files "
                "WHERE deleted=0 AND instr(path, '/')=0 ORDER BY path"
            ).fetchall()
        return rows

    def error_rows(self, directory: str | None = None) -> list[tuple[str, str, str, int, int]]:
        sql = "SELECT path, kind, message, first_seen_ns, last_seen_ns FROM errors"
        args: tuple = ()
        if directory:
            sql += " WHERE path > ? AND path < ?"
            args = (directory + "/", directory + "0")
        return self._conn.execute(sql + " ORDER BY last_seen_ns DESC, path", args).fetchall()

    # -- summaries -------------------------------------------------------------------------------

    def counts(self) -> Counts:
        files, size = self._conn.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM files WHERE deleted=0 AND type!='dir'"
        ).fetchone()
        (dirs,) = self._conn.execute("SELECT count(*) FROM files WHERE deleted=0 AND type='dir'").fetchone()
        (errors,) = self._conn.execute("SELECT count(*) FROM errors").fetchone()
        (versions,) = self._conn.execute("SELECT count(*) FROM history").fetchone()
        row = self._conn.execute("SELECT value FROM meta WHERE key='last_scan_ns'").fetchone()
        return Counts(files, dirs, size, errors, versions, int(row[0]) if row else None)

    def recent_changes(self, limit: int = 200) -> list[Change]:
        rows = self._conn.execute(
            "SELECT path, deleted, type, size, modified_by, changed_at_ns FROM files "
            "ORDER BY changed_at_ns DESC, sequence DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [Change(p, bool(d), t == "dir", s, by, at) for p, d, t, s, by, at in rows]

    def changes_after(self, changed_at_ns: int, limit: int = 10_000) -> list[Change]:
        rows = self._conn.execute(
            "SELECT path, deleted, type, size, modified_by, changed_at_ns FROM files "
            "WHERE changed_at_ns > ? ORDER BY changed_at_ns LIMIT ?",
            (changed_at_ns, limit),
        ).fetchall()
        return [Change(p, bool(d), t == "dir", s, by, at) for p, d, t, s, by, at in rows]

    def problems(self) -> list[Problem]:
        return [Problem(p, k, m, advice_for(k), f, last) for p, k, m, f, last in self.error_rows()]

    # -- the past --------------------------------------------------------------------------------

    def folder_at(self, t_ns: int) -> list[PastEntry]:
        """For each file path, the version that was current at ``t_ns``.

        A kept version was current from its modification time until it was archived; the current
        file since it was recorded. Paths created after ``t_ns`` or deleted before it are absent.
        """
        out: dict[str, PastEntry] = {}
        for path, size, mtime, by, changed_at in self._conn.execute(
            "SELECT path, size, mtime_ns, modified_by, changed_at_ns FROM files "
            "WHERE deleted=0 AND type='file' AND changed_at_ns <= ?",
            (t_ns,),
        ):
            out[path] = PastEntry(path, size, mtime, by, None)
        # The earliest version archived after t (and written before it) is the one that was there.
        for path, no, size, mtime, by in self._conn.execute(
            "SELECT h.path, h.version_no, h.size, h.mtime_ns, h.modified_by FROM history h "
            "WHERE h.archived_at_ns > ? AND h.mtime_ns <= ? AND h.archived_at_ns = ("
            "  SELECT min(archived_at_ns) FROM history x WHERE x.path = h.path "
            "  AND x.archived_at_ns > ? AND x.mtime_ns <= ?)",
            (t_ns, t_ns, t_ns, t_ns),
        ):
            if path not in out:
                out[path] = PastEntry(path, size, mtime, by, no)
        return [out[p] for p in sorted(out)]


def _ancestors(path: str) -> Iterable[str]:
    parts = path.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


def list_directory(
    reader: IndexReader,
    root: Path,
    directory: str,
    rules: IgnoreRules | None = None,
    overlay: Mapping[str, FileStatus] | None = None,
) -> list[Entry]:
    """The children of ``directory`` with their status: directories first, then by name.

    Index rows are merged with what is on disk now: a name on disk that the index lacks is
    ``IGNORED`` when the rules exclude it and ``PENDING`` otherwise (not scanned yet); an indexed
    name gone from disk is ``PENDING`` (its delete is not recorded yet). A directory with an error
    below it shows ``ERROR``. ``overlay`` (path → status) wins over everything else.
    """
    overlay = overlay or {}
    rules = rules or IgnoreRules()
    errors: dict[str, str] = {}
    error_dirs: set[str] = set()
    for path, _kind, message, _f, _l in reader.error_rows(directory or None):
        errors.setdefault(path, message)
        error_dirs.update(_ancestors(path))
    indexed = {row[0]: row for row in reader.children(directory)}

    on_disk: dict[str, os.stat_result] = {}
    base = root / directory if directory else root
    try:
        with os.scandir(base) as it:
            for de in it:
                if is_engine_name(de.name):
                    continue
                try:
                    on_disk[de.name] = de.stat(follow_symlinks=False)
                except OSError:
                    continue
    except OSError:
        pass  # the directory is gone or unreadable: show what the index knows

    prefix = directory + "/" if directory else ""
    out: list[Entry] = []
    for path, typ, size, mtime, by in indexed.values():
        name = path[len(prefix):]
        is_dir = typ == "dir"
        if path in overlay:
            status = overlay[path]
        elif path in errors or is_dir and path in error_dirs:
            status = FileStatus.ERROR
        elif name not in on_disk:
            status = FileStatus.PENDING
        elif is_conflict_copy(name):
            status = FileStatus.CONFLICT
        else:
            status = FileStatus.SYNCED
        out.append(Entry(path, name, is_dir, size, mtime, by, status, errors.get(path, "")))
    for name, st in on_disk.items():
        path = prefix + name
        if path in indexed:
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        if path in overlay:
            status = overlay[path]
        elif path in errors:
            status = FileStatus.ERROR
        elif rules.is_ignored(path, is_dir):
            status = FileStatus.IGNORED
        else:
            status = FileStatus.PENDING
        out.append(
            Entry(path, name, is_dir, 0 if is_dir else st.st_size, st.st_mtime_ns, "", status,
                  errors.get(path, ""))
        )
    out.sort(key=lambda e: (not e.is_dir, e.name.casefold(), e.name))
    return out


__all__ = [
    "ADVICE",
    "Change",
    "Counts",
    "Entry",
    "FileStatus",
    "IndexReader",
    "PastEntry",
    "Problem",
    "advice_for",
    "is_conflict_copy",
    "list_directory",
]
