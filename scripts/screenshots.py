#!/usr/bin/env python3
"""Render the real Cove windows offscreen with sample data into docs/screenshots/*.png.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [OUT_DIR]

Builds a throwaway home (config, data, a synced folder with files, kept versions, a conflict copy
and an error), starts the real app on it (engine embedded, no tray), and grabs each page with
``QWidget.grab()``. Nothing outside the temp directory and OUT_DIR is touched.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("COVE_LAN_INTERFACES", "127.0.0.1")  # LAN discovery on loopback only
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qasync
from nacl.signing import SigningKey
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QApplication, QWidget

from app.account import RemoteFolder
from app.application import CoveApp
from app.linking import Offer, Via
from app.main_window import Page
from app.wizard import FirstRunWizard
from sync.account import LoginResult, load_account_keys
from sync.config import Dirs
from sync.engine import Engine
from sync.history import ArchiveReason, Keep
from sync.keys import link_qr_payload, new_code
from sync.lan.certs import DeviceCertificate, DeviceDirectory

NOTES_V1 = "Groceries\n- apples\n- bread\n- coffee\n"
NOTES_V2 = "Groceries\n- apples\n- sourdough bread\n- coffee\n- oat milk\n"


def png(path: Path, color: str, w: int = 320, h: int = 200, label: str = "") -> None:
    img = QImage(w, h, QImage.Format.Format_RGB32)
    img.fill(QColor(color))
    p = QPainter(img)
    p.setPen(QColor("white"))
    f = p.font()
    f.setPointSize(22)
    p.setFont(f)
    p.drawText(img.rect(), 0x84, label)  # AlignCenter
    p.end()
    img.save(str(path))


def sample_home(base: Path) -> tuple[Dirs, Path]:
    dirs = Dirs.under(base / "home")
    root = base / "Cove"
    root.mkdir()
    (root / "Photos").mkdir()
    (root / "Projects" / "cove-site").mkdir(parents=True)
    (root / "Documents").mkdir()
    (root / "notes.txt").write_text(NOTES_V1)
    (root / "Documents" / "budget-2026.csv").write_text("month,rent,food\njan,900,310\nfeb,900,295\n")
    (root / "Documents" / "letter.md").write_text("Dear Sam,\n\nThanks for the photos!\n")
    for i, color in enumerate(["#2f8fd8", "#e07b1a", "#2e9e55"]):
        png(root / "Photos" / f"beach-{i + 1}.png", color, label=f"beach {i + 1}")
    (root / "Projects" / "cove-site" / "index.html").write_text("<h1>Cove</h1>\n")
    (root / "Projects" / "cove-site" / "style.css").write_text("body { font: 16px sans-serif }\n")
    (root / ".coveignore").write_text("*.tmp\nnode_modules/\n")
    (root / "draft.tmp").write_text("scratch")
    with Engine.create(dirs) as engine:
        folder = engine.add_folder(root, label="Cove")
        engine.scan(folder.id)
        runner = engine.runner(folder.id)
        runner.history.archive(runner.index.get("notes.txt"), ArchiveReason.REPLACED, Keep.COPY)
        time.sleep(0.01)
        (root / "notes.txt").write_text(NOTES_V2)
        engine.scan(folder.id)
        # A conflict copy as the engine names them, with this device's version of the list.
        me = engine.identity.short_id
        (root / f"notes (conflict from {me} 2026-11-03 0912).txt").write_text(
            "Groceries\n- apples\n- rye bread\n- coffee\n- tea\n")
        png(root / "Photos" / f"beach-2 (conflict from {me} 2026-11-03 0915).png", "#d64541", label="beach 2*")
        engine.scan(folder.id)
        runner.index.record_errors([("Documents/locked.pdf", "permission_denied",
                                     "cannot read its contents: Permission denied")])
    # a second device of the account, known from an earlier LAN session (for the Devices page)
    account = load_account_keys(dirs)
    directory = DeviceDirectory(account.sign_pk, dirs.data / "lan" / "devices.json")
    directory.add(DeviceCertificate.issue(account.signing_key, bytes(SigningKey.generate().verify_key), "local"))
    return dirs, root


def wait(app: QApplication, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        app.processEvents()
        time.sleep(0.005)


def grab(widget: QWidget, path: Path) -> None:
    widget.grab().save(str(path))
    print(f"wrote {path}")


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    qapp.setStyle("Fusion")
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as tmp:
        dirs, _root = sample_home(Path(tmp))
        app = CoveApp(dirs, tray=False, autostart_dir=Path(tmp) / "autostart", open_url=lambda u: True,
                      poll_ms=300)
        w = app.window
        w.resize(1100, 700)
        app.start()
        wait(qapp, lambda: app.host.running and bool(app.host.infos) and app.host.infos[0].counts is not None)
        wait(qapp, lambda: app.jobs.idle)
        grab(w, out / "folders.png")

        w.show_files(app.host.infos[0].id)
        wait(qapp, lambda: w.files.model.rowCount() > 0)
        for name in ("Documents", "Photos"):
            idx = w.files.model.index_for_path(name)
            w.files.view.expand(idx)
            wait(qapp, lambda idx=idx: w.files.model.rowCount(idx) > 0)
        wait(qapp, lambda: app.jobs.idle)
        grab(w, out / "files.png")

        w.show_page(Page.ACTIVITY)
        w.activity.reload()
        wait(qapp, lambda: w.activity.model.rowCount() > 0 and app.jobs.idle)
        w.activity.view.selectRow(0)
        wait(qapp, lambda: app.jobs.idle)
        grab(w, out / "activity.png")

        w.show_history(app.host.infos[0].id, "notes.txt")
        wait(qapp, lambda: w.history.versions.rowCount() > 0 and app.jobs.idle)
        qapp.processEvents()
        grab(w, out / "history.png")
        w.history.tabs.setCurrentIndex(1)
        w.history.show_past(time.time_ns() - 10**9 * 0)
        wait(qapp, lambda: w.history.past.rowCount() > 0 and app.jobs.idle)
        w.history.past.set_all_checked(True)
        grab(w, out / "history-folder-at-time.png")

        w.show_page(Page.CONFLICTS)
        w.conflicts.reload()
        wait(qapp, lambda: w.conflicts.model.rowCount() >= 2 and app.jobs.idle)
        row = next(i for i, c in enumerate(w.conflicts.model.rows) if c.path == "notes.txt")
        w.conflicts.view.selectRow(row)
        wait(qapp, lambda: app.jobs.idle)
        qapp.processEvents()
        grab(w, out / "conflicts.png")

        w.show_page(Page.DEVICES)
        devices = w.devices
        wait(qapp, lambda: devices.devices_table.rowCount() == 2)
        # what the page shows while a LAN pairing code is offered (tests/app/test_devices.py links for real)
        code = new_code().text
        offer = Offer(code, link_qr_payload(code, ""), load_account_keys(dirs).fingerprint(), Via.LAN, 600.0,
                      time.monotonic() + 582.4, folders=("Cove",))
        devices.linking.offer = offer
        devices._offered(offer)
        devices.offer_button.setEnabled(False)
        devices.join_code.setText("cove://link?code=…")
        qapp.processEvents()
        grab(w, out / "devices.png")
        devices._tick.stop()
        devices.linking.offer = None
        w.show_page(Page.SETTINGS)
        wait(qapp, lambda: app.jobs.idle and bool(w.settings.ignore_edit.toPlainText()))
        grab(w, out / "settings.png")

        wizard = FirstRunWizard(Path.home() / "Cove")
        wizard.show()
        qapp.processEvents()
        grab(wizard, out / "wizard.png")
        wizard.next()
        wizard.mode_page.relay.setChecked(True)
        wizard.mode_page.url.setText("https://relay.example.org")
        qapp.processEvents()
        grab(wizard, out / "wizard-relay.png")
        wizard.next()
        # what the page shows after a real sign-in (tests/app/test_relay.py does it against a relay)
        page = wizard.sign_in_page
        page.account.setText("alice")
        page._signed_in(LoginResult("alice", False, "XDA7 B4NC HJTG 04PQ SCMF 5C3G KYYZ 51DT"))
        page._remote_folders([RemoteFolder("f3k2q9x7ma0c4t1vz8rw", "owner", 1284),
                              RemoteFolder("p8d1m4c6wq2e9s7j5n0b", "owner", 37)])
        qapp.processEvents()
        grab(wizard, out / "wizard-sign-in.png")
        wizard.close()

        done = []
        app.quit_done.connect(lambda: done.append(True))
        app.request_quit()
        wait(qapp, lambda: bool(done))
    asyncio.events._set_running_loop(None)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "docs" / "screenshots"))
