"""Device linking end to end against a real relay on 127.0.0.1: `cove link` on a set-up device,
`cove link CODE` on a new one. The account keys arrive only with the right code, once, in time,
untouched; every failure leaves the new device without keys and without a relay account."""

from __future__ import annotations

import asyncio
import io
import re
import sqlite3
from pathlib import Path

import pytest

from sync.account import NeedsLink, account_key_path, load_account_keys
from sync.cli import main
from sync.config import Dirs, load_app_config
from sync.engine import Engine
from sync.keys import AccountKeys, LinkCode, LinkError, LinkOffer, new_code, parse_code
from sync.linking import parse_link_input, qr_payload
from sync.relay_client import AuthError, RelayClient

PASSWORD = "correct horse battery"


@pytest.fixture
async def first(tmp_path: Path, relay_server) -> Engine:
    """Device 0 of alice: signed in (it created the account keys) with one relay folder."""
    await relay_server.create_user("alice", PASSWORD)
    engine = Engine.create(Dirs.under(tmp_path / "dev0"))
    await engine.login(relay_server.base, "alice", PASSWORD)
    await engine.add_relay_folder(tmp_path / "dev0" / "Cove")
    yield engine
    engine.close()


def new_device(tmp_path: Path, name: str) -> Engine:
    return Engine.create(Dirs.under(tmp_path / name))


def assert_nothing_saved(engine: Engine) -> None:
    assert not account_key_path(engine.dirs).exists()
    assert load_app_config(engine.dirs).relay is None
    assert engine.config.relay is None


def relay_db(relay_server) -> sqlite3.Connection:
    return sqlite3.connect(relay_server.config.db_path, timeout=10)


async def test_round_trip(tmp_path: Path, relay_server, first: Engine) -> None:
    dev1 = new_device(tmp_path, "dev1")
    # signing in alone is not enough: the account's keys live on the other device
    with pytest.raises(NeedsLink):
        await dev1.login(relay_server.base, "alice", PASSWORD)
    offer = await first.link_offer()
    assert parse_code(offer.code).text == offer.code and offer.ttl == 600
    assert parse_link_input(offer.qr_payload) == (offer.code, relay_server.base, "alice")
    linked = await dev1.link_accept(offer.code, relay_server.base, "alice", PASSWORD)
    keys0, keys1 = load_account_keys(first.dirs), load_account_keys(dev1.dirs)
    assert keys1 is not None and keys0 is not None
    assert (keys1.sign_pk, keys1.box_pk) == (keys0.sign_pk, keys0.box_pk)
    assert linked.fingerprint == offer.fingerprint == keys0.fingerprint()
    assert load_app_config(dev1.dirs).relay.username == "alice"
    [folder] = first.config.folders
    assert [f.folder for f in linked.folders or []] == [folder.id]
    # the linked device can join the folder and sync it
    (folder.path / "hello.txt").write_text("from device 0")
    await first.sync_now()
    added = await dev1.add_relay_folder(tmp_path / "dev1" / "Cove", folder.id)
    await dev1.sync_now()
    assert (added.path / "hello.txt").read_text() == "from device 0"
    # the mailbox is empty again; a later sign-in finds matching keys
    with relay_db(relay_server) as conn:
        assert conn.execute("SELECT COUNT(*) FROM link_offers").fetchone()[0] == 0
    assert not (await dev1.login(relay_server.base, "alice", PASSWORD)).created_keys
    dev1.close()


async def test_wrong_code(tmp_path: Path, relay_server, first: Engine) -> None:
    offer = await first.link_offer()
    dev1 = new_device(tmp_path, "dev1")
    # a well-formed code of another slot: the relay has nothing there
    with pytest.raises(LinkError, match="no link offer"):
        await dev1.link_accept(new_code().text, relay_server.base, "alice", PASSWORD)
    assert_nothing_saved(dev1)
    # a typo is caught by the check character before anything is sent
    typo = offer.code[:-1] + ("0" if offer.code[-1] != "0" else "1")
    with pytest.raises(LinkError, match="typo"):
        await dev1.link_accept(typo, relay_server.base, "alice", PASSWORD)
    # the right slot with the wrong secret: the offer does not open (and is used up)
    slot = parse_code(offer.code).slot
    wrong = LinkCode(slot, new_code().secret).text
    with pytest.raises(LinkError, match="does not open"):
        await dev1.link_accept(wrong, relay_server.base, "alice", PASSWORD)
    assert_nothing_saved(dev1)
    with pytest.raises(LinkError, match="no link offer"):
        await dev1.link_accept(offer.code, relay_server.base, "alice", PASSWORD)
    # the wrong password never reaches the mailbox
    offer = await first.link_offer()
    with pytest.raises(AuthError):
        await dev1.link_accept(offer.code, relay_server.base, "alice", "not the password")
    assert_nothing_saved(dev1)
    await dev1.link_accept(offer.code, relay_server.base, "alice", PASSWORD)
    dev1.close()


async def test_offer_is_single_use(tmp_path: Path, relay_server, first: Engine) -> None:
    offer = await first.link_offer()
    dev1, dev2 = new_device(tmp_path, "dev1"), new_device(tmp_path, "dev2")
    await dev1.link_accept(offer.code, relay_server.base, "alice", PASSWORD)
    with pytest.raises(LinkError, match="used already"):
        await dev2.link_accept(offer.code, relay_server.base, "alice", PASSWORD)
    assert_nothing_saved(dev2)
    for e in (dev1, dev2):
        e.close()


async def test_expired_offer(tmp_path: Path, relay_server, first: Engine) -> None:
    offer = await first.link_offer()
    relay_server.clock.advance(601)
    dev1 = new_device(tmp_path, "dev1")
    with pytest.raises(LinkError, match="expired"):
        await dev1.link_accept(offer.code, relay_server.base, "alice", PASSWORD)
    assert_nothing_saved(dev1)
    dev1.close()


async def test_other_account_cannot_take_the_offer(tmp_path: Path, relay_server, first: Engine) -> None:
    await relay_server.create_user("mallory", PASSWORD)
    offer = await first.link_offer()
    eve = new_device(tmp_path, "eve")
    with pytest.raises(LinkError, match="no link offer"):
        await eve.link_accept(offer.code, relay_server.base, "mallory", PASSWORD)
    assert_nothing_saved(eve)
    dev1 = new_device(tmp_path, "dev1")
    await dev1.link_accept(offer.code, relay_server.base, "alice", PASSWORD)  # still there for alice
    for e in (eve, dev1):
        e.close()


@pytest.mark.parametrize("swap", ["flipped_byte", "offer_of_the_relay", "truncated"])
async def test_relay_swapping_the_blob_is_detected(tmp_path: Path, relay_server, first: Engine, swap: str) -> None:
    offer = await first.link_offer()
    code = parse_code(offer.code)
    with relay_db(relay_server) as conn:
        (blob,) = conn.execute("SELECT blob FROM link_offers WHERE slot=?", (code.slot,)).fetchone()
        if swap == "flipped_byte":
            forged = bytearray(blob)
            forged[-5] ^= 0x01
            forged = bytes(forged)
        elif swap == "offer_of_the_relay":  # the relay's own keys under the (public) slot
            forged = LinkOffer.create(AccountKeys.generate(), relay_server.base, "alice",
                                      code=LinkCode(code.slot, new_code().secret)).blob
        else:
            forged = bytes(blob[:40])
        conn.execute("UPDATE link_offers SET blob=? WHERE slot=?", (forged, code.slot))
    dev1 = new_device(tmp_path, "dev1")
    with pytest.raises(LinkError):
        await dev1.link_accept(offer.code, relay_server.base, "alice", PASSWORD)
    assert_nothing_saved(dev1)
    dev1.close()


async def test_keys_that_are_not_the_accounts_are_refused(tmp_path: Path, relay_server, first: Engine) -> None:
    """An offer that opens with the code but carries other keys than the account publishes (a
    rogue device, or a relay colluding with one) is refused."""
    rogue = LinkOffer.create(AccountKeys.generate(), relay_server.base, "alice")
    async with RelayClient(relay_server.base, first.identity) as client:
        await client.deposit_link(rogue.slot, rogue.blob)
    dev1 = new_device(tmp_path, "dev1")
    with pytest.raises(LinkError, match="do not match"):
        await dev1.link_accept(rogue.code, relay_server.base, "alice", PASSWORD)
    assert_nothing_saved(dev1)
    # and an offer naming another account than the one signed in to
    other = LinkOffer.create(load_account_keys(first.dirs), relay_server.base, "bob")
    async with RelayClient(relay_server.base, first.identity) as client:
        await client.deposit_link(other.slot, other.blob)
    with pytest.raises(LinkError, match="for the account 'bob'"):
        await dev1.link_accept(other.code, relay_server.base, "alice", PASSWORD)
    assert_nothing_saved(dev1)
    dev1.close()


async def test_offer_needs_a_set_up_device(tmp_path: Path, relay_server) -> None:
    from sync.errors import CoveError

    dev = new_device(tmp_path, "dev")
    # no relay: a LAN offer (sync/lan/linking.py), which needs the account keys `cove init` makes
    with pytest.raises(CoveError, match="no account keys to hand on"):
        await dev.link_offer()
    dev.close()


def cove(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


async def test_cli_link(tmp_path: Path, relay_server, first: Engine, capsys, monkeypatch) -> None:
    first.close()
    home0 = tmp_path / "dev0"
    assert await asyncio.to_thread(cove, home0, "link") == 0
    out = capsys.readouterr().out
    code = re.search(r"\b([0-9A-Z]{4}(?:-[0-9A-Z]{4}){5})\b", out).group(1)
    assert parse_code(code).text == code
    qr_lines = [line for line in out.splitlines() if "█" in line or "▀" in line or "▄" in line]
    assert len(qr_lines) > 10  # a QR code block in the terminal
    assert "valid for 10 minutes" in out and first.config.relay.url in out

    # the new device: code and flags, password on stdin
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    args = ("link", code, "--relay", relay_server.base, "--username", "alice", "--password-stdin")
    assert await asyncio.to_thread(cove, tmp_path / "dev1", *args) == 0
    out = capsys.readouterr().out
    fingerprint = load_account_keys(first.dirs).fingerprint()
    assert fingerprint in out and "Linked this device to alice" in out
    [folder] = first.config.folders
    assert f"cove folder add PATH --id {folder.id}" in out

    # a third device with the QR text alone (relay and username come from it)
    assert await asyncio.to_thread(cove, home0, "link") == 0
    code = re.search(r"\b([0-9A-Z]{4}(?:-[0-9A-Z]{4}){5})\b", capsys.readouterr().out).group(1)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    text = qr_payload(code, relay_server.base, "alice")
    assert await asyncio.to_thread(cove, tmp_path / "dev2", "link", text, "--password-stdin") == 0
    assert fingerprint in capsys.readouterr().out

    # a used code: a clear message, exit 1, nothing saved
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert await asyncio.to_thread(cove, tmp_path / "dev3", "link", text, "--password-stdin") == 1
    err = capsys.readouterr().err
    assert err.startswith("cove: ") and "used already" in err
    assert not account_key_path(Dirs.under(tmp_path / "dev3")).exists()
    assert load_app_config(Dirs.under(tmp_path / "dev3")).relay is None
