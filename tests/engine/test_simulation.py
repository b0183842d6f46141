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

CI_SEEDS = (1, 2, 3, 4, 5, 6)
CI_OPS = 400


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
    sim = Simulator(seed, ops, base)
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
    assert sim.stats["syncs"] > 0


async def test_a_seed_replays_exactly(tmp_path: Path) -> None:
    """The same seed gives the same operations, the same outcomes of every sync step and the same
    final folder: a failing seed can be replayed."""
    a = await run_seed(7, 150, tmp_path / "one")
    b = await run_seed(7, 150, tmp_path / "two")
    assert a.trace == b.trace
    assert a.stats == b.stats
