"""Run one engine with LAN sync until SIGTERM/SIGINT: ``python -m sync.lan.node --home DIR``.

Used by the multi-process tests and the benchmark (each engine in its own process, finding the
others through real zeroconf); the same wiring as :meth:`sync.engine.Engine.run`. Prints one
JSON line ``{"event": "ready", "port": N, "device_id": ...}`` once it listens, then report lines.
Optional: ``--interfaces 127.0.0.1`` (zeroconf), ``--listen 127.0.0.1``, ``--lan-limit BYTES/S``,
``--log-level DEBUG`` (timings of scans, pulls, applies and publishes on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from sync.config import Dirs
from sync.engine import Engine


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sync.lan.node")
    ap.add_argument("--home", required=True, type=Path)
    ap.add_argument("--interfaces", default="", help="comma-separated addresses for zeroconf (default: all)")
    ap.add_argument("--listen", default="", help="address to listen on (default: all)")
    ap.add_argument("--lan-limit", type=float, default=0.0, help="LAN bandwidth limit in bytes/s (0: none)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--log-level", default="", help="e.g. DEBUG: log to stderr (cove.timing: how long each stage took)")
    args = ap.parse_args(argv)
    if args.log_level:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                            format="%(asctime)s.%(msecs)03d %(name)s %(message)s", datefmt="%H:%M:%S")
        logging.getLogger("cove").setLevel(args.log_level.upper())

    def report(line: str) -> None:
        if not args.quiet:
            print(json.dumps({"event": "report", "line": line}), flush=True)

    def ready(lan) -> None:
        if args.lan_limit:
            lan.limits.set_lan(args.lan_limit)
        print(json.dumps({"event": "ready", "port": lan.port, "device_id": lan.device_id}), flush=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        with Engine.create(Dirs.under(args.home)) as engine:
            await engine.run(
                stop, report,
                lan_interfaces=[a for a in args.interfaces.split(",") if a] or None,
                lan_host=args.listen or None, on_lan_ready=ready,
            )

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
