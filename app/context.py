"""What every page of the app is given: the engine host, the job runner, the settings store and the
few desktop services (open a URL, the clipboard) behind callables tests can replace. Built once in
:mod:`app.application`; pages never look anything up globally."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication

from app.engine_host import EngineHost
from app.jobs import Jobs
from app.settings import AppSettings, save_settings
from sync.config import Dirs, FolderConfig


class SettingsStore(QObject):
    """The app settings in memory and on disk; ``changed`` after every save."""

    changed = Signal(object)  # AppSettings

    def __init__(self, dirs: Dirs, settings: AppSettings, parent: QObject | None = None):
        super().__init__(parent)
        self.dirs = dirs
        self.value = settings

    def update(self, **changes: object) -> AppSettings:
        self.value = self.value.with_(**changes)
        save_settings(self.dirs, self.value)
        self.changed.emit(self.value)
        return self.value


def _open_url(url: QUrl) -> bool:
    return QDesktopServices.openUrl(url)


def _copy_text(text: str) -> None:
    QGuiApplication.clipboard().setText(text)


@dataclass
class Context:
    host: EngineHost
    jobs: Jobs
    settings: SettingsStore
    dirs: Dirs
    autostart_dir: Path | None = None
    open_url: Callable[[QUrl], bool] = _open_url
    copy_text: Callable[[str], None] = _copy_text
    opened: list[str] = field(default_factory=list)  # what open_url was asked (for the tray test)
    relay: Any = None  # app.account.RelayAccount (set by CoveApp once built)

    @property
    def engine(self):
        return self.host.engine

    def folders(self) -> list[FolderConfig]:
        return list(self.engine.folders())

    def folder(self, folder_id: str) -> FolderConfig:
        return self.engine.folder(folder_id)

    def open_path(self, path: Path) -> bool:
        self.opened.append(str(path))
        return self.open_url(QUrl.fromLocalFile(str(path)))
