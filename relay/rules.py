"""Pure decisions of the relay: log appends, membership changes, invitation resolution.

No I/O and no clock: callers pass the current state and ``now``. Storage calls these inside its
transactions so the check and the write are atomic; the rules are tested as tables.
"""

from __future__ import annotations

import enum

from relay.errors import Conflict, Forbidden, Gone, NotFound
from relay.records import Head, Invitation, InvitationState, Role
from sync.wire.envelopes import MembershipChange


class AppendDecision(enum.Enum):
    APPEND = "append"  # extends the device's chain
    DUPLICATE = "duplicate"  # identical to an entry already stored: idempotent retry
    CONFLICT = "conflict"  # gap, fork or wrong previous hash


def decide_append(head: Head, stored_hash_at_seq: str | None, seq: int, prev: str, entry_hash: str) -> AppendDecision:
    """Compare-and-set on a device's head.

    ``stored_hash_at_seq`` is the hash of the entry already stored at ``seq`` for this device, if
    any. An identical entry is a duplicate; anything else at an existing seq is a conflict; a new
    entry must have ``seq == head.seq + 1`` and ``prev == head.hash``.
    """
    if stored_hash_at_seq is not None:
        return AppendDecision.DUPLICATE if stored_hash_at_seq == entry_hash else AppendDecision.CONFLICT
    if seq == head.seq + 1 and prev == head.hash:
        return AppendDecision.APPEND
    return AppendDecision.CONFLICT


def apply_membership_change(members: dict[str, Role], change: MembershipChange) -> dict[str, Role]:
    """The member table after ``change``, or a domain error if the change is not allowed.

    The signature is verified by the caller (it needs the signer's key); this decides roles:
    ``create`` only on an empty folder, by the creator as owner; ``add`` and ``set_role`` only by
    an owner; ``remove`` by an owner or by the member themself; a folder always keeps an owner.
    """
    signer_role = members.get(change.signer)
    out = dict(members)
    if change.op == "create":
        if members:
            raise Conflict("folder already exists", code="folder_exists")
        if change.member != change.signer or change.role != Role.OWNER.value:
            raise Forbidden("a folder is created by its owner", code="bad_membership_change")
        out[change.member] = Role.OWNER
        return out
    if change.op == "remove" and change.signer == change.member and signer_role is not None:
        pass  # leaving a folder needs no owner
    elif signer_role is not Role.OWNER:
        raise Forbidden("only an owner can change membership", code="not_owner")
    if change.op == "add":
        if change.member in members:
            raise Conflict("already a member", code="already_member")
        out[change.member] = Role(change.role)
    elif change.op == "set_role":
        if change.member not in members:
            raise NotFound("not a member", code="not_member")
        out[change.member] = Role(change.role)
    elif change.op == "remove":
        if change.member not in members:
            raise NotFound("not a member", code="not_member")
        del out[change.member]
    if members and not any(r is Role.OWNER for r in out.values()):
        raise Conflict("a folder must keep at least one owner", code="last_owner")
    return out


def check_invitation_resolvable(invitation: Invitation, username: str, now: float) -> None:
    """An invitation can be accepted or declined only by its invitee, once, before it expires."""
    if invitation.invitee != username:
        raise NotFound("no such invitation", code="invitation_not_found")
    state = invitation.state_at(now)
    if state is InvitationState.EXPIRED:
        raise Gone("invitation expired", code="invitation_expired")
    if state is not InvitationState.PENDING:
        raise Gone(f"invitation already {state.value}", code="invitation_used")
