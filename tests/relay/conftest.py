"""Fixtures for relay tests: a real relay on 127.0.0.1 (port 0) over real SQLite in tmp_path,
an injectable clock, and clients set up as signed-in devices. Nothing here sleeps."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from relay.config import RelayConfig, load_config
from relay.testing import Identity, RelayClient, running_relay


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_config(data_dir: Path, **overrides: object) -> RelayConfig:
    base = {
        "data_dir": data_dir, "open_registration": True, "password_strength": "min", "gc_interval": 0,
        "revocation_sweep_interval": 0, "access_log": False, "port": 0, "gc_grace": 3600,
    }
    base.update(overrides)
    return load_config(env={}, overrides=base)


@dataclass
class Relay:
    base: str
    app: web.Application
    config: RelayConfig

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.config.db_path)

    def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of every table plus the block files: to assert that nothing changed."""
        conn = self.db()
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            out = {t: sorted(map(tuple, conn.execute(f"SELECT * FROM {t}").fetchall()), key=repr) for t in tables}
        finally:
            conn.close()
        out["_files"] = sorted(
            (str(p.relative_to(self.config.blocks_dir)), p.stat().st_size)
            for p in self.config.blocks_dir.rglob("*") if p.is_file()
        )
        out.pop("challenges", None)  # issuing challenges is not a change of stored state
        return out


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def relay_config(tmp_path: Path) -> RelayConfig:
    return make_config(tmp_path / "data")


@pytest.fixture
async def relay(relay_config: RelayConfig, clock: FakeClock) -> AsyncIterator[Relay]:
    async with running_relay(relay_config, clock=clock) as (base, app):
        yield Relay(base, app, relay_config)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


MakeClient = Callable[..., Awaitable[RelayClient]]


@pytest.fixture
def make_client(relay: Relay, session: aiohttp.ClientSession) -> MakeClient:
    async def make(username: str | Identity, *, setup: bool = True) -> RelayClient:
        identity = username if isinstance(username, Identity) else Identity(username)
        client = RelayClient(relay.base, session, identity)
        if setup:
            await client.setup()
        return client

    return make
