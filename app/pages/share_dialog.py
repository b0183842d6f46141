"""The share dialog of a relay folder and the list of invitations addressed to this user.

:class:`ShareDialog` shows the folder's verified members (role and account key fingerprint — people
compare fingerprints before trusting them), pending invitations, and lets an owner invite a user,
change a role, remove a member (a new key epoch) or withdraw an invitation; anyone can leave. A
viewer sees how many of their local edits stay on this device. Refused membership changes (a relay
that fabricated something) are shown as a warning.

:class:`InvitationsWidget` lists pending invitations with the inviter's fingerprint and accepts or
declines them.

Both take the engine's :class:`sync.sharing.Sharing` (``engine.sharing``) and a :class:`app.jobs.Jobs`;
every relay call runs as a job (``asyncio.run`` of the sharing coroutine in a pool thread, each with
its own relay connection), never on the GUI thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

ROLES = ("editor", "viewer", "owner")


def _run(fn: Callable[..., Any], *args: Any) -> Any:
    return asyncio.run(fn(*args))


class ShareDialog(QDialog):
    changed = Signal()  # membership changed (the folder list may mark the folder shared)

    def __init__(self, sharing: Any, folder_id: str, jobs: Any, label: str = "", parent: QWidget | None = None,
                 confirm: Callable[[str], bool] | None = None):
        super().__init__(parent)
        self.sharing = sharing
        self.folder_id = folder_id
        self.jobs = jobs
        self.info: Any = None
        self._confirm = confirm or self._ask
        self.setWindowTitle(f"Share {label or folder_id}")
        self.resize(640, 480)

        self.header = QLabel("Loading members…")
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #a33")
        self.warning.hide()
        self.local_note = QLabel()
        self.local_note.setWordWrap(True)
        self.local_note.hide()

        self.members = QTableWidget(0, 3)
        self.members.setHorizontalHeaderLabels(["Member", "Role", "Key fingerprint"])
        self.members.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.members.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.members.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.members.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.members.itemSelectionChanged.connect(self._update_buttons)

        self.role_box = QComboBox()
        self.role_box.addItems(ROLES)
        self.set_role_button = QPushButton("Change role")
        self.set_role_button.clicked.connect(self._set_role)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the member; new content uses a new key they never receive.")
        self.remove_button.clicked.connect(self._remove)
        self.leave_button = QPushButton("Leave this folder")
        self.leave_button.clicked.connect(self._leave)
        row = QHBoxLayout()
        for w in (self.role_box, self.set_role_button, self.remove_button):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.leave_button)

        self.invite_user = QLineEdit()
        self.invite_user.setPlaceholderText("username on this relay")
        self.invite_role = QComboBox()
        self.invite_role.addItems(ROLES)
        self.invite_button = QPushButton("Invite")
        self.invite_button.clicked.connect(self._invite)
        invite_row = QHBoxLayout()
        invite_row.addWidget(QLabel("Invite"))
        invite_row.addWidget(self.invite_user, 1)
        invite_row.addWidget(self.invite_role)
        invite_row.addWidget(self.invite_button)
        self.invite_result = QLabel()
        self.invite_result.setWordWrap(True)
        self.invite_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.pending = QListWidget()
        self.withdraw_button = QPushButton("Withdraw invitation")
        self.withdraw_button.clicked.connect(self._withdraw)
        self.pending.itemSelectionChanged.connect(self._update_buttons)
        self.status = QLabel()
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.warning)
        layout.addWidget(self.members, 2)
        layout.addLayout(row)
        layout.addLayout(invite_row)
        layout.addWidget(self.invite_result)
        layout.addWidget(QLabel("Pending invitations"))
        layout.addWidget(self.pending, 1)
        layout.addWidget(self.withdraw_button)
        layout.addWidget(self.local_note)
        layout.addWidget(self.status)
        self._update_buttons()
        self.refresh()

    # -- helpers ---------------------------------------------------------------------------------

    def _ask(self, question: str) -> bool:
        return QMessageBox.question(self, "Cove", question) == QMessageBox.StandardButton.Yes

    @property
    def is_owner(self) -> bool:
        return bool(self.info and self.info.my_role == "owner")

    def selected_member(self) -> str | None:
        rows = self.members.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.members.item(rows[0].row(), 0)
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _update_buttons(self) -> None:
        member = self.selected_member()
        me = self.info and next((m.username for m in self.info.members if m.me), None)
        can_act = self.is_owner and member is not None and member != me
        self.set_role_button.setEnabled(can_act)
        self.remove_button.setEnabled(can_act)
        self.role_box.setEnabled(can_act)
        for w in (self.invite_user, self.invite_role, self.invite_button):
            w.setEnabled(self.is_owner)
        self.withdraw_button.setEnabled(self.is_owner and bool(self.pending.selectedItems()))
        self.leave_button.setEnabled(self.info is not None)

    def _fail(self, message: str) -> None:
        self.status.setText(f"<span style='color:#a33'>{message}</span>")
        self._update_buttons()

    def _job(self, fn: Callable[..., Any], *args: Any, done: Callable[[Any], None] | None = None,
             busy: str = "Working…") -> None:
        self.status.setText(busy)

        def finished(result: Any) -> None:
            self.status.setText("")
            if done is not None:
                done(result)

        self.jobs.submit(_run, fn, *args, on_done=finished, on_error=self._fail)

    # -- loading ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        self._job(self.sharing.info, self.folder_id, done=self.show_info, busy="Checking members…")

    def show_info(self, info: Any) -> None:
        self.info = info
        try:
            mine = self.sharing.fingerprint()
        except Exception:  # noqa: BLE001 - the fingerprint is informative only
            mine = "unknown"
        self.header.setText(
            f"<b>{len(info.members)} member{'s' if len(info.members) != 1 else ''}</b> · you are "
            f"{info.my_role or 'not a member'} · key epoch {info.epoch}<br>Your key fingerprint: "
            f"<span style='font-family:monospace'>{mine}</span>")
        self.members.setRowCount(len(info.members))
        for row, m in enumerate(info.members):
            name = QTableWidgetItem(m.username + ("  (you)" if m.me else ""))
            name.setData(Qt.ItemDataRole.UserRole, m.username)
            self.members.setItem(row, 0, name)
            self.members.setItem(row, 1, QTableWidgetItem(m.role))
            fp = QTableWidgetItem(m.fingerprint)
            fp.setToolTip("Compare this with what the person sees in their Cove before trusting it.")
            self.members.setItem(row, 2, fp)
        self.pending.clear()
        for inv in info.pending:
            item = QListWidgetItem(f"{inv.invitee} as {inv.role} (invitation {inv.id})")
            item.setData(Qt.ItemDataRole.UserRole, inv.id)
            self.pending.addItem(item)
        if info.refused:
            self.warning.setText("The relay lists membership changes that are not properly signed; they are "
                                 "ignored:<br>" + "<br>".join(info.refused[:5]))
            self.warning.show()
        else:
            self.warning.hide()
        try:
            local = self.sharing.local_only(self.folder_id) if info.my_role == "viewer" else []
        except Exception:  # noqa: BLE001 - the folder may not be on this device
            local = []
        if local:
            self.local_note.setText(f"You are a viewer: {len(local)} local change(s) stay on this device and are "
                                    f"not shared ({', '.join(local[:3])}{'…' if len(local) > 3 else ''}).")
            self.local_note.show()
        else:
            self.local_note.hide()
        self._update_buttons()

    # -- actions ---------------------------------------------------------------------------------

    def _after_change(self, _: Any = None) -> None:
        self.changed.emit()
        self.refresh()

    def _invite(self) -> None:
        user = self.invite_user.text().strip()
        if not user:
            return
        role = self.invite_role.currentText()

        def done(res: Any) -> None:
            self.invite_user.clear()
            self.invite_result.setText(
                f"Invited {res.invitation.invitee} as {res.invitation.role}. Their key fingerprint: "
                f"<span style='font-family:monospace'>{res.invitee_fingerprint}</span> — compare it with "
                f"them.<br>Invitation link: {res.link}")
            self._after_change()

        self._job(self.sharing.invite, self.folder_id, user, role, done=done, busy=f"Inviting {user}…")

    def _set_role(self) -> None:
        member = self.selected_member()
        if member is None:
            return
        self._job(self.sharing.set_role, self.folder_id, member, self.role_box.currentText(),
                  done=self._after_change, busy=f"Changing {member}'s role…")

    def _remove(self) -> None:
        member = self.selected_member()
        if member is None or not self._confirm(
                f"Remove {member}? They keep what they already have, but nothing new reaches them."):
            return
        self._job(self.sharing.remove, self.folder_id, member, done=self._after_change, busy=f"Removing {member}…")

    def _withdraw(self) -> None:
        items = self.pending.selectedItems()
        if items:
            self._job(self.sharing.withdraw, self.folder_id, items[0].data(Qt.ItemDataRole.UserRole),
                      done=self._after_change)

    def _leave(self) -> None:
        if not self._confirm("Leave this folder? Its files stay here but no longer sync."):
            return

        def done(_: Any) -> None:
            self.changed.emit()
            self.accept()

        self._job(self.sharing.leave, self.folder_id, done=done)


class InvitationsWidget(QWidget):
    """Invitations for this user: inviter, role, the inviter's fingerprint; accept or decline."""

    accepted = Signal(object)  # the FolderConfig now syncing

    def __init__(self, sharing: Any, jobs: Any, choose_path: Callable[[Any], Path | None],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.sharing = sharing
        self.jobs = jobs
        self.choose_path = choose_path
        self.views: list[Any] = []
        self.list = QListWidget()
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.accept_button = QPushButton("Accept…")
        self.accept_button.clicked.connect(self._accept)
        self.decline_button = QPushButton("Decline")
        self.decline_button.clicked.connect(self._decline)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.empty = QLabel("No invitations. When someone shares a folder with you, it appears here.")
        buttons = QHBoxLayout()
        buttons.addWidget(self.accept_button)
        buttons.addWidget(self.decline_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.empty)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        self._update_buttons()

    def _update_buttons(self) -> None:
        view = self.selected()
        self.accept_button.setEnabled(view is not None and not view.problem)
        self.decline_button.setEnabled(view is not None)

    def selected(self) -> Any:
        items = self.list.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def refresh(self) -> None:
        self.jobs.submit(_run, self.sharing.invitations, on_done=self.show_views, on_error=self._fail)

    def _fail(self, message: str) -> None:
        self.status.setText(f"<span style='color:#a33'>{message}</span>")

    def show_views(self, views: list[Any]) -> None:
        self.views = list(views)
        self.list.clear()
        for v in self.views:
            inv = v.invitation
            text = (f"{inv.inviter} invites you as {inv.role} — folder {inv.folder[:12]}\n"
                    f"   {inv.inviter}'s key fingerprint: {v.inviter_fingerprint or 'unknown'}")
            if v.problem:
                text += f"\n   Not trusted: {v.problem}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, v)
            self.list.addItem(item)
        self.empty.setVisible(not self.views)
        self._update_buttons()

    def _accept(self) -> None:
        view = self.selected()
        if view is None:
            return
        path = self.choose_path(view.invitation)
        if path is None:
            return

        def done(folder: Any) -> None:
            self.status.setText(f"Syncing {folder.path}")
            self.accepted.emit(folder)
            self.refresh()

        self.jobs.submit(_run, self.sharing.accept, view.id, path, on_done=done, on_error=self._fail)

    def _decline(self) -> None:
        view = self.selected()
        if view is not None:
            self.jobs.submit(_run, self.sharing.decline, view.id, on_done=lambda _: self.refresh(),
                             on_error=self._fail)
