"""The watcher: debounce rules as tables, event filtering, and a real observer on a temp tree.

Tests wait for outcomes on asyncio events with deadlines; they never sleep to wait.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
)

from sync.ignore import TEMP_PREFIX, IgnoreRules
from sync.index import Index
from sync.scanner import RootMissing, RootNotMarked, Scanner
from sync.watcher import FULL, DirtyAggregator, Watcher, event_paths, keep_path

ROOT = "/r"


# -- pure parts ------------------------------------------------------------------------------


def test_aggregator_waits_for_quiet():
    agg = DirtyAggregator(quiet=0.1, max_wait=1.0)
    assert agg.deadline() is None and agg.take(5.0) is None
    agg.add({"a"}, now=0.0)
    assert agg.deadline() == pytest.approx(0.1)
    agg.add({"b"}, now=0.05)
    assert agg.deadline() == pytest.approx(0.15)
    assert agg.take(0.12) is None
    assert agg.take(0.16) == {"a", "b"}
    assert agg.deadline() is None


def test_aggregator_caps_the_wait():
    agg = DirtyAggregator(quiet=0.1, max_wait=1.0)
    for i in range(30):  # a writer that never pauses for 100 ms
        agg.add({f"p{i % 3}"}, now=i * 0.05)
    assert agg.deadline() == pytest.approx(1.0)
    assert agg.take(1.0) == {"p0", "p1", "p2"}


def test_aggregator_overflow_becomes_a_full_rescan():
    agg = DirtyAggregator(quiet=0.1, max_wait=1.0, max_batch=3)
    agg.add({"a", "b", "c", "d"}, now=0.0)
    agg.add({"e"}, now=0.01)
    assert agg.take(1.0) == {FULL}


def test_aggregator_ignores_empty_adds():
    agg = DirtyAggregator()
    agg.add(set(), now=0.0)
    assert agg.deadline() is None


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (FileCreatedEvent("/r/a.txt"), [("a.txt", False)]),
        (FileModifiedEvent("/r/d/a.txt"), [("d/a.txt", False)]),
        (FileClosedEvent("/r/a"), [("a", False)]),
        (FileMovedEvent("/r/a", "/r/b/c"), [("a", False), ("b/c", False)]),
        (FileMovedEvent("/elsewhere/a", "/r/in"), [("in", False)]),
        (FileMovedEvent("/r/out", "/elsewhere/x"), [("out", False)]),
        (DirCreatedEvent("/r/new"), [("new", True)]),
        (DirDeletedEvent("/r"), [("", True)]),
        (DirModifiedEvent("/r/d"), []),  # a child's own event says more
        (FileOpenedEvent("/r/a"), []),  # our own reads
        (FileClosedNoWriteEvent("/r/a"), []),
    ],
)
def test_event_paths_table(event, expected):
    assert event_paths(event, ROOT) == expected


RULES = IgnoreRules.from_text("*.log\nbuild/\n")


@pytest.mark.parametrize(
    ("rel", "is_dir", "kept"),
    [
        ("a.txt", False, True),
        ("x.log", False, False),
        ("build", True, False),
        ("build/deep/file.c", False, False),
        (".cove/index.db-wal", False, False),
        (".cove", True, False),
        ("d/" + TEMP_PREFIX + "123", False, False),
        ("", True, False),
    ],
)
def test_keep_path_table(rel, is_dir, kept):
    assert keep_path(rel, is_dir, RULES) is kept


# -- a real observer -------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "folder"
    (r / ".cove").mkdir(parents=True)
    (r / ".cove" / "folder.json").write_text('{"folder_id": "x"}')
    return r


class Recorder:
    """Collects batches and errors; tests wait on it with deadlines."""

    def __init__(self) -> None:
        self.batches: list[set[str]] = []
        self.errors: list[object] = []
        self.changed = asyncio.Event()

    def on_dirty(self, paths: set[str]) -> None:
        self.batches.append(set(paths))
        self.changed.set()

    def on_error(self, error) -> None:
        self.errors.append(error)
        self.changed.set()

    @property
    def seen(self) -> set[str]:
        return set().union(*self.batches) if self.batches else set()

    async def until(self, predicate, timeout: float = 5.0) -> None:
        async def loop():
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)


@pytest.fixture
async def watched(root):
    rec = Recorder()
    w = Watcher(root, rec.on_dirty, on_error=rec.on_error, full_rescan_interval=None)
    w.start()
    yield w, rec
    w.stop()


async def test_a_write_becomes_a_dirty_path(root, watched):
    _, rec = watched
    (root / "hello.txt").write_text("hi")
    await rec.until(lambda: "hello.txt" in rec.seen)


async def test_ignored_and_engine_paths_are_filtered(root, watched):
    _, rec = watched
    (root / ".coveignore").write_text("*.log\n")
    await rec.until(lambda: FULL in rec.seen)  # new rules: rescan everything once
    rec.batches.clear()
    (root / "noise.log").write_text("x")
    (root / ".cove" / "index.db").write_text("x")
    (root / (TEMP_PREFIX + "part")).write_text("x")
    (root / "sentinel").write_text("x")
    await rec.until(lambda: "sentinel" in rec.seen)
    assert rec.seen == {"sentinel"}


async def test_a_move_dirties_both_ends(root, watched):
    _, rec = watched
    (root / "a").write_text("x")
    await rec.until(lambda: "a" in rec.seen)
    (root / "sub").mkdir()
    os.rename(root / "a", root / "sub" / "b")
    await rec.until(
        lambda: {"a", "sub/b"} <= set().union(*rec.batches[1:]) if len(rec.batches) > 1 else False
    )


async def test_writes_are_batched(root, watched):
    _, rec = watched
    for i in range(50):
        (root / f"f{i}").write_text(str(i))
    await rec.until(lambda: {f"f{i}" for i in range(50)} <= rec.seen)
    assert len(rec.batches) < 50


async def test_root_loss_is_an_error_state_then_a_full_rescan_when_back(root, tmp_path, watched):
    w, rec = watched
    (root / "file").write_text("x")
    await rec.until(lambda: "file" in rec.seen)
    rec.batches.clear()
    parked = tmp_path / "parked"
    shutil.move(root, parked)
    await rec.until(lambda: rec.errors != [])
    assert isinstance(rec.errors[0], (RootMissing, RootNotMarked)) and w.error is not None
    assert rec.batches == []  # never a list of "deleted" paths
    shutil.move(parked, root)
    w.tick()
    await rec.until(lambda: rec.errors[-1] is None and FULL in rec.seen)
    (root / "after").write_text("x")  # the observer was re-armed on the new directory
    await rec.until(lambda: "after" in rec.seen)


async def test_periodic_full_rescan_follows_the_injected_clock(root):
    now = [1000.0]
    rec = Recorder()
    w = Watcher(root, rec.on_dirty, full_rescan_interval=3600, clock=lambda: now[0], tick_interval=0.01)
    w.start()
    try:
        w.tick()
        assert rec.batches == []
        now[0] += 3600
        await rec.until(lambda: rec.batches == [{FULL}])
    finally:
        w.stop()


async def test_start_on_a_missing_root_reports_an_error(tmp_path):
    rec = Recorder()
    w = Watcher(tmp_path / "nope", rec.on_dirty, on_error=rec.on_error, full_rescan_interval=None)
    w.start()
    try:
        assert isinstance(w.error, RootMissing) and isinstance(rec.errors[0], RootMissing)
    finally:
        w.stop()


async def test_settled_write_reaches_the_index_quickly(root, tmp_path):
    """Watcher -> targeted scan -> real index: the end-to-end latency the issue asks for."""
    index = Index.open(tmp_path / "index.db", device="AAAAAAAAAAAAA")
    scanner = Scanner(root, index)
    scanner.scan()
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    lock = asyncio.Lock()

    async def rescan(paths: set[str]) -> None:
        async with lock:
            await loop.run_in_executor(None, scanner.scan, paths)
        if index.get("doc.txt") is not None:
            done.set()

    tasks: set[asyncio.Task] = set()

    def on_dirty(paths: set[str]) -> None:
        t = loop.create_task(rescan(paths))
        tasks.add(t)
        t.add_done_callback(tasks.discard)

    w = Watcher(root, on_dirty, full_rescan_interval=None)
    w.start()
    try:
        t0 = time.perf_counter()
        (root / "doc.txt").write_text("settled")
        await asyncio.wait_for(done.wait(), 2.0)
        latency = time.perf_counter() - t0
        print(f"settled write indexed in {latency * 1000:.0f} ms")
        assert latency < 0.3, f"{latency * 1000:.0f} ms"
    finally:
        w.stop()
        for t in list(tasks):
            await t
        index.close()
