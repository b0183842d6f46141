"""How long the GUI thread was unable to process events: a timer that measures event-loop lag.

A ``QTimer`` fires every ``interval_ms``; each time, the monitor compares the time since the last
tick with the interval. The excess is how long the loop was stalled (a slot that blocked, a
synchronous query, a paint of a huge model). ``max_stall_ms`` is the longest stall seen; tests
and benchmarks start the monitor, do the work, and assert on it.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer, Signal


class LagMonitor(QObject):
    stalled = Signal(float)  # a stall longer than ``report_ms``, in milliseconds

    def __init__(self, interval_ms: int = 10, report_ms: float = 100.0, parent: QObject | None = None):
        super().__init__(parent)
        self.interval_ms = interval_ms
        self.report_ms = report_ms
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0
        self.max_stall_ms = 0.0
        self.ticks = 0
        self.stalls: list[float] = []

    def start(self) -> None:
        self.reset()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def reset(self) -> None:
        self._last = time.perf_counter()
        self.max_stall_ms = 0.0
        self.ticks = 0
        self.stalls = []

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def _tick(self) -> None:
        now = time.perf_counter()
        stall = (now - self._last) * 1000.0 - self.interval_ms
        self._last = now
        self.ticks += 1
        self.max_stall_ms = max(self.max_stall_ms, stall)
        if stall > self.report_ms:
            self.stalls.append(stall)
            self.stalled.emit(stall)
