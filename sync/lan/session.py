"""Requests and replies over one peer :class:`~sync.lan.channel.Channel`, both ways at once.

Every message header has ``t`` (its type). A request carries ``id`` (a positive integer chosen by
the sender, unique among its open requests); its reply carries ``re`` = that id and either the
answer or ``error`` (a code) and ``msg``. Notifications have neither. Several requests may be in
flight in each direction (block fetches are pipelined); at most :data:`MAX_INFLIGHT` of the
peer's requests are served at a time, further ones wait (backpressure through TCP).

What is refused and how:

* a header without a string ``t``, a non-integer ``id``/``re``, a reply to no open request:
  :class:`ProtocolError`, the connection is closed (the peer is confused; nothing is applied);
* an unknown ``t`` or a request the handler rejects (:class:`BadRequest`): an ``error`` reply,
  the connection stays up (newer peers may ask for things we do not know);
* a request not answered within its timeout: :class:`RequestFailed` for the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from sync.errors import CoveError
from sync.lan.channel import Body, Channel, ChannelClosed, ChannelError, ProtocolError

MAX_INFLIGHT = 16
REQUEST_TIMEOUT_S = 60.0

Handler = Callable[["Session", dict[str, Any], bytes], Awaitable[tuple[dict[str, Any], Body] | None]]


class BadRequest(CoveError):
    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code


class RequestFailed(CoveError):
    def __init__(self, code: str, message: str = ""):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**53


class Session:
    def __init__(self, channel: Channel, handler: Handler, *, on_close: Callable[[Session], None] | None = None):
        self.channel = channel
        self.handler = handler
        self.on_close = on_close
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[tuple[dict[str, Any], bytes]]] = {}
        self._slots = asyncio.Semaphore(MAX_INFLIGHT)
        self._tasks: set[asyncio.Task] = set()
        self._reader: asyncio.Task | None = None
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.shared: set[str] = set()  # folder IDs both sides are members of (set by the service)

    @property
    def peer_id(self) -> str:
        return self.channel.peer_id

    def start(self) -> None:
        self._reader = asyncio.create_task(self._read_loop())

    async def request(
        self, header: dict[str, Any], body: bytes = b"", timeout: float = REQUEST_TIMEOUT_S
    ) -> tuple[dict[str, Any], bytes]:
        if self.closed.is_set():
            raise RequestFailed("closed", f"peer {self.peer_id[:7]} is disconnected")
        rid = next(self._ids)
        fut: asyncio.Future[tuple[dict[str, Any], bytes]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self.channel.send({**header, "id": rid}, body)
            h, b = await asyncio.wait_for(fut, timeout)
        except TimeoutError as e:
            raise RequestFailed("timeout", f"{header.get('t')} to {self.peer_id[:7]} timed out") from e
        except ChannelError as e:
            raise RequestFailed("closed", str(e)) from e
        finally:
            self._pending.pop(rid, None)
        if "error" in h:
            raise RequestFailed(str(h.get("error"))[:64], str(h.get("msg", ""))[:500])
        return h, b

    async def notify(self, header: dict[str, Any]) -> None:
        with contextlib.suppress(ChannelError):
            await self.channel.send(header)

    async def _read_loop(self) -> None:
        try:
            while True:
                header, body = await self.channel.recv()
                t = header.get("t")
                if not isinstance(t, str) or len(t) > 32:
                    raise ProtocolError("message without a type")
                if "re" in header:
                    rid = header["re"]
                    if not _int(rid) or rid not in self._pending:
                        raise ProtocolError("reply to no open request")
                    fut = self._pending.pop(rid)
                    if not fut.done():
                        fut.set_result((header, body))
                    continue
                if "id" in header and not _int(header["id"]):
                    raise ProtocolError("request id must be a positive integer")
                await self._slots.acquire()
                task = asyncio.create_task(self._serve(header, body))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except ProtocolError as e:
            self.close_reason = f"protocol error: {e}"
        except ChannelClosed as e:
            self.close_reason = str(e)
        except asyncio.CancelledError:
            self.close_reason = "closed"
        finally:
            self._shutdown()

    async def _serve(self, header: dict[str, Any], body: bytes) -> None:
        rid = header.get("id")
        try:
            try:
                out = await self.handler(self, header, body)
            except BadRequest as e:
                out = ({"t": header["t"], "error": e.code, "msg": str(e)[:500]}, b"")
            except ProtocolError as e:
                self.close_reason = f"protocol error: {e}"
                self.close()
                return
            except CoveError as e:
                out = ({"t": header["t"], "error": "failed", "msg": str(e)[:500]}, b"")
            if rid is not None:
                h, b = out if out is not None else ({"t": header["t"]}, b"")
                with contextlib.suppress(ChannelError):
                    await self.channel.send({**h, "re": rid}, b)
        finally:
            self._slots.release()

    def close(self) -> None:
        self.channel.close()
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
        else:
            self._shutdown()

    def _shutdown(self) -> None:
        if self.closed.is_set():
            return
        self.channel.close()
        self.closed.set()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ChannelClosed(self.close_reason or "connection closed"))
        self._pending.clear()
        for t in list(self._tasks):
            t.cancel()
        if self.on_close is not None:
            self.on_close(self)
