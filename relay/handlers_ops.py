"""Operational endpoints: ``GET /healthz``, ``GET /metrics`` (Prometheus), ``GET /openapi.json``."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from relay import keys
from relay.openapi import openapi_document


async def healthz(request: web.Request) -> web.Response:
    app = request.app
    blocks, nbytes = await app[keys.OFFLOAD](app[keys.BLOCK_INDEX].count)
    return web.json_response({"status": "ok", "blocks": blocks, "block_bytes": nbytes,
                              "connected_devices": len(app[keys.HUB].connections())})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[keys.METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())
