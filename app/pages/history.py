"""History: every kept version of a file (device, time, size) with a preview, restore or save as a
copy; and a folder as it was at a chosen time, with restore of chosen files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from PySide6.QtCore import QDateTime, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateTimeEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.conflicts_model import Preview, Side, preview_of
from app.context import Context
from app.icons import human_size, when
from app.models import OBJECT, PastColumn, PastModel, VersionColumn, VersionsModel
from app.pages import FolderPicker, heading, table
from sync.index import HistoryEntry
from sync.queries import IndexReader, PastEntry


class PreviewPane(QStackedWidget):
    """Text or an image of one version (bytes read off the GUI thread by the caller)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.image = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.note = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color:#666")
        for w in (self.text, self.image, self.note):
            self.addWidget(w)
        self.show_note("Select a version to preview it.")

    def show_note(self, text: str) -> None:
        self.note.setText(text)
        self.setCurrentWidget(self.note)

    def show_preview(self, p: Preview) -> None:
        if p.kind == "text":
            self.text.setPlainText(p.text)
            self.setCurrentWidget(self.text)
        elif p.kind == "image":
            img = QImage.fromData(p.data)
            if img.isNull():
                self.show_note("This image cannot be shown.")
                return
            pm = QPixmap.fromImage(img)
            if pm.width() > 480 or pm.height() > 360:
                pm = pm.scaled(480, 360, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            self.image.setPixmap(pm)
            self.setCurrentWidget(self.image)
        else:
            self.show_note(p.note)


def _kind(path: str) -> str:
    from app.conflicts_model import IMAGE_SUFFIXES

    return "image" if Path(path).suffix.lower() in IMAGE_SUFFIXES else "auto"


class HistoryPage(QWidget):
    restored = Signal(str)  # where a version was written

    def __init__(self, ctx: Context, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.picker = FolderPicker(ctx)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._versions_tab(), "Versions of a file")
        self.tabs.addTab(self._past_tab(), "Folder at a time")
        top = QHBoxLayout()
        top.addWidget(heading("History", "Cove keeps the old version whenever it replaces or deletes a file."))
        top.addWidget(QLabel("Folder:"))
        top.addWidget(self.picker)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)
        self.message = QLabel()
        self.message.setWordWrap(True)
        layout.addWidget(self.message)

    # -- versions of one file -------------------------------------------------------------------

    def _versions_tab(self) -> QWidget:
        w = QWidget()
        self.path_edit = QLineEdit(placeholderText="path inside the folder, e.g. notes/todo.txt")
        self.path_edit.returnPressed.connect(lambda: self.show_file(self.picker.current_id(), self.path_edit.text()))
        show = QPushButton("Show versions")
        show.clicked.connect(lambda: self.show_file(self.picker.current_id(), self.path_edit.text()))
        self.versions = VersionsModel(self)
        self.versions_view = table()
        self.versions_view.setModel(self.versions)
        self.versions_view.verticalHeader().hide()
        self.versions_view.setShowGrid(False)
        self.versions_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.versions_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.versions_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.versions_view.horizontalHeader().setStretchLastSection(True)
        self.versions_view.selectionModel().currentRowChanged.connect(lambda cur, _p: self._preview(cur.row()))
        self.preview = PreviewPane()
        self.restore_button = QPushButton("Restore this version")
        self.restore_button.clicked.connect(lambda: self.restore_selected())
        self.copy_button = QPushButton("Save as a copy…")
        self.copy_button.clicked.connect(self._save_copy)
        for b in (self.restore_button, self.copy_button):
            b.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(show)
        split = QSplitter()
        split.addWidget(self.versions_view)
        split.addWidget(self.preview)
        split.setSizes([520, 380])
        buttons = QHBoxLayout()
        buttons.addStretch()
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.restore_button)
        v = QVBoxLayout(w)
        v.addLayout(row)
        v.addWidget(split, 1)
        v.addLayout(buttons)
        self.file_path = ""
        return w

    def show_file(self, folder_id: str | None, relpath: str) -> None:
        relpath = relpath.strip().strip("/")
        if not folder_id or not relpath:
            return
        self.picker.select(folder_id)
        self.tabs.setCurrentIndex(0)
        self.path_edit.setText(relpath)
        self.file_path = relpath
        folder = self.ctx.folder(folder_id)
        self.preview.show_note("Select a version to preview it.")

        def done(entries: list[HistoryEntry]) -> None:
            self.versions.set_rows(entries)
            self.message.setText("" if entries else f"No kept versions of {relpath} yet: Cove keeps a "
                                 "version when it replaces or deletes a file.")
            if entries:
                self.versions_view.selectRow(0)

        self.ctx.host.call(self.ctx.engine.history, folder.path / relpath, on_done=done, on_error=self.message.setText)

    def selected_version(self) -> HistoryEntry | None:
        rows = self.versions_view.selectionModel().selectedRows()
        return self.versions.data(rows[0], OBJECT) if rows else None

    def _preview(self, row: int) -> None:
        enabled = row >= 0
        self.restore_button.setEnabled(enabled)
        self.copy_button.setEnabled(enabled)
        if not enabled:
            return
        entry: HistoryEntry = self.versions.object(row)
        folder = self.ctx.folder(self.picker.current_id())
        side = Side(f"version {entry.version_no}", entry.modified_by, entry.mtime_ns, entry.size,
                    folder.history_dir / entry.stored_name)
        self.ctx.jobs.submit(preview_of, side, _kind(entry.path), on_done=self.preview.show_preview)

    def restore_selected(self, to: Path | None = None) -> None:
        entry = self.selected_version()
        if entry is None:
            return
        folder = self.ctx.folder(self.picker.current_id())
        target = folder.path / entry.path

        def done(dest: Path) -> None:
            self.message.setText(f"Restored version {entry.version_no} of {entry.path} to {dest}.")
            self.restored.emit(str(dest))
            self.show_file(folder.id, entry.path)

        self.ctx.host.call(self.ctx.engine.restore, target, entry.version_no, to,
                           on_done=done, on_error=lambda m: self.message.setText(f"Could not restore: {m}"))

    def _save_copy(self) -> None:
        entry = self.selected_version()
        if entry is None:
            return
        folder = self.ctx.folder(self.picker.current_id())
        stem, dot, ext = Path(entry.path).name.rpartition(".")
        suggested = f"{stem} (version {entry.version_no}).{ext}" if dot else f"{ext} (version {entry.version_no})"
        dest, _ = QFileDialog.getSaveFileName(self, "Save version as", str((folder.path / entry.path).parent / suggested))
        if dest:
            self.restore_selected(Path(dest))

    # -- the folder as it was -------------------------------------------------------------------

    def _past_tab(self) -> QWidget:
        w = QWidget()
        self.when_edit = QDateTimeEdit(QDateTime.currentDateTime())
        self.when_edit.setCalendarPopup(True)
        self.when_edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
        show = QPushButton("Show the folder as it was")
        show.clicked.connect(lambda: self.show_past(self.when_edit.dateTime().toMSecsSinceEpoch() * 1_000_000))
        self.past = PastModel(self)
        self.past_view = table()
        self.past_view.setModel(self.past)
        self.past_view.verticalHeader().hide()
        self.past_view.setShowGrid(False)
        self.past_view.horizontalHeader().setSectionResizeMode(PastColumn.PATH, QHeaderView.ResizeMode.Stretch)
        all_button = QPushButton("Choose all older versions")
        all_button.clicked.connect(lambda: self.past.set_all_checked(True))
        self.past_restore = QPushButton("Restore chosen files")
        self.past_restore.clicked.connect(self.restore_chosen)
        self.past_note = QLabel("Pick a time: each file is listed as it was then. Files whose version "
                                "then was an older one can be restored.")
        self.past_note.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(QLabel("At:"))
        row.addWidget(self.when_edit)
        row.addWidget(show)
        row.addStretch()
        buttons = QHBoxLayout()
        buttons.addWidget(self.past_note, 1)
        buttons.addWidget(all_button)
        buttons.addWidget(self.past_restore)
        v = QVBoxLayout(w)
        v.addLayout(row)
        v.addWidget(self.past_view, 1)
        v.addLayout(buttons)
        return w

    def show_past(self, t_ns: int) -> None:
        folder_id = self.picker.current_id()
        if not folder_id:
            return
        self.when_edit.setDateTime(QDateTime.fromMSecsSinceEpoch(t_ns // 1_000_000))
        index_path = self.ctx.dirs.index_path(folder_id)

        def query() -> list[PastEntry]:
            with IndexReader(index_path) as reader:
                return reader.folder_at(t_ns)

        def done(rows: list[PastEntry]) -> None:
            self.past.set_rows(rows)
            older = sum(1 for r in rows if not r.is_current)
            stamp = dt.datetime.fromtimestamp(t_ns / 1e9).strftime("%Y-%m-%d %H:%M")
            self.past_note.setText(f"{len(rows):,} files at {stamp}; {older:,} of them differ from now.")

        self.ctx.jobs.submit(query, on_done=done, on_error=self.past_note.setText)

    def restore_chosen(self) -> None:
        chosen = self.past.chosen()
        folder_id = self.picker.current_id()
        if not chosen or not folder_id:
            return
        engine, root = self.ctx.engine, self.ctx.folder(folder_id).path

        def work() -> int:
            for entry in chosen:
                engine.restore(root / entry.path, entry.version_no)  # type: ignore[arg-type]
            return len(chosen)

        def done(n: int) -> None:
            self.message.setText(f"Restored {n} file{'s' if n != 1 else ''} as they were.")
            self.restored.emit(str(root))

        self.ctx.host.call(work, on_done=done, on_error=lambda m: self.message.setText(f"Could not restore: {m}"))


__all__ = ["HistoryPage", "PreviewPane", "VersionColumn", "human_size", "when"]
