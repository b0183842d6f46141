"""Two and three devices through the in-memory relay: the whole engine path (scan, publish,
receive, plan, execute) with real folders."""

from __future__ import annotations

from pathlib import Path

from tests.engine.sync_harness import make_devices


async def converge(devices, rounds: int = 4) -> None:
    for _ in range(rounds):
        for d in devices:
            await d.sync()


async def test_edit_travels_and_converges(tmp_path: Path) -> None:
    relay, (a, b) = make_devices(tmp_path, ["a", "b"])
    (a.root / "hello.txt").write_text("hello from a")
    (a.root / "dir").mkdir()
    (a.root / "dir" / "x.bin").write_bytes(b"x" * 300_000)
    await converge([a, b])
    assert b.files() == a.files()
    assert (b.root / "hello.txt").read_text() == "hello from a"
    (b.root / "hello.txt").write_text("edited on b")
    await converge([a, b])
    assert (a.root / "hello.txt").read_text() == "edited on b"
    for d in (a, b):
        d.close()


async def test_concurrent_edits_keep_both_versions(tmp_path: Path) -> None:
    relay, (a, b) = make_devices(tmp_path, ["laptop", "desktop"])
    (a.root / "report.txt").write_text("v0")
    await converge([a, b])
    (a.root / "report.txt").write_text("edit on laptop")
    (b.root / "report.txt").write_text("edit on desktop, longer")
    await a.sync()
    await b.sync()
    await converge([a, b])
    fa, fb = a.files(), b.files()
    assert fa == fb
    contents = sorted(v for k, v in fa.items() if k.startswith("report"))
    assert contents == sorted([b"edit on laptop", b"edit on desktop, longer"])
    copies = [k for k in fa if "conflict from" in k]
    assert len(copies) == 1, fa.keys()
    assert a.runner.index.conflicts() and b.runner.index.conflicts()
    for d in (a, b):
        d.close()


async def test_delete_propagates_and_never_resurrects(tmp_path: Path) -> None:
    relay, (a, b, c) = make_devices(tmp_path, ["a", "b", "c"])
    (a.root / "gone.txt").write_text("bye")
    (a.root / "stay.txt").write_text("stay")
    await converge([a, b, c])
    assert (c.root / "gone.txt").exists()
    (b.root / "gone.txt").unlink()
    await converge([a, b, c])
    for d in (a, b, c):
        assert not (d.root / "gone.txt").exists()
        assert (d.root / "stay.txt").read_text() == "stay"
    # the deleted version is kept in local history on the devices that deleted it remotely
    assert a.runner.index.history("gone.txt")
    for d in (a, b, c):
        d.close()


async def test_edit_beats_concurrent_delete(tmp_path: Path) -> None:
    relay, (a, b) = make_devices(tmp_path, ["a", "b"])
    (a.root / "doc.txt").write_text("v1")
    (a.root / "other.txt").write_text("keeps the folder non-empty")
    await converge([a, b])
    (a.root / "doc.txt").unlink()
    (b.root / "doc.txt").write_text("v2 edited")
    await a.sync()
    await b.sync()
    await converge([a, b])
    for d in (a, b):
        assert (d.root / "doc.txt").read_text() == "v2 edited"
    for d in (a, b):
        d.close()


async def test_rename_transfers_no_content(tmp_path: Path) -> None:
    relay, (a, b) = make_devices(tmp_path, ["a", "b"])
    (a.root / "big.bin").write_bytes(bytes(range(256)) * 8192)
    (a.root / "photos").mkdir()
    (a.root / "photos" / "p1.jpg").write_bytes(b"jpeg" * 50_000)
    await converge([a, b])
    before = relay.calls["get_block"]
    (a.root / "big.bin").rename(a.root / "renamed.bin")
    (a.root / "photos").rename(a.root / "pictures")
    await converge([a, b])
    assert b.files() == a.files()
    assert "renamed.bin" in b.files() and "pictures/p1.jpg" in b.files()
    assert relay.calls["get_block"] == before
    for d in (a, b):
        d.close()


async def test_offline_device_catches_up(tmp_path: Path) -> None:
    relay, (a, b) = make_devices(tmp_path, ["a", "b"])
    (a.root / "one.txt").write_text("1")
    await converge([a, b])
    relay.disconnect(b.identity.device_id)
    (b.root / "offline-edit.txt").write_text("made while offline")
    try:
        await b.sync()
    except Exception:
        pass
    for i in range(5):
        (a.root / f"n{i}.txt").write_text(str(i))
        await a.sync()
    relay.reconnect(b.identity.device_id)
    await converge([a, b])
    assert a.files() == b.files()
    assert (a.root / "offline-edit.txt").read_text() == "made while offline"
    for d in (a, b):
        d.close()


async def test_symlink_exec_bit_and_empty_dir(tmp_path: Path) -> None:
    import os
    relay, (a, b) = make_devices(tmp_path, ["a", "b"])
    (a.root / "empty").mkdir()
    (a.root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(a.root / "run.sh", 0o755)
    os.symlink("run.sh", a.root / "link")
    await converge([a, b])
    assert (b.root / "empty").is_dir()
    assert os.stat(b.root / "run.sh").st_mode & 0o100
    assert os.readlink(b.root / "link") == "run.sh"
    for d in (a, b):
        d.close()
