"""Plain records the relay's storage returns: users, devices, folders, heads, blocks, invitations.

Frozen dataclasses with no behaviour beyond small predicates, so rules and handlers can be tested
with literal values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.Enum):
    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"

    @property
    def can_write(self) -> bool:
        return self is not Role.VIEWER


@dataclass(frozen=True)
class User:
    username: str
    password_hash: bytes
    sign_pk: bytes | None
    box_pk: bytes | None
    disabled: bool
    quota: int
    used: int
    created_at: float


@dataclass(frozen=True)
class Device:
    device_id: str
    username: str
    public_key: bytes
    name: str
    revoked: bool
    created_at: float


@dataclass(frozen=True)
class Member:
    username: str
    role: Role


@dataclass(frozen=True)
class Head:
    """The last entry a device appended to a folder's log (``seq`` 0 and genesis hash if none)."""

    seq: int
    hash: str


@dataclass(frozen=True)
class StoredEntry:
    rseq: int
    wire_json: str  # the LogEntry's wire JSON text (body + signature), as stored


@dataclass(frozen=True)
class BlockInfo:
    folder: str
    block_id: str
    size: int
    sha256: str
    charged_to: str
    refcount: int
    touched_at: float


class InvitationState(enum.Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Invitation:
    id: str
    folder: str
    invitee: str
    inviter: str
    role: Role
    change: dict  # the signed "add" MembershipChange, wire form
    key_epoch: int
    wrapped_key: bytes
    created_at: float
    expires_at: float
    state: InvitationState

    def state_at(self, now: float) -> InvitationState:
        if self.state is InvitationState.PENDING and now >= self.expires_at:
            return InvitationState.EXPIRED
        return self.state
