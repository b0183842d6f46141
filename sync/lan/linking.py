"""Device linking without a relay: the account keys and the LAN-only folders' keyrings, over the LAN.

The relay path is :mod:`sync.linking`; this is its LAN twin, with the same sealed offer
(:class:`sync.keys.LinkOffer`, here also carrying the keyrings of the device's LAN-only folders)
and the same pairing code, and :mod:`sync.lan.pairing` as the mailbox:

1. :func:`create_offer` on the device that is set up (``cove init`` made its account key and
   folder keyrings): seals them under a fresh code. :meth:`LanPendingLink.serve` then announces
   the code's public slot on the LAN and waits until one device fetched the blob or the TTL ran out.
2. :func:`accept_offer` on the new device with the code: fetches the blob from the LAN (single
   use: a failed open — a wrong code — uses it up, exactly like the relay's mailbox), opens it,
   and checks, before writing anything, that

   * this device holds no *other* account's keys that are in use — signed in to a relay (the
     keys are published there) or already known to other devices on the LAN (they hold them too;
     replacing them here would cut this device off). Keys made only for LAN-only use on this
     device give way; they are kept beside as ``account.key.local-only.bak`` (never lost);
   * no keyring this device already holds for one of the folders disagrees with the one received
     (the same keys, or more epochs of them, merge; a different key for an epoch is refused).

   Then ``account.key`` and each ``folders/<id>/keyring.json`` are written. Joining a folder is
   ``cove init PATH --id ID`` (:meth:`sync.engine.Engine.add_folder` with ``folder_id``).

What the offering device cannot know: whether the device that fetched the blob could open it.
It reports the address that fetched it; the new device prints the account fingerprint to compare.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sync.account import account_key_path, keyring_path, load_account_keys, load_keyring
from sync.errors import CoveError
from sync.keys import (
    LINK_MEMLIMIT,
    LINK_OPSLIMIT,
    AccountKeys,
    FolderKeyring,
    KeyringError,
    LinkCode,
    LinkedFolder,
    LinkError,
    LinkOffer,
    accept_link,
    link_qr_payload,
    parse_code,
)
from sync.lan import pairing
from sync.lan.discovery import interfaces_from_env

if TYPE_CHECKING:
    from sync.engine import Engine

LINK_TTL = 600.0  # seconds the offering device waits by default
MAX_TTL = 3600.0
FETCH_TIMEOUT = 30.0  # seconds the new device looks for the offering device


@dataclass(frozen=True)
class OfferedFolder:
    id: str
    label: str


@dataclass
class LanPendingLink:
    """An offer ready to be served on the LAN: show ``code`` (and ``qr_payload`` as a QR code),
    then ``await serve()``."""

    code: str
    qr_payload: str
    fingerprint: str
    ttl: float
    folders: list[OfferedFolder]
    offer: LinkOffer = field(repr=False)
    interfaces: list[str] | None = None

    async def serve(self) -> pairing.Served:
        """Announce the offer and wait: ``Outcome.FETCHED`` (with the fetching address) or
        ``Outcome.EXPIRED`` when the TTL ran out."""
        return await pairing.serve_offer(self.offer, self.interfaces, self.ttl)


@dataclass(frozen=True)
class JoinableFolder:
    id: str
    label: str
    path: Path | None  # where this device already syncs it, if it does


@dataclass(frozen=True)
class LanLinkedDevice:
    """The outcome of linking this device over the LAN."""

    fingerprint: str
    folders: list[JoinableFolder]
    replaced_keys: Path | None = None  # where this device's previous, LAN-only account key went


def check_ttl(ttl: float | None) -> float:
    ttl = LINK_TTL if ttl is None else float(ttl)
    if not 0 < ttl <= MAX_TTL:
        raise CoveError(f"a pairing code can stay valid for 1 to {MAX_TTL:g} seconds")
    return ttl


async def create_offer(
    engine: Engine,
    ttl: float | None = None,
    *,
    interfaces: list[str] | None = None,
    opslimit: int = LINK_OPSLIMIT,
    memlimit: int = LINK_MEMLIMIT,
) -> LanPendingLink:
    """Seal this device's account keys and its LAN-only folders' keyrings under a new code."""
    ttl = check_ttl(ttl)
    keys = load_account_keys(engine.dirs)
    if keys is None:
        raise LinkError(
            "this device has no account keys to hand on: start syncing a folder here first (`cove init PATH`), "
            "or link this device to one that has (`cove link CODE`)"
        )
    folders = []
    for f in engine.config.folders:
        if f.relay:
            continue  # relay folders' keys come from the relay, wrapped to the account
        keyring = load_keyring(engine.dirs, f.id)
        if keyring is not None:
            folders.append(LinkedFolder(f.id, f.label, keyring))
    offer = await asyncio.to_thread(
        LinkOffer.create, keys, "", "", folders=folders, opslimit=opslimit, memlimit=memlimit
    )
    return LanPendingLink(
        offer.code, link_qr_payload(offer.code, ""), keys.fingerprint(), ttl,
        [OfferedFolder(f.id, f.label) for f in folders], offer,
        interfaces if interfaces is not None else interfaces_from_env(),
    )


def _same(a: AccountKeys, b: AccountKeys) -> bool:
    return a.sign_pk == b.sign_pk and a.box_pk == b.box_pk


def keys_in_use(engine: Engine, keys: AccountKeys) -> str:
    """Why replacing ``keys`` on this device would lose something ("" when nothing would)."""
    from sync.lan.certs import DeviceDirectory
    from sync.lan.glue import lan_dir

    if engine.config.relay is not None:
        return f"they are this device's keys on the relay {engine.config.relay.url}"
    directory = DeviceDirectory(keys.sign_pk, lan_dir(engine) / "devices.json")
    others = [c for c in directory.certificates() if c.device_id != engine.identity.device_id]
    if others:
        return f"{len(others)} other device{'s' if len(others) != 1 else ''} on the LAN hold{'s' if len(others) == 1 else ''} them too"
    return ""


def _backup_path(path: Path) -> Path:
    candidate = path.with_name(path.name + ".local-only.bak")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.local-only.{n}.bak")
        n += 1
    return candidate


def _merged(local: FolderKeyring | None, offered: FolderKeyring, engine: Engine) -> FolderKeyring:
    if local is None:
        return offered
    merged = FolderKeyring(local.folder, {e: local.key(e) for e in local.epochs})
    try:
        for epoch in offered.epochs:
            merged.add_key(epoch, offered.key(epoch))
    except KeyringError:
        raise LinkError(
            f"this device already holds a different key for folder {offered.folder} "
            f"({keyring_path(engine.dirs, offered.folder)}); nothing saved"
        ) from None
    return merged


async def accept_offer(
    engine: Engine,
    code: str | LinkCode,
    *,
    timeout: float = FETCH_TIMEOUT,
    interfaces: list[str] | None = None,
) -> LanLinkedDevice:
    """Fetch the offer of ``code`` from the LAN, open it and save its keys; nothing is saved unless
    every check passes."""
    parsed = code if isinstance(code, LinkCode) else parse_code(code)  # a typo fails before any network
    interfaces = interfaces if interfaces is not None else interfaces_from_env()
    local = load_account_keys(engine.dirs)
    blob = await pairing.fetch_offer(parsed.slot, interfaces, timeout)
    try:
        linked = await asyncio.to_thread(accept_link, parsed, blob)
    except LinkError as e:
        raise LinkError(f"{e}. The offer is used up: run `cove link` again on your other device.") from None

    replace_keys = local is not None and not _same(local, linked.account_keys)
    if replace_keys:
        assert local is not None
        why = keys_in_use(engine, local)
        if why:
            raise LinkError(
                f"this device already holds the keys of another account ({account_key_path(engine.dirs)}; "
                f"{why}); nothing saved"
            )
    rings = [_merged(load_keyring(engine.dirs, f.id), f.keyring, engine) for f in linked.folders]

    key_path = account_key_path(engine.dirs)
    backup = None
    if replace_keys and key_path.exists():
        backup = _backup_path(key_path)
        key_path.replace(backup)  # kept, not lost
    if local is None or replace_keys:
        key_path.parent.mkdir(parents=True, exist_ok=True)
        linked.account_keys.save(key_path)
    for ring in rings:
        path = keyring_path(engine.dirs, ring.folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        ring.save(path)
    here = {f.id: f.path for f in engine.config.folders}
    folders = [JoinableFolder(f.id, f.label, here.get(f.id)) for f in linked.folders]
    return LanLinkedDevice(linked.account_keys.fingerprint(), folders, backup)
