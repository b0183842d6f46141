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
        with open(a.root / "notes.txt", "ab") as f:  # noqa: ASYNC230
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


async def test_pause_and_resume_per_folder_and_per_peer(tmp_path: Path) -> None:
    a, b = await make_lan_devices(tmp_path, ["a", "b"])
    try:
        await wait_for(lambda: connected(a, b) and connected(b, a), what="sessions")
        fid = next(iter(a.lan.folders))
        b.lan.pause_folder(fid)
        (a.root / "while-paused.txt").write_text("x")
        await a.publish()
        await wait_for(lambda: b.lan.pulls_done >= 0 and a.lan.peers[b.identity.device_id].session is not None,
                       what="still connected")
        assert not (b.root / "while-paused.txt").exists()
        b.lan.resume_folder(fid)
        await wait_for(lambda: (b.root / "while-paused.txt").exists(), what="resumed folder syncs")
        a.lan.pause_peer(b.identity.device_id)
        await wait_for(lambda: not connected(b, a), what="paused peer disconnected")
        (a.root / "peer-paused.txt").write_text("y")
        await a.publish()
        assert not (b.root / "peer-paused.txt").exists()
        a.lan.resume_peer(b.identity.device_id)
        await b.lan.connect("127.0.0.1", a.lan.port)
        await wait_for(lambda: (b.root / "peer-paused.txt").exists(), what="resumed peer syncs")
    finally:
        await a.close()
        await b.close()


async def test_a_forked_history_is_detected_and_reported(tmp_path: Path) -> None:
    """Two different entries at one seq of one device's log (what a relay showing devices
    different histories leads to) are reported as a folder error, not applied."""
    from sync import crypto
    from sync.entries import Payload, encode_payload
    from sync.wire.envelopes import GENESIS_HASH, LogEntry

    a, b, c = await make_lan_devices(tmp_path, ["a", "b", "c"], connect=False)
    try:
        (a.root / "real.txt").write_text("real")
        await a.publish()
        await b.lan.connect("127.0.0.1", a.lan.port)
        await wait_for(lambda: (b.root / "real.txt").exists(), what="b has a's real entry")
        fid = next(iter(a.lan.folders))
        keyring = a.syncer.keyring
        forged = LogEntry.signed(
            a.identity.signing_key, folder=fid, device=a.identity.device_id, seq=1, prev=GENESIS_HASH, blocks=[],
            ciphertext=crypto.seal_payload(encode_payload(Payload(device_name="other history")), folder=fid,
                                           epoch=keyring.current_epoch, device_id=a.identity.device_id, seq=1,
                                           folder_key=keyring.key(keyring.current_epoch)),
        )
        c.directory.add(a.lan.cert)
        rep = await c.syncer.ingest([forged])
        assert rep.entries == 1
        await b.lan.connect("127.0.0.1", c.lan.port)
        await wait_for(lambda: bool(b.lan.folders[fid].forks), what="fork reported")
        assert any(e.kind == "history_fork" for e in b.runner.index.errors())
    finally:
        for d in (a, b, c):
            await d.close()


async def test_a_wrong_file_source_result_is_never_installed(tmp_path: Path) -> None:
    """The executor verifies what a FileSource wrote against the record before installing it."""
    a, b = await make_lan_devices(tmp_path, ["a", "b"])
    try:
        await wait_for(lambda: connected(a, b) and connected(b, a), what="sessions")
        (a.root / "f.bin").write_bytes(os.urandom(200_000))
        await a.publish()
        await wait_for(lambda: (b.root / "f.bin").exists(), what="first version")

        class Liar:
            calls = 0

            async def fetch_file(self, target, source, base, stage):
                Liar.calls += 1
                stage.write_bytes(b"not the content" * 1000)
                return True

        b.syncer.executor.files = Liar()
        new = os.urandom(200_000)
        (a.root / "f.bin").write_bytes(new)
        await a.publish()
        await wait_for(lambda: (b.root / "f.bin").read_bytes() == new, what="correct content via blocks")
        assert Liar.calls >= 1
        assert not list(b.syncer.executor.staging.glob("*")), "no stage files left behind"
    finally:
        await a.close()
        await b.close()
