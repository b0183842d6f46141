"""The relay's application factory: wires storage, auth, limits, metrics and the notification hub
into one aiohttp app and registers the route table of :mod:`relay.routes`.

Resources are opened in ``cleanup_ctx`` contexts, in order: storage (SQLite, block files, the
storage thread), then background tasks (garbage collection, revocation sweep). On shutdown the
WebSockets are closed first (``on_shutdown``), then the contexts unwind in reverse order, so
in-flight writes finish before the database closes. ``clock`` is injected so tests can move time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from relay import keys, routes
from relay.auth import Authenticator, TokenMinter, load_or_create_secret
from relay.blockstore_fs import FsBlockStore
from relay.config import RelayConfig
from relay.durability import GroupSync
from relay.gc import gc_loop
from relay.limits import ConnectionCounter, SlidingWindow
from relay.metrics import Metrics
from relay.middleware import relay_middleware
from relay.notify import NotifyHub
from relay.offload import Offload
from relay.sqlite import SqliteStores
from relay.stripes import LockStripes

log = logging.getLogger("relay.app")

# Large enough for the biggest block; handlers enforce the real per-endpoint limits themselves.
_SLACK = 64 * 1024


def create_app(config: RelayConfig, *, clock: keys.Clock = time.time) -> web.Application:
    app = web.Application(
        middlewares=[relay_middleware],
        client_max_size=max(config.max_block_bytes, config.max_json_bytes) + _SLACK,
    )
    metrics = Metrics()
    app[keys.CONFIG] = config
    app[keys.CLOCK] = clock
    app[keys.METRICS] = metrics
    app[keys.HUB] = NotifyHub(metrics, config.ws_queue)
    app[keys.LOGIN_BY_USER] = SlidingWindow(config.login_attempts_per_user, config.login_window)
    app[keys.LOGIN_BY_IP] = SlidingWindow(config.login_attempts_per_ip, config.login_window)
    app[keys.LINK_MISSES] = SlidingWindow(config.link_attempts_per_account, config.login_window)
    app[keys.CONNECTIONS] = ConnectionCounter(config.max_connections_per_account)
    app[keys.BLOCK_LOCKS] = LockStripes()
    app.cleanup_ctx.append(_storage_ctx)
    app.cleanup_ctx.append(_background_ctx)
    app.on_shutdown.append(_close_websockets)
    routes.register(app)
    return app


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    config.data_dir.mkdir(parents=True, exist_ok=True)
    offload = Offload()
    stores = await offload(SqliteStores, config.db_path, synchronous=config.sqlite_synchronous)
    block_store = FsBlockStore(config.blocks_dir)
    swept = await asyncio.get_running_loop().run_in_executor(None, block_store.sweep_temporaries)
    secret = load_or_create_secret(config.secret_path)
    minter = TokenMinter(secret)
    offload.batch = stores.db.batch
    offload.reader = stores.db.reader
    app[keys.OFFLOAD] = offload
    app[keys.ACCOUNTS] = stores.accounts
    app[keys.FOLDERS] = stores.folders
    app[keys.LOGS] = stores.logs
    app[keys.LINKS] = stores.links
    app[keys.BLOCK_INDEX] = stores.blocks
    app[keys.CERTS] = stores.certs
    app[keys.BLOCK_STORE] = block_store
    app[keys.GROUP_SYNC] = GroupSync(block_store.sync)
    app[keys.MINTER] = minter
    app[keys.AUTHENTICATOR] = Authenticator(minter, stores.accounts)
    blocks, nbytes = await offload(stores.blocks.count)
    app[keys.METRICS].blocks_stored.set(blocks)
    app[keys.METRICS].block_bytes_stored.set(nbytes)
    log.info("storage_open", extra={"fields": {"data_dir": str(config.data_dir), "blocks": blocks,
                                               "temporaries_swept": swept}})
    try:
        yield
    finally:
        offload.close()
        stores.close()
        block_store.close()
        log.info("storage_closed")


async def _background_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    tasks = []
    if config.gc_interval > 0:
        tasks.append(asyncio.create_task(gc_loop(app), name="relay-gc"))
    if config.revocation_sweep_interval > 0:
        tasks.append(asyncio.create_task(_revocation_loop(app), name="relay-revocations"))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def sweep_revocations(app: web.Application) -> int:
    """Close WebSockets whose device was revoked or whose account was disabled (also by the
    admin CLI, which changes the database behind the server's back). Returns how many."""
    hub = app[keys.HUB]
    conns = hub.connections()
    if not conns:
        return 0
    accounts = app[keys.ACCOUNTS]

    def dead(device_ids: list[str]) -> set[str]:
        out = set()
        for device_id in device_ids:
            found = accounts.device_and_user(device_id)
            if found is None or found[0].revoked or found[1].disabled:
                out.add(device_id)
        return out

    gone = await app[keys.OFFLOAD](dead, sorted({c.device_id for c in conns}))
    for device_id in gone:
        hub.close_device(device_id, "access revoked")
    return len(gone)


async def _revocation_loop(app: web.Application) -> None:
    interval = app[keys.CONFIG].revocation_sweep_interval
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep_revocations(app)
        except Exception:
            log.exception("revocation_sweep_failed")


async def _close_websockets(app: web.Application) -> None:
    await app[keys.HUB].close_all()
