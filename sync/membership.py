"""Pure verification of a shared folder's membership log (docs/sharing.md).

The relay keeps each folder's membership log: signed :class:`MembershipChange` objects, starting
with the ``create`` of the folder's creator. The relay applies its own rules, but a client never
takes the relay's word for who is a member: :func:`verify_log` replays the log and keeps only
changes that

- belong to this folder and have an ID not seen before;
- are signed by the *user* Ed25519 key of their ``signer`` (keys from the relay, checked against
  the keys this device pinned: the creator's on create/join, an inviter's from the invitation,
  every other user's the first time it is seen — trust on first use, fingerprint shown);
- are allowed at that point of the log: ``create`` first and only once, by the creator as owner;
  ``add``/``set_role`` by a current owner; ``remove`` by an owner or by the member themself
  (leaving); a folder always keeps an owner. These are the relay's rules (``relay/rules.py``),
  re-implemented here because the engine never imports the relay.

A change that fails is *refused* (listed in :attr:`VerifiedMembership.refused`, skipped): a relay
that fabricates or alters a change cannot make anyone a member. A log whose ``create`` does not
verify, or a user key that differs from the pinned one, is a :class:`MembershipError` — nothing of
the folder can be trusted then.

The result maps each member to their role and account keys: who may write (owners, editors), whose
devices' certificates count, whose keys may wrap folder keys (users who were ever an owner), and
which box keys a new epoch's key is wrapped to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sync.errors import CoveError
from sync.keys import fingerprint_of
from sync.wire.envelopes import MembershipChange

ROLES = ("owner", "editor", "viewer")
WRITERS = frozenset({"owner", "editor"})


class MembershipError(CoveError):
    """The folder's membership cannot be established (bad create, a user key that changed)."""


@dataclass(frozen=True)
class UserKeys:
    sign_pk: bytes
    box_pk: bytes

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.sign_pk, self.box_pk)


@dataclass(frozen=True)
class Member:
    username: str
    role: str
    keys: UserKeys

    @property
    def can_write(self) -> bool:
        return self.role in WRITERS


@dataclass(frozen=True)
class VerifiedMembership:
    folder: str
    creator: str
    members: dict[str, Member]
    epoch: int  # the highest key epoch an applied change names (a removal names the new epoch)
    owners_ever: frozenset[str]  # users who were an owner at some point: may have wrapped keys
    applied: tuple[str, ...]  # IDs of the changes applied, in order
    refused: tuple[str, ...] = ()  # one line per refused change
    keys: Mapping[str, UserKeys] = field(default_factory=dict)

    def role(self, username: str) -> str | None:
        m = self.members.get(username)
        return m.role if m else None

    def can_write(self, username: str) -> bool:
        return self.role(username) in WRITERS

    @property
    def owners(self) -> list[str]:
        return sorted(u for u, m in self.members.items() if m.role == "owner")

    def key_signers(self) -> list[bytes]:
        """Account sign keys allowed to hand out (wrap) this folder's keys."""
        return [self.keys[u].sign_pk for u in sorted(self.owners_ever) if u in self.keys]

    @property
    def shared(self) -> bool:
        return len(self.members) > 1


def _rule(members: dict[str, str], c: MembershipChange) -> str | None:
    """Why ``c`` is not allowed on ``members`` (None: allowed). Mirrors relay/rules.py."""
    signer_role = members.get(c.signer)
    if c.op == "create":
        return "the folder already has a create change"
    if c.op == "remove" and c.signer == c.member and signer_role is not None:
        pass  # leaving
    elif signer_role != "owner":
        return f"{c.signer} is not an owner at this point"
    after = dict(members)
    if c.op == "add":
        if c.member in members:
            return f"{c.member} is already a member"
        after[c.member] = c.role or ""
    elif c.op == "set_role":
        if c.member not in members:
            return f"{c.member} is not a member"
        after[c.member] = c.role or ""
    elif c.op == "remove":
        if c.member not in members:
            return f"{c.member} is not a member"
        del after[c.member]
    if "owner" not in after.values():
        return "the folder would have no owner"
    return None


def verify_log(
    folder: str,
    changes: Sequence[MembershipChange],
    keys: Mapping[str, UserKeys],
    pinned: Mapping[str, bytes] | None = None,
) -> VerifiedMembership:
    """Replay ``changes`` (the relay's membership log, in order) → the verified membership.

    ``keys``: account public keys of the users named in the log (from the relay); ``pinned``:
    username → sign key this device already trusts. A pinned user whose key in ``keys`` differs
    raises :class:`MembershipError` (the relay is presenting another key for them)."""
    pinned = dict(pinned or {})
    for username, pk in pinned.items():
        k = keys.get(username)
        if k is not None and k.sign_pk != pk:
            raise MembershipError(
                f"the relay presents a different account key for {username} than the one this device "
                f"trusts (now {k.fingerprint}); refusing the folder's membership"
            )
    if not changes:
        raise MembershipError(f"folder {folder} has no membership log")
    create = changes[0]
    if create.folder != folder or create.op != "create" or create.member != create.signer or create.role != "owner":
        raise MembershipError(f"the membership log of {folder} does not start with its creator's create change")
    creator_keys = keys.get(create.signer)
    if creator_keys is None or not create.verify(creator_keys.sign_pk):
        raise MembershipError(
            f"the create change of {folder} is not signed by {create.signer}'s account key; refusing the folder"
        )
    members: dict[str, str] = {create.member: "owner"}
    owners_ever = {create.member}
    seen = {create.id}
    applied = [create.id]
    refused: list[str] = []
    epoch = create.epoch
    for c in changes[1:]:
        what = f"{c.op} {c.member}" + (f" as {c.role}" if c.role else "") + f" by {c.signer} ({c.id[:8]})"
        if c.folder != folder:
            refused.append(f"{what}: belongs to another folder")
            continue
        if c.id in seen:
            refused.append(f"{what}: replayed change")
            continue
        signer = keys.get(c.signer)
        if signer is None or not c.verify(signer.sign_pk):
            refused.append(f"{what}: not signed by {c.signer}'s account key")
            continue
        if c.op in ("add", "set_role") and c.member not in keys:
            refused.append(f"{what}: no account keys for {c.member}")
            continue
        why = _rule(members, c)
        if why is not None:
            refused.append(f"{what}: {why}")
            continue
        seen.add(c.id)
        applied.append(c.id)
        epoch = max(epoch, c.epoch)
        if c.op == "remove":
            del members[c.member]
        else:
            members[c.member] = c.role or "viewer"
            if c.role == "owner":
                owners_ever.add(c.member)
    return VerifiedMembership(
        folder=folder,
        creator=create.member,
        members={u: Member(u, r, keys[u]) for u, r in members.items()},
        epoch=epoch,
        owners_ever=frozenset(owners_ever),
        applied=tuple(applied),
        refused=tuple(refused),
        keys=dict(keys),
    )


__all__ = ["ROLES", "WRITERS", "Member", "MembershipError", "UserKeys", "VerifiedMembership", "verify_log"]
