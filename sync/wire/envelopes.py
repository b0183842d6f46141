"""Signed envelopes: log entries, membership changes and relay-auth proofs.

Each envelope is a frozen dataclass with

- ``body()`` — the JSON object that is signed (everything except the signature);
- ``signing_bytes()`` — the domain-separated canonical bytes of that body
  (:func:`sync.wire.canonical.signing_bytes`);
- ``to_wire()`` / ``from_wire()`` — the JSON object exchanged over HTTP (body plus ``signature``),
  where ``from_wire`` validates every field's type and format and raises :class:`EnvelopeError`;
- ``signed(...)`` to build one with a PyNaCl ``SigningKey`` and ``verify(public_key)``.

Log entry (tag ``cove.log-entry.v1``)::

    {"blocks": [block_id, ...], "ciphertext": b64, "device": device_id, "folder": folder_id,
     "format": 1, "prev": hex64, "seq": n}

``seq`` starts at 1; ``prev`` is the :meth:`LogEntry.entry_hash` of the entry before it, or 64
zeros for the first. The entry hash is BLAKE2b-256 of the signing bytes, so it commits to every
field; Ed25519 signatures are deterministic and libsodium rejects malleated ones.

Membership change (tag ``cove.membership.v1``), signed by an owner's *user* signing key::

    {"epoch": n, "folder": folder_id, "id": change_id, "issued_at": unix_seconds,
     "member": username, "op": "create"|"add"|"set_role"|"remove", "role": role|null,
     "signer": username}

Relay auth proof (tag ``cove.relay-auth.v1``): the device signs
``{"challenge": nonce, "device": device_id}`` with its device key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nacl.encoding import RawEncoder
from nacl.exceptions import BadSignatureError
from nacl.hash import blake2b
from nacl.signing import SigningKey, VerifyKey

from sync.wire.canonical import CanonicalError, b64decode, b64encode, signing_bytes
from sync.wire.ids import is_block_id, is_device_id, is_folder_id, is_username

LOG_ENTRY_TAG = "cove.log-entry.v1"
MEMBERSHIP_TAG = "cove.membership.v1"
RELAY_AUTH_TAG = "cove.relay-auth.v1"

ENTRY_FORMAT_VERSION = 1
SUPPORTED_ENTRY_FORMATS = frozenset({1})
GENESIS_HASH = "0" * 64
MAX_ENTRY_CIPHERTEXT = 1024 * 1024
MAX_BLOCKS_PER_ENTRY = 10_000
MAX_SEQ = 2**62

ROLES = ("owner", "editor", "viewer")
MEMBERSHIP_OPS = ("create", "add", "set_role", "remove")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHANGE_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class EnvelopeError(ValueError):
    """A wire object that is malformed: missing fields, wrong types or formats."""


def _field(data: Any, name: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(data, dict):
        raise EnvelopeError("expected a JSON object")
    if name not in data:
        raise EnvelopeError(f"missing field {name!r}")
    value = data[name]
    if isinstance(value, bool) and kind is int:
        raise EnvelopeError(f"field {name!r} must be an integer")
    if not isinstance(value, kind):
        raise EnvelopeError(f"field {name!r} has the wrong type")
    return value


def _b64_field(data: Any, name: str, max_len: int) -> bytes:
    text = _field(data, name, str)
    if len(text) > (max_len + 2) // 3 * 4:
        raise EnvelopeError(f"field {name!r} is too long")
    try:
        return b64decode(text)
    except CanonicalError as exc:
        raise EnvelopeError(f"field {name!r}: {exc}") from exc


def _verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True


def _check_keys(data: dict[str, Any], allowed: set[str]) -> None:
    extra = set(data) - allowed
    if extra:
        raise EnvelopeError(f"unknown fields: {sorted(extra)[:5]}")


@dataclass(frozen=True)
class LogEntry:
    folder: str
    device: str
    seq: int
    prev: str
    blocks: tuple[str, ...]
    ciphertext: bytes
    signature: bytes
    format: int = ENTRY_FORMAT_VERSION

    def body(self) -> dict[str, Any]:
        return {
            "blocks": list(self.blocks),
            "ciphertext": b64encode(self.ciphertext),
            "device": self.device,
            "folder": self.folder,
            "format": self.format,
            "prev": self.prev,
            "seq": self.seq,
        }

    def signing_bytes(self) -> bytes:
        return signing_bytes(LOG_ENTRY_TAG, self.body())

    def entry_hash(self) -> str:
        """Hex BLAKE2b-256 of the signing bytes; the next entry's ``prev``."""
        return blake2b(self.signing_bytes(), digest_size=32, encoder=RawEncoder).hex()

    def verify(self, public_key: bytes) -> bool:
        return _verify(public_key, self.signing_bytes(), self.signature)

    def to_wire(self) -> dict[str, Any]:
        return {**self.body(), "signature": b64encode(self.signature)}

    @classmethod
    def from_wire(cls, data: Any) -> LogEntry:
        if not isinstance(data, dict):
            raise EnvelopeError("entry must be a JSON object")
        _check_keys(data, {"blocks", "ciphertext", "device", "folder", "format", "prev", "seq", "signature"})
        folder = _field(data, "folder", str)
        if not is_folder_id(folder):
            raise EnvelopeError("bad folder ID")
        device = _field(data, "device", str)
        if not is_device_id(device):
            raise EnvelopeError("bad device ID")
        seq = _field(data, "seq", int)
        if not 1 <= seq <= MAX_SEQ:
            raise EnvelopeError("seq out of range")
        prev = _field(data, "prev", str)
        if not _HEX64.match(prev):
            raise EnvelopeError("prev must be 64 lowercase hex characters")
        fmt = _field(data, "format", int)
        if fmt not in SUPPORTED_ENTRY_FORMATS:
            raise EnvelopeError(f"unsupported entry format {fmt}")
        blocks = _field(data, "blocks", list)
        if len(blocks) > MAX_BLOCKS_PER_ENTRY:
            raise EnvelopeError("too many blocks in one entry")
        if not all(is_block_id(b) for b in blocks):
            raise EnvelopeError("bad block ID in blocks")
        ciphertext = _b64_field(data, "ciphertext", MAX_ENTRY_CIPHERTEXT)
        signature = _b64_field(data, "signature", 64)
        if len(signature) != 64:
            raise EnvelopeError("signature must be 64 bytes")
        return cls(folder, device, seq, prev, tuple(blocks), ciphertext, signature, fmt)

    @classmethod
    def signed(
        cls,
        key: SigningKey,
        *,
        folder: str,
        device: str,
        seq: int,
        prev: str,
        blocks: tuple[str, ...] | list[str],
        ciphertext: bytes,
        format: int = ENTRY_FORMAT_VERSION,
    ) -> LogEntry:
        unsigned = cls(folder, device, seq, prev, tuple(blocks), ciphertext, b"", format)
        sig = key.sign(unsigned.signing_bytes()).signature
        return cls(folder, device, seq, prev, tuple(blocks), ciphertext, sig, format)


@dataclass(frozen=True)
class MembershipChange:
    folder: str
    id: str
    op: str
    member: str
    role: str | None
    signer: str
    epoch: int
    issued_at: int
    signature: bytes

    def body(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "folder": self.folder,
            "id": self.id,
            "issued_at": self.issued_at,
            "member": self.member,
            "op": self.op,
            "role": self.role,
            "signer": self.signer,
        }

    def signing_bytes(self) -> bytes:
        return signing_bytes(MEMBERSHIP_TAG, self.body())

    def verify(self, public_key: bytes) -> bool:
        return _verify(public_key, self.signing_bytes(), self.signature)

    def to_wire(self) -> dict[str, Any]:
        return {**self.body(), "signature": b64encode(self.signature)}

    @classmethod
    def from_wire(cls, data: Any) -> MembershipChange:
        if not isinstance(data, dict):
            raise EnvelopeError("change must be a JSON object")
        _check_keys(
            data, {"epoch", "folder", "id", "issued_at", "member", "op", "role", "signer", "signature"}
        )
        folder = _field(data, "folder", str)
        if not is_folder_id(folder):
            raise EnvelopeError("bad folder ID")
        change_id = _field(data, "id", str)
        if not _CHANGE_ID.match(change_id):
            raise EnvelopeError("bad change ID")
        op = _field(data, "op", str)
        if op not in MEMBERSHIP_OPS:
            raise EnvelopeError("unknown membership op")
        member = _field(data, "member", str)
        signer = _field(data, "signer", str)
        if not is_username(member) or not is_username(signer):
            raise EnvelopeError("bad username")
        role = _field(data, "role", (str, type(None)))
        if op == "remove":
            if role is not None:
                raise EnvelopeError("remove takes no role")
        elif role not in ROLES:
            raise EnvelopeError("unknown role")
        epoch = _field(data, "epoch", int)
        issued_at = _field(data, "issued_at", int)
        if not 0 <= epoch <= MAX_SEQ or not 0 <= issued_at <= MAX_SEQ:
            raise EnvelopeError("epoch or issued_at out of range")
        signature = _b64_field(data, "signature", 64)
        if len(signature) != 64:
            raise EnvelopeError("signature must be 64 bytes")
        return cls(folder, change_id, op, member, role, signer, epoch, issued_at, signature)

    @classmethod
    def signed(
        cls,
        key: SigningKey,
        *,
        folder: str,
        id: str,
        op: str,
        member: str,
        role: str | None,
        signer: str,
        epoch: int,
        issued_at: int,
    ) -> MembershipChange:
        unsigned = cls(folder, id, op, member, role, signer, epoch, issued_at, b"")
        sig = key.sign(unsigned.signing_bytes()).signature
        return cls(folder, id, op, member, role, signer, epoch, issued_at, sig)


def relay_auth_bytes(device_id: str, challenge: str) -> bytes:
    """What a device signs to prove it holds its key when asking the relay for a token."""
    return signing_bytes(RELAY_AUTH_TAG, {"challenge": challenge, "device": device_id})


def sign_relay_auth(key: SigningKey, device_id: str, challenge: str) -> bytes:
    return key.sign(relay_auth_bytes(device_id, challenge)).signature


def verify_relay_auth(public_key: bytes, device_id: str, challenge: str, signature: bytes) -> bool:
    return _verify(public_key, relay_auth_bytes(device_id, challenge), signature)
