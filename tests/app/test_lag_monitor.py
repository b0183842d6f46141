"""The event-loop lag monitor sees a GUI-thread stall and stays quiet otherwise."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer

from app.lag_monitor import LagMonitor


def test_measures_a_stall(qtbot) -> None:
    monitor = LagMonitor(interval_ms=5, report_ms=80)
    monitor.start()
    qtbot.waitUntil(lambda: monitor.ticks >= 5)
    assert monitor.max_stall_ms < 80

    def block() -> None:
        time.sleep(0.2)  # the stall under test (not a wait)

    QTimer.singleShot(0, block)
    with qtbot.waitSignal(monitor.stalled, timeout=5000) as blocker:
        pass
    assert blocker.args[0] >= 150
    assert monitor.max_stall_ms >= 150
    monitor.stop()
    assert not monitor.running
