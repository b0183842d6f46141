"""The engine's client of the relay HTTP API (docs/relay-api.md) and the ``RelayTransport`` protocol.

:class:`RelayTransport` is what the syncer programs against (docs/relay-sync-design.md); two
implementations exist: :class:`RelayClient` here (aiohttp, a real relay) and
:class:`sync.transport_memory.MemoryRelay` (in process, deterministic, with fault injection).

What :class:`RelayClient` takes care of:

- **Authentication.** Account operations use a password-login token (:meth:`RelayClient.login`);
  everything else a device token obtained by signing a challenge with the device key
  (``sync.wire.envelopes.sign_relay_auth``). The device token is cached, refreshed shortly before
  it expires (by the injectable ``clock``) and, if the relay still answers 401 ``token_expired`` /
  ``token_invalid``, refreshed once and the request retried.
- **Errors.** One hierarchy under :class:`RelayError` (``status``, ``code``, ``message``,
  ``details`` from the relay's JSON error body). aiohttp exceptions are converted at one edge,
  :func:`convert_errors`: connection failures, timeouts and 5xx become :class:`RelayUnavailable`
  (transient: retry later). A relay that does not know a v1 route or sends a response we cannot
  parse gives :class:`IncompatibleRelay`; one that lies (a block whose bytes do not match its hash,
  a device ID that does not belong to its key, a malformed log entry) gives
  :class:`RelayIntegrityError` / :class:`MalformedEntry`.
- **Retries.** Idempotent requests (reads, block uploads, appends — an identical append is
  answered with the original ``rseq`` — and cursor writes) are retried on :class:`RelayUnavailable`
  with exponential backoff and jitter, ``Retry-After`` honoured for 429. Creating accounts or
  folders is not retried (a replayed membership change is refused by design).
- **Blocks.** ``missing_blocks`` batches ≤ 10,000 IDs per request; ``put_blocks`` uploads in
  parallel (at most ``max_parallel`` in flight) with ``X-Cove-Sha256``; ``get_block`` checks the
  SHA-256 of what arrived against the relay's header (content authenticity itself comes from the
  AEAD in ``sync.crypto``).
- **Notifications.** :class:`NotificationListener` keeps the ``/v1/notify`` WebSocket open,
  yields :class:`Hello` after every (re)connect (the consumer then re-reads from its cursor) and
  :class:`AppendNotice` / :class:`MembershipNotice` / :class:`InvitationNotice`; reconnects with
  bounded exponential backoff and jitter (injectable sleep and RNG), pings via WebSocket heartbeat,
  and stops on :meth:`NotificationListener.close` or cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import struct
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any, Protocol, Self, runtime_checkable

import aiohttp

from sync.errors import CoveError
from sync.identity import DeviceIdentity
from sync.wire.canonical import CanonicalError, b64decode, b64encode
from sync.wire.envelopes import (
    EnvelopeError,
    LogEntry,
    MembershipChange,
    sign_relay_auth,
)
from sync.wire.ids import device_id_from_public_key, is_block_id

log = logging.getLogger("cove.relay_client")

API_VERSION = 1
HASH_HEADER = "X-Cove-Sha256"
MAX_MISSING_QUERY = 10_000
MAX_FETCH_LIMIT = 1000
BATCH_CONTENT_TYPE = "application/x-cove-blocks"
# One frame of a batch upload: raw block ID (32), SHA-256 of the data (32), length (u32 BE), data.
_BATCH_HEADER = struct.Struct(">32s32sI")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


# --------------------------------------------------------------------------------------------
# Errors


class RelayError(CoveError):
    """A request to the relay failed. ``status`` is the HTTP status (0 when there was no answer),
    ``code`` the relay's machine-readable error code, ``details`` the rest of its error object."""

    def __init__(self, message: str, *, status: int = 0, code: str | None = None,
                 details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = dict(details or {})


class RelayUnavailable(RelayError):
    """Transient: the relay could not be reached, timed out, or failed (5xx, 408, 429). Retry later."""

    def __init__(self, message: str, *, status: int = 0, code: str | None = None,
                 details: Mapping[str, Any] | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status, code=code, details=details)
        self.retry_after = retry_after


class AuthError(RelayError):
    """401 (bad credentials, revoked device, expired token after a refresh) or a disabled account."""


class Forbidden(RelayError):
    """403: the caller may not do this (viewer writing, not an owner, ...)."""


class NotFound(RelayError):
    """404: no such folder (or not a member), block, device or user."""


class Conflict(RelayError):
    """409 other than ``head_mismatch`` (folder exists, change replayed, last owner...)."""


class HeadMismatch(Conflict):
    """409 ``head_mismatch``: the entry does not extend this device's head on the relay."""

    def __init__(self, seq: int, hash: str, message: str = "entry does not extend the device's head") -> None:
        super().__init__(f"{message} (relay head: seq {seq}, hash {hash[:12]}…)", status=409,
                         code="head_mismatch", details={"head": {"seq": seq, "hash": hash}})
        self.seq = seq
        self.hash = hash


class MissingBlocks(RelayError):
    """422 ``missing_blocks``: an entry references blocks the relay does not hold (upload them first)."""

    def __init__(self, missing: Sequence[str], message: str = "entry references blocks the relay does not hold",
                 *, missing_count: int | None = None) -> None:
        super().__init__(message, status=422, code="missing_blocks",
                         details={"missing": list(missing), "missing_count": missing_count or len(missing)})
        self.missing = list(missing)


class QuotaExceeded(RelayError):
    """507: the account's storage quota would be exceeded."""


class IncompatibleRelay(RelayError):
    """The relay speaks another API version, or answered in a format this client does not know."""


class MalformedEntry(IncompatibleRelay):
    """A log entry the relay returned does not parse (or is not what was asked for)."""

    def __init__(self, rseq: int | None, reason: str) -> None:
        where = f"log entry at rseq {rseq}" if rseq is not None else "log entry"
        super().__init__(f"relay returned a malformed {where}: {reason}", code="malformed_entry",
                         details={"rseq": rseq})
        self.rseq = rseq


class RelayIntegrityError(RelayError):
    """The relay returned data that contradicts itself or what we know (wrong hash, wrong key)."""


# --------------------------------------------------------------------------------------------
# Shared data types


@dataclass(frozen=True)
class AppendResult:
    rseq: int
    hash: str
    created: bool


@dataclass(frozen=True)
class FetchPage:
    entries: list[tuple[int, LogEntry]]
    next: int
    more: bool
    last_rseq: int


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str


@dataclass(frozen=True)
class FolderHeads:
    heads: dict[str, Head]
    last_rseq: int


@dataclass(frozen=True)
class DeviceInfo:
    device_id: str
    public_key: bytes
    revoked: bool
    name: str | None = None


@dataclass(frozen=True)
class FolderInfo:
    folder: str
    role: str
    last_rseq: int
    members: dict[str, str] = field(default_factory=dict)  # username → role (from folder() only)
    membership_log: tuple[MembershipChange, ...] = ()


@dataclass(frozen=True)
class WrappedKey:
    epoch: int
    wrapped_key: bytes


@dataclass(frozen=True)
class AccountInfo:
    username: str
    device: str | None
    sign_pk: bytes | None
    box_pk: bytes | None
    used: int
    quota: int
    blocks: int


@dataclass(frozen=True)
class FolderState:
    role: str
    last_rseq: int
    cursor: int


@dataclass(frozen=True)
class Hello:
    """Sent first on every connection: read each folder's log after ``cursor`` if behind."""

    device: str
    folders: dict[str, FolderState]


@dataclass(frozen=True)
class AppendNotice:
    folder: str
    rseq: int
    device: str
    seq: int


@dataclass(frozen=True)
class MembershipNotice:
    folder: str


@dataclass(frozen=True)
class InvitationNotice:
    folder: str
    id: str


Notification = Hello | AppendNotice | MembershipNotice | InvitationNotice


@runtime_checkable
class RelayTransport(Protocol):
    """What the syncer needs from a relay (docs/relay-sync-design.md)."""

    async def missing_blocks(self, folder: str, block_ids: Sequence[str]) -> set[str]: ...

    async def put_blocks(self, folder: str, blocks: Sequence[tuple[str, bytes]]) -> None: ...

    async def get_block(self, folder: str, block_id: str) -> bytes: ...

    async def append(self, folder: str, entry: LogEntry) -> AppendResult: ...

    async def fetch(self, folder: str, after: int, limit: int = 1000) -> FetchPage: ...

    async def heads(self, folder: str) -> FolderHeads: ...

    async def save_cursor(self, folder: str, rseq: int) -> None: ...

    async def get_cursor(self, folder: str) -> int: ...

    async def devices(self) -> list[DeviceInfo]: ...


# --------------------------------------------------------------------------------------------
# Parsing helpers (a response we cannot read is an IncompatibleRelay, never a KeyError)


def _bad(what: str, reason: str) -> IncompatibleRelay:
    return IncompatibleRelay(f"unexpected response from the relay ({what}): {reason}", code="bad_response")


def _get(obj: Any, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(obj, dict):
        raise _bad(what, "expected a JSON object")
    if key not in obj:
        raise _bad(what, f"missing field {key!r}")
    value = obj[key]
    if (kind is int or kind == (int,)) and isinstance(value, bool):
        raise _bad(what, f"field {key!r} must be an integer")
    if not isinstance(value, kind):
        raise _bad(what, f"field {key!r} has the wrong type")
    return value


def _get_b64(obj: Any, key: str, what: str, *, optional: bool = False) -> bytes | None:
    value = _get(obj, key, (str, type(None)) if optional else str, what)
    if value is None:
        return None
    try:
        return b64decode(value)
    except CanonicalError as exc:
        raise _bad(what, f"field {key!r}: {exc}") from None


def parse_notification(data: Any) -> Notification | None:
    """A server message as a :data:`Notification`; ``None`` for replies and unknown types (a newer
    relay may send more kinds; they are ignored). Raises :class:`IncompatibleRelay` if malformed."""
    what = "notification"
    kind = _get(data, "type", str, what)
    if kind == "hello":
        folders_raw = _get(data, "folders", dict, what)
        folders = {}
        for folder, st in folders_raw.items():
            folders[folder] = FolderState(_get(st, "role", str, what), _get(st, "last_rseq", int, what),
                                          _get(st, "cursor", int, what))
        return Hello(_get(data, "device", str, what), folders)
    if kind == "append":
        return AppendNotice(_get(data, "folder", str, what), _get(data, "rseq", int, what),
                            _get(data, "device", str, what), _get(data, "seq", int, what))
    if kind == "membership":
        return MembershipNotice(_get(data, "folder", str, what))
    if kind == "invitation":
        return InvitationNotice(_get(data, "folder", str, what), _get(data, "id", str, what))
    return None


def parse_devices(body: Any) -> list[DeviceInfo]:
    """``GET /v1/devices`` → verified :class:`DeviceInfo` list. A device ID that is not the one
    derived from its public key means the relay lies about keys: :class:`RelayIntegrityError`."""
    what = "devices"
    out = []
    for d in _get(body, "devices", list, what):
        device_id = _get(d, "device", str, what)
        public_key = _get_b64(d, "public_key", what)
        assert public_key is not None
        if len(public_key) != 32 or device_id_from_public_key(public_key) != device_id:
            raise RelayIntegrityError(
                f"the relay lists device {device_id} with a public key that is not that device's key",
                code="device_key_mismatch", details={"device": device_id})
        name = d.get("name") if isinstance(d.get("name"), str) else None
        out.append(DeviceInfo(device_id, public_key, bool(_get(d, "revoked", bool, what)), name or None))
    return out


def parse_log_page(body: Any, folder: str, after: int) -> FetchPage:
    """``GET .../log`` → :class:`FetchPage`; every entry is parsed with ``LogEntry.from_wire`` and
    must belong to ``folder`` and come in increasing ``rseq`` after ``after``."""
    what = "log page"
    entries: list[tuple[int, LogEntry]] = []
    prev = after
    for item in _get(body, "entries", list, what):
        rseq = item.get("rseq") if isinstance(item, dict) else None
        if not isinstance(rseq, int) or isinstance(rseq, bool):
            raise MalformedEntry(None, f"entry without an integer rseq after rseq {prev}")
        if rseq <= prev:
            raise MalformedEntry(rseq, f"rseq {rseq} is not after {prev}")
        try:
            entry = LogEntry.from_wire(item.get("entry"))
        except EnvelopeError as exc:
            raise MalformedEntry(rseq, str(exc)) from None
        if entry.folder != folder:
            raise MalformedEntry(rseq, f"entry belongs to folder {entry.folder}, not {folder}")
        entries.append((rseq, entry))
        prev = rseq
    nxt = _get(body, "next", int, what)
    more = _get(body, "more", bool, what)
    last = _get(body, "last_rseq", int, what)
    if nxt < prev:
        raise _bad(what, f"next ({nxt}) is before the last entry ({prev})")
    return FetchPage(entries, nxt, more, last)


def error_from_response(status: int, body: bytes, headers: Mapping[str, str] | None = None,
                        what: str = "request") -> RelayError:
    """The exception for a non-success response, from the relay's ``{"error": {...}}`` body."""
    code: str | None = None
    message = ""
    details: dict[str, Any] = {}
    try:
        payload = json.loads(body)
        err = payload["error"]
        code = err.get("code") if isinstance(err.get("code"), str) else None
        message = str(err.get("message") or "")
        details = {k: v for k, v in err.items() if k not in ("code", "message")}
    except (ValueError, TypeError, KeyError, AttributeError):
        message = body[:200].decode("utf-8", "replace").strip()
    text = f"{what}: relay answered {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    kw: dict[str, Any] = {"status": status, "code": code, "details": details}
    if status >= 500 and status != 507 or status == 408:
        return RelayUnavailable(text, **kw)
    if status == 429:
        retry_after: float | None = None
        with contextlib.suppress(TypeError, ValueError):
            retry_after = float((headers or {}).get("Retry-After", ""))
        return RelayUnavailable(text, retry_after=retry_after, **kw)
    if status == 401 or (status == 403 and code == "account_disabled"):
        return AuthError(text, **kw)
    if code is None or (status == 404 and code == "not_found") or status == 405:
        # Not the relay's error format, or a route it does not know: not a v1 Cove relay we can talk to.
        return IncompatibleRelay(
            f"{what}: the server at this address does not speak the Cove relay API v{API_VERSION} "
            f"(HTTP {status}{' ' + code if code else ''}{': ' + message if message else ''})", **kw)
    if status == 403:
        return Forbidden(text, **kw)
    if status == 404:
        return NotFound(text, **kw)
    if status == 409 and code == "head_mismatch":
        head = details.get("head")
        if isinstance(head, dict) and isinstance(head.get("seq"), int) and isinstance(head.get("hash"), str):
            return HeadMismatch(head["seq"], head["hash"], message or "entry does not extend the device's head")
        return IncompatibleRelay(f"{what}: head_mismatch without a head", **kw)
    if status == 409:
        return Conflict(text, **kw)
    if status == 422 and code == "missing_blocks":
        missing = details.get("missing")
        count = details.get("missing_count")
        return MissingBlocks([m for m in missing if isinstance(m, str)] if isinstance(missing, list) else [],
                             text, missing_count=count if isinstance(count, int) else None)
    if status == 507:
        return QuotaExceeded(text, **kw)
    return RelayError(text, **kw)


@contextlib.contextmanager
def convert_errors(what: str) -> Iterator[None]:
    """The one place aiohttp and socket exceptions become :class:`RelayError` subclasses."""
    try:
        yield
    except RelayError:
        raise
    except aiohttp.InvalidURL as exc:
        raise RelayError(f"{what}: bad relay address {exc}") from exc
    except aiohttp.WSServerHandshakeError as exc:
        if exc.status in (401, 403):
            raise AuthError(f"{what}: relay refused the connection ({exc.status})", status=exc.status) from exc
        if exc.status >= 500 or exc.status in (408, 429):
            raise RelayUnavailable(f"{what}: relay unavailable ({exc.status})", status=exc.status) from exc
        raise IncompatibleRelay(f"{what}: relay refused the WebSocket ({exc.status} {exc.message})",
                                status=exc.status) from exc
    except aiohttp.ClientResponseError as exc:
        raise error_from_response(exc.status, b"", exc.headers, what) from exc
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise RelayUnavailable(f"{what}: relay unreachable ({type(exc).__name__}: {exc})") from exc


def backoff_delay(attempt: int, *, initial: float, maximum: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: uniformly in [d/2, d] for d = min(maximum, initial·2^attempt)."""
    d = min(maximum, initial * (2 ** min(attempt, 32)))
    return d / 2 + rng.random() * d / 2


# --------------------------------------------------------------------------------------------
# The client


class RelayClient:
    """aiohttp client of one relay as one device. Implements :class:`RelayTransport`.

    ``session`` is borrowed if given (not closed by :meth:`close`); otherwise one is created.
    ``clock`` decides when the cached device token is refreshed; ``retry_sleep`` and ``rng`` drive
    retry backoff (inject them in tests)."""

    def __init__(
        self,
        base_url: str,
        identity: DeviceIdentity,
        session: aiohttp.ClientSession | None = None,
        *,
        clock: Clock = time.time,
        max_parallel: int = 8,
        batch_bytes: int = 8 * 1024 * 1024,
        batch_blocks: int = 256,
        retries: int = 3,
        retry_initial: float = 0.25,
        retry_max: float = 10.0,
        retry_sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        connect_timeout: float = 15.0,
        request_timeout: float = 150.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.identity = identity
        self.device_id = identity.device_id
        self._session = session
        self._own_session = session is None
        self._clock = clock
        self.max_parallel = max(1, max_parallel)
        self.batch_bytes = batch_bytes
        self.batch_blocks = max(1, batch_blocks)
        self._batch_upload: bool | None = None  # None: not tried yet; False: the relay has none
        self.retries = max(0, retries)
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._sleep = retry_sleep
        self._rng = rng or random.Random()
        self._timeout = aiohttp.ClientTimeout(total=request_timeout, connect=connect_timeout)
        self._account_token: str | None = None
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_margin = 0.0
        self._auth_lock = asyncio.Lock()
        self.username: str | None = None

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- plumbing ---------------------------------------------------------------------------

    async def _token_for(self, auth: str) -> str | None:
        if auth == "none":
            return None
        if auth == "account" and self._account_token is not None:
            return self._account_token
        return await self.device_token()

    async def _once(self, method: str, path: str, auth: str, json_body: Any, data: bytes | None,
                    headers: Mapping[str, str] | None, raw: bool, what: str) -> tuple[Any, Mapping[str, str], str | None]:
        token = await self._token_for(auth)
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        with convert_errors(what):
            async with self.session.request(method, self.base_url + path, json=json_body, data=data,
                                            headers=hdrs, timeout=self._timeout) as resp:
                body = await resp.read()
                if resp.status not in (200, 201):
                    err = error_from_response(resp.status, body, resp.headers, what)
                    err.details.setdefault("_token", token)
                    raise err
                if raw:
                    return body, resp.headers, token
                if resp.content_type != "application/json":
                    raise _bad(what, f"content type {resp.content_type!r}")
                try:
                    return json.loads(body), resp.headers, token
                except ValueError:
                    raise _bad(what, "invalid JSON") from None

    async def _call(self, method: str, path: str, *, auth: str = "device", json_body: Any = None,
                    data: bytes | None = None, headers: Mapping[str, str] | None = None, raw: bool = False,
                    retry: bool = True, what: str | None = None) -> Any:
        body, _ = await self._call_h(method, path, auth=auth, json_body=json_body, data=data, headers=headers,
                                     raw=raw, retry=retry, what=what)
        return body

    async def _call_h(self, method: str, path: str, *, auth: str = "device", json_body: Any = None,
                      data: bytes | None = None, headers: Mapping[str, str] | None = None, raw: bool = False,
                      retry: bool = True, what: str | None = None) -> tuple[Any, Mapping[str, str]]:
        what = what or f"{method} {path.split('?')[0]}"
        attempt = 0
        refreshed = False
        while True:
            try:
                body, hdrs, _ = await self._once(method, path, auth, json_body, data, headers, raw, what)
                return body, hdrs
            except AuthError as exc:
                used = exc.details.pop("_token", None)
                renewable = exc.status == 401 and exc.code in ("token_expired", "token_invalid", "token_missing")
                if refreshed or not renewable or used is None or used == self._account_token:
                    raise
                # The relay no longer takes our device token (expired early, secret rotated): renew once.
                self._invalidate_token(used)
                refreshed = True
            except RelayUnavailable as exc:
                exc.details.pop("_token", None)
                if not retry or attempt >= self.retries:
                    raise
                delay = backoff_delay(attempt, initial=self._retry_initial, maximum=self._retry_max, rng=self._rng)
                if exc.retry_after is not None:
                    delay = min(max(delay, exc.retry_after), max(self._retry_max, 1.0))
                log.info("relay_retry", extra={"fields": {"what": what, "attempt": attempt + 1, "error": str(exc)}})
                await self._sleep(delay)
                attempt += 1
            except RelayError as exc:
                exc.details.pop("_token", None)
                raise

    # -- device authentication --------------------------------------------------------------

    def _invalidate_token(self, token: str | None = None) -> None:
        if token is None or token == self._token:
            self._token = None
            self._token_expires = 0.0

    def _token_fresh(self) -> bool:
        return self._token is not None and self._token_expires - self._clock() > self._token_margin

    async def device_token(self) -> str:
        """A valid device token, from the cache or a new challenge-response."""
        if self._token_fresh():
            assert self._token is not None
            return self._token
        async with self._auth_lock:
            if not self._token_fresh():
                await self.authenticate()
            assert self._token is not None
            return self._token

    async def authenticate(self) -> str:
        """Challenge → signature → device token (always a new one)."""
        try:
            ch = await self._call("POST", "/v1/auth/challenge", auth="none", json_body={"device": self.device_id},
                                  what="device challenge")
        except NotFound as exc:
            raise AuthError(f"this device ({self.device_id}) is not registered with the relay (or was revoked)", status=404,
                            code=exc.code or "device_not_found") from exc
        challenge = _get(ch, "challenge", str, "device challenge")
        sig = sign_relay_auth(self.identity.signing_key, self.device_id, challenge)
        now = self._clock()
        out = await self._call("POST", "/v1/auth/token", auth="none", retry=False, what="device token", json_body={
            "device": self.device_id, "challenge": challenge, "signature": b64encode(sig)})
        self._token = _get(out, "token", str, "device token")
        self._token_expires = float(_get(out, "expires_at", (int, float), "device token"))
        self.username = _get(out, "username", str, "device token")
        # Refresh a minute early, or a tenth of the lifetime for short-lived tokens.
        self._token_margin = min(60.0, max(0.0, (self._token_expires - now) / 10))
        return self._token

    # -- accounts ---------------------------------------------------------------------------

    async def create_account(self, username: str, password: str) -> None:
        """Sign up (only on relays with open registration; otherwise :class:`Forbidden`)."""
        await self._call("POST", "/v1/accounts", auth="none", retry=False, what="create account",
                         json_body={"username": username, "password": password})

    async def login(self, username: str, password: str) -> str:
        """Password login; the account token is kept for account operations and returned."""
        out = await self._call("POST", "/v1/auth/login", auth="none", retry=False, what="login",
                               json_body={"username": username, "password": password})
        self._account_token = _get(out, "token", str, "login")
        self.username = username
        return self._account_token

    async def register_device(self, name: str = "") -> DeviceInfo:
        """Register this device's public key with the logged-in account (idempotent)."""
        if self._account_token is None:
            raise AuthError("register_device needs login() first")
        body: dict[str, Any] = {"public_key": b64encode(self.identity.public_key)}
        if name:
            body["name"] = name
        out = await self._call("POST", "/v1/devices", auth="account", json_body=body, what="register device")
        return parse_devices({"devices": [out]})[0]

    async def set_account_keys(self, sign_pk: bytes, box_pk: bytes) -> None:
        await self._call("PUT", "/v1/account/keys", auth="account", what="set account keys",
                         json_body={"sign_pk": b64encode(sign_pk), "box_pk": b64encode(box_pk)})

    async def account(self) -> AccountInfo:
        out = await self._call("GET", "/v1/account", auth="account", what="account")
        usage = _get(out, "usage", dict, "account")
        device = out.get("device")
        return AccountInfo(
            _get(out, "username", str, "account"), device if isinstance(device, str) else None,
            _get_b64(out, "sign_pk", "account", optional=True), _get_b64(out, "box_pk", "account", optional=True),
            _get(usage, "used", int, "account"), _get(usage, "quota", int, "account"),
            _get(usage, "blocks", int, "account"),
        )

    async def user_keys(self, username: str) -> tuple[bytes, bytes]:
        """Another user's (sign_pk, box_pk), to verify their changes and wrap keys for them."""
        out = await self._call("GET", f"/v1/users/{username}/keys", what="user keys")
        sign_pk = _get_b64(out, "sign_pk", "user keys")
        box_pk = _get_b64(out, "box_pk", "user keys")
        assert sign_pk is not None and box_pk is not None
        return sign_pk, box_pk

    async def devices(self) -> list[DeviceInfo]:
        """The account's devices, each ID checked against its public key."""
        return parse_devices(await self._call("GET", "/v1/devices", auth="account", what="devices"))

    async def revoke_device(self, device_id: str) -> None:
        await self._call("DELETE", f"/v1/devices/{device_id}", auth="account", what="revoke device")

    async def check_compatibility(self) -> None:
        """Raise :class:`IncompatibleRelay` unless the relay serves API v1 (from /openapi.json)."""
        doc = await self._call("GET", "/openapi.json", auth="none", what="API description")
        version = str(_get(_get(doc, "info", dict, "API description"), "version", str, "API description"))
        major = version.split(".")[0]
        if major != str(API_VERSION):
            raise IncompatibleRelay(
                f"the relay speaks API version {version}; this Cove speaks version {API_VERSION} — "
                f"{'update Cove' if major.isdigit() and int(major) > API_VERSION else 'update the relay'}",
                code="api_version", details={"version": version})

    # -- device linking ---------------------------------------------------------------------

    async def deposit_link(self, slot: str, blob: bytes, ttl: float | None = None) -> float:
        """Put an encrypted link offer in the relay's mailbox ``slot`` (device token); returns
        when it expires. :class:`Conflict` ``slot_taken`` if the slot holds another offer."""
        body: dict[str, Any] = {"slot": slot, "blob": b64encode(blob)}
        if ttl is not None:
            body["ttl"] = ttl
        out = await self._call("POST", "/v1/link", json_body=body, retry=False, what="deposit link offer")
        return float(_get(out, "expires_at", (int, float), "deposit link offer"))

    async def fetch_link(self, slot: str) -> bytes:
        """Take the link offer in ``slot`` (account token after :meth:`login`, or a device token).
        Single use: not retried. :class:`NotFound` if unknown, expired, used or another account's."""
        out = await self._call("GET", f"/v1/link/{slot}", auth="account", retry=False, what="fetch link offer")
        blob = _get_b64(out, "blob", "fetch link offer")
        assert blob is not None
        return blob

    # -- folders ----------------------------------------------------------------------------

    async def create_folder(self, change: MembershipChange, wrapped_key: bytes | None = None) -> FolderInfo:
        body: dict[str, Any] = {"change": change.to_wire()}
        if wrapped_key is not None:
            body["wrapped_key"] = b64encode(wrapped_key)
        out = await self._call("POST", "/v1/folders", json_body=body, retry=False, what="create folder")
        return FolderInfo(_get(out, "folder", str, "create folder"), _get(out, "role", str, "create folder"), 0)

    async def folders(self) -> list[FolderInfo]:
        out = await self._call("GET", "/v1/folders", what="folders")
        return [FolderInfo(_get(f, "folder", str, "folders"), _get(f, "role", str, "folders"),
                           _get(f, "last_rseq", int, "folders")) for f in _get(out, "folders", list, "folders")]

    async def folder(self, folder: str) -> FolderInfo:
        out = await self._call("GET", f"/v1/folders/{folder}", what="folder")
        members = {_get(m, "username", str, "folder"): _get(m, "role", str, "folder")
                   for m in _get(out, "members", list, "folder")}
        try:
            changes = tuple(MembershipChange.from_wire(c) for c in _get(out, "membership_log", list, "folder"))
        except EnvelopeError as exc:
            raise _bad("folder", f"membership log: {exc}") from None
        return FolderInfo(_get(out, "folder", str, "folder"), _get(out, "role", str, "folder"),
                          _get(out, "last_rseq", int, "folder"), members, changes)

    async def change_membership(self, folder: str, change: MembershipChange) -> None:
        await self._call("POST", f"/v1/folders/{folder}/membership", json_body={"change": change.to_wire()},
                         retry=False, what="membership change")

    async def put_keys(self, folder: str, epoch: int, keys: Mapping[str, bytes]) -> None:
        """Store wrapped folder keys of ``epoch`` (username → sealed key); owners only."""
        await self._call("PUT", f"/v1/folders/{folder}/keys", what="put folder keys",
                         json_body={"epoch": epoch, "keys": {u: b64encode(k) for u, k in keys.items()}})

    async def get_keys(self, folder: str) -> list[WrappedKey]:
        out = await self._call("GET", f"/v1/folders/{folder}/keys", what="folder keys")
        res = []
        for k in _get(out, "keys", list, "folder keys"):
            wrapped = _get_b64(k, "wrapped_key", "folder keys")
            assert wrapped is not None
            res.append(WrappedKey(_get(k, "epoch", int, "folder keys"), wrapped))
        return res

    # -- RelayTransport: blocks -------------------------------------------------------------

    async def missing_blocks(self, folder: str, block_ids: Sequence[str]) -> set[str]:
        ids = list(dict.fromkeys(block_ids))
        missing: set[str] = set()
        for i in range(0, len(ids), MAX_MISSING_QUERY):
            part = ids[i : i + MAX_MISSING_QUERY]
            out = await self._call("POST", f"/v1/folders/{folder}/blocks/missing", json_body={"blocks": part},
                                   what="missing blocks")
            got = _get(out, "missing", list, "missing blocks")
            asked = set(part)
            if not all(isinstance(b, str) and b in asked for b in got):
                raise _bad("missing blocks", "answer names blocks that were not asked about")
            missing.update(got)
        return missing

    async def put_block(self, folder: str, block_id: str, data: bytes) -> bool:
        """Upload one block; True if the relay stored it now, False if it already had it."""
        out = await self._call(
            "PUT", f"/v1/folders/{folder}/blocks/{block_id}", data=data, what=f"upload block {block_id[:12]}",
            headers={HASH_HEADER: hashlib.sha256(data).hexdigest(), "Content-Type": "application/octet-stream"})
        return bool(_get(out, "created", bool, "upload block"))

    async def put_block_batch(self, folder: str, blocks: Sequence[tuple[str, bytes]]) -> None:
        """Upload several blocks in one ``POST .../blocks`` (framed body, all or nothing).
        :class:`IncompatibleRelay` if the relay has no batch upload."""
        parts: list[bytes] = []
        for block_id, data in blocks:
            parts.append(_BATCH_HEADER.pack(bytes.fromhex(block_id), hashlib.sha256(data).digest(), len(data)))
            parts.append(data)
        out = await self._call("POST", f"/v1/folders/{folder}/blocks", data=b"".join(parts),
                               headers={"Content-Type": BATCH_CONTENT_TYPE}, what=f"upload {len(blocks)} blocks")
        got = {_get(b, "block", str, "upload blocks") for b in _get(out, "blocks", list, "upload blocks")}
        if got != {b for b, _ in blocks}:
            raise _bad("upload blocks", "the answer does not list the blocks sent")

    def _batches(self, blocks: list[tuple[str, bytes]]) -> list[list[tuple[str, bytes]]]:
        out: list[list[tuple[str, bytes]]] = []
        current: list[tuple[str, bytes]] = []
        size = 0
        for item in blocks:
            n = len(item[1]) + _BATCH_HEADER.size
            if current and (size + n > self.batch_bytes or len(current) >= self.batch_blocks):
                out.append(current)
                current, size = [], 0
            current.append(item)
            size += n
        if current:
            out.append(current)
        return out

    async def put_blocks(self, folder: str, blocks: Sequence[tuple[str, bytes]]) -> None:
        """Upload blocks: in batches (``POST .../blocks``, up to ``batch_bytes`` / ``batch_blocks``
        each) when the relay has batch upload, else one ``PUT`` per block; at most ``max_parallel``
        requests in flight, each retried on transient failures. The first failure cancels the rest
        and is raised."""
        unique = list({b: d for b, d in blocks}.items())
        if not unique:
            return
        if not all(is_block_id(b) for b, _ in unique):
            raise ValueError("block IDs must be 64 lowercase hex characters")
        sem = asyncio.Semaphore(self.max_parallel)

        async def one(batch: list[tuple[str, bytes]]) -> None:
            if len(batch) > 1 and self._batch_upload is not False:
                async with sem:
                    try:
                        await self.put_block_batch(folder, batch)
                        self._batch_upload = True
                        return
                    except IncompatibleRelay as exc:
                        if exc.status not in (404, 405) or self._batch_upload:
                            raise
                        self._batch_upload = False  # an older relay: fall back to PUT per block
            await asyncio.gather(*(self._put_one(sem, folder, b, d) for b, d in batch))

        units = self._batches(unique) if self._batch_upload is not False else [[item] for item in unique]
        tasks = [asyncio.ensure_future(one(u)) for u in units]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                if t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _put_one(self, sem: asyncio.Semaphore, folder: str, block_id: str, data: bytes) -> None:
        async with sem:
            await self.put_block(folder, block_id, data)

    async def get_block(self, folder: str, block_id: str) -> bytes:
        what = f"download block {block_id[:12]}"
        data, headers = await self._call_h("GET", f"/v1/folders/{folder}/blocks/{block_id}", raw=True, what=what)
        claimed = headers.get(HASH_HEADER, "").lower()
        if not claimed:
            raise _bad(what, f"no {HASH_HEADER} header")
        actual = hashlib.sha256(data).hexdigest()
        if actual != claimed:
            raise RelayIntegrityError(f"{what}: received bytes do not match the relay's hash", code="hash_mismatch",
                                      details={"block": block_id, "expected": claimed, "actual": actual})
        return data

    # -- RelayTransport: logs ---------------------------------------------------------------

    async def append(self, folder: str, entry: LogEntry) -> AppendResult:
        """Append ``entry`` to this device's log. Retried on transient errors (the relay answers an
        identical retry with the original rseq). :class:`HeadMismatch` if it does not extend the head."""
        out = await self._call("POST", f"/v1/folders/{folder}/log", json_body={"entry": entry.to_wire()},
                               what=f"append seq {entry.seq}")
        res = AppendResult(_get(out, "rseq", int, "append"), _get(out, "hash", str, "append"),
                           _get(out, "created", bool, "append"))
        if res.hash != entry.entry_hash():
            raise RelayIntegrityError(f"the relay acknowledged seq {entry.seq} with another entry hash",
                                      code="hash_mismatch", details={"rseq": res.rseq})
        return res

    async def fetch(self, folder: str, after: int, limit: int = 1000) -> FetchPage:
        limit = max(1, min(limit, MAX_FETCH_LIMIT))
        out = await self._call("GET", f"/v1/folders/{folder}/log?after={after}&limit={limit}", what="read log")
        return parse_log_page(out, folder, after)

    async def heads(self, folder: str) -> FolderHeads:
        out = await self._call("GET", f"/v1/folders/{folder}/heads", what="heads")
        heads = {d: Head(_get(h, "seq", int, "heads"), _get(h, "hash", str, "heads"))
                 for d, h in _get(out, "heads", dict, "heads").items()}
        return FolderHeads(heads, _get(out, "last_rseq", int, "heads"))

    async def save_cursor(self, folder: str, rseq: int) -> None:
        await self._call("PUT", f"/v1/folders/{folder}/cursor", json_body={"rseq": rseq}, what="save cursor")

    async def get_cursor(self, folder: str) -> int:
        out = await self._call("GET", f"/v1/folders/{folder}/cursor", what="cursor")
        return _get(out, "rseq", int, "cursor")

    # -- notifications ----------------------------------------------------------------------

    def notifications(self, **options: Any) -> NotificationListener:
        """``async for note in client.notifications(): ...`` — see :class:`NotificationListener`."""
        return NotificationListener(self, **options)


    # -- sharing: invitations and device certificates (docs/sharing.md) ---------------------

    async def create_invitation(self, folder: str, change: MembershipChange, wrapped_key: bytes,
                                ttl: float | None = None) -> Invitation:
        """Invite ``change.member`` (a signed ``add``) with the folder key wrapped for them; owners only."""
        body: dict[str, Any] = {"change": change.to_wire(), "wrapped_key": b64encode(wrapped_key)}
        if ttl is not None:
            body["ttl"] = ttl
        out = await self._call("POST", f"/v1/folders/{folder}/invitations", json_body=body, retry=False,
                               what="invite")
        return parse_invitation(out)

    async def invitations(self) -> list[Invitation]:
        """Pending, unexpired invitations for this account."""
        out = await self._call("GET", "/v1/invitations", what="invitations")
        return [parse_invitation(i) for i in _get(out, "invitations", list, "invitations")]

    async def folder_invitations(self, folder: str) -> list[Invitation]:
        """Pending invitations of a folder (owners only)."""
        out = await self._call("GET", f"/v1/folders/{folder}/invitations", what="folder invitations")
        return [parse_invitation(i) for i in _get(out, "invitations", list, "folder invitations")]

    async def revoke_invitation(self, folder: str, invitation: str) -> None:
        await self._call("DELETE", f"/v1/folders/{folder}/invitations/{invitation}", retry=False,
                         what="withdraw invitation")

    async def accept_invitation(self, invitation: str) -> tuple[str, str]:
        """Accept → (folder, role)."""
        out = await self._call("POST", f"/v1/invitations/{invitation}/accept", retry=False, what="accept invitation")
        return _get(out, "folder", str, "accept invitation"), _get(out, "role", str, "accept invitation")

    async def decline_invitation(self, invitation: str) -> None:
        await self._call("POST", f"/v1/invitations/{invitation}/decline", retry=False, what="decline invitation")

    async def put_device_certificate(self, certificate: Mapping[str, Any]) -> None:
        """Upload this device's certificate (``sync.lan.certs.DeviceCertificate.to_wire()``)."""
        await self._call("PUT", f"/v1/devices/{self.device_id}/certificate",
                         json_body={"certificate": dict(certificate)}, what="upload device certificate")

    async def folder_devices(self, folder: str) -> list[MemberDevice]:
        """Devices of all members of ``folder`` with their certificates (unverified: check them)."""
        out = await self._call("GET", f"/v1/folders/{folder}/devices", what="folder devices")
        rows = _get(out, "devices", list, "folder devices")
        infos = parse_devices({"devices": rows})
        res = []
        for info, row in zip(infos, rows, strict=True):
            cert = row.get("certificate")
            res.append(MemberDevice(info, _get(row, "username", str, "folder devices"),
                                    cert if isinstance(cert, dict) else None))
        return res


class _Closed(Exception):
    pass


class NotificationListener:
    """The ``/v1/notify`` WebSocket as an async iterator of :data:`Notification` that survives
    disconnects.

    After every successful (re)connect it yields the relay's :class:`Hello`, so a consumer that
    reads each folder's log from its cursor on every hello never misses anything. Between attempts
    it waits :func:`backoff_delay` (``initial`` doubling up to ``max_delay``, jittered by ``rng``)
    using ``sleep``; the attempt counter resets after each hello. ``max_attempts`` consecutive
    failures (``None``: unbounded) raise :class:`RelayUnavailable`. Permanent failures (revoked
    device, disabled account, incompatible relay) are raised from the iterator. ``heartbeat`` is
    the WebSocket ping interval: a relay that stops answering pings is treated as disconnected.
    :meth:`close` (from any task) ends the iteration; cancelling the consuming task also cleans up.
    """

    def __init__(self, client: RelayClient, *, initial: float = 0.5, max_delay: float = 60.0,
                 max_attempts: int | None = None, heartbeat: float = 25.0, sleep: Sleep = asyncio.sleep,
                 rng: random.Random | None = None) -> None:
        self.client = client
        self.initial = initial
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.heartbeat = heartbeat
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._closed = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.connected = False
        self.connects = 0  # successful connections so far
        self.last_error: BaseException | None = None

    def __aiter__(self) -> AsyncIterator[Notification]:
        return self._run()

    async def close(self) -> None:
        self._closed.set()
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def _or_closed(self, aw: Awaitable[Any]) -> Any:
        """Await ``aw`` unless :meth:`close` is called first (then raise :class:`_Closed`)."""
        task = asyncio.ensure_future(aw)
        closer = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({task, closer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closer.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if not task.done() or task.cancelled():
            raise _Closed
        return task.result()

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        client = self.client
        token = await client.device_token()
        try:
            with convert_errors("notifications"):
                return await client.session.ws_connect(
                    client.base_url + "/v1/notify", headers={"Authorization": f"Bearer {token}"},
                    heartbeat=self.heartbeat, autoping=True,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0))
        except AuthError:
            # Maybe only the token went stale: renew it (a revoked device fails here, permanently).
            client._invalidate_token(token)
            token = await client.device_token()
            with convert_errors("notifications"):
                return await client.session.ws_connect(
                    client.base_url + "/v1/notify", headers={"Authorization": f"Bearer {token}"},
                    heartbeat=self.heartbeat, autoping=True,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0))

    async def _run(self) -> AsyncIterator[Notification]:
        failures = 0
        try:
            while not self._closed.is_set():
                try:
                    ws = await self._or_closed(self._connect())
                except _Closed:
                    return
                except RelayUnavailable as exc:
                    self.last_error = exc
                    failures += 1
                    if self.max_attempts is not None and failures >= self.max_attempts:
                        raise
                    try:
                        await self._or_closed(self._sleep(backoff_delay(
                            failures - 1, initial=self.initial, maximum=self.max_delay, rng=self._rng)))
                    except _Closed:
                        return
                    continue
                self._ws = ws
                try:
                    async for note in self._session_messages(ws):
                        if isinstance(note, Hello):
                            failures = 0
                            self.connected = True
                            self.connects += 1
                        yield note
                finally:
                    self.connected = False
                    self._ws = None
                    if not ws.closed:
                        with contextlib.suppress(Exception):
                            await ws.close()
                if self._closed.is_set():
                    return
                code = ws.close_code
                if code == 4401:
                    # Revoked or disabled: a fresh token decides (AuthError if really revoked).
                    self.client._invalidate_token()
                    await self.client.device_token()
                if code == 4408:
                    continue  # too slow: resume from the cursor right away
                failures += 1
                if self.max_attempts is not None and failures >= self.max_attempts:
                    raise RelayUnavailable("notifications: connection lost and could not be re-established")
                try:
                    await self._or_closed(self._sleep(backoff_delay(
                        failures - 1, initial=self.initial, maximum=self.max_delay, rng=self._rng)))
                except _Closed:
                    return
        finally:
            self.connected = False

    async def _session_messages(self, ws: aiohttp.ClientWebSocketResponse) -> AsyncIterator[Notification]:
        first = True
        while True:
            try:
                with convert_errors("notifications"):
                    msg = await self._or_closed(ws.receive())
            except (_Closed, RelayUnavailable) as exc:
                self.last_error = exc if isinstance(exc, RelayUnavailable) else None
                return
            if msg.type == aiohttp.WSMsgType.TEXT:
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    raise _bad("notification", "invalid JSON") from None
                note = parse_notification(data)
                if first:
                    if not isinstance(note, Hello):
                        raise _bad("notification", "the first message is not a hello")
                    first = False
                if note is not None:
                    yield note
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                              aiohttp.WSMsgType.ERROR):
                return


# --------------------------------------------------------------------------------------------
# Sharing types (docs/sharing.md)


@dataclass(frozen=True)
class Invitation:
    id: str
    folder: str
    invitee: str
    inviter: str
    role: str
    change: MembershipChange  # the signed "add"; verify it against the inviter's key
    epoch: int
    wrapped_key: bytes
    created_at: float
    expires_at: float
    state: str


@dataclass(frozen=True)
class MemberDevice:
    info: DeviceInfo
    username: str
    certificate: dict[str, Any] | None


def parse_invitation(data: Any) -> Invitation:
    what = "invitation"
    try:
        change = MembershipChange.from_wire(_get(data, "change", dict, what))
    except EnvelopeError as exc:
        raise _bad(what, f"change: {exc}") from None
    wrapped = _get_b64(data, "wrapped_key", what)
    assert wrapped is not None
    return Invitation(
        _get(data, "id", str, what), _get(data, "folder", str, what), _get(data, "invitee", str, what),
        _get(data, "inviter", str, what), _get(data, "role", str, what), change, _get(data, "epoch", int, what),
        wrapped, float(_get(data, "created_at", (int, float), what)),
        float(_get(data, "expires_at", (int, float), what)), _get(data, "state", str, what),
    )
