"""Parsing untrusted request input into typed values, raising 4xx domain errors.

Bodies are read with a hard size cap (413), a truncated body is a 400, JSON must be well formed
and at most :data:`MAX_DEPTH` deep, and :class:`Fields` pulls typed fields out of an object with
clear messages. Path and query parameters are checked against the ID formats of
:mod:`sync.wire.ids`, which admit no ``.``, ``/`` or ``%``, so path tricks never reach storage.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError

from relay.errors import BadRequest, LengthRequired, PayloadTooLarge
from sync.keys import CODE_ALPHABET, SLOT_LEN
from sync.wire.canonical import CanonicalError, b64decode
from sync.wire.ids import is_block_id, is_device_id, is_folder_id, is_username

MAX_DEPTH = 16
TRUNCATED = (ClientPayloadError, HttpProcessingError, ConnectionResetError, asyncio.IncompleteReadError, EOFError)


async def read_body(request: web.Request, max_bytes: int, *, require_length: bool = False) -> bytes:
    """The whole body, refusing more than ``max_bytes`` (413) and truncated uploads (400)."""
    length = request.content_length
    if length is None and require_length and request.headers.get("Transfer-Encoding", "").lower() != "chunked":
        raise LengthRequired("Content-Length required", code="length_required")
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"body larger than {max_bytes} bytes", code="body_too_large", limit=max_bytes)
    buf = bytearray()
    try:
        while True:
            chunk = await request.content.readany()
            if not chunk:
                break
            buf += chunk
            if len(buf) > max_bytes:
                raise PayloadTooLarge(f"body larger than {max_bytes} bytes", code="body_too_large", limit=max_bytes)
    except TRUNCATED as exc:
        raise BadRequest("request body truncated", code="truncated_body") from exc
    if length is not None and len(buf) != length:
        raise BadRequest("request body truncated", code="truncated_body")
    return bytes(buf)


def _depth_ok(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def parse_json(body: bytes) -> Any:
    if not body:
        raise BadRequest("a JSON body is required", code="malformed_json")
    try:
        value = json.loads(body)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise BadRequest("body is not valid JSON", code="malformed_json") from exc
    if not _depth_ok(value):
        raise BadRequest("JSON nested too deeply", code="malformed_json")
    return value


async def read_json(request: web.Request, max_bytes: int) -> Fields:
    return Fields(parse_json(await read_body(request, max_bytes)))


class Fields:
    """Typed access to the fields of a JSON object, with 400s that name the field."""

    def __init__(self, data: Any, where: str = "body") -> None:
        if not isinstance(data, dict):
            raise BadRequest(f"{where} must be a JSON object", code="malformed_json")
        self.data = data
        self.where = where

    def raw(self, name: str) -> Any:
        if name not in self.data:
            raise BadRequest(f"missing field {name!r}", code="missing_field", field=name)
        return self.data[name]

    def has(self, name: str) -> bool:
        return name in self.data

    def str(self, name: str, *, max_len: int = 256, check: Callable[[str], bool] | None = None) -> str:
        value = self.raw(name)
        if not isinstance(value, str) or len(value) > max_len or (check is not None and not check(value)):
            raise BadRequest(f"field {name!r} is invalid", code="invalid_field", field=name)
        return value

    def int(self, name: str, *, lo: int = 0, hi: int = 2**62, default: int | None = None) -> int:
        if default is not None and name not in self.data:
            return default
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise BadRequest(f"field {name!r} must be an integer in [{lo}, {hi}]", code="invalid_field", field=name)
        return value

    def number(self, name: str, *, lo: float, hi: float, default: float) -> float:
        if name not in self.data:
            return default
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise BadRequest(f"field {name!r} must be a number in [{lo}, {hi}]", code="invalid_field", field=name)
        return float(value)

    def b64(self, name: str, *, max_bytes: int, exact: int | None = None) -> bytes:
        text = self.str(name, max_len=(max_bytes + 2) // 3 * 4)
        try:
            data = b64decode(text)
        except CanonicalError:
            raise BadRequest(f"field {name!r} is not canonical base64", code="invalid_field", field=name) from None
        if (exact is not None and len(data) != exact) or len(data) > max_bytes:
            raise BadRequest(f"field {name!r} has the wrong length", code="invalid_field", field=name)
        return data

    def obj(self, name: str) -> Any:
        value = self.raw(name)
        if not isinstance(value, dict):
            raise BadRequest(f"field {name!r} must be an object", code="invalid_field", field=name)
        return value

    def list(self, name: str, *, max_items: int) -> list[Any]:
        value = self.raw(name)
        if not isinstance(value, list) or len(value) > max_items:
            raise BadRequest(f"field {name!r} must be a list of at most {max_items}", code="invalid_field", field=name)
        return value


def is_link_slot(value: object) -> bool:
    """A device-link mailbox slot: the public first characters of a pairing code (:mod:`sync.keys`)."""
    return isinstance(value, str) and len(value) == SLOT_LEN and all(ch in CODE_ALPHABET for ch in value)


def path_param(request: web.Request, name: str, check: Callable[[object], bool], what: str) -> str:
    value = request.match_info.get(name, "")
    if not check(value):
        raise BadRequest(f"malformed {what}", code=f"invalid_{what.replace(' ', '_')}")
    return value


def folder_param(request: web.Request) -> str:
    return path_param(request, "folder", is_folder_id, "folder id")


def block_param(request: web.Request) -> str:
    return path_param(request, "block", is_block_id, "block id")


def device_param(request: web.Request) -> str:
    return path_param(request, "device", is_device_id, "device id")


def username_param(request: web.Request) -> str:
    return path_param(request, "username", is_username, "username")


def query_int(request: web.Request, name: str, *, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 19 or not lo <= int(raw) <= hi:
        raise BadRequest(f"query parameter {name!r} must be an integer in [{lo}, {hi}]", code="invalid_query")
    return int(raw)
