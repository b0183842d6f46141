"""Three devices and a real relay on 127.0.0.1, through the engine facade the CLI and app use:
convergence after mixed edits, deletes, renames, directory moves and conflicting edits; the relay
stopped and restarted mid-sync; a device offline that edits and comes back; nothing of names or
contents reaches the relay in the clear; notifications wake a running daemon at once."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from sync.config import Dirs
from sync.engine import Engine
from sync.errors import CoveError
from tests.engine.sync_harness import tree

PASSWORD = "correct horse battery"


async def make_engines(tmp_path: Path, relay_server, n: int = 3) -> tuple[list[Engine], list[Path], str]:
    await relay_server.create_user("alice", PASSWORD)
    engines = [Engine.create(Dirs.under(tmp_path / f"dev{i}")) for i in range(n)]
    roots = [tmp_path / f"dev{i}" / "Cove" for i in range(n)]
    await engines[0].login(relay_server.base, "alice", PASSWORD)
    for e in engines[1:]:
        # Device linking hands the account keys over: a pairing code from device 0, the password here.
        offer = await engines[0].link_offer()
        await e.link_accept(offer.code, relay_server.base, "alice", PASSWORD)
    folder = await engines[0].add_relay_folder(roots[0])
    for e, root in zip(engines[1:], roots[1:]):
        await e.add_relay_folder(root, folder.id)
    return engines, roots, folder.id


async def rounds(engines: list[Engine], n: int = 3) -> None:
    for _ in range(n):
        for e in engines:
            await e.sync_now()


def write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)


async def test_three_devices_converge_through_the_relay(tmp_path: Path, relay_server) -> None:
    engines, (ra, rb, rc), _ = await make_engines(tmp_path, relay_server)
    write(ra / "docs" / "plan.md", "# plan\n")
    write(ra / "docs" / "notes.txt", "notes")
    write(rb / "photos" / "cat.jpg", os.urandom(400_000))
    write(rc / "todo.txt", "1. sync")
    await rounds(engines)
    assert tree(ra) == tree(rb) == tree(rc)

    # mixed edits, a delete, a rename, a directory move, and a conflicting edit
    write(ra / "docs" / "plan.md", "# plan v2\n")
    (rb / "todo.txt").unlink()
    (rc / "docs" / "notes.txt").rename(rc / "docs" / "notes-renamed.txt")
    (rb / "photos").rename(rb / "pictures")
    write(rb / "docs" / "plan.md", "# plan from b\n")  # concurrent with a's edit
    await rounds(engines)
    ta, tb, tc = tree(ra), tree(rb), tree(rc)
    assert ta == tb == tc
    assert "todo.txt" not in ta
    assert "docs/notes-renamed.txt" in ta and "docs/notes.txt" not in ta
    assert "pictures/cat.jpg" in ta and "photos/cat.jpg" not in ta
    plans = sorted(v for k, v in ta.items() if k.startswith("docs/plan"))
    assert plans == sorted([b"# plan v2\n", b"# plan from b\n"])
    assert all(len(e.conflicts()) == 1 for e in engines)
    for e in engines:
        e.close()


async def test_relay_restart_and_offline_device(tmp_path: Path, relay_server) -> None:
    engines, (ra, rb, rc), _ = await make_engines(tmp_path, relay_server)
    write(ra / "a.txt", "a1")
    await rounds(engines, 2)
    # the relay goes away mid-sync: sync fails cleanly, nothing is lost
    write(ra / "during-outage.txt", "queued while the relay was down")
    await relay_server.stop()
    with pytest.raises(CoveError):
        await engines[0].sync_now()
    await relay_server.start()
    # c is offline for a while and edits meanwhile
    write(rc / "offline.txt", "written offline")
    write(rb / "b.txt", "b1")
    for e in engines[:2]:
        await e.sync_now()
    await rounds(engines, 3)
    ta = tree(ra)
    assert ta == tree(rb) == tree(rc)
    assert ta["during-outage.txt"] == b"queued while the relay was down"
    assert ta["offline.txt"] == b"written offline"
    for e in engines:
        e.close()


async def test_relay_sees_no_names_contents_or_sizes(tmp_path: Path, relay_server) -> None:
    engines, (ra, rb), _ = await make_engines(tmp_path, relay_server, n=2)
    secret_name = "quarterly-salaries-zebra.xlsx"
    secret_text = b"the-secret-content-marker-" + b"q" * 40_000 + b"-end"
    write(ra / "private" / secret_name, secret_text)
    write(rb / "diary-of-a-platypus.txt", "dear diary, marker-platypus")
    await rounds(engines, 2)
    assert (rb / "private" / secret_name).read_bytes() == secret_text
    needles = [secret_name.encode(), b"the-secret-content-marker", b"quarterly", b"platypus", b"diary", b"private"]
    for dirpath, _, files in os.walk(relay_server.config.data_dir):
        for f in files:
            data = Path(dirpath, f).read_bytes()
            for needle in needles:
                assert needle not in data, f"{needle!r} found in relay file {f}"
    for e in engines:
        e.close()


async def test_daemon_hears_changes_at_once(tmp_path: Path, relay_server) -> None:
    engines, (ra, rb), _ = await make_engines(tmp_path, relay_server, n=2)
    stop = asyncio.Event()
    got_it = asyncio.Event()
    started = [asyncio.Event(), asyncio.Event()]

    def reporter(i: int):
        def report(line: str) -> None:
            if "scanning" in line or "applied" in line or "watching" in line:
                started[i].set()
            if i == 1 and "hello.txt" in line and "applied" in line:
                got_it.set()
        return report

    tasks = [asyncio.create_task(e.run(stop, reporter(i))) for i, e in enumerate(engines)]
    try:
        write(ra / "hello.txt", "hi from a")
        await asyncio.wait_for(got_it.wait(), timeout=30)
        assert (rb / "hello.txt").read_text() == "hi from a"
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    for e in engines:
        e.close()
