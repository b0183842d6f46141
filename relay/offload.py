"""Runs synchronous storage calls off the event loop, on one dedicated thread, with group commit.

SQLite gives one writer at a time anyway; funnelling every metadata call through a single thread
keeps transactions serial (no ``database is locked``), keeps the event loop free during commits
and fsyncs, and lets the stores stay plain synchronous code that tests can call directly.

Group commit: when several calls are queued, the thread runs them all inside one outer
transaction (``batch``, e.g. :meth:`relay.sqlite.db.Database.batch`), each call's own
transaction becoming a savepoint, and commits once. Results are handed back only after that
commit, so an acknowledged write is durable; a call that fails rolls back only its savepoint.

Reads: :meth:`Offload.read` runs a read-only call on a small pool of reader threads instead
(``reader``, e.g. :meth:`relay.sqlite.db.Database.reader`, gives each its own connection), so the
per-request authentication and lookups of one request never wait for another batch's commit and
fsync. A reader call that tries to write raises. Without a ``reader`` hook, reads go through the
storage thread like everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ContextManager, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_STOP = object()


def _resolve(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.cancelled():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


class Offload:
    def __init__(self, name: str = "relay-db", max_batch: int = 256, readers: int = 2) -> None:
        self.batch: Callable[[], ContextManager[Any]] | None = None
        self.reader: Callable[[], ContextManager[Any]] | None = None
        self.max_batch = max_batch
        self._read_pool = ThreadPoolExecutor(max_workers=readers, thread_name_prefix=f"{name}-read")
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    async def __call__(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((functools.partial(fn, *args, **kwargs), loop, fut))
        return await fut

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a read-only ``fn`` on a reader thread (see module doc)."""
        reader = self.reader
        if reader is None:
            return await self(fn, *args, **kwargs)

        def call() -> T:
            with reader():
                return fn(*args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(self._read_pool, call)

    def read_now(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a small read-only ``fn`` (a few indexed point lookups) right here, on the event
        loop's own reader connection: cheaper than two thread hops and GIL hand-offs per request.
        Only for lookups that cannot wait on a lock: WAL readers never wait for the writer."""
        reader = self.reader
        if reader is None:
            raise RuntimeError("read_now needs a reader hook")
        with reader():
            return fn(*args, **kwargs)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            job = self._queue.get()
            if job is _STOP:
                break
            jobs = [job]
            while len(jobs) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                jobs.append(more)
            results: list[tuple[bool, Any]] = []
            try:
                with self.batch() if self.batch is not None else contextlib.nullcontext():
                    for call, _, _ in jobs:
                        try:
                            results.append((True, call()))
                        except Exception as exc:  # handed to the awaiting coroutine
                            results.append((False, exc))
            except Exception as exc:  # the commit itself failed: nothing in the batch is durable
                results = [(False, exc)] * len(jobs)
            for (ok, value), (_, loop, fut) in zip(results, jobs):
                with contextlib.suppress(RuntimeError):  # loop already closed
                    loop.call_soon_threadsafe(_resolve, fut, ok, value)

    def close(self) -> None:
        """Finish queued calls, then stop the thread."""
        self._read_pool.shutdown(wait=True)
        self._queue.put(_STOP)
        self._thread.join()
