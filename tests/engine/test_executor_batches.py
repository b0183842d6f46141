"""The executor's batched downloads on real files and a real index: small files staged in groups,
durable in bulk (syncfs where there is one), runs of blocks from sources with ``get_many``, the
next batch staging while one installs, and staging outside the folder."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from sync import chunker, executor
from sync.config import TEMP_PREFIX, VersioningConfig
from sync.executor import BlockUnavailable, Executor, choose_staging, default_staging
from sync.fileops import remove_stale_temps
from sync.history import History
from sync.index import Index
from sync.planner import Action, ActionKind, Plan
from sync.records import Block, FileRecord, FileType, RemoteRecord, VersionVector

ORIGIN = "A" * 56
VV = VersionVector().bump("devA")


class MemoryBlocks:
    """Blocks by hash; ``bad`` hashes come back corrupted; counts the calls."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.bad: set[bytes] = set()
        self.gets = 0

    def add(self, content: bytes) -> tuple[Block, ...]:
        hashed = chunker.hash_bytes(content)
        off = 0
        for b in hashed.blocks:
            self.data[b.hash] = content[off : off + b.size]
            off += b.size
        return hashed.blocks

    async def get(self, block: Block, source: RemoteRecord) -> bytes:
        self.gets += 1
        await asyncio.sleep(0)
        data = self.data[block.hash]
        return b"x" * len(data) if block.hash in self.bad else data


class RunBlocks(MemoryBlocks):
    def __init__(self) -> None:
        super().__init__()
        self.runs: list[int] = []

    async def get_many(self, blocks: list[Block], source: RemoteRecord) -> list[bytes]:
        self.runs.append(len(blocks))
        return [await self.get(b, source) for b in blocks]


def _setup(tmp_path: Path, blocks: MemoryBlocks, staging: Path | None = None) -> tuple[Path, Index, Executor]:
    root = tmp_path / "root"
    (root / ".cove").mkdir(parents=True)
    index = Index.open(tmp_path / "index.db", "devB")
    ex = Executor(root, index, History(root, index, VersioningConfig()), blocks, staging=staging)
    return root, index, ex


def _download(blocks: MemoryBlocks, path: str, content: bytes) -> Action:
    bl = blocks.add(content)
    size = len(content)
    r = FileRecord(path=path, type=FileType.FILE, size=size, mtime_ns=time.time_ns(), mode=0o640,
                   content_hash=chunker.file_hash([b.hash for b in bl], size), blocks=bl, version=VV)
    return Action(ActionKind.DOWNLOAD, path, r, source=RemoteRecord(ORIGIN, r))


def _mkdir(path: str) -> Action:
    r = FileRecord(path=path, type=FileType.DIRECTORY, mode=0o755, version=VV)
    return Action(ActionKind.MKDIR, path, r, source=RemoteRecord(ORIGIN, r))


def test_many_small_files_and_one_large_file_in_batches(tmp_path: Path) -> None:
    blocks = RunBlocks()
    root, index, ex = _setup(tmp_path, blocks, staging=tmp_path / "staging")
    contents = {f"d{i % 7}/f{i:04d}": os.urandom(100 + i) for i in range(600)}  # several batches
    big = os.urandom(9 * 1024 * 1024)  # more than one run of blocks
    actions = [_mkdir(f"d{j}") for j in range(7)]
    actions += [_download(blocks, p, c) for p, c in contents.items()]
    actions.append(_download(blocks, "big.bin", big))
    report = asyncio.run(ex.execute(Plan(actions=tuple(actions))))
    assert not report.failed and not report.rescan
    assert len(report.applied) == len(actions)
    for p, c in contents.items():
        assert (root / p).read_bytes() == c
        assert (root / p).stat().st_mode & 0o777 == 0o640
        assert index.get(p) is not None
    assert (root / "big.bin").read_bytes() == big
    assert max(blocks.runs) > 1, "a large file comes in runs of blocks"
    assert report.bytes_from_network == sum(map(len, contents.values())) + len(big)
    assert not list((tmp_path / "staging").iterdir()), "no temp files left"


def test_a_bad_block_fails_only_its_own_file(tmp_path: Path) -> None:
    blocks = MemoryBlocks()
    root, index, ex = _setup(tmp_path, blocks)
    good = [_download(blocks, f"g{i}", os.urandom(50)) for i in range(5)]
    bad = _download(blocks, "bad", os.urandom(60))
    blocks.bad.add(bad.record.blocks[0].hash)
    report = asyncio.run(ex.execute(Plan(actions=(*good[:2], bad, *good[2:]))))
    assert set(report.failed) == {"bad"}
    assert not (root / "bad").exists() and index.get("bad") is None
    assert {a.path for a in report.applied} == {a.path for a in good}


def test_a_later_batch_copies_blocks_an_earlier_batch_installed(tmp_path: Path) -> None:
    """Files sharing content across batches: the later one waits for the install and copies
    locally instead of fetching again."""
    blocks = MemoryBlocks()
    root, index, ex = _setup(tmp_path, blocks)
    shared = os.urandom(3000)
    first = [_download(blocks, f"a{i:03d}", os.urandom(40)) for i in range(executor.BATCH_FILES - 1)]
    first.append(_download(blocks, "a_shared", shared))
    second = [_download(blocks, "b_shared", shared), _download(blocks, "b_other", os.urandom(40))]
    report = asyncio.run(ex.execute(Plan(actions=(*first, *second))))
    assert not report.failed
    assert (root / "b_shared").read_bytes() == shared
    assert report.bytes_from_local == len(shared)


def test_without_syncfs_every_file_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor, "HAVE_SYNCFS", False)
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(executor.os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    blocks = MemoryBlocks()
    root, _, ex = _setup(tmp_path, blocks)
    actions = [_download(blocks, f"f{i}", os.urandom(10)) for i in range(4)]
    report = asyncio.run(ex.execute(Plan(actions=tuple(actions))))
    assert len(report.applied) == 4
    assert len(synced) >= 4


def test_staging_outside_the_folder_or_inside_when_it_cannot(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / ".cove").mkdir(parents=True)
    assert choose_staging(root, tmp_path / "data" / "staging") == tmp_path / "data" / "staging"
    blocker = tmp_path / "file"
    blocker.write_bytes(b"not a directory")
    assert choose_staging(root, blocker / "staging") == default_staging(root)


def test_stale_temps_only_when_old(tmp_path: Path) -> None:
    (tmp_path / f"{TEMP_PREFIX}fresh").write_bytes(b"being written")
    assert remove_stale_temps(tmp_path, older_than_s=3600) == []
    assert [p.name for p in remove_stale_temps(tmp_path)] == [f"{TEMP_PREFIX}fresh"]


def test_unavailable_block_is_a_failed_file_not_a_crash(tmp_path: Path) -> None:
    class Nowhere(MemoryBlocks):
        async def get(self, block: Block, source: RemoteRecord) -> bytes:
            raise BlockUnavailable("nobody has it", source.record.path)

    blocks = Nowhere()
    root, _, ex = _setup(tmp_path, blocks)
    actions = [_download(blocks, f"f{i}", os.urandom(10)) for i in range(3)]
    report = asyncio.run(ex.execute(Plan(actions=tuple(actions))))
    assert set(report.failed) == {"f0", "f1", "f2"}
    assert not any((root / f"f{i}").exists() for i in range(3))


def test_blocks_read_into_one_buffer_are_packed_and_verified(tmp_path: Path) -> None:
    """What a LAN peer serves: found blocks packed after the header room, each verified against
    its hash; a block no file holds, and a block whose file changed on disk, are not found."""
    blocks = MemoryBlocks()
    root, index, ex = _setup(tmp_path, blocks)
    one, two = os.urandom(3 * 1024 * 1024), os.urandom(300_000)
    report = asyncio.run(ex.execute(Plan(actions=(_download(blocks, "one", one), _download(blocks, "two", two)))))
    assert not report.failed
    b_one, b_two = index.get("one").blocks, index.get("two").blocks
    assert len(b_one) > 2
    unknown = Block(b"\x01" * 32, 10)
    ask = [b_one[0], unknown, b_two[0], *b_one[1:]]
    room = 17
    buf = bytearray(b"h" * room + bytes(sum(b.size for b in ask)))
    found, end = executor.read_local_blocks_into(root, index, ask, buf, room)
    assert found == [True, False, True] + [True] * (len(b_one) - 1)
    assert bytes(buf[:room]) == b"h" * room
    first = b_one[0].size
    assert bytes(buf[room:end]) == one[:first] + two[: b_two[0].size] + one[first:]
    # the file changes on disk behind the index's back: its blocks no longer verify
    with open(root / "two", "r+b") as f:
        f.write(b"\0" * 16)
    found, end = executor.read_local_blocks_into(root, index, [b_two[0], b_one[0]], buf, room)
    assert found == [False, True] and bytes(buf[room:end]) == one[:first]


def test_verified_blocks_are_written_without_a_second_hash_and_only_for_their_own_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sources that checked a block hand over chunker.Verified: the writer trusts it for that
    block only. A Verified of another block (a source mixing blocks up) is hashed and refused."""

    class CheckingBlocks(MemoryBlocks):
        swap: dict[bytes, bytes] = {}

        async def get(self, block: Block, source: RemoteRecord) -> bytes:
            h = self.swap.get(block.hash, block.hash)
            checked = chunker.verified(self.data[h], h)
            assert checked is not None
            return checked

    blocks = CheckingBlocks()
    root, _, ex = _setup(tmp_path, blocks)
    good = _download(blocks, "good.bin", os.urandom(200_000))
    hashed: list[int] = []
    real = chunker.block_hash
    monkeypatch.setattr(chunker, "block_hash", lambda data: (hashed.append(len(data)), real(data))[1])
    report = asyncio.run(ex.execute(Plan(actions=(good,))))
    assert not report.failed and (root / "good.bin").exists()
    assert len(hashed) == len(good.record.blocks)  # once each, by the source; never by the writer
    a, b = os.urandom(100), os.urandom(100)
    one, other = _download(blocks, "one", a), _download(blocks, "other", b)
    CheckingBlocks.swap = {one.record.blocks[0].hash: other.record.blocks[0].hash}  # one's block is b
    report = asyncio.run(ex.execute(Plan(actions=(one,))))
    assert set(report.failed) == {"one"} and not (root / "one").exists()
    assert chunker.verified(a, other.record.blocks[0].hash) is None
