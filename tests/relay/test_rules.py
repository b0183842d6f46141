"""Pure decisions as tables: appends, membership changes, invitations, limits, tokens, wire."""

from __future__ import annotations

import pytest
from nacl.signing import SigningKey

from relay.auth import TokenKind, TokenMinter
from relay.errors import Conflict, Forbidden, Gone, NotFound, RelayError, Unauthorized
from relay.limits import SlidingWindow
from relay.records import Head, Invitation, InvitationState, Role
from relay.rules import AppendDecision, apply_membership_change, check_invitation_resolvable, decide_append
from sync.wire.canonical import CanonicalError, b64decode, canonical_json
from sync.wire.envelopes import EnvelopeError, LogEntry, MembershipChange
from sync.wire.ids import device_id_from_public_key, is_block_id, is_device_id, is_folder_id

H0, H1, H2 = "0" * 64, "1" * 64, "2" * 64


@pytest.mark.parametrize("head,stored,seq,prev,h,expected", [
    (Head(0, H0), None, 1, H0, H1, AppendDecision.APPEND),
    (Head(1, H1), None, 2, H1, H2, AppendDecision.APPEND),
    (Head(1, H1), None, 3, H1, H2, AppendDecision.CONFLICT),  # gap
    (Head(1, H1), None, 2, H0, H2, AppendDecision.CONFLICT),  # wrong prev
    (Head(0, H0), None, 2, H0, H2, AppendDecision.CONFLICT),  # gap from empty
    (Head(2, H2), H1, 1, H0, H1, AppendDecision.DUPLICATE),  # identical retry
    (Head(2, H2), H1, 1, H0, H2, AppendDecision.CONFLICT),  # fork at existing seq
])
def test_decide_append(head, stored, seq, prev, h, expected):
    assert decide_append(head, stored, seq, prev, h) is expected


def change(op, member, role, signer="alice"):
    return MembershipChange("F" * 16, "c" * 16, op, member, role, signer, 0, 0, b"")


O, E, V = Role.OWNER, Role.EDITOR, Role.VIEWER


@pytest.mark.parametrize("members,ch,expected", [
    ({}, change("create", "alice", "owner"), {"alice": O}),
    ({}, change("create", "bob", "owner"), Forbidden),
    ({}, change("create", "alice", "editor"), Forbidden),
    ({"alice": O}, change("create", "alice", "owner"), Conflict),
    ({"alice": O}, change("add", "bob", "viewer"), {"alice": O, "bob": V}),
    ({"alice": O, "bob": V}, change("add", "bob", "editor"), Conflict),
    ({"alice": O, "bob": E}, change("add", "carol", "viewer", signer="bob"), Forbidden),
    ({"alice": O, "bob": V}, change("set_role", "bob", "owner"), {"alice": O, "bob": O}),
    ({"alice": O}, change("set_role", "bob", "owner"), NotFound),
    ({"alice": O}, change("set_role", "alice", "editor"), Conflict),  # last owner
    ({"alice": O, "bob": O}, change("set_role", "alice", "editor"), {"alice": E, "bob": O}),
    ({"alice": O, "bob": V}, change("remove", "bob", None), {"alice": O}),
    ({"alice": O, "bob": V}, change("remove", "bob", None, signer="bob"), {"alice": O}),  # leave
    ({"alice": O, "bob": V, "carol": E}, change("remove", "carol", None, signer="bob"), Forbidden),
    ({"alice": O}, change("remove", "alice", None), Conflict),  # last owner
    ({"alice": O}, change("remove", "zed", None, signer="zed"), Forbidden),
])
def test_membership_rules(members, ch, expected):
    if isinstance(expected, type) and issubclass(expected, RelayError):
        with pytest.raises(expected):
            apply_membership_change(members, ch)
    else:
        assert apply_membership_change(members, ch) == expected


def invitation(state=InvitationState.PENDING, expires_at=100.0):
    return Invitation("i", "F" * 16, "bob", "alice", Role.EDITOR, {}, 0, b"", 0.0, expires_at, state)


@pytest.mark.parametrize("inv,user,now,expected", [
    (invitation(), "bob", 50.0, None),
    (invitation(), "carol", 50.0, NotFound),
    (invitation(), "bob", 100.0, Gone),
    (invitation(InvitationState.ACCEPTED), "bob", 50.0, Gone),
    (invitation(InvitationState.DECLINED), "bob", 50.0, Gone),
    (invitation(InvitationState.REVOKED), "bob", 50.0, Gone),
])
def test_invitation_rules(inv, user, now, expected):
    if expected is None:
        check_invitation_resolvable(inv, user, now)
    else:
        with pytest.raises(expected):
            check_invitation_resolvable(inv, user, now)


def test_sliding_window():
    w = SlidingWindow(limit=2, window=10)
    assert w.retry_after("k", 0) is None
    w.record("k", 0)
    w.record("k", 1)
    assert w.retry_after("k", 5) == pytest.approx(5)
    assert w.retry_after("k", 10.5) is None
    assert w.retry_after("other", 5) is None


def test_tokens():
    minter = TokenMinter(b"k" * 32)
    token = minter.mint(TokenKind.DEVICE, "DEV", 100)
    assert minter.parse(token, 99) == (TokenKind.DEVICE, "DEV")
    with pytest.raises(Unauthorized):
        minter.parse(token, 100)
    with pytest.raises(Unauthorized):
        minter.parse(token.replace(".d.", ".a."), 0)
    with pytest.raises(Unauthorized):
        TokenMinter(b"x" * 32).parse(token, 0)


def test_canonical_encoding():
    assert canonical_json({"b": 1, "a": [True, None, "é"]}) == b'{"a":[true,null,"\\u00e9"],"b":1}'
    with pytest.raises(CanonicalError):
        canonical_json({"x": 1.5})
    with pytest.raises(CanonicalError):
        b64decode("YQ")  # missing padding


def test_entry_roundtrip_and_tamper():
    key = SigningKey.generate()
    dev = device_id_from_public_key(bytes(key.verify_key))
    e = LogEntry.signed(key, folder="F" * 16, device=dev, seq=1, prev=H0, blocks=["a" * 64], ciphertext=b"c")
    assert LogEntry.from_wire(e.to_wire()) == e and e.verify(bytes(key.verify_key))
    wire = e.to_wire()
    wire["seq"] = 2
    assert not LogEntry.from_wire(wire).verify(bytes(key.verify_key))
    for bad in ({**e.to_wire(), "extra": 1}, {**e.to_wire(), "seq": True}, {**e.to_wire(), "blocks": ["A" * 64]}):
        with pytest.raises(EnvelopeError):
            LogEntry.from_wire(bad)


def test_id_formats():
    dev = device_id_from_public_key(b"\x01" * 32)
    assert is_device_id(dev) and not is_device_id(dev.lower()) and not is_device_id(dev[:-1] + "A")
    assert is_folder_id("abc_DEF-1234567890") and not is_folder_id("../../etc/passwd") and not is_folder_id("a" * 15)
    assert is_block_id("a" * 64) and not is_block_id("A" * 64) and not is_block_id("..")
