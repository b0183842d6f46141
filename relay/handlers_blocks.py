"""HTTP adapters for blocks: PUT, GET, HEAD by ID, the batch upload and the batch "which are missing".

Integrity: the relay cannot check a block ID (a keyed hash of plaintext), so every upload carries
the SHA-256 of the ciphertext (``X-Cove-Sha256`` for PUT, in each frame of a batch); the relay
hashes what it received and refuses a mismatch (422) before anything becomes visible. GET and HEAD
return the stored hash in the same header. Hashing and file writes run on worker threads
(``hashlib`` and ``os.write`` release the GIL), never on the event loop.

Durability: a new block is staged to a temporary file, renamed into place and synced through
:class:`relay.durability.GroupSync` (concurrent uploads share one round of parallel fsyncs); only
then is its index row committed (group commit, :mod:`relay.offload`) and the upload acknowledged
(see :mod:`relay.blockstore_fs`). Same-block uploads and garbage collection are serialised by
:class:`relay.stripes.LockStripes`. A block already in the folder is not rewritten (idempotent).

A batch upload (``POST /v1/folders/{folder}/blocks``, framing in :mod:`relay.blockbatch`) is all
or nothing: it streams, hashing and staging each block while the next one arrives; any bad frame,
hash mismatch or quota excess discards everything it staged; otherwise all its new blocks are
published, synced together and committed in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re

from aiohttp import web

from relay import blockbatch, keys
from relay.errors import BadRequest, InsufficientStorage, LengthRequired, NotFound, PayloadTooLarge, Unprocessable
from relay.handlers_common import authenticate, authenticate_member, folder_role
from relay.records import BlockInfo
from relay.validate import TRUNCATED, block_param, folder_param, read_body, read_json
from sync.wire.ids import is_block_id

HASH_HEADER = "X-Cove-Sha256"
MAX_MISSING_QUERY = 10_000
STAGING_AHEAD = 4  # blocks of one batch being hashed/written while the next ones arrive
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _check_hash(data: bytes, claimed: str, block_id: str) -> str:
    actual = hashlib.sha256(data).hexdigest()
    if actual != claimed:
        raise Unprocessable("block bytes do not match their hash", code="hash_mismatch", expected=claimed,
                            block=block_id)
    return actual


def _stage(store, block_id: str, data: bytes, claimed: str) -> str:
    """Hash the received bytes and, if they match the claim, write them to a temporary file."""
    _check_hash(data, claimed, block_id)
    return store.stage(block_id, data)


def _publish_all(store, folder: str, staged: list[tuple[str, str]], unneeded: list[str]) -> list[str]:
    for tmp in unneeded:
        store.discard(tmp)
    paths: list[str] = []
    for block_id, tmp in staged:
        paths.extend(store.publish(folder, block_id, tmp))
    return paths


def _delete_all(store, folder: str, block_ids: list[str]) -> None:
    for block_id in block_ids:
        store.delete(folder, block_id)


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
        existing = await offload.read(lookup)
        if existing is None:
            tmp = await loop.run_in_executor(None, _stage, store, block_id, data, claimed)
            try:
                paths = await loop.run_in_executor(None, store.publish, folder, block_id, tmp)
            except BaseException:
                store.discard(tmp)
                raise
            await app[keys.GROUP_SYNC](paths)
        else:
            await loop.run_in_executor(None, _check_hash, data, claimed, block_id)
        try:
            created = await offload(index.add_block, folder, block_id, len(data), claimed, principal.username, now)
        except InsufficientStorage:
            if existing is None:
                await loop.run_in_executor(None, store.delete, folder, block_id)
            raise
    if created:
        metrics.blocks_stored.inc()
        metrics.block_bytes_stored.inc(len(data))
    return web.json_response({"block": block_id, "size": len(data), "created": created},
                             status=201 if created else 200)


def _discard_when_done(store, fut: asyncio.Future[str]) -> None:
    def done(f: asyncio.Future[str]) -> None:
        if not f.cancelled() and f.exception() is None:
            store.discard(f.result())

    fut.add_done_callback(done)


async def _read_frames(request: web.Request, store, length: int) -> list[tuple[str, int, str, asyncio.Future[str]]]:
    """Parse the batch body as it arrives; each block is hashed and staged on a worker thread
    while the next one is read. On any error every staged file is discarded."""
    config = request.app[keys.CONFIG]
    loop = asyncio.get_running_loop()
    content = request.content
    frames: list[tuple[str, int, str, asyncio.Future[str]]] = []
    seen: set[str] = set()
    remaining = length
    try:
        try:
            while remaining:
                if remaining < blockbatch.HEADER_SIZE:
                    raise BadRequest("the body ends inside a frame header", code="malformed_batch")
                block_id, sha, size = blockbatch.parse_header(await content.readexactly(blockbatch.HEADER_SIZE))
                remaining -= blockbatch.HEADER_SIZE
                if size == 0:
                    raise BadRequest("empty block", code="empty_block", block=block_id)
                if size > config.max_block_bytes:
                    raise PayloadTooLarge(f"block larger than {config.max_block_bytes} bytes", code="body_too_large",
                                          limit=config.max_block_bytes, block=block_id)
                if size > remaining:
                    raise BadRequest("a frame is longer than the rest of the body", code="malformed_batch",
                                     block=block_id)
                if block_id in seen:
                    raise BadRequest("a block appears twice in the batch", code="duplicate_block", block=block_id)
                if len(seen) >= config.max_batch_blocks:
                    raise BadRequest(f"more than {config.max_batch_blocks} blocks in one batch",
                                     code="too_many_blocks", limit=config.max_batch_blocks)
                seen.add(block_id)
                data = await content.readexactly(size)
                remaining -= size
                frames.append((block_id, size, sha, loop.run_in_executor(None, _stage, store, block_id, data, sha)))
                del data
                if len(frames) > STAGING_AHEAD:  # bound the memory held by one request; fail early
                    await frames[-1 - STAGING_AHEAD][3]
        except TRUNCATED as exc:
            raise BadRequest("request body truncated", code="truncated_body") from exc
        for _, _, _, fut in frames:
            await fut  # the first hash mismatch (422) aborts the batch
    except asyncio.CancelledError:
        for _, _, _, fut in frames:
            _discard_when_done(store, fut)
        raise
    except BaseException:
        # Let the stagings still running finish, then remove every file they wrote, so that a
        # refused batch leaves nothing behind by the time the client sees the error.
        futs = [fut for _, _, _, fut in frames]
        for result in await asyncio.gather(*futs, return_exceptions=True):
            if isinstance(result, str):
                store.discard(result)
        raise
    return frames


async def post_blocks(request: web.Request) -> web.Response:
    folder = folder_param(request)
    principal, _ = await authenticate_member(request, folder, write=True)
    app = request.app
    config = app[keys.CONFIG]
    length = request.content_length
    if length is None:
        raise LengthRequired("Content-Length required", code="length_required")
    if length > config.max_batch_bytes:
        raise PayloadTooLarge(f"body larger than {config.max_batch_bytes} bytes", code="body_too_large",
                              limit=config.max_batch_bytes)
    if length == 0:
        raise BadRequest("an empty batch", code="empty_batch")
    loop = asyncio.get_running_loop()
    offload, index, store = app[keys.OFFLOAD], app[keys.BLOCK_INDEX], app[keys.BLOCK_STORE]
    metrics = app[keys.METRICS]
    frames = await _read_frames(request, store, length)
    metrics.bytes_in.inc(length)
    now = app[keys.CLOCK]()
    staged = {block_id: fut.result() for block_id, _, _, fut in frames}
    ids = list(staged)
    sizes = {block_id: size for block_id, size, _, _ in frames}
    try:
        async with contextlib.AsyncExitStack() as locks:
            for lock in app[keys.BLOCK_LOCKS].many([(folder, b) for b in ids]):
                await locks.enter_async_context(lock)
            missing = set(await offload.read(index.missing, folder, ids))
            new = [b for b in ids if b in missing]
            if new:
                await offload.read(index.check_quota, principal.username, sum(sizes[b] for b in new))
            unneeded = [staged.pop(b) for b in ids if b not in missing]
            to_publish = [(b, staged.pop(b)) for b in new]
            paths = await loop.run_in_executor(None, _publish_all, store, folder, to_publish, unneeded)
            await app[keys.GROUP_SYNC](paths)
            items = [(block_id, size, sha) for block_id, size, sha, _ in frames]
            try:
                created = await offload(index.add_blocks, folder, items, principal.username, now)
            except InsufficientStorage:
                await loop.run_in_executor(None, _delete_all, store, folder, new)
                raise
    finally:
        for tmp in staged.values():  # only left if something failed before publishing
            store.discard(tmp)
    added = [(b, s) for (b, s, _, _), c in zip(frames, created) if c]
    metrics.blocks_stored.inc(len(added))
    metrics.block_bytes_stored.inc(sum(s for _, s in added))
    return web.json_response({
        "blocks": [{"block": b, "size": s, "created": c} for (b, s, _, _), c in zip(frames, created)],
        "created": len(added),
    })


async def _block_info(request: web.Request) -> BlockInfo:
    folder, block_id = folder_param(request), block_param(request)
    await authenticate_member(request, folder)
    app = request.app
    info = await app[keys.OFFLOAD].read(app[keys.BLOCK_INDEX].get_block, folder, block_id)
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
    missing = await app[keys.OFFLOAD].read(app[keys.BLOCK_INDEX].missing, folder, ids)
    return web.json_response({"missing": missing})
