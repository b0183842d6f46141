"""``sync.relay_client.RelayClient`` against a real relay on 127.0.0.1 (``relay_server`` fixture):
accounts and devices, token refresh, blocks, appends with compare-and-set, paging, cursors,
device-key verification, the error hierarchy, retries, and notifications across a relay restart.

A small tampering proxy (:class:`Proxy`) stands between client and relay where a test needs the
relay to lie or fail (flipped block bytes, swapped device keys, malformed entries, lost replies).
Waits are bounded by deadlines and events; no test sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from sync.identity import DeviceIdentity
from sync.relay_client import (
    AppendNotice,
    AuthError,
    Forbidden,
    HeadMismatch,
    Hello,
    IncompatibleRelay,
    MalformedEntry,
    MissingBlocks,
    NotFound,
    QuotaExceeded,
    RelayClient,
    RelayError,
    RelayIntegrityError,
    RelayTransport,
    RelayUnavailable,
)
from sync.wire.canonical import b64encode
from sync.wire.envelopes import GENESIS_HASH, LogEntry, MembershipChange

PASSWORD = "correct horse battery"
DEADLINE = 10.0


def block(data: bytes) -> tuple[str, bytes]:
    return hashlib.blake2b(data, digest_size=32, key=b"test-key").hexdigest(), data


@dataclass
class User:
    username: str
    sign: SigningKey
    box: PrivateKey


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


async def new_device(base: str, session: aiohttp.ClientSession, user: User, name: str = "laptop",
                     **kw: object) -> RelayClient:
    client = RelayClient(base, DeviceIdentity(SigningKey.generate()), session, retry_sleep=no_sleep, **kw)  # type: ignore[arg-type]
    await client.login(user.username, PASSWORD)
    await client.register_device(name)
    return client


async def new_user(base: str, session: aiohttp.ClientSession, username: str, devices: int = 1,
                   **kw: object) -> tuple[User, list[RelayClient]]:
    user = User(username, SigningKey.generate(), PrivateKey.generate())
    first = RelayClient(base, DeviceIdentity(SigningKey.generate()), session)
    await first.create_account(username, PASSWORD)
    clients = [await new_device(base, session, user, f"device {i}", **kw) for i in range(devices)]
    await clients[0].set_account_keys(bytes(user.sign.verify_key), bytes(user.box.public_key))
    return user, clients


async def create_folder(client: RelayClient, user: User) -> str:
    folder = secrets.token_urlsafe(16)
    change = MembershipChange.signed(user.sign, folder=folder, id=secrets.token_urlsafe(16), op="create",
                                     member=user.username, role="owner", signer=user.username, epoch=0,
                                     issued_at=int(time.time()))
    info = await client.create_folder(change, b"wrapped")
    assert info.folder == folder and info.role == "owner"
    return folder


class Chain:
    """Builds a device's signed, hash-chained entries."""

    def __init__(self, client: RelayClient, folder: str) -> None:
        self.client, self.folder = client, folder
        self.seq, self.prev = 0, GENESIS_HASH

    def next(self, ciphertext: bytes = b"ct", blocks: tuple[str, ...] = (), advance: bool = True) -> LogEntry:
        ident = self.client.identity
        entry = LogEntry.signed(ident.signing_key, folder=self.folder, device=ident.device_id, seq=self.seq + 1,
                                prev=self.prev, blocks=blocks, ciphertext=ciphertext)
        if advance:
            self.seq, self.prev = entry.seq, entry.entry_hash()
        return entry


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def alice(relay_server: Any, session: aiohttp.ClientSession) -> tuple[User, list[RelayClient], str]:
    user, clients = await new_user(relay_server.base, session, "alice", devices=2)
    folder = await create_folder(clients[0], user)
    return user, clients, folder


# -- a tampering proxy -----------------------------------------------------------------------

Mutate = Callable[[web.Request, int, dict[str, str], bytes], Awaitable[tuple[int, dict[str, str], bytes] | None]]


class Proxy:
    """Forwards HTTP to the relay; ``mutate`` may rewrite (or replace with None → drop) responses."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mutate: Mutate | None = None
        self.base = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with aiohttp.ClientSession() as s, s.request(
            request.method, self.upstream + request.path_qs, data=body or None, headers=headers
        ) as r:
            status, rbody = r.status, await r.read()
            rheaders = {k: v for k, v in r.headers.items() if k.lower() in ("content-type", "x-cove-sha256")}
        if self.mutate is not None:
            out = await self.mutate(request, status, rheaders, rbody)
            if out is None:
                raise ConnectionResetError  # the reply is lost
            status, rheaders, rbody = out
        return web.Response(status=status, body=rbody, headers=rheaders)


@pytest.fixture
async def proxy(relay_server: Any) -> AsyncIterator[Proxy]:
    p = Proxy(relay_server.base)

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await p.handle(request)
        except ConnectionResetError:
            assert request.transport is not None
            request.transport.close()
            raise

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    p.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield p
    finally:
        await runner.cleanup()


def via(proxy: Proxy, client: RelayClient) -> RelayClient:
    """The same device, talking through the proxy."""
    other = RelayClient(proxy.base, client.identity, client.session, retry_sleep=no_sleep)
    other._account_token = client._account_token
    return other


# -- accounts, devices, tokens ---------------------------------------------------------------


async def test_account_and_device_registration(relay_server: Any, session: aiohttp.ClientSession) -> None:
    user, (a, b) = await new_user(relay_server.base, session, "bob", devices=2)
    assert isinstance(a, RelayTransport)
    acct = await a.account()
    assert acct.username == "bob" and acct.sign_pk == bytes(user.sign.verify_key)
    assert acct.box_pk == bytes(user.box.public_key) and acct.used == 0
    # A device token works for the account routes too; devices() verifies every ID against its key.
    await a.device_token()
    devices = {d.device_id: d for d in await b.devices()}
    assert set(devices) == {a.device_id, b.device_id}
    assert devices[a.device_id].public_key == a.identity.public_key and not devices[a.device_id].revoked
    assert devices[b.device_id].name == "device 1"
    # Registering again is idempotent.
    again = await a.register_device("device 0")
    assert again.device_id == a.device_id
    await a.check_compatibility()


async def test_login_errors(relay_server: Any, session: aiohttp.ClientSession) -> None:
    await new_user(relay_server.base, session, "carol")
    c = RelayClient(relay_server.base, DeviceIdentity(SigningKey.generate()), session)
    with pytest.raises(AuthError) as err:
        await c.login("carol", "wrong password!")
    assert err.value.status == 401 and err.value.code == "bad_credentials"
    with pytest.raises(AuthError):
        await c.device_token()  # an unregistered device
    with pytest.raises(AuthError):
        await c.register_device("x")  # not logged in


async def test_closed_registration(make_relay_server, session: aiohttp.ClientSession) -> None:
    server = await make_relay_server(open_registration=False)
    c = RelayClient(server.base, DeviceIdentity(SigningKey.generate()), session)
    with pytest.raises(Forbidden) as err:
        await c.create_account("dave", PASSWORD)
    assert err.value.code == "registration_closed"


async def test_token_refreshed_before_expiry(relay_server: Any, alice) -> None:
    _, (a, _), folder = alice
    client = RelayClient(relay_server.base, a.identity, a.session, clock=relay_server.clock)
    first = await client.device_token()
    relay_server.clock.advance(3590)  # token lifetime 3600 s: inside the refresh margin
    assert (await client.get_cursor(folder)) == 0
    assert client._token != first


async def test_token_renewed_once_on_401(relay_server: Any, alice) -> None:
    _, (a, _), folder = alice
    first = await a.device_token()  # a's clock is real time: it thinks the token is fresh
    relay_server.clock.advance(7200)  # ...but the relay considers it expired
    assert (await a.fetch(folder, 0)).entries == []
    assert a._token not in (None, first)


async def test_revoked_device_gets_auth_error(alice) -> None:
    _, (a, b), folder = alice
    await b.device_token()
    await a.revoke_device(b.device_id)
    with pytest.raises(AuthError) as err:
        await b.fetch(folder, 0)
    assert err.value.code == "device_revoked"
    b._invalidate_token()
    with pytest.raises(AuthError, match="not registered"):
        await b.fetch(folder, 0)  # a new token: the relay no longer knows the device
    assert {d.device_id: d.revoked for d in await a.devices()}[b.device_id] is True


async def test_incompatible_relay(proxy: Proxy, alice) -> None:
    _, (a, _), folder = alice
    c = via(proxy, a)

    async def html_404(request, status, headers, body):
        return 404, {"Content-Type": "text/html"}, b"<html>nginx</html>"

    proxy.mutate = html_404
    with pytest.raises(IncompatibleRelay, match="does not speak the Cove relay API"):
        await c.heads(folder)

    async def v2(request, status, headers, body):
        if request.path == "/openapi.json":
            doc = json.loads(body)
            doc["info"]["version"] = "2"
            return status, headers, json.dumps(doc).encode()
        return status, headers, body

    proxy.mutate = v2
    with pytest.raises(IncompatibleRelay, match="version 2"):
        await c.check_compatibility()

    async def garbage(request, status, headers, body):
        return 200, {"Content-Type": "application/json"}, b'{"surprise": true}'

    await c.device_token()
    proxy.mutate = garbage
    with pytest.raises(IncompatibleRelay, match="cursor"):
        await c.get_cursor(folder)


# -- blocks ----------------------------------------------------------------------------------


async def test_blocks_round_trip(alice) -> None:
    _, (a, b), folder = alice
    blocks = [block(secrets.token_bytes(100 + i)) for i in range(20)]
    ids = [bid for bid, _ in blocks]
    assert await a.missing_blocks(folder, ids) == set(ids)
    a.max_parallel = 4
    await a.put_blocks(folder, blocks + blocks[:3])  # duplicates are uploaded once
    await a.put_blocks(folder, blocks[:5])  # again: idempotent
    assert await b.missing_blocks(folder, ids) == set()
    for bid, data in blocks[:5]:
        assert await b.get_block(folder, bid) == data
    with pytest.raises(NotFound) as err:
        await b.get_block(folder, block(b"never uploaded")[0])
    assert err.value.code == "block_not_found"
    acct = await a.account()
    assert acct.blocks == 20 and acct.used == sum(len(d) for _, d in blocks)


async def test_put_blocks_in_batches_and_fallback_to_put(proxy: Proxy, alice) -> None:
    _, (a, b), folder = alice
    c = via(proxy, a)
    c.batch_blocks = 3
    seen: list[tuple[str, str]] = []

    async def count(request, status, headers, body):
        if "/blocks" in request.path and request.method in ("POST", "PUT") and not request.path.endswith("/missing"):
            seen.append((request.method, request.path.rsplit("/", 1)[-1]))
        return status, headers, body

    proxy.mutate = count
    blocks = [block(secrets.token_bytes(64)) for _ in range(7)]
    await c.put_blocks(folder, blocks)
    assert sorted(m for m, _ in seen) == ["POST", "POST", "PUT"] and c._batch_upload is True  # 3 + 3 + 1
    assert await b.missing_blocks(folder, [i for i, _ in blocks]) == set()
    assert await b.get_block(folder, blocks[6][0]) == blocks[6][1]

    # A relay without batch upload (404 for the route): the client falls back to PUT per block.
    old = via(proxy, a)
    seen.clear()

    async def no_batch(request, status, headers, body):
        if request.method == "POST" and request.path.endswith("/blocks"):
            return 404, {"Content-Type": "application/json"}, b'{"error":{"code":"not_found","message":"Not Found"}}'
        return await count(request, status, headers, body)

    proxy.mutate = no_batch
    more = [block(secrets.token_bytes(64)) for _ in range(4)]
    await old.put_blocks(folder, more)
    assert old._batch_upload is False and sorted(m for m, _ in seen) == ["PUT"] * 4
    assert await b.missing_blocks(folder, [i for i, _ in more]) == set()


async def test_missing_blocks_chunks_large_queries(alice) -> None:
    _, (a, _), folder = alice
    known = block(b"known")
    await a.put_blocks(folder, [known])
    ids = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(10_050)] + [known[0]]
    assert await a.missing_blocks(folder, ids) == set(ids) - {known[0]}


async def test_get_block_detects_tampering(proxy: Proxy, alice) -> None:
    _, (a, _), folder = alice
    bid, data = block(b"secret ciphertext")
    await a.put_blocks(folder, [(bid, data)])
    c = via(proxy, a)

    async def flip(request, status, headers, body):
        if "/blocks/" in request.path and request.method == "GET":
            body = bytes([body[0] ^ 1]) + body[1:]
        return status, headers, body

    proxy.mutate = flip
    with pytest.raises(RelayIntegrityError) as err:
        await c.get_block(folder, bid)
    assert err.value.code == "hash_mismatch"


async def test_put_blocks_retries_after_connection_errors(relay_server: Any, alice) -> None:
    _, (a, _), folder = alice
    await a.device_token()
    blocks = [block(secrets.token_bytes(50)) for _ in range(6)]
    await relay_server.stop()
    delays: list[float] = []

    restarting = asyncio.Lock()

    async def sleep_then_restart(delay: float) -> None:
        delays.append(delay)
        async with restarting:  # the parallel uploads all back off; the first one restarts the relay
            if not relay_server.running:
                await relay_server.start()

    a._sleep = sleep_then_restart
    await a.put_blocks(folder, blocks)
    assert delays and all(0 < d <= a._retry_max for d in delays)
    assert await a.missing_blocks(folder, [b for b, _ in blocks]) == set()


async def test_unavailable_after_bounded_retries(relay_server: Any, alice) -> None:
    _, (a, _), folder = alice
    await a.device_token()
    await relay_server.stop()
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)

    a._sleep = record
    with pytest.raises(RelayUnavailable):
        await a.heads(folder)
    assert len(delays) == a.retries == 3
    # Exponential with jitter in [d/2, d]: 0.25, 0.5, 1.0.
    for i, d in enumerate(delays):
        assert 0.25 * 2**i / 2 <= d <= 0.25 * 2**i


async def test_quota_exceeded(make_relay_server, session: aiohttp.ClientSession) -> None:
    server = await make_relay_server(default_quota=1000)
    user, (a,) = await new_user(server.base, session, "erin")
    folder = await create_folder(a, user)
    await a.put_blocks(folder, [block(b"x" * 900)])
    with pytest.raises(QuotaExceeded) as err:
        await a.put_blocks(folder, [block(b"y" * 200)])
    assert err.value.status == 507


# -- logs ------------------------------------------------------------------------------------


async def test_append_chain_head_mismatch_and_idempotent_retry(alice) -> None:
    _, (a, b), folder = alice
    chain = Chain(a, folder)
    e1, e2 = chain.next(b"one"), chain.next(b"two")
    r1 = await a.append(folder, e1)
    r2 = await a.append(folder, e2)
    assert (r1.rseq, r1.created, r1.hash) == (1, True, e1.entry_hash())
    assert (r2.rseq, r2.created) == (2, True)
    again = await a.append(folder, e2)  # identical retry
    assert (again.rseq, again.created, again.hash) == (2, False, e2.entry_hash())
    # A different entry at seq 2 (a forked device) and a gap are both refused with the head.
    forked = LogEntry.signed(a.identity.signing_key, folder=folder, device=a.device_id, seq=2,
                             prev=e1.entry_hash(), blocks=(), ciphertext=b"other")
    with pytest.raises(HeadMismatch) as err:
        await a.append(folder, forked)
    assert (err.value.seq, err.value.hash, err.value.status) == (2, e2.entry_hash(), 409)
    gap = LogEntry.signed(a.identity.signing_key, folder=folder, device=a.device_id, seq=4,
                          prev=e2.entry_hash(), blocks=(), ciphertext=b"gap")
    with pytest.raises(HeadMismatch):
        await a.append(folder, gap)
    # Another device's log is independent; referencing a missing block is refused.
    bid, data = block(b"content")
    bchain = Chain(b, folder)
    with pytest.raises(MissingBlocks) as merr:
        await b.append(folder, bchain.next(blocks=(bid,), advance=False))
    assert merr.value.missing == [bid]
    await b.put_blocks(folder, [(bid, data)])
    assert (await b.append(folder, bchain.next(blocks=(bid,)))).rseq == 3
    heads = await b.heads(folder)
    assert heads.last_rseq == 3
    assert heads.heads[a.device_id].seq == 2 and heads.heads[a.device_id].hash == e2.entry_hash()
    assert heads.heads[b.device_id].seq == 1


async def test_append_retry_after_lost_reply_is_idempotent(proxy: Proxy, alice) -> None:
    _, (a, _), folder = alice
    c = via(proxy, a)
    lost = []

    async def lose_first_append(request, status, headers, body):
        if request.path.endswith("/log") and request.method == "POST" and not lost:
            lost.append(status)
            return None  # stored by the relay, reply lost
        return status, headers, body

    proxy.mutate = lose_first_append
    entry = Chain(a, folder).next()
    res = await c.append(folder, entry)
    assert lost == [201]
    assert (res.rseq, res.created) == (1, False)


async def test_fetch_pages(alice) -> None:
    _, (a, b), folder = alice
    chain = Chain(a, folder)
    sent = [chain.next(f"entry {i}".encode()) for i in range(25)]
    for e in sent:
        await a.append(folder, e)
    got: list[LogEntry] = []
    after, pages = 0, []
    while True:
        page = await b.fetch(folder, after, limit=10)
        pages.append((len(page.entries), page.more, page.last_rseq))
        got.extend(e for _, e in page.entries)
        assert [r for r, _ in page.entries] == list(range(after + 1, after + 1 + len(page.entries)))
        after = page.next
        if not page.more:
            break
    assert pages == [(10, True, 25), (10, True, 25), (5, False, 25)]
    assert got == sent
    assert all(e.verify(a.identity.public_key) for e in got)
    empty = await b.fetch(folder, 25)
    assert (empty.entries, empty.next, empty.more) == ([], 25, False)


async def test_malformed_entry_names_its_rseq(proxy: Proxy, alice) -> None:
    _, (a, _), folder = alice
    chain = Chain(a, folder)
    for i in range(3):
        await a.append(folder, chain.next(b"x%d" % i))
    c = via(proxy, a)

    async def corrupt_second(request, status, headers, body):
        if request.path.endswith("/log") and request.method == "GET":
            doc = json.loads(body)
            doc["entries"][1]["entry"]["seq"] = "two"
            body = json.dumps(doc).encode()
        return status, headers, body

    proxy.mutate = corrupt_second
    with pytest.raises(MalformedEntry, match="rseq 2") as err:
        await c.fetch(folder, 0)
    assert err.value.rseq == 2


async def test_cursor(alice) -> None:
    _, (a, b), folder = alice
    chain = Chain(a, folder)
    for _ in range(5):
        await a.append(folder, chain.next())
    assert await b.get_cursor(folder) == 0
    await b.save_cursor(folder, 4)
    assert await b.get_cursor(folder) == 4
    assert await a.get_cursor(folder) == 0  # per device
    with pytest.raises(RelayError) as err:
        await b.save_cursor(folder, 6)
    assert (err.value.status, err.value.code) == (422, "cursor_out_of_range")
    with pytest.raises(NotFound) as nf:
        await b.get_cursor("NoSuchFolder_0123456")
    assert nf.value.code == "folder_not_found"


async def test_folders_and_keys(alice) -> None:
    user, (a, b), folder = alice
    assert [(f.folder, f.role, f.last_rseq) for f in await b.folders()] == [(folder, "owner", 0)]
    info = await b.folder(folder)
    assert info.members == {"alice": "owner"}
    assert [c.op for c in info.membership_log] == ["create"]
    assert info.membership_log[0].verify(bytes(user.sign.verify_key))
    await a.put_keys(folder, 1, {"alice": b"epoch one key"})
    keys = {k.epoch: k.wrapped_key for k in await b.get_keys(folder)}
    assert keys == {0: b"wrapped", 1: b"epoch one key"}


async def test_devices_detects_a_relay_lying_about_keys(proxy: Proxy, alice) -> None:
    _, (a, _), _ = alice
    c = via(proxy, a)
    assert len(await c.devices()) == 2

    async def swap_keys(request, status, headers, body):
        if request.path == "/v1/devices" and request.method == "GET":
            doc = json.loads(body)
            doc["devices"][0]["public_key"] = b64encode(bytes(SigningKey.generate().verify_key))
            body = json.dumps(doc).encode()
        return status, headers, body

    proxy.mutate = swap_keys
    with pytest.raises(RelayIntegrityError) as err:
        await c.devices()
    assert err.value.code == "device_key_mismatch"


# -- notifications ---------------------------------------------------------------------------


async def next_note(it, kind: type) -> object:
    """The next notification of ``kind`` (others skipped), within the deadline."""
    async with asyncio.timeout(DEADLINE):
        while True:
            note = await it.__anext__()
            if isinstance(note, kind):
                return note


async def test_notification_of_another_devices_append(alice) -> None:
    _, (a, b), folder = alice
    listener = a.notifications()
    it = aiter(listener)
    hello = await next_note(it, Hello)
    assert hello.device == a.device_id and hello.folders[folder].last_rseq == 0
    assert listener.connected
    res = await b.append(folder, Chain(b, folder).next())
    note = await next_note(it, AppendNotice)
    assert note == AppendNotice(folder, res.rseq, b.device_id, 1)
    await listener.close()
    async with asyncio.timeout(DEADLINE):
        assert [n async for n in it] == []  # iteration ends after close()


async def test_listener_reconnects_after_relay_restart(relay_server: Any, alice) -> None:
    _, (a, b), folder = alice
    delays: list[float] = []
    relay_up = asyncio.Event()

    async def sleep(delay: float) -> None:
        delays.append(delay)
        await relay_up.wait()

    listener = a.notifications(sleep=sleep, initial=0.5, max_delay=8.0)
    it = aiter(listener)
    await next_note(it, Hello)
    await relay_server.stop()
    # While the relay is down another device's append is impossible; after restart b appends
    # and a hears a fresh hello first (resume from its cursor), then the append.
    pending = asyncio.ensure_future(next_note(it, Hello))
    await relay_server.start()
    relay_up.set()
    async with asyncio.timeout(DEADLINE):
        hello = await pending
    assert isinstance(hello, Hello) and listener.connects == 2
    assert delays and all(0.25 <= d <= 8.0 for d in delays)
    res = await b.append(folder, Chain(b, folder).next())
    assert (await next_note(it, AppendNotice)).rseq == res.rseq
    await listener.close()


async def test_listener_gives_up_after_max_attempts(relay_server: Any, alice) -> None:
    _, (a, _), _ = alice
    await a.device_token()
    await relay_server.stop()
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)

    listener = a.notifications(sleep=record, initial=1.0, max_delay=3.0, max_attempts=5)
    with pytest.raises(RelayUnavailable):
        async with asyncio.timeout(DEADLINE):
            async for _ in listener:
                pass
    assert len(delays) == 4
    bounds = [(0.5, 1.0), (1.0, 2.0), (1.5, 3.0), (1.5, 3.0)]  # doubling, capped at max_delay, jittered
    assert all(lo <= d <= hi for d, (lo, hi) in zip(delays, bounds, strict=True))


async def test_listener_close_while_waiting_and_cancellation(alice) -> None:
    _, (a, _), _ = alice
    listener = a.notifications()
    it = aiter(listener)
    await next_note(it, Hello)
    waiting = asyncio.ensure_future(it.__anext__())
    await asyncio.sleep(0)
    await listener.close()
    async with asyncio.timeout(DEADLINE):
        with pytest.raises(StopAsyncIteration):
            await waiting
    # Cancelling a consumer closes its socket.
    other = a.notifications()
    heard = asyncio.Event()

    async def consume() -> None:
        async for _ in other:
            heard.set()

    task = asyncio.ensure_future(consume())
    async with asyncio.timeout(DEADLINE):
        await heard.wait()
    assert other.connected
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not other.connected


async def test_listener_of_revoked_device_raises(alice) -> None:
    _, (a, b), _ = alice
    listener = b.notifications(sleep=no_sleep)
    it = aiter(listener)
    await next_note(it, Hello)
    await a.revoke_device(b.device_id)
    with pytest.raises(AuthError) as err:
        async with asyncio.timeout(DEADLINE):
            async for _ in it:
                pass
    # The socket closes with 4401; renewing the token fails because the relay no longer knows the device.
    assert err.value.code in ("device_revoked", "device_not_found")
