"""Bandwidth limits and pause switches.

* :class:`TokenBucket` — bytes per second with a burst; ``await take(n)`` waits until ``n`` bytes
  may pass. A rate of 0 (or None) means unlimited. The clock is injectable for tests.
* :class:`Limits` — one bucket for LAN peers and one for the relay, set separately and changeable
  at run time (``set_lan`` / ``set_relay``). The LAN bucket throttles every frame of every peer
  channel, both directions; the relay bucket is applied by :class:`LimitedTransport`, a wrapper
  around any ``RelayTransport`` that charges block uploads and downloads.
* :class:`Pauses` — folders and peers that are paused. A paused folder is neither served to nor
  pulled from peers; a paused peer is disconnected and not dialled, and its connections refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


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
    lan: TokenBucket = field(default_factory=lambda: TokenBucket(None))
    relay: TokenBucket = field(default_factory=lambda: TokenBucket(None))

    def set_lan(self, bytes_per_s: float | None) -> None:
        self.lan.set_rate(bytes_per_s)

    def set_relay(self, bytes_per_s: float | None) -> None:
        self.relay.set_rate(bytes_per_s)


@dataclass
class Pauses:
    folders: set[str] = field(default_factory=set)
    peers: set[str] = field(default_factory=set)

    def folder_paused(self, folder: str) -> bool:
        return folder in self.folders

    def peer_paused(self, device_id: str) -> bool:
        return device_id in self.peers


class LimitedTransport:
    """A ``RelayTransport`` whose block traffic passes through a :class:`TokenBucket`."""

    def __init__(self, inner: Any, bucket: TokenBucket):
        self.inner = inner
        self.bucket = bucket

    async def put_blocks(self, folder: str, blocks: Sequence[tuple[str, bytes]]) -> None:
        await self.bucket.take(sum(len(b) for _, b in blocks))
        await self.inner.put_blocks(folder, blocks)

    async def get_block(self, folder: str, block_id: str) -> bytes:
        data = await self.inner.get_block(folder, block_id)
        await self.bucket.take(len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
