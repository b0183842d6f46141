"""Linking a second device over the LAN with no relay: the sealed offer with folder keyrings
(sync.keys), the one-offer mailbox (sync.lan.pairing, real zeroconf on loopback), the engine side
(sync.lan.linking) and the CLI (`cove link`, `cove link CODE`, `cove init --id`); then two
engines in separate processes sync what was linked. Argon2id runs at its minimum limits where a
test is not about it. Every wait has a deadline; nothing sleeps to wait."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from nacl.pwhash import argon2id
from nacl.signing import SigningKey

from sync.account import account_key_path, keyring_path, load_account_keys, load_keyring
from sync.cli import main
from sync.config import Dirs, write_marker
from sync.engine import Engine
from sync.errors import FolderError
from sync.keys import (
    AccountKeys,
    FolderKeyring,
    LinkCode,
    LinkedFolder,
    LinkError,
    LinkOffer,
    accept_link,
    link_qr_payload,
    new_code,
    parse_code,
    parse_qr_payload,
)
from sync.lan import linking as lan_linking
from sync.lan import pairing
from sync.lan.certs import DeviceCertificate, DeviceDirectory
from sync.lan.discovery import enable_loopback_multicast
from sync.lan.pairing import MAGIC, OfferServer, Outcome, fetch_offer, request_offer
from tests.engine.sync_harness import tree
from tests.lan.harness import wait_for

ROOT = Path(__file__).resolve().parents[2]
FAST = {"opslimit": argon2id.OPSLIMIT_MIN, "memlimit": argon2id.MEMLIMIT_MIN}
LO = ["127.0.0.1"]
CLI = [sys.executable, "-c", "import sys; from sync.cli import main; sys.exit(main())"]
CODE_RE = re.compile(r"\b([0-9A-Z]{4}(?:-[0-9A-Z]{4}){5})\b")

lan = pytest.mark.skipif(not enable_loopback_multicast(), reason="cannot enable multicast on lo")


# --- helpers -------------------------------------------------------------------------------------


def engine_at(home: Path) -> Engine:
    return Engine.create(Dirs.under(home))


def device_a(tmp_path: Path, files: dict[str, bytes] | None = None) -> tuple[Engine, str]:
    """A LAN-only device (the embedded default) with one folder: account key and keyring made."""
    a = engine_at(tmp_path / "a")
    root = tmp_path / "a-docs"
    root.mkdir()
    for name, data in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    folder = a.add_folder(root, label="Docs")
    return a, folder.id


def nothing_saved(engine: Engine) -> bool:
    folders = engine.dirs.data / "folders"
    return not account_key_path(engine.dirs).exists() and not (folders.exists() and any(folders.glob("*/keyring.json")))


async def serve_in_background(pending: lan_linking.LanPendingLink) -> asyncio.Task:
    return asyncio.create_task(pending.serve())


async def started(slot: str, blob: bytes, announce: bool = True) -> OfferServer:
    server = OfferServer(slot, blob, LO)
    await server.start(announce=announce)
    return server


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class NodeProcess:
    """``python -m sync.lan.node`` on an existing home, zeroconf and listening on loopback only."""

    def __init__(self, home: Path, log: Path):
        self.log = log
        self._out = open(log, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sync.lan.node", "--home", str(home), "--interfaces", "127.0.0.1",
             "--listen", "127.0.0.1"],
            cwd=ROOT, stdout=self._out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._out.close()


# --- the sealed offer ----------------------------------------------------------------------------


def test_offer_carries_folder_keyrings_and_old_offers_still_open() -> None:
    account = AccountKeys.generate()
    ring = FolderKeyring.create("folder0000000000000001")
    ring.new_epoch()
    offer = LinkOffer.create(account, "", "", folders=[LinkedFolder(ring.folder, "Docs", ring)], **FAST)
    linked = accept_link(offer.code, offer.blob)
    [f] = linked.folders
    assert (f.id, f.label, f.keyring.epochs) == (ring.folder, "Docs", [0, 1])
    assert f.keyring.key(1) == ring.key(1) and linked.account_keys.sign_pk == account.sign_pk
    plain = LinkOffer.create(account, "https://relay.example", "alice", **FAST)  # as relay offers are
    assert accept_link(plain.code, plain.blob).folders == ()
    # a folder ID names a directory: one that could escape it makes the whole offer corrupt
    bad = FolderKeyring.create("../../../etc/x")
    forged = LinkOffer.create(account, "", "", folders=[LinkedFolder(bad.folder, "x", bad)], **FAST)
    with pytest.raises(LinkError, match="corrupt"):
        accept_link(forged.code, forged.blob)
    # a QR code of a LAN offer names no relay
    text = link_qr_payload(offer.code, "")
    assert "relay" not in text and parse_qr_payload(text) == (offer.code, "")


# --- the mailbox ---------------------------------------------------------------------------------


@lan
async def test_offer_is_single_use_and_other_slots_do_not_burn_it() -> None:
    code = new_code()
    blob = LinkOffer.create(AccountKeys.generate(), "", "", code=code, **FAST).blob
    server = await started(code.slot, blob)
    try:
        other = "ZZZZZ" if code.slot != "ZZZZZ" else "YYYYY"
        assert await request_offer("127.0.0.1", server.port, other) is None  # "no such offer"
        assert not server.fetched.is_set()
        assert await asyncio.wait_for(fetch_offer(code.slot, LO, timeout=10), 15) == blob
        assert (await server.wait(1)).outcome is Outcome.FETCHED and server.fetched_by == "127.0.0.1"
        assert await request_offer("127.0.0.1", server.port, code.slot) is None  # given out once
        t0 = time.monotonic()
        with pytest.raises(LinkError, match="given its offer out already"):
            await fetch_offer(code.slot, LO, timeout=10)
        assert time.monotonic() - t0 < 8  # said at once, not after the timeout
    finally:
        await server.close()


@lan
async def test_malformed_and_oversized_requests_are_refused_without_harm(monkeypatch) -> None:
    monkeypatch.setattr(pairing, "REQUEST_TIMEOUT", 0.5)
    code = new_code()
    blob = LinkOffer.create(AccountKeys.generate(), "", "", code=code, **FAST).blob
    server = await started(code.slot, blob, announce=False)

    async def exchange(data: bytes, close_write: bool = False) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(data)
            if close_write:
                writer.write_eof()
            await writer.drain()
            return await asyncio.wait_for(reader.read(1 << 20), 5)
        except ConnectionError:
            return b""
        finally:
            writer.close()

    try:
        assert await exchange(b"COVELNK2" + code.slot.encode()) == b""  # wrong magic: closed, no reply
        assert await exchange(b"GET / HTTP/1.1\r\n\r\n" + os.urandom(1 << 20)) == b""  # junk, 1 MiB
        assert await exchange(MAGIC + code.slot.encode()[:2], close_write=True) == b""  # truncated
        assert await exchange(b"") == b""  # silent: closed after the request timeout
        assert await exchange(MAGIC + b"\xff\x00\x01\x02\x03") == b"\0\0\0\0"  # not a slot: no offer
        # more connections than it serves at once: the extra one is closed unanswered
        idle = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(pairing.MAX_CONNECTIONS)]
        await wait_for(lambda: len(server._handlers) == pairing.MAX_CONNECTIONS, 5, "idle connections accepted")
        assert await exchange(MAGIC + code.slot.encode()) == b""
        for _, w in idle:
            w.close()
        await wait_for(lambda: not server._handlers, 5, "idle connections closed")
        assert not server.fetched.is_set()
        assert await request_offer("127.0.0.1", server.port, code.slot) == blob  # unharmed
    finally:
        await server.close()


async def test_an_oversized_reply_is_refused_by_the_fetcher() -> None:
    async def liar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(len(MAGIC) + 5)
        writer.write((pairing.MAX_BLOB + 1).to_bytes(4, "big") + b"x" * 100)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(liar, "127.0.0.1", 0)
    try:
        with pytest.raises(LinkError, match="oversized"):
            await request_offer("127.0.0.1", server.sockets[0].getsockname()[1], "ABCDE")
    finally:
        server.close()


# --- the engine side -----------------------------------------------------------------------------


@lan
async def test_link_a_second_device_over_the_lan_then_sync(tmp_path: Path) -> None:
    files = {"notes.txt": b"from a, before b existed\n", "sub/data.bin": os.urandom(200_000)}
    a, folder_id = device_a(tmp_path, files)
    b = engine_at(tmp_path / "b")
    pending = await lan_linking.create_offer(a, ttl=30, interfaces=LO, **FAST)
    assert [f.id for f in pending.folders] == [folder_id]
    serving = await serve_in_background(pending)
    linked = await asyncio.wait_for(lan_linking.accept_offer(b, pending.code, timeout=15, interfaces=LO), 20)
    served = await asyncio.wait_for(serving, 5)
    assert served.outcome is Outcome.FETCHED and served.peer == "127.0.0.1"
    assert linked.fingerprint == pending.fingerprint == load_account_keys(a.dirs).fingerprint()
    assert [(f.id, f.label, f.path) for f in linked.folders] == [(folder_id, "Docs", None)]
    assert keyring_path(b.dirs, folder_id).read_bytes() == keyring_path(a.dirs, folder_id).read_bytes()
    assert account_key_path(b.dirs).stat().st_mode & 0o777 == 0o600

    root_b = tmp_path / "b-docs"
    b.add_folder(root_b, folder_id=folder_id)  # `cove init PATH --id ID`
    root_a = a.folder(folder_id).path
    a.close()
    b.close()
    nodes = [NodeProcess(tmp_path / "a", tmp_path / "a.log"), NodeProcess(tmp_path / "b", tmp_path / "b.log")]
    try:
        wait_until(lambda: tree(root_b) == tree(root_a), 60, "b receives a's files over the LAN")
        (root_b / "from-b.txt").write_text("and back")
        wait_until(lambda: (root_a / "from-b.txt").exists(), 60, "a receives b's file")
    finally:
        for n in nodes:
            n.stop()
    assert tree(root_b)["sub/data.bin"] == files["sub/data.bin"]


@lan
async def test_wrong_code_uses_the_offer_up_and_saves_nothing(tmp_path: Path) -> None:
    """As with the relay's mailbox, fetching hands the offer out once: a wrong code (right slot,
    wrong secret, valid check character) fetches it, cannot open it, and it is gone."""
    a, _ = device_a(tmp_path)
    b = engine_at(tmp_path / "b")
    pending = await lan_linking.create_offer(a, ttl=30, interfaces=LO, **FAST)
    parsed = parse_code(pending.code)
    wrong = LinkCode(parsed.slot, new_code().secret).text
    with pytest.raises(LinkError):
        await lan_linking.accept_offer(b, parsed.text[:-1] + ("0" if parsed.text[-1] != "0" else "1"),
                                       timeout=5, interfaces=LO)  # a typo: refused before any network
    serving = await serve_in_background(pending)
    with pytest.raises(LinkError, match="does not open.*used up"):
        await asyncio.wait_for(lan_linking.accept_offer(b, wrong, timeout=15, interfaces=LO), 20)
    assert (await asyncio.wait_for(serving, 5)).outcome is Outcome.FETCHED
    assert nothing_saved(b)
    with pytest.raises(LinkError, match="no device on this network"):  # the offer is gone
        await lan_linking.accept_offer(b, pending.code, timeout=2, interfaces=LO)
    assert nothing_saved(b)


@lan
async def test_lan_only_keys_give_way_but_keys_in_use_and_other_keyrings_refuse(tmp_path: Path) -> None:
    a, folder_id = device_a(tmp_path)
    # b made its own keys for a folder of its own (LAN-only, never shown to another device)
    b = engine_at(tmp_path / "b")
    b.add_folder(tmp_path / "b-own")
    own = load_account_keys(b.dirs)
    pending = await lan_linking.create_offer(a, ttl=30, interfaces=LO, **FAST)
    serving = await serve_in_background(pending)
    linked = await asyncio.wait_for(lan_linking.accept_offer(b, pending.code, timeout=15, interfaces=LO), 20)
    await asyncio.wait_for(serving, 5)
    assert load_account_keys(b.dirs).sign_pk == load_account_keys(a.dirs).sign_pk
    assert linked.replaced_keys is not None and AccountKeys.load(linked.replaced_keys).sign_pk == own.sign_pk

    # c's keys are in use: another device on the LAN holds them
    c = engine_at(tmp_path / "c")
    c.add_folder(tmp_path / "c-own")
    c_keys = load_account_keys(c.dirs)
    directory = DeviceDirectory(c_keys.sign_pk, c.dirs.data / "lan" / "devices.json")
    directory.add(DeviceCertificate.issue(c_keys.signing_key, SigningKey.generate().verify_key.encode(), "local"))
    before = account_key_path(c.dirs).read_bytes()
    pending = await lan_linking.create_offer(a, ttl=30, interfaces=LO, **FAST)
    serving = await serve_in_background(pending)
    with pytest.raises(LinkError, match="keys of another account.*nothing saved"):
        await asyncio.wait_for(lan_linking.accept_offer(c, pending.code, timeout=15, interfaces=LO), 20)
    await asyncio.wait_for(serving, 5)
    assert account_key_path(c.dirs).read_bytes() == before and load_keyring(c.dirs, folder_id) is None

    # d holds a different key for a's folder: refused, nothing saved (not even the account key)
    d = engine_at(tmp_path / "d")
    keyring_path(d.dirs, folder_id).parent.mkdir(parents=True)
    FolderKeyring.create(folder_id).save(keyring_path(d.dirs, folder_id))
    ring_before = keyring_path(d.dirs, folder_id).read_bytes()
    pending = await lan_linking.create_offer(a, ttl=30, interfaces=LO, **FAST)
    serving = await serve_in_background(pending)
    with pytest.raises(LinkError, match="different key for folder"):
        await asyncio.wait_for(lan_linking.accept_offer(d, pending.code, timeout=15, interfaces=LO), 20)
    await asyncio.wait_for(serving, 5)
    assert not account_key_path(d.dirs).exists()
    assert keyring_path(d.dirs, folder_id).read_bytes() == ring_before


@lan
async def test_an_offer_expires(tmp_path: Path) -> None:
    a, _ = device_a(tmp_path)
    pending = await lan_linking.create_offer(a, ttl=0.5, interfaces=LO, **FAST)
    assert (await asyncio.wait_for(pending.serve(), 10)).outcome is Outcome.EXPIRED


def test_joining_a_lan_folder_needs_its_key_and_a_valid_id(tmp_path: Path) -> None:
    b = engine_at(tmp_path / "b")
    with pytest.raises(FolderError, match="no key of folder"):
        b.add_folder(tmp_path / "x", folder_id="abcdefghijklmnopqrst")
    with pytest.raises(FolderError, match="not a folder ID"):
        b.add_folder(tmp_path / "x", folder_id="../../oops")
    assert not (tmp_path / "x").exists() and nothing_saved(b)


# --- the CLI -------------------------------------------------------------------------------------


def cove(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


@lan
async def test_cli_link_over_the_lan(tmp_path: Path, capsys) -> None:
    a, folder_id = device_a(tmp_path, {"hello.txt": b"hi"})
    a.close()
    home_b = tmp_path / "b"

    # a typo is refused before anything touches the network
    assert await asyncio.to_thread(cove, home_b, "link", "ABCD-EFGH-JKMN-PQRS-TVWX-YZ01") == 1
    assert "typo" in capsys.readouterr().err

    proc = subprocess.Popen(
        [*CLI, "--home", str(tmp_path / "a"), "link", "--ttl", "30"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:  # the code is printed before it starts waiting
            lines.append(line)
            if line.startswith("Waiting"):
                break
        out_a = "".join(lines)
        code = CODE_RE.search(out_a).group(1)
        assert folder_id in out_a and "fingerprint" in out_a
        assert sum(1 for line in lines if "█" in line or "▀" in line or "▄" in line) > 10  # the QR code
        # the new device scans the QR text: no relay in it, so the LAN
        qr = link_qr_payload(code, "")
        assert await asyncio.to_thread(cove, home_b, "link", qr, "--timeout", "15") == 0
        out_b = capsys.readouterr().out
        fingerprint = load_account_keys(Dirs.under(tmp_path / "a")).fingerprint()
        assert fingerprint in out_b and f"cove init PATH --id {folder_id}    (Docs)" in out_b
        rest, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0 and "took the offer" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    assert await asyncio.to_thread(cove, home_b, "init", str(tmp_path / "b-docs"), "--id", folder_id) == 0
    assert f"folder id {folder_id}" in capsys.readouterr().out
    # the marker check: a directory that belongs to another Cove folder is not joined
    other = tmp_path / "other"
    other.mkdir()
    write_marker(other, "someotherfolder00001")
    assert await asyncio.to_thread(cove, tmp_path / "b2", "init", str(other), "--id", folder_id) == 1
    assert "already belongs to another Cove folder" in capsys.readouterr().err

    # the code is used up; nobody offers it any more
    assert await asyncio.to_thread(cove, tmp_path / "c", "link", code, "--timeout", "1") == 1
    err = capsys.readouterr().err
    assert err.startswith("cove: ") and "no device on this network" in err
    assert nothing_saved(engine_at(tmp_path / "c"))


@lan
def test_cli_link_expires_without_a_taker(tmp_path: Path) -> None:
    a, _ = device_a(tmp_path)
    a.close()
    done = subprocess.run(
        [*CLI, "--home", str(tmp_path / "a"), "link", "--ttl", "1"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 1 and "expired" in done.stderr, done.stderr
