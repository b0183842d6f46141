"""Device linking, the engine side: hand the account keys to a new device through the relay.

The cryptography is :mod:`sync.keys` (:class:`~sync.keys.LinkOffer`, :func:`~sync.keys.accept_link`);
the mailbox is the relay's ``POST /v1/link`` / ``GET /v1/link/{slot}`` (docs/relay-api.md, "Device
linking"). Two steps, one per device:

1. :func:`create_offer` on a device that is set up and signed in: checks that its account keys are
   the ones the relay publishes for the account, seals them with the relay URL and username under a
   fresh pairing code, and deposits the blob in the mailbox named by the code's public slot. The
   person sees the code (and a QR code of :func:`qr_payload`).
2. :func:`accept_offer` on the new device, with the code, the relay URL, the username and the
   password: signs in, registers this device, takes the blob (single use), opens it with the code,
   and checks that the received keys are the account's public keys on the relay, so neither a
   wrong code, an altered or swapped blob nor a relay that swaps keys gets anything saved. Only
   then are ``account.key`` and the relay account written; then the account's folders are listed.

The QR payload is :func:`sync.keys.link_qr_payload` plus a ``user`` parameter (ignored by readers
that do not know it), so scanning it fills in relay and username.

Devices with no relay link over the LAN instead (:mod:`sync.lan.linking`, same offer and code);
:meth:`sync.engine.Engine.link_offer` / ``link_accept`` choose.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sync.account import account_key_path, load_account_keys
from sync.config import RelayAccount, save_app_config
from sync.errors import CoveError
from sync.keys import (
    QR_SCHEME,
    AccountKeys,
    LinkCode,
    LinkError,
    LinkOffer,
    accept_link,
    link_qr_payload,
    parse_code,
    parse_qr_payload,
)
from sync.relay_client import Conflict, FolderInfo, NotFound, RelayError

if TYPE_CHECKING:
    from sync.engine import Engine

LINK_TTL = 600.0  # seconds an offer stays in the relay's mailbox (the relay allows up to an hour)
_SLOT_TRIES = 3


@dataclass(frozen=True)
class PendingLink:
    """An offer waiting in the relay's mailbox: show ``code`` (and ``qr_payload`` as a QR code)."""

    code: str
    qr_payload: str
    relay_url: str
    username: str
    fingerprint: str
    ttl: float
    expires_at: float  # by the relay's clock


@dataclass(frozen=True)
class LinkedDevice:
    """The outcome of linking this device: the account it joined and the folders it may add."""

    relay_url: str
    username: str
    fingerprint: str
    folders: list[FolderInfo] | None  # None if the relay could not be asked after linking
    folders_error: str = ""


def qr_payload(code: str, relay_url: str, username: str) -> str:
    """``cove://link?code=...&relay=...&user=...``: what the QR code of an offer holds."""
    return link_qr_payload(code, relay_url) + "&" + urllib.parse.urlencode({"user": username})


def parse_link_input(text: str) -> tuple[str, str | None, str | None]:
    """``(code, relay_url or None, username or None)`` from a typed code or a scanned QR text."""
    text = (text or "").strip()
    if text.lower().startswith(f"{QR_SCHEME}:"):
        code, relay = parse_qr_payload(text)
        users = urllib.parse.parse_qs(urllib.parse.urlsplit(text).query).get("user") or [""]
        return code, relay, users[0] or None
    return parse_code(text).text, None, None


def _same_keys(keys: AccountKeys, sign_pk: bytes | None, box_pk: bytes | None) -> bool:
    return keys.sign_pk == sign_pk and keys.box_pk == box_pk


async def create_offer(engine: Engine, ttl: float | None = None) -> PendingLink:
    """Seal this device's account keys under a new pairing code and deposit them on the relay."""
    relay = engine.config.relay
    if relay is None:
        raise CoveError("this device is not signed in to a relay: run `cove login RELAY_URL` first")
    keys = load_account_keys(engine.dirs)
    if keys is None:
        raise LinkError("this device has no account keys to hand on: link it first (`cove link CODE`)")
    ttl = LINK_TTL if ttl is None else ttl
    async with engine.relay_client() as client:
        info = await client.account()
        if info.username != relay.username or not _same_keys(keys, info.sign_pk, info.box_pk):
            raise LinkError(
                f"the account keys on this device are not the keys the relay holds for {relay.username}; "
                "link this device again before linking others"
            )
        for _ in range(_SLOT_TRIES):
            offer = await asyncio.to_thread(LinkOffer.create, keys, relay.url, relay.username)
            try:
                expires_at = await client.deposit_link(offer.slot, offer.blob, ttl)
            except Conflict as e:
                if e.code == "slot_taken":  # another pending offer has this slot: draw a new code
                    continue
                raise
            return PendingLink(offer.code, qr_payload(offer.code, relay.url, relay.username), relay.url,
                               relay.username, keys.fingerprint(), ttl, expires_at)
    raise LinkError("the relay had no free link slot; try again")


async def accept_offer(engine: Engine, code: str | LinkCode, relay_url: str, username: str,
                       password: str) -> LinkedDevice:
    """Receive the account keys with a pairing code; nothing is saved unless every check passes."""
    parsed = code if isinstance(code, LinkCode) else parse_code(code)  # a typo fails before any request
    relay_url = relay_url.strip().rstrip("/")
    if not relay_url:
        raise CoveError("a relay URL is needed to link this device")
    local = load_account_keys(engine.dirs)
    async with engine.relay_client(relay_url) as client:
        await client.login(username, password)
        await client.register_device(engine.config.device_name or engine.identity.short_id)
        try:
            blob = await client.fetch_link(parsed.slot)
        except NotFound:
            raise LinkError(
                "the relay holds no link offer for this code: it expired, was used already, or the code "
                "is wrong. Run `cove link` again on your other device and use the new code."
            ) from None
        try:
            linked = await asyncio.to_thread(accept_link, parsed, blob)
        except LinkError as e:
            raise LinkError(f"{e}. The offer is used up: run `cove link` again on your other device.") from None
        if linked.username != username:
            raise LinkError(f"this link offer is for the account {linked.username!r}, not {username!r}; nothing saved")
        info = await client.account()
        if not _same_keys(linked.account_keys, info.sign_pk, info.box_pk):
            raise LinkError(
                f"the account keys received do not match the public keys the relay publishes for {username}; "
                "refusing them (nothing saved)"
            )
        if (
            local is not None
            and engine.config.relay is not None  # keys made for LAN-only use, never on a relay, give way
            and not _same_keys(local, linked.account_keys.sign_pk, linked.account_keys.box_pk)
        ):
            raise LinkError(
                f"this device already holds the keys of another account ({account_key_path(engine.dirs)}); "
                "nothing saved"
            )
        key_path = account_key_path(engine.dirs)
        if local is not None and key_path.exists() and not _same_keys(local, linked.account_keys.sign_pk, linked.account_keys.box_pk):
            key_path.replace(key_path.with_name(key_path.name + ".local-only.bak"))  # kept, not lost
        linked.account_keys.save(key_path)
        engine.config = replace(engine.config, relay=RelayAccount(url=relay_url, username=username))
        save_app_config(engine.dirs, engine.config)
        folders: list[FolderInfo] | None = None
        error = ""
        try:
            folders = await client.folders()
        except RelayError as e:
            error = str(e)
    return LinkedDevice(relay_url, username, linked.account_keys.fingerprint(), folders, error)
