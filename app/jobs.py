"""Slow work off the GUI thread: a function run on a ``QThreadPool``, its outcome delivered back on
the GUI thread through Qt signals.

Every query, hash, copy or engine call the interface makes goes through :class:`Jobs`. A job gets
its inputs as arguments (never ``QApplication.instance()`` or globals), runs in a pool thread, and
emits ``done(result)`` or ``failed(message)``; the signals are queued, so slots run on the thread
that owns the receiver. ``Jobs.idle`` tells tests and shutdown when nothing is in flight.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(str)


class Job(QRunnable):
    def __init__(self, fn: Callable[..., Any], args: tuple, signals: _Signals):
        super().__init__()
        self.fn, self.args, self.signals = fn, args, signals
        self.setAutoDelete(True)

    def run(self) -> None:  # pool thread
        try:
            result = self.fn(*self.args)
        except Exception as e:  # noqa: BLE001 - reported to the GUI, which shows it
            message = str(e) or e.__class__.__name__
            if not isinstance(e, (OSError, ValueError)) and not hasattr(e, "path"):
                message = f"{message}\n{traceback.format_exc(limit=3)}"
            self.signals.failed.emit(message)
        else:
            self.signals.done.emit(result)


class Jobs(QObject):
    """Runs functions on a thread pool; counts what is in flight."""

    busy_changed = Signal(bool)
    error = Signal(str)  # failures of jobs submitted without an on_error

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = pool or QThreadPool(self)
        if pool is None:
            self.pool.setMaxThreadCount(4)
        self._live: set[_Signals] = set()

    @property
    def idle(self) -> bool:
        return not self._live

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        signals = _Signals(self)
        was_idle = not self._live
        self._live.add(signals)

        def finish() -> None:
            self._live.discard(signals)
            signals.deleteLater()
            if not self._live:
                self.busy_changed.emit(False)

        def done(result: Any) -> None:
            try:
                if on_done is not None:
                    on_done(result)
            finally:
                finish()

        def failed(message: str) -> None:
            try:
                if on_error is not None:
                    on_error(message)
                else:
                    self.error.emit(message)
            finally:
                finish()

        signals.done.connect(done)
        signals.failed.connect(failed)
        if was_idle:
            self.busy_changed.emit(True)
        self.pool.start(Job(fn, args, signals))

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the pool is empty (shutdown only; never from a view)."""
        return self.pool.waitForDone(msecs)
