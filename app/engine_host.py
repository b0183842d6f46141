"""The embedded engine as the interface sees it: a QObject that runs :meth:`Engine.run` as a task on
the app's asyncio loop (qasync), pauses and resumes it, and turns what the engine knows into Qt
signals the views and the tray listen to.

Nothing here blocks the GUI thread: opening indexes, status queries and engine operations run
through :class:`app.jobs.Jobs`. The engine does not push events yet, so the host polls cheap
read-only summaries (:mod:`sync.queries`) every ``poll_ms`` and after each ``report`` line, and
emits ``changes`` when the index has new versions. When the engine grows event callbacks (folder
state changed, changes applied, conflict opened), they replace the polling here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.jobs import Jobs
from app.notify import Event, EventKind
from sync.config import FolderConfig
from sync.engine import Engine
from sync.queries import Change, Counts, IndexReader


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
    if paused:
        return AppState.PAUSED
    if any(s.startswith(("error", "waiting")) for s in folder_states):
        return AppState.ERROR
    if any(s.startswith(("scanning", "syncing")) for s in folder_states):
        return AppState.SYNCING
    if not online:
        return AppState.OFFLINE
    return AppState.UP_TO_DATE


@dataclass(frozen=True)
class FolderInfo:
    folder: FolderConfig
    state: str
    counts: Counts | None
    error: str = ""

    @property
    def id(self) -> str:
        return self.folder.id


def folder_info(engine: Engine, folder: FolderConfig, paused: bool) -> FolderInfo:
    """Worker thread: one folder's state and counts."""
    try:
        state = "paused" if paused else engine.runner(folder.id).state()
        with IndexReader(engine.dirs.index_path(folder.id)) as reader:
            counts = reader.counts()
        return FolderInfo(folder, state, counts)
    except Exception as e:  # noqa: BLE001 - shown in the Folders view
        return FolderInfo(folder, f"error: {e}", None, str(e))


def new_changes(engine: Engine, since: dict[str, int]) -> dict[str, list[Change]]:
    """Worker thread: changes recorded after ``since[folder id]`` (ns), per folder."""
    out: dict[str, list[Change]] = {}
    for folder in list(engine.folders()):
        path = engine.dirs.index_path(folder.id)
        if not path.exists():
            continue
        with IndexReader(path) as reader:
            changes = reader.changes_after(since.get(folder.id, 0))
        if changes:
            out[folder.id] = changes
    return out


def report_event(line: str) -> Event | None:
    """A notification event for one ``report`` line of the engine, if it is worth one. Local scan
    results are not (the person made them); errors are."""
    folder, _, rest = line.partition(": ")
    if "error" in rest.lower() or "cannot" in rest.lower() or "missing" in rest.lower():
        return Event(EventKind.ERROR, folder, Path(folder).name, rest)
    return None


class EngineHost(QObject):
    folders_changed = Signal(list)  # list[FolderInfo]
    state_changed = Signal(object)  # AppState
    changes = Signal(str, list)  # folder id, list[sync.queries.Change]
    reported = Signal(str)  # one line from the engine
    events = Signal(list)  # list[app.notify.Event] worth a notification
    running_changed = Signal(bool)

    def __init__(self, engine: Engine, jobs: Jobs, poll_ms: int = 2000, parent: QObject | None = None):
        super().__init__(parent)
        self.engine = engine
        self.jobs = jobs
        self.paused = False
        self.online = True
        self.state = AppState.UP_TO_DATE
        self.infos: list[FolderInfo] = []
        self.log: list[str] = []
        self._task: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None
        self._seen: dict[str, int] = {}
        self._polling = False
        self._poll = QTimer(self, interval=poll_ms)
        self._poll.timeout.connect(self.refresh)

    # -- running -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Open every folder's index off the GUI thread, then run the engine on the asyncio loop."""
        if self.running or self.paused:
            return
        folders = list(self.engine.folders())

        def open_all() -> None:
            for f in folders:
                with contextlib.suppress(Exception):  # reported by Engine.run itself
                    self.engine.runner(f.id)

        self.jobs.submit(open_all, on_done=lambda _: self._launch())
        self._poll.start()

    def _launch(self) -> None:
        if self.running or self.paused:
            return
        self._stop = asyncio.Event()
        self._task = asyncio.get_event_loop().create_task(self.engine.run(self._stop, self._report))
        self._task.add_done_callback(lambda _t: self._after_run())
        self.running_changed.emit(True)
        self.refresh()

    def _after_run(self) -> None:
        self.running_changed.emit(False)
        self.refresh()

    async def stop(self) -> None:
        self._poll.stop()
        if self._stop is not None:
            self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    def pause(self) -> None:
        self.paused = True
        if self._stop is not None:
            self._stop.set()
        self.refresh()

    def resume(self) -> None:
        self.paused = False
        if self._task is not None and not self._task.done():
            # still winding down: start again once it has
            self._task.add_done_callback(lambda _t: self._launch())
        else:
            self._launch()
        self.refresh()

    def toggle_pause(self) -> None:
        self.resume() if self.paused else self.pause()

    def _report(self, line: str) -> None:  # called on the loop (GUI) thread
        self.log.append(line)
        del self.log[:-500]
        self.reported.emit(line)
        event = report_event(line)
        if event is not None:
            self.events.emit([event])
        self.refresh()

    # -- polling -------------------------------------------------------------------------------

    def refresh(self) -> None:
        if self._polling:
            return
        self._polling = True
        folders = list(self.engine.folders())
        paused = self.paused
        since = dict(self._seen)
        engine = self.engine

        def work() -> tuple[list[FolderInfo], dict[str, list[Change]]]:
            infos = [folder_info(engine, f, paused) for f in folders]
            return infos, new_changes(engine, since)

        def done(result: tuple[list[FolderInfo], dict[str, list[Change]]]) -> None:
            self._polling = False
            infos, changed = result
            self.infos = infos
            self.folders_changed.emit(infos)
            state = overall_state([i.state for i in infos], self.paused, self.online)
            if state is not self.state:
                self.state = state
                self.state_changed.emit(state)
            for fid, changes in changed.items():
                self._seen[fid] = max(c.changed_at_ns for c in changes)
                self.changes.emit(fid, changes)

        def failed(message: str) -> None:
            self._polling = False
            self.reported.emit(f"status query failed: {message}")

        self.jobs.submit(work, on_done=done, on_error=failed)

    # -- operations (each off the GUI thread) --------------------------------------------------

    def call(self, fn: Callable[..., Any], *args: Any, on_done=None, on_error=None) -> None:
        self.jobs.submit(fn, *args, on_done=on_done, on_error=on_error)

    def add_folder(self, path: Path, on_done=None, on_error=None) -> None:
        def work() -> FolderConfig:
            folder = self.engine.add_folder(path)
            self.engine.runner(folder.id)
            return folder

        def done(folder: FolderConfig) -> None:
            if on_done:
                on_done(folder)
            if self.running and self._stop is not None:
                # Engine.run watches the folders it started with: restart it to include the new one.
                self._stop.set()
                self._task.add_done_callback(lambda _t: self._launch())  # type: ignore[union-attr]
            self.refresh()

        self.jobs.submit(work, on_done=done, on_error=on_error)
