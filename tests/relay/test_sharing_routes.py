"""Relay routes for sharing: device certificates uploaded by devices and served per folder."""

from __future__ import annotations

import pytest

from relay.testing import ApiError
from sync.lan.certs import DeviceCertificate


def cert_for(client, username: str | None = None, signer=None) -> dict:
    me = client.me
    return DeviceCertificate.issue(signer or me.user_sign, bytes(me.device_key.verify_key),
                                   username or me.username).to_wire()


async def test_certificates_are_checked_and_served_to_members(make_client, relay, session):
    alice, bob, carol = await make_client("alice"), await make_client("bob"), await make_client("carol")
    for c in (alice, bob, carol):
        await c.call("PUT", f"/v1/devices/{c.me.device_id}/certificate", json={"certificate": cert_for(c)})
    folder = await alice.create_folder()
    inv = await alice.invite(folder, "bob", "viewer")
    await bob.accept(inv)

    # a second device of bob without a certificate is listed with certificate null
    from relay.testing import RelayClient
    laptop = RelayClient(relay.base, session, bob.me.other_device())
    laptop.account_token = bob.account_token
    await laptop.register_device("laptop")

    out = await bob.call("GET", f"/v1/folders/{folder}/devices")
    rows = {d["device"]: d for d in out["devices"]}
    assert set(rows) == {alice.me.device_id, bob.me.device_id, laptop.me.device_id}
    assert rows[alice.me.device_id]["certificate"] == cert_for(alice) | {
        "issued_at": rows[alice.me.device_id]["certificate"]["issued_at"],
        "signature": rows[alice.me.device_id]["certificate"]["signature"]}
    assert rows[alice.me.device_id]["username"] == "alice"
    assert rows[laptop.me.device_id]["certificate"] is None
    # carol is not a member: 404, the folder cannot be probed
    with pytest.raises(ApiError) as err:
        await carol.call("GET", f"/v1/folders/{folder}/devices")
    assert err.value.status == 404


async def test_bad_certificates_are_refused(make_client):
    alice, bob = await make_client("alice"), await make_client("bob")
    url = f"/v1/devices/{alice.me.device_id}/certificate"
    # signed by another account's key
    with pytest.raises(ApiError) as err:
        await alice.call("PUT", url, json={"certificate": cert_for(alice, signer=bob.me.user_sign)})
    assert err.value.status == 400 and err.value.code == "bad_signature"
    # naming another user
    with pytest.raises(ApiError) as err:
        await alice.call("PUT", url, json={"certificate": cert_for(alice, username="bob")})
    assert err.value.status == 403
    # for another account's device
    with pytest.raises(ApiError) as err:
        await bob.call("PUT", url, json={"certificate": cert_for(alice)})
    assert err.value.status == 403
    # certificate of bob's device uploaded under alice's device path
    with pytest.raises(ApiError) as err:
        await alice.call("PUT", url, json={"certificate": {**cert_for(bob), "username": "alice"}})
    assert err.value.status == 400
    with pytest.raises(ApiError) as err:
        await alice.call("PUT", url, json={"certificate": {"device_pk": "x"}})
    assert err.value.status == 400
