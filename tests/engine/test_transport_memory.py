"""``sync.transport_memory.MemoryRelay``: the same semantics as the real relay (compare-and-set
appends with HeadMismatch, idempotent identical retries, rseq per folder, blocks with a missing
check, cursors, device listing, notifications) and its deterministic fault injection."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from nacl.signing import SigningKey

from sync.identity import DeviceIdentity
from sync.relay_client import (
    AppendNotice,
    Forbidden,
    HeadMismatch,
    Hello,
    MissingBlocks,
    NotFound,
    QuotaExceeded,
    RelayError,
    RelayTransport,
    RelayUnavailable,
)
from sync.transport_memory import MemoryRelay
from sync.wire.envelopes import GENESIS_HASH, LogEntry

FOLDER = "folder-0123456789abcdef"


def ident(n: int) -> DeviceIdentity:
    return DeviceIdentity(SigningKey(bytes([n]) * 32))


def block(data: bytes) -> tuple[str, bytes]:
    return hashlib.blake2b(data, digest_size=32).hexdigest(), data


class Chain:
    def __init__(self, identity: DeviceIdentity, folder: str = FOLDER) -> None:
        self.identity, self.folder = identity, folder
        self.seq, self.prev = 0, GENESIS_HASH

    def next(self, ct: bytes = b"ct", blocks: tuple[str, ...] = (), advance: bool = True) -> LogEntry:
        e = LogEntry.signed(self.identity.signing_key, folder=self.folder, device=self.identity.device_id,
                            seq=self.seq + 1, prev=self.prev, blocks=blocks, ciphertext=ct)
        if advance:
            self.seq, self.prev = e.seq, e.entry_hash()
        return e


@pytest.fixture
def world() -> tuple[MemoryRelay, list[DeviceIdentity]]:
    relay = MemoryRelay()
    ids = [ident(i + 1) for i in range(3)]
    for i, d in enumerate(ids):
        relay.add_device(d, name=f"d{i}")
    relay.create_folder(FOLDER)
    return relay, ids


async def test_append_cas_idempotent_retry_and_rseq(world) -> None:
    relay, (a, b, _) = world
    ta, tb = relay.transport_for(a), relay.transport_for(b.device_id)
    assert isinstance(ta, RelayTransport)
    ca, cb = Chain(a), Chain(b)
    e1, e2 = ca.next(b"1"), ca.next(b"2")
    assert (await ta.append(FOLDER, e1)).rseq == 1
    f1 = cb.next()
    r = await tb.append(FOLDER, f1)
    assert (r.rseq, r.created, r.hash) == (2, True, f1.entry_hash())
    assert (await ta.append(FOLDER, e2)).rseq == 3
    again = await ta.append(FOLDER, e2)
    assert (again.rseq, again.created) == (3, False)
    forked = LogEntry.signed(a.signing_key, folder=FOLDER, device=a.device_id, seq=2, prev=e1.entry_hash(),
                             blocks=(), ciphertext=b"fork")
    with pytest.raises(HeadMismatch) as err:
        await ta.append(FOLDER, forked)
    assert (err.value.seq, err.value.hash) == (2, e2.entry_hash())
    with pytest.raises(HeadMismatch):
        await ta.append(FOLDER, Chain(a).next())  # seq 1 again, different content
    gap = LogEntry.signed(a.signing_key, folder=FOLDER, device=a.device_id, seq=5, prev=e2.entry_hash(),
                          blocks=(), ciphertext=b"gap")
    with pytest.raises(HeadMismatch):
        await ta.append(FOLDER, gap)
    with pytest.raises(Forbidden):
        await tb.append(FOLDER, ca.next(advance=False))  # not b's own log
    bad_sig = LogEntry(FOLDER, a.device_id, 3, e2.entry_hash(), (), b"x", b"\0" * 64)
    with pytest.raises(RelayError) as sig:
        await ta.append(FOLDER, bad_sig)
    assert sig.value.code == "bad_signature"
    heads = await tb.heads(FOLDER)
    assert heads.last_rseq == 3
    assert heads.heads[a.device_id].seq == 2 and heads.heads[b.device_id].hash == f1.entry_hash()


async def test_blocks_and_missing_blocks(world) -> None:
    relay, (a, b, _) = world
    ta, tb = relay.transport_for(a), relay.transport_for(b)
    blocks = [block(bytes([i]) * 10) for i in range(5)]
    ids = [i for i, _ in blocks]
    assert await ta.missing_blocks(FOLDER, ids) == set(ids)
    await ta.put_blocks(FOLDER, blocks[:3])
    await ta.put_blocks(FOLDER, blocks[:3])  # idempotent
    assert await tb.missing_blocks(FOLDER, ids) == set(ids[3:])
    assert await tb.get_block(FOLDER, ids[0]) == blocks[0][1]
    with pytest.raises(NotFound):
        await tb.get_block(FOLDER, ids[4])
    chain = Chain(a)
    with pytest.raises(MissingBlocks) as err:
        await ta.append(FOLDER, chain.next(blocks=(ids[0], ids[4]), advance=False))
    assert err.value.missing == [ids[4]]
    assert relay.last_rseq(FOLDER) == 0  # refused appends leave no trace
    assert (await ta.append(FOLDER, chain.next(blocks=(ids[0], ids[1])))).rseq == 1


async def test_fetch_pages_and_cursors(world) -> None:
    relay, (a, b, _) = world
    ta, tb = relay.transport_for(a), relay.transport_for(b)
    chain = Chain(a)
    sent = [chain.next(b"%d" % i) for i in range(25)]
    for e in sent:
        await ta.append(FOLDER, e)
    got, after, shape = [], 0, []
    while True:
        page = await tb.fetch(FOLDER, after, limit=10)
        shape.append((len(page.entries), page.more, page.last_rseq))
        got.extend(page.entries)
        after = page.next
        if not page.more:
            break
    assert shape == [(10, True, 25), (10, True, 25), (5, False, 25)]
    assert got == list(zip(range(1, 26), sent, strict=True))
    empty = await tb.fetch(FOLDER, 25)
    assert (empty.entries, empty.next, empty.more) == ([], 25, False)
    assert await tb.get_cursor(FOLDER) == 0
    await tb.save_cursor(FOLDER, 20)
    assert (await tb.get_cursor(FOLDER), await ta.get_cursor(FOLDER)) == (20, 0)
    with pytest.raises(RelayError) as err:
        await tb.save_cursor(FOLDER, 26)
    assert err.value.code == "cursor_out_of_range"


async def test_membership_roles_and_devices() -> None:
    relay = MemoryRelay(quota=15)
    a, b, c = ident(1), ident(2), ident(3)
    relay.add_device(a, account="alice", name="laptop")
    relay.add_device(b, account="alice")
    relay.add_device(c, account="bob")
    relay.create_folder(FOLDER, {"alice": "owner", "bob": "viewer"})
    relay.create_folder("other-folder-0123456", ["alice"])
    ta, tc = relay.transport_for(a), relay.transport_for(c)
    devices = await ta.devices()
    assert [(d.device_id, d.public_key, d.name) for d in devices] == sorted(
        [(a.device_id, a.public_key, "laptop"), (b.device_id, b.public_key, None)])
    assert [d.device_id for d in await tc.devices()] == [c.device_id]
    with pytest.raises(Forbidden):
        await tc.put_blocks(FOLDER, [block(b"x")])  # viewer
    with pytest.raises(NotFound):
        await tc.fetch("other-folder-0123456", 0)  # not a member
    await ta.put_blocks(FOLDER, [block(b"0123456789")])
    with pytest.raises(QuotaExceeded):
        await ta.put_blocks(FOLDER, [block(b"another 10")])
    relay.revoke(b.device_id)
    assert [d.revoked for d in await ta.devices() if d.device_id == b.device_id] == [True]
    with pytest.raises(RelayError) as err:
        await relay.transport_for(b).fetch(FOLDER, 0)
    assert err.value.code == "device_revoked"


async def test_disconnect_and_fail_next(world) -> None:
    relay, (a, b, _) = world
    ta, tb = relay.transport_for(a), relay.transport_for(b)
    relay.disconnect(a.device_id)
    with pytest.raises(RelayUnavailable):
        await ta.fetch(FOLDER, 0)
    assert (await tb.fetch(FOLDER, 0)).entries == []  # others are unaffected
    relay.reconnect(a.device_id)
    await ta.fetch(FOLDER, 0)

    relay.fail_next(2, "append")
    chain = Chain(a)
    e = chain.next()
    for _ in range(2):
        with pytest.raises(RelayUnavailable):
            await ta.append(FOLDER, e)
    assert relay.last_rseq(FOLDER) == 0  # failed before taking effect
    assert (await ta.append(FOLDER, e)).created
    relay.fail_next(1, device=b.device_id)  # any op of b
    await ta.heads(FOLDER)
    with pytest.raises(RelayUnavailable):
        await tb.heads(FOLDER)
    await tb.heads(FOLDER)
    with pytest.raises(ValueError):
        relay.fail_next(1, "no_such_op")


async def test_lost_reply_then_idempotent_retry(world) -> None:
    relay, (a, _, _) = world
    ta = relay.transport_for(a)
    relay.lose_next_reply(1, "append")
    e = Chain(a).next()
    with pytest.raises(RelayUnavailable):
        await ta.append(FOLDER, e)
    assert relay.last_rseq(FOLDER) == 1  # it was stored
    retry = await ta.append(FOLDER, e)
    assert (retry.rseq, retry.created) == (1, False)
    relay.lose_next_reply(1, "put_blocks")
    bid, data = block(b"payload")
    with pytest.raises(RelayUnavailable):
        await ta.put_blocks(FOLDER, [(bid, data)])
    assert relay.has_block(FOLDER, bid)
    await ta.put_blocks(FOLDER, [(bid, data)])


async def test_notifications_hello_append_and_reconnect(world) -> None:
    relay, (a, b, _) = world
    ta, tb = relay.transport_for(a), relay.transport_for(b)
    it = aiter(ta.notifications())
    hello = await anext(it)
    assert hello == Hello(a.device_id, {FOLDER: hello.folders[FOLDER]}) and hello.folders[FOLDER].last_rseq == 0
    await ta.append(FOLDER, Chain(a).next())  # own appends are not announced
    cb = Chain(b)
    await tb.append(FOLDER, cb.next())
    assert await anext(it) == AppendNotice(FOLDER, 2, b.device_id, 1)
    relay.disconnect(a.device_id)
    await tb.append(FOLDER, cb.next())  # missed while disconnected...
    await tb.save_cursor(FOLDER, 1)
    relay.reconnect(a.device_id)
    again = await asyncio.wait_for(anext(it), 5)
    assert isinstance(again, Hello) and again.folders[FOLDER].last_rseq == 3  # ...and caught up from the hello
    await it.aclose()
    assert relay._devices[a.device_id].listeners == []


async def test_deterministic_across_runs() -> None:
    async def run() -> list[tuple[int, str]]:
        relay = MemoryRelay()
        a, b = ident(1), ident(2)
        ta, tb = relay.transport_for(a), relay.transport_for(b)
        relay.create_folder(FOLDER)
        ca, cb = Chain(a), Chain(b)
        relay.lose_next_reply(1, "append", device=b.device_id)
        for i in range(5):
            await ta.append(FOLDER, ca.next(b"%d" % i))
            e = cb.next(b"%d" % i)
            try:
                await tb.append(FOLDER, e)
            except RelayUnavailable:
                await tb.append(FOLDER, e)
        return [(r, e.entry_hash()) for r, e in relay.entries(FOLDER)]

    assert await run() == await run()
