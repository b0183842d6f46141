"""One synced folder at run time: its index, scanner, history and watcher, and the loop that keeps
the index current.

:class:`FolderRunner` only orchestrates: the watcher says which paths are dirty, the runner hands
them to the scanner (one scan at a time, off the event loop, dirty paths coalesced while a scan
runs), and prunes history after scans. It remembers the folder's state (idle, scanning, error,
waiting for confirmation) for `cove status` and the app.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable
from pathlib import Path

from sync.config import Dirs, FolderConfig
from sync.errors import CoveError, FolderError, NeedsConfirmation
from sync.events import EngineEvents
from sync.executor import Executor, choose_staging, default_staging
from sync.history import History
from sync.identity import DeviceIdentity
from sync.index import Index
from sync.keys import FolderKeyring
from sync.relay_client import RelayTransport
from sync.scanner import Scanner, ScanResult, check_root, observe_path
from sync.syncer import Syncer, SyncReport, TransportBlocks
from sync.watcher import FULL, Watcher

timing = logging.getLogger("cove.timing")


class FolderState(enum.Enum):
    IDLE = "up to date"
    SCANNING = "scanning"
    SYNCING = "syncing"
    OFFLINE = "offline"
    ERROR = "error"
    NEEDS_CONFIRMATION = "waiting for confirmation"
    PAUSED = "paused"


class FolderRunner:
    def __init__(
        self,
        folder: FolderConfig,
        index: Index,
        scanner: Scanner,
        history: History,
        clock: Callable[[], int] = time.time_ns,
    ):
        self.folder = folder
        self.index = index
        self.scanner = scanner
        self.history = history
        self.clock = clock
        self.syncer: Syncer | None = None
        self.events = EngineEvents()
        self.paused = folder.paused
        self._state = FolderState.PAUSED if folder.paused else FolderState.IDLE
        self.last_error: str | None = None
        self._busy: asyncio.Lock | None = None  # scans and applying remote changes never overlap
        self._wake: asyncio.Event | None = None
        self._sync_requested = False
        self._requested_scan: set[str] = set()
        self._offline = False  # the last sync failed: stay "offline" until one succeeds
        self.staging_outside: Path | None = None  # see sync.executor.choose_staging

    @classmethod
    def open(cls, folder: FolderConfig, dirs: Dirs, device: str, clock: Callable[[], int]) -> FolderRunner:
        index = Index.open(dirs.index_path(folder.id), device, clock)
        root = folder.path
        scanner = Scanner(root, index)
        history = History(
            root, index, folder.versioning, clock, observe=lambda r, rel: observe_path(Path(r), rel)
        )
        runner = cls(folder, index, scanner, history, clock)
        runner.staging_outside = dirs.data / "folders" / folder.id / "staging"
        return runner

    def attach_transport(
        self,
        transport: RelayTransport,
        keyring: FolderKeyring,
        identity: DeviceIdentity,
        device_name: str = "",
    ) -> Syncer:
        """Sync this folder with other devices through ``transport`` (the relay, or a test relay)."""
        staging = default_staging(self.folder.path)
        if self.staging_outside is not None:
            staging = choose_staging(self.folder.path, self.staging_outside)
        executor = Executor(
            self.folder.path, self.index, self.history, TransportBlocks(transport, self.folder.id, keyring),
            clock=self.clock, staging=staging,
        )

        async def rescan(paths: set[str]) -> None:
            await asyncio.to_thread(self._scan_quietly, paths)

        self.syncer = Syncer(
            folder_id=self.folder.id,
            root=self.folder.path,
            index=self.index,
            transport=transport,
            keyring=keyring,
            identity=identity,
            executor=executor,
            rescan=rescan,
            device_name=device_name,
            clock=self.clock,
        )
        return self.syncer

    def exclusive(self) -> asyncio.Lock:
        """The lock under which scans and applying remote changes run (LAN pulls take it too)."""
        return self._lock()

    def _lock(self) -> asyncio.Lock:
        if self._busy is None:
            self._busy = asyncio.Lock()
        return self._busy

    def _scan_quietly(self, paths: set[str]) -> None:
        try:
            self.scanner.scan(sorted(paths))
        except CoveError as e:
            self._state, self.last_error = FolderState.ERROR, str(e)

    async def scan_async(self, paths: set[str] | None = None, confirm_mass_delete: bool = False) -> ScanResult:
        async with self._lock():
            self._set_state(FolderState.SCANNING)
            t0 = time.monotonic()
            try:
                result = await asyncio.to_thread(self.scan, paths, confirm_mass_delete)
            except NeedsConfirmation as e:
                self._set_state(FolderState.NEEDS_CONFIRMATION)
                self.events.error(self.folder.id, "", "needs_confirmation", str(e))
                raise
            except CoveError as e:
                self._set_state(FolderState.ERROR, str(e))
                raise
            self._set_state(FolderState.OFFLINE if self._offline else FolderState.IDLE)
        timing.debug("scan %s: %d paths asked, %d changes, %.3f s", self.folder.id[:8],
                     -1 if paths is None or FULL in paths else len(paths), len(result.changes), time.monotonic() - t0)
        if result.changes:
            self.events.changes(self.folder.id, [c.record for c in result.changes], False)
        for err in result.errors:
            self.events.error(self.folder.id, err.path, err.kind.value, err.message)
        return result

    async def sync_async(self) -> SyncReport | None:
        """Publish local changes and apply remote ones (no-op without a transport)."""
        if self.syncer is None:
            return None
        async with self._lock():
            self._set_state(FolderState.SYNCING)
            try:
                out = await self.syncer.sync_once()
            except CoveError as e:
                self._offline = True
                self._set_state(FolderState.OFFLINE, str(e))
                raise
            self._offline = False
            self._set_state(FolderState.IDLE)
        applied = [a.record for a in out.execution.applied if a.record is not None]
        if applied:
            self.events.changes(self.folder.id, applied, True)
        for c in out.execution.conflicts + out.received.conflicts:
            self.events.conflict(self.folder.id, c)
        for path, reason in out.execution.failed.items():
            self.events.error(self.folder.id, path, "sync", reason)
        return out

    def close(self) -> None:
        self.index.close()

    def _set_state(self, state: FolderState, error: str | None = None, progress: float | None = None) -> None:
        self._state = state
        if error is not None or state is not FolderState.ERROR:
            self.last_error = error
        text = f"error: {error}" if state is FolderState.ERROR and error else state.value
        self.events.folder_state(self.folder.id, text, progress)
        if state is FolderState.ERROR and error:
            self.events.error(self.folder.id, "", "folder", error)

    def pause(self) -> None:
        self.paused = True
        self._set_state(FolderState.PAUSED)

    def resume(self) -> None:
        self.paused = False
        self._set_state(FolderState.IDLE)
        self.request_scan({FULL})

    def request_scan(self, paths: set[str] | None = None) -> None:
        """Ask the running loop to scan ``paths`` (everything when None) soon."""
        self._requested_scan |= paths if paths else {FULL}
        if self._wake is not None:
            self._wake.set()

    def state(self) -> str:
        """A one-line state for people; checks the root when nothing is running."""
        if self._state is FolderState.IDLE:
            try:
                check_root(str(self.folder.path))
            except FolderError as e:
                return f"error: {e}"
        if self._state is FolderState.ERROR and self.last_error:
            return f"error: {self.last_error}"
        return self._state.value

    # -- scanning ----------------------------------------------------------------------------

    def scan(self, paths: set[str] | None = None, confirm_mass_delete: bool = False) -> ScanResult:
        """Scan now (blocking). Raises FolderError for an unusable root and NeedsConfirmation when
        the scan would delete a large share of the folder (nothing is recorded then)."""
        self._state = FolderState.SCANNING
        try:
            result = self.scanner.scan(
                None if paths is None or FULL in paths else sorted(paths),
                confirm_mass_delete=confirm_mass_delete,
            )
        except FolderError as e:
            self._state, self.last_error = FolderState.ERROR, str(e)
            raise
        if result.needs_confirmation:
            self._state = FolderState.NEEDS_CONFIRMATION
            deletes = sum(1 for c in result.changes if c.kind.value == "deleted")
            raise NeedsConfirmation(
                f"this scan would delete {deletes} of {self.index.count()} indexed paths in "
                f"{self.folder.path}; nothing was recorded. If that is what you did, run "
                "`cove scan --yes`.",
                self.folder.path,
            )
        self._state, self.last_error = FolderState.IDLE, None
        self.history.prune()
        return result

    def restore(self, relpath: str, version_no: int, dest: Path | None) -> Path:
        restored = self.history.restore(relpath, version_no, dest)
        return restored.path

    # -- running -----------------------------------------------------------------------------

    def request_sync(self) -> None:
        """Ask the running loop to publish and receive now (e.g. a relay notification)."""
        self._sync_requested = True
        if self._wake is not None:
            self._wake.set()

    async def run(
        self,
        stop: asyncio.Event,
        report: Callable[[str], None],
        sync_interval_s: float = 60.0,
    ) -> None:
        """Initial full scan, then: scan what the watcher reports, and — with a transport — publish
        after every scan that changed something, receive when asked (notifications) and every
        ``sync_interval_s`` as a backstop, retrying with backoff while the relay is unreachable."""
        pending: set[str] = {FULL}
        self._wake = wake = asyncio.Event()
        self._sync_requested = self.syncer is not None
        wake.set()
        loop = asyncio.get_running_loop()
        backoff = 1.0
        next_sync = loop.time() + sync_interval_s

        def on_dirty(paths: set[str]) -> None:
            pending.update(paths)
            wake.set()

        def on_error(error: FolderError | None) -> None:
            if error is not None:
                self._set_state(FolderState.ERROR, str(error))
                report(f"{self.folder.path}: {error}")
            else:
                report(f"{self.folder.path}: folder is back; rescanning")
                on_dirty({FULL})

        watcher = Watcher(
            self.folder.path,
            on_dirty,
            on_error=on_error,
            quiet=self.folder.debounce_ms / 1000,
            full_rescan_interval=self.folder.rescan_interval_s,
        )
        watcher.start()
        stopper = asyncio.ensure_future(stop.wait())
        waiter: asyncio.Future | None = None
        try:
            while not stop.is_set():
                waiter = asyncio.ensure_future(wake.wait())
                timeout = max(0.0, next_sync - loop.time()) if self.syncer is not None else None
                await asyncio.wait({waiter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if stop.is_set():
                    break
                wake.clear()
                pending |= self._requested_scan
                self._requested_scan = set()
                if self.paused:
                    continue  # changes stay pending until resumed
                if self.syncer is not None and loop.time() >= next_sync:
                    self._sync_requested = True
                batch, pending = pending, set()
                if batch:
                    try:
                        result = await self.scan_async(batch)
                    except CoveError as e:
                        report(f"{self.folder.path}: {e}")
                        continue
                    if result.changes:
                        self._sync_requested = self.syncer is not None
                        report(f"{self.folder.path}: " + ", ".join(str(c) for c in result.changes[:5])
                               + (f" and {len(result.changes) - 5} more" if len(result.changes) > 5 else ""))
                if self._sync_requested and self.syncer is not None:
                    self._sync_requested = False
                    try:
                        out = await self.sync_async()
                        backoff = 1.0
                        next_sync = loop.time() + sync_interval_s
                        if out is not None and out.execution.applied:
                            report(f"{self.folder.path}: applied " + ", ".join(
                                str(a) for a in out.execution.applied[:5]))
                        if out is not None and out.received.refused:
                            report(f"{self.folder.path}: refused: {out.received.refused[0]}")
                    except CoveError as e:
                        report(f"{self.folder.path}: sync: {e}; retrying in {backoff:.0f} s")
                        next_sync = loop.time() + backoff
                        backoff = min(backoff * 2, 300.0)
        finally:
            stopper.cancel()
            if waiter is not None:
                waiter.cancel()
            watcher.stop()
            self._wake = None


__all__ = ["Dirs", "FolderRunner", "FolderState"]
