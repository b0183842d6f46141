"""Rate and concurrency limits, as pure in-memory structures that take ``now``.

- :class:`SlidingWindow` counts events per key within a window (login attempts per username and
  per client address); :meth:`retry_after` says how long until one more is allowed.
- :class:`ConnectionCounter` bounds concurrent requests plus WebSockets per account.

Request size and time limits are enforced by :mod:`relay.middleware` and the body readers of
:mod:`relay.validate` using the numbers in :class:`relay.config.RelayConfig`.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from contextlib import contextmanager

from relay.errors import TooManyRequests


class SlidingWindow:
    def __init__(self, limit: int, window: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._events: dict[str, collections.deque[float]] = {}

    def _prune(self, key: str, now: float) -> collections.deque[float]:
        q = self._events.get(key)
        if q is None:
            if len(self._events) >= self.max_keys:
                self._evict(now)
            q = self._events[key] = collections.deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def _evict(self, now: float) -> None:
        for key in [k for k, q in self._events.items() if not q or q[-1] <= now - self.window]:
            del self._events[key]
        if len(self._events) >= self.max_keys:  # still full: forget the oldest half
            for key in list(self._events)[: self.max_keys // 2]:
                del self._events[key]

    def retry_after(self, key: str, now: float) -> float | None:
        """None if one more event is allowed now, else the seconds until it will be."""
        q = self._prune(key, now)
        if len(q) < self.limit:
            return None
        return q[0] + self.window - now

    def record(self, key: str, now: float) -> None:
        self._prune(key, now).append(now)

    def reset(self, key: str) -> None:
        self._events.pop(key, None)


class ConnectionCounter:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: collections.Counter[str] = collections.Counter()

    def acquire(self, account: str) -> None:
        if self.counts[account] >= self.limit:
            raise TooManyRequests("too many concurrent connections for this account", retry_after=1.0,
                                  code="too_many_connections")
        self.counts[account] += 1

    def release(self, account: str) -> None:
        self.counts[account] -= 1
        if self.counts[account] <= 0:
            del self.counts[account]

    @contextmanager
    def hold(self, account: str) -> Iterator[None]:
        self.acquire(account)
        try:
            yield
        finally:
            self.release(account)
