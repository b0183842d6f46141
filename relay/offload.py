"""Runs synchronous storage calls off the event loop, on one dedicated thread.

SQLite gives one writer at a time anyway; funnelling every metadata call through a single thread
keeps transactions serial (no ``database is locked``), keeps the event loop free during commits
and fsyncs, and lets the stores stay plain synchronous code that tests can call directly.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class Offload:
    def __init__(self, name: str = "relay-db") -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def __call__(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
