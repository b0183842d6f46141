"""Settings: relay account, bandwidth limits, ignore patterns (the folder's ``.coveignore``), start on
login (XDG autostart entry), notifications. App-only values persist through
:class:`app.context.SettingsStore`; ignore patterns live in the folder, where the engine reads them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.context import Context
from app.pages import FolderPicker, heading
from app.settings import SyncMode, autostart_enabled, set_autostart, validate_relay_url
from sync.fileops import atomic_write
from sync.ignore import IGNORE_FILE, IgnoreRules

IGNORE_HELP = ("One pattern per line, as in .gitignore: <code>*.tmp</code>, <code>build/</code>, "
               "<code>!keep.tmp</code>. The file syncs, so every device follows the same rules.")


def read_ignore(root: Path) -> str:
    try:
        return (root / IGNORE_FILE).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def write_ignore(root: Path, text: str) -> list[str]:
    """Write ``.coveignore`` atomically; returns the lines that are not valid patterns."""
    if text and not text.endswith("\n"):
        text += "\n"
    invalid = IgnoreRules.from_text(text).invalid_lines
    atomic_write(root / IGNORE_FILE, [text.encode("utf-8")])
    return invalid


class SettingsPage(QWidget):
    saved = Signal(str)  # what was saved

    def __init__(self, ctx: Context, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        s = ctx.settings.value

        # relay account
        self.lan_only = QCheckBox("LAN only: sync directly between devices on the same network")
        self.lan_only.setChecked(s.sync_mode == SyncMode.LAN)
        self.relay_url = QLineEdit(s.relay_url, placeholderText="https://relay.example.org")
        self.relay_account = QLineEdit(s.relay_account, placeholderText="you@example.org")
        self.relay_status = QLabel()
        self.relay_status.setWordWrap(True)
        self.relay_save = QPushButton("Save relay")
        self.relay_save.clicked.connect(self.save_relay)
        self.lan_only.toggled.connect(self._relay_enabled)
        relay = QGroupBox("Relay account")
        rf = QFormLayout(relay)
        rf.addRow(self.lan_only)
        rf.addRow("Relay address", self.relay_url)
        rf.addRow("Account", self.relay_account)
        rb = QHBoxLayout()
        rb.addWidget(self.relay_status, 1)
        rb.addWidget(self.relay_save)
        rf.addRow(rb)
        self._relay_enabled(self.lan_only.isChecked())

        # bandwidth
        self.upload = QSpinBox(maximum=10_000_000, suffix=" KB/s", specialValueText="unlimited", singleStep=100)
        self.download = QSpinBox(maximum=10_000_000, suffix=" KB/s", specialValueText="unlimited", singleStep=100)
        for box in (self.upload, self.download):
            box.setMinimumWidth(160)
        self.upload.setValue(s.upload_limit_kib)
        self.download.setValue(s.download_limit_kib)
        self.upload.editingFinished.connect(self.save_bandwidth)
        self.download.editingFinished.connect(self.save_bandwidth)
        bandwidth = QGroupBox("Bandwidth")
        bf = QFormLayout(bandwidth)
        bf.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        bf.addRow("Upload limit", self.upload)
        bf.addRow("Download limit", self.download)

        # ignore patterns
        self.picker = FolderPicker(ctx)
        self.ignore_edit = QPlainTextEdit()
        self.ignore_edit.setPlaceholderText("*.tmp\nnode_modules/\n.DS_Store")
        self.ignore_edit.setMinimumHeight(110)
        self.ignore_edit.setMaximumHeight(160)
        self.ignore_status = QLabel()
        self.ignore_status.setWordWrap(True)
        self.ignore_save = QPushButton("Save patterns")
        self.ignore_save.clicked.connect(self.save_ignore)
        self.picker.currentIndexChanged.connect(lambda _i: self.load_ignore())
        ignore = QGroupBox("Ignore patterns")
        iv = QVBoxLayout(ignore)
        ih = QHBoxLayout()
        ih.addWidget(QLabel("Folder:"))
        ih.addWidget(self.picker, 1)
        iv.addLayout(ih)
        help_label = QLabel(IGNORE_HELP)
        help_label.setWordWrap(True)
        help_label.setStyleSheet("color:#666")
        iv.addWidget(help_label)
        iv.addWidget(self.ignore_edit)
        ib = QHBoxLayout()
        ib.addWidget(self.ignore_status, 1)
        ib.addWidget(self.ignore_save)
        iv.addLayout(ib)

        # general
        self.start_on_login = QCheckBox("Start Cove when I log in")
        self.start_on_login.setChecked(autostart_enabled(ctx.autostart_dir))
        self.start_on_login.toggled.connect(self.set_start_on_login)
        self.notifications = QCheckBox("Show notifications for changes from other devices, conflicts and errors")
        self.notifications.setChecked(s.notifications)
        self.notifications.toggled.connect(self.set_notifications)
        general = QGroupBox("General")
        gv = QVBoxLayout(general)
        gv.addWidget(self.start_on_login)
        gv.addWidget(self.notifications)

        inner = QWidget()
        v = QVBoxLayout(inner)
        v.addWidget(heading("Settings"))
        for box in (general, ignore, relay, bandwidth):
            v.addWidget(box)
        v.addStretch()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.load_ignore()

    # -- relay ----------------------------------------------------------------------------------

    def _relay_enabled(self, lan_only: bool) -> None:
        for w in (self.relay_url, self.relay_account):
            w.setEnabled(not lan_only)

    def save_relay(self) -> bool:
        if self.lan_only.isChecked():
            self.ctx.settings.update(sync_mode=SyncMode.LAN)
            self.relay_status.setText("LAN only: devices sync directly on the same network.")
            self.saved.emit("relay")
            return True
        problem = validate_relay_url(self.relay_url.text())
        if problem:
            self.relay_status.setText(f"<span style='color:#b00'>{problem}</span>")
            return False
        self.ctx.settings.update(sync_mode=SyncMode.RELAY, relay_url=self.relay_url.text().strip(),
                                 relay_account=self.relay_account.text().strip())
        self.relay_status.setText("Saved. Cove uses this relay when no device on your network is reachable.")
        self.saved.emit("relay")
        return True

    def save_bandwidth(self) -> None:
        self.ctx.settings.update(upload_limit_kib=self.upload.value(), download_limit_kib=self.download.value())
        self.saved.emit("bandwidth")

    # -- ignore patterns ------------------------------------------------------------------------

    def load_ignore(self) -> None:
        folder_id = self.picker.current_id()
        self.ignore_edit.setEnabled(folder_id is not None)
        self.ignore_save.setEnabled(folder_id is not None)
        if folder_id is None:
            self.ignore_edit.setPlainText("")
            return
        root = self.ctx.folder(folder_id).path

        def done(text: str) -> None:
            if self.picker.current_id() == folder_id:
                self.ignore_edit.setPlainText(text)
                self.ignore_status.setText(f"{root / IGNORE_FILE}")

        self.ctx.jobs.submit(read_ignore, root, on_done=done, on_error=self.ignore_status.setText)

    def save_ignore(self) -> None:
        folder_id = self.picker.current_id()
        if folder_id is None:
            return
        root = self.ctx.folder(folder_id).path
        text = self.ignore_edit.toPlainText()

        def done(invalid: list[str]) -> None:
            if invalid:
                self.ignore_status.setText("Saved, but these lines are not valid patterns and are skipped: "
                                           + ", ".join(invalid[:5]))
            else:
                self.ignore_status.setText("Saved. Matching files are no longer synced from this folder.")
            self.saved.emit("ignore")

        self.ctx.jobs.submit(write_ignore, root, text, on_done=done,
                             on_error=lambda m: self.ignore_status.setText(f"Could not save: {m}"))

    # -- general --------------------------------------------------------------------------------

    def set_start_on_login(self, on: bool) -> None:
        set_autostart(on, self.ctx.autostart_dir)
        self.ctx.settings.update(start_on_login=on)
        self.saved.emit("start_on_login")

    def set_notifications(self, on: bool) -> None:
        self.ctx.settings.update(notifications=on)
        self.saved.emit("notifications")


__all__ = ["Qt", "SettingsPage", "read_ignore", "write_ignore"]
