"""Happy paths through every area of the relay API, against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest

from relay import keys
from relay.app import sweep_revocations
from relay.gc import collect_once
from relay.testing import ApiError, block_id_for
from sync.wire.canonical import b64encode

DEADLINE = 10.0


async def recv_json(ws, timeout: float = DEADLINE) -> dict:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type.name == "TEXT", msg
    return json.loads(msg.data)


async def recv_until(ws, predicate, limit: int = 50) -> dict:
    for _ in range(limit):
        msg = await recv_json(ws)
        if predicate(msg):
            return msg
    raise AssertionError("expected message not received")


# -- accounts, devices, tokens -------------------------------------------------------------------


async def test_account_device_and_keys(make_client):
    alice = await make_client("alice")
    account = await alice.call("GET", "/v1/account")
    assert account["username"] == "alice" and account["device"] == alice.me.device_id
    assert account["usage"] == {"used": 0, "quota": 10 * 1024**3, "blocks": 0}
    devices = await alice.call("GET", "/v1/devices", token="account")
    assert [d["device"] for d in devices["devices"]] == [alice.me.device_id]
    # registering the same key again is idempotent
    await alice.register_device()
    bob = await make_client("bob")
    keys_ = await bob.call("GET", "/v1/users/alice/keys")
    assert keys_["sign_pk"] == b64encode(bytes(alice.me.user_sign.verify_key))


async def test_second_device_links_and_revocation_is_immediate(make_client, relay, session):
    alice = await make_client("alice")
    from relay.testing import RelayClient

    laptop = RelayClient(relay.base, session, alice.me.other_device())
    laptop.account_token = alice.account_token
    await laptop.register_device("laptop")
    await laptop.authenticate()
    assert (await laptop.call("GET", "/v1/account"))["device"] == laptop.me.device_id
    await alice.call("DELETE", f"/v1/devices/{laptop.me.device_id}", token="account")
    with pytest.raises(ApiError) as err:
        await laptop.call("GET", "/v1/account")
    assert err.value.status == 401 and err.value.code == "device_revoked"
    with pytest.raises(ApiError) as err:
        await laptop.authenticate()
    assert err.value.status == 404


async def test_disabled_account_loses_access_at_once(make_client, relay):
    alice = await make_client("alice")
    await relay.app[keys.OFFLOAD](relay.app[keys.ACCOUNTS].set_disabled, "alice", True)
    with pytest.raises(ApiError) as err:
        await alice.call("GET", "/v1/folders")
    assert err.value.status == 403 and err.value.code == "account_disabled"
    with pytest.raises(ApiError) as err:
        await alice.login()
    assert err.value.status == 403


async def test_tokens_expire(make_client, clock):
    alice = await make_client("alice")
    clock.advance(3601)
    with pytest.raises(ApiError) as err:
        await alice.call("GET", "/v1/folders")
    assert err.value.code == "token_expired"
    await alice.authenticate()
    await alice.call("GET", "/v1/folders")


async def test_challenge_is_single_use_and_expires(make_client, clock):
    from sync.wire.envelopes import sign_relay_auth

    alice = await make_client("alice")
    ch = await alice.call("POST", "/v1/auth/challenge", json={"device": alice.me.device_id}, token=None)
    body = {"device": alice.me.device_id, "challenge": ch["challenge"],
            "signature": b64encode(sign_relay_auth(alice.me.device_key, alice.me.device_id, ch["challenge"]))}
    await alice.call("POST", "/v1/auth/token", json=body, token=None)
    with pytest.raises(ApiError) as err:
        await alice.call("POST", "/v1/auth/token", json=body, token=None)
    assert err.value.code == "challenge_invalid"
    ch = await alice.call("POST", "/v1/auth/challenge", json={"device": alice.me.device_id}, token=None)
    body["challenge"] = ch["challenge"]
    body["signature"] = b64encode(sign_relay_auth(alice.me.device_key, alice.me.device_id, ch["challenge"]))
    clock.advance(121)
    with pytest.raises(ApiError) as err:
        await alice.call("POST", "/v1/auth/token", json=body, token=None)
    assert err.value.code == "challenge_invalid"


async def test_login_rate_limit(make_client, clock):
    alice = await make_client("alice")
    good = alice.me.password
    alice.me.password = "wrong password!"
    for _ in range(5):
        with pytest.raises(ApiError) as err:
            await alice.login()
        assert err.value.status == 401
    alice.me.password = good
    with pytest.raises(ApiError) as err:
        await alice.login()
    assert err.value.status == 429 and err.value.code == "too_many_requests"
    clock.advance(301)
    await alice.login()


async def test_registration_can_be_closed(tmp_path, session):
    from relay.testing import Identity, RelayClient, running_relay
    from tests.relay.conftest import make_config

    async with running_relay(make_config(tmp_path / "d", open_registration=False)) as (base, _):
        client = RelayClient(base, session, Identity("carol"))
        with pytest.raises(ApiError) as err:
            await client.signup()
        assert err.value.status == 403 and err.value.code == "registration_closed"


# -- device-link mailbox --------------------------------------------------------------------------


async def _new_device_of(alice, relay, session):
    """A second device of alice's account, signed in with the password only (an account token)."""
    from relay.testing import RelayClient

    laptop = RelayClient(relay.base, session, alice.me.other_device())
    await laptop.login()
    await laptop.register_device("laptop")
    return laptop


async def test_link_offer_is_delivered_once(make_client, relay, session, clock):
    alice = await make_client("alice")
    blob = b"\x01opaque link offer" * 10
    out = await alice.call("POST", "/v1/link", json={"slot": "AB3DE", "blob": b64encode(blob)})
    assert out == {"slot": "AB3DE", "expires_at": int(clock() + 600)}
    laptop = await _new_device_of(alice, relay, session)
    got = await laptop.call("GET", "/v1/link/AB3DE", token="account")
    assert got == {"slot": "AB3DE", "blob": b64encode(blob)}
    with pytest.raises(ApiError) as err:  # single use
        await laptop.call("GET", "/v1/link/AB3DE", token="account")
    assert err.value.status == 404 and err.value.code == "link_not_found"
    # the slot is free again; a device token of the account may fetch too
    await alice.call("POST", "/v1/link", json={"slot": "AB3DE", "blob": b64encode(blob), "ttl": 3600})
    assert (await alice.call("GET", "/v1/link/AB3DE"))["blob"] == b64encode(blob)
    with relay.db() as conn:
        assert conn.execute("SELECT COUNT(*) FROM link_offers").fetchone()[0] == 0


async def test_link_offer_expires_and_belongs_to_its_account(make_client, relay, session, clock):
    alice, carol = await make_client("alice"), await make_client("carol")
    body = {"slot": "ZZ9ZZ", "blob": b64encode(b"x" * 100), "ttl": 30}
    await alice.call("POST", "/v1/link", json=body)
    with pytest.raises(ApiError) as err:  # another account: 404, and the offer survives
        await carol.call("GET", "/v1/link/ZZ9ZZ", token="account")
    assert err.value.status == 404
    with pytest.raises(ApiError) as err:  # one pending offer per slot
        await carol.call("POST", "/v1/link", json=body)
    assert err.value.status == 409 and err.value.code == "slot_taken"
    clock.advance(31)
    laptop = await _new_device_of(alice, relay, session)
    with pytest.raises(ApiError) as err:
        await laptop.call("GET", "/v1/link/ZZ9ZZ", token="account")
    assert err.value.status == 404
    await carol.authenticate()
    await carol.call("POST", "/v1/link", json=body)  # expired slots are reused (and purged)
    with relay.db() as conn:
        assert conn.execute("SELECT username FROM link_offers").fetchall() == [("carol",)]


async def test_link_fetch_misses_are_rate_limited(make_client, relay, session, clock):
    alice = await make_client("alice")
    await alice.call("POST", "/v1/link", json={"slot": "G00D1", "blob": b64encode(b"y" * 64)})
    laptop = await _new_device_of(alice, relay, session)
    for i in range(10):
        with pytest.raises(ApiError) as err:
            await laptop.call("GET", f"/v1/link/M0SS{i}", token="account")
        assert err.value.status == 404
    with pytest.raises(ApiError) as err:  # even the right slot waits now
        await laptop.call("GET", "/v1/link/G00D1", token="account")
    assert err.value.status == 429
    clock.advance(301)
    await laptop.login()
    assert (await laptop.call("GET", "/v1/link/G00D1", token="account"))["blob"] == b64encode(b"y" * 64)


async def test_link_pending_offers_per_account_are_bounded(make_client):
    alice = await make_client("alice")
    for i in range(8):
        await alice.call("POST", "/v1/link", json={"slot": f"S10T{i}", "blob": b64encode(b"z" * 32)})
    with pytest.raises(ApiError) as err:
        await alice.call("POST", "/v1/link", json={"slot": "S10T9", "blob": b64encode(b"z" * 32)})
    assert err.value.status == 409 and err.value.code == "too_many_link_offers"


# -- folders, membership, invitations -----------------------------------------------------------


async def test_folder_invitation_accept_and_roles(make_client):
    alice, bob = await make_client("alice"), await make_client("bob")
    folder = await alice.create_folder()
    inv = await alice.invite(folder, "bob", "viewer")
    pending = await bob.call("GET", "/v1/invitations")
    assert [i["id"] for i in pending["invitations"]] == [inv]
    assert pending["invitations"][0]["wrapped_key"] == b64encode(b"wrapped-for-bob")
    owners_view = await alice.call("GET", f"/v1/folders/{folder}/invitations")
    assert [i["id"] for i in owners_view["invitations"]] == [inv]
    assert (await bob.accept(inv))["role"] == "viewer"
    info = await bob.call("GET", f"/v1/folders/{folder}")
    assert {(m["username"], m["role"]) for m in info["members"]} == {("alice", "owner"), ("bob", "viewer")}
    assert [c["op"] for c in info["membership_log"]] == ["create", "add"]
    assert (await bob.call("GET", f"/v1/folders/{folder}/keys"))["keys"] == [
        {"epoch": 0, "wrapped_key": b64encode(b"wrapped-for-bob")}]
    # viewer cannot write
    with pytest.raises(ApiError) as err:
        await bob.append(folder)
    assert err.value.status == 403
    with pytest.raises(ApiError) as err:
        await bob.put_block(folder, b"x")
    assert err.value.status == 403
    # promote to editor: now bob can append
    change = alice.change(folder, "set_role", "bob", "editor")
    await alice.call("POST", f"/v1/folders/{folder}/membership", json={"change": change.to_wire()})
    await bob.append(folder)
    # new epoch keys by the owner
    await alice.call("PUT", f"/v1/folders/{folder}/keys", json={"epoch": 1, "keys": {
        "alice": b64encode(b"a1"), "bob": b64encode(b"b1")}})
    assert len((await bob.call("GET", f"/v1/folders/{folder}/keys"))["keys"]) == 2
    # remove bob: access ends at once
    change = alice.change(folder, "remove", "bob", None, epoch=2)
    await alice.call("POST", f"/v1/folders/{folder}/membership", json={"change": change.to_wire()})
    with pytest.raises(ApiError) as err:
        await bob.read_log(folder)
    assert err.value.status == 404
    # the last owner cannot leave
    change = alice.change(folder, "remove", "alice", None)
    with pytest.raises(ApiError) as err:
        await alice.call("POST", f"/v1/folders/{folder}/membership", json={"change": change.to_wire()})
    assert err.value.code == "last_owner"


async def test_invitation_decline_revoke_and_expiry(make_client, clock):
    alice, bob = await make_client("alice"), await make_client("bob")
    folder = await alice.create_folder()
    inv1 = await alice.invite(folder, "bob")
    await bob.call("POST", f"/v1/invitations/{inv1}/decline")
    assert (await bob.call("GET", "/v1/invitations"))["invitations"] == []
    inv2 = await alice.invite(folder, "bob")
    await alice.call("DELETE", f"/v1/folders/{folder}/invitations/{inv2}")
    with pytest.raises(ApiError) as err:
        await bob.accept(inv2)
    assert err.value.status == 410
    inv3 = await alice.invite(folder, "bob", ttl=60)
    clock.advance(61)
    assert (await bob.call("GET", "/v1/invitations"))["invitations"] == []
    with pytest.raises(ApiError) as err:
        await bob.accept(inv3)
    assert err.value.status == 410 and err.value.code == "invitation_expired"


async def test_member_can_leave(make_client):
    alice, bob = await make_client("alice"), await make_client("bob")
    folder = await alice.create_folder()
    await bob.accept(await alice.invite(folder, "bob"))
    change = bob.change(folder, "remove", "bob", None)
    await bob.call("POST", f"/v1/folders/{folder}/membership", json={"change": change.to_wire()})
    assert (await bob.call("GET", "/v1/folders"))["folders"] == []


# -- logs ---------------------------------------------------------------------------------------


async def test_append_cas_idempotency_pagination_heads_cursor(make_client):
    alice = await make_client("alice")
    folder = await alice.create_folder()
    entries = []
    for i in range(25):
        entry = alice.next_entry(folder, ciphertext=f"e{i}".encode())
        out = await alice.append_entry(entry)
        assert out["rseq"] == i + 1 and out["created"]
        entries.append(entry)
    # identical retry is idempotent and does not move anything
    again = await alice.call("POST", f"/v1/folders/{folder}/log", json={"entry": entries[3].to_wire()})
    assert again == {"rseq": 4, "hash": entries[3].entry_hash(), "created": False}
    # stale head → 409 with the current head
    from relay.testing import Head

    alice.heads[folder] = Head(3, entries[2].entry_hash())
    with pytest.raises(ApiError) as err:
        await alice.append(folder, ciphertext=b"fork")
    assert err.value.status == 409
    assert err.value.body["error"]["head"] == {"seq": 25, "hash": entries[-1].entry_hash()}
    # pagination
    page = await alice.read_log(folder, after=0, limit=10)
    assert [e["rseq"] for e in page["entries"]] == list(range(1, 11)) and page["more"] and page["next"] == 10
    all_entries = await alice.read_all(folder)
    assert [e["entry"]["seq"] for e in all_entries] == list(range(1, 26))
    assert all_entries[0]["entry"] == entries[0].to_wire()
    heads = await alice.call("GET", f"/v1/folders/{folder}/heads")
    assert heads["heads"] == {alice.me.device_id: {"seq": 25, "hash": entries[-1].entry_hash()}}
    await alice.call("PUT", f"/v1/folders/{folder}/cursor", json={"rseq": 20})
    assert (await alice.call("GET", f"/v1/folders/{folder}/cursor"))["rseq"] == 20
    with pytest.raises(ApiError) as err:
        await alice.call("PUT", f"/v1/folders/{folder}/cursor", json={"rseq": 26})
    assert err.value.status == 422


async def test_two_devices_interleave_relay_sequence(make_client):
    alice, bob = await make_client("alice"), await make_client("bob")
    folder = await alice.create_folder()
    await bob.accept(await alice.invite(folder, "bob"))
    for _ in range(3):
        await alice.append(folder)
        await bob.append(folder)
    log = await bob.read_all(folder)
    assert [e["rseq"] for e in log] == list(range(1, 7))
    assert [e["entry"]["device"] for e in log] == [alice.me.device_id, bob.me.device_id] * 3


# -- blocks -------------------------------------------------------------------------------------


async def test_blocks_put_get_head_missing_idempotent(make_client, relay, session):
    alice = await make_client("alice")
    folder = await alice.create_folder()
    data = b"\x00\x01" * 5000
    bid = await alice.put_block(folder, data)
    assert await alice.get_block(folder, bid) == data
    async with session.head(f"{relay.base}/v1/folders/{folder}/blocks/{bid}",
                            headers={"Authorization": f"Bearer {alice.token}"}) as resp:
        assert resp.status == 200
        assert resp.headers["X-Cove-Sha256"] == hashlib.sha256(data).hexdigest()
        assert int(resp.headers["Content-Length"]) == len(data)
    out = await alice.call("PUT", f"/v1/folders/{folder}/blocks/{bid}", data=data,
                           headers={"X-Cove-Sha256": hashlib.sha256(data).hexdigest()})
    assert out["created"] is False
    other = block_id_for(b"other")
    missing = await alice.call("POST", f"/v1/folders/{folder}/blocks/missing", json={"blocks": [bid, other]})
    assert missing == {"missing": [other]}
    usage = (await alice.call("GET", "/v1/account"))["usage"]
    assert usage == {"used": len(data), "quota": 10 * 1024**3, "blocks": 1}


async def test_blocks_are_scoped_to_folders(make_client):
    alice, bob = await make_client("alice"), await make_client("bob")
    fa = await alice.create_folder()
    fb = await bob.create_folder()
    bid = await alice.put_block(fa, b"secret")
    with pytest.raises(ApiError) as err:
        await bob.get_block(fa, bid)
    assert err.value.status == 404
    with pytest.raises(ApiError) as err:
        await bob.get_block(fb, bid)
    assert err.value.status == 404


async def test_append_requires_blocks_and_counts_refs(make_client, relay):
    alice = await make_client("alice")
    folder = await alice.create_folder()
    with pytest.raises(ApiError) as err:
        await alice.append(folder, [block_id_for(b"never uploaded")])
    assert err.value.status == 422 and err.value.code == "missing_blocks"
    bid = await alice.put_block(folder, b"abc")
    await alice.append(folder, [bid, bid])
    await alice.append(folder, [bid])
    info = await relay.app[keys.OFFLOAD](relay.app[keys.BLOCK_INDEX].get_block, folder, bid)
    assert info.refcount == 2


async def test_quota_507(make_client, relay):
    alice = await make_client("alice")
    await relay.app[keys.OFFLOAD](relay.app[keys.ACCOUNTS].set_quota, "alice", 1000)
    folder = await alice.create_folder()
    await alice.put_block(folder, b"a" * 600)
    before = relay.snapshot()
    with pytest.raises(ApiError) as err:
        await alice.put_block(folder, b"b" * 600)
    assert err.value.status == 507
    assert relay.snapshot() == before


async def test_batch_upload_all_or_nothing_idempotent(make_client, relay):
    alice = await make_client("alice")
    bob = await make_client("bob")
    folder = await alice.create_folder()
    await bob.accept(await alice.invite(folder, "bob", "editor"))
    blocks = [bytes([i]) * (1 + i * 5000) for i in range(6)]  # sizes around the 4 KiB alignment
    out = await alice.put_blocks(folder, blocks[:4])
    assert out["created"] == 4
    assert [b["block"] for b in out["blocks"]] == [block_id_for(b) for b in blocks[:4]]
    assert all(b["created"] for b in out["blocks"]) and [b["size"] for b in out["blocks"]] == [len(b) for b in blocks[:4]]
    # a second batch that overlaps: old ones are no-ops, new ones are created, in request order
    out = await bob.put_blocks(folder, [blocks[5], blocks[1], blocks[4]])
    assert [b["created"] for b in out["blocks"]] == [True, False, True] and out["created"] == 2
    for data in blocks:
        assert await alice.get_block(folder, block_id_for(data)) == data
    assert (await alice.call("POST", f"/v1/folders/{folder}/blocks/missing",
                             json={"blocks": [block_id_for(b) for b in blocks]}))["missing"] == []
    used, _, count = await relay.app[keys.OFFLOAD](relay.app[keys.BLOCK_INDEX].usage, "alice")
    assert (used, count) == (sum(map(len, blocks[:4])), 4)  # bob is charged for the two he added
    assert await alice.append(folder, [block_id_for(b) for b in blocks])
    assert list(relay.config.blocks_dir.joinpath(".tmp").iterdir()) == []


async def test_batch_upload_over_quota_stores_nothing(make_client, relay):
    alice = await make_client("alice")
    await relay.app[keys.OFFLOAD](relay.app[keys.ACCOUNTS].set_quota, "alice", 1000)
    folder = await alice.create_folder()
    await alice.put_blocks(folder, [b"a" * 400])
    before = relay.snapshot()
    with pytest.raises(ApiError) as err:
        await alice.put_blocks(folder, [b"b" * 300, b"c" * 301])  # each fits, together they do not
    assert err.value.status == 507 and err.value.code == "quota_exceeded"
    assert relay.snapshot() == before


async def test_concurrent_uploads_share_sync_rounds(make_client, relay):
    alice = await make_client("alice")
    folder = await alice.create_folder()
    group = relay.app[keys.GROUP_SYNC]
    rounds = group.rounds
    datas = [bytes([i]) * 70_000 for i in range(24)]
    await asyncio.gather(*(alice.put_block(folder, d) for d in datas))
    assert group.rounds - rounds < len(datas)
    for d in datas:
        assert await alice.get_block(folder, block_id_for(d)) == d


async def test_gc_collects_unreferenced_after_grace(make_client, relay, clock):
    alice = await make_client("alice")
    folder = await alice.create_folder()
    kept = await alice.put_block(folder, b"referenced")
    dropped = await alice.put_block(folder, b"orphan")
    await alice.append(folder, [kept])
    assert await collect_once(relay.app, clock()) == 0  # within grace
    clock.advance(3601)
    assert await collect_once(relay.app, clock()) == 1
    await alice.authenticate()  # the old token expired with the clock jump
    with pytest.raises(ApiError) as err:
        await alice.get_block(folder, dropped)
    assert err.value.status == 404
    assert await alice.get_block(folder, kept) == b"referenced"
    usage = (await alice.call("GET", "/v1/account"))["usage"]
    assert usage["used"] == len(b"referenced")
    assert not any(p.name == dropped for p in relay.config.blocks_dir.rglob("*"))


# -- notifications ------------------------------------------------------------------------------


async def test_notifications_fan_out_and_resume(make_client, relay, session):
    alice, bob = await make_client("alice"), await make_client("bob")
    folder = await alice.create_folder()
    await bob.accept(await alice.invite(folder, "bob"))
    from relay.testing import RelayClient

    alice2 = RelayClient(relay.base, session, alice.me.other_device())
    alice2.account_token = alice.account_token
    await alice2.register_device()
    await alice2.authenticate()

    ws_bob, ws_alice, ws_alice2 = await bob.websocket(), await alice.websocket(), await alice2.websocket()
    for ws in (ws_bob, ws_alice, ws_alice2):
        hello = await recv_json(ws)
        assert hello["type"] == "hello" and hello["folders"][folder]["last_rseq"] == 0
    await alice.append(folder)
    for ws in (ws_bob, ws_alice2):
        msg = await recv_json(ws)
        assert msg == {"type": "append", "folder": folder, "rseq": 1, "device": alice.me.device_id, "seq": 1}
    # the appending device hears nothing about its own entry: a ping is answered first
    await ws_alice.send_json({"type": "ping"})
    assert await recv_json(ws_alice) == {"type": "pong"}
    # bob stores his cursor over the socket, goes offline, misses appends, resumes
    await ws_bob.send_json({"type": "cursor", "folder": folder, "rseq": 1})
    assert (await recv_json(ws_bob))["type"] == "cursor_saved"
    await ws_bob.close()
    for _ in range(3):
        await alice.append(folder)
    ws_bob = await bob.websocket()
    hello = await recv_json(ws_bob)
    assert hello["folders"][folder] == {"role": "editor", "last_rseq": 4, "cursor": 1}
    missed = await bob.read_all(folder, after=hello["folders"][folder]["cursor"])
    assert [e["rseq"] for e in missed] == [2, 3, 4]
    for ws in (ws_bob, ws_alice, ws_alice2):
        await ws.close()


async def test_revoked_device_websocket_is_closed(make_client, relay):
    alice = await make_client("alice")
    ws = await alice.websocket()
    await recv_json(ws)
    await relay.app[keys.OFFLOAD](relay.app[keys.ACCOUNTS].set_disabled, "alice", True)
    assert await sweep_revocations(relay.app) == 1
    msg = await asyncio.wait_for(ws.receive(), DEADLINE)
    assert msg.type.name in ("CLOSE", "CLOSED", "CLOSING")
    assert ws.close_code == 4401


async def test_connection_limit_per_account(make_client, relay):
    alice = await make_client("alice")
    relay.app[keys.CONNECTIONS].limit = 2
    ws1, ws2 = await alice.websocket(), await alice.websocket()
    with pytest.raises(Exception) as err:
        await alice.websocket()
    assert getattr(err.value, "status", None) == 429
    await ws1.close()
    await ws2.close()


# -- operations ---------------------------------------------------------------------------------


async def test_healthz_metrics_openapi(make_client, relay, session):
    alice = await make_client("alice")
    folder = await alice.create_folder()
    await alice.put_block(folder, b"x" * 10)
    await alice.append(folder)
    async with session.get(relay.base + "/healthz") as resp:
        assert resp.status == 200 and (await resp.json())["status"] == "ok"
    async with session.get(relay.base + "/metrics") as resp:
        text = await resp.text()
    assert 'cove_relay_requests_total{method="POST",route="/v1/folders/{folder}/log",status="201"} 1.0' in text
    assert "cove_relay_blocks_stored 1.0" in text and "cove_relay_log_appends_total 1.0" in text
    assert "cove_relay_connected_devices 0.0" in text
    async with session.get(relay.base + "/openapi.json") as resp:
        doc = await resp.json()
    assert "/v1/folders/{folder}/log" in doc["paths"]
    assert doc["paths"]["/v1/link/{slot}"]["get"]["x-cove-token"] == "account"
    assert doc["paths"]["/v1/link"]["post"]["x-cove-token"] == "device"
