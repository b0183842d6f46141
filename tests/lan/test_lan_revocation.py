"""Revoking a device: the signed revocation, the directory that keeps it, spreading it in
``hello``, refusing the device in the handshake and its entries in the syncer, and `cove devices`.

Integration tests run real LanServices over loopback TCP (tests/lan/harness.py); every wait has a
deadline."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from sync.account import load_account_keys
from sync.cli import main
from sync.devices import device_rows, match_device
from sync.errors import CoveError
from sync.identity import load_or_create_identity
from sync.keys import AccountKeys, FolderKeyring
from sync.lan.certs import (
    CertificateError,
    DeviceCertificate,
    DeviceDirectory,
    DeviceRevocation,
)
from sync.lan.channel import ChannelError
from sync.lan.null_transport import NotifyingTransport, NullTransport
from sync.lan.provision import provision_home
from sync.relay_client import DeviceInfo, RelayUnavailable
from sync.wire.envelopes import LogEntry
from tests.engine.conftest import relay_clock, relay_server  # noqa: F401 - fixtures
from tests.engine.test_sharing import engine_for
from tests.lan.harness import (
    FOLDER_ID,
    LanDevice,
    connected,
    make_lan_devices,
    wait_for,
)


def _keys() -> tuple[SigningKey, SigningKey, bytes]:
    account, device = SigningKey.generate(), SigningKey.generate()
    return account, device, bytes(device.verify_key)


# -- the revocation object ----------------------------------------------------------------------


def test_revocation_verifies_only_against_its_account() -> None:
    account, _, dev_pk = _keys()
    other = SigningKey.generate()
    apk = bytes(account.verify_key)
    rev = DeviceRevocation.issue(account, dev_pk, "alice", revoked_at=1000)
    assert rev.verify(apk)
    assert DeviceRevocation.from_wire(rev.to_wire()) == rev
    assert not rev.verify(bytes(other.verify_key))
    assert not DeviceRevocation.issue(other, dev_pk, "alice", 1000).verify(apk)  # another account's key
    # every signed field is bound
    for tampered in ({"revoked_at": 1001}, {"username": "bob"}, {"device_pk": bytes(SigningKey.generate().verify_key)}):
        fields = {"device_pk": rev.device_pk, "username": rev.username, "revoked_at": rev.revoked_at, **tampered}
        assert not DeviceRevocation(signature=rev.signature, **fields).verify(apk), tampered
    # a certificate's signature is not a revocation's (separate tags), and the other way round
    cert = DeviceCertificate.issue(account, dev_pk, "alice", issued_at=1000)
    assert not DeviceRevocation(dev_pk, "alice", 1000, cert.signature).verify(apk)
    assert not DeviceCertificate(dev_pk, "alice", 1000, rev.signature).verify(apk)


def test_revocation_wire_form_is_strict() -> None:
    account, _, dev_pk = _keys()
    good = DeviceRevocation.issue(account, dev_pk, "alice", 5).to_wire()
    bad = [
        None, [], {**good, "extra": 1}, {k: v for k, v in good.items() if k != "username"},
        {**good, "device_pk": "not base64!"}, {**good, "device_pk": good["device_pk"][:-4]},
        {**good, "signature": good["device_pk"]}, {**good, "revoked_at": -1}, {**good, "revoked_at": True},
        {**good, "revoked_at": "5"}, {**good, "username": "x" * 65}, {**good, "username": 3},
    ]
    for w in bad:
        with pytest.raises(CertificateError):
            DeviceRevocation.from_wire(w)
    with pytest.raises(CertificateError):
        DeviceRevocation.issue(account, b"short", "alice")


def test_directory_keeps_revocations_and_never_readds_the_certificate(tmp_path: Path) -> None:
    account, _, dev_pk = _keys()
    apk = bytes(account.verify_key)
    path = tmp_path / "lan" / "devices.json"
    d = DeviceDirectory(apk, path)
    heard: list[set[str]] = []
    d.on_revoked.append(heard.append)
    cert = DeviceCertificate.issue(account, dev_pk, "alice", issued_at=10)
    keep = DeviceCertificate.issue(account, bytes(SigningKey.generate().verify_key), "alice", issued_at=10)
    assert d.add(cert) and d.add(keep)
    rev = DeviceRevocation.issue(account, dev_pk, "alice", 20)
    forged = DeviceRevocation.issue(SigningKey.generate(), bytes(keep.device_pk), "alice", 20)
    assert not d.revoke(forged) and not d.is_revoked(keep.device_id)
    assert d.revoke(rev) and heard == [{cert.device_id}]
    assert d.revoke(rev) and heard == [{cert.device_id}]  # known already: nobody is told twice
    assert d.is_revoked(cert.device_id)
    assert not d.add(cert)
    assert not d.add(DeviceCertificate.issue(account, dev_pk, "alice", issued_at=99))  # not even a newer one
    assert [c.device_id for c in d.certificates()] == [keep.device_id]  # what hello passes on
    by_id = {x.device_id: x for x in d.devices()}
    assert by_id[cert.device_id].revoked and not by_id[keep.device_id].revoked
    # persisted and reloaded (another process, or a restart)
    again = DeviceDirectory(apk, path)
    assert again.is_revoked(cert.device_id) and again.revocations() == [rev]
    assert not again.add(cert)
    listed = asyncio.run(NullTransport(again).devices())
    assert {x.device_id: x.revoked for x in listed} == {cert.device_id: True, keep.device_id: False}
    # a revocation of a device whose certificate was never seen is listed (revoked) all the same
    stranger = bytes(SigningKey.generate().verify_key)
    assert again.revoke(DeviceRevocation.issue(account, stranger, "", 30))
    assert any(x.public_key == stranger and x.revoked for x in again.devices())


def test_damaged_or_old_files_are_read_as_well_as_they_can(tmp_path: Path) -> None:
    account, _, dev_pk = _keys()
    apk = bytes(account.verify_key)
    path = tmp_path / "devices.json"
    cert = DeviceCertificate.issue(account, dev_pk, "alice", issued_at=10)
    rev = DeviceRevocation.issue(account, bytes(SigningKey.generate().verify_key), "alice", 20)
    path.write_text("{not json")
    d = DeviceDirectory(apk, path)
    assert d.devices() == []  # rebuilt from peers
    assert d.add(cert) and d.revoke(rev)
    assert DeviceDirectory(apk, path).revocations() == [rev]
    # one unreadable item costs that item only
    doc = json.loads(path.read_text())
    doc["revocations"].append({"device_pk": "??"})
    doc["certs"].append(42)
    path.write_text(json.dumps(doc))
    d = DeviceDirectory(apk, path)
    assert d.revocations() == [rev] and [c.device_id for c in d.certificates()] == [cert.device_id]
    # the format before revocations: a plain list of certificates
    path.write_text(json.dumps([cert.to_wire()]))
    assert [c.device_id for c in DeviceDirectory(apk, path).certificates()] == [cert.device_id]


def test_a_revocation_written_by_another_process_survives_and_is_picked_up(tmp_path: Path) -> None:
    """`cove devices revoke` writes the file while the daemon holds its own directory."""
    account, _, dev_pk = _keys()
    apk = bytes(account.verify_key)
    path = tmp_path / "devices.json"
    daemon, cli = DeviceDirectory(apk, path), DeviceDirectory(apk, path)
    heard: list[set[str]] = []
    daemon.on_revoked.append(heard.append)
    victim = DeviceRevocation.issue(account, dev_pk, "alice", 20)
    assert cli.revoke(victim)
    # the daemon saves a certificate it just learnt: the revocation on disk is merged, not lost
    assert daemon.add(DeviceCertificate.issue(account, bytes(SigningKey.generate().verify_key), "alice"))
    assert heard == [{victim.device_id}] and daemon.is_revoked(victim.device_id)
    assert DeviceDirectory(apk, path).is_revoked(victim.device_id)
    # reload: what the daemon's status writer does every 0.5 s
    second = DeviceRevocation.issue(account, bytes(SigningKey.generate().verify_key), "alice", 21)
    assert cli.revoke(second)
    assert daemon.reload() == {second.device_id} and heard[-1] == {second.device_id}
    assert daemon.reload() == set()  # unchanged file: nothing to do


class _Relay:
    def __init__(self, devices: list[DeviceInfo] | None) -> None:
        self._devices = devices

    async def devices(self) -> list[DeviceInfo]:
        if self._devices is None:
            raise RelayUnavailable("down")
        return self._devices


def test_relay_and_lan_revocations_are_merged(tmp_path: Path) -> None:
    account, _, dev_pk = _keys()
    apk = bytes(account.verify_key)
    d = DeviceDirectory(apk, tmp_path / "devices.json")
    cert = DeviceCertificate.issue(account, dev_pk, "alice")
    d.add(cert)
    d.revoke(DeviceRevocation.issue(account, dev_pk, "alice"))
    other_pk = bytes(SigningKey.generate().verify_key)
    other = DeviceCertificate.issue(account, other_pk, "alice")
    d.add(other)
    heard: list[set[str]] = []
    d.on_revoked.append(heard.append)
    # the relay has not heard of the LAN revocation; it revoked `other` itself
    relay = [DeviceInfo(cert.device_id, dev_pk, False, "laptop"), DeviceInfo(other.device_id, other_pk, True, "phone")]
    merged = {x.device_id: x.revoked for x in asyncio.run(NotifyingTransport(_Relay(relay), lambda f, e: None, d).devices())}
    assert merged == {cert.device_id: True, other.device_id: True}
    assert d.is_revoked(other.device_id) and heard == [{other.device_id}]  # the LAN refuses it too
    assert other.device_id not in {r.device_id for r in d.revocations()}  # unsigned: never passed on
    assert not d.add(other)
    # relay unreachable: the directory answers, revocations included
    down = {x.device_id: x.revoked for x in asyncio.run(NotifyingTransport(_Relay(None), lambda f, e: None, d).devices())}
    assert down[cert.device_id] is True


def test_matching_a_device_by_prefix() -> None:
    ids = ["ABCDEFG-HIJKLMN-X", "ABCDXYZ-HIJKLMN-Y", "QRSTUVW-HIJKLMN-Z"]
    assert match_device(ids, "qrst") == ids[2]
    assert match_device(ids, "ABCDE-FG") == ids[0]  # any case, dashes anywhere
    with pytest.raises(CoveError, match="matches 2 devices"):
        match_device(ids, "abcd")
    with pytest.raises(CoveError, match="no known device"):
        match_device(ids, "ZZZZ")
    with pytest.raises(CoveError, match="at least 4"):
        match_device(ids, "Q")


def test_device_rows_merge_sources() -> None:
    lan = [DeviceInfo("B" * 7, b"b", False, "alice"), DeviceInfo("C" * 7, b"c", True, "alice")]
    relay = [DeviceInfo("B" * 7, b"b", False, "desk"), DeviceInfo("D" * 7, b"d", True, "old phone")]
    status = {"peers": [{"device_id": "B" * 7, "connected": True, "last_seen": 5.0}]}
    rows = device_rows("A" * 7, "me", lan, relay, status, running=True, folder_names={"C" * 7: "tablet"})
    assert [(r.device_id[0], r.name, r.this_device, r.revoked, r.connected, r.on_relay) for r in rows] == [
        ("A", "me", True, False, False, False), ("B", "desk", False, False, True, True),
        ("D", "old phone", False, True, False, True), ("C", "tablet", False, True, False, False)]
    assert not device_rows("A" * 7, "", lan, [], status, running=False)[1].connected  # stale status


# -- `cove devices` -----------------------------------------------------------------------------


def test_cli_lists_devices_and_refuses_self_unknown_and_ambiguous(tmp_path: Path, capsys) -> None:
    account, keyring = AccountKeys.generate(), FolderKeyring.create(FOLDER_ID)
    dirs = provision_home(tmp_path / "home", tmp_path / "root", FOLDER_ID, account, keyring)
    me = load_or_create_identity(dirs.data).device_id
    home = str(tmp_path / "home")
    peer_pk = bytes(SigningKey.generate().verify_key)
    d = DeviceDirectory(account.sign_pk, dirs.data / "lan" / "devices.json")
    peer = DeviceCertificate.issue(account.signing_key, peer_pk, "local")
    d.add(peer)

    assert main(["--home", home, "devices"]) == 0
    out = capsys.readouterr().out
    assert me[:15] in out and "this device" in out and peer.device_id[:15] in out

    assert main(["--home", home, "devices", "revoke", me[:9]]) == 1
    assert "cannot revoke itself" in capsys.readouterr().err
    unknown = next(p for p in ("ZZZZZZZ", "YYYYYYY", "XXXXXXX") if not peer.device_id.startswith(p) and not me.startswith(p))
    assert main(["--home", home, "devices", "revoke", unknown]) == 1
    assert "no known device" in capsys.readouterr().err
    assert not DeviceDirectory(account.sign_pk, dirs.data / "lan" / "devices.json").revocations()

    assert main(["--home", home, "devices", "revoke", peer.device_id[:10].lower()]) == 0
    assert f"Revoked {peer.device_id}" in capsys.readouterr().out
    assert DeviceDirectory(account.sign_pk, dirs.data / "lan" / "devices.json").is_revoked(peer.device_id)
    assert main(["--home", home, "devices", "revoke", peer.device_id]) == 0
    assert "already revoked" in capsys.readouterr().out
    assert main(["--home", home, "devices"]) == 0
    assert "revoked" in capsys.readouterr().out


async def test_cli_revokes_on_the_relay_too(tmp_path: Path, relay_server, capsys) -> None:  # noqa: F811
    a = await engine_for(tmp_path, relay_server, "a", "alice")
    b = await engine_for(tmp_path, relay_server, "b", "alice", same_as=a)
    b_id = b.identity.device_id
    a.close()
    b.close()
    code = await asyncio.to_thread(main, ["--home", str(tmp_path / "a"), "devices"])
    out = capsys.readouterr().out
    assert code == 0 and b_id[:15] in out and "on the relay" in out, out
    code = await asyncio.to_thread(main, ["--home", str(tmp_path / "a"), "devices", "revoke", b_id[:8]])
    out = capsys.readouterr()
    assert code == 0, out
    assert "The relay revoked it too" in out.out
    async with a.relay_client() as client:
        assert {d.device_id: d.revoked for d in await client.devices()}[b_id] is True
    account = load_account_keys(a.dirs)
    assert account is not None
    assert DeviceDirectory(account.sign_pk, a.dirs.data / "lan" / "devices.json").is_revoked(b_id)


# -- three devices on the LAN -------------------------------------------------------------------


def _sessions_with(d: LanDevice, other: LanDevice) -> bool:
    p = d.lan.peers.get(other.identity.device_id)
    return p is not None and p.session is not None and not p.session.closed.is_set()


async def test_revoked_device_is_cut_off_and_nothing_vanishes(tmp_path: Path) -> None:
    a, b, c = await make_lan_devices(tmp_path, ["a", "b", "c"])
    cid = c.identity.device_id
    try:
        await wait_for(lambda: connected(a, b) and connected(a, c) and connected(b, c), what="sessions")
        for d in (a, b, c):
            (d.root / f"from-{d.name}.txt").write_text(f"written by {d.name}")
            await d.publish()
        await wait_for(lambda: a.files() == b.files() == c.files() and len(a.files()) == 3, what="convergence")
        before = a.files()

        # A revokes C as `cove devices revoke` does from another process: it writes A's directory
        # file; the daemon re-reads it (its status writer does so every 0.5 s).
        cli = DeviceDirectory(a.directory.account_sign_pk, a.directory.path)
        assert cli.revoke(DeviceRevocation.issue(a.account_key, c.identity.public_key, "alice"))
        assert a.directory.reload() == {cid}

        # A drops C at once; B learns the revocation from A's fresh hello and drops C too
        await wait_for(lambda: b.directory.is_revoked(cid), timeout=10, what="b learns the revocation from a")
        await wait_for(lambda: not _sessions_with(a, c) and not _sessions_with(b, c)
                       and not _sessions_with(c, a) and not _sessions_with(c, b), timeout=10, what="c disconnected")
        assert connected(a, b) and connected(b, a)
        assert DeviceDirectory(b.directory.account_sign_pk, b.directory.path).is_revoked(cid)  # persisted on b

        # C is refused on reconnect, both ways, by both
        for peer in (a, b):
            with pytest.raises(ChannelError):
                await asyncio.wait_for(c.lan.connect("127.0.0.1", peer.lan.port), 15)
            with pytest.raises(ChannelError, match="revoked"):
                await asyncio.wait_for(peer.lan.connect("127.0.0.1", c.lan.port), 15)
        assert not _sessions_with(a, c) and not _sessions_with(b, c)
        assert any("revoked" in line for line in a.log)

        # C's later edits reach neither: not over the LAN, and not even if a device that did not
        # know of the revocation carried C's entries to B (the syncer refuses them)
        (c.root / "from-c.txt").write_text("changed after revocation")
        (c.root / "late-c.txt").write_text("new after revocation")
        await c.publish()
        head = b.syncer.index.head(cid)
        assert head is not None
        wires = c.syncer.index.entries_after(cid, head[0], 100)
        assert wires, "c published new entries"
        async with b.lan.folders[FOLDER_ID].lock():
            report = await b.syncer.ingest([LogEntry.from_wire(json.loads(w)) for w in wires])
        assert report.refused and not report.touched
        assert b.syncer.index.head(cid) == head

        # A and B keep syncing with each other
        (a.root / "after.txt").write_text("a after")
        await a.publish()
        await wait_for(lambda: (b.root / "after.txt").exists(), timeout=20, what="a -> b")
        (b.root / "from-a.txt").write_text("b edits a's file")
        await b.publish()
        await wait_for(lambda: (a.root / "from-a.txt").read_text() == "b edits a's file", timeout=20, what="b -> a")
        # a full pull between A and B (what anti-entropy does) moves none of C's new entries
        for x, y in ((a, b), (b, a)):
            sess = x.lan.peers[y.identity.device_id].session
            assert sess is not None
            await asyncio.wait_for(x.lan.pull(x.lan.folders[FOLDER_ID], sess), 20)

        # what C wrote before revocation stays everywhere; its later edits are nowhere else
        for d in (a, b):
            files = d.files()
            assert files["from-c.txt"] == before["from-c.txt"]
            assert "late-c.txt" not in files
            assert files["from-b.txt"] == before["from-b.txt"]
        assert a.files() == b.files()
    finally:
        for d in (a, b, c):
            await d.close()


async def test_a_late_peer_learns_the_revocation_and_refuses_the_device(tmp_path: Path) -> None:
    """D was offline when A revoked C; it learns it when it connects to B, and C can no longer
    reach it either."""
    a, b, c, d = await make_lan_devices(tmp_path, ["a", "b", "c", "d"], connect=False)
    cid = c.identity.device_id
    try:
        await a.lan.connect("127.0.0.1", b.lan.port)
        await wait_for(lambda: connected(a, b) and connected(b, a), what="a-b")
        assert a.directory.revoke(DeviceRevocation.issue(a.account_key, c.identity.public_key, "alice"))
        await wait_for(lambda: b.directory.is_revoked(cid), timeout=10, what="b learns it")
        # D knows C (it saw its certificate earlier) but nothing of the revocation
        d.directory.add(c.lan.cert)
        await d.lan.connect("127.0.0.1", b.lan.port)
        await wait_for(lambda: d.directory.is_revoked(cid), timeout=10, what="d learns it from b's hello")
        with pytest.raises(ChannelError):
            await asyncio.wait_for(c.lan.connect("127.0.0.1", d.lan.port), 15)
        assert {x.device_id: x.revoked for x in await d.transport.devices()}[cid] is True
    finally:
        for x in (a, b, c, d):
            await x.close()


def test_hello_stays_under_the_header_limit_with_many_devices(tmp_path: Path) -> None:
    from sync.identity import DeviceIdentity
    from sync.lan.channel import MAX_HEADER, encode_message
    from sync.lan.service import MAX_REVOKED, LanService

    account = SigningKey.generate()
    d = DeviceDirectory(bytes(account.verify_key))
    for i in range(1000):
        d.add(DeviceCertificate.issue(account, bytes(SigningKey.generate().verify_key), "u" * 64, issued_at=i), save=False)
    for i in range(400):
        d.revoke(DeviceRevocation.issue(account, bytes(SigningKey.generate().verify_key), "u" * 64, revoked_at=i), save=False)
    me = DeviceIdentity(SigningKey.generate())
    lan = LanService(me, bytes(account.verify_key), DeviceCertificate.issue(account, me.public_key, "u"), d)
    hello = lan._hello(lan.cert)
    assert len(encode_message(hello)) - 4 < MAX_HEADER
    assert len(hello["revoked"]) == MAX_REVOKED and hello["revoked"][0]["revoked_at"] == 399  # the newest
    assert 0 < len(hello["certs"]) < 1000


async def test_relay_revocations_reach_the_lan_service(tmp_path: Path) -> None:
    from sync.lan.glue import watch_relay_devices

    a, c = await make_lan_devices(tmp_path, ["a", "c"])
    cid = c.identity.device_id
    try:
        await wait_for(lambda: connected(a, c), what="session")

        class Client:
            async def devices(self) -> list[DeviceInfo]:
                return [DeviceInfo(cid, c.identity.public_key, True, "c")]

        task = asyncio.ensure_future(watch_relay_devices(a.lan, Client(), every_s=60))
        try:
            await wait_for(lambda: not _sessions_with(a, c), timeout=10, what="a drops c")
        finally:
            task.cancel()
        assert a.directory.is_revoked(cid) and not a.directory.revocations()  # refused, not passed on
        with pytest.raises(ChannelError):
            await asyncio.wait_for(c.lan.connect("127.0.0.1", a.lan.port), 15)
    finally:
        await a.close()
        await c.close()
