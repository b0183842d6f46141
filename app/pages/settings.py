"""Settings: relay account, bandwidth limits, ignore patterns (the folder's ``.coveignore``), start on
login (XDG autostart entry), notifications. App-only values persist through
:class:`app.context.SettingsStore`; ignore patterns live in the folder, where the engine reads them;
bandwidth limits (upload and download, to LAN peers and to the relay) are the engine's, saved and
applied at once through :meth:`app.engine_host.EngineHost.set_bandwidth`."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
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
from sync.config import Bandwidth
from sync.fileops import atomic_write
from sync.humanize import human_rate
from sync.ignore import IGNORE_FILE, IgnoreRules

IGNORE_HELP = ("One pattern per line, as in .gitignore: <code>*.tmp</code>, <code>build/</code>, "
               "<code>!keep.tmp</code>. The file syncs, so every device follows the same rules.")


LIMITS = tuple(f.name for f in fields(Bandwidth))  # lan_up, lan_down, relay_up, relay_down
LIMIT_TIPS = {
    "lan_up": "What this device sends to your devices on this network, at most",
    "lan_down": "What this device receives from your devices on this network, at most",
    "relay_up": "What this device uploads to the relay, at most (folders that sync through a relay)",
    "relay_down": "What this device downloads from the relay, at most (folders that sync through a relay)",
}
MAX_KIB = 10_000_000


def to_kib(bytes_per_s: int) -> int:
    """A limit in bytes per second as the spin boxes show it: KiB/s, 0 for unlimited, and a limit
    below 1 KiB/s (set by hand in config.json) as 1 rather than as unlimited. Pure."""
    return 0 if bytes_per_s <= 0 else max(1, round(bytes_per_s / 1024))


def edited_bandwidth(current: Bandwidth, shown: dict[str, int], boxes: dict[str, int]) -> Bandwidth:
    """The limits after editing: the boxes changed since they were ``shown`` (KiB/s) take their new
    value; the others keep the engine's exact one (a limit set with ``cove limits 10MB`` is not
    rounded to whole KiB by saving another one, nor overwritten if it changed meanwhile). Pure."""
    return Bandwidth(**{name: boxes[name] * 1024 if boxes[name] != shown[name] else getattr(current, name)
                        for name in LIMITS})


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
        url, username, fingerprint = ctx.relay.current() if ctx.relay else ("", "", "")
        self.relay_url = QLineEdit(url or s.relay_url, placeholderText="https://relay.example.org")
        self.relay_account = QLineEdit(username or s.relay_account, placeholderText="your user name on the relay")
        self.relay_password = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.relay_status = QLabel()
        self.relay_status.setWordWrap(True)
        self.relay_status.setTextFormat(Qt.TextFormat.RichText)
        self.relay_save = QPushButton("Save")
        self.relay_save.clicked.connect(self.save_relay)
        self.sign_in_button = QPushButton("Sign in")
        self.sign_in_button.clicked.connect(self.sign_in)
        self.lan_only.toggled.connect(self._relay_enabled)
        # folders on the relay: join one, or sync one of this device's folders through the relay
        self.remote_list = QListWidget()
        self.remote_list.setMaximumHeight(110)
        self.remote_refresh = QPushButton("Refresh")
        self.remote_refresh.clicked.connect(self.load_remote_folders)
        self.remote_join = QPushButton("Sync into a folder here…")
        self.remote_join.clicked.connect(self._choose_join_target)
        self.local_picker = FolderPicker(ctx)
        self.local_to_relay = QPushButton("Sync through the relay")
        self.local_to_relay.clicked.connect(lambda: self.relay_folder(None))
        relay = QGroupBox("Relay account")
        rf = QFormLayout(relay)
        rf.addRow(self.lan_only)
        rf.addRow("Relay address", self.relay_url)
        rf.addRow("Account", self.relay_account)
        rf.addRow("Password", self.relay_password)
        rb = QHBoxLayout()
        rb.addWidget(self.relay_status, 1)
        rb.addWidget(self.relay_save)
        rb.addWidget(self.sign_in_button)
        rf.addRow(rb)
        rf.addRow(QLabel("<b>Your folders on the relay</b>"))
        rf.addRow(self.remote_list)
        rr = QHBoxLayout()
        rr.addStretch()
        rr.addWidget(self.remote_refresh)
        rr.addWidget(self.remote_join)
        rf.addRow(rr)
        lr = QHBoxLayout()
        lr.addWidget(self.local_picker, 1)
        lr.addWidget(self.local_to_relay)
        rf.addRow("This device's folder", lr)
        self._relay_enabled(self.lan_only.isChecked())
        if fingerprint:
            who = f"Signed in as <b>{username}</b>." if username else "Not signed in to a relay (LAN only)."
            self.relay_status.setText(f"{who} Account key fingerprint: <code>{fingerprint}</code>")
        if ctx.relay is not None:
            r = ctx.relay
            r.signed_in.connect(self._signed_in)
            r.needs_link.connect(self._relay_problem)
            r.failed.connect(self._relay_problem)
            r.remote_folders.connect(self._remote_folders)
            r.folder_added.connect(self._folder_added)
            r.busy_changed.connect(self._relay_busy)

        # bandwidth: the engine's limits, in KiB/s, applied at once
        self.limit_boxes: dict[str, QSpinBox] = {}
        for name in LIMITS:
            box = QSpinBox(maximum=MAX_KIB, suffix=" KiB/s", specialValueText="unlimited", singleStep=100)
            box.setMinimumWidth(160)
            box.setToolTip(LIMIT_TIPS[name] + " (0: unlimited)")
            box.editingFinished.connect(self.save_bandwidth)
            self.limit_boxes[name] = box
        self.lan_up, self.lan_down = self.limit_boxes["lan_up"], self.limit_boxes["lan_down"]
        self.relay_up, self.relay_down = self.limit_boxes["relay_up"], self.limit_boxes["relay_down"]
        self.bandwidth_status = QLabel()
        self.bandwidth_status.setWordWrap(True)
        self.bandwidth_status.setStyleSheet("color:#666")
        self._shown_limits: dict[str, int] = {}
        bandwidth = QGroupBox("Bandwidth")
        bg = QGridLayout(bandwidth)
        bg.addWidget(QLabel("Upload"), 0, 1)
        bg.addWidget(QLabel("Download"), 0, 2)
        lan_label = QLabel("LAN peers")
        lan_label.setToolTip("Your devices on this network, synced directly")
        relay_label = QLabel("Relay")
        relay_label.setToolTip("Folders that sync through a relay (in LAN-only mode none does, so these "
                               "limits have no effect there)")
        bg.addWidget(lan_label, 1, 0)
        bg.addWidget(self.lan_up, 1, 1)
        bg.addWidget(self.lan_down, 1, 2)
        bg.addWidget(relay_label, 2, 0)
        bg.addWidget(self.relay_up, 2, 1)
        bg.addWidget(self.relay_down, 2, 2)
        bg.addWidget(self.bandwidth_status, 3, 0, 1, 4)
        bg.setColumnStretch(3, 1)
        self.load_bandwidth()

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

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.load_bandwidth()

    # -- relay ----------------------------------------------------------------------------------

    def _relay_enabled(self, lan_only: bool) -> None:
        signed_in = self.ctx.relay is not None and bool(self.ctx.engine.config.relay)
        for w in (self.relay_url, self.relay_account, self.relay_password, self.sign_in_button):
            w.setEnabled(not lan_only)
        for w in (self.remote_list, self.remote_refresh, self.remote_join, self.local_picker, self.local_to_relay):
            w.setEnabled(not lan_only and signed_in)

    def _relay_busy(self, busy: bool) -> None:
        self.sign_in_button.setEnabled(not busy and not self.lan_only.isChecked())
        if not busy:
            self._relay_enabled(self.lan_only.isChecked())

    def save_relay(self) -> bool:
        """Save the mode (and, for a relay, its address) without signing in."""
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
        self.relay_status.setText("Saved. Sign in to sync folders through this relay.")
        self.saved.emit("relay")
        return True

    def sign_in(self) -> None:
        if self.ctx.relay is None or not self.save_relay():
            return
        if not self.relay_account.text().strip() or not self.relay_password.text():
            self.relay_status.setText("<span style='color:#b00'>Enter your user name and password.</span>")
            return
        self.relay_status.setText("Signing in…")
        self.ctx.relay.sign_in(self.relay_url.text(), self.relay_account.text(), self.relay_password.text())

    def _signed_in(self, result) -> None:
        self.relay_password.clear()
        created = " New account keys were made on this device." if result.created_keys else ""
        self.relay_status.setText(f"Signed in as <b>{result.username}</b>.{created} Account key fingerprint: "
                                  f"<code>{result.fingerprint}</code> — check your other devices show the same.")
        self._relay_enabled(False)
        self.load_remote_folders()
        self.saved.emit("relay")

    def _relay_problem(self, message: str) -> None:
        self.relay_status.setText(f"<span style='color:#a60'>{message}</span>")

    def load_remote_folders(self) -> None:
        if self.ctx.relay is not None:
            self.ctx.relay.load_folders()

    def _remote_folders(self, folders: list) -> None:
        self.remote_list.clear()
        for f in folders:
            item = QListWidgetItem(f.title, self.remote_list)
            item.setData(Qt.ItemDataRole.UserRole, f.id)
            if f.local_path is not None:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
        if not folders:
            QListWidgetItem("No folders on the relay yet: sync one of this device's folders through it.",
                            self.remote_list).setFlags(Qt.ItemFlag.NoItemFlags)

    def selected_remote(self) -> str | None:
        item = self.remote_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _choose_join_target(self) -> None:
        folder_id = self.selected_remote()
        if folder_id is None:
            self.relay_status.setText("Select a folder on the relay first.")
            return
        path = QFileDialog.getExistingDirectory(self, "Where should this folder sync?", str(Path.home()))
        if path:
            self.relay_folder(folder_id, Path(path))

    def relay_folder(self, folder_id: str | None, path: Path | None = None) -> None:
        """Join ``folder_id`` into ``path``; or (``folder_id`` None) sync the picked folder of this
        device through the relay as a new relay folder."""
        if self.ctx.relay is None:
            return
        if folder_id is None:
            local = self.local_picker.current_id()
            if local is None:
                return
            if self.ctx.folder(local).relay:
                self.relay_status.setText(f"{self.ctx.folder(local).path} already syncs through the relay.")
                return
            path = self.ctx.folder(local).path
        assert path is not None
        self.relay_status.setText(f"Adding {path}…")
        self.ctx.relay.add_folder(path, folder_id)

    def _folder_added(self, folder) -> None:
        self.relay_status.setText(f"{folder.path} syncs through the relay.")
        self.load_remote_folders()
        self.saved.emit("relay folder")

    # -- bandwidth ------------------------------------------------------------------------------

    def load_bandwidth(self) -> None:
        """Show the engine's limits (they may have changed with ``cove limits`` meanwhile)."""
        current = self.ctx.engine.config.bandwidth
        for name, box in self.limit_boxes.items():
            box.blockSignals(True)
            box.setValue(to_kib(getattr(current, name)))
            box.blockSignals(False)
        self._shown_limits = {name: box.value() for name, box in self.limit_boxes.items()}
        self._describe_bandwidth(current, "")

    def save_bandwidth(self) -> None:
        """Save the boxes the person changed to the engine, which applies them at once."""
        current = self.ctx.engine.config.bandwidth
        wanted = edited_bandwidth(current, self._shown_limits,
                                  {name: box.value() for name, box in self.limit_boxes.items()})
        if wanted == current:
            return
        try:
            self.ctx.host.set_bandwidth(wanted)
        except OSError as e:  # the config file cannot be written
            self.bandwidth_status.setText(f"<span style='color:#b00'>Not saved: {e}</span>")
            return
        self.load_bandwidth()
        self._describe_bandwidth(wanted, "Saved and applied. ")
        self.saved.emit("bandwidth")

    def _describe_bandwidth(self, b: Bandwidth, prefix: str) -> None:
        self.bandwidth_status.setText(
            f"{prefix}LAN peers: up {human_rate(b.lan_up)}, down {human_rate(b.lan_down)}. "
            f"Relay: up {human_rate(b.relay_up)}, down {human_rate(b.relay_down)}.")

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
