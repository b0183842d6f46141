"""Fan-out of log appends to connected devices over WebSockets.

The hub knows which devices of which accounts are connected. :meth:`NotifyHub.publish` serialises
a message once and offers it to every connected device of the given accounts (except the device
that caused it); each connection has a bounded queue drained by its own writer task, so a slow
client never delays the others — a client that falls :attr:`queue_size` messages behind is
disconnected (close code 4408) and catches up from its durable cursor when it reconnects.

The hub caches each folder's member list; handlers call :meth:`invalidate` after every membership
change. Protocol messages are documented in docs/relay-api.md (``/v1/notify``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from relay.metrics import Metrics

log = logging.getLogger("relay.notify")

CLOSE_REVOKED = 4401
CLOSE_TOO_SLOW = 4408
CLOSE_SHUTDOWN = 1001


class Connection:
    def __init__(self, username: str, device_id: str, ws: web.WebSocketResponse, queue_size: int) -> None:
        self.username = username
        self.device_id = device_id
        self.ws = ws
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self.closing = False

    def offer(self, payload: str) -> bool:
        if self.closing:
            return False
        try:
            self.queue.put_nowait(payload)
            return True
        except asyncio.QueueFull:
            return False

    async def pump(self) -> None:
        """Write queued messages until the socket closes."""
        while not self.ws.closed:
            payload = await self.queue.get()
            await self.ws.send_str(payload)

    async def close(self, code: int, message: str) -> None:
        if self.closing:
            return
        self.closing = True
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=message.encode())


class NotifyHub:
    def __init__(self, metrics: Metrics, queue_size: int = 1024) -> None:
        self.metrics = metrics
        self.queue_size = queue_size
        self._by_user: dict[str, set[Connection]] = {}
        self._members: dict[str, tuple[str, ...]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- connections --------------------------------------------------------------------------

    def connect(self, username: str, device_id: str, ws: web.WebSocketResponse) -> Connection:
        conn = Connection(username, device_id, ws, self.queue_size)
        self._by_user.setdefault(username, set()).add(conn)
        self.metrics.connected.inc()
        return conn

    def disconnect(self, conn: Connection) -> None:
        conns = self._by_user.get(conn.username)
        if conns is not None and conn in conns:
            conns.discard(conn)
            if not conns:
                del self._by_user[conn.username]
            self.metrics.connected.dec()

    def connections(self) -> list[Connection]:
        return [c for conns in self._by_user.values() for c in conns]

    def _spawn_close(self, conn: Connection, code: int, message: str) -> None:
        task = asyncio.get_running_loop().create_task(conn.close(code, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close_device(self, device_id: str, reason: str = "device revoked") -> None:
        for conn in self.connections():
            if conn.device_id == device_id:
                self._spawn_close(conn, CLOSE_REVOKED, reason)

    def close_user(self, username: str, reason: str = "account disabled") -> None:
        for conn in list(self._by_user.get(username, ())):
            self._spawn_close(conn, CLOSE_REVOKED, reason)

    async def close_all(self) -> None:
        await asyncio.gather(*(c.close(CLOSE_SHUTDOWN, "relay shutting down") for c in self.connections()),
                             return_exceptions=True)

    # -- membership cache ---------------------------------------------------------------------

    def cached_members(self, folder: str) -> tuple[str, ...] | None:
        return self._members.get(folder)

    def remember_members(self, folder: str, usernames: Iterable[str]) -> None:
        if len(self._members) > 100_000:
            self._members.clear()
        self._members[folder] = tuple(usernames)

    def invalidate(self, folder: str) -> None:
        self._members.pop(folder, None)

    # -- fan-out ------------------------------------------------------------------------------

    def publish(self, usernames: Iterable[str], message: dict[str, Any], exclude_device: str | None = None) -> int:
        """Queue ``message`` to the connected devices of ``usernames``; returns how many got it."""
        payload = json.dumps(message, separators=(",", ":"))
        sent = 0
        for username in usernames:
            for conn in list(self._by_user.get(username, ())):
                if conn.device_id == exclude_device:
                    continue
                if conn.offer(payload):
                    sent += 1
                elif not conn.closing:
                    self.metrics.dropped.inc()
                    log.warning("ws_too_slow", extra={"fields": {"device": conn.device_id}})
                    self._spawn_close(conn, CLOSE_TOO_SLOW, "too slow; reconnect and resume from cursor")
        self.metrics.notifications.inc(sent)
        return sent
