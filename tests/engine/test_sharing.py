"""Sharing through a real relay on 127.0.0.1, through the engine facade the CLI and app use:
invitations, roles enforced by every client, removal with a new key epoch (and a removed user who
keeps a copy of the relay's data directory and still cannot read what came after), and a forged
membership change injected into the relay's storage."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import blake3
import pytest

from sync import crypto
from sync.account import account_key_path, keyring_path
from sync.config import Dirs
from sync.engine import Engine
from sync.entries import Payload, encode_payload
from sync.errors import CoveError
from sync.keys import AccountKeys, FolderKeyring, KeyringError, unwrap_folder_key
from sync.relay_client import Forbidden
from sync.sharing import SharingError, parse_invite
from sync.wire.envelopes import LogEntry
from tests.engine.sync_harness import tree

PASSWORD = "correct horse battery"


async def engine_for(tmp_path: Path, relay_server, name: str, user: str, same_as: Engine | None = None) -> Engine:
    e = Engine.create(Dirs.under(tmp_path / name))
    if same_as is not None:  # another device of the same user: linking hands the account key over
        account_key_path(e.dirs).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(account_key_path(same_as.dirs), account_key_path(e.dirs))
    else:
        await relay_server.create_user(user, PASSWORD)
    await e.login(relay_server.base, user, PASSWORD)
    return e


def root(e: Engine) -> Path:
    return e.dirs.data.parent / "Cove"


async def rounds(engines: list[Engine], n: int = 3) -> None:
    for _ in range(n):
        for e in engines:
            await e.sync_now()


def write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def refused(e: Engine, folder: str) -> list[str]:
    return [x.message for x in e.status(folder).errors if x.kind in ("refused_entry", "refused_membership_change")]


async def shared_folder(tmp_path: Path, relay_server, role: str = "editor"):
    alice = await engine_for(tmp_path, relay_server, "alice", "alice")
    bob1 = await engine_for(tmp_path, relay_server, "bob1", "bob")
    bob2 = await engine_for(tmp_path, relay_server, "bob2", "bob", same_as=bob1)
    folder = (await alice.add_relay_folder(root(alice))).id
    write(root(alice) / "hello.txt", "from alice")
    await alice.sync_now()
    invite = await alice.sharing.invite(root(alice), "bob", role)
    assert invite.invitee_fingerprint == bob1.sharing.fingerprint()
    return alice, bob1, bob2, folder, invite


async def test_invite_accept_edits_both_ways_and_roles(tmp_path: Path, relay_server) -> None:
    alice, bob1, bob2, folder, invite = await shared_folder(tmp_path, relay_server)
    # bob sees the invitation with alice's fingerprint, and accepts it with the link
    views = await bob1.sharing.invitations()
    assert [(v.id, v.invitation.inviter, v.invitation.role, v.problem) for v in views] == [
        (invite.invitation.id, "alice", "editor", None)]
    assert views[0].inviter_fingerprint == alice.sharing.fingerprint()
    assert parse_invite(invite.link) == (invite.invitation.id, alice.sharing.fingerprint().replace(" ", ""))
    await bob1.sharing.accept(invite.link, root(bob1))
    assert await bob1.sharing.invitations() == []
    # bob's second device joins the folder it now belongs to
    await bob2.add_relay_folder(root(bob2), folder)
    engines = [alice, bob1, bob2]
    await rounds(engines)
    assert tree(root(bob1))["hello.txt"] == b"from alice"
    write(root(bob2) / "from-bob.txt", "bob's laptop")
    write(root(alice) / "hello.txt", "alice again")
    await rounds(engines)
    assert tree(root(alice)) == tree(root(bob1)) == tree(root(bob2))
    assert tree(root(alice))["from-bob.txt"] == b"bob's laptop"

    info = await alice.sharing.info(folder)
    assert [(m.username, m.role, m.fingerprint) for m in info.members] == [
        ("alice", "owner", alice.sharing.fingerprint()), ("bob", "editor", bob1.sharing.fingerprint())]
    assert alice.sharing.is_shared(folder) and bob2.sharing.my_role(folder) == "editor"

    # bob becomes a viewer: his edits stay local and flagged; the relay and the clients refuse writes
    await alice.sharing.set_role(folder, "bob", "viewer")
    await rounds(engines, 1)
    write(root(bob1) / "viewer-edit.txt", "should stay here")
    await rounds(engines)
    assert "viewer-edit.txt" not in tree(root(alice)) and "viewer-edit.txt" not in tree(root(bob2))
    assert bob1.sharing.local_only(folder) == ["viewer-edit.txt"]
    write(root(alice) / "for-viewers.txt", "still received")
    await rounds(engines)
    assert tree(root(bob1))["for-viewers.txt"] == b"still received"

    # an entry a viewer's device signs anyway: 403 at the relay, refused by a client (LAN path)
    syncer = bob1.runner(folder).syncer
    head = syncer.index.head(syncer.me)
    seq, prev = (head[0] + 1, head[1]) if head else (1, "0" * 64)
    ct = crypto.seal_payload(encode_payload(Payload(device_name="viewer")), folder=folder, epoch=0,
                             device_id=syncer.me, seq=seq, folder_key=syncer.keyring.key(0))
    entry = LogEntry.signed(bob1.identity.signing_key, folder=folder, device=syncer.me, seq=seq, prev=prev,
                            blocks=[], ciphertext=ct)
    async with bob1.relay_client() as client:
        with pytest.raises(Forbidden):
            await client.append(folder, entry)
    report = await alice.runner(folder).syncer.ingest([entry])
    assert report.entries == 0 and "viewer" in report.refused[0]
    for e in engines:
        e.close()


async def test_decline_expiry_and_wrong_fingerprint(tmp_path: Path, relay_server, relay_clock) -> None:
    alice, bob1, bob2, folder, invite = await shared_folder(tmp_path, relay_server)
    wrong = invite.link.replace("fp=", "fp=X")
    with pytest.raises(SharingError, match="fingerprint"):
        await bob1.sharing.accept(wrong, root(bob1))
    await bob1.sharing.decline(invite.invitation.id)
    assert await bob1.sharing.invitations() == []
    again = await alice.sharing.invite(folder, "bob", "viewer", ttl=60)
    assert [i.id for i in (await alice.sharing.info(folder)).pending] == [again.invitation.id]
    relay_clock.advance(120)
    assert await bob1.sharing.invitations() == []
    with pytest.raises(SharingError):
        await bob1.sharing.accept(again.invitation.id, root(bob1))
    for e in (alice, bob1, bob2):
        e.close()


async def test_removal_starts_a_new_epoch_the_removed_user_cannot_read(tmp_path: Path, relay_server) -> None:
    alice, bob1, bob2, folder, invite = await shared_folder(tmp_path, relay_server)
    carol = await engine_for(tmp_path, relay_server, "carol", "carol")
    await bob1.sharing.accept(invite.invitation.id, root(bob1))
    inv = await alice.sharing.invite(folder, "carol", "editor")
    await carol.sharing.accept(inv.invitation.id, root(carol))
    engines = [alice, bob1, carol]
    write(root(alice) / "before.txt", "everyone saw this")
    await rounds(engines)
    assert tree(root(carol))["before.txt"] == b"everyone saw this"

    epoch = await alice.sharing.remove(folder, "carol")
    assert epoch == 1
    secret = b"written after carol left " + b"z" * 5000
    write(root(alice) / "after.txt", secret)
    write(root(bob1) / "bob-after.txt", "bob after the removal")
    await rounds([alice, bob1])
    assert tree(root(bob1))["after.txt"] == secret
    assert tree(root(alice))["bob-after.txt"] == b"bob after the removal"
    assert bob1.runner(folder).syncer.keyring.current_epoch == 1
    assert [m.username for m in (await bob1.sharing.info(folder)).members] == ["alice", "bob"]
    # carol's devices stop receiving
    with pytest.raises(CoveError, match="no longer a member"):
        await carol.sync_now()
    assert "after.txt" not in tree(root(carol))

    # carol keeps her account key, her keyring and a copy of the relay's whole data directory
    stolen = tmp_path / "stolen-relay"
    shutil.copytree(relay_server.config.data_dir, stolen)
    carol_keys = AccountKeys.load(account_key_path(carol.dirs))
    carol_ring = FolderKeyring.load(keyring_path(carol.dirs, folder))
    assert carol_ring.epochs == [0]
    db = sqlite3.connect(stolen / relay_server.config.db_path.name)
    # every wrapped key of epoch 1 fails to open with her key
    epoch1 = db.execute("SELECT username, wrapped FROM folder_keys WHERE folder_id=? AND epoch=1", (folder,)).fetchall()
    assert {u for u, _ in epoch1} == {"alice", "bob"}
    for _, wrapped in db.execute("SELECT username, wrapped FROM folder_keys WHERE folder_id=?", (folder,)):
        try:
            unwrap_folder_key(wrapped, folder=folder, epoch=1, account_keys=carol_keys,
                              trusted_signers=[alice.sharing._keys().sign_pk])
            raise AssertionError("carol opened an epoch-1 key")
        except KeyringError:
            pass
    # every log entry: those she can open are from before the removal and do not hold the secret
    unreadable = 0
    for device, seq, wire in db.execute("SELECT device_id, seq, wire FROM entries WHERE folder_id=?", (folder,)):
        entry = LogEntry.from_wire(json.loads(wire))
        try:
            plain = crypto.open_payload(entry.ciphertext, folder=folder, device_id=device, seq=seq,
                                        key_for_epoch=carol_ring)
        except crypto.UnknownEpoch:
            unreadable += 1
            continue
        assert crypto.peek_epoch(entry.ciphertext) == 0
        assert b"after.txt" not in plain and b"bob-after" not in plain
    assert unreadable >= 2  # alice's and bob's entries after the removal
    # every block: none opens to the secret's content
    wanted = blake3.blake3(secret).digest()
    new_blocks = 0
    for path in (stolen / relay_server.config.blocks_dir.name / folder).rglob("*"):
        if not path.is_file():
            continue
        try:
            crypto.open_block(path.read_bytes(), folder=folder, block_id=path.name, keys=carol_ring,
                              expected_plain_hash=wanted)
            raise AssertionError("carol decrypted the post-removal content")
        except crypto.UnknownEpoch:
            new_blocks += 1
        except crypto.CryptoError:
            pass  # an epoch-0 block she had anyway, not this content
    assert new_blocks >= 1
    db.close()
    for e in engines + [bob2]:
        e.close()


async def test_forged_membership_change_in_relay_storage_is_refused(tmp_path: Path, relay_server) -> None:
    alice, bob1, bob2, folder, invite = await shared_folder(tmp_path, relay_server)
    await bob1.sharing.accept(invite.invitation.id, root(bob1))
    mallory = await engine_for(tmp_path, relay_server, "mallory", "mallory")
    await rounds([alice, bob1])

    # the relay's storage gains a change "alice adds mallory as editor", signed with mallory's key
    from sync.wire.envelopes import MembershipChange
    mkeys = AccountKeys.load(account_key_path(mallory.dirs))
    forged = MembershipChange.signed(mkeys.signing_key, folder=folder, id="forged-by-the-relay-01", op="add",
                                     member="mallory", role="editor", signer="alice", epoch=0, issued_at=1)
    db = sqlite3.connect(relay_server.config.db_path)
    with db:
        seq = db.execute("SELECT MAX(seq)+1 FROM membership_log WHERE folder_id=?", (folder,)).fetchone()[0]
        db.execute("INSERT INTO membership_log VALUES (?,?,?,?,?)",
                   (folder, seq, forged.id, json.dumps(forged.to_wire(), sort_keys=True), 0.0))
        db.execute("INSERT INTO members VALUES (?,?,?)", (folder, "mallory", "editor"))
    db.close()
    # mallory's device (certified by her own account key) appends an entry the relay accepts
    from sync.lan.certs import DeviceCertificate
    key = FolderKeyring.create(folder)  # she has no folder key: any key of her own
    ct = crypto.seal_payload(encode_payload(Payload(device_name="mallory")), folder=folder, epoch=0,
                             device_id=mallory.identity.device_id, seq=1, folder_key=key.key(0))
    entry = LogEntry.signed(mallory.identity.signing_key, folder=folder, device=mallory.identity.device_id,
                            seq=1, prev="0" * 64, blocks=[], ciphertext=ct)
    async with mallory.relay_client() as client:
        await client.put_device_certificate(
            DeviceCertificate.issue(mkeys.signing_key, mallory.identity.public_key, "mallory").to_wire())
        await client.append(folder, entry)

    write(root(alice) / "still.txt", "syncing")
    for e in (alice, bob1):
        await e.sync_now()
        messages = refused(e, folder)
        assert any("mallory" in m and "not signed" in m for m in messages), messages
        assert any("not a member device" in m for m in messages), messages
        info = await e.sharing.info(folder)
        assert [m.username for m in info.members] == ["alice", "bob"] and info.refused
    await rounds([alice, bob1])
    assert tree(root(bob1))["still.txt"] == b"syncing"
    for e in (alice, bob1, bob2, mallory):
        e.close()


async def test_a_shared_folder_syncs_in_the_daemon_with_lan_on(tmp_path: Path, relay_server) -> None:
    """`cove daemon` and the app run Engine.run with LAN sync on (the default): a relay folder is
    attached through the LAN glue, which must install the sharing authority too — else the other
    user's devices are unknown and their entries refused."""
    import asyncio

    from sync.lan.discovery import enable_loopback_multicast
    from tests.lan.harness import wait_for

    if not enable_loopback_multicast():
        pytest.skip("cannot enable multicast on lo")
    alice, bob1, _bob2, folder, invite = await shared_folder(tmp_path, relay_server)
    await bob1.sharing.accept(invite.link, root(bob1))
    stop = asyncio.Event()
    tasks = [asyncio.create_task(e.run(stop, lambda line: None, lan_interfaces=["127.0.0.1"], lan_host="127.0.0.1"))
             for e in (alice, bob1)]
    try:
        await wait_for(lambda: tree(root(bob1)).get("hello.txt") == b"from alice", timeout=30,
                       what="alice's file in bob's daemon")
        assert bob1.runner(folder).syncer.authority is not None
        write(root(bob1) / "from-bob.txt", "bob, daemon")
        await wait_for(lambda: tree(root(alice)).get("from-bob.txt") == b"bob, daemon", timeout=30,
                       what="bob's file in alice's daemon")
        assert not refused(alice, folder) and not refused(bob1, folder)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
