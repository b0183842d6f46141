"""Device linking and the account's devices as the Devices page uses them.

* :class:`Linking` — "Link a new device": :meth:`Engine.link_offer` (through the relay when this
  device is signed in to one, else over the LAN, :mod:`sync.lan.linking`), then, for the LAN, the
  offer served by :meth:`LanPendingLink.serve` until a device fetched it or it expired; for the
  relay, the relay's device list watched for a device that signed in meanwhile (the relay does not
  say when an offer is taken). Cancel stops serving (LAN) or takes the offer back out of the
  relay's mailbox (a device token may fetch it; fetching uses it up). "Join with a code":
  :meth:`Engine.link_accept`, then the folders the account's keys open, each added with its
  folder ID (:meth:`EngineHost.add_folder` for LAN folders, :meth:`EngineHost.add_relay_folder`
  for relay folders).
* :class:`DeviceRoster` — this account's devices (:func:`sync.devices.list_devices`), the LAN
  peers with the path in use (:func:`peer_table`: :func:`sync.lan.cli.peer_rows` over the running
  LAN service's status, or the status file, with each peer's device ID and whether it is paused),
  revoking one (:func:`sync.devices.revoke`), and pausing or resuming syncing with a LAN peer
  (:meth:`EngineHost.set_peer_paused`; a small config write, done on the GUI thread).

Every call is a coroutine awaited on the app's asyncio loop (qasync), so network waits and Argon2id
never stall the widgets; the outcome comes back as Qt signals, and the methods return the task so
tests can wait on it too. Messages are the engine's own (written for people).
"""

from __future__ import annotations

import asyncio
import enum
import json
import time
from collections.abc import Collection, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.account import describe_error
from app.context import SettingsStore
from app.engine_host import EngineHost
from app.settings import SyncMode
from sync import devices
from sync.account import load_account_keys
from sync.config import RelayAccount as RelayConfig
from sync.errors import CoveError
from sync.keys import parse_code
from sync.linking import parse_link_input
from sync.wire.ids import short_id

RELAY_WATCH_S = 3.0  # how often the relay's device list is read while a relay offer is pending
TAKE_BACK_S = 10.0  # how long Cancel waits for the relay to give a pending offer back


def why(e: BaseException, relay: bool) -> str:
    """An exception as a sentence for the page: the engine's own message when it wrote one."""
    if isinstance(e, CoveError) or relay:
        return describe_error(e)
    text = str(e) or e.__class__.__name__
    return f"Network error on this device: {text}" if isinstance(e, (OSError, asyncio.TimeoutError)) else text


class Via(enum.Enum):
    RELAY = "relay"
    LAN = "LAN"


@dataclass(frozen=True)
class Offer:
    """A pairing code being offered: what the page shows."""

    code: str
    qr_payload: str
    fingerprint: str
    via: Via
    ttl: float
    expires_at: float  # time.monotonic()
    relay_url: str = ""
    username: str = ""
    folders: tuple[str, ...] = ()  # labels of the LAN folders whose keys it hands over


class OfferOutcome(enum.Enum):
    TAKEN = "taken"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True)
class JoinInput:
    """What a code field holds: the code, and the relay (and account) when linking goes through one."""

    code: str
    relay_url: str | None
    username: str | None


def parse_join(text: str, configured: RelayConfig | None) -> JoinInput:
    """Read a typed code or a scanned ``cove://link?...`` text, as ``cove link CODE`` does: a QR
    text naming a relay links through it, one naming none over the LAN; a typed code links through
    the relay this device is signed in to, else over the LAN. Pure; :class:`LinkError` on a typo."""
    code, qr_relay, qr_user = parse_link_input(text)
    from_qr = (text or "").strip().lower().startswith("cove:")
    relay = qr_relay or (None if from_qr or configured is None else configured.url)
    user = qr_user or (configured.username if configured is not None and relay == configured.url else None)
    return JoinInput(code, relay, user)


def remaining(expires_at: float, now: float) -> str:
    """``m:ss`` left until ``expires_at`` (never negative). Pure."""
    left = max(0, int(expires_at - now + 0.999))
    return f"{left // 60}:{left % 60:02d}"


def minutes(seconds: float) -> str:
    m = round(seconds / 60)
    return f"{m} minute{'s' if m != 1 else ''}" if seconds >= 90 else f"{seconds:g} seconds"


@dataclass(frozen=True)
class JoinedFolder:
    id: str
    label: str
    relay: bool  # a relay folder (joined through the relay) or a LAN-only folder
    path: Path | None = None  # where this device already syncs it
    role: str = ""

    @property
    def title(self) -> str:
        name = self.label or ("relay folder" if self.relay else "folder")
        return f"{name} ({self.role})" if self.role else name


@dataclass(frozen=True)
class Joined:
    """The outcome of linking this device: the account key fingerprint and the folders it may add."""

    fingerprint: str
    via: Via
    folders: tuple[JoinedFolder, ...]
    note: str = ""  # anything else worth saying (a relay that could not list folders, a kept key)


class _Tasks(QObject):
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._tasks: set[asyncio.Task] = set()

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def _run(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        was_idle = not self._tasks
        self._tasks.add(task)
        if was_idle:
            self.busy_changed.emit(True)

        def finished(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if not self._tasks:
                self.busy_changed.emit(False)

        task.add_done_callback(finished)
        return task

    def cancel_all(self) -> None:
        for t in list(self._tasks):
            t.cancel()


class Linking(_Tasks):
    offered = Signal(object)  # Offer
    offer_finished = Signal(object, str)  # OfferOutcome, what happened (for a person)
    joined = Signal(object)  # Joined
    join_failed = Signal(str)  # why, for a person
    folder_added = Signal(object)  # sync.config.FolderConfig
    folder_failed = Signal(str, str)  # folder id, why

    def __init__(self, host: EngineHost, settings: SettingsStore, parent: QObject | None = None):
        super().__init__(parent)
        self.host = host
        self.settings = settings
        self.offer: Offer | None = None  # the offer being shown, until it is over
        self._offer_task: asyncio.Task | None = None
        self._cancel_requested = False

    @property
    def engine(self):
        return self.host.engine

    def fingerprint(self) -> str:
        try:
            keys = load_account_keys(self.engine.dirs)
        except Exception:  # noqa: BLE001 - an unreadable key file shows as "no keys"
            return ""
        return keys.fingerprint() if keys else ""

    # -- link a new device ---------------------------------------------------------------------

    @property
    def offering(self) -> bool:
        return self._offer_task is not None and not self._offer_task.done()

    def start_offer(self, ttl: float | None = None) -> asyncio.Task:
        """A new pairing code; at most one at a time (a running one is returned)."""
        if self.offering:
            assert self._offer_task is not None
            return self._offer_task
        self._cancel_requested = False
        self._offer_task = self._run(self._offer(ttl))
        return self._offer_task

    def cancel_offer(self) -> None:
        if self.offering:
            assert self._offer_task is not None
            self._cancel_requested = True
            self._offer_task.cancel()

    async def _offer(self, ttl: float | None) -> tuple[OfferOutcome, str]:
        outcome, message = OfferOutcome.FAILED, ""
        try:
            outcome, message = await self._offer_and_wait(ttl)
        except asyncio.CancelledError:
            if not self._cancel_requested:
                raise  # the app is shutting down
            outcome, message = OfferOutcome.CANCELLED, "Cancelled: the code no longer works."
            if self.offer is not None and self.offer.via is Via.RELAY:
                try:
                    outcome, message = await asyncio.wait_for(self._take_back(self.offer), TAKE_BACK_S)
                except TimeoutError:
                    message = "Cancelled here; the relay did not answer, so it holds the code until it expires."
        except Exception as e:  # noqa: BLE001 - shown to the person
            outcome, message = OfferOutcome.FAILED, why(e, self.engine.config.relay is not None)
        finally:
            self.offer = None
        self.offer_finished.emit(outcome, message)
        return outcome, message

    async def _offer_and_wait(self, ttl: float | None) -> tuple[OfferOutcome, str]:
        from sync.lan.pairing import Outcome

        pending = await self.engine.link_offer(ttl)
        lan = hasattr(pending, "serve")
        offer = Offer(
            code=pending.code, qr_payload=pending.qr_payload, fingerprint=pending.fingerprint,
            via=Via.LAN if lan else Via.RELAY, ttl=pending.ttl, expires_at=time.monotonic() + pending.ttl,
            relay_url="" if lan else pending.relay_url, username="" if lan else pending.username,
            folders=tuple(f.label or f.id for f in pending.folders) if lan else (),
        )
        before = None if lan else await self._relay_devices()  # before anyone can see the code
        self.offer = offer
        self.offered.emit(offer)
        check = f"Check that it shows the account key fingerprint {offer.fingerprint}."
        if not lan:
            return await self._watch_relay(offer, before, check)
        served = await pending.serve()
        if served.outcome is Outcome.FETCHED:
            return OfferOutcome.TAKEN, f"The device at {served.peer} took the code; it is used up. {check}"
        return OfferOutcome.EXPIRED, f"The code expired unused after {minutes(offer.ttl)}; nothing was handed out."

    async def _relay_devices(self) -> set[str] | None:
        try:
            async with self.engine.relay_client() as client:
                return {d.device_id for d in await client.devices()}
        except (CoveError, OSError):
            return None

    async def _watch_relay(self, offer: Offer, before: set[str] | None, check: str) -> tuple[OfferOutcome, str]:
        """The relay does not say when an offer is fetched; a device that signs in to the account
        while the code is shown is the one that used it (a new device registers first)."""
        async with self.engine.relay_client() as client:
            while (left := offer.expires_at - time.monotonic()) > 0:
                await asyncio.sleep(min(RELAY_WATCH_S, left))
                if before is None:
                    continue
                try:
                    now = await client.devices()
                except (CoveError, OSError):
                    continue
                new = [d for d in now if d.device_id not in before and not d.revoked]
                if new:
                    name = new[0].name or short_id(new[0].device_id)
                    return OfferOutcome.TAKEN, f"A new device, {name}, signed in to the account: it used the code. {check}"
        return OfferOutcome.EXPIRED, (f"The code expired after {minutes(offer.ttl)}. If no device linked with it, "
                                      "the relay has deleted it; make a new one.")

    async def _take_back(self, offer: Offer) -> tuple[OfferOutcome, str]:
        """Fetch our own offer out of the relay's mailbox, so the code stops working at once."""
        from sync.relay_client import NotFound

        try:
            async with self.engine.relay_client() as client:
                await client.fetch_link(parse_code(offer.code).slot)
        except NotFound:
            return OfferOutcome.TAKEN, "Cancelled, but the code had been used already (or expired)."
        except Exception as e:  # noqa: BLE001
            return OfferOutcome.CANCELLED, (f"Cancelled here, but the relay still holds the code until it "
                                            f"expires ({describe_error(e)}).")
        return OfferOutcome.CANCELLED, "Cancelled: the relay no longer holds the code."

    # -- join with a code ----------------------------------------------------------------------

    def join(self, code: JoinInput | str, password: str = "", *, timeout: float | None = None) -> asyncio.Task:
        return self._run(self._join(code, password, timeout))

    async def _join(self, code: JoinInput | str, password: str, timeout: float | None) -> Joined | None:
        try:
            joined = await self._link(code, password, timeout)
        except Exception as e:  # noqa: BLE001 - shown to the person
            relay = isinstance(code, JoinInput) and bool(code.relay_url)
            self.join_failed.emit(why(e, relay))
            return None
        if self.host.running:
            await self.host.restart()  # LAN sync with the account's keys; the relay connection
        self.host.refresh()
        self.joined.emit(joined)
        return joined

    async def _link(self, code: JoinInput | str, password: str, timeout: float | None) -> Joined:
        if isinstance(code, str):
            code = parse_join(code, self.engine.config.relay)
        if code.relay_url:
            if not code.username or not password:
                raise CoveError("Linking through the relay needs your user name and password there.")
            linked = await self.engine.link_accept(code.code, code.relay_url, code.username, password)
            self.settings.update(sync_mode=SyncMode.RELAY, relay_url=linked.relay_url,
                                 relay_account=linked.username)
            here = {f.id: f.path for f in self.engine.folders()}
            folders = tuple(JoinedFolder(f.folder, "", True, here.get(f.folder), f.role)
                            for f in linked.folders or [])
            note = (f"Could not list the account's folders on the relay: {linked.folders_error}"
                    if linked.folders is None else "")
            return Joined(linked.fingerprint, Via.RELAY, folders, note)
        linked = await self.engine.link_accept(code.code, timeout=timeout)
        folders = tuple(JoinedFolder(f.id, f.label, False, f.path) for f in linked.folders)
        note = (f"The account key this device had made for itself is kept in {linked.replaced_keys}."
                if linked.replaced_keys is not None else "")
        return Joined(linked.fingerprint, Via.LAN, folders, note)

    def add_folder(self, folder: JoinedFolder, path: Path) -> asyncio.Task | None:
        """Sync ``folder`` at ``path`` on this device (created if missing), with its folder ID."""
        if folder.relay:
            return self._run(self._add_relay_folder(folder, path))
        self.host.add_folder(path, folder_id=folder.id, on_done=self.folder_added.emit,
                             on_error=lambda m: self.folder_failed.emit(folder.id, m))
        return None

    async def _add_relay_folder(self, folder: JoinedFolder, path: Path) -> None:
        try:
            added = await self.host.add_relay_folder(path, folder.id)
        except Exception as e:  # noqa: BLE001
            self.folder_failed.emit(folder.id, describe_error(e))
            return
        self.folder_added.emit(added)


@dataclass(frozen=True)
class PeerRow:
    device: str  # short label: the start of the device ID and its name
    path: str  # LAN, relay, paused or -
    addresses: str
    state: str
    device_id: str = ""
    paused: bool = False  # syncing with it is paused (this device's config, or the LAN status)


def peer_table(status: dict[str, Any], known: list[str], relay: bool, paused_peers: Collection[str],
               now: float) -> list[PeerRow]:
    """The rows of "On this network": :func:`sync.lan.cli.peer_rows` (what ``cove peers`` prints),
    each with its device ID and whether it is paused; a peer paused in the config reads "paused"
    even before the LAN status says so (or when no LAN service runs). Pure."""
    from sync.lan.cli import peer_rows

    rows: list[PeerRow] = []
    seen: set[str] = set()
    for p in status.get("peers", []):  # one at a time, so each row is known to be this device's
        for r in peer_rows({**status, "peers": [p]}, [], relay, now):
            seen.add(p["device_id"])
            rows.append(PeerRow(*r, device_id=p["device_id"], paused=bool(p.get("paused"))))
    for dev in known:
        if dev not in seen:
            rows.extend(PeerRow(*r, device_id=dev) for r in peer_rows({**status, "peers": []}, [dev], relay, now))
    return [replace(r, path="paused", paused=True) if r.device_id in paused_peers else r for r in rows]


def lan_status(engine: Any, now: float) -> dict[str, Any]:
    """The LAN service's status as ``status.json`` holds it: from the running service in this
    process, else the file (written by a daemon, or left from an earlier run)."""
    lan = getattr(engine, "lan", None)
    if lan is not None:
        return {"device_id": engine.identity.device_id, "updated": now,
                "peers": [p.to_json() for p in lan.status()]}
    try:
        doc = json.loads((engine.dirs.data / "lan" / "status.json").read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


class DeviceRoster(_Tasks):
    loaded = Signal(object, list)  # sync.devices.DeviceList, list[PeerRow]
    peers_changed = Signal(list)  # list[PeerRow]: a peer paused or resumed here
    failed = Signal(str)
    revoked = Signal(object)  # sync.devices.RevokeResult
    revoke_failed = Signal(str)

    def __init__(self, host: EngineHost, parent: QObject | None = None):
        super().__init__(parent)
        self.host = host
        self._loading: asyncio.Task | None = None
        self.listing: devices.DeviceList | None = None
        self.peers: list[PeerRow] = []

    @property
    def engine(self):
        return self.host.engine

    def refresh(self) -> asyncio.Task:
        if self._loading is None or self._loading.done():
            self._loading = self._run(self._refresh())
        return self._loading

    async def _refresh(self) -> None:
        engine = self.engine
        try:
            listing = await devices.list_devices(engine)
            now = time.time()
            status = await asyncio.to_thread(lan_status, engine, now) if engine.lan is None else lan_status(engine, now)
            known = [r.device_id for r in listing.rows if not r.this_device and not r.revoked]
            rows = peer_table(status, known, engine.config.relay is not None, engine.config.paused_peers, now)
        except Exception as e:  # noqa: BLE001
            self.failed.emit(describe_error(e))
            return
        self.listing, self.peers = listing, rows
        self.loaded.emit(listing, rows)

    def revoke(self, device_id: str) -> asyncio.Task:
        return self._run(self._revoke(device_id))

    async def _revoke(self, device_id: str) -> devices.RevokeResult | None:
        try:
            result = await devices.revoke(self.engine, device_id)
        except Exception as e:  # noqa: BLE001
            self.revoke_failed.emit(describe_error(e))
            return None
        self.revoked.emit(result)
        self.refresh()
        return result

    def set_peer_paused(self, device_id: str, paused: bool) -> asyncio.Task:
        """Pause or resume syncing with a LAN peer (saved, and applied to the running engine at
        once); ``peers_changed`` at once with the row flipped, then a refresh for the rest."""
        self.host.set_peer_paused(device_id, paused)
        self.peers = [replace(p, paused=paused, path="paused" if paused else p.path) if p.device_id == device_id
                      else p for p in self.peers]
        self.peers_changed.emit(self.peers)
        return self.refresh()
