"""This account's devices: listing them and revoking one (``cove devices``, ``cove devices revoke``).

Where the answers come from:

* the device directory (``<data>/lan/devices.json``, :class:`sync.lan.certs.DeviceDirectory`):
  every device whose certificate this device verified, and the account's signed revocations;
* the daemon's LAN status file (``<data>/lan/status.json``): connected now, last seen;
* the relay's device list when a relay is configured (its names, and its revocations).

Revoking signs a :class:`~sync.lan.certs.DeviceRevocation` with the account key this device holds
and stores it in the directory. A daemon running in another process re-reads the directory within
a second and closes the device's sessions; LAN peers learn the revocation in ``hello`` and refuse
the device from then on. With a relay configured, the device is revoked on the relay too (the
device token of this device is enough: the relay lets any device of the account manage its
devices), so its relay access ends at once. A device cannot revoke itself here: a revoked device
cannot undo it, and "remove this device" is done from another device of the account.

What revocation does not do is in docs/lan.md ("Revoking a device"): every device of an account
holds the account key, so a malicious revoked device could issue itself a new identity; only
rotating the account key (not built) shuts it out for good.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.account import load_account_keys
from sync.errors import CoveError
from sync.lan.certs import DeviceDirectory, DeviceRevocation
from sync.relay_client import DeviceInfo, NotFound, RelayError
from sync.wire.ids import short_id

MIN_PREFIX = 4
STATUS_STALE_S = 10.0  # as `cove peers`: an older status file means the daemon is not running


@dataclass(frozen=True)
class DeviceRow:
    device_id: str
    name: str
    this_device: bool
    revoked: bool
    connected: bool  # over the LAN, now (only known while the daemon runs)
    last_seen: float  # unix seconds on the LAN; 0 when never seen (or unknown)
    on_relay: bool  # the relay lists it


@dataclass(frozen=True)
class DeviceList:
    rows: list[DeviceRow]
    daemon_running: bool
    relay_error: str = ""  # why the relay's list is missing (a relay is configured)


@dataclass(frozen=True)
class RevokeResult:
    device_id: str
    name: str
    already_revoked: bool  # the directory held a signed revocation of it before
    relay: str  # "revoked", "not registered", "" (no relay configured) or the error that stopped it

    @property
    def relay_failed(self) -> bool:
        return self.relay not in ("", "revoked", "not registered")


def compact(text: str) -> str:
    """A device ID or prefix as typed (any case, dashes or spaces) → upper case, no separators."""
    return re.sub(r"[\s-]", "", text).upper()


def match_device(known: list[str], text: str) -> str:
    """The one device ID in ``known`` that starts with ``text``; a :class:`CoveError` otherwise."""
    want = compact(text)
    if len(want) < MIN_PREFIX:
        raise CoveError(f"give at least {MIN_PREFIX} characters of the device ID (see `cove devices`)")
    found = sorted({d for d in known if compact(d).startswith(want)})
    if not found:
        raise CoveError(f"no known device of this account has an ID starting with {text!r} (see `cove devices`)")
    if len(found) > 1:
        raise CoveError(f"{text!r} matches {len(found)} devices ({', '.join(d[:15] for d in found)}); give more characters")
    return found[0]


def directory_for(engine: Any) -> DeviceDirectory:
    """The running LAN service's directory (revocations then act at once), or the one on disk."""
    lan = getattr(engine, "lan", None)
    if lan is not None:
        return lan.directory
    account = load_account_keys(engine.dirs)
    if account is None:
        raise CoveError("this device holds no account key: sign in (`cove login`) or link it to another device first")
    return DeviceDirectory(account.sign_pk, engine.dirs.data / "lan" / "devices.json")


def _status(engine: Any, now: float) -> tuple[dict[str, Any], bool]:
    try:
        doc = json.loads(Path(engine.dirs.data / "lan" / "status.json").read_text())
    except (OSError, ValueError):
        return {}, False
    if not isinstance(doc, dict):
        return {}, False
    return doc, now - float(doc.get("updated", 0) or 0) <= STATUS_STALE_S


async def _relay_devices(engine: Any) -> list[DeviceInfo]:
    async with engine.relay_client() as client:
        return await client.devices()


def _folder_names(engine: Any) -> dict[str, str]:
    """Device names by short ID, as the devices wrote them into the folders' logs."""
    names: dict[str, str] = {}
    for f in engine.folders():
        try:
            rows = engine.runner(f.id).index.db.execute("SELECT key, value FROM meta WHERE key LIKE 'device_name:%'")
            names.update({k.split(":", 1)[1]: v for k, v in rows.fetchall()})
        except (CoveError, OSError, sqlite3.Error):
            continue  # a folder that cannot be opened only costs names
    return names


def device_rows(me: str, my_name: str, directory: list[DeviceInfo], relay: list[DeviceInfo],
                status: dict[str, Any], running: bool, folder_names: dict[str, str] | None = None) -> list[DeviceRow]:
    """Merge the sources (pure, for tests): this device first, then by name and ID. Names come
    from the relay's registration, else from the folders' logs (by short ID); the directory's
    ``name`` is the account's username, not the device's."""
    names: dict[str, str] = {}
    revoked: dict[str, bool] = {}
    for d in [*directory, *relay]:
        revoked[d.device_id] = revoked.get(d.device_id, False) or d.revoked
    for dev in revoked:
        if (folder_names or {}).get(short_id(dev)):
            names[dev] = (folder_names or {})[short_id(dev)]
    for d in relay:
        if d.name:
            names[d.device_id] = d.name
    peers = {p.get("device_id"): p for p in status.get("peers", []) if isinstance(p, dict)}
    on_relay = {d.device_id for d in relay}
    ids = set(revoked) | {me}
    rows = []
    for dev in ids:
        p = peers.get(dev, {})
        rows.append(DeviceRow(
            device_id=dev, name=my_name if dev == me else names.get(dev, ""), this_device=dev == me,
            revoked=revoked.get(dev, False), connected=running and bool(p.get("connected")),
            last_seen=float(p.get("last_seen") or 0), on_relay=dev in on_relay,
        ))
    rows.sort(key=lambda r: (not r.this_device, r.revoked, r.name.lower(), r.device_id))
    return rows


async def list_devices(engine: Any, *, now: float | None = None) -> DeviceList:
    known: list[DeviceInfo] = []
    if getattr(engine, "lan", None) is not None or load_account_keys(engine.dirs) is not None:
        known = directory_for(engine).devices()  # without an account key: this device alone
    status, running = _status(engine, time.time() if now is None else now)
    relay: list[DeviceInfo] = []
    relay_error = ""
    if engine.config.relay is not None:
        try:
            relay = await _relay_devices(engine)
        except CoveError as e:
            relay_error = str(e)
    me = engine.identity.device_id
    my_name = engine.config.device_name or ""
    rows = device_rows(me, my_name, known, relay, status, running, _folder_names(engine))
    return DeviceList(rows, running, relay_error)


async def revoke(engine: Any, text: str, *, now: int | None = None) -> RevokeResult:
    """Revoke the device whose ID starts with ``text`` (see the module docstring)."""
    account = load_account_keys(engine.dirs)
    if account is None:
        raise CoveError("this device holds no account key, so it cannot revoke devices of the account")
    directory = directory_for(engine)
    known = {d.device_id: d for d in directory.devices()}
    relay_names: dict[str, str] = {}
    relay_error = ""
    if engine.config.relay is not None:
        try:
            for d in await _relay_devices(engine):
                known.setdefault(d.device_id, d)
                relay_names[d.device_id] = d.name or ""
        except CoveError as e:
            relay_error = str(e)  # devices the LAN knows can still be revoked
    me = engine.identity.device_id
    device_id = match_device([*known, me], text)
    if device_id == me:
        raise CoveError(
            f"{me[:15]}... is this device; a device cannot revoke itself. "
            "Run `cove devices revoke` on another device of the account.")
    info = known[device_id]
    cert = directory.get(device_id)
    username = (cert.username if cert else "") or (engine.config.relay.username if engine.config.relay else "")
    name = relay_names.get(device_id) or _folder_names(engine).get(short_id(device_id), "")
    already = directory.revocation(device_id) is not None
    if not already:
        revocation = DeviceRevocation.issue(account.signing_key, info.public_key, username[:64], now)
        if not directory.revoke(revocation):
            raise CoveError("the revocation does not verify against this device's directory (account key mismatch)")
    relay = ""
    if engine.config.relay is not None:
        if relay_error:
            relay = relay_error
        else:
            try:
                async with engine.relay_client() as client:
                    await client.revoke_device(device_id)
                relay = "revoked"
            except NotFound:
                relay = "not registered"
            except RelayError as e:
                relay = str(e)
    return RevokeResult(device_id, name, already, relay)
