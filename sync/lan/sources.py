"""Content from LAN peers for the executor: blocks by hash, and librsync deltas for modified files.

:class:`LanBlocks` (a ``BlockSource``) asks the folder's connected peers for a block by its
plaintext hash, spreading concurrent requests over the peers (the executor keeps a window of
fetches in flight, so a file comes from several peers in parallel where several hold it). The
serving peer reads it from its own files and verifies it before sending; we verify it again. A
peer that fails or vanishes is skipped; when no peer can help, the fallback (the relay's
``TransportBlocks``) is asked.

:class:`LanDeltas` (a ``FileSource``) is used when this device holds an earlier version of the
file. The target's blocks that no local file holds form *spans* (runs of consecutive missing
blocks). For each span, the matching region of our current file is found from the blocks around
the span, its librsync signature (python-rsync) is sent to a peer with the span's block list, and
the peer answers with a delta of those blocks' bytes against the signature. Patching the region
gives the span; each block is verified by hash. Unchanged blocks are copied from local files. So
the work and the signature are proportional to what changed, not to the file: a 1 MiB overwrite
in a 256 MiB file costs a ~1 MiB delta and a signature of ~2 MiB of the old file. The whole result
is verified against the record's content hash by the executor before it is installed.
"""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyrsync

from sync import chunker
from sync.executor import BlockSource, BlockUnavailable, read_local_block
from sync.index import Index
from sync.lan.session import RequestFailed
from sync.records import Block, FileRecord, RemoteRecord

if TYPE_CHECKING:
    from sync.lan.service import LanService

MAX_SPAN = 8 * 1024 * 1024  # bytes of target content per delta request
MAX_BASE_REGION = 2 * MAX_SPAN
BLOCK_TIMEOUT_S = 30.0
PREFETCH_BATCH = 1024 * 1024  # bytes per batched block request (small: the executor starts on the first ones)
PREFETCH_PARALLEL = 4
PREFETCH_MAX = 64 * 1024 * 1024  # bytes held ahead of the executor at most
PREFETCH_MAX_BLOCK = 256 * 1024  # only blocks of small files: large files stream through the executor's window
DELTA_TIMEOUT_S = 60.0
SIG_BLOCK = 2048
SIG_STRONG = 16


def rsync_signature(data: bytes) -> bytes:
    out = io.BytesIO()
    pyrsync.signature(io.BytesIO(data), out, SIG_STRONG, pyrsync.RS_BLAKE2_SIG_MAGIC, SIG_BLOCK)
    return out.getvalue()


def rsync_delta(data: bytes, signature: bytes) -> bytes:
    out = io.BytesIO()
    pyrsync.delta(io.BytesIO(data), io.BytesIO(signature), out)
    return out.getvalue()


def rsync_patch(base: bytes, delta: bytes) -> bytes:
    out = io.BytesIO()
    pyrsync.patch(io.BytesIO(base), io.BytesIO(delta), out)
    return out.getvalue()


class LanBlocks:
    def __init__(self, service: LanService, folder: str, fallback: BlockSource | None = None):
        self.service = service
        self.folder = folder
        self.fallback = fallback
        self._turn = itertools.count()
        self.from_peers = 0
        self.from_fallback = 0
        self.cache: dict[bytes, bytes] = {}  # prefetched blocks (verified), used once
        self._coming: dict[bytes, asyncio.Future[None]] = {}  # blocks a running prefetch asks for

    async def prefetch(self, blocks: list[Block]) -> int:
        """Fetch many small blocks in a few batched requests, in parallel over the peers, ahead
        of (and alongside) the executor: a :meth:`get` of a block a running prefetch asks for
        waits for that batch instead of asking again. Returns the bytes prefetched."""
        peers = self.service.peers_for(self.folder)
        if not peers or not blocks:
            return 0
        batches: list[list[Block]] = [[]]
        size = 0
        for b in blocks:
            if size + b.size > PREFETCH_BATCH and batches[-1]:
                batches.append([])
                size = 0
            batches[-1].append(b)
            size += b.size
        sem = asyncio.Semaphore(PREFETCH_PARALLEL)
        loop = asyncio.get_running_loop()
        for batch in batches:
            for b in batch:
                self._coming.setdefault(b.hash, loop.create_future())

        async def one(i: int, batch: list[Block]) -> int:
            try:
                async with sem:
                    return await fetch(i, batch)
            finally:
                # get() of these blocks waits no longer: they are in the cache, or asked for singly.
                for b in batch:
                    fut = self._coming.pop(b.hash, None)
                    if fut is not None and not fut.done():
                        fut.set_result(None)

        async def fetch(i: int, batch: list[Block]) -> int:
            session = peers[i % len(peers)]
            try:
                h, body = await session.request(
                    {"t": "blocks", "folder": self.folder, "blocks": [[b.hash.hex(), b.size] for b in batch]},
                    timeout=BLOCK_TIMEOUT_S,
                )
            except RequestFailed:
                return 0
            found = h.get("found")
            if not isinstance(found, list) or len(found) != len(batch):
                return 0
            got, off, view = 0, 0, memoryview(body)
            for b, ok in zip(batch, found, strict=True):
                if ok is True:
                    data = chunker.verified(view[off : off + b.size], b.hash)
                    off += b.size
                    if data is not None:
                        self.cache[b.hash] = data
                        got += b.size
            return got

        try:
            return sum(await asyncio.gather(*(one(i, batch) for i, batch in enumerate(batches))))
        finally:
            # Also when cancelled before a batch started: no get() may wait on a dead prefetch.
            for batch in batches:
                for b in batch:
                    fut = self._coming.pop(b.hash, None)
                    if fut is not None and not fut.done():
                        fut.set_result(None)

    async def get_many(self, blocks: list[Block], source: RemoteRecord) -> list[bytes]:
        """Consecutive blocks of one file in one ``blocks`` request (at most MAX_SPAN bytes), from
        the peers in turn; what the peer asked does not hold (or sends wrong) is fetched block by
        block from the others and the fallback (:meth:`get`)."""
        out: list[bytes | None] = [None] * len(blocks)
        peers = self.service.peers_for(self.folder)
        if peers and sum(b.size for b in blocks) <= MAX_SPAN:
            k = next(self._turn) % len(peers)
            session = (peers[k:] + peers[:k])[0]
            try:
                h, body = await session.request(
                    {"t": "blocks", "folder": self.folder, "blocks": [[b.hash.hex(), b.size] for b in blocks]},
                    timeout=BLOCK_TIMEOUT_S,
                )
            except RequestFailed:
                h, body = {}, b""
            found = h.get("found")
            if isinstance(found, list) and len(found) == len(blocks):
                view, off = memoryview(body), 0
                for i, (b, ok) in enumerate(zip(blocks, found, strict=True)):
                    if ok is not True:
                        continue
                    data = chunker.verified(view[off : off + b.size], b.hash)
                    off += b.size
                    if data is not None:
                        out[i] = data
                self.from_peers += sum(len(d) for d in out if d is not None)
        return [d if d is not None else await self.get(b, source) for b, d in zip(blocks, out, strict=True)]

    async def get(self, block: Block, source: RemoteRecord) -> bytes:
        coming = self._coming.get(block.hash)
        if coming is not None and block.hash not in self.cache:
            await asyncio.shield(coming)  # a prefetch running alongside the executor brings it
        cached = self.cache.pop(block.hash, None)
        if cached is not None and len(cached) == block.size:
            self.from_peers += len(cached)
            return cached
        peers = self.service.peers_for(self.folder)
        if peers:
            k = next(self._turn) % len(peers)
            for session in peers[k:] + peers[:k]:
                try:
                    _, data = await session.request(
                        {"t": "block", "folder": self.folder, "hash": block.hash.hex(), "size": block.size},
                        timeout=BLOCK_TIMEOUT_S,
                    )
                except RequestFailed:
                    continue
                checked = chunker.verified(data, block.hash) if len(data) == block.size else None
                if checked is not None:
                    self.from_peers += len(checked)
                    return checked
        if self.fallback is not None:
            data = await self.fallback.get(block, source)
            self.from_fallback += len(data)
            return data
        raise BlockUnavailable(f"no peer holds block {block.hash.hex()[:12]} of {source.record.path}", source.record.path)


@dataclass(frozen=True)
class Span:
    first: int  # index of the first missing block
    last: int  # index after the last
    offset: int  # in the target
    size: int


def missing_spans(blocks: tuple[Block, ...], have: list[bool], max_span: int = MAX_SPAN) -> list[Span]:
    """Runs of consecutive blocks we lack, each at most ``max_span`` bytes (pure)."""
    spans: list[Span] = []
    offset = 0
    start = None
    start_off = 0
    size = 0
    for i, (b, ok) in enumerate(zip(blocks, have, strict=True)):
        if not ok and start is not None and size + b.size > max_span:
            spans.append(Span(start, i, start_off, size))
            start = None
        if not ok and start is None:
            start, start_off, size = i, offset, 0
        if not ok:
            size += b.size
        elif start is not None:
            spans.append(Span(start, i, start_off, size))
            start = None
        offset += b.size
    if start is not None:
        spans.append(Span(start, len(blocks), start_off, size))
    return spans


def base_region(target: tuple[Block, ...], span: Span, base: FileRecord | None, base_size: int) -> tuple[int, int]:
    """Where in our current file the span's old content most likely is: between the base's copies
    of the blocks just before and just after the span (pure)."""
    where: dict[bytes, int] = {}
    if base is not None:
        off = 0
        for b in base.blocks:
            where.setdefault(b.hash, off)
            off += b.size
    start, end = 0, base_size
    if span.first > 0:
        prev = target[span.first - 1]
        if prev.hash in where:
            start = where[prev.hash] + prev.size
    if span.last < len(target):
        nxt = target[span.last]
        if nxt.hash in where and where[nxt.hash] >= start:
            end = where[nxt.hash]
    if base is None or (span.first > 0 and target[span.first - 1].hash not in where):
        start = max(0, min(span.offset, base_size) - MAX_SPAN // 4)
    if base is None or (span.last < len(target) and target[span.last].hash not in where):
        end = min(base_size, max(start, span.offset + span.size + MAX_SPAN // 4))
    return start, max(start, end)


class LanDeltas:
    """A ``FileSource``; see the module docstring."""

    def __init__(self, service: LanService, folder: str, root: Path, index: Index, blocks: LanBlocks):
        self.service = service
        self.folder = folder
        self.root = root
        self.index = index
        self.blocks = blocks
        self.delta_bytes = 0  # delta bytes received (for tests and `cove peers`)
        self.literal_bytes = 0

    async def fetch_file(self, target: FileRecord, source: RemoteRecord, base: Path | None, stage: Path) -> bool:
        if base is None or not self.service.peers_for(self.folder):
            return False
        have = [bool(self.index.block_sources(b.hash)) for b in target.blocks]
        if all(have) or not any(have) and len(target.blocks) > 1:
            return False  # a copy from local blocks, or nothing to diff against beyond one block
        base_record = self.index.get(target.path)
        try:
            base_size = base.stat().st_size
        except OSError:
            return False
        spans = missing_spans(target.blocks, have)
        patched: dict[int, bytes] = {}  # span.first -> content of the span
        for span in spans:
            data = await self._delta_span(target, span, base, base_record, base_size)
            if data is not None:
                patched[span.first] = data
        await asyncio.to_thread(self._write, target, source, spans, patched, stage)
        return True

    async def _delta_span(
        self, target: FileRecord, span: Span, base: Path, base_record: FileRecord | None, base_size: int
    ) -> bytes | None:
        start, end = base_region(target.blocks, span, base_record, base_size)
        if end - start > MAX_BASE_REGION or end <= start:
            return None

        def read_and_sign() -> tuple[bytes, bytes]:
            with open(base, "rb") as f:
                f.seek(start)
                region = f.read(end - start)
            return region, rsync_signature(region)

        region, signature = await asyncio.to_thread(read_and_sign)
        blocks = target.blocks[span.first : span.last]
        for session in self.service.peers_for(self.folder):
            try:
                _, delta = await session.request(
                    {"t": "delta", "folder": self.folder, "blocks": [[b.hash.hex(), b.size] for b in blocks]},
                    signature,
                    timeout=DELTA_TIMEOUT_S,
                )
                data = await asyncio.to_thread(rsync_patch, region, delta)
            except Exception:  # noqa: BLE001, S112 - a failed request or a librsync error: try the next peer
                continue
            if len(data) != span.size:
                continue
            off = 0
            ok = True
            for b in blocks:
                if chunker.block_hash(data[off : off + b.size]) != b.hash:
                    ok = False
                    break
                off += b.size
            if ok:
                self.delta_bytes += len(delta)
                return data
        return None

    def _write(self, target: FileRecord, source: RemoteRecord, spans: list[Span], patched: dict[int, bytes], stage: Path) -> None:
        loop = self.service.loop
        starts = {s.first: s for s in spans}

        def pieces() -> Iterator[bytes]:
            i = 0
            while i < len(target.blocks):
                span = starts.get(i)
                if span is not None and span.first in patched:
                    yield patched[span.first]
                    i = span.last
                    continue
                b = target.blocks[i]
                data = read_local_block(self.root, self.index, b)
                if data is None:
                    fut = asyncio.run_coroutine_threadsafe(
                        self.blocks.get(b, source), loop
                    )
                    data = fut.result()
                    self.literal_bytes += len(data)
                yield data
                i += 1

        with open(stage, "wb") as out:
            out.writelines(pieces())
