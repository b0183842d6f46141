"""The peer channel refuses non-members and bad messages without harm to either side."""

from __future__ import annotations

import asyncio
import json
import os
import struct
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from sync.lan.certs import DeviceCertificate
from sync.lan.channel import MAX_FRAME, ChannelError, handshake
from sync.lan.session import RequestFailed, Session
from sync.lan.sources import missing_spans
from sync.lan.stream import open_stream, serve_streams
from sync.records import Block
from tests.lan.harness import FOLDER_ID, connected, make_lan_devices, wait_for


async def still_syncs(a, b, name: str) -> None:
    (a.root / name).write_text(name)
    await a.publish()
    await wait_for(lambda: (b.root / name).exists(), what=f"{name} still syncs")


async def test_non_member_is_refused_before_any_folder_is_named(tmp_path: Path) -> None:
    a, b = await make_lan_devices(tmp_path, ["a", "b"])
    try:
        stranger_account = SigningKey.generate()
        key = SigningKey.generate()
        cert = DeviceCertificate.issue(stranger_account, bytes(key.verify_key), "mallory")
        with pytest.raises(ChannelError):
            await handshake(await open_stream("127.0.0.1", a.lan.port), initiator=True, device_key=key, cert=cert,
                            account_sign_pk=bytes(stranger_account.verify_key))
        # and the other way round: we refuse a responder that is not of our account
        served = []

        async def fake_peer(stream):
            try:
                await handshake(stream, initiator=False, device_key=key, cert=cert,
                                account_sign_pk=bytes(stranger_account.verify_key))
            except ChannelError as e:
                served.append(e)

        server = await serve_streams(fake_peer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(ChannelError):
            await a.lan.connect("127.0.0.1", port)
        server.close()
        assert all(p.session is None or p.device_id == b.identity.device_id for p in a.lan.peers.values())
        assert any("refused" in line for line in a.log)
        # a device signed by our account but presenting someone else's key is refused too
        member_cert = a.lan.cert
        with pytest.raises(ChannelError):  # b closes the connection without a word about itself
            await handshake(await open_stream("127.0.0.1", b.lan.port), initiator=True, device_key=SigningKey.generate(), cert=member_cert,
                            account_sign_pk=a.lan.account_sign_pk, expected_peer=b.identity.device_id)
        assert any("does not hold the device key" in line for line in b.log)
        await wait_for(lambda: connected(a, b), what="a-b session unharmed")
    finally:
        await a.close()
        await b.close()


async def _member_channel(tmp_path: Path, a, b):
    """Authenticate as a third, legitimate member device (same account key as a and b)."""
    key = SigningKey.generate()
    cert = DeviceCertificate.issue(a.account_key, bytes(key.verify_key), "alice")
    chan = await handshake(await open_stream("127.0.0.1", a.lan.port), initiator=True, device_key=key, cert=cert,
                           account_sign_pk=a.lan.account_sign_pk)
    return chan


async def _closed_by_peer(chan) -> bool:
    try:
        while True:
            await asyncio.wait_for(chan.recv(), 5)
    except ChannelError:
        return True
    except TimeoutError:
        return False


async def test_malformed_oversized_and_out_of_order_messages(tmp_path: Path) -> None:
    a, b = await make_lan_devices(tmp_path, ["a", "b"])
    try:
        await wait_for(lambda: connected(a, b) and connected(b, a), what="sessions")
        # 1. a frame that does not decrypt: connection closed
        chan = await _member_channel(tmp_path, a, b)
        junk = os.urandom(100)
        chan.stream.write(struct.pack(">I", len(junk)) + junk)
        assert await _closed_by_peer(chan)
        # 2. an oversized frame length: closed before reading it
        chan = await _member_channel(tmp_path, a, b)
        chan.stream.write(struct.pack(">I", MAX_FRAME + 1))
        assert await _closed_by_peer(chan)
        # 3. a reply to a request never made (out of order): closed
        chan = await _member_channel(tmp_path, a, b)
        await chan.send({"t": "heads", "re": 99})
        assert await _closed_by_peer(chan)
        # 4. a header that is not an object: closed
        chan = await _member_channel(tmp_path, a, b)
        await chan.send({"t": 5})
        assert await _closed_by_peer(chan)
        # 5. well-formed but bad requests get error replies; the connection stays up
        chan = await _member_channel(tmp_path, a, b)
        session = Session(chan, lambda s, h, body: asyncio.sleep(0))
        session.start()
        await session.notify({"t": "hello", "folders": [FOLDER_ID], "certs": []})
        for req, code in [
            ({"t": "nonsense"}, "unknown_type"),
            ({"t": "heads", "folder": "x" * 20}, "unknown_folder"),
            ({"t": "entries", "folder": FOLDER_ID, "device": "nope", "after": 0}, "bad_request"),
            ({"t": "block", "folder": FOLDER_ID, "hash": "zz", "size": 10}, "bad_request"),
            ({"t": "block", "folder": FOLDER_ID, "hash": "00" * 32, "size": 10**9}, "bad_request"),
            ({"t": "block", "folder": FOLDER_ID, "hash": "00" * 32, "size": 10}, "not_found"),
            ({"t": "delta", "folder": FOLDER_ID, "blocks": [["00" * 32, 5]]}, "not_found"),
        ]:
            with pytest.raises(RequestFailed) as info:
                await session.request(req, timeout=5)
            assert info.value.code == code, (req, info.value)
        h, _ = await session.request({"t": "heads", "folder": FOLDER_ID}, timeout=5)
        assert isinstance(h["heads"], dict)
        session.close()
        # 6. a frame before authentication: refused
        reader, writer = await asyncio.open_connection("127.0.0.1", a.lan.port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n" + b"x" * 40)
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 15) is not None
        writer.close()
        # neither side was harmed
        await still_syncs(a, b, "after-abuse.txt")
        await still_syncs(b, a, "after-abuse-2.txt")
    finally:
        await a.close()
        await b.close()


async def test_a_peer_serving_entries_out_of_order_is_refused(tmp_path: Path) -> None:
    a, b = await make_lan_devices(tmp_path, ["a", "b"], connect=False)
    try:
        for i in range(3):
            (a.root / f"f{i}.txt").write_text(str(i))
            await a.publish()
        real = a.lan._handle

        async def lying(session, h, body):
            out = await real(session, h, body)
            if h.get("t") == "entries" and out is not None:
                import zstandard
                entries = json.loads(zstandard.ZstdDecompressor().decompress(out[1]))
                return out[0], zstandard.ZstdCompressor().compress(json.dumps(entries[::-1]).encode())
            return out

        a.lan._handle = lying
        await b.lan.connect("127.0.0.1", a.lan.port)
        await wait_for(lambda: b.lan.pulls_done >= 1, what="a pull")
        assert not (b.root / "f0.txt").exists()
        assert any("out of order" in line for line in b.log)
        a.lan.peers[b.identity.device_id].session.handler = real
        b.lan.request_pull(FOLDER_ID, b.lan.peers[a.identity.device_id].session)
        await wait_for(lambda: (b.root / "f2.txt").exists(), what="honest pull works")
    finally:
        await a.close()
        await b.close()


def test_missing_spans_and_base_region() -> None:
    blocks = tuple(Block(bytes([i]) * 32, 100) for i in range(6))
    have = [True, False, False, True, False, True]
    spans = missing_spans(blocks, have)
    assert [(s.first, s.last, s.offset, s.size) for s in spans] == [(1, 3, 100, 200), (4, 5, 400, 100)]
    assert [(s.first, s.last) for s in missing_spans(blocks, [False] * 6, max_span=250)] == [(0, 2), (2, 4), (4, 6)]
