"""Applying a plan to the disk, safely: the only place remote changes touch a synced folder.

For every action the executor first checks that the disk still holds what the index says
(:func:`sync.fileops.unchanged_since`). If it does not, the path is handed back for a rescan — the
planner then sees a local edit and keeps both versions — and nothing is touched.

Content is assembled block by block, from local files that already hold a block (renames and
copies cost no transfer) and otherwise from a :class:`BlockSource` (the relay or a LAN peer),
written to a temp file in the staging directory and made durable. Only then, in one index
transaction, is the target checked once more, the old version kept in history, the temp file
renamed into place and the new record stored. Memory stays bounded for any file size: blocks
stream through a small window of parallel fetches (``WINDOW_BYTES`` per file); sources that offer
``get_many`` are asked for runs of consecutive blocks (``RUN_BYTES``) in one request.

**Staging outside the folder.** :func:`choose_staging` puts temp files in this device's data
directory when a rename from there into the folder works (same filesystem), so writing them costs
the folder's watcher no events; else in ``.cove/tmp`` inside the folder.

**Downloads in batches.** Consecutive independent downloads of a plan (different paths, none
inside another, no block shared with an earlier one of the batch — that one is a local copy once
installed) are staged concurrently and then installed in *one* index transaction: per file a
SAVEPOINT holding its ``unchanged_since`` check, history copy, rename and record, so a file that
fails rolls back only its own index change; then the touched directories are made durable; then
COMMIT (one WAL fsync per batch instead of one per file). Directories are durable before the
commit, so the index never records a rename that a crash could still undo. A crash before the
commit leaves renamed files the index does not know yet — the same state as a crash between
rename and commit of a single file; the next scan sees them.

* New small files (``SMALL_FILE``) are staged in groups: one index query finds the blocks held
  locally, the rest are fetched together (from a LAN peer's prefetch, usually), and one worker
  call writes the whole group. Other files stage one by one (``STAGE_FILES`` at once).
* Durability in bulk: where ``syncfs(2)`` exists (Linux), a batch's temp files are written without
  an fsync each and made durable by one syncfs before any rename, and one more syncfs replaces the
  per-directory fsyncs before the commit. Elsewhere every file and directory is fsynced.
* While a batch installs (a worker thread), the next batch already stages — unless it touches a
  path of the installing batch (or an ancestor) or needs one of its blocks.

**Verified while written, not re-read.** The record's ``content_hash`` is checked up front to be
:func:`sync.chunker.file_hash` of its block list and size. Every block is checked against its
BLAKE3 hash (and size) in the writer, right before it is written at its place in the temp file,
and the file's total size is checked before it is made durable. The file's content is therefore
exactly the record's block list, so its content hash is the record's by construction: reading the
file back to hash it again would check the same thing twice. Content from a :class:`FileSource`
(LAN deltas) is not built from verified blocks and is still hashed in full before it may be
installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import stat
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

from sync import chunker
from sync.config import MARKER_DIR, TEMP_PREFIX
from sync.errors import CoveError
from sync.fileops import (
    FileOpsError,
    HashMismatch,
    check_relpath,
    content_hash_of,
    fsync_dir,
    remove_stale_temps,
    resolve_inside,
    unchanged_since,
)
from sync.atomic import HAVE_SYNCFS, sync_filesystem
from sync.history import ArchiveReason, History, Keep
from sync.index import Index, LocalUpdate
from sync.planner import Action, ActionKind, ConflictRecord, Plan
from sync.records import Block, FileRecord, FileType, RemoteRecord

timing = logging.getLogger("cove.timing")

FETCH_WINDOW = 16  # blocks (or runs of blocks) fetched ahead of one file's writer
WINDOW_BYTES = 16 * 1024 * 1024  # ... and at most about this many bytes
RUN_BYTES = 4 * 1024 * 1024  # consecutive blocks asked for in one request, from sources that can
STALE_STAGE_S = 3600.0  # a temp file untouched this long is a crash's leftover
SMALL_FILE = 1024 * 1024  # new files up to this size are staged in groups
SMALL_GROUP_FILES = 64  # ... of at most this many files
SMALL_GROUP_BYTES = 4 * 1024 * 1024  # ... and about this much content
SMALL_GROUPS_IN_FLIGHT = 4  # groups fetching or being written at once
STAGE_FILES = 32  # small downloads staged at once (each mostly waits on its fsync)
STAGE_LARGE_FILES = 4  # downloads larger than WRITE_CHUNK staged at once (they hold buffers)
BLOCKS_IN_FLIGHT = 32  # block fetches in flight over all files being staged
BATCH_FILES = 256  # downloads installed in one index transaction at most
BATCH_BYTES = 256 * 1024 * 1024  # ... and about this much content
WRITE_CHUNK = 4 * 1024 * 1024  # verified bytes handed to the writer thread at once


class BlockSource(Protocol):
    """Where blocks come from when no local file holds them (the relay, a LAN peer).

    A source may also offer ``async get_many(blocks, source) -> list[bytes]`` for consecutive
    blocks of one file (each verified like :meth:`get`); the executor then asks for runs."""

    async def get(self, block: Block, source: RemoteRecord) -> bytes:
        """The plaintext of ``block``, verified against ``block.hash``: as a
        :class:`sync.chunker.Verified` the executor writes it without hashing it again; plain
        bytes it hashes before writing (and refuses on a mismatch)."""
        ...


class FileSource(Protocol):
    """A faster way to a whole file than block by block: e.g. a LAN peer that sends a librsync
    delta against the version this device already has (``base``)."""

    async def fetch_file(self, target: FileRecord, source: RemoteRecord, base: Path | None, stage: Path) -> bool:
        """Write ``target``'s content to ``stage`` (a new file) and return True, or return False
        when it cannot (the executor then falls back to blocks). The executor verifies the
        result against ``target.content_hash``; a wrong result is discarded, never installed."""
        ...


class BlockUnavailable(CoveError):
    pass


@dataclass
class ExecutionReport:
    applied: list[Action] = field(default_factory=list)
    rescan: set[str] = field(default_factory=set)  # paths whose disk state moved on: rescan, replan
    failed: dict[str, str] = field(default_factory=dict)  # path -> reason; retried later
    conflicts: list[ConflictRecord] = field(default_factory=list)
    conflict_copies: list[str] = field(default_factory=list)
    bytes_from_network: int = 0
    bytes_from_local: int = 0


def read_local_block(root: Path, index: Index, block: Block) -> bytes | None:
    """The block's bytes from any local file the index says holds it, verified; else None."""
    return _read_from(root, block, index.block_sources(block.hash))


def read_local_blocks(root: Path, index: Index, blocks: Sequence[Block]) -> list[bytes | None]:
    """:func:`read_local_block` of many blocks, with one index query for all of them (and one
    open file for consecutive blocks of the same file)."""
    sources = index.block_sources_many([b.hash for b in blocks])
    last: list = [None, None]  # [path, open file]
    try:
        return [_read_from(root, b, sources.get(b.hash, ()), last) for b in blocks]
    finally:
        if last[1] is not None:
            last[1].close()


def read_local_blocks_into(root: Path, index: Index, blocks: Sequence[Block], buf: bytearray, start: int) -> tuple[list[bool], int]:
    """:func:`read_local_blocks` straight into ``buf``: the blocks found (and verified) one after
    another from ``start`` (``buf`` has room for all of them). Returns which were found and where
    the found bytes end. Saves a copy of every byte a LAN peer serves."""
    sources = index.block_sources_many([b.hash for b in blocks])
    last: list = [None, None]
    view = memoryview(buf)
    found: list[bool] = []
    pos = start
    try:
        for b in blocks:
            ok = _read_into(root, b, sources.get(b.hash, ()), view[pos : pos + b.size], last)
            found.append(ok)
            pos += b.size if ok else 0
    finally:
        if last[1] is not None:
            last[1].close()
    return found, pos


def _open_cached(root: Path, path: str, last: list | None) -> BinaryIO:
    """``path`` opened for reading; with ``last`` ([path, file]), the file stays open for the
    next block of the same path (the caller closes it)."""
    if last is not None and last[0] == path:
        return last[1]
    f = open(resolve_inside(root, path), "rb")  # noqa: SIM115 - closed by the caller or via last
    if last is not None:
        if last[1] is not None:
            last[1].close()
        last[:] = [path, f]
    return f


def _read_from(
    root: Path, block: Block, sources: Sequence[tuple[str, int, int]], last: list | None = None
) -> bytes | None:
    for path, offset, size in sources:
        if size != block.size:
            continue
        try:
            f = _open_cached(root, path, last)
            try:
                data = os.pread(f.fileno(), size, offset)
            finally:
                if last is None:
                    f.close()
        except (OSError, FileOpsError):
            continue
        if len(data) == size and (checked := chunker.verified(data, block.hash)) is not None:
            return checked
    return None


def _read_into(root: Path, block: Block, sources: Sequence[tuple[str, int, int]], out: memoryview, last: list) -> bool:
    for path, offset, size in sources:
        if size != block.size or len(out) != size:
            continue
        try:
            n = os.preadv(_open_cached(root, path, last).fileno(), [out], offset)
        except (OSError, FileOpsError):
            continue
        if n == size and chunker.block_hash(out) == block.hash:
            return True
    return False


class Executor:
    def __init__(
        self,
        root: Path,
        index: Index,
        history: History,
        blocks: BlockSource,
        *,
        clock: Callable[[], int] = time.time_ns,
        window: int = FETCH_WINDOW,
        files: FileSource | None = None,
        staging: Path | None = None,
    ):
        self.root = root
        self.index = index
        self.history = history
        self.blocks = blocks
        self.files = files
        self.clock = clock
        self.window = window
        self.staging = staging if staging is not None else default_staging(root)
        self._file_source_lock = asyncio.Lock()

    async def execute(self, plan: Plan) -> ExecutionReport:
        report = ExecutionReport()
        blocked: set[str] = set()  # paths whose parent failed: skip their children this round
        actions = plan.actions
        i = 0
        # A staged batch installs (worker thread) while the next batch of downloads stages,
        # unless the next one touches its paths or needs its blocks (local copies once installed).
        installing: asyncio.Future[None] | None = None
        touched: _Touched | None = None
        try:
            while i < len(actions):
                if actions[i].kind is ActionKind.DOWNLOAD:
                    j = _download_run(actions, i)
                    batch = actions[i:j]
                    if installing is not None and (len(batch) == 1 or touched is None or touched.overlaps(batch)):
                        await installing
                        installing = None
                    if len(batch) == 1:
                        await self._apply_one(batch[0], report, blocked)
                    else:
                        staged = await self._stage_batch(batch, report, blocked)
                        if installing is not None:
                            await installing
                            installing = None
                        if staged is not None:
                            installing = asyncio.ensure_future(self._install_staged(staged, report, blocked))
                            touched = _Touched(batch)
                    i = j
                    continue
                if installing is not None:
                    await installing
                    installing = None
                if actions[i].kind is ActionKind.MKDIR:
                    j = i + 1
                    while j < len(actions) and actions[j].kind is ActionKind.MKDIR and j - i < BATCH_FILES:
                        j += 1
                    if j - i > 1:
                        await asyncio.to_thread(self._mkdir_batch, actions[i:j], report, blocked)
                        i = j
                        continue
                await self._apply_one(actions[i], report, blocked)
                i += 1
        finally:
            if installing is not None:
                await installing
        # Conflict copies made from another device's version (DOWNLOAD / SYMLINK): report them
        # like renamed ones; one that did not happen plans its conflicted path again.
        applied = {id(a) for a in report.applied}
        for a in actions:
            if a.conflict is None or a.kind not in (ActionKind.DOWNLOAD, ActionKind.SYMLINK):
                continue
            if id(a) in applied:
                report.conflicts.append(a.conflict)
                report.conflict_copies.append(a.path)
            elif a.path in report.rescan:
                report.rescan.add(a.conflict.path)
            else:
                report.failed.setdefault(a.conflict.path, report.failed.get(a.path, "its conflict copy was not made"))
        return report

    async def _apply_one(self, action: Action, report: ExecutionReport, blocked: set[str]) -> None:
        # A move that does not happen leaves both of its paths to plan again (the old path's
        # tombstone would otherwise never be applied).
        paths = [action.path] + ([action.old_path] if action.kind is ActionKind.MOVE and action.old_path else [])
        if _is_blocked(action.path, blocked):
            for p in paths:
                report.failed.setdefault(p, "waiting for its parent directory")
            return
        try:
            done = await self._apply(action, report)
        except (FileOpsError, BlockUnavailable, OSError) as e:
            for p in paths:
                report.failed[p] = str(e)
            blocked.add(action.path)
            return
        if done:
            report.applied.append(action)
        else:
            report.rescan.update(paths)
            blocked.add(action.path)

    def _mkdir_batch(self, batch: Sequence[Action], report: ExecutionReport, blocked: set[str]) -> None:
        """A run of directory creations in one index transaction (a savepoint each), in order,
        so a directory whose parent failed is skipped as when applied one by one."""
        with self.index.transaction():
            for a in batch:
                if _is_blocked(a.path, blocked):
                    report.failed.setdefault(a.path, "waiting for its parent directory")
                    continue
                try:
                    with self.index.transaction():
                        local = self.index.get(a.path)
                        target = resolve_inside(self.root, a.path)
                        done = unchanged_since(target, local) and self._mkdir(a, local, target)
                except (FileOpsError, OSError) as e:
                    report.failed[a.path] = str(e)
                    blocked.add(a.path)
                    continue
                if done:
                    report.applied.append(a)
                else:
                    report.rescan.add(a.path)
                    blocked.add(a.path)

    async def _stage_batch(self, batch: Sequence[Action], report: ExecutionReport, blocked: set[str]) -> _Staged | None:
        """Stage a run of independent downloads concurrently (see the module docstring); the
        result goes to :meth:`_install_staged`. None when nothing was left to stage."""
        todo = await asyncio.to_thread(self._check_batch, batch, report, blocked)
        if not todo:
            return None
        # Many files: write them all, then make them durable with one syncfs (Linux) instead of
        # an fsync each; the directories of the renames likewise, before the commit.
        batch_sync = HAVE_SYNCFS and len(todo) > 1
        large_files = asyncio.Semaphore(STAGE_LARGE_FILES)
        inflight = asyncio.Semaphore(BLOCKS_IN_FLIGHT)
        stages = [self.staging / f"{TEMP_PREFIX}{os.urandom(8).hex()}" for _ in todo]
        # New small files (no earlier version here for a delta) are staged in groups: their
        # blocks fetched together, then written by one worker call per group.
        small = [k for k, (a, local, _) in enumerate(todo) if self._small_new(a, local)]
        results: list[BaseException | None] = [None] * len(todo)

        files = asyncio.Semaphore(STAGE_FILES)

        async def stage_one(k: int) -> None:
            a, local, target = todo[k]
            assert a.record is not None
            async with files, (large_files if a.record.size > WRITE_CHUNK else _NO_LIMIT):
                await self._stage(a, local, target, stages[k], report, inflight, durable=not batch_sync)

        async def stage_group(group: list[int]) -> None:
            async with groups:
                errors = await self._stage_small(
                    [(todo[k][0], stages[k]) for k in group], report, inflight, durable=not batch_sync
                )
            for k, err in zip(group, errors, strict=True):
                results[k] = err

        groups = asyncio.Semaphore(SMALL_GROUPS_IN_FLIGHT)
        small_set = set(small)
        others = [k for k in range(len(todo)) if k not in small_set]
        t0 = time.monotonic()
        try:
            outcome = await asyncio.gather(
                *(stage_group(g) for g in _groups(small, todo)), *(stage_one(k) for k in others), return_exceptions=True
            )
            for k, res in zip(others, outcome[len(outcome) - len(others):], strict=True):
                results[k] = res if isinstance(res, BaseException) else None
            for res in outcome[: len(outcome) - len(others)]:
                if isinstance(res, BaseException):
                    raise res
            ready: list[tuple[Action, FileRecord | None, Path, Path]] = []
            unexpected: BaseException | None = None
            for (a, local, target), stage, res in zip(todo, stages, results, strict=True):
                if isinstance(res, (FileOpsError, BlockUnavailable, OSError)):
                    report.failed[a.path] = str(res)
                    blocked.add(a.path)
                elif isinstance(res, BaseException):
                    unexpected = unexpected or res
                else:
                    ready.append((a, local, target, stage))
            if unexpected is not None:
                raise unexpected
        except BaseException:
            await asyncio.to_thread(_remove_leftovers, stages)
            raise
        timing.debug("download batch: %d files staged in %.3f s", len(ready), time.monotonic() - t0)
        return _Staged(ready, stages, batch_sync)

    async def _install_staged(self, staged: _Staged, report: ExecutionReport, blocked: set[str]) -> None:
        """Make a staged batch durable and install it in one index transaction."""
        ready = staged.ready
        try:
            t0 = time.monotonic()
            if staged.batch_sync and ready:
                await asyncio.to_thread(_make_durable, self.staging, [stage for *_, stage in ready])
            outcomes = await asyncio.to_thread(self._install_batch, ready, staged.batch_sync)
            timing.debug("download batch: %d files installed in %.3f s", len(ready), time.monotonic() - t0)
            for (a, _, _, _), outcome in zip(ready, outcomes, strict=True):
                if outcome is True:
                    report.applied.append(a)
                elif outcome is False:
                    report.rescan.add(a.path)
                    blocked.add(a.path)
                else:
                    report.failed[a.path] = str(outcome)
                    blocked.add(a.path)
        finally:
            await asyncio.to_thread(_remove_leftovers, staged.stages)

    def _check_batch(
        self, batch: Sequence[Action], report: ExecutionReport, blocked: set[str]
    ) -> list[tuple[Action, FileRecord | None, Path]]:
        """The downloads of ``batch`` whose target is still what the index says (worker thread)."""
        locals_ = self.index.get_many([a.path for a in batch])
        todo: list[tuple[Action, FileRecord | None, Path]] = []
        for a in batch:
            if _is_blocked(a.path, blocked):
                report.failed.setdefault(a.path, "waiting for its parent directory")
                continue
            try:
                local = locals_.get(a.path)
                target = resolve_inside(self.root, a.path)
                if not unchanged_since(target, local):
                    report.rescan.add(a.path)
                    blocked.add(a.path)
                    continue
            except (FileOpsError, OSError) as e:
                report.failed[a.path] = str(e)
                blocked.add(a.path)
                continue
            todo.append((a, local, target))
        if todo:
            self.staging.mkdir(parents=True, exist_ok=True)
        return todo

    def _small_new(self, a: Action, local: FileRecord | None) -> bool:
        """A small file the file source would not help with (no earlier version here)."""
        assert a.record is not None
        has_base = local is not None and not local.deleted and local.type is FileType.FILE
        return a.record.size <= SMALL_FILE and not (has_base and self.files is not None)

    async def _stage_small(
        self, items: list[tuple[Action, Path]], report: ExecutionReport, inflight: asyncio.Semaphore, durable: bool
    ) -> list[BaseException | None]:
        """Stage a group of small files: every block fetched (local copies first, one index
        query for the group), then all the files written by one worker call. Per file: None
        when staged, else the error."""
        errors: list[BaseException | None] = [None] * len(items)
        for i, (a, _) in enumerate(items):
            assert a.record is not None
            if a.source is None:
                errors[i] = BlockUnavailable(f"no source for {a.path}", a.path)
            elif chunker.file_hash([b.hash for b in a.record.blocks], a.record.size) != a.record.content_hash:
                errors[i] = BlockUnavailable(
                    f"the record of {a.path} is inconsistent (blocks do not match its hash)", a.path)
        wanted = {b.hash: b for i, (a, _) in enumerate(items) if errors[i] is None for b in a.record.blocks}
        local = await asyncio.to_thread(self._read_local_blocks, list(wanted.values()))
        report.bytes_from_local += sum(len(d) for d in local.values())

        async def fetch(block: Block, source: RemoteRecord) -> bytes:
            async with inflight:
                return await self.blocks.get(block, source)

        fetched: dict[bytes, asyncio.Future[bytes]] = {}
        for i, (a, _) in enumerate(items):
            if errors[i] is None:
                for b in a.record.blocks:
                    if b.hash not in local and b.hash not in fetched:
                        fetched[b.hash] = asyncio.ensure_future(fetch(b, a.source))
        if fetched:
            await asyncio.wait(fetched.values())
        content: dict[bytes, bytes] = dict(local)
        for h, fut in fetched.items():
            if not fut.cancelled() and fut.exception() is None:
                content[h] = fut.result()
                report.bytes_from_network += len(content[h])
            elif not fut.cancelled() and not isinstance(fut.exception(), (FileOpsError, BlockUnavailable, OSError)):
                raise fut.exception()  # type: ignore[misc]
        jobs: list[tuple[int, Path, FileRecord, list[tuple[Block, bytes]]]] = []
        for i, (a, stage) in enumerate(items):
            if errors[i] is not None:
                continue
            missing = [b for b in a.record.blocks if b.hash not in content]
            if missing:
                exc = fetched[missing[0].hash].exception() if missing[0].hash in fetched else None
                errors[i] = exc or BlockUnavailable(f"a block of {a.path} is unavailable", a.path)
                continue
            jobs.append((i, stage, a.record, [(b, content[b.hash]) for b in a.record.blocks]))
        for i, err in await _in_stage_pool_result(_write_small_files, jobs, durable):
            errors[i] = err
        return errors

    def _read_local_blocks(self, blocks: list[Block]) -> dict[bytes, bytes]:
        """Blocks some local file holds (verified), by hash: one index query for all of them."""
        return {
            b.hash: data for b, data in zip(blocks, read_local_blocks(self.root, self.index, blocks), strict=True)
            if data is not None
        }

    # -- actions -----------------------------------------------------------------------------

    async def _apply(self, a: Action, report: ExecutionReport) -> bool:
        """Apply one action; False when the disk changed under us (rescan that path)."""
        local = self.index.get(a.path)
        kind = a.kind
        if kind is ActionKind.RECORD_ONLY:
            # Only the index changes: checked as a path, not against the disk, where a parent may
            # be a file by now (a tombstone under a directory that became a file would otherwise
            # fail, and be retried, forever).
            check_relpath(a.path)
            self._store(a.record, None, a.publish)
            return True
        target = resolve_inside(self.root, a.path)
        if kind is ActionKind.CONFLICT_COPY:
            return await asyncio.to_thread(self._conflict_copy, a, local, target, report)
        if kind is ActionKind.MOVE:
            return await asyncio.to_thread(self._move, a)
        if not unchanged_since(target, local):
            return False
        if kind is ActionKind.MKDIR:
            return await asyncio.to_thread(self._mkdir, a, local, target)
        if kind is ActionKind.DOWNLOAD:
            return await self._download(a, local, target, report)
        if kind is ActionKind.SYMLINK:
            return await asyncio.to_thread(self._symlink, a, local, target)
        if kind is ActionKind.SET_MODE:
            return await asyncio.to_thread(self._set_mode, a, local, target)
        if kind is ActionKind.DELETE:
            return await asyncio.to_thread(self._delete, a, local, target)
        raise AssertionError(f"unknown action {kind}")

    def _store(self, record: FileRecord | None, st: os.stat_result | None, publish: bool = False) -> None:
        """Store ``record`` under the next local sequence, with the stat of what is on disk.
        Records taken over from other devices are not published again (``publish`` False)."""
        if record is None:
            return
        with self.index.transaction():
            seq = self.index.sequence() + 1
            if st is not None:
                record = record.with_changes(inode=st.st_ino, mtime_ns=st.st_mtime_ns)
            self.index.put(record.with_changes(sequence=seq), publish=publish)

    def _vacate(self, local: FileRecord) -> None:
        """The index says ``local.path`` is empty now that the executor moved or removed what was
        there, ahead of a create at that path (a type change, or the winner after a conflict
        copy). Without it that create sees the disk differ from the old record, rescans, and
        records a delete of this device's own: a version no other device gets (or, published,
        a spurious delete). The tombstone keeps the old version and is not published: the plan
        only replaces a record that others' records cover or that its conflict copy keeps."""
        self._store(
            local.with_changes(deleted=True, inode=0, size=0, content_hash=None, blocks=(), symlink_target=None),
            None,
            False,
        )

    def _keep_old(self, local: FileRecord | None, reason: ArchiveReason, keep: Keep) -> None:
        if local is not None and not local.deleted and local.type is FileType.FILE:
            self.history.archive(local, reason, keep)

    def _mkdir(self, a: Action, local: FileRecord | None, target: Path) -> bool:
        with self.index.transaction():
            if local is not None and not local.deleted and local.type is not FileType.DIRECTORY:
                if not unchanged_since(target, local):
                    return False
                self._keep_old(local, ArchiveReason.REPLACED, Keep.MOVE)
                if os.path.lexists(target):
                    os.unlink(target)
            target.mkdir(parents=True, exist_ok=True)
            os.chmod(target, (a.record.mode or 0o755) & 0o7777 | 0o700)
            self._store(a.record, os.lstat(target), a.publish)
        return True

    def _symlink(self, a: Action, local: FileRecord | None, target: Path) -> bool:
        link = a.record.symlink_target or ""
        self.staging.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f"{TEMP_PREFIX}{os.urandom(6).hex()}"
        os.symlink(link, tmp)
        try:
            with self.index.transaction():
                if not unchanged_since(target, local):
                    return False
                if local is not None and not local.deleted and local.type is FileType.DIRECTORY:
                    os.rmdir(target)  # only an empty directory becomes a link; else OSError
                else:
                    self._keep_old(local, ArchiveReason.REPLACED, Keep.LINK)
                os.replace(tmp, target)
                fsync_dir(target.parent)
                self._store(a.record, os.lstat(target), a.publish)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        return True

    def _set_mode(self, a: Action, local: FileRecord | None, target: Path) -> bool:
        with self.index.transaction():
            if not unchanged_since(target, local):
                return False
            os.chmod(target, a.record.mode & 0o7777)
            self._store(a.record, os.lstat(target), a.publish)
        return True

    def _delete(self, a: Action, local: FileRecord | None, target: Path) -> bool:
        with self.index.transaction():
            if not unchanged_since(target, local):
                return False
            if local is not None and not local.deleted:
                if local.type is FileType.DIRECTORY:
                    try:
                        os.rmdir(target)
                    except FileNotFoundError:
                        pass
                    except OSError:
                        return False  # something unindexed lives there: rescan, keep it
                elif local.type is FileType.FILE:
                    self.history.archive(local, ArchiveReason.DELETED, Keep.MOVE)
                    if os.path.lexists(target):  # archive fell back to a copy
                        os.unlink(target)
                else:
                    os.unlink(target)
                fsync_dir(target.parent)
                if a.record is None:
                    self._vacate(local)  # first half of a type change
            self._store(a.record, None, a.publish)
        return True

    def _move(self, a: Action) -> bool:
        assert a.old_path is not None
        old_local = self.index.get(a.old_path)
        new_local = self.index.get(a.path)
        src = resolve_inside(self.root, a.old_path)
        dst = resolve_inside(self.root, a.path)
        with self.index.transaction():
            if not unchanged_since(src, old_local) or not unchanged_since(dst, new_local):
                return False
            if old_local is None or old_local.deleted or not old_local.same_content(a.record):
                return False
            self._keep_old(new_local, ArchiveReason.REPLACED, Keep.LINK)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            os.chmod(dst, a.record.mode & 0o7777)
            os.utime(dst, ns=(a.record.mtime_ns, a.record.mtime_ns), follow_symlinks=False)
            fsync_dir(dst.parent)
            if src.parent != dst.parent:
                fsync_dir(src.parent)
            self._store(a.record, os.lstat(dst), a.publish)
            tombstone = a.old_record if getattr(a, "old_record", None) is not None else None
            if tombstone is not None:
                self._store(tombstone, None)
        return True

    def _conflict_copy(self, a: Action, local: FileRecord | None, target: Path, report: ExecutionReport) -> bool:
        """Rename this device's losing version to its conflict name; it becomes a new local file."""
        assert a.old_path is not None or a.conflict is not None
        copy_rel = a.conflict.copy_path if a.conflict is not None else a.old_path
        assert copy_rel is not None
        copy = resolve_inside(self.root, copy_rel)
        with self.index.transaction():
            if not unchanged_since(target, local) or os.path.lexists(copy):
                return False
            os.replace(target, copy)
            fsync_dir(copy.parent)
            if local is not None:
                st = os.lstat(copy)
                if a.copy is not None:  # the planner's record of the copy (its deterministic version)
                    self._store(a.copy, st, True)
                else:
                    observed = local.with_changes(path=copy_rel, inode=st.st_ino, mtime_ns=st.st_mtime_ns)
                    self.index.commit_local([LocalUpdate(copy_rel, observed)])
                self._vacate(local)
            if a.conflict is not None:
                report.conflicts.append(a.conflict)
            report.conflict_copies.append(copy_rel)
        return True

    async def _download(self, a: Action, local: FileRecord | None, target: Path, report: ExecutionReport) -> bool:
        self.staging.mkdir(parents=True, exist_ok=True)
        stage = self.staging / f"{TEMP_PREFIX}{os.urandom(8).hex()}"
        try:
            await self._stage(a, local, target, stage, report, asyncio.Semaphore(BLOCKS_IN_FLIGHT))
            return await asyncio.to_thread(self._install, a, local, target, stage)
        finally:
            if stage.exists():
                stage.unlink()

    async def _stage(
        self,
        a: Action,
        local: FileRecord | None,
        target: Path,
        stage: Path,
        report: ExecutionReport,
        inflight: asyncio.Semaphore,
        durable: bool = True,
    ) -> None:
        """Put ``a.record``'s content, verified, with its mode and mtime, at ``stage``; fsynced
        unless ``durable`` is False (the caller then makes the whole batch durable at once)."""
        record = a.record
        assert record is not None
        if a.source is None:
            raise BlockUnavailable(f"no source for {a.path}", a.path)
        if chunker.file_hash([b.hash for b in record.blocks], record.size) != record.content_hash:
            raise BlockUnavailable(f"the record of {a.path} is inconsistent (blocks do not match its hash)", a.path)
        if self.files is not None:
            if local is not None and not local.deleted and local.type is FileType.FILE:
                # One delta at a time: a file source may hold a worker thread while it fetches.
                async with self._file_source_lock:
                    if await self._via_file_source(a, local, target, stage):
                        return
            elif await self._via_file_source(a, local, target, stage):
                return
        source = a.source
        held = await asyncio.to_thread(self.index.blocks_held, [b.hash for b in record.blocks])
        get_many = getattr(self.blocks, "get_many", None)

        async def fetch(unit: list[Block]) -> list[tuple[bytes, bool]]:
            async with inflight:
                if unit[0].hash in held:
                    data = await asyncio.to_thread(read_local_block, self.root, self.index, unit[0])
                    if data is not None:
                        return [(data, True)]
                if len(unit) > 1 and get_many is not None:
                    return [(d, False) for d in await get_many(unit, source)]
                return [(await self.blocks.get(b, source), False) for b in unit]

        units = iter(_units(record.blocks, held, RUN_BYTES if get_many is not None else 0))
        pending: deque[tuple[list[Block], asyncio.Future[list[tuple[bytes, bool]]]]] = deque()
        ahead = 0  # bytes being fetched for this file

        def top_up() -> None:
            nonlocal ahead
            while len(pending) < self.window and ahead < WINDOW_BYTES:
                unit = next(units, None)
                if unit is None:
                    return
                pending.append((unit, asyncio.ensure_future(fetch(unit))))
                ahead += sum(b.size for b in unit)

        out = _StageWriter(stage, durable)  # opened by its first write, in the worker thread
        try:
            top_up()
            buf: list[tuple[Block, bytes]] = []
            size = 0
            if not pending:
                await _in_stage_pool(out.write, buf, record)
            while pending:
                unit, fut = pending.popleft()
                got = await fut
                ahead -= sum(b.size for b in unit)
                top_up()
                for block, (data, was_local) in zip(unit, got, strict=True):
                    if was_local:
                        report.bytes_from_local += len(data)
                    else:
                        report.bytes_from_network += len(data)
                    buf.append((block, data))
                    size += len(data)
                if size >= WRITE_CHUNK or not pending:
                    # A small file is opened, written, fsynced and closed in this one call.
                    await _in_stage_pool(out.write, buf, record if not pending else None)
                    buf, size = [], 0
        finally:
            for _, fut in pending:
                fut.cancel()
            out.close()

    async def _via_file_source(self, a: Action, local: FileRecord | None, target: Path, stage: Path) -> bool:
        """Try the file source (a delta against the local version); verify before accepting."""
        assert self.files is not None and a.source is not None and a.record is not None
        base = target if local is not None and not local.deleted and local.type is FileType.FILE else None
        raw = stage.with_name(stage.name + ".in")
        try:
            if not await self.files.fetch_file(a.record, a.source, base, raw):
                return False
            record = a.record

            def finish() -> None:
                # Verified in place (no second copy of a large file): fsync, hash, then the
                # verified file becomes the stage that _install renames into the folder.
                with open(raw, "rb+") as f:
                    os.fsync(f.fileno())
                if content_hash_of(raw) != record.content_hash:
                    raise HashMismatch(f"content from the file source for {record.path} does not match its hash", record.path)
                os.chmod(raw, (record.mode if record.mode is not None else 0o644) & 0o7777)
                os.utime(raw, ns=(record.mtime_ns, record.mtime_ns))
                os.replace(raw, stage)

            await asyncio.to_thread(finish)
            return True
        except (CoveError, OSError):
            return False  # fall back to blocks
        finally:
            if raw.exists():
                raw.unlink()

    def _install(
        self, a: Action, local: FileRecord | None, target: Path, stage: Path, dirs: set[Path] | None = None
    ) -> bool:
        """Keep the old version, rename the verified content into place, store the record: one
        transaction, after checking once more that the target did not change meanwhile. With
        ``dirs`` (a batch), the directory fsync is left to the caller, before its commit."""
        with self.index.transaction():
            if not unchanged_since(target, local):
                return False
            if local is not None and not local.deleted and local.type is FileType.DIRECTORY:
                try:
                    os.rmdir(target)
                except OSError:
                    return False
            else:
                self._keep_old(local, ArchiveReason.REPLACED, Keep.LINK)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage, target)
            if dirs is None:
                fsync_dir(target.parent)
            else:
                dirs.add(target.parent)
            st = os.lstat(target)
            if not stat.S_ISREG(st.st_mode):
                return False
            self._store(a.record, st, a.publish)
        return True

    def _install_batch(
        self, ready: list[tuple[Action, FileRecord | None, Path, Path]], sync_fs: bool = False
    ) -> list[bool | BaseException]:
        """Install staged downloads in one transaction: each file in its own savepoint (an
        error undoes that file's index change only), every touched directory fsynced once,
        before the commit. Per file: True installed, False the target changed (rescan), or the
        error."""
        outcomes: list[bool | BaseException] = []
        dirs: set[Path] = set()
        with self.index.transaction():
            for a, local, target, stage in ready:
                try:
                    with self.index.transaction():
                        outcomes.append(self._install(a, local, target, stage, dirs))
                except (FileOpsError, OSError) as e:
                    outcomes.append(e)
                except sqlite3.Error as e:
                    # The index itself failed: install nothing more; what is renamed so far is
                    # committed below (or, if SQLite gave up the transaction, found by a scan).
                    outcomes.append(FileOpsError(f"index error: {e}", a.path))
                    break
            outcomes += [FileOpsError("not installed after an index error", a.path) for a, *_ in ready[len(outcomes):]]
            try:
                if not (sync_fs and len(dirs) > 1):
                    raise OSError("one directory: fsync it")
                sync_filesystem(self.root)
            except OSError:
                for d in dirs:
                    fsync_dir(d)
        return outcomes


def _is_blocked(path: str, blocked: set[str]) -> bool:
    if not blocked:
        return False
    if path in blocked:
        return True
    i = path.rfind("/")
    while i > 0:
        if path[:i] in blocked:
            return True
        i = path.rfind("/", 0, i)
    return False


def _download_run(actions: Sequence[Action], start: int) -> int:
    """The end of the run of downloads from ``start`` that can be staged together: different
    paths, none inside another, no block shared with an earlier one (that one becomes a local
    source once installed), at most ``BATCH_FILES`` files and about ``BATCH_BYTES``."""
    paths: set[str] = set()
    dirs: set[str] = set()
    hashes: set[bytes] = set()
    size = 0
    j = start
    while j < len(actions) and j - start < BATCH_FILES and size < BATCH_BYTES:
        a = actions[j]
        if a.kind is not ActionKind.DOWNLOAD or a.record is None:
            break
        p = a.path
        parts = p.split("/")
        ancestors = ["/".join(parts[:k]) for k in range(1, len(parts))]
        if p in paths or p in dirs or any(x in paths for x in ancestors):
            break
        block_hashes = {b.hash for b in a.record.blocks}
        if j > start and not hashes.isdisjoint(block_hashes):
            break
        paths.add(p)
        dirs.update(ancestors)
        hashes |= block_hashes
        size += a.record.size
        j += 1
    return max(j, start + 1)


_stage_pool: ThreadPoolExecutor | None = None
T = TypeVar("T")
_NO_LIMIT = contextlib.nullcontext()


async def _in_stage_pool_result(fn: Callable[..., T], *args: object) -> T:
    global _stage_pool
    if _stage_pool is None:
        _stage_pool = ThreadPoolExecutor(max_workers=STAGE_FILES, thread_name_prefix="cove-stage")
    return await asyncio.get_running_loop().run_in_executor(_stage_pool, fn, *args)


async def _in_stage_pool(fn: Callable[..., None], *args: object) -> None:
    """Run a stage write (mostly an fsync wait) in a pool wide enough for STAGE_FILES of them:
    the default executor has only cpu_count + 4 threads, and small files' fsyncs overlap well."""
    await _in_stage_pool_result(fn, *args)


class _StageWriter:
    """The temp file of one download, written from worker threads (one call at a time)."""

    def __init__(self, path: Path, durable: bool = True):
        self.path = path
        self.durable = durable
        self.out: BinaryIO | None = None

    def write(self, blocks: list[tuple[Block, bytes]], finish: FileRecord | None) -> None:
        """Write blocks after checking each against its hash; with ``finish``, check the size,
        fsync, set mode and mtime and close (the file is then exactly the record's content)."""
        if self.out is None:
            self.out = open(self.path, "wb")  # noqa: SIM115 - closed by finish or close()
        out = self.out
        for block, data in blocks:
            if len(data) != block.size or (not chunker.trusted(data, block) and chunker.block_hash(data) != block.hash):
                raise HashMismatch(f"a block of {self.path.name} does not match its hash; nothing was changed", self.path)
            out.write(data)
        if finish is not None:
            out.flush()
            if out.tell() != finish.size:
                raise HashMismatch(f"content written for {finish.path} has the wrong size; nothing was changed", finish.path)
            if self.durable:
                os.fsync(out.fileno())
            os.chmod(out.fileno(), (finish.mode if finish.mode is not None else 0o644) & 0o7777)
            os.utime(out.fileno(), ns=(finish.mtime_ns, finish.mtime_ns))
            self.close()

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


def _make_durable(staging: Path, files: list[Path]) -> None:
    """Staged files written without an fsync each: one syncfs, or else an fsync per file."""
    try:
        sync_filesystem(staging)
    except OSError:
        for path in files:
            with open(path, "rb") as f:
                os.fsync(f.fileno())


def _groups(ks: list[int], todo: Sequence[tuple[Action, FileRecord | None, Path]]) -> list[list[int]]:
    """``ks`` cut into groups of at most SMALL_GROUP_FILES files and about SMALL_GROUP_BYTES."""
    out: list[list[int]] = []
    size = 0
    for k in ks:
        rec = todo[k][0].record
        assert rec is not None
        if not out or len(out[-1]) >= SMALL_GROUP_FILES or size + rec.size > SMALL_GROUP_BYTES:
            out.append([])
            size = 0
        out[-1].append(k)
        size += rec.size
    return out


def _write_small_files(
    jobs: list[tuple[int, Path, FileRecord, list[tuple[Block, bytes]]]], durable: bool
) -> list[tuple[int, BaseException | None]]:
    """Write several small staged files in one worker call (each verified block by block)."""
    out: list[tuple[int, BaseException | None]] = []
    for i, stage, record, blocks in jobs:
        writer = _StageWriter(stage, durable)
        try:
            writer.write(blocks, record)
            out.append((i, None))
        except (FileOpsError, OSError) as e:
            out.append((i, e))
        finally:
            writer.close()
    return out


def _remove_leftovers(stages: list[Path]) -> None:
    for stage in stages:
        with contextlib.suppress(FileNotFoundError):
            stage.unlink()


@dataclass
class _Staged:
    """A batch of downloads staged and waiting to be installed."""

    ready: list[tuple[Action, FileRecord | None, Path, Path]]  # action, local record, target, stage
    stages: list[Path]  # every stage path of the batch (leftovers are removed after installing)
    batch_sync: bool  # staged without an fsync each: make them durable at once first


class _Touched:
    """The paths (and their parent directories) and blocks of a batch being installed."""

    def __init__(self, batch: Sequence[Action]):
        self.paths = {a.path for a in batch}
        self.dirs = {p.rsplit("/", i)[0] for p in self.paths for i in range(1, p.count("/") + 1)}
        self.blocks = {b.hash for a in batch if a.record is not None for b in a.record.blocks}

    def overlaps(self, batch: Sequence[Action]) -> bool:
        """Whether ``batch`` must wait: a path, an ancestor or descendant, or a block in common."""
        for a in batch:
            p = a.path
            if p in self.paths or p in self.dirs:
                return True
            if any(p.rsplit("/", i)[0] in self.paths for i in range(1, p.count("/") + 1)):
                return True
            if a.record is not None and any(b.hash in self.blocks for b in a.record.blocks):
                return True
        return False


def default_staging(root: Path) -> Path:
    """The staging directory inside the folder (``.cove/tmp``): always on the right filesystem."""
    return root / MARKER_DIR / "tmp"


def choose_staging(root: Path, outside: Path) -> Path:
    """Where downloads are staged: ``outside`` (a directory of this device's data, outside the
    folder) when a file staged there can be renamed into the folder — then writing it costs the
    folder's watcher no events — else the folder's own ``.cove/tmp``. Leftovers of a crash in the
    chosen directory (untouched for ``STALE_STAGE_S``) are removed."""
    inside = default_staging(root)
    try:
        outside.mkdir(parents=True, exist_ok=True)
        (root / MARKER_DIR).mkdir(exist_ok=True)
        probe = outside / f"{TEMP_PREFIX}probe-{os.urandom(4).hex()}"
        probe.touch()
        try:
            landed = root / MARKER_DIR / probe.name
            os.replace(probe, landed)  # EXDEV when on another filesystem (or mount)
            landed.unlink()
        finally:
            with contextlib.suppress(FileNotFoundError):
                probe.unlink()
        chosen = outside
    except OSError:
        chosen = inside
    remove_stale_temps(chosen, older_than_s=STALE_STAGE_S)  # another process may be staging now
    return chosen


def _units(blocks: Sequence[Block], held: set[bytes], run_bytes: int) -> Iterator[list[Block]]:
    """A file's blocks in fetch order, as units: a block some local file holds alone, and runs
    of consecutive other blocks up to ``run_bytes`` (single blocks when 0)."""
    run: list[Block] = []
    size = 0
    for b in blocks:
        if b.hash in held:
            if run:
                yield run
                run, size = [], 0
            yield [b]
            continue
        if run and size + b.size > run_bytes:
            yield run
            run, size = [], 0
        run.append(b)
        size += b.size
    if run:
        yield run
