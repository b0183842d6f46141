"""An in-process relay with the real relay's semantics, for deterministic simulation tests.

:class:`MemoryRelay` holds folders, blocks, per-device hash-chained logs with the folder's relay
sequence (``rseq``), heads and durable per-device cursors, with the same rules as the relay
(``relay.rules.decide_append``, re-implemented here because the engine does not import the relay):

- an append must extend the device's head (``seq == head.seq + 1`` and ``prev == head.hash``),
  otherwise :class:`~sync.relay_client.HeadMismatch` with the head; an entry identical to the one
  already stored at its ``seq`` is an idempotent retry (``created=False``, the original ``rseq``);
- an entry must be signed by its device (when the device's key is known), be the caller's own,
  and reference only blocks the folder holds (:class:`~sync.relay_client.MissingBlocks`);
- a cursor may not pass ``last_rseq``; fetch pages by ``after``/``limit`` (≤ 1000).

Each device talks to it through a view, :meth:`MemoryRelay.transport_for`, which implements
:class:`~sync.relay_client.RelayTransport`. Every operation is atomic (no await inside), so the
interleaving is exactly the order in which the test's tasks call it.

Fault injection (all deterministic): :meth:`MemoryRelay.disconnect` / :meth:`~MemoryRelay.reconnect`
a device (its calls raise :class:`~sync.relay_client.RelayUnavailable`); :meth:`~MemoryRelay.fail_next`
fails the next *n* calls of an operation before they take effect; :meth:`~MemoryRelay.lose_next_reply`
lets the next *n* calls take effect and then raises ``RelayUnavailable`` (acknowledged, reply
lost — the caller's retry must be idempotent). A simple notification stream per device,
:meth:`MemoryTransport.notifications`, mirrors the WebSocket: a :class:`Hello` first and after
every reconnect, then :class:`AppendNotice` for other devices' appends.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field

from sync.identity import DeviceIdentity
from sync.relay_client import (
    AppendNotice,
    AppendResult,
    DeviceInfo,
    FetchPage,
    FolderHeads,
    FolderState,
    Forbidden,
    Head,
    HeadMismatch,
    Hello,
    MissingBlocks,
    NotFound,
    Notification,
    QuotaExceeded,
    RelayError,
    RelayUnavailable,
)
from sync.wire.envelopes import GENESIS_HASH, LogEntry
from sync.wire.ids import device_id_from_public_key, is_block_id

OPS = ("missing_blocks", "put_blocks", "get_block", "append", "fetch", "heads", "save_cursor", "get_cursor",
       "devices")
MAX_FETCH_LIMIT = 1000


@dataclass
class _Device:
    device_id: str
    public_key: bytes | None
    account: str
    name: str | None = None
    revoked: bool = False
    connected: bool = True
    listeners: list[asyncio.Queue[Notification | None]] = field(default_factory=list)


@dataclass
class _Folder:
    folder: str
    members: dict[str, str]  # account → role
    blocks: dict[str, bytes] = field(default_factory=dict)
    entries: list[tuple[int, LogEntry]] = field(default_factory=list)  # index = rseq - 1
    by_seq: dict[tuple[str, int], tuple[int, str]] = field(default_factory=dict)  # (device, seq) → (rseq, hash)
    heads: dict[str, Head] = field(default_factory=dict)
    cursors: dict[str, int] = field(default_factory=dict)

    @property
    def last_rseq(self) -> int:
        return len(self.entries)


@dataclass
class _Fault:
    op: str | None
    device: str | None
    remaining: int
    after: bool  # True: the call takes effect, then the reply is lost


class MemoryRelay:
    """The relay's state plus fault injection; see the module docstring."""

    def __init__(self, *, verify_signatures: bool = True, quota: int | None = None) -> None:
        self.verify_signatures = verify_signatures
        self.quota = quota
        self._devices: dict[str, _Device] = {}
        self._folders: dict[str, _Folder] = {}
        self._faults: list[_Fault] = []
        self.calls: Counter[str] = Counter()  # op → calls that reached the relay (including failed)
        self.stored_bytes = 0

    # -- setup ------------------------------------------------------------------------------

    def add_device(self, device: DeviceIdentity | bytes | str, *, account: str = "user",
                   name: str | None = None) -> str:
        """Register a device (an identity, a public key, or just an ID — then signatures cannot be
        checked and ``devices()`` cannot list its key). Returns its device ID; idempotent."""
        if isinstance(device, DeviceIdentity):
            public_key: bytes | None = device.public_key
            device_id = device.device_id
        elif isinstance(device, bytes):
            public_key, device_id = device, device_id_from_public_key(device)
        else:
            public_key, device_id = None, device
        if device_id not in self._devices:
            self._devices[device_id] = _Device(device_id, public_key, account, name)
        return device_id

    def create_folder(self, folder: str, members: dict[str, str] | Iterable[str] | None = None) -> None:
        """A folder whose members are accounts (``{account: role}`` or names, all editors);
        default: every account known so far plus ``"user"``, as editors."""
        if isinstance(members, dict):
            roles = dict(members)
        else:
            names = list(members) if members is not None else sorted({d.account for d in self._devices.values()}
                                                                       | {"user"})
            roles = {m: "editor" for m in names}
        self._folders.setdefault(folder, _Folder(folder, roles))

    def set_role(self, folder: str, account: str, role: str | None) -> None:
        f = self._folders[folder]
        if role is None:
            f.members.pop(account, None)
        else:
            f.members[account] = role

    def revoke(self, device_id: str) -> None:
        self._devices[device_id].revoked = True
        self._drop_listeners(self._devices[device_id])

    def transport_for(self, device: str | DeviceIdentity) -> MemoryTransport:
        """The :class:`~sync.relay_client.RelayTransport` a device uses (registers identities)."""
        device_id = self.add_device(device) if isinstance(device, DeviceIdentity) else device
        if device_id not in self._devices:
            self.add_device(device_id)
        return MemoryTransport(self, device_id)

    # -- faults -----------------------------------------------------------------------------

    def disconnect(self, device_id: str) -> None:
        """The device can no longer reach the relay; its notification streams end."""
        dev = self._devices[device_id]
        dev.connected = False
        self._drop_listeners(dev)

    def reconnect(self, device_id: str) -> None:
        """The device reaches the relay again; its notification streams say hello again."""
        dev = self._devices[device_id]
        if not dev.connected:
            dev.connected = True
            for q in dev.listeners:
                q.put_nowait(self._hello(dev))

    def is_connected(self, device_id: str) -> bool:
        return self._devices[device_id].connected

    def fail_next(self, n: int = 1, op: str | None = None, *, device: str | None = None) -> None:
        """The next ``n`` calls of ``op`` (any op if None; by ``device`` if given) raise
        ``RelayUnavailable`` without taking effect."""
        self._add_fault(n, op, device, after=False)

    def lose_next_reply(self, n: int = 1, op: str | None = "append", *, device: str | None = None) -> None:
        """The next ``n`` calls of ``op`` take effect, then raise ``RelayUnavailable`` (lost reply)."""
        self._add_fault(n, op, device, after=True)

    def clear_faults(self) -> None:
        self._faults.clear()
        for dev in self._devices.values():
            if not dev.connected:
                self.reconnect(dev.device_id)

    def _add_fault(self, n: int, op: str | None, device: str | None, *, after: bool) -> None:
        if op is not None and op not in OPS:
            raise ValueError(f"unknown operation {op!r}; one of {OPS}")
        if n > 0:
            self._faults.append(_Fault(op, device, n, after))

    def _take_fault(self, op: str, device: str, after: bool) -> bool:
        for fault in self._faults:
            if fault.after == after and fault.op in (None, op) and fault.device in (None, device):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return True
        return False

    # -- inspection (for test assertions) ---------------------------------------------------

    def last_rseq(self, folder: str) -> int:
        return self._folders[folder].last_rseq

    def entries(self, folder: str) -> list[tuple[int, LogEntry]]:
        return list(self._folders[folder].entries)

    def has_block(self, folder: str, block_id: str) -> bool:
        return block_id in self._folders[folder].blocks

    # -- the operations (called by MemoryTransport) ------------------------------------------

    def _enter(self, op: str, device_id: str) -> _Device:
        self.calls[op] += 1
        dev = self._devices.get(device_id)
        if dev is None:
            raise RelayError(f"{op}: unknown device {device_id}", status=401, code="token_invalid")
        if not dev.connected:
            raise RelayUnavailable(f"{op}: relay unreachable (device {device_id[:7]} is disconnected)")
        if self._take_fault(op, device_id, after=False):
            raise RelayUnavailable(f"{op}: injected failure")
        if dev.revoked:
            raise RelayError(f"{op}: device revoked", status=401, code="device_revoked")
        return dev

    def _exit(self, op: str, device_id: str) -> None:
        if self._take_fault(op, device_id, after=True):
            raise RelayUnavailable(f"{op}: injected lost reply (the operation took effect)")

    def _folder(self, dev: _Device, folder: str, *, write: bool = False) -> _Folder:
        f = self._folders.get(folder)
        if f is None or dev.account not in f.members:
            raise NotFound("no such folder", status=404, code="folder_not_found")
        if write and f.members[dev.account] == "viewer":
            raise Forbidden("viewers cannot write to a folder", status=403, code="read_only")
        return f

    def _hello(self, dev: _Device) -> Hello:
        return Hello(dev.device_id, {
            f.folder: FolderState(f.members[dev.account], f.last_rseq, f.cursors.get(dev.device_id, 0))
            for f in self._folders.values() if dev.account in f.members})

    def _drop_listeners(self, dev: _Device) -> None:
        for q in dev.listeners:
            q.put_nowait(None)

    def _publish(self, f: _Folder, note: Notification, exclude: str) -> None:
        for dev in self._devices.values():
            if dev.device_id != exclude and dev.connected and dev.account in f.members:
                for q in dev.listeners:
                    q.put_nowait(note)

    def missing_blocks(self, device_id: str, folder: str, block_ids: Sequence[str]) -> set[str]:
        f = self._folder(self._enter("missing_blocks", device_id), folder)
        out = {b for b in block_ids if b not in f.blocks}
        self._exit("missing_blocks", device_id)
        return out

    def put_blocks(self, device_id: str, folder: str, blocks: Sequence[tuple[str, bytes]]) -> None:
        f = self._folder(self._enter("put_blocks", device_id), folder, write=True)
        for block_id, data in blocks:
            if not is_block_id(block_id):
                raise RelayError(f"bad block ID {block_id!r}", status=400, code="invalid_field")
            if not data:
                raise RelayError("empty block", status=400, code="empty_block")
            if block_id in f.blocks:
                continue
            if self.quota is not None and self.stored_bytes + len(data) > self.quota:
                raise QuotaExceeded("quota exceeded", status=507, code="quota_exceeded")
            f.blocks[block_id] = bytes(data)
            self.stored_bytes += len(data)
        self._exit("put_blocks", device_id)

    def get_block(self, device_id: str, folder: str, block_id: str) -> bytes:
        f = self._folder(self._enter("get_block", device_id), folder)
        data = f.blocks.get(block_id)
        if data is None:
            raise NotFound("no such block", status=404, code="block_not_found")
        self._exit("get_block", device_id)
        return data

    def append(self, device_id: str, folder: str, entry: LogEntry) -> AppendResult:
        dev = self._enter("append", device_id)
        f = self._folder(dev, folder, write=True)
        if entry.folder != folder:
            raise RelayError("entry is for another folder", status=400, code="folder_mismatch")
        if entry.device != device_id:
            raise Forbidden("a device appends only to its own log", status=403, code="device_mismatch")
        if self.verify_signatures and dev.public_key is not None and not entry.verify(dev.public_key):
            raise RelayError("entry signature does not verify", status=400, code="bad_signature")
        entry_hash = entry.entry_hash()
        head = f.heads.get(device_id, Head(0, GENESIS_HASH))
        stored = f.by_seq.get((device_id, entry.seq))
        if stored is not None:
            if stored[1] != entry_hash:
                raise HeadMismatch(head.seq, head.hash)
            self._exit("append", device_id)
            return AppendResult(stored[0], entry_hash, False)
        if entry.seq != head.seq + 1 or entry.prev != head.hash:
            raise HeadMismatch(head.seq, head.hash)
        missing = sorted({b for b in entry.blocks if b not in f.blocks})
        if missing:
            raise MissingBlocks(missing[:100], missing_count=len(missing))
        rseq = f.last_rseq + 1
        f.entries.append((rseq, entry))
        f.by_seq[(device_id, entry.seq)] = (rseq, entry_hash)
        f.heads[device_id] = Head(entry.seq, entry_hash)
        self._publish(f, AppendNotice(folder, rseq, device_id, entry.seq), exclude=device_id)
        self._exit("append", device_id)
        return AppendResult(rseq, entry_hash, True)

    def fetch(self, device_id: str, folder: str, after: int, limit: int = 1000) -> FetchPage:
        f = self._folder(self._enter("fetch", device_id), folder)
        if after < 0:
            raise RelayError("after must be ≥ 0", status=400, code="invalid_field")
        limit = max(1, min(limit, MAX_FETCH_LIMIT))
        page = f.entries[after : after + limit]
        nxt = page[-1][0] if page else after
        self._exit("fetch", device_id)
        return FetchPage(list(page), nxt, nxt < f.last_rseq, f.last_rseq)

    def heads(self, device_id: str, folder: str) -> FolderHeads:
        f = self._folder(self._enter("heads", device_id), folder)
        self._exit("heads", device_id)
        return FolderHeads(dict(sorted(f.heads.items())), f.last_rseq)

    def save_cursor(self, device_id: str, folder: str, rseq: int) -> None:
        f = self._folder(self._enter("save_cursor", device_id), folder)
        if not 0 <= rseq <= f.last_rseq:
            raise RelayError("cursor beyond the end of the log", status=422, code="cursor_out_of_range",
                             details={"last_rseq": f.last_rseq})
        f.cursors[device_id] = rseq
        self._exit("save_cursor", device_id)

    def get_cursor(self, device_id: str, folder: str) -> int:
        f = self._folder(self._enter("get_cursor", device_id), folder)
        self._exit("get_cursor", device_id)
        return f.cursors.get(device_id, 0)

    def devices(self, device_id: str) -> list[DeviceInfo]:
        dev = self._enter("devices", device_id)
        out = [DeviceInfo(d.device_id, d.public_key or b"", d.revoked, d.name)
               for d in sorted(self._devices.values(), key=lambda d: d.device_id) if d.account == dev.account]
        self._exit("devices", device_id)
        return out


class MemoryTransport:
    """One device's view of a :class:`MemoryRelay`; implements ``RelayTransport``."""

    def __init__(self, relay: MemoryRelay, device_id: str) -> None:
        self.relay = relay
        self.device_id = device_id

    async def missing_blocks(self, folder: str, block_ids: Sequence[str]) -> set[str]:
        return self.relay.missing_blocks(self.device_id, folder, block_ids)

    async def put_blocks(self, folder: str, blocks: Sequence[tuple[str, bytes]]) -> None:
        self.relay.put_blocks(self.device_id, folder, blocks)

    async def get_block(self, folder: str, block_id: str) -> bytes:
        return self.relay.get_block(self.device_id, folder, block_id)

    async def append(self, folder: str, entry: LogEntry) -> AppendResult:
        return self.relay.append(self.device_id, folder, entry)

    async def fetch(self, folder: str, after: int, limit: int = 1000) -> FetchPage:
        return self.relay.fetch(self.device_id, folder, after, limit)

    async def heads(self, folder: str) -> FolderHeads:
        return self.relay.heads(self.device_id, folder)

    async def save_cursor(self, folder: str, rseq: int) -> None:
        self.relay.save_cursor(self.device_id, folder, rseq)

    async def get_cursor(self, folder: str) -> int:
        return self.relay.get_cursor(self.device_id, folder)

    async def devices(self) -> list[DeviceInfo]:
        return self.relay.devices(self.device_id)

    async def notifications(self) -> AsyncIterator[Notification]:
        """Like :class:`~sync.relay_client.NotificationListener`: :class:`Hello` first and after
        every reconnect; nothing while disconnected. Ends when the consumer stops iterating."""
        dev = self.relay._devices[self.device_id]
        queue: asyncio.Queue[Notification | None] = asyncio.Queue()
        dev.listeners.append(queue)
        if dev.connected and not dev.revoked:
            queue.put_nowait(self.relay._hello(dev))
        try:
            while True:
                note = await queue.get()
                if note is None:
                    if dev.revoked:
                        raise RelayError("device revoked", status=401, code="device_revoked")
                    continue  # disconnected: the next item is the hello after reconnect
                yield note
        finally:
            dev.listeners.remove(queue)
