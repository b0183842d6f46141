"""HTTP adapters for folders, signed membership changes, wrapped folder keys and invitations.

A membership change must be signed by the *user* signing key of its ``signer``, who must be the
caller; the relay verifies the signature here and the role rules (:mod:`relay.rules`) inside the
storage transaction that applies it. Wrapped keys are opaque bytes.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from relay import keys
from relay.auth import Principal
from relay.errors import BadRequest, Conflict, Forbidden, NotFound
from relay.handlers_common import authenticate, folder_role, require_owner
from relay.records import Invitation, InvitationState, Role
from relay.validate import Fields, folder_param, read_json
from sync.wire.canonical import b64encode
from sync.wire.envelopes import EnvelopeError, MembershipChange
from sync.wire.ids import is_username

MAX_WRAPPED_KEY = 1024
MAX_KEYS_PER_CALL = 1000


async def _signed_change(request: web.Request, principal: Principal, raw: object) -> MembershipChange:
    try:
        change = MembershipChange.from_wire(raw)
    except EnvelopeError as exc:
        raise BadRequest(f"bad membership change: {exc}", code="invalid_change") from None
    if change.signer != principal.username:
        raise Forbidden("a membership change must be signed by the caller", code="signer_mismatch")
    app = request.app
    user = await app[keys.OFFLOAD](app[keys.ACCOUNTS].get_user, principal.username)
    if user is None or user.sign_pk is None:
        raise Conflict("upload account keys first (PUT /v1/account/keys)", code="account_keys_missing")
    if not change.verify(user.sign_pk):
        raise BadRequest("membership change signature does not verify", code="bad_signature")
    return change


def _invitation_json(inv: Invitation, now: float) -> dict:
    return {
        "id": inv.id, "folder": inv.folder, "invitee": inv.invitee, "inviter": inv.inviter,
        "role": inv.role.value, "change": inv.change, "epoch": inv.key_epoch,
        "wrapped_key": b64encode(inv.wrapped_key), "created_at": inv.created_at,
        "expires_at": inv.expires_at, "state": inv.state_at(now).value,
    }


async def _notify_membership(request: web.Request, folder: str, extra_users: tuple[str, ...] = ()) -> None:
    app = request.app
    hub = app[keys.HUB]
    hub.invalidate(folder)
    members = await app[keys.OFFLOAD](app[keys.FOLDERS].members, folder)
    hub.publish([m.username for m in members] + list(extra_users), {"type": "membership", "folder": folder})


async def create_folder(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    app = request.app
    fields = await read_json(request, app[keys.CONFIG].max_json_bytes)
    change = await _signed_change(request, principal, fields.obj("change"))
    if change.op != "create":
        raise BadRequest("creating a folder takes a 'create' change", code="invalid_change")
    wrapped = None
    if fields.has("wrapped_key"):
        wrapped = fields.b64("wrapped_key", max_bytes=MAX_WRAPPED_KEY)
    now = app[keys.CLOCK]()
    await app[keys.OFFLOAD](app[keys.FOLDERS].create_folder, change, now)
    if wrapped is not None:
        await app[keys.OFFLOAD](app[keys.FOLDERS].put_wrapped_keys, change.folder, change.epoch,
                                {principal.username: wrapped})
    return web.json_response({"folder": change.folder, "role": Role.OWNER.value}, status=201)


async def list_folders(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    app = request.app
    rows = await app[keys.OFFLOAD](app[keys.FOLDERS].folders_of, principal.username)
    return web.json_response({"folders": [{"folder": f, "role": r.value, "last_rseq": n} for f, r, n in rows]})


async def get_folder(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    folder = folder_param(request)
    role = await folder_role(request, folder, principal.username)
    app = request.app
    folders = app[keys.FOLDERS]
    members = await app[keys.OFFLOAD](folders.members, folder)
    log = await app[keys.OFFLOAD](folders.membership_log, folder)
    last = await app[keys.OFFLOAD](app[keys.LOGS].last_rseq, folder)
    return web.json_response({
        "folder": folder, "role": role.value, "last_rseq": last,
        "members": [{"username": m.username, "role": m.role.value} for m in members],
        "membership_log": log,
    })


async def change_membership(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    folder = folder_param(request)
    await folder_role(request, folder, principal.username)
    app = request.app
    fields = await read_json(request, app[keys.CONFIG].max_json_bytes)
    change = await _signed_change(request, principal, fields.obj("change"))
    if change.folder != folder:
        raise BadRequest("change is for another folder", code="folder_mismatch")
    if change.op not in ("set_role", "remove"):
        raise BadRequest("use invitations to add members; create via POST /v1/folders", code="invalid_change")
    await app[keys.OFFLOAD](app[keys.FOLDERS].apply_change, change, app[keys.CLOCK]())
    await _notify_membership(request, folder, (change.member,))
    return web.json_response({"folder": folder, "applied": change.id})


async def put_keys(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    folder = folder_param(request)
    await require_owner(request, folder, principal.username)
    app = request.app
    fields = await read_json(request, app[keys.CONFIG].max_json_bytes)
    epoch = fields.int("epoch")
    raw = fields.obj("keys")
    if len(raw) > MAX_KEYS_PER_CALL or not all(is_username(k) for k in raw):
        raise BadRequest("keys must map usernames to wrapped keys", code="invalid_field", field="keys")
    wrapped = {u: Fields(raw).b64(u, max_bytes=MAX_WRAPPED_KEY) for u in raw}
    await app[keys.OFFLOAD](app[keys.FOLDERS].put_wrapped_keys, folder, epoch, wrapped)
    return web.json_response({"folder": folder, "epoch": epoch, "stored": sorted(wrapped)})


async def get_keys(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    folder = folder_param(request)
    await folder_role(request, folder, principal.username)
    app = request.app
    rows = await app[keys.OFFLOAD](app[keys.FOLDERS].wrapped_keys, folder, principal.username)
    return web.json_response({"folder": folder, "keys": [{"epoch": e, "wrapped_key": b64encode(w)} for e, w in rows]})


async def create_invitation(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    folder = folder_param(request)
    await require_owner(request, folder, principal.username)
    app = request.app
    config = app[keys.CONFIG]
    fields = await read_json(request, config.max_json_bytes)
    change = await _signed_change(request, principal, fields.obj("change"))
    if change.op != "add" or change.folder != folder:
        raise BadRequest("an invitation carries an 'add' change for this folder", code="invalid_change")
    wrapped = fields.b64("wrapped_key", max_bytes=MAX_WRAPPED_KEY)
    ttl = fields.number("ttl", lo=1.0, hi=90 * 86400.0, default=config.invitation_ttl)
    invitee = await app[keys.OFFLOAD](app[keys.ACCOUNTS].get_user, change.member)
    if invitee is None or invitee.disabled:
        raise NotFound("no such user", code="user_not_found")
    now = app[keys.CLOCK]()
    inv = Invitation(
        # hex, not base64url: people type invitation IDs, and one starting with '-' reads as an option
        id=secrets.token_hex(18), folder=folder, invitee=change.member, inviter=principal.username,
        role=Role(change.role), change=change.to_wire(), key_epoch=change.epoch, wrapped_key=wrapped,
        created_at=now, expires_at=now + ttl, state=InvitationState.PENDING,
    )
    await app[keys.OFFLOAD](app[keys.FOLDERS].create_invitation, inv)
    app[keys.HUB].publish([change.member], {"type": "invitation", "folder": folder, "id": inv.id})
    return web.json_response(_invitation_json(inv, now), status=201)


async def folder_invitations(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    folder = folder_param(request)
    await require_owner(request, folder, principal.username)
    app = request.app
    now = app[keys.CLOCK]()
    invs = await app[keys.OFFLOAD](app[keys.FOLDERS].invitations_of_folder, folder)
    return web.json_response({"invitations": [_invitation_json(i, now) for i in invs]})


def _invitation_id(request: web.Request) -> str:
    value = request.match_info.get("invitation", "")
    if not (1 <= len(value) <= 64) or not all(c.isalnum() or c in "-_" for c in value) or not value.isascii():
        raise NotFound("no such invitation", code="invitation_not_found")
    return value


async def revoke_invitation(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    folder = folder_param(request)
    await require_owner(request, folder, principal.username)
    app = request.app
    await app[keys.OFFLOAD](app[keys.FOLDERS].revoke_invitation, _invitation_id(request), folder, app[keys.CLOCK]())
    return web.json_response({"revoked": True})


async def my_invitations(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    app = request.app
    now = app[keys.CLOCK]()
    invs = await app[keys.OFFLOAD](app[keys.FOLDERS].invitations_for, principal.username)
    pending = [i for i in invs if i.state_at(now) is InvitationState.PENDING]
    return web.json_response({"invitations": [_invitation_json(i, now) for i in pending]})


async def _resolve(request: web.Request, accept: bool) -> web.Response:
    principal = await authenticate(request)
    app = request.app
    inv = await app[keys.OFFLOAD](
        app[keys.FOLDERS].resolve_invitation, _invitation_id(request), principal.username, accept, app[keys.CLOCK]()
    )
    if accept:
        await _notify_membership(request, inv.folder)
    return web.json_response({"id": inv.id, "folder": inv.folder, "role": inv.role.value,
                              "state": "accepted" if accept else "declined"})


async def accept_invitation(request: web.Request) -> web.Response:
    return await _resolve(request, True)


async def decline_invitation(request: web.Request) -> web.Response:
    return await _resolve(request, False)
