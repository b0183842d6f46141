"""The LAN service: peer connections, and the exchange of logs and content per shared folder.

One :class:`LanService` per engine. It listens for peers, dials the ones discovery reports
(the device with the smaller ID dials; the other dials too if nothing arrived after a grace
period), and keeps at most one session per peer. After the handshake (:mod:`sync.lan.channel`)
each side sends ``hello`` with the folders the peer may see (:class:`~sync.lan.certs.Membership`),
the device certificates it knows and the account's device revocations; the intersection of the
folders is what the session shares. A revoked device is refused in the handshake; learning a new
revocation closes that device's session at once and sends every other peer a fresh ``hello``.

Per shared folder, a *pull* from a peer is::

    heads  -> compare with ours (a different entry hash at a seq we hold = a fork: two histories
              of one device's log, reported as a folder error; the relay cannot forge entries,
              so this is what "the relay shows devices different histories" looks like)
    entries after our head, per device, in order -> Syncer.ingest (same checks as from the relay)
    Syncer.apply(touched) with LAN sources (blocks, deltas; relay as fallback), then publish

Pulls run when a session opens, when the peer says ``changed`` (its log grew), and every
:data:`ANTI_ENTROPY_S`. Our own appends (publish) notify every peer sharing the folder.

Requests served (all refuse a folder the session does not share with the same ``unknown_folder``
as a folder that does not exist, so nothing is learnt by probing):

==========  ===================================================  ================================
type        header                                               reply
==========  ===================================================  ================================
``heads``   folder                                               ``heads: {device: [seq, hash]}``
``entries`` folder, device, after, limit                         body: zstd(JSON list of entries)
``block``   folder, hash (hex), size                             body: the block's plaintext
``delta``   folder, blocks [[hash, size]...]; body: signature    body: librsync delta
``hello``   folders, certs, revoked (notification)               –
``changed`` folder (notification)                                –
==========  ===================================================  ================================
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from sync import chunker
from sync.errors import CoveError
from sync.executor import read_local_block, read_local_blocks, read_local_blocks_into
from sync.identity import DeviceIdentity
from sync.lan.certs import (
    CertificateError,
    DeviceCertificate,
    DeviceDirectory,
    DeviceRevocation,
    Membership,
    SameAccount,
)
from sync.lan.channel import MAX_HEADER, Body, BodyBuffer, ChannelError, handshake
from sync.lan.limits import Limits, Pauses
from sync.lan.session import BadRequest, RequestFailed, Session
from sync.lan.stream import FrameStream, open_stream, serve_streams
from sync.lan.sources import (
    MAX_SPAN,
    PREFETCH_MAX,
    PREFETCH_MAX_BLOCK,
    LanBlocks,
    LanDeltas,
    rsync_delta,
)
from sync.records import Block
from sync.wire.envelopes import EnvelopeError, LogEntry
from sync.wire.ids import is_device_id, is_folder_id

timing = logging.getLogger("cove.timing")

ANTI_ENTROPY_S = 30.0
DIAL_GRACE_S = 3.0
CONNECT_TIMEOUT_S = 5.0
ENTRIES_PER_REQUEST = 500
MAX_ENTRIES_BYTES = 8 * 1024 * 1024
MAX_SIGNATURE = 1024 * 1024
MAX_CERTS = 1000
MAX_REVOKED = 256  # revocations in one hello (the newest); with the certificates within HELLO_BUDGET
HELLO_BUDGET = MAX_HEADER - 16 * 1024
FORK_ERROR_PATH = ".cove/lan/fork"


@dataclass
class PeerRecord:
    device_id: str
    addresses: list[tuple[str, int]] = field(default_factory=list)
    last_seen: float = 0.0
    discovered: bool = False
    session: Session | None = None
    dialing: bool = False
    last_error: str = ""


@dataclass
class PeerStatus:
    device_id: str
    name: str
    connected: bool
    discovered: bool
    addresses: list[tuple[str, int]]
    last_seen: float
    folders: list[str]
    bytes_in: int
    bytes_out: int
    paused: bool
    last_error: str

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "addresses": [list(a) for a in self.addresses]}


@dataclass
class LanFolder:
    """What the service needs of one folder: a runner with a syncer attached."""

    runner: Any  # sync.folder.FolderRunner
    blocks: LanBlocks | None = None
    deltas: LanDeltas | None = None
    dirty: set[Session] = field(default_factory=set)
    worker: asyncio.Task | None = None
    forks: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.runner.folder.id

    @property
    def syncer(self) -> Any:
        return self.runner.syncer

    @property
    def index(self) -> Any:
        return self.runner.index

    @property
    def root(self) -> Path:
        return self.runner.folder.path

    def lock(self) -> Any:
        # Scans and applying remote changes never overlap: the runner's own lock.
        # (Wiring request: FolderRunner should expose this as a public method.)
        return self.runner.exclusive()


def _entry_hash_of(wire: str) -> str:
    return LogEntry.from_wire(json.loads(wire)).entry_hash()


class LanService:
    def __init__(
        self,
        identity: DeviceIdentity,
        account_sign_pk: bytes,
        cert: DeviceCertificate,
        directory: DeviceDirectory,
        *,
        membership: Membership | None = None,
        limits: Limits | None = None,
        pauses: Pauses | None = None,
        report: Callable[[str], None] = lambda line: None,
        status_path: Path | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.identity = identity
        self.account_sign_pk = account_sign_pk
        self.cert = cert
        self.directory = directory
        self.membership = membership or SameAccount()
        self.limits = limits or Limits()
        self.pauses = pauses or Pauses()
        self.report = report
        self.status_path = status_path
        self.clock = clock
        self.folders: dict[str, LanFolder] = {}
        self.peers: dict[str, PeerRecord] = {}
        self.port = 0
        self._servers: list[asyncio.base_events.Server] = []
        self._tasks: set[asyncio.Task] = set()
        self._stopping = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed_bytes_in = 0  # of sessions that ended (totals = these + open sessions')
        self.closed_bytes_out = 0
        self.pulls_done = 0  # pulls that completed (tests wait on this through conditions)
        self.changed = asyncio.Event()  # set whenever something a test or status may wait on moved
        directory.add(cert)
        directory.on_revoked.append(self._revoked_callback)

    @property
    def device_id(self) -> str:
        return self.identity.device_id

    # -- folders -----------------------------------------------------------------------------

    def add_folder(self, runner: Any) -> LanFolder:
        """Serve and pull ``runner``'s folder (it must have a syncer attached). The executor gets
        LAN sources in front of whatever it had (the relay's blocks stay the fallback)."""
        if runner.syncer is None:
            raise CoveError(f"{runner.folder.path}: attach a transport before adding the folder to the LAN")
        f = LanFolder(runner)
        executor = runner.syncer.executor
        f.blocks = LanBlocks(self, f.id, executor.blocks)
        f.deltas = LanDeltas(self, f.id, f.root, f.index, f.blocks)
        executor.blocks = f.blocks
        executor.files = f.deltas
        self.folders[f.id] = f
        return f

    def on_append(self, folder: str, entry: LogEntry) -> None:
        """Our log grew (publish): tell every peer that shares the folder."""
        for s in self.peers_for(folder):
            self._spawn(s.notify({"t": "changed", "folder": folder}))

    def peers_for(self, folder: str) -> list[Session]:
        if self.pauses.folder_paused(folder):
            return []
        out = []
        for p in self.peers.values():
            s = p.session
            if s is not None and not s.closed.is_set() and folder in s.shared and not self.pauses.peer_paused(p.device_id):
                out.append(s)
        return out

    # -- connections -------------------------------------------------------------------------

    async def start(self, host: str | list[str] | None = None, port: int = 0) -> int:
        """Listen for peers (all interfaces by default); returns the port."""
        self.loop = asyncio.get_running_loop()
        # One port for every address: discovery announces a single port with all the addresses
        # (asyncio alone would give the IPv4 and IPv6 sockets different ephemeral ports).
        hosts = ["0.0.0.0", "::"] if host is None else [host] if isinstance(host, str) else list(host)
        for h in hosts:
            try:
                server = await serve_streams(self._accept, h, port, reuse_address=True)
            except OSError:
                if self._servers and ":" in h:  # no IPv6 here: IPv4 alone will do
                    continue
                raise
            self._servers.append(server)
            port = server.sockets[0].getsockname()[1]
        self.port = port
        self._spawn(self._anti_entropy())
        return self.port

    async def stop(self) -> None:
        self._stopping = True
        for server in self._servers:
            server.close()
        for p in self.peers.values():
            if p.session is not None:
                p.session.close()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for f in self.folders.values():
            if f.worker is not None:
                f.worker.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await f.worker
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _throttle(self) -> tuple[Callable[[int], Any], Callable[[int], Any]]:
        return self.limits.lan_up.take, self.limits.lan_down.take

    async def _accept(self, stream: FrameStream) -> None:
        try:
            chan = await handshake(
                stream, initiator=False, device_key=self.identity.signing_key, cert=self.cert,
                account_sign_pk=self.account_sign_pk, throttle=self._throttle(), refuse=self.directory.is_revoked,
            )
        except (ChannelError, OSError) as e:
            self.report(f"lan: refused a connection: {e}")
            return
        if self.pauses.peer_paused(chan.peer_id) or self._stopping:
            chan.close()
            return
        await self._open_session(chan)

    async def connect(self, host: str, port: int, expected: str | None = None) -> Session:
        """Dial a peer (expected: the device ID discovery announced; proven by the handshake)."""
        self.loop = asyncio.get_running_loop()
        try:
            stream = await asyncio.wait_for(open_stream(host, port), CONNECT_TIMEOUT_S)
        except (TimeoutError, OSError) as e:
            raise RequestFailed("unreachable", f"{host}:{port}: {e}") from e
        chan = await handshake(
            stream, initiator=True, device_key=self.identity.signing_key, cert=self.cert,
            account_sign_pk=self.account_sign_pk, expected_peer=expected, throttle=self._throttle(),
            refuse=self.directory.is_revoked,
        )
        return await self._open_session(chan)

    async def _open_session(self, chan: Any) -> Session:
        peer = self.peers.setdefault(chan.peer_id, PeerRecord(chan.peer_id))
        old = peer.session
        if old is not None and not old.closed.is_set():
            # Both dialled at once: keep the connection the smaller device ID initiated.
            keep_new = (chan.initiator and self.device_id < chan.peer_id) or (
                not chan.initiator and chan.peer_id < self.device_id)
            if not keep_new:
                chan.close()
                return old
            old.close()
        session = Session(chan, self._handle, on_close=self._closed)
        peer.session = session
        peer.last_seen = self.clock()
        peer.last_error = ""
        self.directory.add(chan.peer)
        session.start()
        await session.notify(self._hello(chan.peer))
        self.report(f"lan: connected to {chan.peer_id[:7]}")
        self._changed()
        return session

    def _hello(self, peer: DeviceCertificate) -> dict[str, Any]:
        ours = self.membership.folders_for(peer, [f for f in self.folders if not self.pauses.folder_paused(f)])
        newest = sorted(self.directory.revocations(), key=lambda r: (-r.revoked_at, r.device_id))[:MAX_REVOKED]
        revoked = [r.to_wire() for r in newest]
        budget = HELLO_BUDGET - len(json.dumps(revoked)) - len(json.dumps(sorted(ours)))
        certs = []
        for c in self.directory.certificates()[:MAX_CERTS]:  # revocations first: they matter more
            w = c.to_wire()
            budget -= len(json.dumps(w)) + 2
            if budget < 0:
                break
            certs.append(w)
        return {"t": "hello", "folders": sorted(ours), "certs": certs, "revoked": revoked}

    def _revoked_callback(self, device_ids: set[str]) -> None:
        loop = self.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is not None and running is not loop and not loop.is_closed():
            loop.call_soon_threadsafe(self.refuse_revoked, device_ids)  # told from another thread
        else:
            self.refuse_revoked(device_ids)

    def refuse_revoked(self, device_ids: set[str]) -> None:
        """The account revoked ``device_ids`` (a peer's hello, ``cove devices revoke``, the relay's
        device list): close their sessions now, make the syncers look them up again (they are
        refused from now on), and pass the news to every other peer in a fresh ``hello``."""
        for device_id in device_ids:
            if device_id == self.device_id:
                self.report("lan: this device was removed from the account; peers refuse it")
                continue
            for f in self.folders.values():
                # The syncer caches device lists; drop the entry so it asks the transport again.
                # (Wiring request: Syncer should expose this as a public forget_device().)
                cache = getattr(f.syncer, "_devices", None)
                if isinstance(cache, dict):
                    cache.pop(device_id, None)
            peer = self.peers.get(device_id)
            if peer is not None and peer.session is not None and not peer.session.closed.is_set():
                peer.session.close()
                self.report(f"lan: {device_id[:7]} was revoked; disconnected")
        for p in self.peers.values():
            s = p.session
            if s is not None and not s.closed.is_set() and p.device_id not in device_ids:
                self._spawn(s.notify(self._hello(s.channel.peer)))
        self._changed()

    def _closed(self, session: Session) -> None:
        self.closed_bytes_in += session.channel.counters.bytes_in
        self.closed_bytes_out += session.channel.counters.bytes_out
        peer = self.peers.get(session.peer_id)
        if peer is not None and peer.session is session:
            peer.session = None
            peer.last_error = session.close_reason
        self.report(f"lan: {session.peer_id[:7]} disconnected ({session.close_reason or 'closed'})")
        self._changed()

    def _changed(self) -> None:
        self.changed.set()
        if self.status_path is not None:
            self._write_status()

    # -- discovery ---------------------------------------------------------------------------

    def discovered(self, device_id: str, addresses: list[tuple[str, int]] | None) -> None:
        """Discovery's callback: a peer appeared (or changed addresses), or left (None)."""
        if device_id == self.device_id or not is_device_id(device_id):
            return
        peer = self.peers.setdefault(device_id, PeerRecord(device_id))
        if addresses is None:
            peer.discovered = False
            self._changed()
            return
        peer.addresses = addresses
        peer.discovered = True
        peer.last_seen = self.clock()
        self._changed()
        if (peer.session is None and not peer.dialing and not self.pauses.peer_paused(device_id) and not self._stopping
                and not self.directory.is_revoked(device_id)):
            peer.dialing = True
            self._spawn(self._dial(peer))

    async def _dial(self, peer: PeerRecord) -> None:
        try:
            if self.device_id > peer.device_id:
                # The other side dials; step in only if it has not after a grace period.
                for _ in range(int(DIAL_GRACE_S * 10)):
                    if peer.session is not None:
                        return
                    await asyncio.sleep(0.1)
            backoff = 0.5
            while peer.session is None and peer.discovered and not self._stopping:
                for host, port in list(peer.addresses):
                    try:
                        await self.connect(host, port, expected=peer.device_id)
                        return
                    except (CoveError, OSError) as e:
                        peer.last_error = str(e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
        finally:
            peer.dialing = False

    # -- serving -----------------------------------------------------------------------------

    def _shared(self, session: Session, header: dict[str, Any]) -> LanFolder:
        fid = header.get("folder")
        f = self.folders.get(fid) if isinstance(fid, str) else None
        if f is None or fid not in session.shared or self.pauses.folder_paused(fid) or self.pauses.peer_paused(session.peer_id):
            raise BadRequest("unknown_folder", "no such folder")
        return f

    async def _handle(self, session: Session, h: dict[str, Any], body: bytes) -> tuple[dict[str, Any], Body] | None:
        t = h["t"]
        if t == "hello":
            folders = h.get("folders")
            certs = h.get("certs")
            revoked = h.get("revoked", [])  # absent from peers older than revocations
            if (not isinstance(folders, list) or not isinstance(certs, list) or len(certs) > MAX_CERTS
                    or not isinstance(revoked, list) or len(revoked) > MAX_REVOKED):
                raise BadRequest("bad_hello")
            for w in revoked:  # first: a certificate of a device revoked in the same hello is refused
                with contextlib.suppress(CertificateError):
                    self.directory.revoke(DeviceRevocation.from_wire(w))
            if self.directory.is_revoked(session.peer_id):
                return None  # the peer itself is revoked: its session was closed just now
            for w in certs:
                with contextlib.suppress(CertificateError):
                    self.directory.add(DeviceCertificate.from_wire(w))
            mine = self.membership.folders_for(session.channel.peer, list(self.folders))
            session.shared = {f for f in folders if isinstance(f, str) and is_folder_id(f)} & mine
            for fid in session.shared:
                self.request_pull(fid, session)
            self._changed()
            return None
        if t == "changed":
            fid = h.get("folder")
            if isinstance(fid, str) and fid in session.shared:
                self.request_pull(fid, session)
            return None
        if t == "heads":
            f = self._shared(session, h)
            return {"t": t, "heads": {d: [s, x] for d, (s, x) in f.index.heads().items()}}, b""
        if t == "entries":
            f = self._shared(session, h)
            device, after, limit = h.get("device"), h.get("after"), h.get("limit", ENTRIES_PER_REQUEST)
            if not is_device_id(device) or not _nonneg(after) or not _nonneg(limit) or limit > 1000:
                raise BadRequest("bad_request", "entries needs device, after >= 0, limit <= 1000")
            wires = f.index.entries_after(device, after, max(1, limit))
            out, size = [], 0
            for w in wires:
                if out and size + len(w) > MAX_ENTRIES_BYTES:
                    break
                out.append(w)
                size += len(w)
            text = ("[" + ",".join(out) + "]").encode()
            if h.get("dict") is True and after > 0:
                # Compressed against the entries just before ``after``, which the asker holds too
                # (byte for byte): a rename's entry repeats the block IDs of the file's last one.
                prefix = _dict_prefix(f.index, device, after)
                if prefix:
                    zd = zstandard.ZstdCompressionDict(prefix, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
                    return {"t": t, "count": len(out), "dict": True}, zstandard.ZstdCompressor(level=3, dict_data=zd).compress(text)
            return {"t": t, "count": len(out)}, zstandard.ZstdCompressor(level=3).compress(text)
        if t == "block":
            f = self._shared(session, h)
            block = _block(h.get("hash"), h.get("size"))
            data = await asyncio.to_thread(read_local_block, f.root, f.index, block)
            if data is None:
                raise BadRequest("not_found", "block not held")
            return {"t": t}, data
        if t == "blocks":
            f = self._shared(session, h)
            spec = h.get("blocks")
            if not isinstance(spec, list) or not spec or len(spec) > 10_000:
                raise BadRequest("bad_request", "blocks needs a list of [hash, size]")
            blocks = [_block(x[0], x[1]) if isinstance(x, list) and len(x) == 2 else _block(None, None) for x in spec]
            if sum(b.size for b in blocks) > MAX_SPAN:
                raise BadRequest("too_large", "ask for at most 8 MiB at once")

            def read_all() -> tuple[list[bool], BodyBuffer]:
                # Read straight into the reply: room in front for its header ({"found": [...],
                # "re": id, "t": "blocks"}), the blocks found packed after it.
                room = 64 + 6 * len(blocks)
                buf = bytearray(room + sum(b.size for b in blocks))
                found, end = read_local_blocks_into(f.root, f.index, blocks, buf, room)
                del buf[end:]
                return found, BodyBuffer(buf, room)

            found, data = await asyncio.to_thread(read_all)
            return {"t": t, "found": found}, data
        if t == "delta":
            f = self._shared(session, h)
            spec = h.get("blocks")
            if not isinstance(spec, list) or not spec or len(body) > MAX_SIGNATURE:
                raise BadRequest("bad_request", "delta needs blocks and a signature")
            blocks = [_block(x[0], x[1]) if isinstance(x, list) and len(x) == 2 else _block(None, None) for x in spec]
            if sum(b.size for b in blocks) > MAX_SPAN + chunker.MAX_SIZE:
                raise BadRequest("too_large", "span too large")

            def make() -> bytes | None:
                parts = read_local_blocks(f.root, f.index, blocks)
                if any(d is None for d in parts):
                    return None
                return rsync_delta(b"".join(parts), body)  # type: ignore[arg-type]

            try:
                delta = await asyncio.to_thread(make)
            except Exception as e:
                raise BadRequest("bad_signature", f"cannot use that signature: {e}") from e
            if delta is None:
                raise BadRequest("not_found", "blocks not held")
            return {"t": t}, delta
        raise BadRequest("unknown_type", f"unknown request {t[:32]!r}")

    # -- pulling -----------------------------------------------------------------------------

    def request_pull(self, folder: str, session: Session) -> None:
        f = self.folders.get(folder)
        if f is None or self.pauses.folder_paused(folder) or self._stopping:
            return
        f.dirty.add(session)
        if f.worker is None or f.worker.done():
            f.worker = asyncio.ensure_future(self._pull_worker(f))

    async def _pull_worker(self, f: LanFolder) -> None:
        while f.dirty and not self._stopping:
            session = f.dirty.pop()
            if session.closed.is_set():
                continue
            try:
                await self.pull(f, session)
            except (CoveError, EnvelopeError, ValueError) as e:
                self.report(f"{f.root}: pull from {session.peer_id[:7]}: {e}")
            self.pulls_done += 1
            self._changed()

    async def pull(self, f: LanFolder, session: Session) -> int:
        """One exchange with one peer for one folder; returns the entries ingested."""
        t0 = time.monotonic()
        h, _ = await session.request({"t": "heads", "folder": f.id})
        heads = h.get("heads")
        if not isinstance(heads, dict):
            raise RequestFailed("bad_reply", "heads is not an object")
        entries: list[LogEntry] = []
        for device, head in sorted(heads.items()):
            if not is_device_id(device) or not (isinstance(head, list) and len(head) == 2 and _nonneg(head[0])
                                                and isinstance(head[1], str)):
                raise RequestFailed("bad_reply", "malformed head")
            pseq, phash = head
            mine = f.index.head(device)
            myseq, myhash = mine if mine else (0, None)
            if pseq <= myseq:
                held = f.index.entries_after(device, pseq - 1, 1) if pseq > 0 else []
                if held and _entry_hash_of(held[0]) != phash:
                    self._fork(f, device, pseq, session)
                continue
            after = myseq
            while after < pseq:
                wires = await self._fetch_entries(f, session, device, after)
                if not isinstance(wires, list) or not wires:
                    break
                for w in wires:
                    e = LogEntry.from_wire(w)
                    if e.device != device or e.folder != f.id or e.seq != after + 1:
                        raise RequestFailed("bad_reply", "entries out of order")
                    if after == myseq and myhash is not None and e.prev != myhash:
                        self._fork(f, device, myseq, session)
                        break
                    entries.append(e)
                    after = e.seq
                else:
                    continue
                break
        if not entries:
            return 0
        t1 = time.monotonic()
        async with f.lock():
            report = await f.syncer.ingest(entries)
            timing.debug("lan pull %s from %s: %d entries fetched in %.3f s, ingested in %.3f s, %d paths touched",
                         f.id[:8], session.peer_id[:7], len(entries), t1 - t0, time.monotonic() - t1, len(report.touched))
            if report.refused:
                self.report(f"{f.root}: refused {len(report.refused)} entries from {session.peer_id[:7]}: {report.refused[0]}")
            if report.touched or f.syncer._retry:
                # Small files' blocks arrive in batches while the executor already stages the
                # first ones (it waits for a block that is on its way rather than asking again).
                prefetch = asyncio.ensure_future(self._prefetch(f, report.touched))
                try:
                    await f.syncer.apply(report.touched)
                except BaseException:
                    prefetch.cancel()
                    raise
                finally:
                    # Normally done by now (the executor waited for its blocks); finished, not
                    # cancelled, so no request is abandoned mid-send.
                    with contextlib.suppress(asyncio.CancelledError, CoveError, OSError):
                        await prefetch
                    assert f.blocks is not None
                    f.blocks.cache.clear()
            await f.syncer.publish()
        return report.entries

    async def _prefetch(self, f: LanFolder, touched: set[str]) -> None:
        """Small files' blocks that no local file holds, fetched in batches before applying."""
        assert f.blocks is not None
        want: dict[bytes, Block] = {}
        total = 0
        for path in sorted(touched):
            for rr in f.index.remote_for(path):
                r = rr.record
                if r.deleted or r.type.value != "file" or len(r.blocks) != 1:
                    continue
                b = r.blocks[0]
                if b.hash in want or b.size > PREFETCH_MAX_BLOCK or f.index.block_sources(b.hash):
                    continue
                want[b.hash] = b
                total += b.size
                if total >= PREFETCH_MAX:
                    break
        if want:
            await f.blocks.prefetch(list(want.values()))

    async def _fetch_entries(self, f: LanFolder, session: Session, device: str, after: int) -> Any:
        req = {"t": "entries", "folder": f.id, "device": device, "after": after, "limit": ENTRIES_PER_REQUEST}
        for use_dict in (True, False):
            h, body = await session.request({**req, "dict": use_dict})
            try:
                if h.get("dict") is True:
                    prefix = _dict_prefix(f.index, device, after)
                    if not prefix:
                        continue
                    zd = zstandard.ZstdCompressionDict(prefix, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
                    plain = zstandard.ZstdDecompressor(dict_data=zd).decompress(body, max_output_size=64 * MAX_ENTRIES_BYTES)
                else:
                    plain = zstandard.ZstdDecompressor().decompress(body, max_output_size=64 * MAX_ENTRIES_BYTES)
                return json.loads(plain)
            except (zstandard.ZstdError, ValueError) as e:
                if not use_dict:
                    raise RequestFailed("bad_reply", f"entries unreadable: {e}") from e
        raise RequestFailed("bad_reply", "entries unreadable")

    def _fork(self, f: LanFolder, device: str, seq: int, session: Session) -> None:
        msg = (f"device {device[:7]}'s log differs at entry {seq} between peer {session.peer_id[:7]} and this "
               "device's copy: the relay (or a peer) shows different devices different histories")
        if msg not in f.forks:
            f.forks.append(msg)
            f.index.record_errors([(FORK_ERROR_PATH, "history_fork", msg)], clear_under=[FORK_ERROR_PATH])
            self.report(f"{f.root}: {msg}")

    async def _anti_entropy(self) -> None:
        while not self._stopping:
            await asyncio.sleep(ANTI_ENTROPY_S)
            for fid in self.folders:
                for s in self.peers_for(fid):
                    self.request_pull(fid, s)

    # -- pause / status ----------------------------------------------------------------------

    def pause_folder(self, folder: str) -> None:
        self.pauses.folders.add(folder)
        self._changed()

    def resume_folder(self, folder: str) -> None:
        self.pauses.folders.discard(folder)
        for s in self.peers_for(folder):
            self.request_pull(folder, s)
        self._changed()

    def pause_peer(self, device_id: str) -> None:
        self.pauses.peers.add(device_id)
        peer = self.peers.get(device_id)
        if peer is not None and peer.session is not None:
            peer.session.close()
        self._changed()

    def resume_peer(self, device_id: str) -> None:
        self.pauses.peers.discard(device_id)
        peer = self.peers.get(device_id)
        if peer is not None and peer.discovered:
            self.discovered(device_id, peer.addresses)
        self._changed()

    def status(self) -> list[PeerStatus]:
        out = []
        for p in sorted(self.peers.values(), key=lambda p: p.device_id):
            cert = self.directory.get(p.device_id)
            s = p.session
            connected = s is not None and not s.closed.is_set()
            out.append(PeerStatus(
                device_id=p.device_id, name=cert.username if cert else "", connected=connected,
                discovered=p.discovered, addresses=list(p.addresses), last_seen=p.last_seen,
                folders=sorted(s.shared) if connected and s is not None else [],
                bytes_in=s.channel.counters.bytes_in if s else 0, bytes_out=s.channel.counters.bytes_out if s else 0,
                paused=self.pauses.peer_paused(p.device_id), last_error=p.last_error,
            ))
        return out

    def totals(self) -> tuple[int, int]:
        """Bytes received and sent over all peer channels since start (frames, as on the wire)."""
        live = [p.session.channel.counters for p in self.peers.values() if p.session is not None]
        return (self.closed_bytes_in + sum(c.bytes_in for c in live),
                self.closed_bytes_out + sum(c.bytes_out for c in live))

    def _write_status(self) -> None:
        assert self.status_path is not None
        doc = {
            "device_id": self.device_id, "port": self.port, "updated": self.clock(),
            "peers": [p.to_json() for p in self.status()],
            "paused_folders": sorted(self.pauses.folders),
            "forks": {fid: f.forks for fid, f in self.folders.items() if f.forks},
            "bytes_in": self.totals()[0], "bytes_out": self.totals()[1],
        }
        try:
            self.status_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.status_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
            tmp.replace(self.status_path)
        except OSError:
            pass


DICT_ENTRIES = 4
DICT_MAX_BYTES = 4 * 1024 * 1024


def _dict_prefix(index: Any, device: str, after: int) -> bytes:
    """The wire text of ``device``'s entries up to ``after`` (the last few), as a zstd prefix."""
    wires = index.entries_after(device, max(0, after - DICT_ENTRIES), DICT_ENTRIES)
    if not wires or json.loads(wires[-1]).get("seq") != after:
        return b""
    return "".join(wires).encode()[-DICT_MAX_BYTES:]


def _nonneg(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**62


def _block(hash_hex: Any, size: Any) -> Block:
    if not isinstance(hash_hex, str) or len(hash_hex) != 64 or not _nonneg(size) or not 0 < size <= chunker.MAX_SIZE:
        raise BadRequest("bad_request", "a block is a 64-hex hash and a size up to 1 MiB")
    try:
        return Block(bytes.fromhex(hash_hex), size)
    except ValueError as e:
        raise BadRequest("bad_request", "bad block hash") from e
