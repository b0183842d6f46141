"""A fixed set of asyncio locks picked by key hash: serialises work on the same block
(upload vs. upload, upload vs. garbage collection) without a lock per block."""

from __future__ import annotations

import asyncio


class LockStripes:
    def __init__(self, n: int = 256) -> None:
        self._locks = [asyncio.Lock() for _ in range(n)]

    def __call__(self, *key: str) -> asyncio.Lock:
        return self._locks[hash(key) % len(self._locks)]

    def many(self, keys: list[tuple[str, ...]]) -> list[asyncio.Lock]:
        """The distinct locks of several keys, in one global order: acquire them in this order
        (and release in reverse) and two holders of overlapping sets cannot deadlock."""
        indexes = sorted({hash(k) % len(self._locks) for k in keys})
        return [self._locks[i] for i in indexes]
