"""The canonical byte encoding of everything Cove signs or hashes.

Signed objects are JSON values restricted to ``dict`` (string keys), ``list``, ``str``, ``int``,
``bool`` and ``None`` — no floats, so there is exactly one encoding of each value. The canonical
form is ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`` encoded as
ASCII; binary fields are carried as standard base64 strings (with padding).

The bytes that are signed are a domain tag, a NUL byte and the canonical JSON::

    signing_bytes(tag, value) = tag.encode() + b"\\x00" + canonical_json(value)

The tag (``cove.log-entry.v1``, ``cove.membership.v1``, ``cove.relay-auth.v1``) keeps a signature
made for one purpose from being valid for another. A verifier always re-encodes the fields it
parsed, so it never trusts the sender's byte layout.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

MAX_SAFE_INT = 2**63 - 1


class CanonicalError(ValueError):
    """A value that has no canonical encoding (a float, a non-string key, a huge int...)."""


def _check(value: Any, depth: int = 0) -> None:
    if depth > 32:
        raise CanonicalError("value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise CanonicalError("integer out of range")
        return
    if isinstance(value, list):
        for item in value:
            _check(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError("object keys must be strings")
            _check(item, depth + 1)
        return
    raise CanonicalError(f"no canonical encoding for {type(value).__name__}")


def canonical_json(value: Any) -> bytes:
    """The canonical JSON bytes of ``value`` (see the module docstring)."""
    _check(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def signing_bytes(tag: str, value: Any) -> bytes:
    """Domain-separated bytes to sign: ``tag``, NUL, canonical JSON of ``value``."""
    return tag.encode("ascii") + b"\x00" + canonical_json(value)


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict standard base64 (padding required, no stray characters)."""
    if not isinstance(text, str):
        raise CanonicalError("expected a base64 string")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise CanonicalError("invalid base64") from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise CanonicalError("non-canonical base64")
    return data
