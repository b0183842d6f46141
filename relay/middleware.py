"""The one middleware every request passes through: errors → JSON, time limit, metrics, access log.

- A :class:`relay.errors.RelayError` becomes its status with ``{"error": {...}}``.
- aiohttp's own HTTP errors (404 no route, 405 wrong method, 413 too large...) get the same shape.
- Requests other than the WebSocket run under ``request_timeout`` (408 when exceeded).
- Anything unexpected is logged with its traceback and answered with a JSON 500 — the fuzz tests
  make sure bad input never gets here.
- Per-account connection holds taken during authentication are released when the request ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from relay import keys
from relay.errors import RelayError

log = logging.getLogger("relay.http")
access = logging.getLogger("relay.access")

HOLDS = web.RequestKey("holds", list)
PRINCIPAL_NAME = web.RequestKey("principal_name", str)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    411: "length_required",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                   **details: object) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, **details}}, status=status,
                             headers=headers)


def _route_name(request: web.Request) -> str:
    info = request.match_info
    resource = info.route.resource if info.route is not None else None
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def relay_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    app = request.app
    metrics = app[keys.METRICS]
    config = app[keys.CONFIG]
    started = time.perf_counter()
    request[HOLDS] = []
    route = _route_name(request)
    response: web.StreamResponse
    try:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            response = await handler(request)
        else:
            async with asyncio.timeout(config.request_timeout):
                response = await handler(request)
    except RelayError as exc:
        response = web.json_response(exc.to_json(), status=exc.status, headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(exc.status, _HTTP_CODES.get(exc.status, "http_error"), exc.reason,
                                  headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"})
    except TimeoutError:
        response = error_response(408, "request_timeout", "request took too long")
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled_error", extra={"fields": {"route": route, "method": request.method}})
        response = error_response(500, "internal", "internal server error")
    finally:
        counter = app[keys.CONNECTIONS]
        for username in request[HOLDS]:
            counter.release(username)
    elapsed = time.perf_counter() - started
    metrics.observe_request(request.method, route, response.status, elapsed)
    if config.access_log:
        access.info(
            "request",
            extra={"fields": {
                "method": request.method, "path": request.path[:200], "route": route, "status": response.status,
                "ms": round(elapsed * 1000, 2), "user": request.get(PRINCIPAL_NAME), "remote": request.remote,
            }},
        )
    return response
