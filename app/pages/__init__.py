"""The main window's pages, one module each; each takes an :class:`app.context.Context`."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QLabel,
    QSizePolicy,
    QTableView,
    QWidget,
)

from app.context import Context


def heading(text: str, sub: str = "") -> QLabel:
    label = QLabel(f"<h2 style='margin:0'>{text}</h2>" + (f"<span style='color:#666'>{sub}</span>" if sub else ""))
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    return label


def table(multi: bool = False) -> QTableView:
    """A list-like table: rows selected whole, compact rows, no grid or row numbers."""
    view = QTableView()
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(26)
    view.setShowGrid(False)
    view.setAlternatingRowColors(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection if multi
                          else QAbstractItemView.SelectionMode.SingleSelection)
    return view


def empty_note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setStyleSheet("color:#666; padding:24px;")
    return label


class FolderPicker(QComboBox):
    """A combo box of the synced folders, kept current with the engine's list."""

    def __init__(self, ctx: Context, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.reload()
        ctx.host.folders_changed.connect(self._folders_changed)

    def _folders_changed(self, _infos: list) -> None:
        self.reload()

    def reload(self) -> None:
        current = self.current_id()
        folders = self.ctx.folders()
        if [self.itemData(i) for i in range(self.count())] == [f.id for f in folders]:
            return
        self.blockSignals(True)
        self.clear()
        for f in folders:
            self.addItem(f.label or f.path.name, f.id)
        i = self.findData(current)
        self.setCurrentIndex(max(i, 0))
        self.blockSignals(False)
        if self.current_id() != current:
            self.currentIndexChanged.emit(self.currentIndex())

    def current_id(self) -> str | None:
        return self.currentData()

    def select(self, folder_id: str) -> None:
        i = self.findData(folder_id)
        if i >= 0:
            self.setCurrentIndex(i)
