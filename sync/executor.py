"""Applying a plan to the disk, safely: the only place remote changes touch a synced folder.

For every action the executor first checks that the disk still holds what the index says
(:func:`sync.fileops.unchanged_since`). If it does not, the path is handed back for a rescan — the
planner then sees a local edit and keeps both versions — and nothing is touched.

Content is assembled block by block, from local files that already hold a block (renames and
copies cost no transfer) and otherwise from a :class:`BlockSource` (the relay or a LAN peer),
written to a temp file under ``.cove/tmp``, fsynced and verified against the record's hash. Only
then, in one index transaction, is the old version kept in history, the temp file renamed into
place and the new record stored. Memory stays bounded for any file size: blocks stream through
a small window of parallel fetches.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sync import chunker
from sync.config import MARKER_DIR, TEMP_PREFIX
from sync.errors import CoveError
from sync.fileops import (
    FileOpsError,
    HashMismatch,
    atomic_write,
    check_relpath,
    content_hash_of,
    fsync_dir,
    resolve_inside,
    unchanged_since,
)
from sync.history import ArchiveReason, History, Keep
from sync.index import Index, LocalUpdate
from sync.planner import Action, ActionKind, ConflictRecord, Plan
from sync.records import Block, FileRecord, FileType, RemoteRecord

FETCH_WINDOW = 8  # blocks fetched ahead of the writer


class BlockSource(Protocol):
    """Where blocks come from when no local file holds them (the relay, a LAN peer)."""

    async def get(self, block: Block, source: RemoteRecord) -> bytes:
        """The plaintext of ``block`` (verified against ``block.hash``)."""
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
    for path, offset, size in index.block_sources(block.hash):
        if size != block.size:
            continue
        try:
            with open(resolve_inside(root, path), "rb") as f:
                f.seek(offset)
                data = f.read(size)
        except (OSError, FileOpsError):
            continue
        if len(data) == size and chunker.block_hash(data) == block.hash:
            return data
    return None


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
    ):
        self.root = root
        self.index = index
        self.history = history
        self.blocks = blocks
        self.files = files
        self.clock = clock
        self.window = window
        self.staging = root / MARKER_DIR / "tmp"

    async def execute(self, plan: Plan) -> ExecutionReport:
        report = ExecutionReport()
        blocked: set[str] = set()  # paths whose parent failed: skip their children this round
        for action in plan.actions:
            # A move that does not happen leaves both of its paths to plan again (the old path's
            # tombstone would otherwise never be applied).
            paths = [action.path] + ([action.old_path] if action.kind is ActionKind.MOVE and action.old_path else [])
            if any(action.path == b or action.path.startswith(b + "/") for b in blocked):
                for p in paths:
                    report.failed.setdefault(p, "waiting for its parent directory")
                continue
            try:
                done = await self._apply(action, report)
            except (FileOpsError, BlockUnavailable, OSError) as e:
                for p in paths:
                    report.failed[p] = str(e)
                blocked.add(action.path)
                continue
            if done:
                report.applied.append(action)
            else:
                report.rescan.update(paths)
                blocked.add(action.path)
        return report

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
                observed = local.with_changes(path=copy_rel, inode=st.st_ino, mtime_ns=st.st_mtime_ns)
                self.index.commit_local([LocalUpdate(copy_rel, observed)])
                self._vacate(local)
            if a.conflict is not None:
                report.conflicts.append(a.conflict)
            report.conflict_copies.append(copy_rel)
        return True

    async def _download(self, a: Action, local: FileRecord | None, target: Path, report: ExecutionReport) -> bool:
        record = a.record
        if a.source is None:
            raise BlockUnavailable(f"no source for {a.path}", a.path)
        if chunker.file_hash([b.hash for b in record.blocks], record.size) != record.content_hash:
            raise BlockUnavailable(f"the record of {a.path} is inconsistent (blocks do not match its hash)", a.path)
        self.staging.mkdir(parents=True, exist_ok=True)
        stage = self.staging / f"{TEMP_PREFIX}{os.urandom(8).hex()}"
        loop = asyncio.get_running_loop()
        source = a.source

        async def fetch(block: Block) -> tuple[bytes, bool]:
            data = await asyncio.to_thread(read_local_block, self.root, self.index, block)
            if data is not None:
                return data, True
            return await self.blocks.get(block, source), False

        def chunks() -> Iterator[bytes]:
            pending: list = []
            blocks = iter(record.blocks)
            for block in blocks:
                pending.append(asyncio.run_coroutine_threadsafe(fetch(block), loop))
                if len(pending) >= self.window:
                    break
            while pending:
                data, was_local = pending.pop(0).result()
                nxt = next(blocks, None)
                if nxt is not None:
                    pending.append(asyncio.run_coroutine_threadsafe(fetch(nxt), loop))
                if was_local:
                    report.bytes_from_local += len(data)
                else:
                    report.bytes_from_network += len(data)
                yield data

        try:
            if self.files is not None and await self._via_file_source(a, local, target, stage):
                return await asyncio.to_thread(self._install, a, local, target, stage)
            await asyncio.to_thread(
                atomic_write,
                stage,
                chunks(),
                expected_hash=record.content_hash,
                mode=record.mode,
                mtime_ns=record.mtime_ns,
            )
            return await asyncio.to_thread(self._install, a, local, target, stage)
        finally:
            if stage.exists():
                stage.unlink()

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

    def _install(self, a: Action, local: FileRecord | None, target: Path, stage: Path) -> bool:
        """Keep the old version, rename the verified content into place, store the record: one
        transaction, after checking once more that the target did not change meanwhile."""
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
            fsync_dir(target.parent)
            st = os.lstat(target)
            if not stat.S_ISREG(st.st_mode):
                return False
            self._store(a.record, st, a.publish)
        return True
