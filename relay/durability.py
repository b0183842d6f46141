"""Group sync: concurrent block writes share one durability barrier.

Every upload must have its file and directory entry on disk before its index row is committed
(and so before it is acknowledged). :class:`GroupSync` collects the paths of everyone waiting;
while one round of syncs runs, new arrivals queue for the next round, which then syncs all of
them at once with :meth:`relay.blockstore_fs.FsBlockStore.sync` (parallel ``fdatasync``s that
share the filesystem's journal commits, each directory once). A caller returns only after a
round that contained all its paths completed, so the guarantee is the same as syncing alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any


class GroupSync:
    def __init__(self, sync: Callable[[list[str]], None]) -> None:
        self._sync = sync
        self._pending: list[tuple[list[str], asyncio.Future[None]]] = []
        self._task: asyncio.Task[Any] | None = None
        self.rounds = 0

    async def __call__(self, paths: Iterable[str]) -> None:
        paths = list(paths)
        if not paths:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._pending.append((paths, fut))
        if self._task is None:
            self._task = loop.create_task(self._rounds())
        await fut

    async def _rounds(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                everything = [p for paths, _ in batch for p in paths]
                try:
                    await loop.run_in_executor(None, self._sync, everything)
                except Exception as exc:  # nothing in this round is known to be durable
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                else:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_result(None)
                self.rounds += 1
        finally:
            self._task = None
