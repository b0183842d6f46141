"""HTTP adapters for accounts, login, device registration and device tokens.

Routes: ``POST /v1/accounts``, ``POST /v1/auth/login``, ``POST /v1/auth/challenge``,
``POST /v1/auth/token``, ``GET /v1/account``, ``PUT /v1/account/keys``,
``GET /v1/users/{username}/keys``, ``GET|POST /v1/devices``, ``DELETE /v1/devices/{device}``.
"""

from __future__ import annotations

import asyncio
import secrets

from aiohttp import web

from relay import keys
from relay.auth import TokenKind, hash_password, verify_password
from relay.errors import Forbidden, NotFound, TooManyRequests, Unauthorized
from relay.handlers_common import authenticate, client_address
from relay.records import Device
from relay.validate import Fields, read_json, username_param
from sync.wire.canonical import b64encode
from sync.wire.envelopes import verify_relay_auth
from sync.wire.ids import device_id_from_public_key, is_device_id, is_username

MIN_PASSWORD = 8
MAX_PASSWORD = 1024


def _password(fields: Fields) -> str:
    return fields.str("password", max_len=MAX_PASSWORD, check=lambda p: MIN_PASSWORD <= len(p))


def _device_json(d: Device) -> dict:
    return {"device": d.device_id, "name": d.name, "revoked": d.revoked, "created_at": d.created_at,
            "public_key": b64encode(d.public_key)}


async def create_account(request: web.Request) -> web.Response:
    app = request.app
    config = app[keys.CONFIG]
    if not config.open_registration:
        raise Forbidden("registration is closed; ask the relay admin for an account", code="registration_closed")
    fields = await read_json(request, config.max_json_bytes)
    username = fields.str("username", max_len=32, check=is_username)
    password = _password(fields)
    ip = client_address(request)
    limiter = app[keys.LOGIN_BY_IP]
    now = app[keys.CLOCK]()
    wait = limiter.retry_after(ip, now)
    if wait is not None:
        raise TooManyRequests("too many attempts from this address", retry_after=wait)
    limiter.record(ip, now)
    pw_hash = await asyncio.get_running_loop().run_in_executor(None, hash_password, password, config.password_strength)
    await app[keys.OFFLOAD](app[keys.ACCOUNTS].create_user, username, pw_hash, config.default_quota, now)
    return web.json_response({"username": username}, status=201)


async def login(request: web.Request) -> web.Response:
    app = request.app
    config = app[keys.CONFIG]
    fields = await read_json(request, config.max_json_bytes)
    username = fields.str("username", max_len=32, check=is_username)
    password = fields.str("password", max_len=MAX_PASSWORD)
    now = app[keys.CLOCK]()
    ip = client_address(request)
    by_user, by_ip = app[keys.LOGIN_BY_USER], app[keys.LOGIN_BY_IP]
    wait = by_user.retry_after(username, now) or by_ip.retry_after(ip, now)
    if wait is not None:
        raise TooManyRequests("too many login attempts; try again later", retry_after=wait)
    by_ip.record(ip, now)
    user = await app[keys.OFFLOAD](app[keys.ACCOUNTS].get_user, username)
    ok = await asyncio.get_running_loop().run_in_executor(
        None, verify_password, user.password_hash if user else None, password
    )
    if not ok or user is None:
        by_user.record(username, now)
        raise Unauthorized("wrong username or password", code="bad_credentials")
    if user.disabled:
        raise Forbidden("account disabled", code="account_disabled")
    by_user.reset(username)
    expires = now + config.login_token_ttl
    token = app[keys.MINTER].mint(TokenKind.ACCOUNT, username, expires)
    return web.json_response({"token": token, "expires_at": int(expires)})


async def challenge(request: web.Request) -> web.Response:
    app = request.app
    fields = await read_json(request, app[keys.CONFIG].max_json_bytes)
    device_id = fields.str("device", max_len=80, check=is_device_id)
    device = await app[keys.OFFLOAD](app[keys.ACCOUNTS].get_device, device_id)
    if device is None or device.revoked:
        raise NotFound("no such device", code="device_not_found")
    nonce = secrets.token_urlsafe(32)
    expires = app[keys.CLOCK]() + app[keys.CONFIG].challenge_ttl
    await app[keys.OFFLOAD](app[keys.ACCOUNTS].put_challenge, nonce, device_id, expires)
    return web.json_response({"challenge": nonce, "expires_at": int(expires)})


async def device_token(request: web.Request) -> web.Response:
    app = request.app
    fields = await read_json(request, app[keys.CONFIG].max_json_bytes)
    device_id = fields.str("device", max_len=80, check=is_device_id)
    nonce = fields.str("challenge", max_len=128)
    signature = fields.b64("signature", max_bytes=64, exact=64)
    now = app[keys.CLOCK]()
    accounts = app[keys.ACCOUNTS]
    found = await app[keys.OFFLOAD](accounts.device_and_user, device_id)
    if found is None or found[0].revoked:
        raise Unauthorized("unknown or revoked device", code="device_revoked")
    device, user = found
    if not verify_relay_auth(device.public_key, device_id, nonce, signature):
        raise Unauthorized("bad signature over the challenge", code="bad_signature")
    if not await app[keys.OFFLOAD](accounts.take_challenge, nonce, device_id, now):
        raise Unauthorized("unknown, used or expired challenge", code="challenge_invalid")
    if user.disabled:
        raise Forbidden("account disabled", code="account_disabled")
    expires = now + app[keys.CONFIG].token_ttl
    token = app[keys.MINTER].mint(TokenKind.DEVICE, device_id, expires)
    return web.json_response({"token": token, "expires_at": int(expires), "username": user.username})


async def get_account(request: web.Request) -> web.Response:
    principal = await authenticate(request, device=False)
    app = request.app
    user = await app[keys.OFFLOAD](app[keys.ACCOUNTS].get_user, principal.username)
    used, quota, blocks = await app[keys.OFFLOAD](app[keys.BLOCK_INDEX].usage, principal.username)
    assert user is not None
    return web.json_response({
        "username": user.username,
        "device": principal.device_id,
        "sign_pk": b64encode(user.sign_pk) if user.sign_pk else None,
        "box_pk": b64encode(user.box_pk) if user.box_pk else None,
        "usage": {"used": used, "quota": quota, "blocks": blocks},
    })


async def put_account_keys(request: web.Request) -> web.Response:
    principal = await authenticate(request, device=False)
    app = request.app
    fields = await read_json(request, app[keys.CONFIG].max_json_bytes)
    sign_pk = fields.b64("sign_pk", max_bytes=32, exact=32)
    box_pk = fields.b64("box_pk", max_bytes=32, exact=32)
    await app[keys.OFFLOAD](app[keys.ACCOUNTS].set_account_keys, principal.username, sign_pk, box_pk)
    return web.json_response({"sign_pk": b64encode(sign_pk), "box_pk": b64encode(box_pk)})


async def get_user_keys(request: web.Request) -> web.Response:
    await authenticate(request)
    username = username_param(request)
    app = request.app
    user = await app[keys.OFFLOAD](app[keys.ACCOUNTS].get_user, username)
    if user is None or user.sign_pk is None or user.box_pk is None:
        raise NotFound("no such user, or no account keys yet", code="user_not_found")
    return web.json_response({"username": username, "sign_pk": b64encode(user.sign_pk),
                              "box_pk": b64encode(user.box_pk)})


async def list_devices(request: web.Request) -> web.Response:
    principal = await authenticate(request, device=False)
    app = request.app
    devices = await app[keys.OFFLOAD](app[keys.ACCOUNTS].list_devices, principal.username)
    return web.json_response({"devices": [_device_json(d) for d in devices]})


async def register_device(request: web.Request) -> web.Response:
    principal = await authenticate(request, device=False)
    app = request.app
    fields = await read_json(request, app[keys.CONFIG].max_json_bytes)
    public_key = fields.b64("public_key", max_bytes=32, exact=32)
    name = fields.str("name", max_len=100) if fields.has("name") else ""
    device_id = device_id_from_public_key(public_key)
    device = await app[keys.OFFLOAD](
        app[keys.ACCOUNTS].add_device, principal.username, device_id, public_key, name, app[keys.CLOCK]()
    )
    return web.json_response(_device_json(device), status=201)


async def revoke_device(request: web.Request) -> web.Response:
    principal = await authenticate(request, device=False)
    app = request.app
    device_id = request.match_info.get("device", "")
    if not is_device_id(device_id):
        raise NotFound("no such device", code="device_not_found")
    await app[keys.OFFLOAD](app[keys.ACCOUNTS].revoke_device, principal.username, device_id)
    app[keys.HUB].close_device(device_id)
    return web.json_response({"device": device_id, "revoked": True})
