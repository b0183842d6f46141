"""Running the relay: listen (optionally with TLS), print where, stop gracefully on SIGTERM/SIGINT.

On a stop signal the relay stops accepting connections, closes WebSockets (code 1001), lets
in-flight requests — block writes, appends — finish for up to ``shutdown_timeout`` seconds, then
closes storage. Once listening it prints one JSON line to stdout,
``{"event": "listening", "host": ..., "port": ..., "tls": ...}``, so supervisors and tests can
learn the port when ``--port 0`` was used; logs go to stderr as JSON lines.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import ssl
import sys

from aiohttp import web

from relay.app import create_app
from relay.config import RelayConfig

log = logging.getLogger("relay.server")


def tls_context(config: RelayConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(config.tls_cert), str(config.tls_key))
    return ctx


async def serve(config: RelayConfig, stop: asyncio.Event | None = None) -> None:
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=config.shutdown_timeout,
                           handle_signals=False)
    await runner.setup()
    ssl_ctx = tls_context(config)
    site = web.TCPSite(runner, config.host, config.port, ssl_context=ssl_ctx, backlog=2048,
                       reuse_address=True)
    await site.start()
    host, port = runner.addresses[0][:2]
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("listening", extra={"fields": {"host": host, "port": port, "tls": ssl_ctx is not None}})
    sys.stdout.write(json.dumps({"event": "listening", "host": host, "port": port, "tls": ssl_ctx is not None}) + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        log.info("shutting_down", extra={"fields": {"timeout": config.shutdown_timeout}})
        await runner.cleanup()
        log.info("stopped")
