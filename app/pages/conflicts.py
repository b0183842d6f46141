"""The conflict workbench: the open conflicts; for one, both versions side by side with device,
time and size, a text diff or image previews, the common ancestor when known; keep mine, keep
theirs, keep both — for the selected conflict or for many at once."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.conflicts_model import (
    ConflictColumn,
    ConflictItem,
    ConflictsModel,
    ConflictSource,
    Preview,
    Resolution,
    diff_html,
    preview_of,
    side_text,
)
from app.context import Context
from app.models import OBJECT
from app.pages import empty_note, heading, table
from app.pages.history import PreviewPane


def load_previews(item: ConflictItem) -> tuple[Preview, Preview, Preview | None, str]:
    """Worker thread: both versions (and the ancestor) read, and the diff when both are text."""
    kind = item.kind
    mine = preview_of(item.mine, kind)
    theirs = preview_of(item.theirs, kind)
    ancestor = preview_of(item.ancestor, kind) if item.ancestor else None
    diff = ""
    if mine.kind == "text" and theirs.kind == "text":
        diff = diff_html(mine.text, theirs.text, f"mine ({item.mine.label})", f"theirs ({item.theirs.label})")
    return mine, theirs, ancestor, diff


class ConflictsPage(QWidget):
    resolved = Signal(int)  # how many conflicts a click resolved

    def __init__(self, ctx: Context, source: ConflictSource, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.source = source
        self.model = ConflictsModel(self)
        self.view = table(multi=True)
        self.view.setModel(self.model)
        self.view.verticalHeader().hide()
        self.view.setShowGrid(False)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.horizontalHeader().setSectionResizeMode(ConflictColumn.FILE, QHeaderView.ResizeMode.Stretch)
        self.view.horizontalHeader().setSectionResizeMode(ConflictColumn.FOLDER, QHeaderView.ResizeMode.ResizeToContents)
        self.view.setColumnHidden(ConflictColumn.MINE, True)
        self.view.setColumnHidden(ConflictColumn.THEIRS, True)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._selection())

        # details of the current conflict
        self.mine_label, self.theirs_label = QLabel(), QLabel()
        for lab in (self.mine_label, self.theirs_label):
            lab.setWordWrap(True)
            lab.setTextFormat(Qt.TextFormat.RichText)
        self.mine_preview, self.theirs_preview = PreviewPane(), PreviewPane()
        self.ancestor_label = QLabel()
        self.ancestor_label.setStyleSheet("color:#555")
        self.diff = QTextBrowser()
        self.diff.setMinimumHeight(120)
        sides = QGridLayout()
        sides.addWidget(self.mine_label, 0, 0)
        sides.addWidget(self.theirs_label, 0, 1)
        sides.addWidget(self.mine_preview, 1, 0)
        sides.addWidget(self.theirs_preview, 1, 1)
        details = QWidget()
        dv = QVBoxLayout(details)
        dv.setContentsMargins(0, 0, 0, 0)
        dv.addLayout(sides, 2)
        dv.addWidget(self.ancestor_label)
        dv.addWidget(QLabel("<b>Differences</b> (− mine, + theirs)"))
        dv.addWidget(self.diff, 2)

        self.keep_mine = QPushButton("Keep mine")
        self.keep_theirs = QPushButton("Keep theirs")
        self.keep_both = QPushButton("Keep both")
        self.keep_mine.clicked.connect(lambda: self.resolve_selected(Resolution.KEEP_MINE))
        self.keep_theirs.clicked.connect(lambda: self.resolve_selected(Resolution.KEEP_THEIRS))
        self.keep_both.clicked.connect(lambda: self.resolve_selected(Resolution.KEEP_BOTH))
        self.select_all = QPushButton("Select all")
        self.select_all.clicked.connect(self.view.selectAll)
        self.note = QLabel()
        self.note.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.select_all)
        buttons.addWidget(self.note, 1)
        for b in (self.keep_mine, self.keep_theirs, self.keep_both):
            buttons.addWidget(b)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.view)
        split.addWidget(details)
        split.setSizes([140, 420])
        self.empty = empty_note("No conflicts. When two devices change the same file before they have "
                                "synced, Cove keeps both versions and lists them here for you to choose.")
        self.stack = QStackedWidget()
        self.stack.addWidget(split)
        self.stack.addWidget(self.empty)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Conflicts", "Files changed on two devices at once. Nothing is lost: choose what stays."))
        layout.addWidget(self.stack, 1)
        layout.addWidget(line)
        layout.addLayout(buttons)
        self.loading = False
        self._buttons(False)
        self._soon = QTimer(self, singleShot=True, interval=300)  # coalesce bursts of changes
        self._soon.timeout.connect(self.reload)
        ctx.host.changes.connect(self._changed)
        ctx.host.conflict_found.connect(self._changed)
        self.reload()

    def _buttons(self, enabled: bool) -> None:
        for b in (self.keep_mine, self.keep_theirs, self.keep_both):
            b.setEnabled(enabled)
        self.select_all.setEnabled(bool(self.model.rows))

    def _changed(self, *_args: object) -> None:
        self.reload_soon()

    def reload_soon(self) -> None:
        self._soon.start()

    def reload(self) -> None:
        if self.loading:
            self._soon.start()
            return
        self.loading = True

        def done(items: list[ConflictItem]) -> None:
            self.loading = False
            current = self.current()
            self.model.set_rows(items)
            self.stack.setCurrentIndex(0 if items else 1)
            row = self.model.find(current.key) if current else -1
            if items:
                self.view.selectRow(max(row, 0))
            self._buttons(bool(items))

        def failed(message: str) -> None:
            self.loading = False
            self.note.setText(f"Could not list conflicts: {message}")

        self.ctx.jobs.submit(self.source.conflicts, on_done=done, on_error=failed)

    def selected(self) -> list[ConflictItem]:
        return [self.model.data(i, OBJECT) for i in self.view.selectionModel().selectedRows()]

    def current(self) -> ConflictItem | None:
        sel = self.selected()
        return sel[0] if sel else None

    def _selection(self) -> None:
        items = self.selected()
        self._buttons(bool(items))
        n = len(items)
        suffix = "" if n <= 1 else f" ({n} conflicts)"
        self.keep_mine.setText("Keep mine" + suffix)
        self.keep_theirs.setText("Keep theirs" + suffix)
        self.keep_both.setText("Keep both" + suffix)
        if items:
            self.show_item(items[0])

    def show_item(self, item: ConflictItem) -> None:
        self.mine_label.setText(f"<b>Mine</b> — {side_text(item.mine)}")
        self.theirs_label.setText(f"<b>Theirs</b> — {side_text(item.theirs)}")
        self.ancestor_label.setText(
            f"Common ancestor: {side_text(item.ancestor)}" if item.ancestor else
            "Common ancestor: not known (this device did not keep the version both started from).")
        for p in (self.mine_preview, self.theirs_preview):
            p.show_note("Loading…")
        self.diff.setHtml("")

        def done(result: tuple[Preview, Preview, Preview | None, str]) -> None:
            if self.current() is None or self.current().key != item.key:
                return
            mine, theirs, _ancestor, diff = result
            self.mine_preview.show_preview(mine)
            self.theirs_preview.show_preview(theirs)
            self.diff.setHtml(diff or "<p><i>No text diff for this kind of file; compare the previews.</i></p>")

        self.ctx.jobs.submit(load_previews, item, on_done=done)

    def resolve_selected(self, resolution: Resolution) -> None:
        items = self.selected()
        if not items:
            return
        self._buttons(False)
        source = self.source

        def work() -> tuple[int, list[str]]:
            failures = []
            for item in items:
                try:
                    source.resolve(item, resolution)
                except Exception as e:  # noqa: BLE001 - listed to the person, others go on
                    failures.append(f"{item.path}: {e}")
            return len(items) - len(failures), failures

        def done(result: tuple[int, list[str]]) -> None:
            ok, failures = result
            self.note.setText(f"{resolution.value.capitalize()}: {ok} resolved."
                              + (" Failed: " + "; ".join(failures[:5]) if failures else ""))
            self.resolved.emit(ok)
            self.reload()

        self.ctx.jobs.submit(work, on_done=done, on_error=self.note.setText)
