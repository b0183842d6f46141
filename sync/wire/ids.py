"""Identifiers shared by the engine, the relay and the app: device IDs.

A device ID is derived from the device's Ed25519 public key: BLAKE2b-256 of the key, written in
RFC 4648 base32 (52 characters), with one Luhn mod 32 check character after each 13-character
quarter, shown as eight groups of seven (``ABCDEFG-HIJKLMN-...``), as Syncthing does. People can
read it aloud and compare it; a typo is caught by the check characters.

The *short ID* (the first 13 characters) names a device inside version vectors, where the full ID
would only cost space. This module is a leaf: it imports nothing from the rest of Cove and the
relay may import it.
"""

from __future__ import annotations

import base64
import re

from nacl.encoding import RawEncoder
from nacl.hash import blake2b

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_QUARTER = 13
_GROUP = 7
SHORT_ID_LEN = _QUARTER
_SHORT_RE = re.compile(r"^[A-Z2-7]{13}$")


class InvalidDeviceID(ValueError):
    """A device ID that is malformed or whose check characters do not match."""


def _luhn32(chars: str) -> str:
    """Luhn mod N check character over the base32 alphabet."""
    factor = 1
    total = 0
    n = len(ALPHABET)
    for ch in reversed(chars):
        addend = factor * ALPHABET.index(ch)
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return ALPHABET[(n - total % n) % n]


def device_id_from_public_key(public_key: bytes) -> str:
    """The human-checkable device ID for a 32-byte Ed25519 public key."""
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    digest = blake2b(public_key, digest_size=32, encoder=RawEncoder)
    raw = base64.b32encode(digest).decode("ascii").rstrip("=")  # 52 characters
    with_checks = "".join(
        raw[i : i + _QUARTER] + _luhn32(raw[i : i + _QUARTER]) for i in range(0, len(raw), _QUARTER)
    )
    return "-".join(with_checks[i : i + _GROUP] for i in range(0, len(with_checks), _GROUP))


def parse_device_id(text: str) -> str:
    """Normalise a typed device ID (any case, dashes or spaces) and verify its check characters."""
    compact = re.sub(r"[\s-]", "", text).upper()
    if len(compact) != 56 or any(c not in ALPHABET for c in compact):
        raise InvalidDeviceID(f"not a device ID: {text!r}")
    for i in range(0, 56, _QUARTER + 1):
        quarter, check = compact[i : i + _QUARTER], compact[i + _QUARTER]
        if _luhn32(quarter) != check:
            raise InvalidDeviceID(f"device ID has a typo (check character mismatch): {text!r}")
    return "-".join(compact[i : i + _GROUP] for i in range(0, 56, _GROUP))


def short_id(device_id: str) -> str:
    """The 13-character short form used as a key in version vectors."""
    compact = device_id.replace("-", "")
    return compact[:SHORT_ID_LEN]


def is_short_id(text: str) -> bool:
    return bool(_SHORT_RE.match(text))


# --- Formats of the other identifiers the relay and the client exchange ---------------------------
#
# Folder IDs are random and opaque (chosen by the client that creates the folder); block IDs are the
# lowercase hex of a 32-byte keyed hash; usernames are short lowercase handles. All three are
# restricted to characters that are safe in URL paths and file names (no ``.``, ``/`` or ``%``), so
# a relay can use them as path components without any escaping.

_FOLDER_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_BLOCK_RE = re.compile(r"^[0-9a-f]{64}$")
_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,31}$")
_COMPACT_DEVICE_RE = re.compile(r"^[A-Z2-7]{7}(-[A-Z2-7]{7}){7}$")


def is_folder_id(text: object) -> bool:
    """16–64 characters of the URL-safe base64 alphabet (``A-Z a-z 0-9 _ -``)."""
    return isinstance(text, str) and bool(_FOLDER_RE.match(text))


def is_block_id(text: object) -> bool:
    """64 lowercase hex characters: a 32-byte keyed hash."""
    return isinstance(text, str) and bool(_BLOCK_RE.match(text))


def is_username(text: object) -> bool:
    """2–32 characters: lowercase letters, digits, ``_`` and ``-``, starting alphanumeric."""
    return isinstance(text, str) and bool(_USERNAME_RE.match(text))


def is_device_id(text: object) -> bool:
    """A device ID in its canonical dashed form with valid check characters."""
    if not isinstance(text, str) or not _COMPACT_DEVICE_RE.match(text):
        return False
    try:
        return parse_device_id(text) == text
    except InvalidDeviceID:
        return False
