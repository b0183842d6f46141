"""Devices: this device's ID with a QR code; LAN peers discovered and linked devices (explained when
empty); link and unlink (enabled when the engine can pair devices)."""

from __future__ import annotations

import io

import segno
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.context import Context
from app.pages import empty_note, heading

LINK_DISABLED = ("Linking devices needs device pairing, which this version of Cove does not have. "
                 "Until then each device syncs its own folders.")
NO_PEERS = ("No other Cove devices found on this network. Devices appear here when Cove runs on them "
            "on the same network with LAN sync on.")
NO_LINKED = ("Only this device. Link another device to share your account and folders with it: "
             "open Cove there, choose “Link to an existing device” and enter the code shown here.")


def qr_pixmap(text: str, scale: int = 5) -> QPixmap:
    """A QR code of ``text`` as a pixmap (segno renders PNG bytes; Qt decodes them)."""
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=scale, border=2)
    pm = QPixmap()
    pm.loadFromData(buf.getvalue(), "PNG")
    return pm


def grouped(device_id: str) -> str:
    return device_id if "-" in device_id else " ".join(device_id[i:i + 7] for i in range(0, len(device_id), 7))


class DevicesPage(QWidget):
    def __init__(self, ctx: Context, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        identity = ctx.engine.identity
        self.device_id = identity.device_id
        self.id_label = QLabel(f"<b>This device</b><br><span style='font-family:monospace;font-size:12pt'>"
                               f"{grouped(self.device_id)}</span><br><span style='color:#666'>short ID "
                               f"{identity.short_id}</span>")
        self.id_label.setTextFormat(Qt.TextFormat.RichText)
        self.id_label.setWordWrap(True)
        self.id_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.qr = QLabel()
        self.qr.setPixmap(qr_pixmap(self.device_id))
        self.qr.setToolTip("Scan this on your other device to check it is talking to this one.")
        copy = QPushButton("Copy device ID")
        copy.clicked.connect(lambda: ctx.copy_text(self.device_id))
        mine = QGroupBox("Device ID")
        mv = QVBoxLayout()
        mv.addWidget(self.id_label)
        mv.addWidget(copy, 0, Qt.AlignmentFlag.AlignLeft)
        mv.addStretch()
        mh = QHBoxLayout(mine)
        mh.addLayout(mv, 1)
        mh.addWidget(self.qr)

        self.peers = QListWidget()
        self.peers_empty = empty_note(NO_PEERS)
        self.linked = QListWidget()
        self.linked_empty = empty_note(NO_LINKED)
        self.link_button = QPushButton("Link a device…")
        self.unlink_button = QPushButton("Unlink")
        for b in (self.link_button, self.unlink_button):
            b.setEnabled(False)
            b.setToolTip(LINK_DISABLED)
        lan = QGroupBox("On this network")
        lv = QVBoxLayout(lan)
        lv.addWidget(self.peers_empty)
        lv.addWidget(self.peers)
        linked = QGroupBox("Linked devices")
        kv = QVBoxLayout(linked)
        kv.addWidget(self.linked_empty)
        kv.addWidget(self.linked)
        kb = QHBoxLayout()
        kb.addStretch()
        kb.addWidget(self.unlink_button)
        kb.addWidget(self.link_button)
        kv.addLayout(kb)
        self.link_note = QLabel(LINK_DISABLED)
        self.link_note.setWordWrap(True)
        self.link_note.setStyleSheet("color:#666")
        kv.addWidget(self.link_note)

        layout = QVBoxLayout(self)
        layout.addWidget(heading("Devices"))
        layout.addWidget(mine)
        row = QHBoxLayout()
        row.addWidget(lan)
        row.addWidget(linked)
        layout.addLayout(row, 1)
        self.set_peers([])
        self.set_linked([])

    def set_peers(self, names: list[str]) -> None:
        self.peers.clear()
        self.peers.addItems(names)
        self.peers.setVisible(bool(names))
        self.peers_empty.setVisible(not names)

    def set_linked(self, names: list[str]) -> None:
        self.linked.clear()
        self.linked.addItems(names)
        self.linked.setVisible(bool(names))
        self.linked_empty.setVisible(not names)
