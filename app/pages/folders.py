"""Folders: each synced folder with its state, size and last sync; add, open, pause."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.context import Context
from app.engine_host import AppState
from app.models import OBJECT, FolderColumn, FoldersModel
from app.pages import empty_note, heading, table


class FoldersPage(QWidget):
    open_files = Signal(str)  # folder id

    def __init__(self, ctx: Context, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.model = FoldersModel(self)
        self.view = table()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.verticalHeader().hide()
        self.view.setShowGrid(False)
        self.view.setAlternatingRowColors(True)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.doubleClicked.connect(lambda idx: self.open_files.emit(self.model.object(idx.row()).id))

        self.empty = empty_note("No folders yet. Add a folder and everything in it stays identical on "
                                "all your devices.")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.view)
        self.stack.addWidget(self.empty)

        self.add_button = QPushButton("Add folder…")
        self.add_button.clicked.connect(self._choose_folder)
        self.open_button = QPushButton("Open in file manager")
        self.open_button.clicked.connect(self._open_selected)
        self.pause_button = QPushButton("Pause syncing")
        self.pause_button.clicked.connect(ctx.host.toggle_pause)
        self.share_button = QPushButton("Share…")
        self.share_button.setToolTip("Invite people to a folder that syncs through your relay")
        self.share_button.clicked.connect(self._share_selected)
        self.invites_button = QPushButton("Invitations…")
        self.invites_button.setToolTip("Folders other people shared with you")
        self.invites_button.clicked.connect(self._show_invitations)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.open_button, self.pause_button, self.share_button, self.invites_button):
            buttons.addWidget(b)
        buttons.addStretch()

        layout = QVBoxLayout(self)
        layout.addWidget(heading("Folders", "What this device keeps in sync."))
        layout.addWidget(self.stack, 1)
        layout.addLayout(buttons)

        ctx.host.folders_changed.connect(self.set_infos)
        ctx.host.state_changed.connect(self._state)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_share())
        self.set_infos(ctx.host.infos)

    def set_infos(self, infos: list) -> None:
        selected = self.selected_id()
        self.model.set_rows(infos)
        self.stack.setCurrentWidget(self.view if infos else self.empty)
        for row, info in enumerate(infos):
            if info.id == selected:
                self.view.selectRow(row)
        self.view.resizeColumnToContents(FolderColumn.NAME)
        self._update_share()

    def _update_share(self) -> None:
        """Sharing needs a relay: the buttons say so instead of failing."""
        signed_in = self.ctx.engine.config.relay is not None
        fid = self.selected_id()
        relay_folder = bool(fid) and signed_in and self.ctx.folder(fid).relay
        self.share_button.setEnabled(relay_folder)
        self.invites_button.setEnabled(signed_in)
        if not signed_in:
            self.share_button.setToolTip("Sign in to a relay (Settings) to share folders")

    def _share_selected(self) -> None:
        from app.pages.share_dialog import ShareDialog

        fid = self.selected_id()
        if fid:
            folder = self.ctx.folder(fid)
            ShareDialog(self.ctx.engine.sharing, fid, self.ctx.jobs, folder.label, parent=self).exec()

    def _show_invitations(self) -> None:
        from PySide6.QtWidgets import QDialog

        from app.pages.share_dialog import InvitationsWidget

        dialog = QDialog(self)
        dialog.setWindowTitle("Invitations")
        widget = InvitationsWidget(
            self.ctx.engine.sharing,
            self.ctx.jobs,
            choose_path=lambda inv: (Path(p) if (p := QFileDialog.getExistingDirectory(self, "Where to keep it")) else None),
            parent=dialog,
        )
        widget.accepted.connect(lambda f: self.ctx.engine.start_folder(f.id))
        QVBoxLayout(dialog).addWidget(widget)
        widget.refresh()
        dialog.exec()

    def _state(self, state: AppState) -> None:
        self.pause_button.setText("Resume syncing" if state is AppState.PAUSED else "Pause syncing")

    def selected_id(self) -> str | None:
        rows = self.view.selectionModel().selectedRows()
        if rows:
            return self.model.data(rows[0], OBJECT).id
        return self.model.rows[0].id if self.model.rows else None

    def _open_selected(self) -> None:
        fid = self.selected_id()
        if fid:
            self.ctx.open_path(self.ctx.folder(fid).path)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a folder to sync", str(Path.home()))
        if path:
            self.add_folder(Path(path))

    def add_folder(self, path: Path) -> None:
        self.ctx.host.add_folder(
            path, on_error=lambda m: QMessageBox.warning(self, "Cannot add this folder", m))
