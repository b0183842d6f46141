"""Devices: this device and the account key fingerprint; "Link a new device" (a pairing code as text
and QR code, its countdown and outcome; served on the LAN or deposited on the relay); "Join with a
code" (code or QR text, relay fields when the code or this device needs them, then the folders the
account's keys open, each with Add…); the account's devices with Revoke…, and the LAN peers with the
path in use, each with Pause/Resume (stop or resume syncing with that device on the LAN) —
refreshed every few seconds while the page is shown.

The work is :mod:`app.linking` (coroutines on the app's loop); this module is widgets only.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Callable
from pathlib import Path

import segno
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont, QFontDatabase, QHideEvent, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.context import Context
from app.linking import (
    DeviceRoster,
    JoinedFolder,
    JoinInput,
    Linking,
    Offer,
    OfferOutcome,
    PeerRow,
    Via,
    parse_join,
    remaining,
)
from app.pages import empty_note, heading
from sync.devices import DeviceList, DeviceRow, RevokeResult
from sync.errors import CoveError
from sync.lan.linking import FETCH_TIMEOUT
from sync.wire.ids import short_id

REFRESH_MS = 3_000  # devices and LAN peers, while the page is shown
NO_PEERS = ("No other Cove devices of this account found on this network. Devices appear here when Cove "
            "runs on them on the same network with LAN sync on.")
LINK_INTRO = ("Show a pairing code for your new device. It hands over this account's keys (and the keys of "
              "your LAN folders), encrypted under the code, once.")
JOIN_INTRO = ("On a new device: enter the pairing code your other device shows under “Link a new device”, "
              "or paste the text of its QR code.")
ERROR_STYLE = "color:#b00"
OK_STYLE = "color:#176b2c"
NOTE_STYLE = "color:#666"


def qr_pixmap(text: str, scale: int = 5) -> QPixmap:
    """A QR code of ``text`` as a pixmap (segno renders PNG bytes; Qt decodes them)."""
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=scale, border=2)
    pm = QPixmap()
    pm.loadFromData(buf.getvalue(), "PNG")
    return pm


def grouped(device_id: str) -> str:
    return device_id if "-" in device_id else " ".join(device_id[i:i + 7] for i in range(0, len(device_id), 7))


def device_state(row: DeviceRow, daemon_running: bool) -> str:
    """What the Status column says of one device. Pure."""
    parts = []
    if row.this_device:
        parts.append("this device")
    if row.revoked:
        parts.append("revoked")
    elif row.connected:
        parts.append("connected on the LAN")
    elif row.last_seen:
        parts.append(f"last seen {dt.datetime.fromtimestamp(row.last_seen):%Y-%m-%d %H:%M}")
    elif not row.this_device:
        parts.append("not seen on the LAN" if daemon_running else "not seen yet")
    if row.on_relay and not row.revoked:
        parts.append("on the relay")
    return ", ".join(parts)


def _mono(size: int = 0) -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    if size:
        font.setPointSize(size)
    return font


def _note(text: str = "", style: str = NOTE_STYLE) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(style)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _set(label: QLabel, text: str, style: str = NOTE_STYLE) -> None:
    label.setText(text)
    label.setStyleSheet(style)
    label.setVisible(bool(text))


class FolderRow(QWidget):
    """One folder a join made available: its label and ID, and Add… (or where it already syncs)."""

    def __init__(self, folder: JoinedFolder, parent: QWidget | None = None):
        super().__init__(parent)
        self.folder = folder
        self.label = QLabel(f"<b>{folder.title}</b><br><span style='font-family:monospace'>{folder.id}</span>")
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = _note()
        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Choose where this folder lives on this device")
        h = QHBoxLayout(self)
        h.setContentsMargins(0, 2, 0, 2)
        v = QVBoxLayout()
        v.addWidget(self.label)
        v.addWidget(self.status)
        h.addLayout(v, 1)
        h.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignTop)
        if folder.path is not None:
            self.synced_at(folder.path)
        else:
            self.status.hide()

    def synced_at(self, path: Path) -> None:
        _set(self.status, f"Synced at {path}", OK_STYLE)
        self.add_button.hide()


class DevicesPage(QWidget):
    def __init__(self, ctx: Context, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.linking = Linking(ctx.host, ctx.settings, self)
        self.roster = DeviceRoster(ctx.host, self)
        identity = ctx.engine.identity
        self.device_id = identity.device_id
        # seams for tests: the folder chooser, and how long a LAN join looks for the other device
        self.choose_path: Callable[[JoinedFolder], Path | None] = self._choose_path
        self.join_timeout: float = FETCH_TIMEOUT
        self.revoke_dialog: QMessageBox | None = None
        self.folder_rows: dict[str, FolderRow] = {}
        self.revoke_buttons: dict[str, QPushButton] = {}
        self.pause_buttons: dict[str, QPushButton] = {}  # LAN peers by device ID

        # -- this device
        self.id_label = QLabel(f"<span style='font-family:monospace;font-size:11pt'>{grouped(self.device_id)}</span>"
                               f"<br><span style='color:#666'>Device ID (short ID {identity.short_id})</span>")
        self.id_label.setTextFormat(Qt.TextFormat.RichText)
        self.id_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fingerprint_label = _note()
        copy = QPushButton("Copy device ID")
        copy.clicked.connect(lambda: ctx.copy_text(self.device_id))
        mine = QGroupBox("This device")
        mh = QHBoxLayout(mine)
        mv = QVBoxLayout()
        mv.addWidget(self.id_label)
        mv.addWidget(self.fingerprint_label)
        mh.addLayout(mv, 1)
        mh.addWidget(copy, 0, Qt.AlignmentFlag.AlignTop)

        # -- link a new device
        self.offer_button = QPushButton("Link a new device")
        self.offer_button.clicked.connect(self.start_offer)
        self.offer_code = QLineEdit(readOnly=True)
        self.offer_code.setFont(_mono(13))
        self.offer_code.setMinimumWidth(self.offer_code.fontMetrics().horizontalAdvance("M" * 31))
        self.copy_code_button = QPushButton("Copy code")
        self.copy_code_button.clicked.connect(lambda: ctx.copy_text(self.offer_code.text()))
        self.offer_where = _note()
        self.offer_fingerprint = _note()
        self.offer_countdown = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.linking.cancel_offer)
        self.offer_qr = QLabel()
        self.offer_qr.setToolTip("Scan this on the new device (it holds the code; paste the scanned text "
                                 "into “Join with a code”).")
        self.offer_box = QWidget()
        outer = QVBoxLayout(self.offer_box)
        outer.setContentsMargins(0, 0, 0, 0)
        code_row = QHBoxLayout()
        code_row.addWidget(self.offer_code, 1)
        code_row.addWidget(self.copy_code_button)
        outer.addLayout(code_row)
        ob = QHBoxLayout()
        outer.addLayout(ob)
        ov = QVBoxLayout()
        ov.addWidget(self.offer_where)
        ov.addWidget(self.offer_fingerprint)
        cd_row = QHBoxLayout()
        cd_row.addWidget(self.offer_countdown, 1)
        cd_row.addWidget(self.cancel_button)
        ov.addLayout(cd_row)
        ov.addStretch()
        ob.addLayout(ov, 1)
        ob.addWidget(self.offer_qr, 0, Qt.AlignmentFlag.AlignTop)
        self.offer_box.hide()
        self.offer_status = _note()
        self.offer_status.hide()
        link = QGroupBox("Link a new device")
        lv = QVBoxLayout(link)
        lv.addWidget(_note(LINK_INTRO))
        lv.addWidget(self.offer_button, 0, Qt.AlignmentFlag.AlignLeft)
        lv.addWidget(self.offer_box)
        lv.addWidget(self.offer_status)
        lv.addStretch()
        self._tick = QTimer(self, interval=1000)
        self._tick.timeout.connect(self._countdown)

        # -- join with a code
        self.join_code = QLineEdit(placeholderText="pairing code, or the cove://link?… text of its QR code")
        self.join_code.setFont(_mono())
        self.join_code.textChanged.connect(self._code_changed)
        self.join_code.returnPressed.connect(self.join)
        self.via_relay = QCheckBox("Through a relay")
        self.via_relay.setToolTip("Your other device uses a relay: it shows the relay's address with the code")
        self.via_relay.toggled.connect(self._show_relay_fields)
        self.join_relay_url = QLineEdit(placeholderText="https://relay.example.org")
        self.join_username = QLineEdit(placeholderText="your user name on the relay")
        self.join_password = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.relay_fields = QWidget()
        rf = QFormLayout(self.relay_fields)
        rf.setContentsMargins(0, 0, 0, 0)
        rf.addRow("Relay", self.join_relay_url)
        rf.addRow("Account", self.join_username)
        rf.addRow("Password", self.join_password)
        self.join_button = QPushButton("Join")
        self.join_button.clicked.connect(self.join)
        self.join_status = _note()
        self.join_status.setTextFormat(Qt.TextFormat.PlainText)
        self.join_status.hide()
        self.join_folders = QWidget()
        self.join_folders_layout = QVBoxLayout(self.join_folders)
        self.join_folders_layout.setContentsMargins(0, 0, 0, 0)
        self.join_folders.hide()
        join = QGroupBox("Join with a code")
        jv = QVBoxLayout(join)
        jv.addWidget(_note(JOIN_INTRO))
        row = QHBoxLayout()
        row.addWidget(self.join_code, 1)
        row.addWidget(self.join_button)
        jv.addLayout(row)
        jv.addWidget(self.via_relay)
        jv.addWidget(self.relay_fields)
        jv.addWidget(self.join_status)
        jv.addWidget(self.join_folders)
        jv.addStretch()

        # -- the account's devices and LAN peers
        self.devices_table = QTableWidget(0, 4)
        self.devices_table.setHorizontalHeaderLabels(["Device", "ID", "Status", ""])
        self.peers_table = QTableWidget(0, 5)
        self.peers_table.setHorizontalHeaderLabels(["Device", "Path", "Addresses", "State", ""])
        for t in (self.devices_table, self.peers_table):
            t.verticalHeader().hide()
            t.setShowGrid(False)
            t.setAlternatingRowColors(True)
            t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            t.horizontalHeader().setStretchLastSection(True)
            t.setMinimumHeight(120)
        for t, stretch in ((self.devices_table, 2), (self.peers_table, 3)):  # the status; buttons at the end
            t.horizontalHeader().setStretchLastSection(False)
            t.horizontalHeader().setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
        self.devices_status = _note()
        self.devices_status.hide()
        self.peers_empty = empty_note(NO_PEERS)
        self.peers_status = _note()
        self.peers_status.hide()
        devs = QGroupBox("Devices of this account")
        dv = QVBoxLayout(devs)
        dv.addWidget(self.devices_table, 1)
        dv.addWidget(self.devices_status)
        lan = QGroupBox("On this network")
        pv = QVBoxLayout(lan)
        pv.addWidget(self.peers_table, 1)
        pv.addWidget(self.peers_empty, 1)
        pv.addWidget(self.peers_status)

        body = QWidget()
        grid = QGridLayout(body)
        grid.addWidget(mine, 0, 0, 1, 2)
        grid.addWidget(link, 1, 0)
        grid.addWidget(join, 1, 1)
        grid.addWidget(devs, 2, 0)
        grid.addWidget(lan, 2, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(2, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Devices", "Link your devices, and see and revoke the devices of your account."))
        layout.addWidget(scroll, 1)

        self._refresh_timer = QTimer(self, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        l, r = self.linking, self.roster
        l.offered.connect(self._offered)
        l.offer_finished.connect(self._offer_finished)
        l.joined.connect(self._joined)
        l.join_failed.connect(self._join_failed)
        l.folder_added.connect(self._folder_added)
        l.folder_failed.connect(self._folder_failed)
        r.loaded.connect(self._loaded)
        r.failed.connect(lambda m: _set(self.devices_status, m, ERROR_STYLE))
        r.revoked.connect(self._revoked)
        r.revoke_failed.connect(lambda m: _set(self.devices_status, m, ERROR_STYLE))
        r.peers_changed.connect(self.set_peers)
        self._show_fingerprint()
        self._code_changed("")
        self.set_peers([])

    # -- life cycle ------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._show_fingerprint()
        self.refresh()
        self._refresh_timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._refresh_timer.stop()

    def refresh(self):
        return self.roster.refresh()

    async def close_down(self) -> None:
        """Stop serving an offer and wait for the page's tasks (the app is quitting)."""
        import asyncio
        import contextlib

        self._refresh_timer.stop()
        self._tick.stop()
        tasks = [*self.linking._tasks, *self.roster._tasks]
        self.linking.cancel_offer()
        for t in tasks:
            if t is not self.linking._offer_task:
                t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    def _show_fingerprint(self) -> None:
        fp = self.linking.fingerprint()
        self.fingerprint_label.setText(
            f"Account key fingerprint: {fp} — the same on every device of your account." if fp else
            "No account keys on this device yet: add a folder, sign in to a relay, or join with a code.")

    # -- link a new device -------------------------------------------------------------------------

    def start_offer(self):
        self.offer_button.setEnabled(False)
        _set(self.offer_status, "Making a pairing code…")
        return self.linking.start_offer()

    def _offered(self, offer: Offer) -> None:
        self.offer_code.setText(offer.code)
        self.offer_qr.setPixmap(qr_pixmap(offer.qr_payload, scale=4))
        if offer.via is Via.LAN:
            carried = f" It carries the keys of: {', '.join(offer.folders)}." if offer.folders else ""
            where = ("On the new device, on this network: Devices → Join with a code. This device hands "
                     f"the keys over itself while the code is shown.{carried}")
        else:
            where = (f"On the new device: Devices → Join with a code, through the relay {offer.relay_url} "
                     f"as {offer.username} (with your password).")
        self.offer_where.setText(where)
        self.offer_fingerprint.setText(f"Account key fingerprint: {offer.fingerprint}")
        self.offer_box.show()
        _set(self.offer_status, "")
        self._countdown()
        self._tick.start()

    def _countdown(self) -> None:
        offer = self.linking.offer
        if offer is not None:
            self.offer_countdown.setText(f"Valid for {remaining(offer.expires_at, time.monotonic())} — works once.")

    def _offer_finished(self, outcome: OfferOutcome, message: str) -> None:
        self._tick.stop()
        self.offer_box.hide()
        self.offer_code.clear()
        self.offer_qr.clear()
        self.offer_button.setEnabled(True)
        self.offer_button.setText("Link another device" if outcome is OfferOutcome.TAKEN else "Link a new device")
        style = {OfferOutcome.TAKEN: OK_STYLE, OfferOutcome.FAILED: ERROR_STYLE}.get(outcome, NOTE_STYLE)
        _set(self.offer_status, message, style)
        if outcome is OfferOutcome.TAKEN:
            self.refresh()

    # -- join with a code --------------------------------------------------------------------------

    def _code_changed(self, text: str) -> None:
        needs_relay = False
        try:
            parsed = parse_join(text, self.ctx.engine.config.relay) if text.strip() else None
        except CoveError:
            parsed = None
        if parsed is not None and parsed.relay_url:
            needs_relay = True
            if parsed.relay_url != self.join_relay_url.text():
                self.join_relay_url.setText(parsed.relay_url)
            if parsed.username and not self.join_username.text():
                self.join_username.setText(parsed.username)
        elif self.ctx.engine.config.relay is not None:
            needs_relay = True  # a device signed in to a relay links through it
        if needs_relay:
            self.via_relay.setChecked(True)
        self._show_relay_fields(self.via_relay.isChecked())

    def _show_relay_fields(self, shown: bool) -> None:
        self.relay_fields.setVisible(shown)
        if shown and not self.join_relay_url.text() and self.ctx.engine.config.relay is not None:
            self.join_relay_url.setText(self.ctx.engine.config.relay.url)
            self.join_username.setText(self.ctx.engine.config.relay.username)

    def join(self):
        """Link this device with the code in the field; returns the task (None if refused at once)."""
        text = self.join_code.text()
        try:
            parsed = parse_join(text, self.ctx.engine.config.relay)
        except CoveError as e:
            _set(self.join_status, str(e), ERROR_STYLE)
            return None
        password = ""
        if self.via_relay.isChecked():
            url, user, password = (self.join_relay_url.text().strip().rstrip("/"), self.join_username.text().strip(),
                                   self.join_password.text())
            if not url or not user or not password:
                _set(self.join_status, "Enter the relay's address, your user name and your password.", ERROR_STYLE)
                return None
            inp = JoinInput(parsed.code, url, user)
            _set(self.join_status, f"Linking through {url}…")
        else:
            inp = JoinInput(parsed.code, None, None)
            _set(self.join_status, "Looking for the device offering this code on this network "
                                   f"(up to {self.join_timeout:g} s)…")
        self.join_button.setEnabled(False)
        self._clear_folders()
        return self.linking.join(inp, password, timeout=self.join_timeout)

    def _join_failed(self, message: str) -> None:
        self.join_button.setEnabled(True)
        _set(self.join_status, f"Not linked: {message}", ERROR_STYLE)

    def _joined(self, joined) -> None:
        self.join_button.setEnabled(True)
        self.join_password.clear()
        self.join_code.clear()
        how = "through the relay" if joined.via is Via.RELAY else "over the LAN"
        lines = [(f"Linked this device {how}. Account key fingerprint: {joined.fingerprint} — check that your "
                  "other device shows the same.")]
        if joined.note:
            lines.append(joined.note)
        if joined.folders:
            lines.append("Folders you can now sync here:")
        else:
            lines.append("Your other device syncs no folders yet; add one there or on the Folders page.")
        _set(self.join_status, "\n".join(lines), OK_STYLE)
        self._show_fingerprint()
        for folder in joined.folders:
            row = FolderRow(folder)
            row.add_button.clicked.connect(lambda _c=False, r=row: self.add_folder(r))
            self.folder_rows[folder.id] = row
            self.join_folders_layout.addWidget(row)
        self.join_folders.setVisible(bool(joined.folders))
        self.refresh()

    def _clear_folders(self) -> None:
        for row in self.folder_rows.values():
            row.setParent(None)
            row.deleteLater()
        self.folder_rows.clear()
        self.join_folders.hide()

    def _choose_path(self, folder: JoinedFolder) -> Path | None:
        chosen = QFileDialog.getExistingDirectory(self, f"Where to keep {folder.title} on this device",
                                                  str(Path.home()))
        return Path(chosen) if chosen else None

    def add_folder(self, row: FolderRow) -> None:
        path = self.choose_path(row.folder)
        if path is None:
            return
        row.add_button.setEnabled(False)
        _set(row.status, f"Adding {path}…")
        self.linking.add_folder(row.folder, path)

    def _folder_added(self, folder) -> None:
        row = self.folder_rows.get(folder.id)
        if row is not None:
            row.synced_at(folder.path)

    def _folder_failed(self, folder_id: str, message: str) -> None:
        row = self.folder_rows.get(folder_id)
        if row is not None:
            row.add_button.setEnabled(True)
            _set(row.status, message, ERROR_STYLE)

    # -- devices and peers --------------------------------------------------------------------------

    def _loaded(self, listing: DeviceList, peers: list[PeerRow]) -> None:
        self.set_devices(listing)
        self.set_peers(peers)

    def set_devices(self, listing: DeviceList) -> None:
        t = self.devices_table
        t.setRowCount(len(listing.rows))
        self.revoke_buttons.clear()
        for i, r in enumerate(listing.rows):
            name = r.name or ("this device" if r.this_device else "(no name yet)")
            items = [QTableWidgetItem(name), QTableWidgetItem(short_id(r.device_id)),
                     QTableWidgetItem(device_state(r, listing.daemon_running))]
            items[1].setToolTip(r.device_id)
            items[1].setFont(_mono())
            for col, item in enumerate(items):
                item.setData(Qt.ItemDataRole.UserRole, r.device_id)
                t.setItem(i, col, item)
            button = QPushButton("Revoked" if r.revoked else "Revoke…")
            if r.this_device:
                button.setEnabled(False)
                button.setToolTip("A device cannot revoke itself: revoke it from another device of the account.")
            elif r.revoked:
                button.setEnabled(False)
                button.setToolTip("Revoked: its changes are refused by every device that learnt it.")
            else:
                button.setToolTip("Stop this device syncing with your devices (it cannot be undone)")
                button.clicked.connect(lambda _c=False, row=r: self.ask_revoke(row))
            self.revoke_buttons[r.device_id] = button
            t.setCellWidget(i, 3, button)
        if listing.relay_error:
            _set(self.devices_status, f"The relay's device list is missing: {listing.relay_error}", ERROR_STYLE)

    def set_peers(self, peers: list[PeerRow]) -> None:
        t = self.peers_table
        t.setRowCount(len(peers))
        self.pause_buttons.clear()
        for i, p in enumerate(peers):
            for col, text in enumerate((p.device, p.path, p.addresses, p.state)):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, p.device_id)
                if col == 0 and p.device_id:
                    item.setToolTip(p.device_id)
                t.setItem(i, col, item)
            if not p.device_id:
                t.removeCellWidget(i, 4)
                continue
            button = QPushButton("Resume" if p.paused else "Pause")
            button.setToolTip("Resume syncing with this device on this network" if p.paused else
                              "Pause syncing with this device on this network: it is disconnected and "
                              "refused until you resume")
            button.clicked.connect(lambda _c=False, row=p: self.toggle_peer(row))
            self.pause_buttons[p.device_id] = button
            t.setCellWidget(i, 4, button)
        t.setVisible(bool(peers))
        self.peers_empty.setVisible(not peers)

    def toggle_peer(self, row: PeerRow) -> None:
        """Pause syncing with a LAN peer, or resume it (the button says which)."""
        try:
            self.roster.set_peer_paused(row.device_id, not row.paused)
        except OSError as e:  # the config file cannot be written
            _set(self.peers_status, f"Could not {'resume' if row.paused else 'pause'} {row.device}: {e}", ERROR_STYLE)
            return
        _set(self.peers_status, "")

    def ask_revoke(self, row: DeviceRow) -> QMessageBox:
        """The confirmation dialog (window-modal, not a nested event loop); Revoke acts."""
        label = f"{row.name} ({short_id(row.device_id)})" if row.name else short_id(row.device_id)
        box = QMessageBox(QMessageBox.Icon.Warning, "Revoke this device?",
                          f"Revoke {label}?", QMessageBox.StandardButton.Cancel, self)
        box.setInformativeText(
            "Your other devices will refuse it from now on, on the LAN and on the relay. Files it already "
            "synced stay. This cannot be undone: to use the device again, link it anew.\n\n"
            f"Device ID: {row.device_id}")
        revoke = box.addButton("Revoke", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.revoke_dialog = box

        def finished(_result: int) -> None:
            self.revoke_dialog = None
            if box.clickedButton() is revoke:
                _set(self.devices_status, f"Revoking {label}…")
                self.roster.revoke(row.device_id)
            box.deleteLater()

        box.finished.connect(finished)
        box.open()
        return box

    def _revoked(self, result: RevokeResult) -> None:
        label = f"{result.name} ({short_id(result.device_id)})" if result.name else short_id(result.device_id)
        text = f"{label} was already revoked." if result.already_revoked else f"Revoked {label}."
        if result.relay == "revoked":
            text += " The relay no longer lets it in."
        elif result.relay_failed:
            _set(self.devices_status, f"{text} But the relay could not be told: {result.relay}", ERROR_STYLE)
            return
        _set(self.devices_status, text, OK_STYLE)
