"""Activity: what synced recently, and errors with their reason and what to do about them."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.context import Context
from app.models import (
    OBJECT,
    ActivityColumn,
    ActivityItem,
    ActivityModel,
    activity_items,
)
from app.pages import heading, table
from sync.engine import Engine
from sync.queries import IndexReader


def load_activity(engine: Engine, limit: int = 200) -> list[ActivityItem]:
    """Worker thread: recent changes and current problems of every folder."""
    items: list[ActivityItem] = []
    for folder in list(engine.folders()):
        path = engine.dirs.index_path(folder.id)
        if not path.exists():
            continue
        with IndexReader(path) as reader:
            items += activity_items(folder.label or folder.path.name, reader.recent_changes(limit), reader.problems())
    return items


class ActivityPage(QWidget):
    def __init__(self, ctx: Context, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.model = ActivityModel(self)
        self.view = table()
        self.view.setModel(self.model)
        self.view.verticalHeader().hide()
        self.view.setShowGrid(False)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        h = self.view.horizontalHeader()
        h.setSectionResizeMode(ActivityColumn.PATH, QHeaderView.ResizeMode.Stretch)
        for c, w in ((ActivityColumn.WHEN, 90), (ActivityColumn.FOLDER, 90), (ActivityColumn.WHAT, 170),
                     (ActivityColumn.DETAIL, 200)):
            self.view.setColumnWidth(c, w)
        self.detail = QLabel("Select an error to see what to do about it.")
        self.detail.setWordWrap(True)
        self.detail.setStyleSheet("background:#f6f7f9; border:1px solid #dde; border-radius:6px; padding:10px;")
        self.view.selectionModel().currentRowChanged.connect(lambda cur, _prev: self._show(cur.row()))

        layout = QVBoxLayout(self)
        layout.addWidget(heading("Activity", "Recent changes, and anything Cove could not sync."))
        layout.addWidget(self.view, 1)
        layout.addWidget(self.detail)

        self._timer = QTimer(self, singleShot=True, interval=300)  # coalesce bursts of changes
        self._timer.timeout.connect(self.reload)
        ctx.host.changes.connect(self._soon)
        ctx.host.reported.connect(self._soon)
        ctx.host.error_found.connect(self._soon)
        self.loading = False
        self.reload()

    def _soon(self, *_args: object) -> None:
        self._timer.start()

    def reload(self) -> None:
        if self.loading:
            self._timer.start()
            return
        self.loading = True

        def done(items: list[ActivityItem]) -> None:
            self.loading = False
            self.model.set_items(items)

        def failed(message: str) -> None:
            self.loading = False
            self.detail.setText(f"Could not read activity: {message}")

        self.ctx.jobs.submit(load_activity, self.ctx.engine, on_done=done, on_error=failed)

    def _show(self, row: int) -> None:
        if row < 0:
            return
        item: ActivityItem = self.model.data(self.model.index(row, 0), OBJECT)
        if item.is_error:
            self.detail.setText(f"<b>{item.path}</b>: {item.detail}<br><b>What to do:</b> {item.advice}")
        else:
            self.detail.setText(f"<b>{item.path}</b> {item.what} in {item.folder}.")
