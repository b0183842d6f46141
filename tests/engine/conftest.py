"""Fixtures for engine tests that need a real relay: ``relay_server`` serves the relay app on
127.0.0.1 over real SQLite in a tmp data dir, with a controllable clock, and can be stopped and
restarted on the same port and data dir (to test reconnects). ``RelayServer.create_user`` signs
a user up with a password. Nothing here sleeps."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest
from aiohttp import web

if TYPE_CHECKING:
    from relay.config import RelayConfig

# The relay package is imported lazily: importing it while this conftest loads would shadow
# tests/relay (a package named "relay" too) when both directories are collected in one run.


class RelayClock:
    """The relay's clock: real time plus an offset tests can advance."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class RelayServer:
    def __init__(self, config: RelayConfig, clock: RelayClock) -> None:
        self.config = config
        self.clock = clock
        self.port = 0
        self.base = ""
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> str:
        from relay.app import create_app

        assert self._runner is None
        runner = web.AppRunner(create_app(self.config, clock=self.clock), access_log=None,
                               shutdown_timeout=2.0, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._runner = runner
        return self.base

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def restart(self) -> None:
        """Stop and start again on the same port and data dir."""
        await self.stop()
        await self.start()

    async def create_user(self, username: str, password: str = "correct horse battery") -> None:
        async with aiohttp.ClientSession() as s, s.post(
            self.base + "/v1/accounts", json={"username": username, "password": password}
        ) as r:
            assert r.status == 201, await r.text()


def relay_test_config(data_dir: Path, **overrides: object) -> RelayConfig:
    from relay.config import load_config

    base = {
        "data_dir": data_dir, "open_registration": True, "password_strength": "min", "gc_interval": 0,
        "revocation_sweep_interval": 0, "access_log": False, "port": 0, "gc_grace": 3600,
    }
    base.update(overrides)
    return load_config(env={}, overrides=base)


@pytest.fixture
def relay_clock() -> RelayClock:
    return RelayClock()


@pytest.fixture
async def relay_server(tmp_path: Path, relay_clock: RelayClock) -> AsyncIterator[RelayServer]:
    server = RelayServer(relay_test_config(tmp_path / "relay-data"), relay_clock)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def make_relay_server(tmp_path: Path, relay_clock: RelayClock) -> AsyncIterator[Callable[..., Awaitable[RelayServer]]]:
    """Start extra relays with config overrides: ``await make_relay_server(default_quota=1000)``."""
    servers: list[RelayServer] = []

    async def make(**overrides: object) -> RelayServer:
        server = RelayServer(relay_test_config(tmp_path / f"relay-data-{len(servers) + 1}", **overrides), relay_clock)
        servers.append(server)
        await server.start()
        return server

    try:
        yield make
    finally:
        for server in servers:
            await server.stop()
