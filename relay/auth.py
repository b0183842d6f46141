"""Authentication: Argon2id passwords, device challenges, bearer tokens, per-request checks.

Flow (see docs/relay-api.md):

1. ``POST /v1/auth/login`` with username and password → an *account token* (15 min) that can only
   manage the account (register devices, set account keys). Failed logins are rate limited per
   username and per client address.
2. ``POST /v1/devices`` registers a device's Ed25519 public key under the account.
3. ``POST /v1/auth/challenge`` → a single-use nonce; the device signs
   :func:`sync.wire.envelopes.relay_auth_bytes` and ``POST /v1/auth/token`` returns a *device
   token* (1 h) used for everything else.

Tokens are ``cove1.<kind>.<subject>.<expiry>.<hmac>``: an HMAC-SHA256 under the relay's
``secret.key``, so they need no storage. They only prove identity until expiry; *every* request
also re-reads the device and account (:meth:`Authenticator.authenticate`), so revoking a device or
disabling an account takes effect on the next request.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import nacl.pwhash.argon2id as argon2id
from nacl.exceptions import InvalidkeyError

from relay.errors import Forbidden, Unauthorized
from relay.storage import AccountStore

STRENGTH = {
    "min": (argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN),
    "interactive": (argon2id.OPSLIMIT_INTERACTIVE, argon2id.MEMLIMIT_INTERACTIVE),
    "moderate": (argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE),
}
MAX_PASSWORD_BYTES = 1024
_DUMMY_HASH = argon2id.str(b"cove-dummy", opslimit=argon2id.OPSLIMIT_MIN, memlimit=argon2id.MEMLIMIT_MIN)


def hash_password(password: str, strength: str = "interactive") -> bytes:
    ops, mem = STRENGTH[strength]
    return argon2id.str(password.encode("utf-8"), opslimit=ops, memlimit=mem)


def verify_password(stored: bytes | None, password: str) -> bool:
    """Constant-shape check; ``stored`` None still burns a (cheap) hash so timing leaks less."""
    try:
        return argon2id.verify(stored or _DUMMY_HASH, password.encode("utf-8")) and stored is not None
    except InvalidkeyError:
        return False


def load_or_create_secret(path: Path) -> bytes:
    """The relay's 32-byte token MAC key, created (mode 0600) on first start."""
    try:
        data = path.read_bytes()
        if len(data) == 32:
            return data
    except FileNotFoundError:
        pass
    secret = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, secret)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return secret


class TokenKind(enum.Enum):
    DEVICE = "d"
    ACCOUNT = "a"


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: an account, and the device when a device token was used."""

    username: str
    device_id: str | None
    kind: TokenKind
    device_key: bytes | None = None


class TokenMinter:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).hexdigest()

    def mint(self, kind: TokenKind, subject: str, expires_at: float) -> str:
        payload = f"cove1.{kind.value}.{subject}.{int(expires_at)}"
        return f"{payload}.{self._mac(payload)}"

    def parse(self, token: str, now: float) -> tuple[TokenKind, str]:
        parts = token.split(".")
        if len(parts) != 5 or parts[0] != "cove1" or len(token) > 256 or not token.isascii():
            raise Unauthorized("malformed token", code="token_invalid")
        payload = ".".join(parts[:4])
        if not hmac.compare_digest(self._mac(payload), parts[4]):
            raise Unauthorized("invalid token", code="token_invalid")
        try:
            kind = TokenKind(parts[1])
            expires_at = int(parts[3])
        except ValueError:
            raise Unauthorized("malformed token", code="token_invalid") from None
        if now >= expires_at:
            raise Unauthorized("token expired", code="token_expired")
        return kind, parts[2]


class Authenticator:
    """Turns a bearer token into a :class:`Principal`, re-checking the account and device."""

    def __init__(self, minter: TokenMinter, accounts: AccountStore) -> None:
        self.minter = minter
        self.accounts = accounts

    def authenticate(self, token: str, now: float) -> Principal:
        """Synchronous (runs on the storage thread): verify the token and the stored state."""
        kind, subject = self.minter.parse(token, now)
        if kind is TokenKind.DEVICE:
            found = self.accounts.device_and_user(subject)
            if found is None:
                raise Unauthorized("unknown device", code="token_invalid")
            device, user = found
            if device.revoked:
                raise Unauthorized("device revoked", code="device_revoked")
            if user.disabled:
                raise Forbidden("account disabled", code="account_disabled")
            return Principal(user.username, device.device_id, kind, device.public_key)
        user = self.accounts.get_user(subject)
        if user is None:
            raise Unauthorized("unknown account", code="token_invalid")
        if user.disabled:
            raise Forbidden("account disabled", code="account_disabled")
        return Principal(user.username, None, kind)
