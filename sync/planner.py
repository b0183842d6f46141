"""The sync planner: pure decisions on what a folder must become, given what other devices published.

Two layers, both free of I/O and of clocks (``now_ns`` comes in as an argument):

* :func:`resolve` decides the state of ONE path from the local record and the latest record of each
  remote origin (``docs/relay-sync-design.md``, "Model"). Candidates are the maximal records under
  version-vector order; the winner among concurrent candidates is the first by
  ``(live, directory, mtime_ns, short origin ID)``; the stored version is the merge of all
  candidates, so every device that holds the same records ends with the same (content, version).
* :func:`plan` runs :func:`resolve` for every path with remote records, fixes what one path alone
  cannot see (a directory that still holds live entries survives a delete or a type change), and
  turns the difference between the index and the outcome into an ordered list of :class:`Action`
  for the executor: conflict copies first, directories parents-first, moves instead of
  delete-plus-download, deletes children-first.

Rules this module adds to the design doc (each one keeps all devices converging):

* A local record that the remote records already cover (``local.version <= merge(remotes)``) is
  not a candidate: it was derived from records that are either still among the remotes or were
  superseded by their own origin, so keeping it would let a stale merge outrank its origin's newer
  version (and a file its origin deleted come back).
* Concurrent directory vs. file/symlink: the directory wins (its children could not exist
  otherwise); the file's device keeps its file as a conflict copy.
* Same bytes (or link text) with a different mode is not a conflict: the winner's mode is taken.
* A live version beating concurrent deletes is reported (``ConflictKind.EDIT_DELETE``) but makes no
  conflict copy: nothing would be lost.
* **Every device that sees a content conflict keeps each losing live version as a conflict copy**,
  not only the device whose version lost: the winner's device stores the merged vector, which
  covers the loser, and may supersede the winner before the loser's device syncs; that device then
  only sees a version dominating its own and would replace it without a copy. A device holding the
  losing content at the path renames it (CONFLICT_COPY); any other downloads the loser's published
  content (or makes its symlink) at the copy path, a new file of its own that it publishes. Losing
  directories are not copied (their entries are paths of their own); deletes lose nothing.
* The copies that several devices make independently are the same file: the name comes only from
  the path, the loser's device name and the loser's mtime (UTC) (:func:`conflict_names`), never
  from the clock; the version is :func:`copy_version` (equal on every device, concurrent with
  anything else at that path, dominated by any later change of the copy). A name is skipped only
  when the plan inputs (or ``lookup``) show other live content there; a record of this copy or
  the same content there means the copy exists (or existed: a user deleted or changed it), and
  nothing is made. Of several losing candidates with identical content, the top-ranked one names
  the copy, so one losing version is kept once.

Convergence needs every device to see the same records: pass this device's own latest published
record among the remote records too (without it, a device that merged its own version with
another one can keep a different content than the others under the same version).
"""

from __future__ import annotations

import enum
import hashlib
import heapq
import itertools
import json
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sync.entries import NewerFormat, PayloadError, record_from_wire, record_to_wire
from sync.fileops import UnsafePath, check_relpath
from sync.records import (
    FileRecord,
    FileType,
    Ordering,
    RemoteRecord,
    VersionVector,
    compare,
)
from sync.wire.ids import short_id

CONFLICT_FORMAT_VERSION = 1
MAX_NAME_BYTES = 255  # ext4, APFS, btrfs; the same limit sync.names reports on


# --- resolve: one path ---------------------------------------------------------------------------


class DiskChange(enum.Enum):
    """What must happen on disk at the path for the local state to become the resolved one."""

    NONE = "none"
    MODE = "mode"  # same bytes, other permission bits
    CONTENT = "content"  # create, replace (content or type) or delete


class ConflictKind(enum.Enum):
    NONE = "none"  # one candidate, or concurrent candidates with the same content: versions merge
    EDIT_DELETE = "edit_delete"  # a live version beat concurrent deletes; nothing to keep aside
    CONTENT = "content"  # live versions differ: each losing version's device keeps a copy


@dataclass(frozen=True)
class Resolution:
    """The outcome for one path.

    ``target`` is the record to store: the winner's content and metadata with the merged version,
    ``sequence`` 0 (the index assigns it) and ``modified_by`` the winner's short origin ID.
    ``winner`` is the remote record whose content won (its blocks are what to fetch), None when the
    local record won. ``local_lost`` means this device must move its local file aside as a
    conflict copy before the winner replaces it (its local content is a losing version's).
    In a CONTENT conflict ``losers`` lists each losing live version once (of several candidates
    with the same content, the top-ranked one): every device keeps each of them as a conflict
    copy (see :func:`plan`).
    """

    target: FileRecord
    winner: RemoteRecord | None
    disk: DiskChange
    index_changes: bool
    conflict: ConflictKind
    local_lost: bool
    winning: ConflictSide | None = None  # the winning candidate as published (unmerged version)
    losers: tuple[Loser, ...] = ()  # one per distinct losing live content, the top-ranked holder

    @property
    def changes_disk(self) -> bool:
        return self.disk is not DiskChange.NONE


@dataclass(frozen=True)
class Loser:
    """A losing live version of a CONTENT conflict: ``origin`` the short ID of the device whose
    version it is (it names the conflict copy), ``device`` its full ID when known, ``remote`` the
    record to fetch its content from (None: this device's own unpublished local version)."""

    origin: str
    device: str
    record: FileRecord
    remote: RemoteRecord | None


@dataclass(frozen=True)
class _Candidate:
    origin: str  # short ID used for tie-breaks
    full_origin: str  # last resort tie-break between two records of one short ID
    record: FileRecord
    remote: RemoteRecord | None  # None: the local record

    def rank(self) -> tuple:
        r = self.record
        return (
            not r.deleted,  # an edit beats a delete
            r.type is FileType.DIRECTORY and not r.deleted,  # a directory beats a file or link
            r.mtime_ns,
            self.origin,
            self.full_origin,
            _content_key(r),  # only two corrupt records could get here: stay deterministic anyway
        )


def _content_key(r: FileRecord) -> tuple:
    """What "same content" means between candidates: equal keys merge without a conflict."""
    if r.deleted:
        return ("deleted",)
    if r.type is FileType.DIRECTORY:
        return ("dir",)
    if r.type is FileType.SYMLINK:
        return ("symlink", r.symlink_target or "")
    return ("file", r.size, r.content_hash or b"")


def _merge_all(versions: Sequence[VersionVector]) -> VersionVector:
    out = VersionVector()
    for v in versions:
        out = out.merge(v)
    return out


def _index_form(r: FileRecord) -> FileRecord:
    """A record without the fields that are the index's own business (sequence, stat cache)."""
    return replace(r, sequence=0, inode=0)


def resolve(local: FileRecord | None, remotes: Sequence[RemoteRecord], device: str) -> Resolution:
    """Decide the state of one path from the local record and the remote records.

    ``device`` is this device's ID (full or short). The local record's origin for tie-breaks is its
    ``modified_by`` (the device whose content it holds), or this device when that is empty.
    For exact convergence, pass this device's own latest published record among ``remotes`` too
    (it is treated like any other): a local record derived from others' records is then
    recognised as covered and left out (see the module docstring).
    Raises ValueError when there is no record at all.
    """
    me = short_id(device)
    pool = [_Candidate(short_id(r.origin), r.origin, r.record, r) for r in remotes]
    local_cand: _Candidate | None = None
    if local is not None:
        origin = local.modified_by or me
        covered = bool(pool) and compare(
            local.version, _merge_all([c.record.version for c in pool])
        ) in (Ordering.OLDER, Ordering.EQUAL)
        if not covered:
            local_cand = _Candidate(origin, device if origin == me else origin, local, None)
            pool.append(local_cand)
    if not pool:
        raise ValueError("resolve needs a local record or at least one remote record")

    maximal = [
        c
        for c in pool
        if not any(compare(d.record.version, c.record.version) is Ordering.NEWER for d in pool)
    ]
    by_version: dict[VersionVector, list[_Candidate]] = defaultdict(list)
    for c in maximal:
        by_version[c.record.version].append(c)
    candidates = [
        local_cand if local_cand in same else max(same, key=_Candidate.rank)
        for same in by_version.values()
    ]
    winner = max(candidates, key=_Candidate.rank)
    merged = _merge_all([c.record.version for c in candidates])

    w = winner.record
    local_live = local is not None and not local.deleted
    keep_inode = local is not None and local_live and not w.deleted and local.same_content(w)
    target = replace(
        w,
        version=merged,
        sequence=0,
        modified_by=winner.origin,
        inode=local.inode if keep_inode and local is not None else 0,
    )

    if local is None or local.deleted:
        disk = DiskChange.NONE if target.deleted else DiskChange.CONTENT
    elif target.deleted or not local.same_content(target):
        disk = DiskChange.CONTENT
    elif target.type is FileType.FILE and local.mode != target.mode:
        disk = DiskChange.MODE
    else:
        disk = DiskChange.NONE

    win_key = _content_key(w)
    losers = [c for c in candidates if _content_key(c.record) != win_key]
    if not losers:
        kind = ConflictKind.NONE
    elif all(c.record.deleted for c in losers):
        kind = ConflictKind.EDIT_DELETE
    else:
        kind = ConflictKind.CONTENT

    # Every losing live content is kept as a conflict copy by every device that sees it lose
    # (not only by its own device: the winner's device may supersede the winner before that
    # device ever sees the conflict). Directories never lose to a live entry; deletes lose
    # nothing. Of several holders of one content the top-ranked one names the copy.
    tops: dict[tuple, _Candidate] = {}
    if kind is ConflictKind.CONTENT:
        for c in losers:
            if c.record.deleted or c.record.type is FileType.DIRECTORY:
                continue
            k = _content_key(c.record)
            if k not in tops or c.rank() > tops[k].rank():
                tops[k] = c
    lost = tuple(
        Loser(c.origin, c.full_origin, c.record, c.remote) for _, c in sorted(tops.items(), key=lambda kv: kv[1].rank())
    )
    # This disk holds one of them: the cheapest copy is a rename of the local file.
    local_lost = bool(
        local is not None and local_live and local.type is not FileType.DIRECTORY and _content_key(local) in tops
    )

    return Resolution(
        target=target,
        winner=winner.remote,
        disk=disk,
        index_changes=local is None or _index_form(local) != _index_form(target),
        conflict=kind,
        local_lost=local_lost,
        winning=ConflictSide(winner.full_origin, winner.record),
        losers=lost,
    )


# --- conflict records ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConflictSide:
    """One version in a conflict: the record as its device published it, and that device's ID."""

    origin: str
    record: FileRecord


@dataclass(frozen=True)
class ConflictRecord:
    """A conflict this device published: its losing local version went to ``copy_path``.

    ``id`` depends only on the path and both versions (:func:`conflict_id`), so every device names
    the same conflict the same way. ``ancestor`` is the last version both sides descend from, when
    the index still had it.
    """

    id: str
    path: str
    copy_path: str
    winner: ConflictSide
    loser: ConflictSide
    ancestor: FileRecord | None
    created_at_ns: int
    created_by: str

    def to_dict(self) -> dict[str, object]:
        """A JSON-able form (``v`` is the format version)."""
        return {
            "v": CONFLICT_FORMAT_VERSION,
            "id": self.id,
            "path": self.path,
            "copy_path": self.copy_path,
            "winner": {"origin": self.winner.origin, "record": record_to_wire(self.winner.record)},
            "loser": {"origin": self.loser.origin, "record": record_to_wire(self.loser.record)},
            "ancestor": None if self.ancestor is None else record_to_wire(self.ancestor),
            "created_at_ns": self.created_at_ns,
            "created_by": self.created_by,
        }

    @staticmethod
    def from_dict(data: object) -> ConflictRecord:
        """Inverse of :meth:`to_dict`, validating what came from another device.

        Raises :class:`sync.entries.PayloadError` (a ValueError) on anything malformed or unsafe
        (paths are checked like every path from elsewhere), and its subclass
        :class:`sync.entries.NewerFormat` for a format newer than this Cove reads.
        """
        if not isinstance(data, Mapping):
            raise PayloadError("a conflict record must be a JSON object")
        v = data.get("v")
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise PayloadError("conflict record has no valid format version")
        if v > CONFLICT_FORMAT_VERSION:
            raise NewerFormat(
                f"conflict record format {v} is newer than this Cove reads ({CONFLICT_FORMAT_VERSION}); "
                "upgrade Cove on this device"
            )
        try:
            anc = data["ancestor"]
            return ConflictRecord(
                id=_text(data["id"], "id"),
                path=_safe_path(data["path"]),
                copy_path=_safe_path(data["copy_path"]),
                winner=_side(data["winner"]),
                loser=_side(data["loser"]),
                ancestor=None if anc is None else record_from_wire(anc),
                created_at_ns=_integer(data["created_at_ns"], "created_at_ns"),
                created_by=_text(data["created_by"], "created_by"),
            )
        except KeyError as e:
            raise PayloadError(f"conflict record lacks {e.args[0]!r}") from None


def conflict_id(path: str, winner: VersionVector, loser: VersionVector) -> str:
    """Deterministic ID of a conflict: the same on every device that computes it."""
    text = json.dumps([path, winner.as_dict(), loser.as_dict()], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _side(d: object) -> ConflictSide:
    if not isinstance(d, Mapping):
        raise PayloadError("malformed conflict side")
    return ConflictSide(origin=_text(d["origin"], "origin"), record=record_from_wire(d["record"]))


def _text(x: object, what: str) -> str:
    if not isinstance(x, str):
        raise PayloadError(f"conflict record field {what!r} must be text")
    return x


def _integer(x: object, what: str) -> int:
    if not isinstance(x, int) or isinstance(x, bool) or x < 0:
        raise PayloadError(f"conflict record field {what!r} must be a non-negative integer")
    return x


def _safe_path(x: object) -> str:
    path = _text(x, "path")
    try:
        check_relpath(path)
    except UnsafePath as e:
        raise PayloadError(f"unsafe path in conflict record: {e}") from e
    return path


# --- conflict names ------------------------------------------------------------------------------

_BAD_CHARS = re.compile(r'[\x00-\x1f\x7f/\\<>:"|?*]')
_MAX_DEVICE_CHARS = 40
_MAX_EXT_CHARS = 16


def _clean_device_name(name: str) -> str:
    cleaned = _BAD_CHARS.sub("_", " ".join(name.split())).strip(" .")
    cleaned = cleaned[:_MAX_DEVICE_CHARS].rstrip(" .")
    return cleaned or "unknown device"


def _split_extension(name: str) -> tuple[str, str]:
    """``report.docx`` → (``report``, ``.docx``); dot-files, ``name.`` and long or spaced
    "extensions" (``notes.final draft``) have none."""
    i = name.rfind(".")
    if i <= 0 or i == len(name) - 1:
        return name, ""
    ext = name[i:]
    if len(ext) - 1 > _MAX_EXT_CHARS or any(c.isspace() for c in ext):
        return name, ""
    return name[:i], ext


def _fit(stem: str, tail: str) -> str:
    """``stem + tail`` cut at the end of the stem to at most 255 UTF-8 bytes."""
    budget = MAX_NAME_BYTES - len(tail.encode("utf-8"))
    while len(stem.encode("utf-8")) > budget:
        stem = stem[:-1]
    return stem.rstrip(" ") + tail if stem.strip(" ") else "conflict" + tail


def conflict_name(path: str, device_name: str, when_ns: int, taken: Collection[str] = ()) -> str:
    """The path of the conflict copy of ``path`` kept for device ``device_name``.

    ``docs/report.docx`` → ``docs/report (conflict from laptop 2026-11-22 1530).docx``: the suffix
    goes before the last extension (none for ``.bashrc`` or ``Makefile``); the time is **UTC**, so
    every device writes the same stamp for the same instant. The device name is sanitised (no
    ``/``, ``\\``, control or Windows-reserved characters; at most 40 characters). When the result
    is in ``taken``, `` 2``, `` 3``... follow the parenthesis. The file name stays within 255 UTF-8
    bytes: the original stem is shortened when needed.
    """
    for full in conflict_names(path, device_name, when_ns):
        if full not in taken:
            return full
    raise AssertionError("unreachable")


def conflict_names(path: str, device_name: str, when_ns: int) -> Iterator[str]:
    """The candidate names of :func:`conflict_name`, in order (without, then with `` 2``, ...)."""
    parent, _, name = path.rpartition("/")
    stem, ext = _split_extension(name)
    stamp = datetime.fromtimestamp(when_ns // 1_000_000_000, tz=UTC).strftime("%Y-%m-%d %H%M")
    label = f" (conflict from {_clean_device_name(device_name)} {stamp})"
    for n in itertools.count(1):
        tail = label + (f" {n}" if n > 1 else "") + ext
        candidate = _fit(stem, tail)
        yield f"{parent}/{candidate}" if parent else candidate


COPY_KEY_PREFIX = "~"


def copy_version(path: str, loser: FileRecord, origin: str) -> VersionVector:
    """The version every device gives the conflict copy of ``loser`` (a losing version of
    ``path`` by device ``origin``, short ID): one counter of a key that names this copy and
    nothing else (``~`` and 12 hex digits of a hash of path, origin, version and content; never a
    device's short ID, which is upper-case base32).

    So the devices that make the same copy independently store *equal* versions (nothing to merge,
    no extra entry); the copy is concurrent with anything else ever stored at its path (a vector
    of the conflicted path would claim a causal history there that it does not have, and could
    silently dominate another copy that got the same name); and every later change of the copy
    (an edit, a delete, a move away) is a bump on top of it, which dominates it, so a device that
    only now sees the conflict does not bring back a copy a user already deleted.
    """
    text = json.dumps(
        [path, origin, loser.version.as_dict(), repr(_content_key(loser))], sort_keys=True, separators=(",", ":")
    )
    return VersionVector.of({COPY_KEY_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]: 1})


# --- plan: the whole folder ----------------------------------------------------------------------


class ActionKind(enum.Enum):
    CONFLICT_COPY = "conflict_copy"  # rename the losing local file to conflict.copy_path
    MKDIR = "mkdir"
    MOVE = "move"  # rename old_path → path: the content is already here
    DOWNLOAD = "download"  # fetch the blocks of ``source`` into a temp file, then rename into place
    SYMLINK = "symlink"  # create or replace a symlink
    DELETE = "delete"  # a file, symlink or (empty by then) directory
    SET_MODE = "set_mode"  # same content, other permission bits
    RECORD_ONLY = "record_only"  # only the index changes


@dataclass(frozen=True)
class Action:
    """One step for the executor; store ``record`` at ``path`` in the index when it is done.

    * CONFLICT_COPY: ``record`` is the local (losing) record at ``path``; the executor renames the
      file to ``conflict.copy_path``, indexes it there as ``copy`` (the copy's record with its
      deterministic version; stat fields from the disk) and publishes it and ``conflict``.
    * DOWNLOAD or SYMLINK with ``conflict`` set: a losing version of another device kept as a
      conflict copy at ``path`` (``source`` is the loser's record, ``record`` the copy's, to
      publish); the executor reports ``conflict`` like a renamed copy's, and when the copy is not
      made it plans ``conflict.path`` again (else the conflict may never be seen again).
    * MOVE: ``old_record`` (a tombstone, or None in a type change) goes to ``old_path``;
      ``source`` is the remote record to download from if the local file no longer matches.
    * DELETE: ``record`` is the tombstone to store, or None for the first half of a type change
      (a later create at the same path stores the record).
    * ``publish``: ``record`` is a new version of this device (the planner bumped it: a directory
      kept alive by entries that are still in it); append it to this device's log.
    """

    kind: ActionKind
    path: str
    record: FileRecord | None
    old_path: str | None = None
    old_record: FileRecord | None = None
    source: RemoteRecord | None = None
    conflict: ConflictRecord | None = None
    publish: bool = False
    copy: FileRecord | None = None

    def __str__(self) -> str:
        if self.kind is ActionKind.MOVE:
            return f"move {self.old_path} -> {self.path}"
        if self.kind is ActionKind.CONFLICT_COPY and self.conflict is not None:
            return f"conflict_copy {self.path} -> {self.conflict.copy_path}"
        return f"{self.kind.value} {self.path}"


@dataclass(frozen=True)
class Plan:
    """Actions in the order the executor must apply them."""

    actions: tuple[Action, ...] = ()

    @property
    def conflicts(self) -> tuple[ConflictRecord, ...]:
        return tuple(a.conflict for a in self.actions if a.conflict is not None)

    @property
    def downloads_bytes(self) -> int:
        """Bytes of content to fetch (moves and conflict copies transfer nothing)."""
        return sum(a.record.size for a in self.actions if a.kind is ActionKind.DOWNLOAD and a.record)

    def __bool__(self) -> bool:
        return bool(self.actions)


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _bump_over(base: VersionVector, me: str, others: Sequence[VersionVector]) -> VersionVector:
    """``base`` plus a counter of ``me`` above every counter in ``base`` and ``others``: a version
    that dominates ``base`` and that none of ``others`` dominates."""
    top = max((n for v in (base, *others) for _, n in v.counters), default=0)
    d = base.as_dict()
    d[me] = top + 1
    return VersionVector.of(d)


def _is_live(r: FileRecord | None) -> bool:
    return r is not None and not r.deleted


def plan(
    local: Mapping[str, FileRecord],
    remote: Mapping[str, Sequence[RemoteRecord]],
    *,
    device: str,
    device_names: Mapping[str, str],
    now_ns: int,
    ancestors: Mapping[str, FileRecord] | None = None,
    lookup: Callable[[str], FileRecord | None] | None = None,
) -> Plan:
    """What to do so that the folder reflects the remote records (see module docstring).

    ``local`` is the index (path → record, tombstones included); ``remote`` the latest record of
    each origin per path (this device's own latest published record included, see
    :func:`resolve`); ``device_names`` maps device IDs (full or short) to display names for
    conflict copies; ``ancestors`` optional older records per path (for conflict records);
    ``lookup`` the index record of a path outside ``local`` (where a conflict copy would go: the
    copy may exist already, and must not be made again over it). Without it, such paths count as
    absent.

    ``local`` may be a part of the index, but then it must hold every **ancestor** of each path in
    ``remote`` and every **descendant** of each such path that is a local directory: an ancestor
    missing from both maps is taken as missing on disk (MKDIR, published), and a directory's
    children missing from ``local`` are taken as absent (the directory may be deleted).

    Directories: a path that keeps a live entry under it after this plan (a local file the remote
    side never saw, a download, a conflict copy) must be a directory. When the resolved state says
    otherwise (a remote delete of the directory, or a file/symlink replacing it) the directory
    stays, with a new version of this device to publish: for a delete its version is
    ``merge(local, tombstone)`` plus a bump of this device, which dominates the tombstone; against a
    live file or symlink it is the local version plus a bump, *concurrent* with the file's, so the
    file's own device sees a directory-vs-file conflict and keeps its file as a conflict copy
    instead of losing it. A live local file or symlink in the way becomes a conflict copy here.
    """
    me = short_id(device)
    ancestors = ancestors or {}
    resolutions = {p: resolve(local.get(p), rs, device) for p, rs in remote.items() if rs}
    final: dict[str, FileRecord] = dict(local)
    final.update((p, r.target) for p, r in resolutions.items())

    copies: dict[str, ConflictRecord] = {}  # path → conflict whose copy is a rename of the local file
    copy_records: dict[str, FileRecord] = {}  # copy path → the record of a copy made by this plan
    made: dict[str, Action] = {}  # copy path → DOWNLOAD / SYMLINK of a losing version kept as a copy
    reserved: dict[str, tuple] = {}  # copy path → content key, for the copies of this plan
    occupied: set[str] | None = None  # ancestors of live paths (directories), computed when needed

    def place(path: str, loser: FileRecord, origin: str, origin_device: str) -> tuple[str, VersionVector] | None:
        """Where the copy of ``loser`` goes and its version; None when there is nothing to make.

        The name depends only on the path, the loser's device name and mtime; collisions are
        resolved against the plan inputs alone: a name that a record of this copy (its version or
        a later change of it) already holds, or that holds the same content, means the copy
        exists or is on its way; a name held by other live content is skipped.
        """
        nonlocal occupied
        name = device_names.get(origin_device) or device_names.get(origin) or origin
        version = copy_version(path, loser, origin)
        key = _content_key(loser)
        for x in conflict_names(path, name, loser.mtime_ns):
            if x in reserved:
                if reserved[x] == key:
                    return None
                continue
            here = local[x] if x in local else lookup(x) if lookup is not None else None
            recs = [r for r in (here, final.get(x)) if r is not None]
            recs += [r.record for r in remote.get(x, ())]
            if any(compare(r.version, version) in (Ordering.NEWER, Ordering.EQUAL) for r in recs):
                return None  # made already, here or elsewhere (and maybe changed or deleted since)
            if any(_is_live(r) and _content_key(r) == key for r in recs):
                return None  # the same content is there, or was (its fate is decided at that path)
            if any(_is_live(r) for r in (final.get(x), here)):
                continue  # other content
            if occupied is None:
                occupied = {a for q, r in (*local.items(), *final.items()) if _is_live(r) for a in _ancestors(q)}
            if x in occupied:
                continue
            reserved[x] = key
            return x, _merge_all([version, *(r.version for r in recs)])
        raise AssertionError("unreachable")

    def conflict_record(path: str, copy_path: str, winner: ConflictSide, loser: ConflictSide) -> ConflictRecord:
        anc = ancestors.get(path)
        if anc is not None and not all(
            compare(anc.version, v) in (Ordering.OLDER, Ordering.EQUAL)
            for v in (winner.record.version, loser.record.version)
        ):
            anc = None
        return ConflictRecord(
            id=conflict_id(path, winner.record.version, loser.record.version),
            path=path,
            copy_path=copy_path,
            winner=winner,
            loser=loser,
            ancestor=anc,
            created_at_ns=now_ns,
            created_by=device,
        )

    def keep_aside(path: str, loser: FileRecord, origin: str, origin_device: str, winner: ConflictSide) -> None:
        """The local file at ``path`` (content ``loser``) is renamed to its conflict copy."""
        placed = place(path, loser, origin, origin_device)
        if placed is None:
            return  # the copy exists already: the local file is simply replaced (kept in history)
        copy_path, version = placed
        copies[path] = conflict_record(path, copy_path, winner, ConflictSide(origin_device, loser))
        copy_records[copy_path] = replace(
            local[path], path=copy_path, version=version, sequence=0, modified_by=me
        )

    for p in sorted(resolutions):
        out = resolutions[p]
        if not out.losers:
            continue
        assert out.winning is not None
        lrec = local.get(p)
        for lo in out.losers:
            if out.local_lost and lrec is not None and _content_key(lrec) == _content_key(lo.record):
                keep_aside(p, lo.record, lo.origin, lo.device, out.winning)
                continue
            placed = place(p, lo.record, lo.origin, lo.device)
            if placed is None:
                continue
            copy_path, version = placed
            rec = replace(lo.record, path=copy_path, version=version, sequence=0, inode=0, modified_by=me)
            conflict = conflict_record(p, copy_path, out.winning, ConflictSide(lo.device, lo.record))
            if rec.type is FileType.SYMLINK:
                made[copy_path] = Action(ActionKind.SYMLINK, copy_path, rec, conflict=conflict, publish=True)
            elif lo.remote is not None:
                made[copy_path] = Action(
                    ActionKind.DOWNLOAD, copy_path, rec, source=lo.remote, conflict=conflict, publish=True
                )
            else:  # pragma: no cover - a local loser is the local record, on this disk: renamed above
                continue
            copy_records[copy_path] = rec
    final.update(copy_records)

    # Directories that must exist because something live stays under them.
    live = {p for p, r in final.items() if not r.deleted}
    needed = {a for p in live for a in _ancestors(p)}
    forced: set[str] = set()
    for d in sorted(needed):
        f = final.get(d)
        if f is not None and not f.deleted and f.type is FileType.DIRECTORY:
            continue
        lrec = local.get(d)
        base = lrec.version if lrec is not None else VersionVector()
        if f is not None and (f.deleted or f.type is FileType.DIRECTORY):
            base = base.merge(f.version)
        others = [r.record.version for r in remote.get(d, ())]
        keep = lrec if _is_live(lrec) and lrec is not None and lrec.type is FileType.DIRECTORY else None
        final[d] = FileRecord(
            path=d,
            type=FileType.DIRECTORY,
            mode=keep.mode if keep else 0o755,
            mtime_ns=keep.mtime_ns if keep else now_ns,
            inode=keep.inode if keep else 0,
            version=_bump_over(base, me, others),
            modified_by=me,
        )
        forced.add(d)
        if lrec is not None and _is_live(lrec) and keep is None and d not in copies:
            origin = lrec.modified_by or me
            keep_aside(d, lrec, origin, device if origin == me else origin, ConflictSide(device, final[d]))
            if d in copies:
                final[copies[d].copy_path] = copy_records[copies[d].copy_path]

    actions: list[Action] = []
    for p in sorted(final):
        lrec, f = local.get(p), final[p]
        if f is lrec:
            continue  # a local-only path the plan leaves alone
        if p in made:
            actions.append(made[p])
            continue
        if p in copy_records:
            continue  # the copy a CONFLICT_COPY makes by renaming the local file
        res = resolutions.get(p)
        publish = p in forced
        on_disk = lrec if lrec is not None and not lrec.deleted else None
        if p in copies:
            actions.append(
                Action(ActionKind.CONFLICT_COPY, p, lrec, conflict=copies[p], copy=copy_records[copies[p].copy_path])
            )
            on_disk = None
        if f.deleted:
            if on_disk is not None:
                actions.append(Action(ActionKind.DELETE, p, f))
            elif lrec is None or _index_form(lrec) != _index_form(f):
                actions.append(Action(ActionKind.RECORD_ONLY, p, f))
            continue
        if on_disk is not None and on_disk.type is not f.type:
            actions.append(Action(ActionKind.DELETE, p, None))
            on_disk = None
        if on_disk is None:
            if f.type is FileType.DIRECTORY:
                actions.append(Action(ActionKind.MKDIR, p, f, publish=publish))
            elif f.type is FileType.SYMLINK:
                actions.append(Action(ActionKind.SYMLINK, p, f))
            else:
                assert res is not None and res.winner is not None, p
                actions.append(Action(ActionKind.DOWNLOAD, p, f, source=res.winner))
        elif on_disk.same_content(f):
            if f.type is FileType.FILE and on_disk.mode != f.mode:
                actions.append(Action(ActionKind.SET_MODE, p, f))
            elif lrec is None or _index_form(lrec) != _index_form(f):
                actions.append(Action(ActionKind.RECORD_ONLY, p, f, publish=publish))
        elif f.type is FileType.SYMLINK:
            actions.append(Action(ActionKind.SYMLINK, p, f))
        else:
            assert res is not None and res.winner is not None, p
            actions.append(Action(ActionKind.DOWNLOAD, p, f, source=res.winner))

    actions = _pair_moves(actions, local)
    return Plan(tuple(_order(actions, local)))


def _is_under(path: str, top: str) -> bool:
    return path.startswith(top + "/")


def _pair_moves(actions: list[Action], local: Mapping[str, FileRecord]) -> list[Action]:
    """Turn a DELETE of a local file and a DOWNLOAD of the same content into one MOVE.

    Downloads take, in path order, the unpaired delete with the same (size, hash), preferring one
    with the same file name (a renamed directory), then the first by path. Empty files, pairs
    where one path is inside the other, deletes that are half of a type change and downloads that
    replace a directory stay as they are: with those, moves could wait for each other in a cycle
    (``a`` → ``b/x`` while ``b`` → ``a/y``).
    """
    deletes: dict[tuple, list[int]] = defaultdict(list)
    for i, a in enumerate(actions):
        src = local.get(a.path)
        if (
            a.kind is ActionKind.DELETE
            and a.record is not None  # a pure delete: nothing is created at its path afterwards
            and src is not None
            and not src.deleted
            and src.type is FileType.FILE
            and src.size > 0
            and src.content_hash is not None
        ):
            deletes[(src.size, src.content_hash)].append(i)
    if not deletes:
        return actions
    replaced: dict[int, Action] = {}
    used: set[int] = set()
    for i, a in enumerate(actions):
        if a.kind is not ActionKind.DOWNLOAD or a.record is None or a.conflict is not None:
            continue  # (a conflict copy keeps its own action: it is published and reported)
        there = local.get(a.path)
        if there is not None and not there.deleted and there.type is FileType.DIRECTORY:
            continue  # it waits for the directory to empty, which may wait for this very move
        pool = [
            j
            for j in deletes.get((a.record.size, a.record.content_hash), ())
            if j not in used
            and not _is_under(a.path, actions[j].path)
            and not _is_under(actions[j].path, a.path)
        ]
        if not pool:
            continue
        name = a.path.rpartition("/")[2]
        j = min(pool, key=lambda k: (actions[k].path.rpartition("/")[2] != name, actions[k].path))
        used.add(j)
        d = actions[j]
        replaced[i] = Action(
            ActionKind.MOVE, a.path, a.record, old_path=d.path, old_record=d.record, source=a.source
        )
    return [replaced.get(i, a) for i, a in enumerate(actions) if i not in used]


_PHASE = {
    ActionKind.CONFLICT_COPY: 0,
    ActionKind.MKDIR: 1,
    ActionKind.MOVE: 2,
    ActionKind.DOWNLOAD: 3,
    ActionKind.SYMLINK: 3,
    ActionKind.DELETE: 4,
    ActionKind.SET_MODE: 5,
    ActionKind.RECORD_ONLY: 6,
}


def _order(actions: list[Action], local: Mapping[str, FileRecord]) -> list[Action]:
    """Topological order of the actions under their dependencies, ties broken by phase.

    Dependencies: whatever frees a path (delete, conflict copy, move away) comes before whatever
    creates something there (type changes); a MKDIR before anything created inside it; whatever
    empties a directory (deletes and moves out of it) before the directory's delete. Among actions
    that are free to go: conflict copies, MKDIRs (parents first), moves, downloads and symlinks,
    deletes (deepest first), mode changes, index-only changes; then by path.
    """
    frees: dict[str, list[int]] = defaultdict(list)
    creates: dict[str, list[int]] = defaultdict(list)
    mkdirs: dict[str, int] = {}
    dir_deletes: dict[str, int] = {}
    for i, a in enumerate(actions):
        if a.kind in (ActionKind.CONFLICT_COPY, ActionKind.DELETE):
            frees[a.path].append(i)
        elif a.kind is ActionKind.MOVE:
            assert a.old_path is not None
            frees[a.old_path].append(i)
            creates[a.path].append(i)
        elif a.kind in (ActionKind.MKDIR, ActionKind.DOWNLOAD, ActionKind.SYMLINK):
            creates[a.path].append(i)
        if a.kind is ActionKind.MKDIR:
            mkdirs[a.path] = i
        elif a.kind is ActionKind.DELETE:
            was = local.get(a.path)
            if was is not None and was.type is FileType.DIRECTORY:
                dir_deletes[a.path] = i

    after: dict[int, set[int]] = defaultdict(set)
    indegree = [0] * len(actions)

    def edge(first: int, then: int) -> None:
        if first != then and then not in after[first]:
            after[first].add(then)
            indegree[then] += 1

    for path, cs in creates.items():
        for c in cs:
            for f in frees.get(path, ()):
                edge(f, c)
            for anc in _ancestors(path):
                if anc in mkdirs:
                    edge(mkdirs[anc], c)
    for path, fs in frees.items():
        for anc in _ancestors(path):
            if anc in dir_deletes:
                for f in fs:
                    edge(f, dir_deletes[anc])

    def key(i: int) -> tuple:
        a = actions[i]
        depth = a.path.count("/")
        sub = depth if a.kind is ActionKind.MKDIR else -depth if a.kind is ActionKind.DELETE else 0
        return (_PHASE[a.kind], sub, a.path, a.old_path or "")

    ready = [(key(i), i) for i in range(len(actions)) if indegree[i] == 0]
    heapq.heapify(ready)
    out: list[Action] = []
    while ready:
        _, i = heapq.heappop(ready)
        out.append(actions[i])
        for j in after[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                heapq.heappush(ready, (key(j), j))
    if len(out) != len(actions):
        raise AssertionError("planner produced cyclic dependencies between actions")
    return out
