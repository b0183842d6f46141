"""Deterministic randomized simulation of three devices syncing one folder through the memory relay.

Thousands of random user operations (writes, appends, deletes, renames, directory moves, mkdir,
rmdir, mode changes, symlinks, file→directory), sync steps (with and without a scan first, with
injected relay faults: failed calls, lost replies) and disconnections; then the network heals, the
devices sync until quiescent, and the oracle checks convergence, no lost write, both versions of
every conflict kept, no resurrected delete, no torn or temp file. The rules are spelled out in
``tests/engine/sim/simulator.py``.

Replay and soak:

* a failure prints its seed; ``COVE_SIM_SEED=<seed> COVE_SIM_OPS=<ops>`` runs exactly that run
  again (only that seed). Runs with the same seed and fewer ops are prefixes of it, so a failure
  can be shortened by lowering ``COVE_SIM_OPS`` while it still fails;
* ``COVE_SIM_OPS=<n>`` sets the operations per seed, ``COVE_SIM_RUNS=<k>`` runs k seeds
  (from ``COVE_SIM_FIRST_SEED``, default 1000) instead of the CI seeds: a local soak run is
  ``COVE_SIM_RUNS=50 COVE_SIM_OPS=3000 pytest tests/engine/test_simulation.py -k random``;
* ``COVE_SIM_TRACE=1`` prints every operation of the run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.engine.sim.simulator import SimFailure, Simulator

CI_SEEDS = (1, 2, 3, 4, 5, 6, 7, 8)
CI_OPS = 500


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Durability is not what these tests check (tests/engine/test_crash_consistency.py does);
    without fsync a run takes a fraction of the time on a loaded machine."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


def _seeds() -> list[int]:
    if os.environ.get("COVE_SIM_SEED"):
        return [int(os.environ["COVE_SIM_SEED"])]
    if os.environ.get("COVE_SIM_RUNS"):
        first = int(os.environ.get("COVE_SIM_FIRST_SEED", "1000"))
        return list(range(first, first + int(os.environ["COVE_SIM_RUNS"])))
    return list(CI_SEEDS)


def _ops() -> int:
    return int(os.environ.get("COVE_SIM_OPS", CI_OPS))


async def run_seed(seed: int, ops: int, base: Path) -> Simulator:
    sim = Simulator(seed, ops, base, durable=False)
    try:
        await sim.run()
    except SimFailure as e:
        trace_file = base / "sim-trace.txt"
        trace_file.write_text("\n".join(sim.trace) + "\n")
        pytest.fail(
            f"seed={seed} ops={ops}: {e}\n\nlast operations:\n{sim.trace_tail(40)}\n\n"
            f"full trace: {trace_file}\n"
            f"replay: COVE_SIM_SEED={seed} COVE_SIM_OPS={ops} "
            "python -m pytest tests/engine/test_simulation.py -k random",
            pytrace=False,
        )
    finally:
        if os.environ.get("COVE_SIM_TRACE"):
            print("\n".join(sim.trace))
    return sim


@pytest.mark.parametrize("seed", _seeds())
async def test_random_simulation(seed: int, tmp_path: Path) -> None:
    sim = await run_seed(seed, _ops(), tmp_path)
    print(f"seed={seed} ops={_ops()} {dict(sorted(sim.stats.items()))}")
    for line in sim.history_only:
        print("known bug (kept only in history):", line)
    assert sim.stats["syncs"] > 0 and sim.stats["applied"] > 0


async def test_a_seed_replays_exactly(tmp_path: Path) -> None:
    """The same seed gives the same operations, the same outcomes of every sync step and the same
    final folder: a failing seed can be replayed."""
    a = await run_seed(7, 150, tmp_path / "one")
    b = await run_seed(7, 150, tmp_path / "two")
    assert a.trace == b.trace
    assert a.stats == b.stats


# -- scenarios the simulator found, reduced (three devices with the simulator's clock) ---------


def _devices(tmp_path: Path) -> tuple[Simulator, list]:
    sim = Simulator(0, 0, tmp_path, durable=False)
    return sim, sim.devices


def _write(sim: Simulator, dev, rel: str, data: bytes) -> None:
    path = dev.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    path.write_bytes(data)
    t = sim.clock.advance(1_000_000_000)
    os.utime(path, ns=(t, t))


async def _sync(*devs, scan: bool = True) -> None:
    for d in devs:
        if scan:
            await d.runner.scan_async()
        await d.runner.sync_async()


def _contents(dev) -> set:
    return {e[1] for e in dev.tree().values() if e[0] in ("file", "link")}


def _version(dev, rel: str):
    r = dev.runner.index.get(rel)
    return None if r is None else (r.deleted, r.version)


async def test_type_change_adds_no_version_of_its_own(tmp_path: Path) -> None:
    """Fixed in sync/executor.py (_vacate): the DELETE half of a type change left the old record in
    the index, so the create that followed saw the disk differ, rescanned, and recorded a delete of
    this device's own (a version no other device had; published, a spurious delete)."""
    sim, (a, b, c) = _devices(tmp_path)
    os.symlink("target", a.root / "p")
    await _sync(a, b)
    _write(sim, b, "p", b"a file now")
    await _sync(b, a, b)
    assert (a.root / "p").read_bytes() == b"a file now"
    assert _version(a, "p") == _version(b, "p")
    for d in (a, b, c):
        d.close()


async def test_conflict_copy_then_download_adds_no_version_of_its_own(tmp_path: Path) -> None:
    """Fixed in sync/executor.py (_vacate after a conflict copy): same as above, for the download
    of the winner after the loser was renamed aside."""
    sim, (a, b, c) = _devices(tmp_path)
    _write(sim, a, "f.txt", b"v0")
    await _sync(a, b)
    _write(sim, b, "f.txt", b"b's edit")
    _write(sim, a, "f.txt", b"a's later edit")
    await _sync(b, a, b, a)
    assert _contents(a) == _contents(b) == {b"b's edit", b"a's later edit"}
    assert _version(a, "f.txt") == _version(b, "f.txt")
    for d in (a, b, c):
        d.close()


async def test_tombstone_under_a_path_that_became_a_file(tmp_path: Path) -> None:
    """Fixed in sync/executor.py (_apply): an index-only action went through resolve_inside, which
    refuses a path whose parent is a file, so the tombstone of d/x failed and was retried forever
    on a device where d is a file (its edit beat the delete of directory d)."""
    sim, (a, b, c) = _devices(tmp_path)
    _write(sim, b, "keep.txt", b"the folder is not emptied")
    _write(sim, b, "d/x", b"inside")
    await _sync(b)
    (b.root / "d" / "x").unlink()
    (b.root / "d").rmdir()
    await _sync(b)
    _write(sim, a, "d", b"a file named d")
    await _sync(a, b, a)
    assert (a.root / "d").read_bytes() == (b.root / "d").read_bytes() == b"a file named d"
    assert not a.syncer._retry and not b.syncer._retry
    for d in (a, b, c):
        d.close()


async def test_failed_move_plans_its_old_path_again(tmp_path: Path) -> None:
    """Fixed in sync/executor.py (execute): when a MOVE could not happen (its destination held an
    unscanned file), only the destination was planned again; the tombstone of the old path was
    never applied and the renamed file stayed at its old path on that device."""
    sim, (a, b, c) = _devices(tmp_path)
    _write(sim, a, "old.txt", b"moving content")
    await _sync(a, b)
    (a.root / "old.txt").rename(a.root / "new.txt")
    await _sync(a)
    _write(sim, b, "new.txt", b"b's unscanned file")
    await _sync(b, scan=False)
    await _sync(b, a, b, a)
    assert a.tree() == b.tree()
    assert "old.txt" not in b.tree()
    assert _contents(b) == {b"moving content", b"b's unscanned file"}
    for d in (a, b, c):
        d.close()


async def test_edit_found_by_a_rescan_is_published_before_it_is_merged(tmp_path: Path) -> None:
    """Fixed in sync/syncer.py (apply publishes after a rescan; publish loops after _upload's
    rescan): a local change that the executor's rescan found was planned unpublished. Winning, it
    reached the others only merged, dominating the version it beat, so that version's device kept
    no conflict copy (a lost symlink here); losing, its counter stayed on this device only."""
    sim, (a, b, c) = _devices(tmp_path)
    os.symlink("somewhere", b.root / "p")
    await _sync(b)
    _write(sim, c, "p", b"c's unscanned file, written later")
    await _sync(c, scan=False)
    await _sync(b, c, b, c)
    assert b.tree() == c.tree()
    assert _contents(b) == {"somewhere", b"c's unscanned file, written later"}
    assert _version(b, "p") == _version(c, "p")
    for d in (a, b, c):
        d.close()


async def test_loser_merged_into_winner_then_superseded_keeps_a_conflict_copy(tmp_path: Path) -> None:
    """Fixed in sync/planner.py (every device that sees a content conflict keeps the losing
    versions as conflict copies): A's edit beat B's; A stored the merged vector, which covers B's
    version, and edited again before B synced, so B only ever saw a version dominating its own and
    replaced it without a copy. Now A made the copy (downloaded from B's record) when it resolved."""
    sim, (a, b, c) = _devices(tmp_path)
    _write(sim, a, "f.txt", b"v0")
    await _sync(a, b)
    _write(sim, b, "f.txt", b"B1: b's edit, the older one")
    _write(sim, a, "f.txt", b"A1: a's edit, the newer one")
    await _sync(b)  # publishes B1 before it hears of A1
    await _sync(a)  # A1 beats B1 on a: stored with the merged vector {a, b}
    _write(sim, a, "f.txt", b"A2: a edits again")
    await _sync(a)  # A2 = merged vector + a: it dominates B1
    await _sync(b, a, b, c)  # b only ever sees A2, which dominates its B1; A's copy of B1 arrives
    assert b"B1: b's edit, the older one" in _contents(b), "b's concurrent edit was not kept as a conflict copy"
    assert a.tree() == b.tree() == c.tree()
    assert sum("conflict from b" in p for p in b.tree()) == 1
    for d in (a, b, c):
        d.close()


async def test_superseded_losing_symlink_is_kept_and_copies_made_twice_merge(tmp_path: Path) -> None:
    """A losing symlink is kept as a symlink; C and A both make the copy independently (same name
    from B's device name and the link's mtime, same version): they merge without a new conflict."""
    sim, (a, b, c) = _devices(tmp_path)
    _write(sim, a, "p", b"v0")
    await _sync(a, b, c)
    (b.root / "p").unlink()
    os.symlink("b's link", b.root / "p")
    t = sim.clock.advance(1_000_000_000)
    os.utime(b.root / "p", ns=(t, t), follow_symlinks=False)
    _write(sim, a, "p", b"A1: a's later edit")
    await _sync(b, a)
    await _sync(c)  # C resolves too: it makes the same copy
    _write(sim, a, "p", b"A2: a edits again")
    await _sync(a, b, c, a, b, c)
    assert a.tree() == b.tree() == c.tree()
    links = [p for p, e in b.tree().items() if e == ("link", "b's link")]
    assert len(links) == 1 and "conflict from b" in links[0]
    assert _version(a, links[0]) == _version(b, links[0]) == _version(c, links[0])
    for d in (a, b, c):
        d.close()
