"""Restart safety: kill -9 the relay (a subprocess) at random points while clients upload blocks
(single PUTs and batches) and append entries; after each restart every acknowledged write is there, byte for byte, and no
partial block or entry is visible.

The kill point is "after K acknowledgements" with K random (seed printed on failure), so the test
waits on a condition, never on a timer.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest

from relay.testing import ApiError, Head, Identity, RelayClient
from sync.wire.envelopes import LogEntry

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
ROUNDS = 3


class RelayProcess:
    def __init__(self, data: Path, log: Path) -> None:
        self.data = data
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None
        self.base = ""

    async def start(self) -> None:
        env = {**os.environ, "COVE_RELAY_OPEN_REGISTRATION": "1", "COVE_RELAY_PASSWORD_STRENGTH": "min",
               "COVE_RELAY_ACCESS_LOG": "0", "COVE_RELAY_GC_INTERVAL": "0", "PYTHONPATH": str(ROOT)}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "relay.cli", "serve", "--data", str(self.data), "--port", "0",
            stdout=asyncio.subprocess.PIPE, stderr=open(self.log, "ab"), env=env, cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        info = json.loads(line)
        assert info["event"] == "listening", line
        self.base = f"http://127.0.0.1:{info['port']}"

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        await asyncio.wait_for(self.proc.wait(), 30)

    async def terminate(self) -> int:
        assert self.proc is not None
        self.proc.terminate()
        return await asyncio.wait_for(self.proc.wait(), 60)


class Tracker:
    """What the relay acknowledged, and an event fired after the K-th acknowledgement."""

    def __init__(self, kill_after: int) -> None:
        self.blocks: dict[tuple[str, str], bytes] = {}
        self.entries: dict[str, dict[int, str]] = {}  # device → seq → hash
        self.acks = 0
        self.kill_after = kill_after
        self.reached = asyncio.Event()

    def ack(self) -> None:
        self.acks += 1
        if self.acks >= self.kill_after:
            self.reached.set()


async def worker(client: RelayClient, folder: str, tracker: Tracker, rng: random.Random) -> None:
    for _ in range(10_000):
        blocks = []
        datas = [rng.randbytes(rng.randint(1, 256 * 1024)) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.5:  # one batch upload (POST .../blocks), acknowledged as a whole
            out = await client.put_blocks(folder, datas)
            for data, row in zip(datas, out["blocks"]):
                tracker.blocks[(folder, row["block"])] = data
                blocks.append(row["block"])
            tracker.ack()
        else:
            for data in datas:
                block_id = await client.put_block(folder, data)
                tracker.blocks[(folder, block_id)] = data
                tracker.ack()
                blocks.append(block_id)
        entry = client.next_entry(folder, blocks, rng.randbytes(rng.randint(1, 2000)))
        await client.append_entry(entry)
        tracker.entries.setdefault(client.me.device_id, {})[entry.seq] = entry.entry_hash()
        tracker.ack()


async def reconnect(clients: list[RelayClient], base: str, folder: str) -> None:
    for client in clients:
        client.base = base
        await client.authenticate()
    heads = (await clients[0].call("GET", f"/v1/folders/{folder}/heads"))["heads"]
    for client in clients:
        head = heads.get(client.me.device_id)
        client.heads[folder] = Head(head["seq"], head["hash"]) if head else Head()


def check_storage_consistent(data: Path) -> None:
    """Every indexed block has its full file with the right hash; no temporaries survive."""
    conn = sqlite3.connect(data / "relay.db")
    try:
        rows = conn.execute("SELECT folder_id, block_id, size, sha256 FROM blocks").fetchall()
    finally:
        conn.close()
    for folder, block_id, size, sha in rows:
        path = data / "blocks" / folder / block_id[:2] / block_id
        content = path.read_bytes()
        assert len(content) == size and hashlib.sha256(content).hexdigest() == sha, block_id
    assert list((data / "blocks" / ".tmp").iterdir()) == []


@pytest.mark.timeout(180)
async def test_kill_minus_nine_loses_no_acknowledged_write(tmp_path):
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    server = RelayProcess(tmp_path / "data", tmp_path / "relay.log")
    await server.start()
    async with aiohttp.ClientSession() as session:
        owner = RelayClient(server.base, session, Identity("alice"))
        await owner.setup()
        folder = await owner.create_folder()
        clients = [owner]
        for _ in range(WORKERS - 1):
            c = RelayClient(server.base, session, owner.me.other_device())
            c.account_token = owner.account_token
            await c.register_device()
            await c.authenticate()
            clients.append(c)
        tracker = Tracker(0)
        for round_no in range(ROUNDS):
            tracker.kill_after = tracker.acks + rng.randint(3, 40)
            tracker.reached.clear()
            tasks = [asyncio.create_task(worker(c, folder, tracker, random.Random(rng.random()))) for c in clients]
            waiter = asyncio.create_task(tracker.reached.wait())
            done, _ = await asyncio.wait([waiter, *tasks], timeout=60, return_when=asyncio.FIRST_COMPLETED)
            assert waiter in done, f"seed={seed}: workers stopped early: {[t.exception() for t in done]}"
            await server.kill9()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, (aiohttp.ClientError, ApiError, OSError)) for r in results), (seed, results)

            await server.start()
            check_storage_consistent(server.data)
            await reconnect(clients, server.base, folder)
            reader = clients[0]
            for (f, block_id), data in tracker.blocks.items():
                assert await reader.get_block(f, block_id) == data, f"seed={seed} round={round_no} lost block"
            log = await reader.read_all(folder)
            by_device: dict[str, list[dict]] = {}
            for row in log:
                entry = LogEntry.from_wire(row["entry"])
                by_device.setdefault(entry.device, []).append(row["entry"])
            keys_by_device = {c.me.device_id: bytes(c.me.device_key.verify_key) for c in clients}
            for device, acked in tracker.entries.items():
                chain = [LogEntry.from_wire(e) for e in by_device.get(device, [])]
                assert [e.seq for e in chain] == list(range(1, len(chain) + 1)), f"seed={seed} gap"
                prev = "0" * 64
                for e in chain:
                    assert e.prev == prev and e.verify(keys_by_device[device]), f"seed={seed} broken chain"
                    prev = e.entry_hash()
                hashes = {e.seq: e.entry_hash() for e in chain}
                for seq, h in acked.items():
                    assert hashes.get(seq) == h, f"seed={seed} round={round_no} lost entry {device}:{seq}"
        assert await server.terminate() == 0
