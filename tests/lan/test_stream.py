"""FrameStream over real loopback TCP: frames of every size arrive intact and in order however
the bytes are cut, a reader that stops reading pushes back on the sender (and loses nothing), and
a peer that closes, stalls or announces an impossible length is reported."""

from __future__ import annotations

import asyncio
import os
import struct

import pytest

from sync.lan.stream import SCRATCH, FrameLengthError, FrameStream, open_stream, serve_streams


async def _pair() -> tuple[FrameStream, FrameStream, asyncio.Server]:
    accepted: asyncio.Future[FrameStream] = asyncio.get_running_loop().create_future()

    async def on_stream(s: FrameStream) -> None:
        accepted.set_result(s)

    server = await serve_streams(on_stream, "127.0.0.1", 0)
    client = await open_stream("127.0.0.1", server.sockets[0].getsockname()[1])
    return client, await asyncio.wait_for(accepted, 10), server


def _frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


async def test_frames_of_every_size_arrive_intact_however_the_bytes_are_cut() -> None:
    a, b, server = await _pair()
    try:
        bodies = [os.urandom(n) for n in (1, 3, 100, SCRATCH - 4, SCRATCH, SCRATCH + 1, 3 * SCRATCH + 7, 9 << 20, 20, 5)]
        wire = b"".join(_frame(x) for x in bodies)

        async def send() -> None:
            cuts = [0, 1, 2, 5, 64, 1000, SCRATCH + 3]
            pos = 0
            for n in cuts:  # dribble the start one odd piece at a time, then the rest at once
                a.write(wire[pos : pos + n])
                await a.drain()
                pos += n
                await asyncio.sleep(0.01)
            a.write(wire[pos:])
            await a.drain()

        sender = asyncio.ensure_future(send())
        got = [bytes(await asyncio.wait_for(b.read_frame(1, 16 << 20, 10), 30)) for _ in bodies]
        await sender
        assert got == bodies
    finally:
        a.close()
        b.close()
        server.close()


async def test_a_reader_that_stops_reading_pushes_back_and_loses_nothing() -> None:
    a, b, server = await _pair()
    try:
        bodies = [os.urandom(1000) for _ in range(20_000)]  # 20 MB of small frames, unread
        sent = 0

        async def send() -> None:
            nonlocal sent
            for x in bodies:
                a.write(_frame(x))
                await a.drain()
                sent += 1

        sender = asyncio.ensure_future(send())
        await asyncio.sleep(1.0)
        assert 0 < sent < len(bodies)  # the sender is held back: TCP and drain() push back
        assert b._read_paused
        got = [await asyncio.wait_for(b.read_frame(1, 4096), 10) for _ in bodies]
        await asyncio.wait_for(sender, 10)
        assert got == bodies
    finally:
        a.close()
        b.close()
        server.close()


async def test_a_closed_stalled_or_impossible_peer_is_reported() -> None:
    a, b, server = await _pair()
    try:
        a.write(struct.pack(">I", 100) + b"x" * 10)  # a frame cut short by the close
        await a.drain()
        a.close()
        with pytest.raises(EOFError):
            await asyncio.wait_for(b.read_frame(1, 1000), 10)
        with pytest.raises(ConnectionError):
            a.write(b"more")
    finally:
        b.close()
        server.close()

    a, b, server = await _pair()
    try:
        a.write(struct.pack(">I", 10_000))  # more than the reader allows: nothing of it is read
        with pytest.raises(FrameLengthError):
            await asyncio.wait_for(b.read_frame(1, 1000), 10)
        a.write(struct.pack(">I", 500_000) + b"y" * 1000)  # a large frame that stalls
        await a.drain()
        with pytest.raises(TimeoutError):
            await b.read_frame(1, 1 << 20, rest_timeout=0.3)
    finally:
        a.close()
        b.close()
        server.close()
