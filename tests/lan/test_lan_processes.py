"""Engines in separate processes (``python -m sync.lan.node``) that find each other through real
zeroconf on loopback and sync with no relay. Multicast is switched on for ``lo`` (root, idempotent);
the tests are skipped where that is impossible. Every wait has a deadline; nothing sleeps to wait."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sync.keys import AccountKeys, FolderKeyring
from sync.lan.discovery import enable_loopback_multicast
from sync.lan.provision import provision_home
from tests.engine.sync_harness import tree

ROOT = Path(__file__).resolve().parents[2]
FOLDER_ID = "lanprocfolder0000001"

pytestmark = pytest.mark.skipif(not enable_loopback_multicast(), reason="cannot enable multicast on lo")


class Node:
    def __init__(self, base: Path, name: str, account: AccountKeys, keyring: FolderKeyring):
        self.name = name
        self.home = base / name / "home"
        self.root = base / name / "root"
        provision_home(self.home, self.root, FOLDER_ID, account, keyring, name)
        self.proc: subprocess.Popen | None = None
        self.log = base / f"{name}.log"

    def start(self, *extra: str) -> None:
        self._out = open(self.log, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sync.lan.node", "--home", str(self.home), "--interfaces", "127.0.0.1",
             "--listen", "127.0.0.1", *extra],
            cwd=ROOT, stdout=self._out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        wait_until(lambda: '"ready"' in self.log.read_text(), 30, f"{self.name} ready")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def files(self) -> dict:
        return tree(self.root)

    def status(self) -> dict:
        try:
            return json.loads((self.home / "data" / "lan" / "status.json").read_text())
        except (OSError, ValueError):
            return {}


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Callable[[list[str]], list[Node]]]:
    made: list[Node] = []
    account = AccountKeys.generate()
    keyring = FolderKeyring.create(FOLDER_ID)

    def make(names: list[str]) -> list[Node]:
        new = [Node(tmp_path, n, account, keyring) for n in names]
        made.extend(new)
        return new

    yield make
    for n in made:
        n.stop()
    for n in made:
        if n.log.exists() and os.environ.get("COVE_LAN_TEST_LOGS"):
            print(n.log.read_text())


def test_two_processes_discover_each_other_and_converge(nodes) -> None:
    a, b = nodes(["a", "b"])
    (a.root / "docs").mkdir()
    (a.root / "docs" / "a.txt").write_text("from a, before b existed")
    a.start()
    b.start()
    wait_until(lambda: (b.root / "docs" / "a.txt").exists(), 60, "b gets a's file")
    (b.root / "b.bin").write_bytes(os.urandom(300_000))
    wait_until(lambda: a.files() == b.files() and "b.bin" in a.files(), 60, "convergence")
    peers = a.status()["peers"]
    assert any(p["connected"] and p["device_id"] for p in peers)


def test_three_processes_converge_and_a_killed_peer_is_replaced(nodes) -> None:
    a, b, c = nodes(["a", "b", "c"])
    payload = os.urandom(32 * 1024 * 1024)
    (a.root / "big.bin").write_bytes(payload)
    a.start("--lan-limit", str(8 * 1024 * 1024))
    c.start("--lan-limit", str(8 * 1024 * 1024))
    wait_until(lambda: (c.root / "big.bin").exists(), 90, "c has the big file")
    b.start()
    def b_midway() -> bool:  # a staged download (outside the folder: sync.executor.choose_staging)
        staged = [*b.home.glob("data/folders/*/staging/*"), *b.root.glob(".cove/tmp/*")]
        return any(p.stat().st_size > 4 * 1024 * 1024 for p in staged if p.exists())

    wait_until(b_midway, 60, "b midway through the transfer")
    a.kill()  # a vanishes mid-transfer
    wait_until(lambda: (b.root / "big.bin").exists(), 90, "b finishes from c")
    assert (b.root / "big.bin").read_bytes() == payload
    (b.root / "later.txt").write_text("after the kill")
    wait_until(lambda: (c.root / "later.txt").exists(), 60, "b and c keep syncing")
