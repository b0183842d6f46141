"""Bandwidth limits and pause switches.

* :class:`TokenBucket` — bytes per second with a burst; ``await take(n)`` waits until ``n`` bytes
  may pass. A rate of 0 (or None) means unlimited. The clock is injectable for tests.
* :class:`Limits` — upload and download buckets for LAN peers and for the relay, four in all, set
  from the config's :class:`~sync.config.Bandwidth` (:meth:`Limits.apply`) and changeable at run
  time. The LAN buckets throttle the frames of every peer channel (sent: upload, received:
  download); the relay buckets are applied by :class:`LimitedTransport`, a wrapper around any
  ``RelayTransport`` that charges block uploads and downloads.
* :class:`Pauses` — folders and peers that are paused. A paused folder is neither served to nor
  pulled from peers; a paused peer is disconnected and not dialled, and its connections refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from sync.config import Bandwidth


class TokenBucket:
    def __init__(self, rate: float | None, burst: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.rate = 0.0
        self.burst = 0.0
        self.tokens = 0.0
        self.stamp = clock()
        self._lock = asyncio.Lock()
        self.set_rate(rate, burst)
        self.tokens = self.burst  # start full

    def set_rate(self, rate: float | None, burst: float | None = None) -> None:
        self.rate = float(rate or 0)
        self.burst = float(burst if burst is not None else max(self.rate / 4, 64 * 1024))
        self.tokens = min(self.tokens, self.burst) if self.rate else 0.0

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def delay_for(self, n: int) -> float:
        """Take ``n`` tokens now (possibly going into debt); the seconds to wait for the debt."""
        if self.unlimited:
            return 0.0
        self._refill()
        self.tokens -= n
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    async def take(self, n: int) -> None:
        if self.unlimited:
            return
        async with self._lock:  # FIFO: waiters are served in order
            delay = self.delay_for(n)
            if delay > 0:
                await asyncio.sleep(delay)


@dataclass
class Limits:
    lan_up: TokenBucket = field(default_factory=lambda: TokenBucket(None))
    lan_down: TokenBucket = field(default_factory=lambda: TokenBucket(None))
    relay_up: TokenBucket = field(default_factory=lambda: TokenBucket(None))
    relay_down: TokenBucket = field(default_factory=lambda: TokenBucket(None))

    def apply(self, bandwidth: Bandwidth) -> None:
        """Set all four from the config (0: unlimited); takes effect for the next frame/block."""
        for f in fields(bandwidth):  # the buckets are named as the config's fields
            bucket, rate = getattr(self, f.name), getattr(bandwidth, f.name)
            if bucket.rate != rate:
                bucket.set_rate(rate)

    def set_lan(self, bytes_per_s: float | None) -> None:
        """Both LAN directions at once (tests, ``sync.lan.node --lan-limit``)."""
        self.lan_up.set_rate(bytes_per_s)
        self.lan_down.set_rate(bytes_per_s)

    def set_relay(self, bytes_per_s: float | None) -> None:
        self.relay_up.set_rate(bytes_per_s)
        self.relay_down.set_rate(bytes_per_s)


@dataclass
class Pauses:
    folders: set[str] = field(default_factory=set)
    peers: set[str] = field(default_factory=set)

    def folder_paused(self, folder: str) -> bool:
        return folder in self.folders

    def peer_paused(self, device_id: str) -> bool:
        return device_id in self.peers


class LimitedTransport:
    """A ``RelayTransport`` whose block uploads and downloads pass through ``limits``' relay
    buckets (looked up on every call: :meth:`Limits.apply` takes effect at once)."""

    def __init__(self, inner: Any, limits: Limits):
        self.inner = inner
        self.limits = limits

    async def put_blocks(self, folder: str, blocks: Sequence[tuple[str, bytes]]) -> None:
        await self.limits.relay_up.take(sum(len(b) for _, b in blocks))
        await self.inner.put_blocks(folder, blocks)

    async def get_block(self, folder: str, block_id: str) -> bytes:
        data = await self.inner.get_block(folder, block_id)
        await self.limits.relay_down.take(len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
