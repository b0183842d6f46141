"""The notification WebSocket, ``GET /v1/notify`` (device token in the Authorization header).

Protocol (JSON text frames):

- server → client, first: ``{"type": "hello", "device": id, "folders": {folder: {"role": r,
  "last_rseq": n, "cursor": c}}}`` — everything the device needs to resume: for each folder where
  ``last_rseq > cursor`` it reads the log after ``cursor``;
- server → client: ``{"type": "append", "folder", "rseq", "device", "seq"}`` on every new entry
  from another device, ``{"type": "membership", "folder"}`` on membership changes,
  ``{"type": "invitation", "folder", "id"}`` when the account is invited;
- client → server: ``{"type": "cursor", "folder": f, "rseq": n}`` stores the durable cursor
  (same as ``PUT /v1/folders/{f}/cursor``); ``{"type": "ping"}`` → ``{"type": "pong"}``.

The connection is registered with the hub *before* the hello snapshot is read, so an append that
lands in between is delivered (possibly also counted in the snapshot; clients de-duplicate by
``rseq``). Close codes: 4401 revoked or disabled, 4408 too slow, 1001 relay shutting down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from aiohttp import WSMsgType, web

from relay import keys
from relay.errors import RelayError
from relay.handlers_common import authenticate
from sync.wire.ids import is_folder_id

log = logging.getLogger("relay.notify")
MAX_CLIENT_MESSAGE = 4096


async def _handle_client_message(request: web.Request, device_id: str, username: str, text: str) -> str | None:
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError):
        return json.dumps({"type": "error", "code": "malformed_json"})
    if not isinstance(msg, dict):
        return json.dumps({"type": "error", "code": "malformed_json"})
    kind = msg.get("type")
    if kind == "ping":
        return '{"type":"pong"}'
    if kind == "cursor":
        folder, rseq = msg.get("folder"), msg.get("rseq")
        if not is_folder_id(folder) or isinstance(rseq, bool) or not isinstance(rseq, int) or not 0 <= rseq <= 2**62:
            return json.dumps({"type": "error", "code": "invalid_field"})
        app = request.app
        role = await app[keys.OFFLOAD](app[keys.FOLDERS].role_of, folder, username)
        if role is None:
            return json.dumps({"type": "error", "code": "folder_not_found", "folder": folder})
        try:
            await app[keys.OFFLOAD](app[keys.LOGS].set_cursor, folder, device_id, rseq)
        except RelayError as exc:
            return json.dumps({"type": "error", "code": exc.code, "folder": folder})
        return json.dumps({"type": "cursor_saved", "folder": folder, "rseq": rseq})
    return json.dumps({"type": "error", "code": "unknown_type"})


async def notify(request: web.Request) -> web.WebSocketResponse:
    principal = await authenticate(request)
    assert principal.device_id is not None
    app = request.app
    config = app[keys.CONFIG]
    ws = web.WebSocketResponse(heartbeat=config.ws_heartbeat, max_msg_size=MAX_CLIENT_MESSAGE)
    await ws.prepare(request)
    hub = app[keys.HUB]
    conn = hub.connect(principal.username, principal.device_id, ws)
    pump: asyncio.Task[None] | None = None
    try:
        offload = app[keys.OFFLOAD]
        folders = await offload(app[keys.FOLDERS].folders_of, principal.username)
        snapshot = {}
        for folder, role, last in folders:
            cursor = await offload(app[keys.LOGS].get_cursor, folder, principal.device_id)
            snapshot[folder] = {"role": role.value, "last_rseq": last, "cursor": cursor}
        await ws.send_str(json.dumps({"type": "hello", "device": principal.device_id, "folders": snapshot}))
        pump = asyncio.create_task(conn.pump())
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                reply = await _handle_client_message(request, principal.device_id, principal.username, msg.data)
                if reply is not None and not conn.offer(reply):
                    break
            elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break
            else:
                await conn.close(1003, "text frames only")
                break
    except ConnectionResetError:
        pass
    finally:
        hub.disconnect(conn)
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
        if not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
    return ws
