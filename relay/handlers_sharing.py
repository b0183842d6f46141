"""HTTP adapters for sharing (docs/sharing.md): device certificates.

A device certificate is the account's Ed25519 signature over
``{"device_pk": b64, "issued_at": unix_s, "username": str}`` (tag ``cove.device-cert.v1``, the
format of ``sync/lan/certs.py``). Each device uploads its own; members of a folder read the
devices of all the folder's members with their certificates, so every client can check that an
entry's device belongs to a current member — whatever the relay says, a device without a
certificate signed by a member's account key is not that member's.

The relay checks certificates it is given (clear 4xx instead of storing garbage) but clients never
rely on that.
"""

from __future__ import annotations

from aiohttp import web
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from relay import keys
from relay.errors import BadRequest, Conflict, Forbidden
from relay.handlers_common import authenticate, folder_role
from relay.validate import device_param, folder_param, read_json
from sync.wire.canonical import CanonicalError, b64decode, b64encode, signing_bytes
from sync.wire.ids import device_id_from_public_key

CERT_TAG = "cove.device-cert.v1"  # same as sync.lan.certs.CERT_TAG (the relay imports only sync.wire)
CERT_FIELDS = {"device_pk", "issued_at", "username", "signature"}


def _check_certificate(raw: object, device: str, username: str, sign_pk: bytes) -> dict:
    if not isinstance(raw, dict) or set(raw) != CERT_FIELDS:
        raise BadRequest("a certificate has exactly device_pk, issued_at, username, signature",
                         code="invalid_field", field="certificate")
    issued = raw["issued_at"]
    if not isinstance(issued, int) or isinstance(issued, bool) or not 0 <= issued < 2**40:
        raise BadRequest("certificate issued_at out of range", code="invalid_field", field="certificate")
    if raw["username"] != username:
        raise Forbidden("the certificate names another account", code="signer_mismatch")
    try:
        pk = b64decode(raw["device_pk"]) if isinstance(raw["device_pk"], str) else b""
        sig = b64decode(raw["signature"]) if isinstance(raw["signature"], str) else b""
    except CanonicalError:
        raise BadRequest("bad base64 in certificate", code="invalid_field", field="certificate") from None
    if len(pk) != 32 or len(sig) != 64 or device_id_from_public_key(pk) != device:
        raise BadRequest("the certificate is not for this device", code="device_mismatch")
    body = {"device_pk": raw["device_pk"], "issued_at": issued, "username": username}
    try:
        VerifyKey(sign_pk).verify(signing_bytes(CERT_TAG, body), sig)
    except (BadSignatureError, ValueError, TypeError):
        raise BadRequest("certificate signature does not verify with the account key", code="bad_signature") from None
    return {**body, "signature": raw["signature"]}


async def put_certificate(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    device = device_param(request)
    app = request.app
    found = await app[keys.OFFLOAD](app[keys.ACCOUNTS].get_device, device)
    if found is None or found.username != principal.username or found.revoked:
        raise Forbidden("a device certificate is uploaded for a device of the caller's account",
                        code="device_mismatch")
    user = await app[keys.OFFLOAD](app[keys.ACCOUNTS].get_user, principal.username)
    if user is None or user.sign_pk is None:
        raise Conflict("upload account keys first (PUT /v1/account/keys)", code="account_keys_missing")
    fields = await read_json(request, app[keys.CONFIG].max_json_bytes)
    cert = _check_certificate(fields.obj("certificate"), device, principal.username, user.sign_pk)
    await app[keys.OFFLOAD](app[keys.CERTS].put_certificate, device, principal.username, cert, app[keys.CLOCK]())
    return web.json_response({"device": device, "stored": True})


async def folder_devices(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    folder = folder_param(request)
    await folder_role(request, folder, principal.username)
    app = request.app
    rows = await app[keys.OFFLOAD].read(app[keys.CERTS].folder_devices, folder)
    return web.json_response({"folder": folder, "devices": [
        {"device": d.device_id, "username": d.username, "name": d.name, "revoked": d.revoked,
         "public_key": b64encode(d.public_key), "certificate": cert}
        for d, cert in rows
    ]})
