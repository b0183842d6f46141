"""Benchmark: two devices syncing through a relay on loopback; prints a table.

The relay runs as a real `cove-relay serve` subprocess; the two devices are real engines (the same
facade the CLI and app use) with their own folders and indexes. Scenarios:

  R1  1 GiB in 16 files: from "files are in A's folder" until B holds identical files
  R2  10,000 files of 4 KiB in 100 directories, same measure
  R3  latency of a small edit with both daemons running (write on A until identical on B), median of 10
  R4  bytes uploaded for a 1 MiB change inside a 256 MiB file
  R5  bytes uploaded for the rename of a 256 MiB file

Targets (issue 4): R3 median < 1 s; R4 uploads < 4 MiB; R5 uploads only metadata; R1 >= 150 MB/s.

    .venv/bin/python bench/relay_sync_bench.py [--scale 0.1] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync.account import account_key_path  # noqa: E402
from sync.config import Dirs  # noqa: E402
from sync.engine import Engine  # noqa: E402

PASSWORD = "bench password 123"
MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric(base: str, name: str) -> float:
    text = urllib.request.urlopen(base + "/metrics").read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            m = re.match(rf"{re.escape(name)}(?:{{[^}}]*}})?\s+([0-9.e+]+)", line)
            if m:
                total += float(m.group(1))
    return total


def tree_equal(a: Path, b: Path) -> bool:
    def listing(root: Path) -> dict[str, tuple[int, int]]:
        out = {}
        for dirpath, dirnames, files in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != ".cove"]
            for f in files:
                p = Path(dirpath, f)
                st = p.stat()
                out[str(p.relative_to(root))] = (st.st_size, hash(p.read_bytes()) if st.st_size < 8 * MiB else st.st_size)
        return out

    return listing(a) == listing(b)


class Bench:
    def __init__(self, work: Path, scale: float):
        self.work = work
        self.scale = scale
        self.rows: list[tuple[str, str, str]] = []
        self.rng = random.Random(7)

    async def setup(self) -> None:
        data = self.work / "relay"
        subprocess.run(
            [sys.executable, "-m", "relay.cli", "user", "add", "bench", "--data", str(data), "--password-stdin"],
            input=PASSWORD + "\n", text=True, check=True, capture_output=True,
        )
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.relay = subprocess.Popen(
            [sys.executable, "-m", "relay.cli", "serve", "--data", str(data), "--port", str(port), "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                urllib.request.urlopen(self.base + "/healthz")
                break
            except OSError:
                await asyncio.sleep(0.05)
        self.a = Engine.create(Dirs.under(self.work / "a"))
        self.b = Engine.create(Dirs.under(self.work / "b"))
        await self.a.login(self.base, "bench", PASSWORD)
        account_key_path(self.b.dirs).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(account_key_path(self.a.dirs), account_key_path(self.b.dirs))
        await self.b.login(self.base, "bench", PASSWORD)
        self.ra, self.rb = self.work / "a" / "Cove", self.work / "b" / "Cove"
        folder = await self.a.add_relay_folder(self.ra)
        await self.b.add_relay_folder(self.rb, folder.id)
        self.folder = folder.id

    async def transfer(self, name: str, make) -> None:
        """Create data outside A's folder, move it in with one rename, time until B has it."""
        staging = self.work / "staging"
        staging.mkdir()
        total = make(staging)
        up0 = metric(self.base, "cove_relay_block_bytes_in_total")
        t0 = time.perf_counter()
        for entry in staging.iterdir():
            entry.rename(self.ra / entry.name)
        await self.a.sync_now()
        t1 = time.perf_counter()
        await self.b.sync_now()
        t2 = time.perf_counter()
        assert tree_equal(self.ra, self.rb), f"{name}: trees differ"
        staging.rmdir()
        up = metric(self.base, "cove_relay_block_bytes_in_total") - up0
        self.rows.append((
            name,
            f"{t2 - t0:.2f} s total (A scan+upload {t1 - t0:.2f} s, B download {t2 - t1:.2f} s)",
            f"{total / (t2 - t0) / 1e6:.0f} MB/s end to end, {up / MiB:.0f} MiB uploaded",
        ))

    def r1(self, d: Path) -> int:
        size = int(64 * MiB * self.scale)
        for i in range(16):
            (d / f"big{i:02}.bin").write_bytes(self.rng.randbytes(size))
        return 16 * size

    def r2(self, d: Path) -> int:
        n = int(10_000 * self.scale)
        for i in range(n):
            sub = d / f"d{i % 100:03}"
            sub.mkdir(exist_ok=True)
            (sub / f"f{i:05}.txt").write_bytes(self.rng.randbytes(4096))
        return n * 4096

    async def r3(self) -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(e.run(stop)) for e in (self.a, self.b)]
        target = self.rb / "latency.txt"
        lat = []
        try:
            for i in range(10):
                content = f"edit {i} {time.time()}\n".encode()
                t0 = time.perf_counter()
                (self.ra / "latency.txt").write_bytes(content)
                deadline = t0 + 20
                while time.perf_counter() < deadline:
                    try:
                        if target.read_bytes() == content:
                            break
                    except FileNotFoundError:
                        pass
                    await asyncio.sleep(0.005)
                lat.append(time.perf_counter() - t0)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        self.rows.append(("R3 small edit latency", f"median {statistics.median(lat) * 1000:.0f} ms",
                          f"min {min(lat) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms (target < 1 s)"))

    async def r4_r5(self) -> None:
        size = int(256 * MiB * self.scale)
        big = self.ra / "large.bin"
        big.write_bytes(self.rng.randbytes(size))
        await self.a.sync_now()
        await self.b.sync_now()
        up0 = metric(self.base, "cove_relay_block_bytes_in_total")
        with open(big, "r+b") as f:
            f.seek(size // 2)
            f.write(self.rng.randbytes(MiB))
        t0 = time.perf_counter()
        await self.a.sync_now()
        await self.b.sync_now()
        dt = time.perf_counter() - t0
        up = metric(self.base, "cove_relay_block_bytes_in_total") - up0
        assert tree_equal(self.ra, self.rb)
        self.rows.append(("R4 1 MiB changed in large file", f"{up / MiB:.2f} MiB uploaded", f"{dt:.2f} s (target < 4 MiB)"))
        up0 = metric(self.base, "cove_relay_block_bytes_in_total")
        t0 = time.perf_counter()
        big.rename(self.ra / "large-renamed.bin")
        await self.a.sync_now()
        await self.b.sync_now()
        dt = time.perf_counter() - t0
        up = metric(self.base, "cove_relay_block_bytes_in_total") - up0
        assert tree_equal(self.ra, self.rb)
        self.rows.append(("R5 rename of large file", f"{up / 1024:.1f} KiB of blocks uploaded", f"{dt:.2f} s (target: metadata only)"))

    async def run(self) -> None:
        await self.setup()
        try:
            await self.transfer(f"R1 {16 * int(64 * self.scale)} MiB in 16 files", self.r1)
            await self.transfer(f"R2 {int(10_000 * self.scale)} files of 4 KiB", self.r2)
            await self.r3()
            await self.r4_r5()
        finally:
            self.a.close()
            self.b.close()
            self.relay.terminate()
            self.relay.wait()
        width = max(len(r[0]) for r in self.rows)
        print(f"\nCove through a relay on loopback (scale {self.scale}):\n")
        print(f"| {'scenario'.ljust(width)} | result | notes |")
        print(f"|{'-' * (width + 2)}|---|---|")
        for name, result, notes in self.rows:
            print(f"| {name.ljust(width)} | {result} | {notes} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cove-bench-"))
    try:
        asyncio.run(Bench(work, args.scale).run())
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
