"""Flat item models of the main window's pages, each with named columns and an ``OBJECT`` role that
returns the row's dataclass, so views and tests read the same thing without a window.

* :class:`FoldersModel` — each folder with its state, size and last sync;
* :class:`ActivityModel` — recent changes and errors (with their reason and what to do);
* :class:`VersionsModel` — the kept versions of one file;
* :class:`PastModel` — a folder as it was at a chosen time, rows checkable for restore.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from app.engine_host import FolderInfo
from app.icons import human_size, icon, when
from sync.index import HistoryEntry
from sync.queries import Change, PastEntry, Problem

NO_PARENT = QModelIndex()  # the invalid index: a shared default argument

OBJECT = Qt.ItemDataRole.UserRole + 100
T = TypeVar("T")
Index = QModelIndex | QPersistentModelIndex


class TableModel(QAbstractTableModel, Generic[T]):
    """Rows of one dataclass; ``columns`` is an IntEnum whose members have a ``title``."""

    columns: type[enum.IntEnum]

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.rows: list[T] = []

    def set_rows(self, rows: Sequence[T]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: Index = NO_PARENT) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = NO_PARENT) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns(section).title  # type: ignore[attr-defined]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == OBJECT:
            return row
        return self.cell(row, self.columns(index.column()), role)

    def cell(self, row: T, column: Any, role: int) -> Any:
        raise NotImplementedError

    def object(self, row: int) -> T:
        return self.rows[row]


def _titled(enum_cls: type[enum.IntEnum], titles: dict[str, str]) -> type[enum.IntEnum]:
    enum_cls.title = property(lambda self: titles[self.name])  # type: ignore[attr-defined]
    return enum_cls


class FolderColumn(enum.IntEnum):
    NAME = 0
    STATE = 1
    FILES = 2
    SIZE = 3
    LAST_SYNC = 4
    PATH = 5


_titled(FolderColumn, {"NAME": "Folder", "STATE": "State", "FILES": "Files", "SIZE": "Size",
                       "LAST_SYNC": "Last sync", "PATH": "Location"})


class FoldersModel(TableModel[FolderInfo]):
    columns = FolderColumn

    def cell(self, row: FolderInfo, column: FolderColumn, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            c = row.counts
            return {
                FolderColumn.NAME: row.folder.label or row.folder.path.name,
                FolderColumn.STATE: row.state.capitalize() + (
                    f" {row.progress:.0%}" if row.progress is not None else "") + (
                    " (relay)" if row.folder.relay else ""),
                FolderColumn.FILES: f"{c.files:,}" if c else "",
                FolderColumn.SIZE: human_size(c.bytes) if c else "",
                FolderColumn.LAST_SYNC: when(c.last_scan_ns) if c else "",
                FolderColumn.PATH: str(row.folder.path),
            }[column]
        if role == Qt.ItemDataRole.DecorationRole and column is FolderColumn.NAME:
            return icon("folder")
        if role == Qt.ItemDataRole.DecorationRole and column is FolderColumn.STATE:
            s = row.state
            name = ("error" if s.startswith(("error", "waiting")) else "syncing" if s.startswith(("scan", "sync"))
                    else "ignored" if s.startswith(("paused", "offline", "starting")) else "synced")
            return icon(f"status-{name}")
        return None


@dataclass(frozen=True)
class ActivityItem:
    """One line of the Activity page: a change or a problem."""

    when_ns: int
    folder: str
    path: str
    what: str  # "added", "modified", "deleted", or the error kind
    detail: str  # size / the error message
    advice: str = ""  # what to do, for errors
    is_error: bool = False


def activity_items(folder: str, changes: Sequence[Change], problems: Sequence[Problem],
                   previous: Callable[[str], bool] | None = None) -> list[ActivityItem]:
    items = [
        ActivityItem(p.last_seen_ns, folder, p.path or "/", p.kind.replace("_", " "), p.message, p.advice, True)
        for p in problems
    ]
    for c in changes:
        what = "deleted" if c.deleted else "changed"
        detail = "" if c.is_dir or c.deleted else human_size(c.size)
        who = f" by {c.modified_by}" if c.modified_by else ""
        items.append(ActivityItem(c.changed_at_ns, folder, c.path, what + who, detail))
    return items


class ActivityColumn(enum.IntEnum):
    WHEN = 0
    FOLDER = 1
    PATH = 2
    WHAT = 3
    DETAIL = 4


_titled(ActivityColumn, {"WHEN": "When", "FOLDER": "Folder", "PATH": "File", "WHAT": "What",
                         "DETAIL": "Details"})


class ActivityModel(TableModel[ActivityItem]):
    columns = ActivityColumn

    def set_items(self, items: Sequence[ActivityItem]) -> None:
        self.set_rows(sorted(items, key=lambda i: (not i.is_error, -i.when_ns, i.path)))

    def cell(self, row: ActivityItem, column: ActivityColumn, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                ActivityColumn.WHEN: when(row.when_ns),
                ActivityColumn.FOLDER: row.folder,
                ActivityColumn.PATH: row.path,
                ActivityColumn.WHAT: row.what,
                ActivityColumn.DETAIL: row.detail,
            }[column]
        if role == Qt.ItemDataRole.DecorationRole and column is ActivityColumn.PATH:
            return icon("status-error" if row.is_error else "status-synced")
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{row.detail}\n\nWhat to do: {row.advice}" if row.is_error else row.path
        return None


class VersionColumn(enum.IntEnum):
    VERSION = 0
    KEPT = 1
    MODIFIED = 2
    SIZE = 3
    DEVICE = 4
    REASON = 5


_titled(VersionColumn, {"VERSION": "#", "KEPT": "Kept at", "MODIFIED": "Modified", "SIZE": "Size",
                        "DEVICE": "Device", "REASON": "Why kept"})


class VersionsModel(TableModel[HistoryEntry]):
    """Kept versions, newest first."""

    columns = VersionColumn

    def set_rows(self, rows: Sequence[HistoryEntry]) -> None:
        super().set_rows(sorted(rows, key=lambda e: -e.version_no))

    def cell(self, row: HistoryEntry, column: VersionColumn, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                VersionColumn.VERSION: str(row.version_no),
                VersionColumn.KEPT: when(row.archived_at_ns),
                VersionColumn.MODIFIED: when(row.mtime_ns),
                VersionColumn.SIZE: human_size(row.size),
                VersionColumn.DEVICE: row.modified_by,
                VersionColumn.REASON: row.reason.replace("-", " "),
            }[column]
        return None


class PastColumn(enum.IntEnum):
    PATH = 0
    SOURCE = 1
    MODIFIED = 2
    SIZE = 3
    DEVICE = 4


_titled(PastColumn, {"PATH": "File", "SOURCE": "Version", "MODIFIED": "Modified", "SIZE": "Size",
                     "DEVICE": "Device"})


class PastModel(TableModel[PastEntry]):
    """A folder as it was at a time; kept versions are checkable for restore."""

    columns = PastColumn

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.checked: set[str] = set()

    def set_rows(self, rows: Sequence[PastEntry]) -> None:
        self.checked.clear()
        super().set_rows(rows)

    def cell(self, row: PastEntry, column: PastColumn, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                PastColumn.PATH: row.path,
                PastColumn.SOURCE: "as it is now" if row.is_current else f"kept version {row.version_no}",
                PastColumn.MODIFIED: when(row.mtime_ns),
                PastColumn.SIZE: human_size(row.size),
                PastColumn.DEVICE: row.modified_by,
            }[column]
        if role == Qt.ItemDataRole.CheckStateRole and column is PastColumn.PATH and not row.is_current:
            return Qt.CheckState.Checked if row.path in self.checked else Qt.CheckState.Unchecked
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        f = super().flags(index)
        if index.isValid() and index.column() == PastColumn.PATH and not self.rows[index.row()].is_current:
            f |= Qt.ItemFlag.ItemIsUserCheckable
        return f

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or not index.isValid():
            return False
        row = self.rows[index.row()]
        if row.is_current:
            return False
        if Qt.CheckState(value) == Qt.CheckState.Checked:
            self.checked.add(row.path)
        else:
            self.checked.discard(row.path)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        return True

    def set_all_checked(self, on: bool) -> None:
        self.checked = {r.path for r in self.rows if not r.is_current} if on else set()
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, 0), [Qt.ItemDataRole.CheckStateRole])

    def chosen(self) -> list[PastEntry]:
        return [r for r in self.rows if r.path in self.checked]
