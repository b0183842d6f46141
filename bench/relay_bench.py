"""Relay benchmark (not a test): runs ``cove-relay serve`` in a subprocess on loopback and prints a
table of block upload/download throughput (1 MiB blocks, 4 concurrent clients), appends per
second, append→notification latency with 500 connected WebSockets, and server RSS.

    .venv/bin/python bench/relay_bench.py [--blocks-per-client 64] [--batch 16] [--devices 500]
        [--sqlite-synchronous FULL|NORMAL] [--sections blocks,appends,notify]

Block ingest is measured on the path the engine uses, ``POST /v1/folders/{f}/blocks`` with
``--batch`` blocks per request (each client one request at a time), and for comparison with single
``PUT``s. Appends are measured with 4 devices and with ``--append-devices`` (64) devices appending
at once, each waiting for its previous append (a device's entries form a chain): the server's
rate needs enough concurrent devices to fill its group commits. The clients run on the same
machine and share its CPUs with the relay; the footer shows the load average.

Targets: 250 MB/s ingest, 2,000 appends/s, notification p99 < 100 ms with 500 devices,
< 200 MB RSS with 500 connections.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from relay import blockbatch  # noqa: E402
from relay.testing import Identity, RelayClient, block_id_for  # noqa: E402

MiB = 1024 * 1024
ME = psutil.Process()


async def start_server(data: Path, synchronous: str = "FULL") -> tuple[asyncio.subprocess.Process, str]:
    env = {**os.environ, "COVE_RELAY_OPEN_REGISTRATION": "1", "COVE_RELAY_PASSWORD_STRENGTH": "min",
           "COVE_RELAY_SQLITE_SYNCHRONOUS": synchronous,
           "COVE_RELAY_ACCESS_LOG": "0", "COVE_RELAY_MAX_CONNECTIONS_PER_ACCOUNT": "2000",
           "COVE_RELAY_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    prefix = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *prefix, "-m", "relay.cli", "serve", "--data", str(data), "--port", "0",
        stdout=asyncio.subprocess.PIPE, env=env, cwd=ROOT)
    info = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
    return proc, f"http://127.0.0.1:{info['port']}"


async def new_device(owner: RelayClient, session: aiohttp.ClientSession) -> RelayClient:
    c = RelayClient(owner.base, session, owner.me.other_device())
    c.account_token = owner.account_token
    await c.register_device()
    await c.authenticate()
    return c


def cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def bench(args: argparse.Namespace) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        proc, base = await start_server(Path(tmp) / "data", args.sqlite_synchronous)
        server = psutil.Process(proc.pid)
        try:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                owner = await RelayClient(base, session, Identity("bench")).setup()
                folder = await owner.create_folder()
                clients = [owner] + [await new_device(owner, session) for _ in range(3)]

                if "blocks" in args.sections:
                    # -- block upload / download, 1 MiB blocks, 4 concurrent clients ---------------
                    # Block IDs, SHA-256s and batch bodies are computed before the clock starts: the
                    # engine has them from chunking and encryption, and they are client CPU, not relay.
                    n = args.blocks_per_client
                    payloads = [[os.urandom(MiB) for _ in range(n)] for _ in clients]
                    metas = [[(block_id_for(d), hashlib.sha256(d).hexdigest()) for d in p] for p in payloads]
                    ids: list[list[str]] = [[bid for bid, _ in m] for m in metas]

                    async def upload_single(i: int, folder: str) -> None:
                        c = clients[i]
                        for data, (bid, sha) in zip(payloads[i], metas[i]):
                            await c.call("PUT", f"/v1/folders/{folder}/blocks/{bid}", data=data,
                                         headers={"X-Cove-Sha256": sha, "Content-Type": "application/octet-stream"})

                    bodies = [[b"".join(blockbatch.encode(list(zip(ids[i][k:k + args.batch], payloads[i][k:k + args.batch]))))
                               for k in range(0, n, args.batch)] for i in range(len(clients))]

                    async def upload_batch(i: int, folder: str) -> None:
                        for body in bodies[i]:
                            await clients[i].call("POST", f"/v1/folders/{folder}/blocks", data=body,
                                                  headers={"Content-Type": blockbatch.CONTENT_TYPE})

                    single_folder = await owner.create_folder()
                    for name, fn, target, where in (
                        (f"block upload, POST batches of {args.batch}", upload_batch, "250 MB/s", folder),
                        ("block upload, single PUTs", upload_single, "-", single_folder),
                    ):
                        t0, c0, m0 = time.perf_counter(), cpu(server), cpu(ME)
                        await asyncio.gather(*(fn(i, where) for i in range(len(clients))))
                        wall = time.perf_counter() - t0
                        up = len(clients) * n * MiB / wall / 1e6
                        rows.append((f"{name}, 1 MiB x 4 clients", f"{up:,.0f} MB/s", target,
                                     f"{(cpu(server) - c0) / wall:.0%}", f"{(cpu(ME) - m0) / wall:.0%}"))
                    del bodies

                    async def download(i: int) -> None:
                        for bid in ids[i]:
                            await clients[i].get_block(folder, bid)

                    t0, c0, m0 = time.perf_counter(), cpu(server), cpu(ME)
                    await asyncio.gather(*(download(i) for i in range(len(clients))))
                    wall = time.perf_counter() - t0
                    down = len(clients) * n * MiB / wall / 1e6
                    rows.append(("block download, 1 MiB x 4 clients", f"{down:,.0f} MB/s", "-",
                                 f"{(cpu(server) - c0) / wall:.0%}", f"{(cpu(ME) - m0) / wall:.0%}"))
                    del payloads

                if "appends" in args.sections:
                    # -- appends per second ----------------------------------------------------------
                    for ndev in (4, args.append_devices):
                        appenders = clients[:4] + [await new_device(owner, session) for _ in range(max(0, ndev - 4))]
                        appenders = appenders[:ndev]
                        per = args.appends // ndev

                        async def appends(c: RelayClient) -> None:
                            for _ in range(per):
                                await c.append(folder, ciphertext=os.urandom(200))

                        t0, c0, m0 = time.perf_counter(), cpu(server), cpu(ME)
                        await asyncio.gather(*(appends(c) for c in appenders))
                        wall = time.perf_counter() - t0
                        rate = per * ndev / wall
                        rows.append((f"appends/s, {ndev} devices appending", f"{rate:,.0f}/s", "2,000/s",
                                     f"{(cpu(server) - c0) / wall:.0%}", f"{(cpu(ME) - m0) / wall:.0%}"))

                if "notify" in args.sections:
                    # -- notification latency with N connected WebSockets ----------------------------
                    listeners = [await new_device(owner, session) for _ in range(args.devices)]
                    sockets = [await c.websocket() for c in listeners]
                    for ws in sockets:
                        await ws.receive()  # hello
                    rss_idle = server.memory_info().rss
                    latencies: list[float] = []
                    appender = clients[0]
                    for _ in range(args.notify_rounds):
                        pending = len(sockets)
                        all_in = asyncio.Event()
                        sent_at = time.perf_counter()

                        async def listen(ws) -> None:
                            nonlocal pending
                            msg = await ws.receive()
                            latencies.append(time.perf_counter() - sent_at)
                            assert json.loads(msg.data)["type"] == "append"
                            pending -= 1
                            if pending == 0:
                                all_in.set()

                        tasks = [asyncio.create_task(listen(ws)) for ws in sockets]
                        await appender.append(folder, ciphertext=b"n")
                        await asyncio.wait_for(all_in.wait(), 30)
                        await asyncio.gather(*tasks)
                    rss = server.memory_info().rss
                    rows.append((f"append->notify p50, {args.devices} WebSockets",
                                 f"{statistics.median(latencies) * 1000:.1f} ms", "-", "", ""))
                    rows.append((f"append->notify p99, {args.devices} WebSockets",
                                 f"{pct(latencies, 99) * 1000:.1f} ms", "< 100 ms", "", ""))
                    rows.append((f"server RSS, {args.devices} WebSockets connected",
                                 f"{max(rss, rss_idle) / MiB:.0f} MiB", "< 200 MB", "", ""))
                    for ws in sockets:
                        await ws.close()
        finally:
            proc.terminate()
            await proc.wait()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--blocks-per-client", type=int, default=64)
    p.add_argument("--batch", type=int, default=16, help="blocks per batch upload request")
    p.add_argument("--appends", type=int, default=4000)
    p.add_argument("--append-devices", type=int, default=64)
    p.add_argument("--devices", type=int, default=500)
    p.add_argument("--notify-rounds", type=int, default=40)
    p.add_argument("--sqlite-synchronous", default="FULL", choices=["FULL", "NORMAL"],
                   help="the relay's sqlite_synchronous setting (FULL is the default and survives power loss)")
    p.add_argument("--sections", default="blocks,appends,notify", help="comma-separated subset to run")
    p.add_argument("--tmp", default=None, help="directory for the relay data (default: system temp)")
    args = p.parse_args()
    args.sections = set(args.sections.split(","))
    args.load_before = os.getloadavg()[0]
    rows = asyncio.run(bench(args))
    w0 = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w0}}  {'result':>12}  {'target':>10}  {'server CPU':>10}  {'bench CPU':>9}")
    print("-" * (w0 + 51))
    for name, value, target, load, mine in rows:
        print(f"{name:<{w0}}  {value:>12}  {target:>10}  {load:>10}  {mine:>9}")
    print(f"({os.cpu_count()} CPUs shared by the server and the benchmark clients; server CPU 100% = one core; "
          f"sqlite_synchronous={args.sqlite_synchronous}; load average before/after "
          f"{args.load_before:.1f}/{os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
