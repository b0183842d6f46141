"""A one-offer link mailbox on the LAN: how a device with no relay hands a sealed link offer over.

The relay's link mailbox (``POST /v1/link``, ``GET /v1/link/{slot}``) keeps a sealed
:class:`sync.keys.LinkOffer` blob under the public *slot* of its pairing code and gives it out
once. Without a relay, the offering device is the mailbox itself, for one offer and a limited time:

* :class:`OfferServer` / :func:`serve_offer` listen on an ephemeral TCP port and announce
  ``<slot>-<random>._cove-link._tcp.local.`` with TXT ``{v, slot}`` — only the public slot, never
  anything of the secret. It answers exactly one well-formed request for its slot with the blob
  (single use, as the relay), then stops; or stops when the TTL runs out.
* :func:`fetch_offer` browses ``_cove-link._tcp``, connects to the announcements whose TXT slot
  is the one asked for, requests the blob and returns it. Opening it is the caller's business
  (:func:`sync.keys.accept_link` with the whole code).

Handing the blob to anyone who asks is safe for the same reason it is safe on the relay: it is
sealed with XChaCha20-Poly1305 under Argon2id of the code, whose secret part (90 bits) never
leaves the two devices' screens. Someone else on the LAN can take the offer first — the offering
device then reports it as fetched and the new device finds nothing: a denial of service, solved by
running ``cove link`` again — but cannot open it. It is not part of :class:`~sync.lan.service.
LanService` (no handshake, no device keys: the new device has none yet).

Protocol (version 1), one request per connection::

    client -> server   "COVELNK1" || slot (5 ASCII bytes)                      13 bytes, within 5 s
    server -> client   u32 length || blob  (length 1..64 KiB)                  the offer, once
                       u32 0                                                   no such offer (any
                                                                               other slot, or given
                                                                               out already)

Anything else — a different magic, fewer bytes within the time limit — closes the connection
without a reply. A request for another slot does not use the offer up. The server reads at most
13 bytes of a request and serves at most :data:`MAX_CONNECTIONS` connections at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import socket
import struct
from dataclasses import dataclass

from zeroconf import IPVersion, ServiceStateChange, Zeroconf, get_all_addresses, get_all_addresses_v6
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from sync.keys import SLOT_LEN, LinkError, LinkOffer

SERVICE_TYPE = "_cove-link._tcp.local."
PROTOCOL_VERSION = 1
MAGIC = b"COVELNK1"
REQUEST_SIZE = len(MAGIC) + SLOT_LEN
MAX_BLOB = 64 * 1024  # an offer is the account keys and a few keyrings: ~1 KiB
MAX_CONNECTIONS = 16
REQUEST_TIMEOUT = 5.0  # seconds for a client to send its request
WRITE_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0
REPLY_TIMEOUT = 10.0
RESOLVE_TIMEOUT_MS = 3000
_LENGTH = struct.Struct(">I")


class Outcome(enum.Enum):
    FETCHED = "fetched"  # a device took the offer (it is used up)
    EXPIRED = "expired"  # the TTL ran out; nobody took it


@dataclass(frozen=True)
class Served:
    """How serving an offer ended; ``peer`` is the address of the device that fetched it."""

    outcome: Outcome
    peer: str = ""


def _packed(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr.split("%")[0])


def _zeroconf(interfaces: list[str] | None) -> tuple[AsyncZeroconf, list[str]]:
    """An AsyncZeroconf on ``interfaces`` (all by default, as :class:`sync.lan.discovery.Discovery`)
    and the addresses to announce."""
    if interfaces:
        return AsyncZeroconf(interfaces=list(interfaces), ip_version=IPVersion.All), list(interfaces)
    v6 = [a[0][0] if isinstance(a, tuple) else str(a) for a in get_all_addresses_v6()]
    addrs = list(get_all_addresses()) + [a for a in v6 if not a.startswith("fe80")]
    return AsyncZeroconf(ip_version=IPVersion.All), addrs


class OfferServer:
    """Serves one sealed offer blob under its slot until it is fetched or :meth:`close` d."""

    def __init__(self, slot: str, blob: bytes, interfaces: list[str] | None = None):
        if len(slot) != SLOT_LEN or not slot.isascii():
            raise ValueError("a slot is 5 ASCII characters")
        if not 0 < len(blob) <= MAX_BLOB:
            raise ValueError(f"a link offer blob is 1..{MAX_BLOB} bytes")
        self.slot = slot
        self.blob = bytes(blob)
        self.interfaces = list(interfaces) if interfaces else None
        self.port = 0
        self.name = f"{slot.lower()}-{os.urandom(4).hex()}.{SERVICE_TYPE}"
        self.fetched = asyncio.Event()
        self.fetched_by = ""
        self._used = False
        self._servers: list[asyncio.base_events.Server] = []
        self._handlers: set[asyncio.Task] = set()
        self._zc: AsyncZeroconf | None = None

    async def start(self, announce: bool = True) -> int:
        """Listen (the given interfaces' addresses, else every address, one port for all) and
        announce the slot. Returns the port."""
        hosts = self.interfaces or ["0.0.0.0", "::"]
        try:
            for host in hosts:
                try:
                    server = await asyncio.start_server(self._accept, host=host, port=self.port)
                except OSError:
                    if self._servers and host == "::":  # no IPv6 here: IPv4 alone will do
                        continue
                    raise
                self._servers.append(server)
                self.port = server.sockets[0].getsockname()[1]
            if announce:
                zc, addrs = _zeroconf(self.interfaces)
                self._zc = zc
                info = AsyncServiceInfo(
                    SERVICE_TYPE, self.name, port=self.port,
                    properties={"v": str(PROTOCOL_VERSION), "slot": self.slot},
                    addresses=[_packed(a) for a in addrs],
                    server=self.name.split(".")[0] + ".local.",
                )
                await zc.async_register_service(info)
        except BaseException:
            await self.close()
            raise
        return self.port

    async def wait(self, ttl: float) -> Served:
        """Until the offer is fetched (→ FETCHED) or ``ttl`` seconds passed (→ EXPIRED)."""
        try:
            await asyncio.wait_for(self.fetched.wait(), ttl)
        except TimeoutError:
            self._used = True  # an expired offer is never given out, not even by a late request
            if self.fetched_by:  # it was being handed out just as the time ran out
                return Served(Outcome.FETCHED, self.fetched_by)
            return Served(Outcome.EXPIRED)
        return Served(Outcome.FETCHED, self.fetched_by)

    async def close(self) -> None:
        self._used = True
        for server in self._servers:
            server.close()
        if self._zc is not None:
            with contextlib.suppress(Exception):
                await self._zc.async_unregister_all_services()
            with contextlib.suppress(Exception):
                await self._zc.async_close()
            self._zc = None
        for task in list(self._handlers):
            task.cancel()
        for task in list(self._handlers):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._handlers) >= MAX_CONNECTIONS or task is None:
            writer.close()
            return
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await asyncio.wait_for(reader.readexactly(REQUEST_SIZE), REQUEST_TIMEOUT)
        if request[: len(MAGIC)] != MAGIC:
            return  # not our protocol: close without a word
        if self._used or request[len(MAGIC) :] != self.slot.encode("ascii"):
            writer.write(_LENGTH.pack(0))  # no such offer; this offer stays available
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
            return
        self._used = True  # single use from here on, as the relay's mailbox (even if the write fails)
        peer = writer.get_extra_info("peername")
        self.fetched_by = str(peer[0]) if peer else "?"
        try:
            writer.write(_LENGTH.pack(len(self.blob)) + self.blob)
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
        finally:
            self.fetched.set()


async def serve_offer(offer: LinkOffer, interfaces: list[str] | None, ttl: float) -> Served:
    """Announce ``offer`` on the LAN and give it to the first device that asks for its slot;
    returns when it was fetched or ``ttl`` seconds passed (:class:`Outcome`)."""
    server = OfferServer(offer.slot, offer.blob, interfaces)
    await server.start()
    try:
        return await server.wait(ttl)
    finally:
        await server.close()


async def request_offer(host: str, port: int, slot: str) -> bytes | None:
    """Ask one mailbox for ``slot``: the blob, or None when it has no such offer."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
    try:
        writer.write(MAGIC + slot.encode("ascii"))
        await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
        (length,) = _LENGTH.unpack(await asyncio.wait_for(reader.readexactly(_LENGTH.size), REPLY_TIMEOUT))
        if length == 0:
            return None
        if length > MAX_BLOB:
            raise LinkError(f"the device at {host} sent an oversized link offer ({length} bytes); refusing it")
        return await asyncio.wait_for(reader.readexactly(length), REPLY_TIMEOUT)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)


class _Fetch:
    """One browse for a slot: resolves matching announcements and asks each until one gives a blob."""

    def __init__(self, slot: str):
        self.slot = slot
        self.result: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.seen: set[str] = set()  # matching announcements
        self.used_up = False  # a matching device answered "no such offer"
        self.failures: list[str] = []
        self.tasks: set[asyncio.Task] = set()
        self.resolving: set[str] = set()  # names being resolved or asked (repeated events ignored)

    def on_event(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed or self.result.done():
            return
        if not name.lower().startswith(self.slot.lower() + "-"):
            return  # the instance name carries the slot: skip others without resolving them
        if name in self.resolving:
            return  # asking it twice at once would make our own second request see "no such offer"
        self.resolving.add(name)
        task = asyncio.ensure_future(self._resolve(zeroconf, service_type, name))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(lambda _: self.resolving.discard(name))

    async def _resolve(self, zeroconf: Zeroconf, service_type: str, name: str) -> None:
        info = AsyncServiceInfo(service_type, name)
        if not await info.async_request(zeroconf, RESOLVE_TIMEOUT_MS):
            return
        props = {k.decode(errors="replace"): (v or b"").decode(errors="replace") for k, v in info.properties.items()}
        port = info.port or 0
        if props.get("v") != str(PROTOCOL_VERSION) or props.get("slot") != self.slot or not 0 < port < 65536:
            return
        self.seen.add(name)
        for addr in info.parsed_scoped_addresses():
            if self.result.done():
                return
            try:
                blob = await request_offer(addr, port, self.slot)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, LinkError) as e:
                self.failures.append(f"{addr}: {e or type(e).__name__}")
                continue
            if blob is None:  # it announced this slot but has given the offer out: no use waiting
                self.used_up = True
                if not self.result.done() and len(self.resolving) <= 1:  # (unless another is asked)
                    self.result.set_exception(self.error(0))
                return
            if not self.result.done():
                self.result.set_result(blob)
            return

    def error(self, timeout: float) -> LinkError:
        if self.used_up:
            return LinkError(
                "the device offering this code has given its offer out already (a code works once): "
                "run `cove link` again on your other device and use the new code"
            )
        if self.seen:
            detail = "; ".join(self.failures[:3]) or "no reply"
            return LinkError(f"found the device offering this code but could not fetch the offer ({detail})")
        return LinkError(
            f"no device on this network offered this pairing code within {timeout:g} s: is `cove link` still "
            "running on your other device, on the same network, and is the code right?"
        )


async def fetch_offer(slot: str, interfaces: list[str] | None, timeout: float) -> bytes:
    """Find the device on the LAN that offers ``slot`` and take its blob (single use).

    Raises :class:`~sync.keys.LinkError` when no device offers it within ``timeout`` seconds, or
    the one that announced it has given it out already."""
    if len(slot) != SLOT_LEN or not slot.isascii():
        raise LinkError("a pairing code's slot is 5 characters")
    fetch = _Fetch(slot)
    zc, _ = _zeroconf(interfaces)
    browser = None
    try:
        browser = AsyncServiceBrowser(zc.zeroconf, [SERVICE_TYPE], handlers=[fetch.on_event])
        try:
            return await asyncio.wait_for(asyncio.shield(fetch.result), timeout)
        except TimeoutError:
            raise fetch.error(timeout) from None
    finally:
        if fetch.result.done() and not fetch.result.cancelled():
            fetch.result.exception()  # retrieved, whichever way this ended
        for task in list(fetch.tasks):
            task.cancel()
        for task in list(fetch.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if browser is not None:
            with contextlib.suppress(Exception):
                await browser.async_cancel()
        with contextlib.suppress(Exception):
            await zc.async_close()
