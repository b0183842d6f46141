"""Pure verification of a folder's membership log: who is a member, with which role and keys,
whatever the relay claims."""

from __future__ import annotations

import itertools

import pytest

from sync.keys import AccountKeys
from sync.membership import MembershipError, UserKeys, verify_log
from sync.wire.envelopes import MembershipChange

FOLDER = "f" * 20
_ids = itertools.count()


def user(name: str) -> tuple[str, AccountKeys]:
    return name, AccountKeys.generate()


ALICE, BOB, CAROL, MALLORY = user("alice"), user("bob"), user("carol"), user("mallory")
KEYS = {n: UserKeys(k.sign_pk, k.box_pk) for n, k in (ALICE, BOB, CAROL, MALLORY)}


def ch(signer, op: str, member: str, role: str | None, epoch: int = 0, folder: str = FOLDER, id: str | None = None):
    name, keys = signer
    return MembershipChange.signed(keys.signing_key, folder=folder, id=id or f"change-{next(_ids):012d}", op=op,
                                   member=member, role=role, signer=name, epoch=epoch, issued_at=1)


def test_create_add_roles_remove():
    log = [ch(ALICE, "create", "alice", "owner"), ch(ALICE, "add", "bob", "editor"),
           ch(ALICE, "add", "carol", "viewer"), ch(ALICE, "set_role", "carol", "owner"),
           ch(CAROL, "remove", "bob", None, epoch=1)]
    m = verify_log(FOLDER, log, KEYS, {"alice": KEYS["alice"].sign_pk})
    assert {u: x.role for u, x in m.members.items()} == {"alice": "owner", "carol": "owner"}
    assert m.epoch == 1 and not m.refused
    assert set(m.key_signers()) == {KEYS["alice"].sign_pk, KEYS["carol"].sign_pk}
    assert m.members["carol"].keys.box_pk == KEYS["carol"].box_pk


def test_viewer_and_writers():
    log = [ch(ALICE, "create", "alice", "owner"), ch(ALICE, "add", "bob", "viewer")]
    m = verify_log(FOLDER, log, KEYS)
    assert m.can_write("alice") and not m.can_write("bob") and not m.can_write("mallory")
    assert m.shared


@pytest.mark.parametrize("forged", [
    ch(MALLORY, "add", "mallory", "editor"),  # signer is not an owner
    # claims to be signed by alice, signed with mallory's key
    MembershipChange.signed(MALLORY[1].signing_key, folder=FOLDER, id="forged-change-000001", op="add",
                            member="mallory", role="owner", signer="alice", epoch=0, issued_at=1),
    ch(ALICE, "add", "mallory", "editor", folder="g" * 20),  # another folder's change
    ch(BOB, "set_role", "bob", "owner"),  # a viewer promoting themself
])
def test_forged_changes_are_refused(forged):
    log = [ch(ALICE, "create", "alice", "owner"), ch(ALICE, "add", "bob", "viewer"), forged]
    m = verify_log(FOLDER, log, KEYS)
    assert m.refused and len(m.refused) == 1
    assert set(m.members) == {"alice", "bob"} and m.role("bob") == "viewer"


def test_replayed_change_is_refused():
    add = ch(ALICE, "add", "bob", "editor")
    log = [ch(ALICE, "create", "alice", "owner"), add, ch(ALICE, "remove", "bob", None), add]
    m = verify_log(FOLDER, log, KEYS)
    assert set(m.members) == {"alice"} and "replayed" in m.refused[0]


def test_member_may_leave_but_last_owner_may_not():
    log = [ch(ALICE, "create", "alice", "owner"), ch(ALICE, "add", "bob", "editor"),
           ch(BOB, "remove", "bob", None), ch(ALICE, "remove", "alice", None)]
    m = verify_log(FOLDER, log, KEYS)
    assert set(m.members) == {"alice"} and "no owner" in m.refused[0]


def test_bad_create_or_changed_key_refuses_everything():
    with pytest.raises(MembershipError):
        verify_log(FOLDER, [ch(MALLORY, "create", "alice", "owner")], KEYS)  # not the creator's key
    with pytest.raises(MembershipError):
        verify_log(FOLDER, [ch(ALICE, "add", "alice", "owner")], KEYS)
    with pytest.raises(MembershipError):
        verify_log(FOLDER, [], KEYS)
    # the relay presents another key for alice than the pinned one: a whole fabricated log
    fake_alice = ("alice", MALLORY[1])
    keys = {**KEYS, "alice": KEYS["mallory"]}
    log = [ch(fake_alice, "create", "alice", "owner"), ch(fake_alice, "add", "mallory", "editor")]
    with pytest.raises(MembershipError, match="different account key"):
        verify_log(FOLDER, log, keys, {"alice": KEYS["alice"].sign_pk})
