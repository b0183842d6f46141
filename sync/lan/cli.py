"""``cove peers``: the devices this device found on the LAN or knows through the relay, and the
path in use for each (LAN or relay).

The running daemon writes ``<data>/lan/status.json`` (:meth:`sync.lan.service.LanService._write_status`,
refreshed on every change and every 0.5 s); this command reads it, so it works from a second
process. A status older than :data:`STALE_S` means the daemon is not running.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from sync.lan.certs import DeviceDirectory
from sync.wire.ids import short_id

STALE_S = 10.0


def _size(n: int) -> str:
    x = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if x < 1024 or unit == "GiB":
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    return f"{n} B"


def peer_rows(status: dict[str, Any], known: list[str], relay: bool, now: float) -> list[tuple[str, str, str, str]]:
    """(device, path, addresses, detail) per peer; pure, for tests."""
    fresh = now - float(status.get("updated", 0)) <= STALE_S
    rows = []
    seen = set()
    for p in status.get("peers", []) if fresh else []:
        dev = p["device_id"]
        seen.add(dev)
        name = f"{short_id(dev)[:7]} {p.get('name') or ''}".strip()
        addrs = ", ".join(f"[{h}]:{port}" if ":" in h else f"{h}:{port}" for h, port in p.get("addresses", []))
        if p.get("paused"):
            path, detail = "paused", f"paused on this device (`cove resume --peer {short_id(dev)[:7]}`)"
        elif p.get("connected"):
            path = "LAN"
            detail = f"connected, {len(p.get('folders', []))} shared folders, in {_size(p.get('bytes_in', 0))} / out {_size(p.get('bytes_out', 0))}"
        elif p.get("discovered"):
            path = "relay" if relay else "-"
            detail = "discovered, not connected" + (f" ({p['last_error']})" if p.get("last_error") else "")
        else:
            path = "relay" if relay else "-"
            last = p.get("last_seen") or 0
            detail = "gone from the LAN" + (f", last seen {dt.datetime.fromtimestamp(last):%Y-%m-%d %H:%M}" if last else "")
        rows.append((name, path, addrs or "-", detail))
    for dev in known:
        if dev not in seen and dev != status.get("device_id"):
            rows.append((short_id(dev)[:7], "relay" if relay else "-", "-", "not on this LAN"))
    return rows


def peers_command(engine: Any) -> int:
    """Print the peer table for ``engine`` (its data dir); returns the exit status."""
    lan = engine.dirs.data / "lan"
    status: dict[str, Any] = {}
    try:
        status = json.loads(Path(lan / "status.json").read_text())
    except (OSError, ValueError):
        pass
    now = time.time()
    running = bool(status) and now - float(status.get("updated", 0)) <= STALE_S
    relay = engine.config.relay is not None
    known: list[str] = []
    try:
        from sync.account import load_account_keys

        account = load_account_keys(engine.dirs)
        if account is not None:
            known = [c.device_id for c in DeviceDirectory(account.sign_pk, lan / "devices.json").certificates()]
    except Exception:  # noqa: BLE001 - a damaged cache only hides offline devices
        known = []
    print(f"this device  {engine.identity.device_id}")
    if not running:
        print("the daemon is not running (`cove daemon`); showing devices known from earlier")
    rows = peer_rows(status, [k for k in known if k != engine.identity.device_id], relay, now)
    if not rows:
        print("no peers found yet")
        return 0
    widths = [max(len(r[i]) for r in rows + [("device", "path", "addresses", "")]) for i in range(3)]
    print(f"{'device'.ljust(widths[0])}  {'path'.ljust(widths[1])}  {'addresses'.ljust(widths[2])}  state")
    for r in rows:
        print(f"{r[0].ljust(widths[0])}  {r[1].ljust(widths[1])}  {r[2].ljust(widths[2])}  {r[3]}")
    for fid, forks in (status.get("forks") or {}).items():
        for msg in forks:
            print(f"warning: folder {fid}: {msg}")
    return 0
