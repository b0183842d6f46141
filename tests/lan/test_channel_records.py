"""The channel's record layer (AES-256-GCM, counter nonces, the length authenticated, rekeying):
messages arrive intact and in order, and any change on the wire — a flipped bit, a replayed,
dropped or reordered frame, a changed length, a frame sent back the other way — closes the
channel. Real handshakes over loopback TCP, through a proxy that tampers with frames."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Callable

import pytest
from cryptography.exceptions import InvalidTag
from nacl.signing import SigningKey

from sync.lan import channel as channel_mod
from sync.lan.certs import DeviceCertificate
from sync.lan.channel import (
    THREAD_THRESHOLD,
    BodyBuffer,
    Channel,
    ChannelError,
    CipherState,
    ProtocolError,
    decode_message,
    encode_message,
    handshake,
)
from sync.lan.stream import FrameStream, open_stream, serve_streams

ACCOUNT = SigningKey.generate()


def _device() -> tuple[SigningKey, DeviceCertificate]:
    key = SigningKey.generate()
    return key, DeviceCertificate.issue(ACCOUNT, bytes(key.verify_key), "alice")


async def _pair(port_of: Callable[[int], int] = lambda p: p) -> tuple[Channel, Channel, asyncio.Server]:
    """Two authenticated channels over loopback; ``port_of`` may send the initiator through a proxy."""
    (ik, icert), (rk, rcert) = _device(), _device()
    accepted: asyncio.Future[Channel] = asyncio.get_running_loop().create_future()

    async def accept(stream: FrameStream) -> None:
        try:
            accepted.set_result(await handshake(stream, initiator=False, device_key=rk, cert=rcert,
                                                account_sign_pk=bytes(ACCOUNT.verify_key)))
        except ChannelError as e:
            accepted.set_exception(e)

    server = await serve_streams(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    initiator = await handshake(await open_stream("127.0.0.1", port_of(port)), initiator=True, device_key=ik, cert=icert,
                                account_sign_pk=bytes(ACCOUNT.verify_key))
    return initiator, await asyncio.wait_for(accepted, 10), server


async def test_messages_round_trip_both_ways_small_and_large() -> None:
    i, r, server = await _pair()
    try:
        big = os.urandom(THREAD_THRESHOLD * 3 + 17)  # sealed and opened in worker threads
        for n in range(5):
            await i.send({"t": "x", "n": n}, big if n % 2 else b"small")
            h, body = await r.recv()
            assert h == {"t": "x", "n": n} and body == (big if n % 2 else b"small")
            await r.send({"t": "y", "n": n}, body)
            assert await i.recv() == ({"t": "y", "n": n}, body)
        assert i.counters.frames_out == r.counters.frames_in == 6  # the auth frame, then five
        assert i.counters.bytes_out == r.counters.bytes_in
    finally:
        i.close()
        r.close()
        server.close()


def test_cipher_state_refuses_every_change_to_a_frame() -> None:
    key = os.urandom(32)
    tx, rx = CipherState(key), CipherState(key)
    frames = [bytes(CipherState.seal(*tx.nonce(), f"frame {n}".encode())) for n in range(4)]

    def opens(frame: bytes, state: CipherState) -> bool:
        try:
            CipherState.open(*state.nonce(), frame[4:])
            return True
        except InvalidTag:
            return False

    assert struct.unpack(">I", frames[0][:4])[0] == len(frames[0]) - 4
    assert CipherState.open(*rx.nonce(), frames[0][4:]) == b"frame 0"
    assert not opens(frames[0], rx)  # frame 0 replayed where frame 1 is due
    rx = CipherState(key)
    rx.nonce()
    assert not opens(frames[2], rx)  # frame 1 dropped: frame 2 arrives where 1 was due
    flipped = bytearray(frames[0])
    flipped[10] ^= 1
    assert not opens(bytes(flipped), CipherState(key))
    assert not opens(frames[0][:-1], CipherState(key))  # cut short (and so another length)
    assert not opens(frames[0], CipherState(os.urandom(32)))  # the other direction's key
    with pytest.raises(ValueError):
        CipherState(b"short")


def test_rekeying_keeps_both_ends_in_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channel_mod, "REKEY_FRAMES", 3)
    key = os.urandom(32)
    tx, rx, stale = CipherState(key), CipherState(key), CipherState(key)
    for n in range(10):
        frame = CipherState.seal(*tx.nonce(), b"%d" % n)
        assert CipherState.open(*rx.nonce(), bytes(frame[4:])) == b"%d" % n
    # frame 10 is under the fourth key: a state that never rekeyed cannot open it at counter 1
    frame = bytes(CipherState.seal(*tx.nonce(), b"late")[4:])
    stale.nonce()
    with pytest.raises(InvalidTag):
        CipherState.open(*stale.nonce(), frame)
    assert CipherState.open(*rx.nonce(), frame) == b"late"


class _Tamper:
    """A TCP proxy that passes the handshake through and lets ``change`` rewrite the frames the
    initiator sends after it (a list of whole frames in, a list out)."""

    def __init__(self, change: Callable[[list[bytes]], list[bytes]]):
        self.change = change
        self.target = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection("127.0.0.1", self.target)

        async def back() -> None:
            while data := await sr.read(65536):
                cw.write(data)
                await cw.drain()
            cw.close()

        task = asyncio.ensure_future(back())
        try:
            sw.write(await cr.readexactly(40))  # the clear hello
            frames: list[bytes] = []
            for n in range(4):  # the auth frame, then three messages
                head = await cr.readexactly(4)
                frames.append(head + await cr.readexactly(struct.unpack(">I", head)[0]))
                if n == 0:
                    sw.write(frames.pop())
            for f in self.change(frames):
                sw.write(f)
            await sw.drain()
            await cr.read()  # until the initiator closes
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            sw.close()
            task.cancel()


def _flip(frames: list[bytes]) -> list[bytes]:
    f = bytearray(frames[1])
    f[-5] ^= 0x80
    return [frames[0], bytes(f), frames[2]]


def _relength(frames: list[bytes]) -> list[bytes]:  # the length says one byte less, the rest follows
    f = frames[0]
    return [struct.pack(">I", len(f) - 5) + f[4:-1], f[-1:] + frames[1]]


@pytest.mark.parametrize(
    "change, intact",
    [
        (lambda fs: fs, 3),  # untouched: everything arrives
        (_flip, 1),  # a flipped bit in the second message
        (lambda fs: [fs[0], fs[0], fs[1]], 1),  # the first message replayed
        (lambda fs: [fs[0], fs[2]], 1),  # the second message dropped
        (lambda fs: [fs[1], fs[0], fs[2]], 0),  # reordered
        (_relength, 0),  # a changed length
    ],
    ids=["untouched", "flipped-bit", "replayed", "dropped", "reordered", "changed-length"],
)
async def test_a_tampered_frame_closes_the_channel(change: Callable[[list[bytes]], list[bytes]], intact: int) -> None:
    proxy = _Tamper(change)
    port = await proxy.start()

    def via_proxy(p: int) -> int:
        proxy.target = p
        return port

    i, r, server = await _pair(via_proxy)
    try:
        for n in range(3):
            await i.send({"t": "m", "n": n}, b"payload %d" % n)
        got = []
        with pytest.raises((ChannelError, TimeoutError)) if intact < 3 else _no_error():
            for _ in range(3):
                got.append((await asyncio.wait_for(r.recv(), 10))[0]["n"])
        assert got == list(range(intact))
        if intact < 3:
            assert r.closed
    finally:
        i.close()
        r.close()
        server.close()
        proxy.server.close()


async def test_a_frame_sent_back_the_other_way_is_refused() -> None:
    i, r, server = await _pair()
    try:
        sealed = CipherState.seal(*i._tx.nonce(), b"\0\0\0\x02{}")  # what i would send next ...
        r.stream.write(bytes(sealed))  # ... arriving at i from r's side of the connection
        with pytest.raises(ProtocolError):
            await asyncio.wait_for(i.recv(), 10)
    finally:
        i.close()
        r.close()
        server.close()


class _no_error:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


def test_a_body_buffer_is_sent_in_place_or_copied_when_its_room_is_short() -> None:
    body = os.urandom(5000)
    header = {"t": "blocks", "found": [True, False], "re": 7}
    roomy = BodyBuffer(bytearray(200) + body, 200)
    plain = encode_message(header, roomy)
    assert isinstance(plain, memoryview) and plain.obj is roomy.buf  # no copy of the body
    assert decode_message(bytes(plain)) == (header, body)
    short = BodyBuffer(bytearray(3) + body, 3)
    assert decode_message(bytes(encode_message(header, short))) == (header, body)
    assert decode_message(encode_message(header, body)) == (header, body)
