"""The tray icon: the overall state as an icon and tooltip, notifications, and a menu (open folder,
open Cove, pause/resume, recent changes, quit). Only built when
``QSystemTrayIcon.isSystemTrayAvailable()``; otherwise the main window stands alone."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from app.engine_host import AppState, FolderInfo
from app.icons import icon
from app.notify import Notification, Urgency

TOOLTIP = {
    AppState.UP_TO_DATE: "Cove — up to date",
    AppState.SYNCING: "Cove — syncing",
    AppState.PAUSED: "Cove — paused",
    AppState.OFFLINE: "Cove — offline",
    AppState.ERROR: "Cove — needs attention",
}


class Tray(QObject):
    open_window = Signal()
    open_folder = Signal(Path)
    recent_changes = Signal()
    toggle_pause = Signal()
    quit_requested = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.icon = QSystemTrayIcon(icon("cove-up-to-date"), self)
        self.menu = QMenu()
        self.status_action = QAction("Up to date", self.menu)
        self.status_action.setEnabled(False)
        self.open_folder_menu = QMenu("Open folder", self.menu)
        self.open_action = QAction("Open Cove", self.menu)
        self.pause_action = QAction("Pause syncing", self.menu)
        self.recent_action = QAction("Recent changes", self.menu)
        self.quit_action = QAction("Quit Cove", self.menu)
        self.menu.addAction(self.status_action)
        self.menu.addSeparator()
        self.menu.addMenu(self.open_folder_menu)
        self.menu.addAction(self.open_action)
        self.menu.addAction(self.recent_action)
        self.menu.addSeparator()
        self.menu.addAction(self.pause_action)
        self.menu.addAction(self.quit_action)
        self.open_action.triggered.connect(self.open_window)
        self.pause_action.triggered.connect(self.toggle_pause)
        self.recent_action.triggered.connect(self.recent_changes)
        self.quit_action.triggered.connect(self.quit_requested)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.state = AppState.UP_TO_DATE
        self.set_state(AppState.UP_TO_DATE)
        self.set_folders([])

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.open_window.emit()

    def set_state(self, state: AppState, detail: str = "") -> None:
        self.state = state
        self.icon.setIcon(icon(state.icon[len("icons/"):-len(".svg")]))
        self.icon.setToolTip(TOOLTIP[state] + (f"\n{detail}" if detail else ""))
        self.status_action.setText(TOOLTIP[state].removeprefix("Cove — ").capitalize())
        self.pause_action.setText("Resume syncing" if state is AppState.PAUSED else "Pause syncing")

    def set_folders(self, infos: list[FolderInfo]) -> None:
        self.open_folder_menu.clear()
        for info in infos:
            a = self.open_folder_menu.addAction(icon("folder"), info.folder.label or info.folder.path.name)
            a.triggered.connect(lambda _=False, p=info.folder.path: self.open_folder.emit(p))
        self.open_folder_menu.setEnabled(bool(infos))
        syncing = [i for i in infos if i.state.startswith(("scanning", "syncing"))]
        if syncing and self.state is AppState.SYNCING:
            names = ", ".join(i.folder.label or i.folder.path.name for i in syncing)
            self.icon.setToolTip(f"{TOOLTIP[AppState.SYNCING]}: {names}")

    def notify(self, n: Notification) -> None:
        kind = {Urgency.INFO: QSystemTrayIcon.MessageIcon.Information,
                Urgency.WARNING: QSystemTrayIcon.MessageIcon.Warning,
                Urgency.CRITICAL: QSystemTrayIcon.MessageIcon.Critical}[n.urgency]
        self.icon.showMessage(n.title, n.body, kind, 8000)
