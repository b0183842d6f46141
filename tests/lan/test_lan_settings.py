"""Pauses and bandwidth limits saved by another process (``cove pause``, ``cove resume``, ``cove
limits``) reach running engines: two real engines (``Engine.run``: watchers, LAN service, real
zeroconf on loopback), and a third Engine on B's home standing in for the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path

import pytest

from sync.cli import main
from sync.config import Bandwidth, Dirs
from sync.engine import Engine
from sync.errors import CoveError
from sync.keys import AccountKeys, FolderKeyring
from sync.lan.discovery import enable_loopback_multicast
from sync.lan.provision import provision_home
from sync.settings_cli import SETTINGS_COMMANDS
from tests.lan.harness import wait_for

pytestmark = pytest.mark.skipif(not enable_loopback_multicast(), reason="cannot enable multicast on lo")

FOLDER = "settingsfolder000001"


class Running:
    def __init__(self, tmp_path: Path, name: str, account: AccountKeys, keyring: FolderKeyring):
        self.root = tmp_path / name / "root"
        self.home = tmp_path / name / "home"
        self.dirs = provision_home(self.home, self.root, FOLDER, account, keyring, name)
        self.engine = Engine.create(self.dirs)
        self.stop = asyncio.Event()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.ensure_future(self.engine.run(self.stop, lambda line: None, lan_interfaces=["127.0.0.1"],
                                                          lan_host="127.0.0.1"))

    def status_shows_connected(self, other: Running) -> bool:
        """What `cove peers` reads (``lan/status.json``, rewritten every 0.5 s) lists ``other`` connected."""
        try:
            doc = json.loads((self.dirs.data / "lan" / "status.json").read_text())
        except (OSError, ValueError):
            return False
        return any(p.get("device_id") == other.engine.identity.device_id and p.get("connected")
                   for p in doc.get("peers", []))

    def connected_to(self, other: Running) -> bool:
        lan = self.engine.lan
        if lan is None:
            return False
        peer = lan.peers.get(other.engine.identity.device_id)
        return peer is not None and peer.session is not None and not peer.session.closed.is_set()

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.task, 30)
        self.engine.close()


def cli(dirs: Dirs, command: str, **args: object) -> None:
    """What `cove pause|resume|limits` does, in its own Engine on the same home."""
    import argparse

    defaults = {"paths": [], "peer": [], "lan_up": None, "lan_down": None, "relay_up": None, "relay_down": None,
                "lan": None, "relay": None}
    with Engine.create(dirs) as engine:
        assert SETTINGS_COMMANDS[command](engine, argparse.Namespace(**{**defaults, **args})) == 0


async def test_pauses_and_limits_from_another_process_reach_the_running_engines(tmp_path: Path) -> None:
    account, keyring = AccountKeys.generate(), FolderKeyring.create(FOLDER)
    a, b = Running(tmp_path, "a", account, keyring), Running(tmp_path, "b", account, keyring)
    try:
        a.start()
        b.start()
        await wait_for(lambda: a.connected_to(b) and b.connected_to(a), timeout=30, what="the engines find each other")
        (a.root / "first.txt").write_text("one")
        await wait_for(lambda: (b.root / "first.txt").exists(), timeout=30, what="first file syncs")
        await wait_for(lambda: b.status_shows_connected(a), timeout=10, what="B's status file shows A")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["--home", str(b.home), "peers"]) == 0
        row = next(line for line in out.getvalue().splitlines() if line.startswith(a.engine.identity.device_id[:7]))
        assert "LAN" in row and "connected" in row, out.getvalue()

        # `cove pause` on B: the running engine stops receiving (and serving) the folder
        cli(b.dirs, "pause")
        runner_b = b.engine.runner(FOLDER)
        await wait_for(lambda: runner_b.paused and b.engine.lan.pauses.folder_paused(FOLDER), timeout=10,
                       what="B's daemon takes up the pause")
        pulls = b.engine.lan.pulls_done
        session = b.engine.lan.peers[a.engine.identity.device_id].session
        frames = session.channel.counters.frames_in
        (a.root / "while-paused.txt").write_text("two")
        head = a.engine.runner(FOLDER).index.head(a.engine.identity.device_id) or (0, "")
        await wait_for(lambda: (a.engine.runner(FOLDER).index.head(a.engine.identity.device_id) or (0, "")) > head,
                       timeout=20, what="A publishes the change")
        await wait_for(lambda: session.channel.counters.frames_in > frames, timeout=10, what="A's notice reaches B")
        # A reply to B comes after the notice and after B handled it (messages are served in order)
        await session.request({"t": "heads", "folder": FOLDER})
        worker = b.engine.lan.folders[FOLDER].worker
        assert worker is None or worker.done(), "B started a pull of a paused folder"
        assert not (b.root / "while-paused.txt").exists()
        assert b.engine.lan.pulls_done == pulls

        # `cove resume` on B: what changed meanwhile arrives
        cli(b.dirs, "resume")
        await wait_for(lambda: (b.root / "while-paused.txt").exists(), timeout=20, what="resumed folder syncs")
        assert not runner_b.paused

        # `cove limits` on B: the running engine's buckets change
        cli(b.dirs, "limits", lan_down=2 * 1024 * 1024, relay=512 * 1024)
        await wait_for(lambda: b.engine.limits.lan_down.rate == 2 * 1024 * 1024, timeout=10, what="limits taken up")
        assert b.engine.limits.lan_up.rate == 0
        assert b.engine.limits.relay_up.rate == b.engine.limits.relay_down.rate == 512 * 1024
        assert b.engine.config.bandwidth == Bandwidth(lan_down=2 * 1024 * 1024, relay_up=512 * 1024, relay_down=512 * 1024)
        (a.root / "limited.bin").write_bytes(b"x" * 300_000)
        await wait_for(lambda: (b.root / "limited.bin").exists(), timeout=20, what="syncs under the limit")

        # `cove pause --peer A` on B: disconnected and refused; files stop; resume brings them
        cli(b.dirs, "pause", peer=[a.engine.identity.device_id[:9]])
        await wait_for(lambda: not b.connected_to(a) and not a.connected_to(b), timeout=10, what="peer disconnected")
        (a.root / "peer-paused.txt").write_text("three")
        with contextlib.suppress(CoveError):  # A dials B (as discovery would): B refuses it
            await a.engine.lan.connect("127.0.0.1", b.engine.lan.port, expected=b.engine.identity.device_id)
        await wait_for(lambda: not a.connected_to(b), timeout=10, what="B closes A's connection")
        assert not b.connected_to(a)
        assert not (b.root / "peer-paused.txt").exists()
        cli(b.dirs, "resume", peer=[a.engine.identity.device_id[:9]])
        await wait_for(lambda: (b.root / "peer-paused.txt").exists(), timeout=30, what="resumed peer syncs")
        assert b.engine.config.paused_peers == ()
    finally:
        await a.close()
        await b.close()
