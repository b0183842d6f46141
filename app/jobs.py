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


class _Relay(QObject):
    """Carries results from pool threads to the GUI thread. Owned by Python only (no parent) and
    referenced by every running job, so it outlives whatever it still has to deliver."""

    done = Signal(int, object)
    failed = Signal(int, str)


class Job(QRunnable):
    def __init__(self, fn: Callable[..., Any], args: tuple, relay: _Relay, job_id: int):
        super().__init__()
        self.fn, self.args, self.relay, self.job_id = fn, args, relay, job_id
        self.setAutoDelete(True)

    def run(self) -> None:  # pool thread
        try:
            self._run()
        except RuntimeError:
            pass  # the app is gone (exit without shutdown): nobody to deliver to

    def _run(self) -> None:
        try:
            result = self.fn(*self.args)
        except Exception as e:  # noqa: BLE001 - reported to the GUI, which shows it
            message = str(e) or e.__class__.__name__
            if not isinstance(e, (OSError, ValueError)) and not hasattr(e, "path"):
                message = f"{message}\n{traceback.format_exc(limit=3)}"
            self.relay.failed.emit(self.job_id, message)
        else:
            self.relay.done.emit(self.job_id, result)


class Jobs(QObject):
    """Runs functions on a thread pool; counts what is in flight."""

    busy_changed = Signal(bool)
    error = Signal(str)  # failures of jobs submitted without an on_error

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = pool or QThreadPool(self)
        if pool is None:
            self.pool.setMaxThreadCount(4)
        self._relay = _Relay()
        self._relay.done.connect(self._done)
        self._relay.failed.connect(self._failed)
        self._live: dict[int, tuple[Callable | None, Callable | None]] = {}
        self._next = 0
        self.closed = False

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
        if self.closed:
            return  # shutting down: the widgets that asked may be gone
        was_idle = not self._live
        self._next += 1
        self._live[self._next] = (on_done, on_error)
        if was_idle:
            self.busy_changed.emit(True)
        self.pool.start(Job(fn, args, self._relay, self._next))

    def _finish(self) -> None:
        if not self._live:
            self.busy_changed.emit(False)

    def _done(self, job_id: int, result: Any) -> None:
        on_done, _ = self._live.get(job_id, (None, None))
        try:
            if on_done is not None:
                on_done(result)
        except RuntimeError as e:
            if "already deleted" not in str(e):
                raise  # else the widget that asked was closed meanwhile: nobody to tell
        finally:
            self._live.pop(job_id, None)
            self._finish()

    def _failed(self, job_id: int, message: str) -> None:
        _, on_error = self._live.get(job_id, (None, None))
        try:
            if on_error is not None:
                on_error(message)
            else:
                self.error.emit(message)
        except RuntimeError as e:
            if "already deleted" not in str(e):
                raise
        finally:
            self._live.pop(job_id, None)
            self._finish()

    def close(self) -> None:
        """Refuse new jobs and forget the callbacks of running ones (called at shutdown)."""
        self.closed = True
        self._live.clear()

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the pool is empty (shutdown only; never from a view)."""
        return self.pool.waitForDone(msecs)
