"""Helpers the handlers share: authenticating the caller, checking folder roles, client address.

Authentication runs :meth:`relay.auth.Authenticator.authenticate` against the committed database
for every request (so revocations apply at once) and takes a per-account connection slot that the
middleware releases when the request ends. It reads through a WAL reader connection, never the
writer's queue: on the hot paths (``authenticate_member``: appends and block transfers) directly
on the event loop, since two indexed point lookups cost less than a thread hop.
"""

from __future__ import annotations

from aiohttp import web

from relay import keys
from relay.auth import Principal, TokenKind
from relay.errors import Forbidden, NotFound, Unauthorized
from relay.middleware import HOLDS, PRINCIPAL_NAME
from relay.records import Role


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required", code="token_missing")
    return token.strip()


async def authenticate(request: web.Request, *, device: bool = True) -> Principal:
    """The caller; ``device=True`` requires a device token, otherwise an account token also does."""
    app = request.app
    token = bearer_token(request)
    principal = await app[keys.OFFLOAD].read(app[keys.AUTHENTICATOR].authenticate, token, app[keys.CLOCK]())
    if device and principal.kind is not TokenKind.DEVICE:
        raise Forbidden("this endpoint needs a device token", code="device_token_required")
    app[keys.CONNECTIONS].acquire(principal.username)
    request[HOLDS].append(principal.username)
    request[PRINCIPAL_NAME] = principal.username
    return principal


async def authenticate_member(request: web.Request, folder: str, *, write: bool = False) -> tuple[Principal, Role]:
    """Device auth plus the caller's role in ``folder`` in one storage call (the hot paths:
    appends and block transfers). 404 for non-members, 403 for viewers when ``write``."""
    app = request.app
    token = bearer_token(request)
    authenticator, folders = app[keys.AUTHENTICATOR], app[keys.FOLDERS]

    def check(now: float) -> tuple[Principal, Role | None]:
        principal = authenticator.authenticate(token, now)
        return principal, folders.role_of(folder, principal.username)

    principal, role = app[keys.OFFLOAD].read_now(check, app[keys.CLOCK]())
    if principal.kind is not TokenKind.DEVICE:
        raise Forbidden("this endpoint needs a device token", code="device_token_required")
    app[keys.CONNECTIONS].acquire(principal.username)
    request[HOLDS].append(principal.username)
    request[PRINCIPAL_NAME] = principal.username
    if role is None:
        raise NotFound("no such folder", code="folder_not_found")
    if write and not role.can_write:
        raise Forbidden("viewers cannot write to a folder", code="read_only")
    return principal, role


async def folder_role(request: web.Request, folder: str, username: str) -> Role:
    """The caller's role in ``folder``; a 404 for folders they are not a member of (or that do not
    exist), so folder IDs cannot be probed."""
    role = await request.app[keys.OFFLOAD].read(request.app[keys.FOLDERS].role_of, folder, username)
    if role is None:
        raise NotFound("no such folder", code="folder_not_found")
    return role


async def require_writer(request: web.Request, folder: str, username: str) -> Role:
    role = await folder_role(request, folder, username)
    if not role.can_write:
        raise Forbidden("viewers cannot write to a folder", code="read_only")
    return role


async def require_owner(request: web.Request, folder: str, username: str) -> Role:
    role = await folder_role(request, folder, username)
    if role is not Role.OWNER:
        raise Forbidden("only an owner can do this", code="not_owner")
    return role


def client_address(request: web.Request) -> str:
    if request.app[keys.CONFIG].trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.remote or "unknown"
