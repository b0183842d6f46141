"""HTTP adapters for per-device logs: append (compare-and-set), read after a cursor, heads, and
durable per-device cursors. An append that stores a new entry is published to the other connected
devices of the folder's members through :class:`relay.notify.NotifyHub`."""

from __future__ import annotations

from aiohttp import web

from relay import keys
from relay.errors import BadRequest, Forbidden
from relay.handlers_common import authenticate, authenticate_member, folder_role
from relay.validate import folder_param, query_int, read_json
from sync.wire.envelopes import EnvelopeError, LogEntry

MAX_PAGE = 1000
MAX_PAGE_BYTES = 8 * 1024 * 1024


async def _members_of(request: web.Request, folder: str) -> tuple[str, ...]:
    hub = request.app[keys.HUB]
    cached = hub.cached_members(folder)
    if cached is None:
        members = await request.app[keys.OFFLOAD].read(request.app[keys.FOLDERS].members, folder)
        cached = tuple(m.username for m in members)
        hub.remember_members(folder, cached)
    return cached


async def append(request: web.Request) -> web.Response:
    folder = folder_param(request)
    principal, _ = await authenticate_member(request, folder, write=True)
    app = request.app
    fields = await read_json(request, app[keys.CONFIG].max_json_bytes)
    try:
        entry = LogEntry.from_wire(fields.obj("entry"))
    except EnvelopeError as exc:
        raise BadRequest(f"bad entry: {exc}", code="invalid_entry") from None
    if entry.folder != folder:
        raise BadRequest("entry is for another folder", code="folder_mismatch")
    if entry.device != principal.device_id:
        raise Forbidden("a device appends only to its own log", code="device_mismatch")
    assert principal.device_key is not None
    if not entry.verify(principal.device_key):
        raise BadRequest("entry signature does not verify", code="bad_signature")
    entry_hash = entry.entry_hash()
    rseq, created = await app[keys.OFFLOAD](app[keys.LOGS].append, entry, entry_hash, app[keys.CLOCK]())
    if created:
        app[keys.METRICS].appends.inc()
        members = await _members_of(request, folder)
        app[keys.HUB].publish(
            members,
            {"type": "append", "folder": folder, "rseq": rseq, "device": entry.device, "seq": entry.seq},
            exclude_device=entry.device,
        )
    return web.json_response({"rseq": rseq, "hash": entry_hash, "created": created}, status=201 if created else 200)


async def read_log(request: web.Request) -> web.Response:
    folder = folder_param(request)
    await authenticate_member(request, folder)
    after = query_int(request, "after", default=0, lo=0, hi=2**62)
    limit = query_int(request, "limit", default=500, lo=1, hi=MAX_PAGE)
    app = request.app
    logs = app[keys.LOGS]
    rows = await app[keys.OFFLOAD].read(logs.read, folder, after, limit + 1)
    last = await app[keys.OFFLOAD].read(logs.last_rseq, folder)
    more = len(rows) > limit
    rows = rows[:limit]
    parts: list[str] = []
    size = 0
    for row in rows:
        if parts and size + len(row.wire_json) > MAX_PAGE_BYTES:
            more = True
            break
        parts.append(f'{{"rseq":{row.rseq},"entry":{row.wire_json}}}')
        size += len(row.wire_json)
    next_after = rows[len(parts) - 1].rseq if parts else after
    body = f'{{"entries":[{",".join(parts)}],"next":{next_after},"more":{"true" if more else "false"},"last_rseq":{last}}}'
    return web.Response(text=body, content_type="application/json")


async def heads(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    folder = folder_param(request)
    await folder_role(request, folder, principal.username)
    app = request.app
    found = await app[keys.OFFLOAD].read(app[keys.LOGS].heads, folder)
    last = await app[keys.OFFLOAD].read(app[keys.LOGS].last_rseq, folder)
    return web.json_response({"folder": folder, "last_rseq": last,
                              "heads": {d: {"seq": h.seq, "hash": h.hash} for d, h in sorted(found.items())}})


async def get_cursor(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    folder = folder_param(request)
    await folder_role(request, folder, principal.username)
    app = request.app
    rseq = await app[keys.OFFLOAD].read(app[keys.LOGS].get_cursor, folder, principal.device_id)
    return web.json_response({"folder": folder, "rseq": rseq})


async def put_cursor(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    folder = folder_param(request)
    await folder_role(request, folder, principal.username)
    app = request.app
    fields = await read_json(request, app[keys.CONFIG].max_json_bytes)
    rseq = fields.int("rseq")
    await app[keys.OFFLOAD](app[keys.LOGS].set_cursor, folder, principal.device_id, rseq)
    return web.json_response({"folder": folder, "rseq": rseq})
