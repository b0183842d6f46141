"""A real relay on 127.0.0.1 for the app tests, and awaiting a coroutine on the test's qasync loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

# -- a real relay on 127.0.0.1 ---------------------------------------------------------------------
# The relay of tests/engine/conftest.py (aiohttp app, real SQLite), served from its own thread and
# event loop: the app's engines run on the qasync loop of the test and reach it over loopback HTTP,
# exactly as two devices and a relay would.


class ThreadedRelay:
    def __init__(self, data_dir: Path):
        import threading

        from tests.engine.conftest import RelayClock, RelayServer, relay_test_config

        self.server = RelayServer(relay_test_config(data_dir), RelayClock())
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="relay", daemon=True)

    def call(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def base(self) -> str:
        return self.server.base

    def start(self) -> str:
        self.thread.start()
        return self.call(self.server.start())

    def create_user(self, username: str, password: str) -> None:
        self.call(self.server.create_user(username, password))

    def close(self) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()




def run(qtbot, coro, timeout: int = 30_000):
    """Await ``coro`` on the test's qasync loop while Qt processes events (no sleeping)."""
    task = asyncio.ensure_future(coro)
    qtbot.waitUntil(task.done, timeout=timeout)
    return task.result()
