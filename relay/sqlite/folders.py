"""SQLite implementation of :class:`relay.storage.FolderStore`: folders, members, the membership
log, wrapped folder keys and invitations. Role rules come from :mod:`relay.rules` and are checked
inside the same transaction that applies a change."""

from __future__ import annotations

import json
import sqlite3

from relay import rules
from relay.errors import Conflict, Gone, NotFound
from relay.records import Invitation, InvitationState, Member, Role
from relay.sqlite.db import Database
from sync.wire.envelopes import MembershipChange


def _invitation(row: sqlite3.Row) -> Invitation:
    return Invitation(
        id=row["id"],
        folder=row["folder_id"],
        invitee=row["invitee"],
        inviter=row["inviter"],
        role=Role(row["role"]),
        change=json.loads(row["change_json"]),
        key_epoch=row["key_epoch"],
        wrapped_key=bytes(row["wrapped_key"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        state=InvitationState(row["state"]),
    )


class SqliteFolders:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- membership ---------------------------------------------------------------------------

    def _members(self, c: sqlite3.Connection, folder: str) -> dict[str, Role]:
        rows = c.execute("SELECT username, role FROM members WHERE folder_id=?", (folder,)).fetchall()
        return {r["username"]: Role(r["role"]) for r in rows}

    def _apply(self, c: sqlite3.Connection, change: MembershipChange, now: float) -> None:
        if c.execute("SELECT 1 FROM membership_log WHERE change_id=?", (change.id,)).fetchone():
            raise Conflict("membership change already applied", code="change_replayed")
        before = self._members(c, change.folder)
        after = rules.apply_membership_change(before, change)
        for username in before.keys() - after.keys():
            c.execute("DELETE FROM members WHERE folder_id=? AND username=?", (change.folder, username))
        for username, role in after.items():
            if before.get(username) is not role:
                c.execute(
                    "INSERT OR REPLACE INTO members VALUES (?,?,?)", (change.folder, username, role.value)
                )
        seq = c.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM membership_log WHERE folder_id=?", (change.folder,)
        ).fetchone()[0]
        c.execute(
            "INSERT INTO membership_log VALUES (?,?,?,?,?)",
            (change.folder, seq, change.id, json.dumps(change.to_wire(), sort_keys=True), now),
        )

    def create_folder(self, change: MembershipChange, now: float) -> None:
        with self.db.transaction() as c:
            if c.execute("SELECT 1 FROM folders WHERE folder_id=?", (change.folder,)).fetchone():
                raise Conflict("folder already exists", code="folder_exists")
            c.execute("INSERT INTO folders(folder_id, created_by, created_at) VALUES (?,?,?)",
                      (change.folder, change.signer, now))
            self._apply(c, change, now)

    def apply_change(self, change: MembershipChange, now: float) -> None:
        with self.db.transaction() as c:
            if not c.execute("SELECT 1 FROM folders WHERE folder_id=?", (change.folder,)).fetchone():
                raise NotFound("no such folder", code="folder_not_found")
            self._apply(c, change, now)

    def folder_exists(self, folder: str) -> bool:
        return self.db.query_one("SELECT 1 FROM folders WHERE folder_id=?", (folder,)) is not None

    def role_of(self, folder: str, username: str) -> Role | None:
        row = self.db.query_one("SELECT role FROM members WHERE folder_id=? AND username=?", (folder, username))
        return Role(row["role"]) if row else None

    def members(self, folder: str) -> list[Member]:
        rows = self.db.query("SELECT username, role FROM members WHERE folder_id=? ORDER BY username", (folder,))
        return [Member(r["username"], Role(r["role"])) for r in rows]

    def membership_log(self, folder: str) -> list[dict]:
        rows = self.db.query(
            "SELECT change_json FROM membership_log WHERE folder_id=? ORDER BY seq", (folder,)
        )
        return [json.loads(r["change_json"]) for r in rows]

    def folders_of(self, username: str) -> list[tuple[str, Role, int]]:
        rows = self.db.query(
            "SELECT m.folder_id, m.role, f.last_rseq FROM members m JOIN folders f USING (folder_id)"
            " WHERE m.username=? ORDER BY m.folder_id",
            (username,),
        )
        return [(r["folder_id"], Role(r["role"]), r["last_rseq"]) for r in rows]

    # -- wrapped keys -------------------------------------------------------------------------

    def put_wrapped_keys(self, folder: str, epoch: int, keys: dict[str, bytes]) -> None:
        with self.db.transaction() as c:
            members = self._members(c, folder)
            unknown = sorted(set(keys) - set(members))
            if unknown:
                raise NotFound("keys for users who are not members", code="not_member", users=unknown[:10])
            for username, wrapped in keys.items():
                c.execute("INSERT OR REPLACE INTO folder_keys VALUES (?,?,?,?)", (folder, epoch, username, wrapped))

    def wrapped_keys(self, folder: str, username: str) -> list[tuple[int, bytes]]:
        rows = self.db.query(
            "SELECT epoch, wrapped FROM folder_keys WHERE folder_id=? AND username=? ORDER BY epoch",
            (folder, username),
        )
        return [(r["epoch"], bytes(r["wrapped"])) for r in rows]

    # -- invitations --------------------------------------------------------------------------

    def create_invitation(self, inv: Invitation) -> None:
        with self.db.transaction() as c:
            if c.execute("SELECT 1 FROM membership_log WHERE change_id=?", (inv.change["id"],)).fetchone() or \
               c.execute("SELECT 1 FROM invitations WHERE id=?", (inv.id,)).fetchone():
                raise Conflict("membership change already used", code="change_replayed")
            if c.execute("SELECT 1 FROM members WHERE folder_id=? AND username=?", (inv.folder, inv.invitee)).fetchone():
                raise Conflict("already a member", code="already_member")
            c.execute(
                "INSERT INTO invitations VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (inv.id, inv.folder, inv.invitee, inv.inviter, inv.role.value, json.dumps(inv.change),
                 inv.key_epoch, inv.wrapped_key, inv.created_at, inv.expires_at, inv.state.value),
            )

    def get_invitation(self, invitation_id: str) -> Invitation | None:
        row = self.db.query_one("SELECT * FROM invitations WHERE id=?", (invitation_id,))
        return _invitation(row) if row else None

    def invitations_for(self, username: str) -> list[Invitation]:
        rows = self.db.query(
            "SELECT * FROM invitations WHERE invitee=? AND state='pending' ORDER BY created_at", (username,)
        )
        return [_invitation(r) for r in rows]

    def invitations_of_folder(self, folder: str) -> list[Invitation]:
        rows = self.db.query(
            "SELECT * FROM invitations WHERE folder_id=? AND state='pending' ORDER BY created_at", (folder,)
        )
        return [_invitation(r) for r in rows]

    def resolve_invitation(self, invitation_id: str, username: str, accept: bool, now: float) -> Invitation:
        with self.db.transaction() as c:
            row = c.execute("SELECT * FROM invitations WHERE id=?", (invitation_id,)).fetchone()
            if row is None:
                raise NotFound("no such invitation", code="invitation_not_found")
            inv = _invitation(row)
            rules.check_invitation_resolvable(inv, username, now)
            if accept:
                self._apply(c, MembershipChange.from_wire(inv.change), now)
                c.execute(
                    "INSERT OR REPLACE INTO folder_keys VALUES (?,?,?,?)",
                    (inv.folder, inv.key_epoch, username, inv.wrapped_key),
                )
            state = InvitationState.ACCEPTED if accept else InvitationState.DECLINED
            c.execute("UPDATE invitations SET state=? WHERE id=?", (state.value, invitation_id))
        return inv

    def revoke_invitation(self, invitation_id: str, folder: str, now: float) -> None:
        with self.db.transaction() as c:
            row = c.execute("SELECT * FROM invitations WHERE id=? AND folder_id=?", (invitation_id, folder)).fetchone()
            if row is None:
                raise NotFound("no such invitation", code="invitation_not_found")
            if _invitation(row).state_at(now) is not InvitationState.PENDING:
                raise Gone("invitation is no longer pending", code="invitation_used")
            c.execute("UPDATE invitations SET state='revoked' WHERE id=?", (invitation_id,))

