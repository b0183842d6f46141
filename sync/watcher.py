"""Filesystem watching: which paths of a folder are dirty, handed to the asyncio loop in batches.

A watchdog ``Observer`` watches the root recursively on its own thread. Each event becomes one or
two relative paths (a move dirties both ends), filtered by the folder's ignore rules and the
engine's own paths (``.cove/``, temp files), and is handed to the asyncio loop with
``loop.call_soon_threadsafe``; everything after that runs on the loop thread only. There a
:class:`DirtyAggregator` (pure, clock passed in) collects paths until the folder has been quiet
for ``quiet`` seconds, or ``max_wait`` has passed since the first one, and then ``on_dirty`` gets
the set. The caller rescans just those subtrees (:meth:`sync.scanner.Scanner.scan` with
``paths``). The empty path ``""`` stands for the whole folder: it is what the periodic backstop
rescan (every ``full_rescan_interval`` on the injected ``clock``), a ``.coveignore`` change, a
recovered root, or an overflowing batch hand over.

A root that disappears (or loses its marker) is never turned into dirty paths: the watcher enters
an error state, reports it through ``on_error`` and hands over nothing until the root is back;
then it re-arms the observer (the kernel watch died with the directory) and asks for a full
rescan, which the scanner still checks against the index before believing anything.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from watchdog.events import (
    DirAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from sync.errors import FolderError
from sync.ignore import IGNORE_FILE, IgnoreRules, is_engine_name
from sync.scanner import ROOT_MARKER, check_root

log = logging.getLogger(__name__)

FULL = ""  # the dirty path that means "the whole folder"
QUIET_S = 0.1
MAX_WAIT_S = 1.0
MAX_BATCH = 10_000  # more dirty paths than this in one batch: rescan the whole folder instead

# Events that carry news. Opened / closed-without-write events would echo our own reads back at
# us; a directory's "modified" only says a child changed, which the child's own event says better.
_INTERESTING = (
    FileCreatedEvent,
    FileModifiedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileClosedEvent,
    FileAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    DirAttribEvent,
)


@dataclass
class DirtyAggregator:
    """Debounce state, pure: paths collected since ``first``; due at ``deadline``."""

    quiet: float = QUIET_S
    max_wait: float = MAX_WAIT_S
    max_batch: int = MAX_BATCH
    paths: set[str] = field(default_factory=set)
    first: float | None = None
    last: float | None = None

    def add(self, paths: Iterable[str], now: float) -> None:
        new = False
        for p in paths:
            self.paths.add(p)
            new = True
        if not new:
            return
        if self.first is None:
            self.first = now
        self.last = now
        if len(self.paths) > self.max_batch:
            self.paths = {FULL}

    def deadline(self) -> float | None:
        """When the batch is due: ``quiet`` after the last path, at most ``max_wait`` after the first."""
        if self.first is None or self.last is None:
            return None
        return min(self.last + self.quiet, self.first + self.max_wait)

    def take(self, now: float) -> set[str] | None:
        """The batch if it is due at ``now`` (and start a new one), else None."""
        due = self.deadline()
        if due is None or now < due:
            return None
        batch = {FULL} if FULL in self.paths else self.paths
        self.paths, self.first, self.last = set(), None, None
        return batch


def event_paths(event: FileSystemEvent, root: str) -> list[tuple[str, bool]]:
    """The relative paths (``/``-separated, "" for the root) an event dirties, with is-directory."""
    if not isinstance(event, _INTERESTING):
        return []
    raw = [event.src_path]
    if isinstance(event, (FileMovedEvent, DirMovedEvent)):
        raw.append(event.dest_path)
    out = []
    for p in raw:
        p = os.fsdecode(p)
        rel = os.path.relpath(p, root)
        if rel == ".":
            rel = ""
        elif rel == ".." or rel.startswith(".." + os.sep):
            continue  # outside the root (a move out of it is seen by its src path)
        out.append((rel.replace(os.sep, "/"), event.is_directory))
    return out


def keep_path(rel: str, is_dir: bool, rules: IgnoreRules) -> bool:
    """Whether a dirty path matters: not an engine path, not ignored. The root's own events are
    dropped here (root loss is found by checking the root, not by rescanning it)."""
    if rel == "":
        return False
    if any(is_engine_name(part) for part in rel.split("/")):
        return False
    return not rules.is_ignored(rel, is_dir)


class _Handler(FileSystemEventHandler):
    def __init__(self, deliver: Callable[[FileSystemEvent], None]) -> None:
        self._deliver = deliver

    def on_any_event(self, event: FileSystemEvent) -> None:  # watchdog thread
        if isinstance(event, _INTERESTING):
            self._deliver(event)


class Watcher:
    """Watches one folder root and reports batches of dirty relative paths on the asyncio loop.

    ``on_dirty(paths)`` and ``on_error(error_or_None)`` are called on the loop thread; the latter
    with a :class:`FolderError` when the root is lost and with None when it is back. ``start()``
    must be called from inside the running loop; ``stop()`` from the same loop.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        on_dirty: Callable[[set[str]], None],
        *,
        on_error: Callable[[FolderError | None], None] | None = None,
        quiet: float = QUIET_S,
        max_wait: float = MAX_WAIT_S,
        full_rescan_interval: float | None = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        tick_interval: float = 1.0,
        marker: str = ROOT_MARKER,
        observer_factory: Callable[[], Observer] = Observer,
    ) -> None:
        self.root = os.path.realpath(os.fspath(root))
        self.on_dirty = on_dirty
        self.on_error = on_error
        self.full_rescan_interval = full_rescan_interval
        self.clock = clock
        self.tick_interval = tick_interval
        self.marker = marker
        self._observer_factory = observer_factory
        self._agg = DirtyAggregator(quiet, max_wait)
        self._rules = IgnoreRules()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._observer: Observer | None = None
        self._flush_handle: asyncio.TimerHandle | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._last_full = 0.0
        self.error: FolderError | None = None
        self._running = False
        self._inbox: list[FileSystemEvent] = []
        self._inbox_lock = threading.Lock()
        self._drain_scheduled = False

    # -- lifecycle (loop thread) --

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._running = True
        self._last_full = self.clock()
        self._check_root()
        if self.error is None:
            self._arm()
        self._schedule_tick()

    def stop(self) -> None:
        self._running = False
        for h in (self._flush_handle, self._tick_handle):
            if h is not None:
                h.cancel()
        self._disarm()

    # -- internals (loop thread) --

    def _arm(self) -> None:
        self._rules = self._load_rules()
        observer = self._observer_factory()
        # The filter also narrows the inotify mask: no IN_OPEN / IN_CLOSE_NOWRITE, so reading a
        # file (the scanner hashing it, a peer being served a block) costs no events.
        observer.schedule(_Handler(self._from_thread), self.root, recursive=True, event_filter=list(_INTERESTING))
        observer.daemon = True
        observer.start()
        self._observer = observer

    def _disarm(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)

    def _load_rules(self) -> IgnoreRules:
        try:
            with open(os.path.join(self.root, IGNORE_FILE), "rb") as f:
                return IgnoreRules.from_text(f.read().decode("utf-8", "replace"))
        except OSError:
            return IgnoreRules()  # the scanner reports an unreadable .coveignore

    def _from_thread(self, event: FileSystemEvent) -> None:  # watchdog thread
        loop = self._loop
        if loop is None:
            return
        # Events queue up here; the loop is woken once per burst, not once per event (a sync
        # writing thousands of files would otherwise cost a wake-up and a callback each).
        with self._inbox_lock:
            self._inbox.append(event)
            if self._drain_scheduled:
                return
            self._drain_scheduled = True
        try:
            loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed: we are shutting down
            pass

    def _drain(self) -> None:
        with self._inbox_lock:
            events, self._inbox = self._inbox, []
            self._drain_scheduled = False
        for event in events:
            self._on_event(event)

    def _on_event(self, event: FileSystemEvent) -> None:
        if not self._running:
            return
        paths = event_paths(event, self.root)
        if any(rel == "" and isinstance(event, (DirDeletedEvent, DirMovedEvent)) for rel, _ in paths):
            self._check_root()
            return
        if self.error is not None:
            return
        if any(rel == IGNORE_FILE for rel, _ in paths):
            self._rules = self._load_rules()
            self._add({FULL})
            return
        self._add({rel for rel, is_dir in paths if keep_path(rel, is_dir, self._rules)})

    def _add(self, paths: set[str]) -> None:
        if not paths:
            return
        assert self._loop is not None
        self._agg.add(paths, self._loop.time())
        due = self._agg.deadline()
        if due is None:
            return
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self._flush_handle = self._loop.call_at(due, self._flush)

    def _flush(self) -> None:
        assert self._loop is not None
        self._flush_handle = None
        batch = self._agg.take(self._loop.time())
        if batch is None:  # woke a little early: try again at the deadline
            due = self._agg.deadline()
            if due is not None:
                self._flush_handle = self._loop.call_at(due, self._flush)
            return
        if not self._check_root():
            return
        if FULL in batch:
            self._last_full = self.clock()
        self._call_dirty(batch)

    def _call_dirty(self, batch: set[str]) -> None:
        try:
            self.on_dirty(batch)
        except Exception:  # a failing consumer must not kill the watcher
            log.exception("on_dirty failed for %s", self.root)

    def _check_root(self) -> bool:
        """Update the error state from the root; True when the root is fine."""
        try:
            check_root(self.root, marker=self.marker)
        except FolderError as e:
            if self.error is None:
                self.error = e
                self._agg = DirtyAggregator(self._agg.quiet, self._agg.max_wait, self._agg.max_batch)
                self._report(e)
            return False
        if self.error is not None:  # back: the kernel watch died with it, so re-arm
            self.error = None
            self._report(None)
            self._disarm()
            self._arm()
            self._last_full = self.clock()
            self._call_dirty({FULL})
        return True

    def _report(self, error: FolderError | None) -> None:
        if self.on_error is not None:
            try:
                self.on_error(error)
            except Exception:
                log.exception("on_error failed for %s", self.root)

    def _schedule_tick(self) -> None:
        assert self._loop is not None
        if self._running:
            self._tick_handle = self._loop.call_later(self.tick_interval, self._tick)

    def _tick(self) -> None:
        if not self._running:
            return
        if self._check_root() and self.full_rescan_interval is not None:
            if self.clock() - self._last_full >= self.full_rescan_interval:
                self._last_full = self.clock()
                self._call_dirty({FULL})
        self._schedule_tick()

    def tick(self) -> None:
        """Check the root and the backstop timer now (tests call it with an injected clock)."""
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        self._tick()
