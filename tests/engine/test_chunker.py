"""Chunking and hashing: the file-hash definition, stream/bytes agreement, locality of edits,
bounded memory, and files over 4 GiB."""

from __future__ import annotations

import io
import os
import random

import blake3
import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync import chunker
from sync.chunker import MAX_SIZE, MIN_SIZE, file_hash, hash_bytes, hash_file, hash_stream


def _random(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def test_empty_content_has_no_blocks():
    h = hash_bytes(b"")
    assert h.size == 0 and h.blocks == ()
    assert h.content_hash == blake3.blake3((0).to_bytes(8, "big")).digest()


def test_small_content_is_one_block_and_file_hash_covers_block_hashes_and_size():
    data = b"hello world"
    h = hash_bytes(data)
    (block,) = h.blocks
    assert block.size == len(data) and block.hash == blake3.blake3(data).digest()
    assert h.content_hash == blake3.blake3(block.hash + len(data).to_bytes(8, "big")).digest()


def test_blocks_respect_bounds_and_cover_the_content():
    data = _random(8 << 20)
    h = hash_bytes(data)
    assert sum(b.size for b in h.blocks) == len(data) == h.size
    assert all(MIN_SIZE <= b.size <= MAX_SIZE for b in h.blocks[:-1])
    offset = 0
    for b in h.blocks:
        assert b.hash == blake3.blake3(data[offset : offset + b.size]).digest()
        offset += b.size
    assert h.content_hash == file_hash((b.hash for b in h.blocks), len(data))


@pytest.mark.parametrize("size", [0, 1, MIN_SIZE - 1, MIN_SIZE, MIN_SIZE + 1, MAX_SIZE, 3 * MAX_SIZE + 17])
def test_stream_and_bytes_agree_at_boundaries(size):
    data = _random(size, seed=size)
    assert hash_stream(io.BytesIO(data)) == hash_bytes(data)


class _Trickle(io.RawIOBase):
    """A stream that returns at most ``step`` bytes per read: short reads must not matter."""

    def __init__(self, data: bytes, step: int):
        self._data, self._pos, self._step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), self._step, len(self._data) - self._pos)
        b[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


@settings(max_examples=25, deadline=None)
@given(size=st.integers(0, 3 * MAX_SIZE), step=st.integers(1, 300_000), seed=st.integers(0, 1000))
def test_chunking_does_not_depend_on_read_sizes(size, step, seed):
    data = _random(size, seed)
    assert hash_stream(_Trickle(data, step)) == hash_bytes(data)


def test_an_insert_changes_only_nearby_blocks():
    data = _random(16 << 20)
    edited = data[:5_000_000] + b"inserted!" + data[5_000_000:]
    before = {b.hash for b in hash_bytes(data).blocks}
    after = hash_bytes(edited).blocks
    changed = [b for b in after if b.hash not in before]
    assert 1 <= len(changed) <= 2
    assert len(after) > 20


def test_hash_file_matches_bytes(tmp_path):
    data = _random(3 << 20, seed=7)
    p = tmp_path / "f"
    p.write_bytes(data)
    assert hash_file(p) == hash_bytes(data)
    assert hash_file(str(p)).content_hash == hash_bytes(data).content_hash


def test_hash_file_works_in_a_process_pool(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    p = tmp_path / "f"
    p.write_bytes(_random(MIN_SIZE * 3))
    with ProcessPoolExecutor(1) as pool:
        assert pool.submit(hash_file, str(p)).result() == hash_file(p)


@pytest.mark.slow
def test_file_over_4_gib_streams_in_constant_memory(tmp_path):
    """A sparse 4 GiB + 1 MiB file: hashed through the stream window, RSS barely moves."""
    p = tmp_path / "big"
    size = (4 << 30) + (1 << 20) + 3
    with open(p, "wb") as f:
        f.write(b"head")
        f.seek(size - 4)
        f.write(b"tail")
    proc = psutil.Process()
    rss_before = proc.memory_info().rss
    h = hash_file(p)
    growth = proc.memory_info().rss - rss_before
    assert h.size == size == sum(b.size for b in h.blocks)
    assert growth < 64 << 20, f"RSS grew by {growth >> 20} MiB"
    assert h.content_hash == chunker.file_hash((b.hash for b in h.blocks), size)


def test_chunk_constants_are_the_documented_ones():
    # They are part of the format: changing them changes every block hash.
    assert (chunker.AVG_SIZE, chunker.MIN_SIZE, chunker.MAX_SIZE) == (192 << 10, 64 << 10, 1 << 20)
    assert os.path.basename(chunker.__file__) == "chunker.py"
