"""The peer channel's TCP transport: bytes in as frames, with at most one copy.

asyncio's ``StreamReader`` copies every received byte several times (the chunk ``recv`` returns,
its buffer, the ``bytes`` ``readexactly`` returns, and a memmove of what is left behind): about
0.8 s of CPU per GiB on the benchmark machine, a third of what a LAN receiver spent. A
:class:`FrameStream` is an :class:`asyncio.BufferedProtocol`: the kernel writes small messages
into one scratch buffer, and the body of a large frame straight into that frame's own
``bytearray`` (the ``get_buffer`` it hands the event loop is the rest of the frame).

Frames are ``u32 length || length bytes``; what they contain is :mod:`sync.lan.channel`'s
business. Reading is by one consumer at a time (the channel's receive lock). Flow control both
ways: reading pauses while the scratch buffer is full and nobody reads (TCP then pushes back on
the peer), and :meth:`FrameStream.drain` waits while the transport's write buffer is above its
high-water mark.

Errors: :class:`EOFError` when the peer closed the connection before what was asked arrived,
:class:`ConnectionError` when the connection was lost, :class:`FrameLengthError` for a length
outside the caller's bounds (nothing of that frame is read).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

SCRATCH = 256 * 1024  # small frames and the start of large ones land here
_COMPACT_BELOW = 64 * 1024  # free tail space under which unread bytes move to the front


class FrameLengthError(ValueError):
    def __init__(self, length: int):
        super().__init__(f"frame length {length} out of range")
        self.length = length


class FrameStream(asyncio.BufferedProtocol):
    def __init__(self, on_connect: Callable[[FrameStream], None] | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self._on_connect = on_connect
        self._buf = bytearray(SCRATCH)
        self._view = memoryview(self._buf)
        self._lo = 0  # unread bytes are _buf[_lo:_hi]
        self._hi = 0
        self._big: memoryview | None = None  # the frame being filled directly, and how far
        self._big_pos = 0
        self._waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._lost: BaseException | None = None
        self._read_paused = False
        self._write_paused = False
        self._drainers: list[asyncio.Future[None]] = []

    # -- protocol callbacks (the event loop) -----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self._on_connect is not None:
            self._on_connect(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._big is not None and self._big_pos < len(self._big):
            return self._big[self._big_pos :]
        if self._lo == self._hi:
            self._lo = self._hi = 0
        elif self._lo and len(self._buf) - self._hi < _COMPACT_BELOW:
            n = self._hi - self._lo
            self._buf[:n] = self._view[self._lo : self._hi]
            self._lo, self._hi = 0, n
        return self._view[self._hi :]

    def buffer_updated(self, nbytes: int) -> None:
        if self._big is not None and self._big_pos < len(self._big):
            self._big_pos += nbytes
        else:
            self._hi += nbytes
            if self._hi == len(self._buf) and self._lo == 0 and self.transport is not None:
                self.transport.pause_reading()  # full and nobody reads: let TCP push back
                self._read_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._lost = exc if exc is not None else ConnectionResetError("connection closed")
        self._wake()
        self._wake_drainers()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drainers()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _wake_drainers(self) -> None:
        for fut in self._drainers:
            if not fut.done():
                fut.set_result(None)
        self._drainers.clear()

    # -- reading (one consumer at a time) ----------------------------------------------------

    async def _wait(self) -> None:
        if self._eof:
            if self._lost is not None and not isinstance(self._lost, ConnectionResetError):
                raise ConnectionError(f"connection lost: {self._lost}")
            raise EOFError("peer closed the connection")
        if self._read_paused and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _consumed(self) -> None:
        if self._read_paused and self.transport is not None and self._hi - self._lo < len(self._buf) - _COMPACT_BELOW:
            self._read_paused = False
            self.transport.resume_reading()

    async def read_exactly(self, n: int) -> bytes:
        """The next ``n`` bytes (``n`` at most :data:`SCRATCH`)."""
        assert 0 < n <= SCRATCH
        while self._hi - self._lo < n:
            await self._wait()
        out = bytes(self._view[self._lo : self._lo + n])
        self._lo += n
        self._consumed()
        return out

    async def read_frame(self, min_len: int, max_len: int, rest_timeout: float | None = None) -> bytes | bytearray:
        """The next frame's bytes (without its length). Once the length arrived, the rest must
        follow within ``rest_timeout`` seconds (:class:`TimeoutError`)."""
        head = await self.read_exactly(4)
        n = int.from_bytes(head, "big")
        if n < min_len or n > max_len:
            raise FrameLengthError(n)
        avail = self._hi - self._lo
        if avail >= n:
            out = bytes(self._view[self._lo : self._lo + n])
            self._lo += n
            self._consumed()
            return out
        frame = bytearray(n)
        frame[:avail] = self._view[self._lo : self._hi]
        self._lo = self._hi = 0
        self._consumed()
        self._big, self._big_pos = memoryview(frame), avail
        try:
            if rest_timeout is None:
                await self._fill()
            else:
                await asyncio.wait_for(self._fill(), rest_timeout)
        finally:
            self._big = None
        return frame

    async def _fill(self) -> None:
        assert self._big is not None
        while self._big_pos < len(self._big):
            await self._wait()

    # -- writing ------------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.transport is None or self._lost is not None:
            raise ConnectionResetError("connection closed")
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the transport holds more than its high-water mark of unsent bytes."""
        while self._write_paused:
            if self._lost is not None:
                raise ConnectionResetError("connection lost")
            fut = asyncio.get_running_loop().create_future()
            self._drainers.append(fut)
            await fut
        if self._lost is not None:
            raise ConnectionResetError("connection lost")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def get_extra_info(self, name: str) -> object:
        return None if self.transport is None else self.transport.get_extra_info(name)


async def open_stream(host: str, port: int) -> FrameStream:
    """Connect to ``host:port``."""
    _, stream = await asyncio.get_running_loop().create_connection(FrameStream, host, port)
    return stream


async def serve_streams(
    on_stream: Callable[[FrameStream], Awaitable[None]], host: str, port: int, *, reuse_address: bool = True
) -> asyncio.Server:
    """Listen on ``host:port``; each accepted connection runs ``on_stream(stream)`` as a task."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    def start(stream: FrameStream) -> None:
        task = loop.create_task(on_stream(stream))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return await loop.create_server(lambda: FrameStream(start), host, port, reuse_address=reuse_address)
