"""The Files view's model: a lazy tree over one folder's index, with a per-file status.

Nothing is loaded until a view (or a test) asks: ``canFetchMore``/``fetchMore`` on a directory
starts a query of that one directory (:func:`sync.queries.list_directory`) through a *lister*
callable run by :class:`app.jobs.Jobs` on a worker thread; the rows arrive by signal and are
inserted in pages of :data:`PAGE` so a directory of 100,000 files never stalls the GUI thread.
Columns are named (:class:`Column`) and the raw data is available through custom roles
(:class:`Role`), so the model is tested without a window.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from app.icons import human_size, icon, when
from app.jobs import Jobs
from sync.queries import Entry, FileStatus

NO_PARENT = QModelIndex()  # the invalid index: a shared default argument

PAGE = 2000

Lister = Callable[[str], list[Entry]]
"""Worker thread: the children of one directory ("" is the root)."""


class Column(enum.IntEnum):
    NAME = 0
    STATUS = 1
    SIZE = 2
    MODIFIED = 3
    CHANGED_BY = 4

    @property
    def title(self) -> str:
        return {0: "Name", 1: "Status", 2: "Size", 3: "Modified", 4: "Changed by"}[self.value]


class Role(enum.IntEnum):
    PATH = Qt.ItemDataRole.UserRole + 1
    STATUS = Qt.ItemDataRole.UserRole + 2  # FileStatus
    IS_DIR = Qt.ItemDataRole.UserRole + 3
    ENTRY = Qt.ItemDataRole.UserRole + 4  # sync.queries.Entry
    SORT = Qt.ItemDataRole.UserRole + 5  # raw value of the column
    LOADING = Qt.ItemDataRole.UserRole + 6  # a directory whose children are being fetched


STATUS_TEXT = {
    FileStatus.SYNCED: "Synced",
    FileStatus.PENDING: "Pending",
    FileStatus.SYNCING: "Syncing",
    FileStatus.CONFLICT: "Conflict",
    FileStatus.ERROR: "Error",
    FileStatus.IGNORED: "Ignored",
}


class Node:
    __slots__ = ("children", "entry", "loading", "parent", "pending", "row")

    def __init__(self, entry: Entry | None, parent: Node | None, row: int):
        self.entry = entry
        self.parent = parent
        self.row = row
        self.children: list[Node] | None = None  # None: never fetched
        self.pending: list[Entry] = []  # fetched, not yet inserted (paged)
        self.loading = False

    @property
    def path(self) -> str:
        return self.entry.path if self.entry else ""

    @property
    def is_dir(self) -> bool:
        return self.entry is None or self.entry.is_dir


class FileTreeModel(QAbstractItemModel):
    loaded = Signal(str)  # a directory's children arrived (its path, "" for the root)
    load_failed = Signal(str, str)  # directory, message

    def __init__(self, lister: Lister, jobs: Jobs, parent: QObject | None = None):
        super().__init__(parent)
        self._lister = lister
        self._jobs = jobs
        self._root = Node(None, None, 0)
        self._generation = 0

    # -- structure -----------------------------------------------------------------------------

    def _node(self, index: QModelIndex | QPersistentModelIndex) -> Node:
        return index.internalPointer() if index.isValid() else self._root

    def index(self, row: int, column: int, parent: QModelIndex | QPersistentModelIndex = NO_PARENT) -> QModelIndex:
        node = self._node(parent)
        if node.children is None or not (0 <= row < len(node.children)) or not (0 <= column < len(Column)):
            return QModelIndex()
        return self.createIndex(row, column, node.children[row])

    def parent(self, index: QModelIndex | QPersistentModelIndex = NO_PARENT) -> QModelIndex:  # type: ignore[override]
        if not index.isValid():
            return QModelIndex()
        node: Node = index.internalPointer()
        p = node.parent
        if p is None or p is self._root:
            return QModelIndex()
        return self.createIndex(p.row, 0, p)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = NO_PARENT) -> int:
        if parent.isValid() and parent.column() != 0:
            return 0
        node = self._node(parent)
        return len(node.children) if node.children is not None else 0

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = NO_PARENT) -> int:
        return len(Column)

    def hasChildren(self, parent: QModelIndex | QPersistentModelIndex = NO_PARENT) -> bool:
        node = self._node(parent)
        if not node.is_dir:
            return False
        if node.children is None or node.pending:
            return True  # unknown until fetched; the view shows an expander
        return bool(node.children)

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> bool:
        node = self._node(parent)
        return node.is_dir and not node.loading and (node.children is None or bool(node.pending))

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> None:
        node = self._node(parent)
        if not node.is_dir or node.loading:
            return
        if node.children is not None and node.pending:
            self._insert_page(node, QModelIndex(parent) if isinstance(parent, QPersistentModelIndex) else parent)
            return
        if node.children is not None:
            return
        self._load(node)

    def _load(self, node: Node) -> None:
        node.loading = True
        generation = self._generation
        directory = node.path
        persistent = QPersistentModelIndex(self._index_of(node))

        def done(entries: list[Entry]) -> None:
            if generation != self._generation:
                return
            node.loading = False
            parent = QModelIndex(persistent) if node is not self._root else QModelIndex()
            if node is not self._root and not parent.isValid():
                return  # the row went away meanwhile
            self._apply(node, parent, entries)
            self.loaded.emit(directory)

        def failed(message: str) -> None:
            if generation != self._generation:
                return
            node.loading = False
            if node.children is None:
                node.children = []
            self.load_failed.emit(directory, message)

        if node is not self._root:
            idx = self._index_of(node)
            self.dataChanged.emit(idx, idx, [Role.LOADING])
        self._jobs.submit(self._lister, directory, on_done=done, on_error=failed)

    def _apply(self, node: Node, parent: QModelIndex, entries: list[Entry]) -> None:
        old = node.children
        if old is not None and not node.pending and [c.entry.path for c in old] == [e.path for e in entries]:
            # Same names: update in place, keep expanded subtrees.
            for child, entry in zip(old, entries):
                child.entry = entry
            if old:
                self.dataChanged.emit(self.index(0, 0, parent), self.index(len(old) - 1, len(Column) - 1, parent))
            return
        if old:
            self.beginRemoveRows(parent, 0, len(old) - 1)
            node.children = []
            self.endRemoveRows()
        node.children = []
        node.pending = list(entries)
        self._insert_page(node, parent)

    def _insert_page(self, node: Node, parent: QModelIndex) -> None:
        assert node.children is not None
        page, node.pending = node.pending[:PAGE], node.pending[PAGE:]
        if not page:
            return
        first = len(node.children)
        self.beginInsertRows(parent, first, first + len(page) - 1)
        node.children.extend(Node(e, node, first + i) for i, e in enumerate(page))
        self.endInsertRows()

    def _index_of(self, node: Node) -> QModelIndex:
        if node is self._root or node.parent is None:
            return QModelIndex()
        return self.createIndex(node.row, 0, node)

    # -- data ----------------------------------------------------------------------------------

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return Column(section).title
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        node: Node = index.internalPointer()
        e = node.entry
        assert e is not None
        col = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            if col is Column.NAME:
                return e.name
            if col is Column.STATUS:
                return STATUS_TEXT[e.status]
            if col is Column.SIZE:
                return "" if e.is_dir else human_size(e.size)
            if col is Column.MODIFIED:
                return when(e.mtime_ns)
            if col is Column.CHANGED_BY:
                return e.modified_by
        elif role == Qt.ItemDataRole.DecorationRole:
            if col is Column.NAME:
                return icon("folder") if e.is_dir else None
            if col is Column.STATUS:
                return icon(f"status-{e.status.value}")
        elif role == Qt.ItemDataRole.ToolTipRole:
            return e.message or f"{e.path} — {STATUS_TEXT[e.status].lower()}"
        elif role == Qt.ItemDataRole.TextAlignmentRole and col is Column.SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        elif role == Role.PATH:
            return e.path
        elif role == Role.STATUS:
            return e.status
        elif role == Role.IS_DIR:
            return e.is_dir
        elif role == Role.ENTRY:
            return e
        elif role == Role.LOADING:
            return node.loading
        elif role == Role.SORT:
            return {Column.NAME: e.name.casefold(), Column.STATUS: e.status.value, Column.SIZE: e.size,
                    Column.MODIFIED: e.mtime_ns, Column.CHANGED_BY: e.modified_by}[col]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # -- API -----------------------------------------------------------------------------------

    def set_lister(self, lister: Lister) -> None:
        """Show another folder: drop everything and load its root."""
        self.beginResetModel()
        self._generation += 1
        self._lister = lister
        self._root = Node(None, None, 0)
        self.endResetModel()

    def refresh(self) -> None:
        """Query every directory already loaded again (after the engine changed things)."""
        stack = [self._root]
        while stack:
            node = stack.pop()
            if node.children is None or node.loading:
                continue
            self._load(node)
            stack.extend(c for c in node.children if c.is_dir)

    def index_for_path(self, path: str) -> QModelIndex:
        """The index of a loaded path (invalid if it is not loaded)."""
        node = self._root
        for part_end in _prefixes(path):
            if node.children is None:
                return QModelIndex()
            node = next((c for c in node.children if c.path == part_end), None)  # type: ignore[assignment]
            if node is None:
                return QModelIndex()
        return self._index_of(node)

    def loaded_count(self) -> int:
        count, stack = 0, [self._root]
        while stack:
            node = stack.pop()
            if node.children:
                count += len(node.children)
                stack.extend(node.children)
        return count


def _prefixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]
