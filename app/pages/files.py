"""Files: one folder's lazy tree with per-file status, and a context menu (open, show in file
manager, history, share folder, copy path)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.context import Context
from app.pages import FolderPicker, heading
from app.tree_model import Column, FileTreeModel, Lister, Role
from sync.ignore import IGNORE_FILE, IgnoreRules
from sync.queries import Entry, IndexReader, list_directory

SHARE_DISABLED = ("Sharing a folder with other people needs a relay account and invitations; "
                  "this version of Cove syncs between your own devices only.")


def folder_lister(root: Path, index_path: Path) -> Lister:
    """A lister for one folder (runs on worker threads; opens its own read-only connection)."""

    def lister(directory: str) -> list[Entry]:
        try:
            rules = IgnoreRules.from_text((root / IGNORE_FILE).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            rules = IgnoreRules()
        if not index_path.exists():
            return []
        with IndexReader(index_path) as reader:
            return list_directory(reader, root, directory, rules)

    return lister


def _empty_lister(directory: str) -> list[Entry]:
    return []


class FilesPage(QWidget):
    history_requested = Signal(str, str)  # folder id, relative path

    def __init__(self, ctx: Context, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.picker = FolderPicker(ctx)
        self.model = FileTreeModel(_empty_lister, ctx.jobs, self)
        self.view = QTreeView()
        self.view.setModel(self.model)
        self.view.setUniformRowHeights(True)  # needed for 100,000 rows
        self.view.setAlternatingRowColors(True)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._menu)
        self.view.doubleClicked.connect(self._activated)
        header = self.view.header()
        header.setSectionResizeMode(Column.NAME, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        for c, w in ((Column.STATUS, 90), (Column.SIZE, 80), (Column.MODIFIED, 120), (Column.CHANGED_BY, 110)):
            self.view.setColumnWidth(c, w)
        self.status = QLabel()
        self.status.setStyleSheet("color:#666")

        top = QHBoxLayout()
        top.addWidget(heading("Files"))
        top.addStretch()
        top.addWidget(QLabel("Folder:"))
        top.addWidget(self.picker)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status)

        self.picker.currentIndexChanged.connect(lambda _i: self.show_folder(self.picker.current_id()))
        self.model.loaded.connect(self._loaded)
        self._soon = QTimer(self, singleShot=True, interval=300)
        self._soon.timeout.connect(self.model.refresh)
        ctx.host.changes.connect(self._changed)
        self.folder_id: str | None = None
        self.show_folder(self.picker.current_id())

    def show_folder(self, folder_id: str | None) -> None:
        if folder_id is None:
            self.folder_id = None
            self.model.set_lister(_empty_lister)
            return
        if folder_id == self.folder_id:
            return
        self.folder_id = folder_id
        self.picker.select(folder_id)
        folder = self.ctx.folder(folder_id)
        self.model.set_lister(folder_lister(folder.path, self.ctx.dirs.index_path(folder_id)))
        self.status.setText("Loading…")
        self.model.fetchMore(QModelIndex())

    def _loaded(self, directory: str) -> None:
        if directory == "":
            self.status.setText(f"{self.model.rowCount():,} items at the top level")

    def _changed(self, folder_id: str, _records: list, _remote: bool = False) -> None:
        if folder_id == self.folder_id:
            self._soon.start()  # a burst of change events refreshes the view once

    def _root(self) -> Path:
        assert self.folder_id is not None
        return self.ctx.folder(self.folder_id).path

    def entry_at(self, index: QModelIndex) -> Entry | None:
        return self.model.data(index.siblingAtColumn(0), Role.ENTRY) if index.isValid() else None

    # -- actions (public so tests drive them) ---------------------------------------------------

    def actions_for(self, entry: Entry) -> list[QAction]:
        path = self._root() / entry.path
        acts = []

        def act(text: str, slot, enabled: bool = True, tip: str = "") -> None:
            a = QAction(text, self)
            a.triggered.connect(slot)
            a.setEnabled(enabled)
            if tip:
                a.setToolTip(tip)
                a.setStatusTip(tip)
            acts.append(a)

        act("Open", lambda: self.ctx.open_path(path))
        act("Show in file manager", lambda: self.ctx.open_path(path.parent))
        act("History…", lambda: self.history_requested.emit(self.folder_id, entry.path), not entry.is_dir)
        act("Share folder…", lambda: None, False, SHARE_DISABLED)
        act("Copy path", lambda: self.ctx.copy_text(str(path)))
        return acts

    def _menu(self, pos: QPoint) -> None:
        entry = self.entry_at(self.view.indexAt(pos))
        if entry is None:
            return
        menu = QMenu(self)
        menu.setToolTipsVisible(True)
        for a in self.actions_for(entry):
            menu.addAction(a)
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def _activated(self, index: QModelIndex) -> None:
        entry = self.entry_at(index)
        if entry is not None and not entry.is_dir:
            self.ctx.open_path(self._root() / entry.path)
