"""Finding peers on the local network with zeroconf (mDNS/DNS-SD), IPv4 and IPv6.

Each device announces ``<short id>-<random>._cove._tcp.local.`` with TXT ``v`` (protocol
version), ``id`` (its device ID) and ``port``, and browses for the same type. What it hears is a
*hint*: the device ID is proven by the handshake (:mod:`sync.lan.channel`), never trusted from
the announcement. Peers come and go and change addresses; every change is passed on as
``on_change(device_id, [(host, port), ...])`` or ``on_change(device_id, None)`` when it leaves.

``interfaces`` restricts the network interfaces (tests use ``["127.0.0.1"]`` with multicast
enabled on ``lo``); by default zeroconf uses all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable

from zeroconf import (
    IPVersion,
    ServiceStateChange,
    Zeroconf,
    get_all_addresses,
    get_all_addresses_v6,
)
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from sync.lan.channel import PROTOCOL_VERSION
from sync.wire.ids import is_device_id, short_id

SERVICE_TYPE = "_cove._tcp.local."
RESOLVE_TIMEOUT_MS = 3000

OnChange = Callable[[str, list[tuple[str, int]] | None], None]


def _packed(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr.split("%")[0])


class Discovery:
    def __init__(self, device_id: str, port: int, on_change: OnChange, interfaces: list[str] | None = None):
        self.device_id = device_id
        self.port = port
        self.on_change = on_change
        self.interfaces = interfaces
        self.name = f"{short_id(device_id).lower()}-{os.urandom(3).hex()}.{SERVICE_TYPE}"
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._names: dict[str, str] = {}  # service name -> device id
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        if self.interfaces:
            zc = AsyncZeroconf(interfaces=self.interfaces, ip_version=IPVersion.All)
            addrs = list(self.interfaces)
        else:
            zc = AsyncZeroconf(ip_version=IPVersion.All)
            v6 = [a[0][0] if isinstance(a, tuple) else str(a) for a in get_all_addresses_v6()]
            addrs = list(get_all_addresses()) + [a for a in v6 if not a.startswith("fe80")]
        self._zc = zc
        info = AsyncServiceInfo(
            SERVICE_TYPE, self.name, port=self.port,
            properties={"v": str(PROTOCOL_VERSION), "id": self.device_id, "port": str(self.port)},
            addresses=[_packed(str(a)) for a in addrs],
            server=self.name.split(".")[0] + ".local.",
        )
        await zc.async_register_service(info)
        self._browser = AsyncServiceBrowser(zc.zeroconf, [SERVICE_TYPE], handlers=[self._on_event])

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._browser is not None:
            with contextlib.suppress(Exception):
                await self._browser.async_cancel()
        if self._zc is not None:
            with contextlib.suppress(Exception):
                await self._zc.async_unregister_all_services()
            with contextlib.suppress(Exception):
                await self._zc.async_close()

    def _on_event(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if name == self.name:
            return
        if state_change is ServiceStateChange.Removed:
            device = self._names.pop(name, None)
            if device is not None:
                self.on_change(device, None)
            return
        task = asyncio.ensure_future(self._resolve(zeroconf, service_type, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, zeroconf: Zeroconf, service_type: str, name: str) -> None:
        info = AsyncServiceInfo(service_type, name)
        if not await info.async_request(zeroconf, RESOLVE_TIMEOUT_MS):
            return
        props = {k.decode(errors="replace"): (v or b"").decode(errors="replace") for k, v in info.properties.items()}
        device = props.get("id", "")
        if props.get("v") != str(PROTOCOL_VERSION) or not is_device_id(device) or device == self.device_id:
            return
        port = info.port or 0
        addrs = [(a, port) for a in info.parsed_scoped_addresses()]
        if not addrs or not 0 < port < 65536:
            return
        self._names[name] = device
        self.on_change(device, addrs)


def interfaces_from_env() -> list[str] | None:
    """The addresses in ``$COVE_LAN_INTERFACES`` (comma-separated; tests set ``127.0.0.1``), or
    None for every interface. What the engine's LAN sync and LAN linking both use."""
    value = os.environ.get("COVE_LAN_INTERFACES", "")
    return [a.strip() for a in value.split(",") if a.strip()] or None


def enable_loopback_multicast() -> bool:
    """Turn on multicast on ``lo`` (needs root; idempotent). True when it is on afterwards."""
    import subprocess

    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(["ip", "link", "set", "lo", "multicast", "on"], check=False, capture_output=True, timeout=10)
    try:
        out = subprocess.run(["ip", "link", "show", "lo"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "MULTICAST" in out
