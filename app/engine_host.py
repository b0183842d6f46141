"""The embedded engine as the interface sees it: a QObject that runs :meth:`Engine.run` as a task on
the app's asyncio loop (qasync) and turns the engine's :class:`sync.events.EngineEvents` callbacks
into Qt signals the views and the tray listen to.

* ``folder_state`` → the per-folder state line, the tray's overall state (:func:`overall_state`)
  and ``folders_changed`` (coalesced, so a burst of scans repaints once);
* ``changes`` → ``changes(folder id, records, remote)``, and a counts refresh;
* ``conflict`` → ``conflict_found`` (the workbench reloads);
* ``error`` → ``error_found``;
* ``changes`` from other devices, new conflicts and new errors → ``events`` (notifications,
  batched by :class:`app.notify.Notifier`);
* ``report`` → ``reported`` (the Activity page's log).

Only what has no event is polled, slowly: each folder's file counts and disk usage
(:mod:`sync.queries`, off the GUI thread), every ``poll_ms`` and shortly after changes.

Pausing uses :meth:`Engine.set_paused` per folder and new folders :meth:`Engine.start_folder`: the
engine task keeps running. Bandwidth limits (:meth:`Engine.set_bandwidth`) and paused LAN peers
(:meth:`Engine.set_peer_paused`) are saved in the engine's config and applied to the running engine
at once; both only write a small file, so they are called on the GUI thread. Nothing here blocks
the GUI thread: opening indexes and queries run through :class:`app.jobs.Jobs`, relay calls are
awaited on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal

from app.jobs import Jobs
from app.notify import Event, EventKind
from sync.config import Bandwidth, FolderConfig, save_app_config
from sync.engine import Engine
from sync.humanize import human_rate
from sync.queries import Counts, IndexReader
from sync.wire.ids import short_id


class AppState(enum.Enum):
    UP_TO_DATE = "up to date"
    SYNCING = "syncing"
    PAUSED = "paused"
    OFFLINE = "offline"
    ERROR = "error"

    @property
    def icon(self) -> str:
        return f"icons/cove-{self.name.lower().replace('_', '-')}.svg"


def overall_state(folder_states: list[str], paused: bool, online: bool = True) -> AppState:
    """The one state the tray shows, from each folder's state line. Pure."""
    if paused or (folder_states and all(s == "paused" for s in folder_states)):
        return AppState.PAUSED
    if any(s.startswith(("error", "waiting")) for s in folder_states):
        return AppState.ERROR
    if any(s.startswith(("scanning", "syncing")) for s in folder_states):
        return AppState.SYNCING
    if not online or any(s.startswith("offline") for s in folder_states):
        return AppState.OFFLINE
    return AppState.UP_TO_DATE


@dataclass(frozen=True)
class FolderInfo:
    folder: FolderConfig
    state: str
    counts: Counts | None
    error: str = ""
    progress: float | None = None

    @property
    def id(self) -> str:
        return self.folder.id


def folder_counts(engine: Engine, folder: FolderConfig) -> tuple[str, Counts | None, str]:
    """Worker thread: one folder's state as the engine last knew it, and its counts."""
    try:
        state = engine.runner(folder.id).state()
        with IndexReader(engine.dirs.index_path(folder.id)) as reader:
            return state, reader.counts(), ""
    except Exception as e:  # noqa: BLE001 - shown in the Folders view
        return f"error: {e}", None, str(e)


def change_events(label: str, records: Sequence[Any], me: str) -> list[Event]:
    """Notification events for changes other devices made (files only; ours are not news). Pure."""
    out = []
    for r in records:
        if getattr(r, "modified_by", "") == me:
            continue
        if getattr(r, "is_dir", False) or getattr(getattr(r, "type", None), "value", "") == "dir":
            continue
        out.append(Event(EventKind.CHANGE, r.path, label, "deleted" if getattr(r, "deleted", False) else "",
                         device=getattr(r, "modified_by", "")))
    return out


class EngineHost(QObject):
    folders_changed = Signal(list)  # list[FolderInfo]
    state_changed = Signal(object)  # AppState
    folder_state = Signal(str, str, object)  # folder id, state line, progress (0..1 or None)
    changes = Signal(str, list, bool)  # folder id, list[sync.records.FileRecord], remote
    conflict_found = Signal(str, object)  # folder id, sync.planner.ConflictRecord
    error_found = Signal(str, str, str, str)  # folder id, path ("" for the folder), kind, message
    reported = Signal(str)  # one line from the engine
    events = Signal(list)  # list[app.notify.Event] worth a notification
    running_changed = Signal(bool)
    _hop = Signal(object, object)  # (callable, args): an engine callback made off the GUI thread

    def __init__(self, engine: Engine, jobs: Jobs, poll_ms: int = 30_000, lan: bool = True,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.engine = engine
        self.lan = lan and "lan" in inspect.signature(engine.run).parameters  # LAN sync in Engine.run
        self.lan_error = ""
        self.jobs = jobs
        self.state = AppState.UP_TO_DATE
        self.infos: list[FolderInfo] = []
        self.log: list[str] = []
        self.states: dict[str, str] = {}  # folder id → last state line from the engine
        self.progress: dict[str, float | None] = {}
        self._counts: dict[str, tuple[Counts | None, str]] = {}
        self._seen_errors: set[tuple[str, str, str, str]] = set()
        self._task: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None
        self._run_has_relay = False
        self._polling = False
        self._poll_again = False
        self._hop.connect(lambda fn, args: fn(*args), Qt.ConnectionType.QueuedConnection)
        self._poll = QTimer(self, interval=poll_ms)  # counts / disk usage: no event for those
        self._poll.timeout.connect(self.refresh)
        self._soon = QTimer(self, singleShot=True, interval=500)  # counts after a burst of changes
        self._soon.timeout.connect(self.refresh)
        self._publish_timer = QTimer(self, singleShot=True, interval=50)  # coalesce state events
        self._publish_timer.timeout.connect(self.publish)
        ev = engine.events  # mutate in place: runners opened already hold this object
        ev.folder_state = self._threadsafe(self._on_folder_state)
        ev.changes = self._threadsafe(self._on_changes)
        ev.conflict = self._threadsafe(self._on_conflict)
        ev.error = self._threadsafe(self._on_error)
        ev.report = self._threadsafe(self._on_report)

    def _threadsafe(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Engine callbacks run on the loop thread (the GUI thread under qasync); one made from a
        worker thread (e.g. a scan run by a job) is carried over by a queued signal."""

        def call(*args: Any) -> None:
            if QThread.currentThread() is self.thread():
                fn(*args)
            else:
                self._hop.emit(fn, args)

        return call

    # -- running -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def paused(self) -> bool:
        folders = list(self.engine.folders())
        return bool(folders) and all(f.paused for f in folders)

    def start(self) -> None:
        """Open every folder's index off the GUI thread, then run the engine on the asyncio loop."""
        if self.running:
            return
        folders = list(self.engine.folders())

        def open_all() -> None:
            for f in folders:
                with contextlib.suppress(Exception):  # reported by Engine.run itself
                    self.engine.runner(f.id)

        self.jobs.submit(open_all, on_done=lambda _: self._launch())
        self._poll.start()

    def _launch(self) -> None:
        if self.running:
            return
        config = self.engine.config
        self._run_has_relay = config.relay is not None and any(f.relay for f in config.folders)
        self._stop = asyncio.Event()
        kwargs = {"lan": self.lan} if "lan" in inspect.signature(self.engine.run).parameters else {}
        self._task = asyncio.get_event_loop().create_task(self.engine.run(self._stop, **kwargs))
        self._task.add_done_callback(lambda _t: self._after_run())
        self.running_changed.emit(True)
        self.refresh()

    def _after_run(self) -> None:
        task = self._task
        if task is not None and not task.cancelled() and task.exception() is not None:
            # Engine.run itself failed (not a folder: those report through events): say so
            e = task.exception()
            if self.lan and self._stop is not None and not self._stop.is_set():
                # most likely LAN discovery (the only part of run that is not per folder): go on
                # without it rather than not syncing at all
                self.lan, self.lan_error = False, str(e) or e.__class__.__name__
                self._on_report(f"LAN sync is off: {self.lan_error}")
                self.events.emit([Event(EventKind.ERROR, "LAN sync", "", f"LAN sync is off: {self.lan_error}")])
                self.running_changed.emit(False)
                self._task = None
                QTimer.singleShot(0, self._launch)
                return
            message = f"the sync engine stopped: {e or e.__class__.__name__}"
            self._on_report(message)
            for f in list(self.engine.folders()):
                self._on_folder_state(f.id, f"error: {message}", None)
            self.events.emit([Event(EventKind.ERROR, "Cove", "", message)])
        self.running_changed.emit(False)

    async def stop(self) -> None:
        self._poll.stop()
        self._soon.stop()
        if self._stop is not None:
            self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):  # a failed run was reported
                await self._task
        self._task = None

    async def restart(self) -> None:
        """Stop and start Engine.run again: only for what start_folder cannot do (a relay folder
        when the run started without a relay connection)."""
        await self.stop()
        self._poll.start()
        self._launch()

    def pause(self) -> None:
        self._set_paused(True)

    def resume(self) -> None:
        self._set_paused(False)

    def _set_paused(self, paused: bool) -> None:
        for f in list(self.engine.folders()):
            if f.paused != paused:
                self.engine.set_paused(f.id, paused)  # emits folder_state
        self.publish()

    def toggle_pause(self) -> None:
        self.resume() if self.paused else self.pause()

    def set_bandwidth(self, bandwidth: Bandwidth) -> None:
        """Save the limits and apply them to the running engine (LAN channels, relay transports)."""
        if bandwidth == self.engine.config.bandwidth:
            return
        self.engine.set_bandwidth(bandwidth)
        b = bandwidth
        self._on_report(f"bandwidth limits: LAN up {human_rate(b.lan_up)}, down {human_rate(b.lan_down)}; "
                        f"relay up {human_rate(b.relay_up)}, down {human_rate(b.relay_down)}")

    def set_peer_paused(self, device_id: str, paused: bool) -> None:
        """Stop (or resume) syncing with one LAN peer; remembered, and applied to the running engine."""
        self.engine.set_peer_paused(device_id, paused)
        self._on_report(f"{'paused' if paused else 'resumed'} syncing with {short_id(device_id)} on the LAN")

    # -- engine events (GUI thread) ------------------------------------------------------------

    def _label(self, folder_id: str) -> str:
        try:
            f = self.engine.folder(folder_id)
        except Exception:  # noqa: BLE001 - a folder removed meanwhile
            return folder_id
        return f.label or f.path.name

    def _on_folder_state(self, folder_id: str, state: str, progress: float | None) -> None:
        self.states[folder_id] = state
        self.progress[folder_id] = progress
        self.folder_state.emit(folder_id, state, progress)
        if not self._publish_timer.isActive():
            self._publish_timer.start()

    def _on_changes(self, folder_id: str, records: Sequence[Any], remote: bool) -> None:
        records = list(records)
        self.changes.emit(folder_id, records, remote)
        if remote:
            events = change_events(self._label(folder_id), records, self.engine.identity.short_id)
            if events:
                self.events.emit(events)
        if not self._soon.isActive():
            self._soon.start()

    def _on_conflict(self, folder_id: str, record: Any) -> None:
        self.conflict_found.emit(folder_id, record)
        self.events.emit([Event(EventKind.CONFLICT, record.path, self._label(folder_id))])

    def _on_error(self, folder_id: str, path: str, kind: str, message: str) -> None:
        self.error_found.emit(folder_id, path, kind, message)
        key = (folder_id, path, kind, message)
        if key in self._seen_errors:  # scans report a standing per-file error every time
            return
        self._seen_errors.add(key)
        label = self._label(folder_id)
        self.events.emit([Event(EventKind.ERROR, path or label, label, message)])

    def _on_report(self, line: str) -> None:
        self.log.append(line)
        del self.log[:-500]
        self.reported.emit(line)

    # -- the folder list -----------------------------------------------------------------------

    def publish(self) -> None:
        """Rebuild the folder list from the engine's states and the last counts; emit."""
        self._publish_timer.stop()
        infos = []
        for f in list(self.engine.folders()):
            counts, error = self._counts.get(f.id, (None, ""))
            state = "paused" if f.paused else self.states.get(f.id, "starting")
            infos.append(FolderInfo(f, state, counts, error, self.progress.get(f.id)))
        self.infos = infos
        self.folders_changed.emit(infos)
        state = overall_state([i.state for i in infos], False)
        if state is not self.state:
            self.state = state
            self.state_changed.emit(state)

    def refresh(self) -> None:
        """Re-read each folder's counts off the GUI thread, then publish."""
        if self._polling:
            self._poll_again = True
            return
        self._polling = True
        folders = list(self.engine.folders())
        engine = self.engine

        def work() -> dict[str, tuple[str, Counts | None, str]]:
            return {f.id: folder_counts(engine, f) for f in folders}

        def done(result: dict[str, tuple[str, Counts | None, str]]) -> None:
            self._polling = False
            for fid, (state, counts, error) in result.items():
                self._counts[fid] = (counts, error)
                if fid not in self.states or error:  # events are newer than a polled state
                    self.states[fid] = state
            self.publish()
            if self._poll_again:
                self._poll_again = False
                self.refresh()

        def failed(message: str) -> None:
            self._polling = False
            self.reported.emit(f"status query failed: {message}")

        self.jobs.submit(work, on_done=done, on_error=failed)

    # -- operations ----------------------------------------------------------------------------

    def call(self, fn: Callable[..., Any], *args: Any, on_done=None, on_error=None) -> None:
        self.jobs.submit(fn, *args, on_done=on_done, on_error=on_error)

    def add_folder(self, path: Path, on_done=None, on_error=None, folder_id: str | None = None) -> None:
        """A LAN folder: added and opened off the GUI thread, then started in the running engine.
        ``folder_id`` joins a folder of another device of the account (its key came by linking)."""

        def work() -> FolderConfig:
            folder = self.engine.add_folder(path, folder_id=folder_id)
            self.engine.runner(folder.id)
            return folder

        def done(folder: FolderConfig) -> None:
            if self.running:
                self.engine.start_folder(folder.id)
            if on_done:
                on_done(folder)
            self.refresh()

        self.jobs.submit(work, on_done=done, on_error=on_error)

    async def add_relay_folder(self, path: Path, folder_id: str | None = None) -> FolderConfig:
        """A folder that syncs through the relay: a new one from ``path``, or join ``folder_id``.
        Awaited on the loop (relay calls); the index is opened off the GUI thread."""
        root = path.expanduser().absolute()
        existing = self.engine.config.folder_for(root)
        was_running = existing is not None and existing.path.resolve() == root.resolve()
        folder = await self.engine.add_relay_folder(root, folder_id)
        if not folder.relay:
            # Engine.add_relay_folder returns an existing LAN folder unchanged; mark it a relay
            # folder (see the report: the engine should do this itself).
            folder = replace(folder, relay=True)
            self.engine.config = self.engine.config.with_folder(folder)
            save_app_config(self.engine.dirs, self.engine.config)
        await asyncio.to_thread(self.engine.runner, folder.id)
        if self.running:
            if self._run_has_relay and not was_running:
                self.engine.start_folder(folder.id)
            else:  # no relay connection in this run yet, or the folder runs without a transport
                await self.restart()
        self.refresh()
        return folder
