"""The main window: a sidebar of pages (Folders, Files, Activity, History, Conflicts, Devices,
Settings) and a status line with the overall state."""

from __future__ import annotations

import enum

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from app.conflicts_model import ConflictSource
from app.context import Context
from app.engine_host import AppState
from app.icons import icon
from app.pages.activity import ActivityPage
from app.pages.conflicts import ConflictsPage
from app.pages.devices import DevicesPage
from app.pages.files import FilesPage
from app.pages.folders import FoldersPage
from app.pages.history import HistoryPage
from app.pages.settings import SettingsPage


class Page(enum.IntEnum):
    FOLDERS = 0
    FILES = 1
    ACTIVITY = 2
    HISTORY = 3
    CONFLICTS = 4
    DEVICES = 5
    SETTINGS = 6

    @property
    def title(self) -> str:
        return self.name.capitalize()


STATE_TEXT = {
    AppState.UP_TO_DATE: "Up to date",
    AppState.SYNCING: "Syncing…",
    AppState.PAUSED: "Paused",
    AppState.OFFLINE: "Offline: changes wait until a device or the relay is reachable",
    AppState.ERROR: "Something needs your attention — see Folders and Activity",
}


class MainWindow(QMainWindow):
    closed = Signal()

    def __init__(self, ctx: Context, conflicts: ConflictSource, quit_on_close: bool = False):
        super().__init__()
        self.ctx = ctx
        self.quit_on_close = quit_on_close
        self.setWindowTitle("Cove")
        self.setWindowIcon(icon("cove"))
        self.resize(1040, 680)

        self.folders = FoldersPage(ctx)
        self.files = FilesPage(ctx)
        self.activity = ActivityPage(ctx)
        self.history = HistoryPage(ctx)
        self.conflicts = ConflictsPage(ctx, conflicts)
        self.devices = DevicesPage(ctx)
        self.settings = SettingsPage(ctx)
        self.pages = QStackedWidget()
        self.sidebar = QListWidget()
        self.sidebar.setIconSize(QSize(18, 18))
        self.sidebar.setFixedWidth(170)
        self.sidebar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.sidebar.setStyleSheet(
            "QListWidget{border:none;background:#f3f5f8;padding-top:8px}"
            "QListWidget::item{padding:8px 10px;border-radius:6px;margin:1px 6px}"
            "QListWidget::item:selected{background:#dbe8f6;color:#0f3f66}")
        page_icons = ["folder", "status-synced", "status-syncing", "status-pending", "status-conflict",
                      "cove", "status-ignored"]
        for page, widget, ic in zip(Page, (self.folders, self.files, self.activity, self.history,
                                           self.conflicts, self.devices, self.settings), page_icons):
            self.pages.addWidget(widget)
            QListWidgetItem(icon(ic), page.title, self.sidebar)
        self.sidebar.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.sidebar.setCurrentRow(0)

        central = QWidget()
        h = QHBoxLayout(central)
        h.setContentsMargins(0, 0, 0, 0)
        h.setSpacing(0)
        h.addWidget(self.sidebar)
        h.addWidget(self.pages, 1)
        self.setCentralWidget(central)
        self.state_label = QLabel()
        self.statusBar().addWidget(self.state_label)

        self.folders.open_files.connect(self.show_files)
        self.files.history_requested.connect(self.show_history)
        ctx.host.state_changed.connect(self.set_state)
        self.set_state(ctx.host.state)

    def show_page(self, page: Page) -> None:
        self.sidebar.setCurrentRow(page)

    def show_files(self, folder_id: str) -> None:
        self.files.show_folder(folder_id)
        self.show_page(Page.FILES)

    def show_history(self, folder_id: str, relpath: str) -> None:
        self.history.show_file(folder_id, relpath)
        self.show_page(Page.HISTORY)

    def set_state(self, state: AppState) -> None:
        self.state_label.setText(STATE_TEXT[state])
        self.setWindowIcon(icon(state.icon[len("icons/"):-len(".svg")]))

    def bring_up(self) -> None:
        self.show()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()

    def closeEvent(self, event: QCloseEvent) -> None:
        # With a tray the app keeps running; without one, closing the window quits.
        event.accept()
        self.closed.emit()
