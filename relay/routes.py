"""The relay's one route table: method, path, handler, auth, request body schema, summary.

:func:`relay.app.create_app` registers these routes and :mod:`relay.openapi` documents them, so
the served OpenAPI document always matches what the server actually routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from relay import handlers_auth as a
from relay import handlers_blocks as b
from relay import handlers_folders as f
from relay import handlers_link as lk
from relay import handlers_log as lg
from relay import handlers_notify as n
from relay import handlers_ops as o
from relay import handlers_sharing as sh

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

B64 = {"type": "string", "format": "byte"}
S = {"type": "string"}
I = {"type": "integer", "minimum": 0}
CHANGE = {"$ref": "#/components/schemas/MembershipChange"}
ENTRY = {"$ref": "#/components/schemas/LogEntry"}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    auth: str = "device"  # "none", "account" (account or device token), "device"
    body: dict[str, Any] | None = None
    query: tuple[str, ...] = ()
    raw_body: bool = False


ROUTES: tuple[Route, ...] = (
    Route("GET", "/healthz", o.healthz, "Liveness and storage check.", auth="none"),
    Route("GET", "/metrics", o.metrics, "Prometheus metrics.", auth="none"),
    Route("GET", "/openapi.json", o.openapi, "This API description.", auth="none"),
    Route("POST", "/v1/accounts", a.create_account, "Create an account (only with open_registration).",
          auth="none", body=obj({"username": S, "password": S})),
    Route("POST", "/v1/auth/login", a.login, "Password login; returns an account token.", auth="none",
          body=obj({"username": S, "password": S})),
    Route("POST", "/v1/auth/challenge", a.challenge, "A single-use challenge for device authentication.",
          auth="none", body=obj({"device": S})),
    Route("POST", "/v1/auth/token", a.device_token, "Exchange a signed challenge for a device token.",
          auth="none", body=obj({"device": S, "challenge": S, "signature": B64})),
    Route("GET", "/v1/account", a.get_account, "The caller's account, keys and usage.", auth="account"),
    Route("PUT", "/v1/account/keys", a.put_account_keys, "Set the account's public keys (once).",
          auth="account", body=obj({"sign_pk": B64, "box_pk": B64})),
    Route("GET", "/v1/users/{username}/keys", a.get_user_keys, "Another user's public account keys."),
    Route("GET", "/v1/devices", a.list_devices, "The account's devices.", auth="account"),
    Route("POST", "/v1/devices", a.register_device, "Register a device public key.", auth="account",
          body=obj({"public_key": B64}, {"name": S})),
    Route("DELETE", "/v1/devices/{device}", a.revoke_device, "Revoke a device (takes effect at once).",
          auth="account"),
    Route("POST", "/v1/link", lk.deposit_link,
          "Deposit an encrypted device-link offer in a slot (single use, expires; blob at most 64 KiB).",
          body=obj({"slot": S, "blob": B64}, {"ttl": {"type": "number"}})),
    Route("GET", "/v1/link/{slot}", lk.fetch_link,
          "Take the account's link offer from a slot (returned once, then deleted).", auth="account"),
    Route("POST", "/v1/folders", f.create_folder, "Create a folder with a signed 'create' change.",
          body=obj({"change": CHANGE}, {"wrapped_key": B64})),
    Route("GET", "/v1/folders", f.list_folders, "Folders the caller is a member of."),
    Route("GET", "/v1/folders/{folder}", f.get_folder, "Members, membership log and relay sequence."),
    Route("POST", "/v1/folders/{folder}/membership", f.change_membership,
          "Apply a signed set_role or remove change.", body=obj({"change": CHANGE})),
    Route("PUT", "/v1/folders/{folder}/keys", f.put_keys, "Store wrapped folder keys of an epoch (owner).",
          body=obj({"epoch": I, "keys": {"type": "object", "additionalProperties": B64}})),
    Route("GET", "/v1/folders/{folder}/keys", f.get_keys, "The caller's wrapped folder keys."),
    Route("POST", "/v1/folders/{folder}/invitations", f.create_invitation, "Invite a user (owner).",
          body=obj({"change": CHANGE, "wrapped_key": B64}, {"ttl": {"type": "number"}})),
    Route("GET", "/v1/folders/{folder}/invitations", f.folder_invitations, "Pending invitations (owner)."),
    Route("DELETE", "/v1/folders/{folder}/invitations/{invitation}", f.revoke_invitation,
          "Withdraw a pending invitation (owner)."),
    Route("GET", "/v1/invitations", f.my_invitations, "Pending invitations for the caller."),
    Route("POST", "/v1/invitations/{invitation}/accept", f.accept_invitation, "Accept an invitation."),
    Route("POST", "/v1/invitations/{invitation}/decline", f.decline_invitation, "Decline an invitation."),
    Route("POST", "/v1/folders/{folder}/log", lg.append, "Append an entry to the caller's log (CAS on head).",
          body=obj({"entry": ENTRY})),
    Route("GET", "/v1/folders/{folder}/log", lg.read_log, "Entries after a relay sequence number.",
          query=("after", "limit")),
    Route("GET", "/v1/folders/{folder}/heads", lg.heads, "Each device's head in the folder."),
    Route("GET", "/v1/folders/{folder}/cursor", lg.get_cursor, "The caller device's durable cursor."),
    Route("PUT", "/v1/folders/{folder}/cursor", lg.put_cursor, "Store the caller device's durable cursor.",
          body=obj({"rseq": I})),
    Route("POST", "/v1/folders/{folder}/blocks/missing", b.missing_blocks, "Which of these blocks are missing.",
          body=obj({"blocks": {"type": "array", "items": S}})),
    Route("POST", "/v1/folders/{folder}/blocks", b.post_blocks,
          "Upload a batch of blocks (framed body, see docs/relay-api.md); all or nothing.", raw_body=True),
    Route("PUT", "/v1/folders/{folder}/blocks/{block}", b.put_block,
          "Upload a block (X-Cove-Sha256 header required).", raw_body=True),
    Route("GET", "/v1/folders/{folder}/blocks/{block}", b.get_block, "Download a block."),
    Route("HEAD", "/v1/folders/{folder}/blocks/{block}", b.head_block, "Whether a block exists, and its size."),
    Route("PUT", "/v1/devices/{device}/certificate", sh.put_certificate,
          "Store a device certificate (the account key's signature over the device key).",
          body=obj({"certificate": {"type": "object"}})),
    Route("GET", "/v1/folders/{folder}/devices", sh.folder_devices,
          "Devices of all the folder's members, with their certificates."),
    Route("GET", "/v1/notify", n.notify, "WebSocket of notifications for the caller device."),
)


def register(app: web.Application) -> None:
    for route in ROUTES:
        if route.method == "GET":
            app.router.add_get(route.path, route.handler, allow_head=False)
        else:
            app.router.add_route(route.method, route.path, route.handler)
