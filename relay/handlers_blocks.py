"""HTTP adapters for blocks: PUT, GET, HEAD by ID and the batch "which are missing".

Integrity: the relay cannot check a block ID (a keyed hash of plaintext), so every PUT carries
``X-Cove-Sha256``, the hex SHA-256 of the ciphertext bytes; the relay hashes what it received and
refuses a mismatch (422) before anything is written. GET and HEAD return the stored hash in the
same header. Writes go temp → fsync → rename, then the index row is committed (see
:mod:`relay.blockstore_fs`); same-block uploads and garbage collection are serialised by
:class:`relay.stripes.LockStripes`. A block already in the folder is not rewritten (idempotent).
"""

from __future__ import annotations

import asyncio
import hashlib
import re

from aiohttp import web

from relay import keys
from relay.errors import BadRequest, InsufficientStorage, NotFound, Unprocessable
from relay.handlers_common import authenticate, authenticate_member, folder_role
from relay.records import BlockInfo
from relay.validate import block_param, folder_param, read_body, read_json
from sync.wire.ids import is_block_id

HASH_HEADER = "X-Cove-Sha256"
MAX_MISSING_QUERY = 10_000
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _verify_and_write(store, folder: str, block_id: str, data: bytes, claimed: str, write: bool) -> str:
    """Hash the received bytes; if they match the claim (and the block is new) write them."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != claimed:
        raise Unprocessable("block bytes do not match their hash", code="hash_mismatch", expected=claimed)
    if write:
        store.write(folder, block_id, data)
    return actual


async def put_block(request: web.Request) -> web.Response:
    folder, block_id = folder_param(request), block_param(request)
    claimed = request.headers.get(HASH_HEADER, "").lower()
    if not _HEX64.match(claimed):
        raise BadRequest(f"{HASH_HEADER} header with the hex SHA-256 of the body is required", code="hash_required")
    principal, _ = await authenticate_member(request, folder, write=True)
    app = request.app
    data = await read_body(request, app[keys.CONFIG].max_block_bytes, require_length=True)
    if not data:
        raise BadRequest("empty block", code="empty_block")
    loop = asyncio.get_running_loop()
    offload, index, store = app[keys.OFFLOAD], app[keys.BLOCK_INDEX], app[keys.BLOCK_STORE]
    metrics = app[keys.METRICS]
    metrics.bytes_in.inc(len(data))
    now = app[keys.CLOCK]()

    def lookup() -> BlockInfo | None:
        found = index.get_block(folder, block_id)
        if found is None:
            index.check_quota(principal.username, len(data))
        return found

    async with app[keys.BLOCK_LOCKS](folder, block_id):
        existing = await offload(lookup)
        actual = await loop.run_in_executor(
            None, _verify_and_write, store, folder, block_id, data, claimed, existing is None
        )
        try:
            created = await offload(index.add_block, folder, block_id, len(data), actual, principal.username, now)
        except InsufficientStorage:
            if existing is None:
                await loop.run_in_executor(None, store.delete, folder, block_id)
            raise
    if created:
        metrics.blocks_stored.inc()
        metrics.block_bytes_stored.inc(len(data))
    return web.json_response({"block": block_id, "size": len(data), "created": created},
                             status=201 if created else 200)


async def _block_info(request: web.Request) -> BlockInfo:
    folder, block_id = folder_param(request), block_param(request)
    await authenticate_member(request, folder)
    app = request.app
    info = await app[keys.OFFLOAD](app[keys.BLOCK_INDEX].get_block, folder, block_id)
    if info is None:
        raise NotFound("no such block", code="block_not_found")
    return info


async def get_block(request: web.Request) -> web.Response:
    info = await _block_info(request)
    app = request.app
    data = await asyncio.get_running_loop().run_in_executor(
        None, app[keys.BLOCK_STORE].read, info.folder, info.block_id
    )
    app[keys.METRICS].bytes_out.inc(len(data))
    return web.Response(body=data, content_type="application/octet-stream", headers={HASH_HEADER: info.sha256})


async def head_block(request: web.Request) -> web.StreamResponse:
    info = await _block_info(request)
    resp = web.StreamResponse(status=200, headers={HASH_HEADER: info.sha256,
                                                   "Content-Type": "application/octet-stream"})
    resp.content_length = info.size
    await resp.prepare(request)
    await resp.write_eof()
    return resp


async def missing_blocks(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    folder = folder_param(request)
    await folder_role(request, folder, principal.username)
    app = request.app
    fields = await read_json(request, app[keys.CONFIG].max_json_bytes)
    ids = fields.list("blocks", max_items=MAX_MISSING_QUERY)
    if not all(is_block_id(b) for b in ids):
        raise BadRequest("blocks must be 64-character lowercase hex IDs", code="invalid_field", field="blocks")
    missing = await app[keys.OFFLOAD](app[keys.BLOCK_INDEX].missing, folder, ids)
    return web.json_response({"missing": missing})
