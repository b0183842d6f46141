"""Wiring the LAN service into an engine (used by ``Engine.run``).

* :func:`make_lan_service` — the device certificate (issued with the account key this device
  holds), the directory of verified devices (``<data>/lan/devices.json``), the engine's bandwidth
  limits and the pauses of its config (paused folders and peers), and
  the status file ``cove peers`` reads (``<data>/lan/status.json``). None when this device holds
  no account key (it cannot prove membership to anyone).
* :func:`attach_folder` — a folder's transport: the relay client wrapped so LAN peers hear about
  appends (relay folders, which also get the sharing authority, as without the LAN), or
  :class:`~sync.lan.null_transport.NullTransport` (LAN-only folders); then the folder joins the LAN
  service, which puts LAN sources in front of the relay's blocks.
  With a relay, the relay's device list is read now and every :data:`RELAY_DEVICES_EVERY_S`
  (:func:`watch_relay_devices`): devices revoked there are refused on the LAN too.
* The status writer also re-reads ``devices.json`` (cheap when unchanged), so a revocation made
  by ``cove devices revoke`` in another process reaches the running daemon within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sync.account import load_account_keys, load_keyring
from sync.config import FolderConfig
from sync.errors import CoveError
from sync.lan.certs import DeviceCertificate, DeviceDirectory
from sync.lan.limits import LimitedTransport, Pauses
from sync.lan.null_transport import NotifyingTransport, NullTransport
from sync.lan.service import LanService

LOCAL_USERNAME = "local"
RELAY_DEVICES_EVERY_S = 300.0
_relay_watch: weakref.WeakKeyDictionary[LanService, asyncio.Task] = weakref.WeakKeyDictionary()


def lan_dir(engine: Any) -> Path:
    return engine.dirs.data / "lan"


def status_path(engine: Any) -> Path:
    return lan_dir(engine) / "status.json"


def make_lan_service(engine: Any, report: Callable[[str], None] = lambda line: None) -> LanService | None:
    account = load_account_keys(engine.dirs)
    if account is None:
        report("LAN sync is off: this device holds no account key (sign in, or link it to another device)")
        return None
    username = engine.config.relay.username if engine.config.relay is not None else LOCAL_USERNAME
    directory = DeviceDirectory(account.sign_pk, lan_dir(engine) / "devices.json")
    cert = DeviceCertificate.issue(account.signing_key, engine.identity.public_key, username)
    pauses = Pauses(folders={f.id for f in engine.config.folders if f.paused}, peers=set(engine.config.paused_peers))
    return LanService(engine.identity, account.sign_pk, cert, directory, limits=engine.limits, pauses=pauses,
                      report=report, status_path=status_path(engine))


async def _write_status_periodically(lan: LanService, stop: asyncio.Event, every_s: float = 0.5) -> None:
    """Byte counters move without events; refresh the status file ``cove peers`` reads. Also picks
    up revocations another process wrote into the device directory."""
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
        lan.directory.reload()
        lan._write_status()


async def watch_relay_devices(lan: LanService, client: Any, every_s: float = RELAY_DEVICES_EVERY_S) -> None:
    """The relay's device list now and then: devices revoked on the relay are refused on the LAN."""
    while True:
        with contextlib.suppress(CoveError):
            lan.directory.note_relay_revoked(await client.devices())
        await asyncio.sleep(every_s)


def attach_folder(engine: Any, lan: LanService, folder: FolderConfig, client: Any | None = None) -> Any:
    """Attach ``folder``'s runner to this run: a relay folder through :meth:`Engine.attach_relay`
    (the sharing authority too), its transport wrapped so LAN peers hear of appends; a LAN-only
    folder gets a :class:`NullTransport`. Then the folder joins the LAN service."""
    if folder.relay and client is not None:
        if lan not in _relay_watch:
            _relay_watch[lan] = lan._spawn(watch_relay_devices(lan, client))
        runner = engine.attach_relay(
            folder, NotifyingTransport(LimitedTransport(client, lan.limits), lan.on_append, lan.directory))
    else:
        runner = engine.runner(folder.id)
        if runner.syncer is None:
            keyring = load_keyring(engine.dirs, folder.id)
            if keyring is None:
                raise CoveError(f"{folder.path}: this device has no key for the folder; link it to a device that has",
                                folder.path)
            runner.attach_transport(NullTransport(lan.directory, lan.on_append), keyring, engine.identity,
                                    engine.config.device_name or engine.identity.short_id)
    if folder.id not in lan.folders:
        lan.add_folder(runner)
    return runner
