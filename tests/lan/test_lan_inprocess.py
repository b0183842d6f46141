"""Two and three devices over real loopback TCP with the LAN channel, no relay at all."""

from __future__ import annotations

import os
from pathlib import Path

from tests.lan.harness import connected, make_lan_devices, wait_for


async def test_two_devices_converge_without_relay(tmp_path: Path) -> None:
    a, b = await make_lan_devices(tmp_path, ["a", "b"])
    try:
        await wait_for(lambda: connected(a, b) and connected(b, a), what="sessions")
        (a.root / "hello.txt").write_text("hello from a")
        (a.root / "dir").mkdir()
        (a.root / "dir" / "x.bin").write_bytes(os.urandom(700_000))
        await a.publish()
        await wait_for(lambda: b.files() == a.files(), what="b converges")
        (b.root / "hello.txt").write_text("edited on b")
        await b.publish()
        await wait_for(lambda: (a.root / "hello.txt").read_text() == "edited on b", what="a gets b's edit")
    finally:
        await a.close()
        await b.close()


async def test_three_devices_converge_and_edits_flow_both_ways(tmp_path: Path) -> None:
    a, b, c = await make_lan_devices(tmp_path, ["a", "b", "c"])
    try:
        await wait_for(lambda: connected(a, b) and connected(a, c) and connected(b, c), what="sessions")
        for i, d in enumerate((a, b, c)):
            (d.root / f"from-{d.name}.txt").write_text(f"file {i} of {d.name}")
            await d.publish()
        await wait_for(lambda: a.files() == b.files() == c.files() and len(a.files()) == 3, what="convergence")
        (c.root / "from-a.txt").unlink()
        await c.publish()
        await wait_for(lambda: not (a.root / "from-a.txt").exists() and not (b.root / "from-a.txt").exists(),
                       what="delete propagates")
    finally:
        for d in (a, b, c):
            await d.close()


async def test_entries_reach_a_device_through_another_peer(tmp_path: Path) -> None:
    """c is never connected to a; a's entries (and a's certificate) come to it through b."""
    a, b, c = await make_lan_devices(tmp_path, ["a", "b", "c"], connect=False)
    try:
        await a.lan.connect("127.0.0.1", b.lan.port)
        (a.root / "relayed.txt").write_text("via b")
        await a.publish()
        await wait_for(lambda: (b.root / "relayed.txt").exists(), what="b gets it")
        await c.lan.connect("127.0.0.1", b.lan.port)
        await wait_for(lambda: (c.root / "relayed.txt").exists(), what="c gets a's file from b")
        assert c.directory.get(a.identity.device_id) is not None
    finally:
        for d in (a, b, c):
            await d.close()


async def test_modified_large_file_travels_as_a_small_delta(tmp_path: Path) -> None:
    a, b = await make_lan_devices(tmp_path, ["a", "b"])
    try:
        await wait_for(lambda: connected(a, b) and connected(b, a), what="sessions")
        data = bytearray(os.urandom(24 * 1024 * 1024))
        (a.root / "big.bin").write_bytes(data)
        await a.publish()
        await wait_for(lambda: (b.root / "big.bin").exists() and (b.root / "big.bin").stat().st_size == len(data),
                       timeout=60, what="initial copy")
        peer = b.lan.peers[a.identity.device_id].session
        before = peer.channel.counters.bytes_in
        data[10_000_000:10_100_000] = os.urandom(100_000)  # 100 kB overwritten in the middle
        (a.root / "big.bin").write_bytes(data)
        await a.publish()
        await wait_for(lambda: (b.root / "big.bin").read_bytes() == bytes(data), timeout=60, what="delta applied")
        received = peer.channel.counters.bytes_in - before
        deltas = b.lan.folders[next(iter(b.lan.folders))].deltas
        assert deltas.delta_bytes > 0, "the change came as a librsync delta"
        assert deltas.delta_bytes < 200_000
        assert received < 400_000, f"{received} bytes received for a 100 kB change in 24 MiB"
        # a 100-byte append to a small file is a delta of about 100 bytes
        (a.root / "notes.txt").write_bytes(os.urandom(50_000))
        await a.publish()
        await wait_for(lambda: (b.root / "notes.txt").exists(), what="notes")
        d0 = deltas.delta_bytes
        with open(a.root / "notes.txt", "ab") as f:
            f.write(b"x" * 100)
        await a.publish()
        await wait_for(lambda: (b.root / "notes.txt").read_bytes() == (a.root / "notes.txt").read_bytes(), what="append")
        assert 0 < deltas.delta_bytes - d0 < 1000
    finally:
        await a.close()
        await b.close()


async def test_peer_killed_mid_transfer_another_peer_finishes(tmp_path: Path) -> None:
    a, b, c = await make_lan_devices(tmp_path, ["a", "b", "c"], connect=False)
    try:
        await a.lan.connect("127.0.0.1", c.lan.port)
        payload = os.urandom(16 * 1024 * 1024)
        (a.root / "movie.bin").write_bytes(payload)
        await a.publish()
        await wait_for(lambda: (c.root / "movie.bin").exists(), timeout=60, what="c has the file")
        for d in (a, c):
            d.lan.limits.set_lan(4 * 1024 * 1024)  # slow enough to be killed mid-transfer
        await b.lan.connect("127.0.0.1", a.lan.port)
        await b.lan.connect("127.0.0.1", c.lan.port)
        sess = b.lan.peers[a.identity.device_id]
        await wait_for(lambda: sess.session is not None and sess.session.channel.counters.bytes_in > 2 * 1024 * 1024,
                       what="transfer under way")
        assert not (b.root / "movie.bin").exists()
        await a.lan.stop()  # a vanishes mid-transfer
        c.lan.limits.set_lan(None)
        await wait_for(lambda: (b.root / "movie.bin").exists(), timeout=60, what="b finishes from c")
        assert (b.root / "movie.bin").read_bytes() == payload
    finally:
        for d in (a, b, c):
            await d.close()
