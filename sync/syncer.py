"""Device-to-device sync of one folder through a log transport (the relay, or a test double).

Two halves, each safe to repeat after a crash at any point:

* **publish** — this device's own changes (index rows it originated, newer than what it already
  published) become encrypted blocks (uploaded once: the relay is asked which it lacks) and a
  sealed, signed, hash-chained log entry. The entry is put in the index's outbox in the same
  transaction that marks the rows published, then appended; an unacknowledged entry is resent
  byte for byte, which the relay treats as a no-op if it already has it.
* **receive** — entries after the folder cursor are verified (known, non-revoked device; valid
  signature; next in that device's chain — anything older than a head already seen is a
  rollback and refused), decrypted and stored as the latest record per origin, with heads and
  cursor, in one transaction. Refused entries are reported as errors of the folder, never applied.
  The touched paths are then planned (:mod:`sync.planner`) and applied (:mod:`sync.executor`).

The syncer never decides what wins; the planner does. It never touches files itself; the
executor does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync import crypto
from sync.entries import NewerFormat, Payload, PayloadError, decode_payload, encode_payload
from sync.errors import CoveError
from sync.executor import BlockUnavailable, ExecutionReport, Executor, read_local_block
from sync.fileops import resolve_inside
from sync.identity import DeviceIdentity
from sync.index import Index
from sync.keys import FolderKeyring
from sync.planner import ConflictRecord, Plan, plan
from sync.records import Block, FileRecord, FileType, RemoteRecord
from sync.relay_client import DeviceInfo, HeadMismatch, RelayTransport
from sync.wire.envelopes import GENESIS_HASH, MAX_BLOCKS_PER_ENTRY, LogEntry
from sync.wire.ids import short_id

timing = logging.getLogger("cove.timing")

MAX_RECORDS_PER_ENTRY = 1000
BLOCK_REFS_PER_ENTRY = min(MAX_BLOCKS_PER_ENTRY, 9000)
UPLOAD_BATCH_BYTES = 16 * 1024 * 1024
UPLOAD_READ_GROUP = 4 * 1024 * 1024  # plaintext read and sealed per worker-thread call
UPLOAD_SEAL_PARALLEL = 3  # such calls at once
MAX_REPLANS = 3
MAX_PUBLISH_RESCANS = 3  # files that change while they are uploaded: rescanned at most this often per publish

META_PUBLISHED = "published_seq"
META_CURSOR = "relay_cursor"
META_PENDING = "pending_items"  # conflict records and resolutions waiting to be published


class SyncError(CoveError):
    """A folder-level sync failure (shown as the folder's error)."""


class RefusedEntry(SyncError):
    pass


@dataclass
class ReceiveReport:
    entries: int = 0
    refused: list[str] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    conflicts: list[ConflictRecord] = field(default_factory=list)


@dataclass
class SyncReport:
    published_entries: int = 0
    received: ReceiveReport = field(default_factory=ReceiveReport)
    execution: ExecutionReport = field(default_factory=ExecutionReport)


class TransportBlocks:
    """Blocks from the log transport: keyed ID from the record's epoch, decrypt, verify."""

    def __init__(self, transport: RelayTransport, folder: str, keyring: FolderKeyring):
        self.transport = transport
        self.folder = folder
        self.keyring = keyring

    async def get(self, block: Block, source: RemoteRecord) -> bytes:
        bid = crypto.block_id(self.keyring, source.epoch, block.hash)
        try:
            ciphertext = await self.transport.get_block(self.folder, bid)
        except CoveError as e:
            raise BlockUnavailable(f"block {bid[:12]} of {source.record.path}: {e}", source.record.path) from e
        return await asyncio.to_thread(
            crypto.open_block,
            ciphertext,
            folder=self.folder,
            block_id=bid,
            keys=self.keyring,
            expected_plain_hash=block.hash,
        )


class Syncer:
    def __init__(
        self,
        *,
        folder_id: str,
        root: Path,
        index: Index,
        transport: RelayTransport,
        keyring: FolderKeyring,
        identity: DeviceIdentity,
        executor: Executor,
        rescan: Callable[[set[str]], Awaitable[None]],
        device_name: str = "",
        clock: Callable[[], int] = time.time_ns,
    ):
        self.folder = folder_id
        self.root = root
        self.index = index
        self.transport = transport
        self.keyring = keyring
        self.identity = identity
        self.executor = executor
        self.rescan = rescan
        self.device_name = device_name or identity.short_id
        self.clock = clock
        self.me = identity.device_id
        self.short = identity.short_id
        self._devices: dict[str, DeviceInfo] = {}
        self._retry: set[str] = set()
        # Sharing hook (sync/sharing.py MemberAuthority): member devices by certificate, roles, epochs.
        self.authority: Any = None

    def set_transport(self, transport: RelayTransport) -> None:
        """Talk to the relay through another client (a new connection after a restart)."""
        self.transport = transport
        blocks = self.executor.blocks
        if isinstance(blocks, TransportBlocks):
            blocks.transport = transport

    # -- publish -----------------------------------------------------------------------------

    def _pending_items(self) -> list[dict]:
        return json.loads(self.index.get_meta(META_PENDING, "[]") or "[]")

    def queue_item(self, item: dict) -> None:
        """Queue a conflict record or resolution for the next published entry."""
        with self.index.transaction():
            items = self._pending_items()
            items.append(item)
            self.index.set_meta(META_PENDING, json.dumps(items, sort_keys=True))

    async def publish(self) -> int:
        """Publish everything this device originated and has not published yet; returns the
        number of entries appended."""
        if self.authority is not None and not self.authority.can_publish():
            return 0  # sharing: a viewer's edits (or edits awaiting the newest epoch's key) stay local
        t0 = time.monotonic()
        sent = await self._flush_outbox()
        rescans = 0
        for _ in range(100_000):  # bounded: each round publishes or advances past >= 1 row
            published = int(self.index.get_meta(META_PUBLISHED, "0") or 0)
            mine = self.index.changes_since(published, limit=MAX_RECORDS_PER_ENTRY, publish_only=True)
            items = self._pending_items()
            if not mine and not items:
                break
            upto = mine[-1].sequence if mine else published
            epoch = self.keyring.current_epoch
            before = self.index.sequence()
            records, refs, upto = await self._upload(mine, epoch, upto)
            if not records and not items:
                self.index.set_meta(META_PUBLISHED, str(upto))
                # A rescan in _upload recorded newer versions (after upto): publish them now, or
                # the apply that follows merges them unpublished and they are never announced.
                rescanned = self.index.sequence() > before
                if upto == published and not (rescanned and rescans < MAX_PUBLISH_RESCANS):
                    break
                rescans += rescanned
                continue
            await self._pin(refs[:-BLOCK_REFS_PER_ENTRY] if len(refs) > BLOCK_REFS_PER_ENTRY else [], epoch)
            refs = refs[-BLOCK_REFS_PER_ENTRY:]
            payload = Payload(
                records=tuple((r, epoch) for r in records),
                conflicts=tuple(i["conflict"] for i in items if "conflict" in i),
                resolutions=tuple(i["resolution"] for i in items if "resolution" in i),
                device_name=self.device_name,
            )
            seq = self._seal_and_queue(encode_payload(payload), refs, epoch, upto, clear_pending=True)
            with self.index.transaction():
                # Our own latest published record of a path is one of the candidates the planner
                # weighs, exactly as other devices see it.
                for r in records:
                    self.index.put_remote(self.me, r, epoch, seq)
            sent += await self._flush_outbox()
        if sent:
            timing.debug("publish %s: %d entries, %.3f s", self.folder[:8], sent, time.monotonic() - t0)
        return sent

    async def _pin(self, refs: Sequence[str], epoch: int) -> None:
        """Entries that only reference blocks, for a file with more blocks than one entry holds."""
        for i in range(0, len(refs), BLOCK_REFS_PER_ENTRY):
            published = int(self.index.get_meta(META_PUBLISHED, "0") or 0)
            self._seal_and_queue(
                encode_payload(Payload(device_name=self.device_name)),
                list(refs[i : i + BLOCK_REFS_PER_ENTRY]),
                epoch,
                published,
                clear_pending=False,
            )
            await self._flush_outbox()

    def _seal_and_queue(self, payload: bytes, refs: Sequence[str], epoch: int, upto: int, clear_pending: bool) -> int:
        with self.index.transaction():
            head = self.index.head(self.me)
            seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
            ciphertext = crypto.seal_payload(
                payload,
                folder=self.folder,
                epoch=epoch,
                device_id=self.me,
                seq=seq,
                folder_key=self.keyring.key(epoch),
            )
            entry = LogEntry.signed(
                self.identity.signing_key,
                folder=self.folder,
                device=self.me,
                seq=seq,
                prev=prev,
                blocks=sorted(set(refs)),
                ciphertext=ciphertext,
            )
            wire = json.dumps(entry.to_wire(), sort_keys=True)
            self.index.outbox_add(seq, wire, upto)
            self.index.put_entry(self.me, seq, entry.entry_hash(), wire)
            self.index.set_head(self.me, seq, entry.entry_hash())
            self.index.set_meta(META_PUBLISHED, str(upto))
            if clear_pending:
                self.index.set_meta(META_PENDING, "[]")
        return seq

    async def _flush_outbox(self) -> int:
        sent = 0
        for seq, text, _ in self.index.outbox():
            entry = LogEntry.from_wire(json.loads(text))
            try:
                await self.transport.append(self.folder, entry)
            except HeadMismatch as e:
                if e.seq >= seq and (e.seq > seq or e.hash == entry.entry_hash()):
                    pass  # the relay has it: our earlier try was stored, its reply lost
                else:
                    raise SyncError(
                        f"the relay's copy of this device's log ends at entry {e.seq}, but this device "
                        f"wrote up to {seq}; it will not overwrite history. Check the relay.",
                        self.root,
                    ) from e
            self.index.outbox_remove(seq)
            sent += 1
        return sent

    async def _upload(
        self, records: list[FileRecord], epoch: int, upto: int
    ) -> tuple[list[FileRecord], list[str], int]:
        """Upload the blocks of ``records`` the relay lacks. Stops before a record whose content
        can no longer be read as scanned (it changed: the rescan publishes its new version)."""
        ids_of: dict[str, tuple[str, Block]] = {}
        for r in records:
            if r.type is FileType.FILE and not r.deleted:
                for b in r.blocks:
                    ids_of.setdefault(crypto.block_id(self.keyring, epoch, b.hash), (r.path, b))
        missing = await self.transport.missing_blocks(self.folder, list(ids_of)) if ids_of else set()
        # Per file, the blocks to send with their offsets, in file order: each file is opened once
        # and read front to back; groups of files are read and sealed in worker threads (BLAKE3,
        # zstd and libsodium release the GIL) while earlier batches upload.
        by_path: dict[str, list[tuple[str, Block, int]]] = {}
        for r in records:
            if r.type is not FileType.FILE or r.deleted:
                continue
            offset = 0
            for b in r.blocks:
                bid = crypto.block_id(self.keyring, epoch, b.hash)
                if bid in missing and ids_of[bid][0] == r.path:
                    by_path.setdefault(r.path, []).append((bid, b, offset))
                offset += b.size
        groups: list[list[tuple[str, list[tuple[str, Block, int]]]]] = [[]]
        size = 0
        for path in sorted(by_path):
            if size >= UPLOAD_READ_GROUP and groups[-1]:
                groups.append([])
                size = 0
            groups[-1].append((path, by_path[path]))
            size += sum(b.size for _, b, _ in by_path[path])
        changed: set[str] = set()
        key = self.keyring.key(epoch)
        seal_slots = asyncio.Semaphore(UPLOAD_SEAL_PARALLEL)
        upload_slots = asyncio.Semaphore(2)
        uploads: list[asyncio.Task[None]] = []
        batch: list[tuple[str, bytes]] = []
        batch_size = 0

        async def send(blocks: list[tuple[str, bytes]]) -> None:
            try:
                await self.transport.put_blocks(self.folder, blocks)
            finally:
                upload_slots.release()

        async def flush() -> None:
            nonlocal batch, batch_size
            await upload_slots.acquire()
            uploads.append(asyncio.ensure_future(send(batch)))
            batch, batch_size = [], 0

        async def seal_group(group: list[tuple[str, list[tuple[str, Block, int]]]]) -> None:
            nonlocal batch_size
            async with seal_slots:
                sealed, bad = await asyncio.to_thread(self._read_and_seal, group, epoch, key)
            changed.update(bad)
            for item in sealed:
                batch.append(item)
                batch_size += len(item[1])
            if batch_size >= UPLOAD_BATCH_BYTES:
                await flush()

        try:
            await asyncio.gather(*(seal_group(g) for g in groups if g))
            if batch:
                await flush()
            await asyncio.gather(*uploads)
        finally:
            for t in uploads:
                t.cancel()
        if changed:
            await self.rescan(changed)
            # Publish only the records before the first unreadable one; the rest next round.
            first_bad = min(r.sequence for r in records if r.path in changed)
            records = [r for r in records if r.sequence < first_bad]
            upto = first_bad - 1
        refs = sorted(
            {crypto.block_id(self.keyring, epoch, b.hash) for r in records if r.type is FileType.FILE and not r.deleted for b in r.blocks}
        )
        return records, refs, upto

    def _read_and_seal(
        self, group: list[tuple[str, list[tuple[str, Block, int]]]], epoch: int, key: bytes
    ) -> tuple[list[tuple[str, bytes]], set[str]]:
        """Read each file's blocks front to back from one open file and seal them (a worker
        thread). A block that no longer matches its hash there is looked for in the other local
        files holding it; a file with a block found nowhere is returned as changed."""
        sealed: list[tuple[str, bytes]] = []
        bad: set[str] = set()
        for path, wanted in group:
            try:
                f = open(resolve_inside(self.root, path), "rb")  # noqa: SIM115 - closed below
            except (OSError, CoveError):
                f = None
            try:
                for bid, block, offset in wanted:
                    data: bytes | None = None
                    if f is not None:
                        try:
                            f.seek(offset)
                            data = f.read(block.size)
                        except OSError:
                            data = None
                    ciphertext = None
                    if data is not None and len(data) == block.size:
                        try:
                            _, ciphertext = crypto.seal_block(
                                data, folder=self.folder, epoch=epoch, folder_key=key, plain_hash=block.hash
                            )
                        except crypto.BlockHashMismatch:
                            ciphertext = None
                    if ciphertext is None:
                        data = read_local_block(self.root, self.index, block)
                        if data is None:
                            bad.add(path)
                            break
                        _, ciphertext = crypto.seal_block(
                            data, folder=self.folder, epoch=epoch, folder_key=key, plain_hash=block.hash
                        )
                    sealed.append((bid, ciphertext))
            finally:
                if f is not None:
                    f.close()
        return sealed, bad

    # -- receive -----------------------------------------------------------------------------

    async def _device(self, device_id: str) -> DeviceInfo | None:
        if self.authority is not None:  # sharing: devices certified by a current member's account key
            return await self.authority.device(device_id)
        info = self._devices.get(device_id)
        if info is None:
            self._devices = {d.device_id: d for d in await self.transport.devices()}
            info = self._devices.get(device_id)
        return info

    async def receive(self) -> ReceiveReport:
        """Read the relay's log after the folder cursor and ingest it."""
        report = ReceiveReport()
        cursor = int(self.index.get_meta(META_CURSOR, "0") or 0)
        for _ in range(1_000_000):
            page = await self.transport.fetch(self.folder, cursor)
            for rseq, entry in page.entries:
                await self._ingest_one(entry, report, rseq)
                cursor = rseq
            if not page.more or not page.entries:
                break
        try:
            await self.transport.save_cursor(self.folder, cursor)
        except CoveError:
            pass  # the local cursor is the authority; the relay's copy is a convenience
        return report

    async def ingest(self, entries: Iterable[LogEntry]) -> ReceiveReport:
        """Verify and store entries from any source (a LAN peer); same rules as from the relay."""
        report = ReceiveReport()
        for entry in entries:
            await self._ingest_one(entry, report, None)
        return report

    async def _ingest_one(self, entry: LogEntry, report: ReceiveReport, rseq: int | None) -> None:
        try:
            report.touched |= await self._accept(entry, rseq, report)
            report.entries += 1
        except RefusedEntry as e:
            report.refused.append(str(e))
            with self.index.transaction():
                self.index.record_errors(
                    [(f".cove/log/{entry.device[:7]}", "refused_entry", str(e))], clear_under=[".cove/log"]
                )
                if rseq is not None:
                    self.index.set_meta(META_CURSOR, str(rseq))

    def _advance(self, rseq: int | None) -> None:
        if rseq is not None:
            self.index.set_meta(META_CURSOR, str(rseq))

    async def _accept(self, entry: LogEntry, rseq: int | None, report: ReceiveReport | None = None) -> set[str]:
        if entry.folder != self.folder:
            raise RefusedEntry(f"an entry of {entry.device[:7]} belongs to another folder")
        if entry.device == self.me:
            head = self.index.head(self.me)
            if head is None or entry.seq > head[0]:
                raise RefusedEntry(
                    f"entry {entry.seq} claims to be from this device but this device never wrote it"
                )
            self._advance(rseq)
            return set()
        info = await self._device(entry.device)
        if info is None or info.revoked:
            raise RefusedEntry(f"entry from {entry.device[:7]}, which is not a member device; ignored")
        if not entry.verify(info.public_key):
            raise RefusedEntry(f"entry {entry.seq} of {entry.device[:7]} has a bad signature; ignored")
        if self.authority is not None:  # sharing: viewers' entries are refused
            self.authority.check_writer(entry.device, entry.seq)
        head = self.index.head(entry.device)
        have_seq, have_hash = head if head else (0, GENESIS_HASH)
        if entry.seq <= have_seq:
            if self.index.entries_after(entry.device, entry.seq - 1, 1) == [json.dumps(entry.to_wire(), sort_keys=True)]:
                self._advance(rseq)
                return set()  # seen already (from a LAN peer or an earlier page)
            raise RefusedEntry(
                f"entry {entry.seq} of {entry.device[:7]} is older than one already seen ({have_seq}): "
                "the relay may be replaying or rewriting history; ignored"
            )
        if entry.seq != have_seq + 1 or entry.prev != have_hash:
            raise RefusedEntry(f"entry {entry.seq} of {entry.device[:7]} does not follow its chain; ignored")
        try:
            plaintext = crypto.open_payload(
                entry.ciphertext, folder=self.folder, device_id=entry.device, seq=entry.seq,
                key_for_epoch=self.keyring,
            )
            payload = decode_payload(plaintext)
        except NewerFormat as e:
            raise RefusedEntry(str(e)) from e
        except crypto.UnknownEpoch as e:
            if self.authority is None:
                raise RefusedEntry(f"entry {entry.seq} of {entry.device[:7]} cannot be read: {e}") from e
            self.authority.need_keys = True  # sharing: a new epoch's key may not be here yet: retry
            raise SyncError(f"entry {entry.seq} of {entry.device[:7]} needs a folder key not received yet", self.root) from e
        except (crypto.CryptoError, PayloadError) as e:
            raise RefusedEntry(f"entry {entry.seq} of {entry.device[:7]} cannot be read: {e}") from e
        origin_short = short_id(entry.device)
        touched: set[str] = set()
        with self.index.transaction():
            for record, epoch in payload.records:
                self.index.put_remote(entry.device, record.with_changes(modified_by=origin_short), epoch, entry.seq)
                touched.add(record.path)
            for c in payload.conflicts:
                try:
                    conflict = ConflictRecord.from_dict(c)
                except (ValueError, KeyError, TypeError) as e:
                    raise RefusedEntry(f"entry {entry.seq} has a malformed conflict record: {e}") from e
                if self.index.put_conflict(conflict.id, conflict.path, json.dumps(c, sort_keys=True), conflict.created_at_ns):
                    if report is not None:
                        report.conflicts.append(conflict)
            for r in payload.resolutions:
                if isinstance(r.get("id"), str) and isinstance(r.get("keep"), str):
                    self.index.resolve_conflict(r["id"], r["keep"], int(r.get("at", self.clock())))
            if payload.device_name:
                self.index.set_meta(f"device_name:{origin_short}", payload.device_name[:64])
            self.index.set_head(entry.device, entry.seq, entry.entry_hash())
            self.index.put_entry(entry.device, entry.seq, entry.entry_hash(), json.dumps(entry.to_wire(), sort_keys=True))
            self._advance(rseq)
        return touched

    # -- apply -------------------------------------------------------------------------------

    def device_names(self) -> dict[str, str]:
        names = {}
        for key, value in self.index.db.execute("SELECT key, value FROM meta WHERE key LIKE 'device_name:%'").fetchall():
            names[key.split(":", 1)[1]] = value
        names[self.short] = self.device_name
        return names

    def _local_view(self, paths: Iterable[str]) -> dict[str, FileRecord]:
        local: dict[str, FileRecord] = {}
        for p, r in self.index.get_many(list(paths)).items():
            local[p] = r
            if r.type is FileType.DIRECTORY:
                for child in self.index.records(include_deleted=True, prefix=p):
                    local[child.path] = child
        # Every ancestor's own record too: the planner reads "not in local" as "no such directory
        # here" and would otherwise give an existing ancestor a fresh version (not derived from
        # the one this device holds) and publish it, so devices end with different versions.
        ancestors = {p.rsplit("/", i)[0] for p in local for i in range(1, p.count("/") + 1)} - local.keys()
        local.update(self.index.get_many(sorted(ancestors)))
        return local

    def _plan(self, todo: set[str]) -> Plan:
        """The plan for ``todo`` (a worker thread: many index reads and a pure decision)."""
        remote = self.index.remote_for_many(sorted(todo))
        ancestors = {p.rsplit("/", i)[0] for p in remote for i in range(1, p.count("/") + 1)}
        local = self._local_view(set(remote) | ancestors)
        return plan(
            local, remote, device=self.short, device_names=self.device_names(), now_ns=self.clock(),
            lookup=self.index.get,
        )

    async def apply(self, paths: set[str]) -> ExecutionReport:
        """Plan and apply the touched paths; paths the disk changed under are rescanned and
        planned again (bounded), so a local edit becomes a conflict instead of being lost."""
        total = ExecutionReport()
        t0 = time.monotonic()
        todo = set(paths) | self._retry
        self._retry = set()
        forced: set[str] = set()
        for _ in range(MAX_REPLANS):
            if not todo:
                break
            t_plan = time.monotonic()
            the_plan = await asyncio.to_thread(self._plan, todo)
            timing.debug("plan %s: %d paths, %d actions, %.3f s", self.folder[:8], len(todo), len(the_plan.actions),
                         time.monotonic() - t_plan)
            report = await self.executor.execute(the_plan)
            # A version the plan made and published (a directory kept alive) is resolved against
            # the others' records again next time, once it is among them: against a concurrent
            # file it is left concurrent on purpose, and the merge happens only then.
            forced |= {a.path for a in report.applied if a.publish}
            for conflict in report.conflicts:
                self.index.put_conflict(
                    conflict.id, conflict.path, json.dumps(conflict.to_dict(), sort_keys=True), conflict.created_at_ns
                )
                self.queue_item({"conflict": conflict.to_dict()})
            total.applied += report.applied
            total.conflicts += report.conflicts
            total.conflict_copies += report.conflict_copies
            total.failed.update(report.failed)
            total.bytes_from_local += report.bytes_from_local
            total.bytes_from_network += report.bytes_from_network
            if not report.rescan:
                break
            await self.rescan(report.rescan)
            # Publish what the rescan found before planning again: planned unpublished, a local
            # version that loses is merged into the winner and never announced (the devices end
            # with different versions), and one that wins reaches the others only merged, which
            # dominates the version it beat, so that version's device keeps no conflict copy.
            try:
                await self.publish()
            except CoveError:
                total.rescan |= report.rescan  # planned after the next publish
                break
            todo = report.rescan
        else:
            total.rescan |= todo
        self._retry |= set(total.failed) | total.rescan | forced
        timing.debug("apply %s: %d paths, %d applied, %d failed, %d rescan, %.3f s", self.folder[:8], len(paths),
                     len(total.applied), len(total.failed), len(total.rescan), time.monotonic() - t0)
        return total

    async def sync_once(self) -> SyncReport:
        """Publish, receive, apply, publish again (conflict copies and records)."""
        out = SyncReport()
        if self.authority is not None:  # sharing: certificate, membership and keys current
            await self.authority.refresh()
        out.published_entries = await self.publish()
        out.received = await self.receive()
        if out.received.touched or self._retry:
            out.execution = await self.apply(out.received.touched)
        out.published_entries += await self.publish()
        return out

    def resolution_item(self, conflict_id: str, keep: str) -> dict:
        return {"resolution": {"id": conflict_id, "keep": keep, "by": self.short, "at": self.clock()}}


__all__ = ["Syncer", "SyncReport", "SyncError", "TransportBlocks", "RefusedEntry"]
