"""HTTP adapters for the device-link mailbox: ``POST /v1/link`` and ``GET /v1/link/{slot}``.

A device that holds the account keys deposits an encrypted link offer (:class:`sync.keys.LinkOffer`:
opaque to the relay, sealed under the pairing code's secret) in the mailbox named by the code's
public *slot*. The new device signs in with the account's password and fetches it once: the blob
is deleted as it is returned. Offers expire (``ttl``, default ``link_ttl``, at most
``link_max_ttl``); unknown, expired, used and other accounts' slots all answer the same 404, and
failed fetches are rate limited per account. The blob is never logged.
"""

from __future__ import annotations

from aiohttp import web

from relay import keys
from relay.errors import BadRequest, NotFound, PayloadTooLarge, TooManyRequests
from relay.handlers_common import authenticate
from relay.validate import Fields, is_link_slot, path_param, read_json
from sync.wire.canonical import b64encode

MAX_LINK_BLOB = 64 * 1024
MIN_LINK_BLOB = 16
MAX_PENDING_PER_ACCOUNT = 8
# base64 of the largest blob plus room for the other fields
_MAX_LINK_BODY = (MAX_LINK_BLOB + 2) // 3 * 4 + 4096


def _blob(fields: Fields) -> bytes:
    text = fields.raw("blob")
    if isinstance(text, str) and len(text) > (MAX_LINK_BLOB + 2) // 3 * 4:
        raise PayloadTooLarge(f"a link offer is at most {MAX_LINK_BLOB} bytes", code="body_too_large",
                              limit=MAX_LINK_BLOB)
    return fields.b64("blob", max_bytes=MAX_LINK_BLOB)


async def deposit_link(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    app = request.app
    config = app[keys.CONFIG]
    fields = await read_json(request, min(config.max_json_bytes, _MAX_LINK_BODY))
    slot = fields.str("slot", max_len=16, check=is_link_slot)
    blob = _blob(fields)
    if len(blob) < MIN_LINK_BLOB:
        raise BadRequest("field 'blob' is too short to be a link offer", code="invalid_field", field="blob")
    ttl = fields.number("ttl", lo=1, hi=config.link_max_ttl, default=config.link_ttl)
    now = app[keys.CLOCK]()
    assert principal.device_id is not None
    await app[keys.OFFLOAD](app[keys.LINKS].put_link, slot, principal.username, principal.device_id, blob, now,
                            now + ttl, MAX_PENDING_PER_ACCOUNT)
    return web.json_response({"slot": slot, "expires_at": int(now + ttl)}, status=201)


async def fetch_link(request: web.Request) -> web.Response:
    principal = await authenticate(request, device=False)
    slot = path_param(request, "slot", is_link_slot, "link slot")
    app = request.app
    now = app[keys.CLOCK]()
    misses = app[keys.LINK_MISSES]
    wait = misses.retry_after(principal.username, now)
    if wait is not None:
        raise TooManyRequests("too many failed link attempts; try again later", retry_after=wait)
    blob = await app[keys.OFFLOAD](app[keys.LINKS].take_link, slot, principal.username, now)
    if blob is None:
        misses.record(principal.username, now)
        raise NotFound("no link offer for this code: it expired, was used already, or the code is wrong",
                       code="link_not_found")
    return web.json_response({"slot": slot, "blob": b64encode(blob)})
