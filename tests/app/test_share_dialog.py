"""The share dialog and the invitations list, driven with pytest-qt against a fake sharing backend
(the relay side is covered end to end in tests/engine/test_sharing.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from PySide6.QtCore import Qt

from app.jobs import Jobs
from app.pages.share_dialog import InvitationsWidget, ShareDialog
from sync.sharing import InvitationView, InviteResult, MemberView, ShareInfo

FOLDER = "F" * 20


class FakeSharing:
    def __init__(self, role: str = "owner"):
        self.members = {"alice": "owner", "bob": "editor"}
        self.role = role
        self.pending: list = []
        self.calls: list[tuple] = []
        self.invites = [InvitationView(SimpleNamespace(id="inv1", inviter="carol", role="viewer", folder=FOLDER),
                                       "AAAA BBBB"),
                        InvitationView(SimpleNamespace(id="inv2", inviter="eve", role="editor", folder=FOLDER),
                                       "CCCC", "the invitation is not signed by the inviter's account key")]

    def fingerprint(self) -> str:
        return "MINE MINE"

    def local_only(self, folder: str) -> list[str]:
        return ["draft.txt"] if self.role == "viewer" else []

    async def info(self, folder):
        me = "alice" if self.role == "owner" else "bob"
        members = [MemberView(u, r, f"FP-{u}", u == me) for u, r in sorted(self.members.items())]
        return ShareInfo(folder, self.role, members, list(self.pending), 1, ("add mallory: not signed",))

    async def invite(self, folder, user, role):
        self.calls.append(("invite", user, role))
        inv = SimpleNamespace(id="new1", invitee=user, role=role)
        self.pending.append(inv)
        return InviteResult(inv, "FP-" + user, "cove://invite?id=new1")

    async def set_role(self, folder, user, role):
        self.calls.append(("set_role", user, role))
        self.members[user] = role

    async def remove(self, folder, user):
        self.calls.append(("remove", user))
        del self.members[user]
        return 2

    async def withdraw(self, folder, inv_id):
        self.calls.append(("withdraw", inv_id))
        self.pending = [i for i in self.pending if i.id != inv_id]

    async def leave(self, folder):
        self.calls.append(("leave",))

    async def invitations(self):
        return list(self.invites)

    async def accept(self, inv_id, path):
        self.calls.append(("accept", inv_id, path))
        self.invites = [v for v in self.invites if v.id != inv_id]
        return SimpleNamespace(path=path, id=FOLDER)

    async def decline(self, inv_id):
        self.calls.append(("decline", inv_id))
        self.invites = [v for v in self.invites if v.id != inv_id]


def select_member(dialog: ShareDialog, name: str) -> None:
    for row in range(dialog.members.rowCount()):
        if dialog.members.item(row, 0).data(Qt.ItemDataRole.UserRole) == name:
            dialog.members.selectRow(row)
            return
    raise AssertionError(name)


def test_share_dialog_owner(qtbot):
    jobs = Jobs()
    fake = FakeSharing()
    d = ShareDialog(fake, FOLDER, jobs, "Projects", confirm=lambda q: True)
    qtbot.addWidget(d)
    qtbot.waitUntil(lambda: d.info is not None and jobs.idle)
    assert d.members.rowCount() == 2
    assert d.members.item(0, 0).text() == "alice  (you)" and d.members.item(1, 2).text() == "FP-bob"
    assert "MINE MINE" in d.header.text()
    assert not d.warning.isHidden() and "mallory" in d.warning.text()  # refused changes are shown
    # invite
    d.invite_user.setText("dave")
    d.invite_role.setCurrentText("viewer")
    qtbot.mouseClick(d.invite_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.pending.count() == 1 and jobs.idle)
    assert ("invite", "dave", "viewer") in fake.calls and "FP-dave" in d.invite_result.text()
    # change role
    select_member(d, "bob")
    assert d.remove_button.isEnabled()
    d.role_box.setCurrentText("viewer")
    qtbot.mouseClick(d.set_role_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: jobs.idle and d.members.rowCount() == 2 and d.members.item(1, 1).text() == "viewer")
    # withdraw the pending invitation
    d.pending.setCurrentRow(0)
    qtbot.mouseClick(d.withdraw_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: jobs.idle and d.pending.count() == 0)
    # remove bob
    select_member(d, "bob")
    with qtbot.waitSignal(d.changed, timeout=5000):
        qtbot.mouseClick(d.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: jobs.idle and d.members.rowCount() == 1)
    assert ("remove", "bob") in fake.calls
    # yourself: no remove or role buttons
    select_member(d, "alice")
    assert not d.remove_button.isEnabled() and not d.set_role_button.isEnabled()


def test_share_dialog_viewer(qtbot):
    jobs = Jobs()
    fake = FakeSharing(role="viewer")
    d = ShareDialog(fake, FOLDER, jobs, confirm=lambda q: True)
    qtbot.addWidget(d)
    qtbot.waitUntil(lambda: d.info is not None and jobs.idle)
    assert not d.invite_button.isEnabled()
    select_member(d, "alice")
    assert not d.remove_button.isEnabled()
    assert not d.local_note.isHidden() and "draft.txt" in d.local_note.text()
    qtbot.mouseClick(d.leave_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: jobs.idle and ("leave",) in fake.calls)


def test_invitations_accept_and_decline(qtbot, tmp_path: Path):
    jobs = Jobs()
    fake = FakeSharing()
    w = InvitationsWidget(fake, jobs, choose_path=lambda inv: tmp_path / inv.inviter)
    qtbot.addWidget(w)
    w.refresh()
    qtbot.waitUntil(lambda: w.list.count() == 2 and jobs.idle)
    assert "AAAA BBBB" in w.list.item(0).text() and "Not trusted" in w.list.item(1).text()
    w.list.setCurrentRow(1)
    assert not w.accept_button.isEnabled() and w.decline_button.isEnabled()
    w.list.setCurrentRow(0)
    with qtbot.waitSignal(w.accepted, timeout=5000):
        qtbot.mouseClick(w.accept_button, Qt.MouseButton.LeftButton)
    assert ("accept", "inv1", tmp_path / "carol") in fake.calls
    qtbot.waitUntil(lambda: w.list.count() == 1 and jobs.idle)
    w.list.setCurrentRow(0)
    qtbot.mouseClick(w.decline_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.list.count() == 0 and jobs.idle)
    assert w.empty.isVisibleTo(w)
