"""A crash in the middle of an index update leaves the index consistent.

A worker process (``crash_worker.py``) commits numbered batches into a real index file; the test
kills it with SIGKILL after a seeded random number of progress lines (no sleeps: the kill point is
"after the N-th line", and the worker keeps running while the signal is on its way, so it lands
anywhere: mid-transaction, mid-commit, between batches). Each time, the index is reopened and
checked: integrity ok, every batch the worker reported committed fully present, no batch half
applied. The next worker continues on the same file, so recovery is exercised repeatedly.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sync.index import Index
from sync.records import VersionVector

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("crash_worker.py")
SLOTS = 20
ITERATIONS = 12  # at least this many kills...
MIN_KILLS_INSIDE = 3  # ...and more (up to MAX_ITERATIONS) until this many landed mid-transaction
MAX_ITERATIONS = 40
SEED = 20261101


def start_worker(db: Path, first: int, last: int) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(db), str(first), str(last), str(SLOTS)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def read_line(proc: subprocess.Popen[str]) -> str:
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if not line:
        proc.wait()
        raise AssertionError(f"worker exited early ({proc.returncode}): {proc.stderr.read()}")  # type: ignore[union-attr]
    return line.strip()


def check_consistent(db: Path, reported: int, started: int) -> int:
    """Assert the index holds exactly batches 1..m with reported <= m <= started; returns m.
    (A batch whose "inside" line was printed may or may not have committed before the kill.)"""
    raw = sqlite3.connect(db)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        raw.close()
    with Index.open(db, "CHECKER") as index:
        last = int(index.get_meta("last_batch", "0"))
        assert reported <= last <= started, (reported, last, started)
        slots = [index.get(f"slot/{i:02}") for i in range(SLOTS)]
        if last == 0:
            assert slots == [None] * SLOTS
        else:
            # Every slot carries the same batch: no batch is half applied.
            assert {(s.size, s.content_hash) for s in slots} == {(last, last.to_bytes(32, "big"))}
            assert {s.version for s in slots} == {VersionVector.of({"WORKER": last})}
        batches = [r.path for r in index.records(prefix="batch")]
        assert batches == [f"batch/{n:05}" for n in range(1, last + 1)]
        history = index.history()
        assert [(h.path, h.stored_name) for h in history] == [(f"batch/{n:05}", f"h{n}") for n in range(1, last + 1)]
        assert index.sequence() == last * (SLOTS + 1)
        assert index.count() == SLOTS * (last > 0) + last
    return last


def progress(line: str, reported: int, started: int) -> tuple[int, int]:
    """Fold one progress line into (last batch reported committed, last batch begun)."""
    kind, n = line.split()
    return (int(n), started) if kind == "committed" else (reported, int(n))


@pytest.mark.timeout(60)
def test_kill_9_during_index_updates_leaves_a_consistent_index(tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    rng = random.Random(SEED)
    committed = 0
    kills_inside = iterations = 0
    while iterations < ITERATIONS or (kills_inside < MIN_KILLS_INSIDE and iterations < MAX_ITERATIONS):
        iterations += 1
        proc = start_worker(db, committed + 1, committed + 1000)
        reported, started = committed, committed
        try:
            assert read_line(proc) == "ready"
            for _ in range(rng.randint(1, 30)):
                reported, started = progress(read_line(proc), reported, started)
            proc.kill()
            proc.wait()
            # Whatever the worker printed before it died is still in the pipe: read it all, so the
            # bounds below are exact, not a guess about how far it ran ahead.
            for line in proc.stdout:  # type: ignore[union-attr]
                reported, started = progress(line.strip(), reported, started)
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]
        kills_inside += started > reported
        committed = check_consistent(db, reported, max(reported, started))
    assert kills_inside > 0, "no kill was sent while a transaction was open"

    # Afterwards the index still works: a worker that is not killed finishes cleanly.
    proc = start_worker(db, committed + 1, committed + 3)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.split("\n")[-2] == "done"
    assert check_consistent(db, committed + 3, committed + 3) == committed + 3
