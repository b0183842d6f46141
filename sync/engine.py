"""The engine facade and the one place that wires the engine's objects together.

:class:`Engine` owns the per-user config, this device's identity and one :class:`FolderRunner`
per folder, and offers the operations the CLI and the app need (add a folder, scan, status,
history, restore, run until stopped). It decides nothing itself: scanning is
:mod:`sync.scanner`, the rules of local change are :mod:`sync.index`, history is
:mod:`sync.history`, watching is :mod:`sync.watcher`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from sync import sharing
from sync.account import AccountService, LoginResult, load_keyring
from sync.changes import ChangeKind
from sync.config import (
    AppConfig,
    Bandwidth,
    ConfigError,
    Dirs,
    FolderConfig,
    RelayAccount,
    load_app_config,
    new_folder_id,
    read_marker,
    save_app_config,
    write_marker,
)
from sync.conflicts import Keep, OpenConflict, open_conflicts, resolve_conflict
from sync.errors import CoveError, FolderError, FolderNotFound, NeedsConfirmation
from sync.events import EngineEvents
from sync.folder import FolderRunner
from sync.identity import DeviceIdentity, IdentityError, load_or_create_identity
from sync.index import HistoryEntry, IndexError_, StoredError
from sync.lan.limits import LimitedTransport, Limits
from sync.relay_client import AppendNotice, Hello, MembershipNotice, NotificationListener, RelayClient, RelayTransport
from sync.wire.ids import is_folder_id


@dataclass(frozen=True)
class ScanSummary:
    folder_path: Path
    added: int = 0
    modified: int = 0
    deleted: int = 0
    moved: int = 0
    errors: int = 0
    files: int = 0
    seconds: float = 0.0
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class FolderStatus:
    folder_id: str
    path: Path
    state: str
    files: int
    directories: int
    bytes: int
    last_scan_ns: int | None
    history_versions: int
    errors: list[StoredError] = field(default_factory=list)


def summarize(folder: FolderConfig, changes: list, errors: list, files: int, seconds: float) -> ScanSummary:
    counts = {k: 0 for k in ChangeKind}
    for c in changes:
        counts[c.kind] += 1
    return ScanSummary(
        folder_path=folder.path,
        added=counts[ChangeKind.ADDED],
        modified=counts[ChangeKind.MODIFIED] + counts[ChangeKind.TYPE_CHANGED],
        deleted=counts[ChangeKind.DELETED],
        moved=counts[ChangeKind.MOVED],
        errors=len(errors),
        files=files,
        seconds=seconds,
        messages=tuple(str(e) for e in errors[:20]),
    )


CONFIG_POLL_S = 1.0  # how often a running engine looks for settings saved by another process


class _ConfigWatch:
    """Calls ``reload`` when the file at ``path`` changes identity (mtime, size, inode), checked
    every ``every_s`` on the running loop. A timer rather than a task: stopping it (``cancel``)
    takes effect at once, with no turn of the loop left to finish."""

    def __init__(self, path: Path, reload: Callable[[], object], every_s: float):
        self.path = path
        self.reload = reload
        self.every_s = every_s
        self.loop = asyncio.get_running_loop()
        self.seen = self._stamp()
        self.timer = self.loop.call_later(every_s, self._tick)

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def _tick(self) -> None:
        try:
            now = self._stamp()
            if now != self.seen:
                self.seen = now
                self.reload()
        finally:
            self.timer = self.loop.call_later(self.every_s, self._tick)

    def cancel(self) -> None:
        self.timer.cancel()


class Engine:
    def __init__(
        self,
        dirs: Dirs,
        config: AppConfig,
        identity: DeviceIdentity,
        clock: Callable[[], int] = time.time_ns,
    ):
        self.dirs = dirs
        self.config = config
        self.identity = identity
        self.clock = clock
        self.events = EngineEvents()
        self.limits = Limits()  # bandwidth: the LAN service's channels and every relay transport
        self.limits.apply(config.bandwidth)
        self.lan = None  # the LAN service while run() is going (sync.lan.service.LanService)
        self._runners: dict[str, FolderRunner] = {}
        self._running: tuple[asyncio.Event, Callable[[str], None], RelayClient | None, list] | None = None

    @classmethod
    def create(cls, dirs: Dirs) -> Engine:
        try:
            config = load_app_config(dirs)
            identity = load_or_create_identity(dirs.data)
        except (ConfigError, IdentityError) as e:
            raise CoveError(str(e)) from e
        return cls(dirs, config, identity)

    def close(self) -> None:
        for runner in self._runners.values():
            runner.close()
        self._runners.clear()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- folders -----------------------------------------------------------------------------

    def folders(self) -> Iterator[FolderConfig]:
        return iter(self.config.folders)

    def folder(self, folder_id: str) -> FolderConfig:
        for f in self.config.folders:
            if f.id == folder_id:
                return f
        raise FolderNotFound(f"no folder with id {folder_id}")

    def folder_for(self, path: Path) -> FolderConfig:
        folder = self.config.folder_for(path.expanduser())
        if folder is None:
            raise FolderNotFound(f"{path} is not inside a folder Cove syncs (see `cove status`)", path)
        return folder

    def add_folder(
        self, path: Path, label: str = "", folder_id: str | None = None, relay: bool = False
    ) -> FolderConfig:
        """Start syncing ``path``: create it if missing, mark it, register it in the config.
        ``folder_id`` joins an existing folder (the relay's); else the marker's or a new one."""
        root = path.expanduser().absolute()
        if root.exists() and not root.is_dir():
            raise FolderError(f"{root} is not a directory", root)
        if not root.parent.is_dir():
            raise FolderError(f"{root.parent} does not exist; create it first", root)
        existing = self.config.folder_for(root)
        if existing is not None:
            if existing.path.resolve() == root.resolve():
                if relay and not existing.relay:  # a LAN-only folder now also syncs via the relay
                    existing = replace(existing, relay=True)
                    self.config = self.config.with_folder(existing)
                    save_app_config(self.dirs, self.config)
                return existing
            raise FolderError(f"{root} is inside {existing.path}, which Cove already syncs", root)
        for f in self.config.folders:
            if root.resolve() in f.path.resolve().parents:
                raise FolderError(f"{root} contains {f.path}, which Cove already syncs", root)
        try:
            marked = read_marker(root)
        except ConfigError as e:
            raise FolderError(str(e), root) from e
        if folder_id is not None and marked is not None and marked != folder_id:
            raise FolderError(f"{root} already belongs to another Cove folder ({marked})", root)
        if folder_id is not None and not relay:  # joining a LAN-only folder: its key came by linking
            if not is_folder_id(folder_id):
                raise FolderError(f"{folder_id!r} is not a folder ID (see what `cove link CODE` printed)", root)
            if load_keyring(self.dirs, folder_id) is None:
                raise FolderError(
                    f"this device has no key of folder {folder_id}: link it to a device that syncs the folder "
                    "first (`cove link` there, `cove link CODE` here)", root)
        folder_id = folder_id or marked or new_folder_id()
        root.mkdir(exist_ok=True)
        write_marker(root, folder_id)
        if not relay:
            self._ensure_local_keys(folder_id)
        folder = FolderConfig(id=folder_id, path=root, label=label or root.name, relay=relay)
        self.config = self.config.with_folder(folder)
        save_app_config(self.dirs, self.config)
        return folder

    def _ensure_local_keys(self, folder_id: str) -> None:
        """A LAN-only folder on this device's own account: the first device of an account makes
        the account keys (later devices get them by linking) and the folder's key."""
        from sync.account import account_key_path, keyring_path, load_account_keys
        from sync.keys import AccountKeys, FolderKeyring

        if load_account_keys(self.dirs) is None:
            AccountKeys.generate().save(account_key_path(self.dirs))
        if load_keyring(self.dirs, folder_id) is None:
            path = keyring_path(self.dirs, folder_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            FolderKeyring.create(folder_id).save(path)

    def runner(self, folder_id: str) -> FolderRunner:
        runner = self._runners.get(folder_id)
        if runner is None:
            folder = self.folder(folder_id)
            try:
                runner = FolderRunner.open(folder, self.dirs, self.identity.short_id, self.clock)
            except IndexError_ as e:
                raise CoveError(str(e), folder.path) from e
            runner.events = self.events
            self._runners[folder_id] = runner
        return runner

    def set_paused(self, folder_id: str, paused: bool) -> None:
        """Pause or resume a folder (remembered in the config): a paused folder is not scanned,
        published, received, served to LAN peers or pulled from them; what changed meanwhile
        syncs when it is resumed."""
        folder = replace(self.folder(folder_id), paused=paused)
        self.config = self.config.with_folder(folder)
        save_app_config(self.dirs, self.config)
        self._apply_paused(folder)

    def _apply_paused(self, folder: FolderConfig) -> None:
        runner = self._runners.get(folder.id)  # only open ones: `cove pause` needs no index
        if runner is not None:
            runner.folder = folder
            if folder.paused:
                runner.pause()
            elif runner.paused:
                runner.resume()
        if self.lan is not None:
            if folder.paused:
                self.lan.pause_folder(folder.id)
            elif self.lan.pauses.folder_paused(folder.id):
                self.lan.resume_folder(folder.id)

    def set_bandwidth(self, bandwidth: Bandwidth) -> None:
        """Bandwidth limits (remembered in the config); a running engine applies them at once."""
        self.config = replace(self.config, bandwidth=bandwidth)
        save_app_config(self.dirs, self.config)
        self.limits.apply(bandwidth)

    def set_peer_paused(self, device_id: str, paused: bool) -> None:
        """Stop (or resume) syncing with one LAN peer, remembered in the config: a paused peer is
        disconnected, not dialled and refused until it is resumed."""
        peers = set(self.config.paused_peers)
        peers = peers | {device_id} if paused else peers - {device_id}
        self.config = replace(self.config, paused_peers=tuple(sorted(peers)))
        save_app_config(self.dirs, self.config)
        self._apply_peer_pauses()

    def _apply_peer_pauses(self) -> None:
        if self.lan is None:
            return
        want = set(self.config.paused_peers)
        for device_id in want - self.lan.pauses.peers:
            self.lan.pause_peer(device_id)
        for device_id in self.lan.pauses.peers - want:
            self.lan.resume_peer(device_id)

    def reload_settings(self) -> bool:
        """Take up pauses and bandwidth limits another process (``cove pause``, ``cove limits``)
        saved in the config; True when something changed. Folders added or removed elsewhere
        are not taken up here (the daemon is restarted for those)."""
        try:
            disk = load_app_config(self.dirs)
        except ConfigError:
            return False  # mid-write or broken: keep running with what we have
        changed = False
        for f in disk.folders:
            mine = next((m for m in self.config.folders if m.id == f.id), None)
            if mine is not None and mine.paused != f.paused:
                folder = replace(mine, paused=f.paused)
                self.config = self.config.with_folder(folder)
                self._apply_paused(folder)
                changed = True
        if disk.bandwidth != self.config.bandwidth:
            self.config = replace(self.config, bandwidth=disk.bandwidth)
            self.limits.apply(disk.bandwidth)
            changed = True
        if disk.paused_peers != self.config.paused_peers:
            self.config = replace(self.config, paused_peers=disk.paused_peers)
            self._apply_peer_pauses()
            changed = True
        return changed

    def request_scan(self, folder_id: str, paths: set[str] | None = None) -> None:
        """Have the running engine scan (serialised with its other work); paths relative."""
        self.runner(folder_id).request_scan(paths)

    def start_folder(self, folder_id: str) -> None:
        """Start watching and syncing a folder added while :meth:`run` is going."""
        if self._running is None:
            return
        stop, report, client, tasks = self._running
        folder = self.folder(folder_id)
        if folder.relay and client is None and self.config.relay is not None:
            client = self.relay_client()
            self._running = (stop, report, client, tasks)
            tasks.append(asyncio.get_running_loop().create_task(self._listen(client, [], stop, report)))
        runner = self._attach_any(folder, client)
        tasks.append(asyncio.get_running_loop().create_task(runner.run(stop, report)))

    # -- operations --------------------------------------------------------------------------

    def scan(self, folder_id: str, confirm_mass_delete: bool = False) -> ScanSummary:
        folder = self.folder(folder_id)
        started = time.perf_counter()
        result = self.runner(folder_id).scan(confirm_mass_delete=confirm_mass_delete)
        return summarize(
            folder, result.changes, result.errors, result.stats.entries, time.perf_counter() - started
        )

    def status(self, folder_id: str) -> FolderStatus:
        folder = self.folder(folder_id)
        runner = self.runner(folder_id)
        index = runner.index
        files = dirs = total = 0
        for r in index.records():
            if r.type.value == "dir":
                dirs += 1
            else:
                files += 1
                total += r.size
        last = index.get_meta("last_scan_ns")
        return FolderStatus(
            folder_id=folder.id,
            path=folder.path,
            state=runner.state(),
            files=files,
            directories=dirs,
            bytes=total,
            last_scan_ns=int(last) if last else None,
            history_versions=len(index.history()),
            errors=index.errors(),
        )

    def _locate(self, path: Path) -> tuple[FolderRunner, str]:
        folder = self.folder_for(path)
        absolute = path.expanduser().absolute()
        rel = absolute.relative_to(folder.path.absolute()).as_posix()
        return self.runner(folder.id), rel

    def history(self, path: Path) -> list[HistoryEntry]:
        runner, rel = self._locate(path)
        return runner.index.history(rel)

    def restore(self, path: Path, version_no: int, to: Path | None = None) -> Path:
        runner, rel = self._locate(path)
        return runner.restore(rel, version_no, to.expanduser().absolute() if to else None)

    # -- conflicts ---------------------------------------------------------------------------

    def conflicts(self, folder_id: str | None = None) -> list[OpenConflict]:
        folders = [self.folder(folder_id)] if folder_id else list(self.config.folders)
        out: list[OpenConflict] = []
        for f in folders:
            out += open_conflicts(self.runner(f.id).index, f)
        return out

    async def resolve(self, path: Path, keep: Keep) -> OpenConflict:
        """Resolve the open conflict at ``path`` (the file or its conflict copy): keep mine,
        theirs or both. The result is an ordinary local change plus a published resolution."""
        runner, rel = self._locate(path)
        conflict = await asyncio.to_thread(resolve_conflict, runner, rel, keep, self.identity.short_id, self.clock)
        if runner.syncer is not None:
            runner.syncer.queue_item(runner.syncer.resolution_item(conflict.record.id, keep.value))
            await runner.scan_async({conflict.record.path, conflict.record.copy_path})
            await runner.sync_async()
        return conflict

    # -- relay -------------------------------------------------------------------------------

    def relay_client(self, url: str | None = None) -> RelayClient:
        if url is None:
            if self.config.relay is None:
                raise CoveError("this device is not signed in to a relay: run `cove login RELAY_URL`")
            url = self.config.relay.url
        return RelayClient(url, self.identity)

    async def login(self, url: str, username: str, password: str) -> LoginResult:
        async with self.relay_client(url) as client:
            result = await AccountService(self.dirs, self.identity, client).login(
                username, password, self.config.device_name or self.identity.short_id
            )
        self.config = replace(self.config, relay=RelayAccount(url=url, username=username))
        save_app_config(self.dirs, self.config)
        return result

    async def add_relay_folder(self, path: Path, folder_id: str | None = None, label: str = "") -> FolderConfig:
        """Add a folder that syncs through the relay: a new one, or join ``folder_id``."""
        async with self.relay_client() as client:
            if self.config.relay is not None:
                client.username = self.config.relay.username
            service = AccountService(self.dirs, self.identity, client)
            if folder_id is None:
                root = path.expanduser().absolute()
                try:
                    marked = read_marker(root) if root.is_dir() else None
                except ConfigError:
                    marked = None
                new_id = marked or new_folder_id()
                await service.create_remote_folder(new_id)
                return self.add_folder(path, label, folder_id=new_id, relay=True)
            await self.sharing.join_keys(client, folder_id)  # sharing: keys wrapped by any verified owner
            return self.add_folder(path, label, folder_id=folder_id, relay=True)

    @property
    def sharing(self) -> sharing.Sharing:
        """Sharing operations: invite, members, roles, remove, leave, invitations (sync/sharing.py)."""
        return sharing.Sharing(self)

    async def remote_folders(self) -> list:
        async with self.relay_client() as client:
            return await client.folders()

    def _attach(self, folder: FolderConfig, client: RelayClient) -> FolderRunner:
        return self.attach_relay(folder, LimitedTransport(client, self.limits))

    def attach_relay(self, folder: FolderConfig, transport: RelayTransport) -> FolderRunner:
        """A relay folder's runner, talking to the relay through ``transport`` (a new one
        replaces the one an earlier run or ``sync_now`` left), with the sharing authority: member
        devices verified by their account keys, viewers' entries refused. Used with and without
        the LAN service (which wraps the transport so LAN peers hear of appends)."""
        runner = self.runner(folder.id)
        if runner.syncer is not None:
            runner.syncer.set_transport(transport)
        else:
            keyring = load_keyring(self.dirs, folder.id)
            if keyring is None:
                raise CoveError(f"{folder.path}: this device has no key for the folder; add it again with `cove folder add`")
            runner.attach_transport(transport, keyring, self.identity, self.config.device_name or self.identity.short_id)
        if runner.syncer is not None and runner.syncer.authority is None:
            sharing.install(self, runner)  # sharing: verify membership and member devices' certificates
        return runner

    async def sync_now(self, folder_id: str | None = None) -> None:
        """Scan, then publish and receive once, for relay folders (used by `cove sync`)."""
        folders = [self.folder(folder_id)] if folder_id else [f for f in self.config.folders if f.relay]
        async with self.relay_client() as client:
            for f in folders:
                runner = self._attach(f, client)
                await runner.scan_async()
                await runner.sync_async()

    async def run(
        self,
        stop: asyncio.Event,
        report: Callable[[str], None] | None = None,
        *,
        lan: bool = True,
        lan_interfaces: list[str] | None = None,
        lan_host: str | list[str] | None = None,
        on_lan_ready: Callable[[object], None] | None = None,
    ) -> None:
        """Watch every folder and keep its index current; sync with the other devices — LAN
        peers first (zeroconf discovery, authenticated channel, deltas), and the relay for relay
        folders (at once on notifications, and periodically) — until ``stop`` is set."""
        from sync.lan.discovery import Discovery, interfaces_from_env
        from sync.lan.glue import _write_status_periodically, make_lan_service

        if report is None:
            report = self.events.report
        if lan_interfaces is None:
            lan_interfaces = interfaces_from_env()
        if os.environ.get("COVE_LAN", "1") == "0":
            lan = False
        client = self.relay_client() if self.config.relay is not None and any(f.relay for f in self.config.folders) else None
        self.lan = make_lan_service(self, report) if lan else None
        runners = []
        for folder in self.config.folders:
            try:
                runners.append(self._attach_any(folder, client))
            except CoveError as e:
                report(f"{folder.path}: {e}")
        tasks = [asyncio.create_task(r.run(stop, report)) for r in runners]
        config_watch = self._watch_config()
        if client is not None:
            tasks.append(asyncio.create_task(self._listen(client, runners, stop, report)))
        self._running = (stop, report, client, tasks)
        discovery = None
        try:
            if self.lan is not None:
                await self.lan.start(host=lan_host, port=0)
                discovery = Discovery(self.identity.device_id, self.lan.port, self.lan.discovered, interfaces=lan_interfaces)
                try:
                    await discovery.start()
                except (OSError, ValueError, RuntimeError) as e:
                    report(f"LAN discovery is unavailable ({e}); syncing without finding LAN peers")
                    await discovery.stop()
                    discovery = None
                self.lan._changed()
                if on_lan_ready is not None:
                    on_lan_ready(self.lan)
                tasks.append(asyncio.create_task(_write_status_periodically(self.lan, stop)))
            await stop.wait()
        finally:
            self._running = None
            config_watch.cancel()
            if discovery is not None:
                await discovery.stop()
            if self.lan is not None:
                await self.lan.stop()
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, CoveError):
                    await t
            if client is not None:
                await client.close()

    def _watch_config(self, every_s: float = CONFIG_POLL_S) -> _ConfigWatch:
        """Take up settings other processes save (``cove pause``, ``cove limits``) within a
        second (:class:`_ConfigWatch`); ``cancel()`` the result to stop."""
        return _ConfigWatch(self.dirs.config_file, self.reload_settings, every_s)

    def _attach_any(self, folder: FolderConfig, client: RelayClient | None) -> FolderRunner:
        """A folder's runner with the transport it syncs through: LAN peers (and the relay, for
        relay folders) when the LAN service runs; else the relay alone; else local only."""
        lan = getattr(self, "lan", None)
        if lan is not None:
            from sync.lan.glue import attach_folder

            return attach_folder(self, lan, folder, client)
        if folder.relay and client is not None:
            return self._attach(folder, client)
        return self.runner(folder.id)

    async def _listen(
        self, client: RelayClient, runners: list[FolderRunner], stop: asyncio.Event, report: Callable[[str], None]
    ) -> None:
        """Relay notifications wake the folder they concern (a hello after every reconnect
        wakes all of them, so nothing missed while offline stays missed)."""
        listener = NotificationListener(client)
        try:
            async for note in listener:
                # looked up live: folders added while running are woken too
                live = {fid: r for fid, r in self._runners.items() if r.syncer is not None}
                if isinstance(note, Hello):
                    targets = list(live.values())
                elif isinstance(note, (AppendNotice, MembershipNotice)):
                    targets = [live[note.folder]] if note.folder in live else []
                else:
                    targets = []
                for r in targets:
                    r.request_sync()
        except CoveError as e:
            report(f"relay: {e}")
        finally:
            await listener.close()

    # -- device linking (sync/linking.py; without a relay sync/lan/linking.py) -----------------

    async def link_offer(self, ttl: float | None = None):  # -> sync.linking.PendingLink | LanPendingLink
        """A new pairing code for this device's account keys: deposited in the relay's link
        mailbox, or — with no relay configured — a :class:`sync.lan.linking.LanPendingLink` that
        also carries the LAN-only folders' keys; ``await pending.serve()`` hands it out on the LAN."""
        if self.config.relay is None:
            from sync.lan import linking as lan_linking

            return await lan_linking.create_offer(self, ttl)
        from sync import linking

        return await linking.create_offer(self, ttl)

    async def link_accept(
        self, code: str, relay_url: str | None = None, username: str | None = None, password: str | None = None,
        *, timeout: float | None = None,
    ):  # -> sync.linking.LinkedDevice | sync.lan.linking.LanLinkedDevice
        """Link this device with a pairing code from another device of the account: through the
        relay at ``relay_url``, or — without one — from the device offering it on the LAN
        (looking for it up to ``timeout`` seconds)."""
        if not relay_url:
            from sync.lan import linking as lan_linking

            return await lan_linking.accept_offer(
                self, code, timeout=lan_linking.FETCH_TIMEOUT if timeout is None else timeout
            )
        from sync import linking

        if username is None or password is None:
            raise CoveError("linking through a relay needs the username and password")
        return await linking.accept_offer(self, code, relay_url, username, password)


__all__ = ["Engine", "FolderStatus", "NeedsConfirmation", "ScanSummary"]
