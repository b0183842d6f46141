"""Garbage collection of blocks no log entry references, after a grace period.

A block with refcount 0 whose last upload (``touched_at``) is older than ``now - grace`` is
deleted: index row first (re-checked inside the transaction), then the file. Each deletion holds
the block's stripe lock, so an upload of the same block cannot interleave. Runs periodically in
the server (:func:`gc_loop`); :func:`collect_once` takes ``now`` so tests need no waiting.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from relay import keys

log = logging.getLogger("relay.gc")


async def collect_once(app: web.Application, now: float, batch: int = 500) -> int:
    grace = app[keys.CONFIG].gc_grace
    offload, index, store = app[keys.OFFLOAD], app[keys.BLOCK_INDEX], app[keys.BLOCK_STORE]
    metrics = app[keys.METRICS]
    loop = asyncio.get_running_loop()
    total = 0
    while True:
        candidates = await offload(index.gc_candidates, now - grace, batch)
        deleted_this_round = 0
        for info in candidates:
            async with app[keys.BLOCK_LOCKS](info.folder, info.block_id):
                if await offload(index.delete_if_unreferenced, info.folder, info.block_id, now - grace):
                    await loop.run_in_executor(None, store.delete, info.folder, info.block_id)
                    metrics.blocks_collected.inc()
                    metrics.blocks_stored.dec()
                    metrics.block_bytes_stored.dec(info.size)
                    deleted_this_round += 1
        total += deleted_this_round
        if len(candidates) < batch or deleted_this_round == 0:
            break
    if total:
        log.info("gc_collected", extra={"fields": {"blocks": total}})
    return total


async def gc_loop(app: web.Application) -> None:
    interval = app[keys.CONFIG].gc_interval
    while True:
        await asyncio.sleep(interval)
        try:
            await collect_once(app, app[keys.CLOCK]())
        except Exception:
            log.exception("gc_failed")
