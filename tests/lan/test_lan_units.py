"""Pure parts: certificates, limits, the peer table, the LAN-only transport."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nacl.signing import SigningKey

from sync.lan.certs import DeviceCertificate, DeviceDirectory
from sync.lan.cli import peer_rows
from sync.lan.limits import TokenBucket
from sync.lan.null_transport import NullTransport
from sync.wire.ids import device_id_from_public_key


def test_certificate_verifies_only_against_its_account(tmp_path: Path) -> None:
    account, other = SigningKey.generate(), SigningKey.generate()
    dev = SigningKey.generate()
    cert = DeviceCertificate.issue(account, bytes(dev.verify_key), "alice", issued_at=100)
    assert cert.verify(bytes(account.verify_key)) and not cert.verify(bytes(other.verify_key))
    assert DeviceCertificate.from_wire(cert.to_wire()) == cert
    forged = DeviceCertificate(bytes(SigningKey.generate().verify_key), "alice", 100, cert.signature)
    assert not forged.verify(bytes(account.verify_key))
    d = DeviceDirectory(bytes(account.verify_key), tmp_path / "devices.json")
    assert d.add(cert) and not d.add(DeviceCertificate.issue(other, bytes(dev.verify_key), "eve"))
    again = DeviceDirectory(bytes(account.verify_key), tmp_path / "devices.json")
    assert [c.device_id for c in again.certificates()] == [cert.device_id]
    devices = asyncio.run(NullTransport(again).devices())
    assert devices[0].public_key == bytes(dev.verify_key) and not devices[0].revoked


def test_token_bucket_charges_debt_in_time() -> None:
    now = [0.0]
    bucket = TokenBucket(1000, burst=500, clock=lambda: now[0])
    assert bucket.delay_for(500) == 0  # starts full
    assert bucket.delay_for(600) == 0.6  # debt: wait until it is paid
    now[0] = 1.0
    assert bucket.delay_for(400) == 0
    assert TokenBucket(None).delay_for(10**9) == 0


def test_peer_rows_show_the_path_in_use() -> None:
    a = device_id_from_public_key(bytes(SigningKey.generate().verify_key))
    b = device_id_from_public_key(bytes(SigningKey.generate().verify_key))
    c = device_id_from_public_key(bytes(SigningKey.generate().verify_key))
    status = {"device_id": "me", "updated": 100.0, "peers": [
        {"device_id": a, "name": "alice", "connected": True, "discovered": True, "addresses": [["127.0.0.1", 5]],
         "folders": ["f"], "bytes_in": 2048, "bytes_out": 0, "paused": False, "last_error": ""},
        {"device_id": b, "name": "", "connected": False, "discovered": False, "addresses": [], "folders": [],
         "bytes_in": 0, "bytes_out": 0, "paused": False, "last_error": "", "last_seen": 0},
    ]}
    rows = peer_rows(status, [a, b, c], relay=True, now=101.0)
    assert [r[1] for r in rows] == ["LAN", "relay", "relay"]
    assert rows[0][2] == "127.0.0.1:5"
    assert [r[1] for r in peer_rows(status, [c], relay=False, now=1000.0)] == ["-"]  # stale status


def test_one_port_for_every_listening_address(tmp_path: Path) -> None:
    """Discovery announces one port with all addresses: the IPv4 and IPv6 sockets must share it."""
    import socket

    from sync.keys import AccountKeys, FolderKeyring
    from tests.lan.harness import FOLDER_ID, LanDevice

    async def main() -> None:
        dev = LanDevice(tmp_path, "a", AccountKeys.generate(), FolderKeyring.create(FOLDER_ID))
        hosts = ["127.0.0.1"] + (["::1"] if socket.has_ipv6 else [])
        try:
            port = await dev.lan.start(hosts)
            ports = {sock.getsockname()[1] for srv in dev.lan._servers for sock in srv.sockets}
            assert ports == {port}
            assert len(dev.lan._servers) >= 1
        finally:
            await dev.close()

    asyncio.run(main())
