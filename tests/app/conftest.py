"""Fixtures for the desktop app tests: offscreen Qt, a qasync loop on the test's QApplication (so
the embedded engine runs on the same loop as the widgets), and real engines on temp folders."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

pytest.importorskip("PySide6")
import qasync
from PySide6.QtWidgets import QApplication

from app.application import CoveApp
from sync.config import Dirs
from sync.engine import Engine
from tests.app.relay_helpers import ThreadedRelay


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop that is 'running' while Qt processes events (qtbot.waitUntil, waitSignal)."""
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    # Let callbacks scheduled during the test run, then detach the loop from this thread.
    qapp.processEvents()
    asyncio.events._set_running_loop(None)
    loop._QEventLoop__is_running = False  # type: ignore[attr-defined]  # we never called run_forever
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def dirs(home: Path) -> Dirs:
    return Dirs.under(home)


@pytest.fixture
def folder(tmp_path: Path, dirs: Dirs) -> Path:
    """A folder the engine syncs, with a few files, scanned once."""
    root = tmp_path / "Cove"
    root.mkdir()
    (root / "notes.txt").write_text("hello\n")
    (root / "docs").mkdir()
    (root / "docs" / "a.md").write_text("# A\n")
    (root / "docs" / "b.md").write_text("# B\n")
    with Engine.create(dirs) as engine:
        f = engine.add_folder(root)
        engine.scan(f.id)
    return root


class Opened(list):
    def __call__(self, url) -> bool:
        self.append(url.toLocalFile())
        return True


@pytest.fixture
def make_app(qtbot, qloop, dirs: Dirs, tmp_path: Path):
    apps: list[CoveApp] = []

    def make(**kwargs) -> CoveApp:
        kwargs.setdefault("tray", False)
        kwargs.setdefault("autostart_dir", tmp_path / "autostart")
        kwargs.setdefault("open_url", Opened())
        kwargs.setdefault("copy_text", lambda text: copied.append(text))
        kwargs.setdefault("poll_ms", 200)
        kwargs.setdefault("lan", False)  # no multicast from tests; devices meet through the test relay
        app = CoveApp(dirs, **kwargs)
        app.copied = copied  # type: ignore[attr-defined]
        apps.append(app)
        qtbot.addWidget(app.window)
        return app

    copied: list[str] = []
    yield make
    for app in apps:
        if not app._quitting:
            with qtbot.waitSignal(app.quit_done, timeout=20_000):
                app.request_quit()


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[ThreadedRelay]:
    server = ThreadedRelay(tmp_path / "relay-data")
    server.start()
    try:
        yield server
    finally:
        server.close()
