"""The first-run wizard: choose a folder (default ~/Cove), LAN-only or a relay, link to an existing
device. It only collects and validates; :class:`app.application.CoveApp` acts on :attr:`choice`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from app.icons import icon
from app.pages.devices import LINK_DISABLED
from app.settings import SyncMode, validate_relay_url


@dataclass(frozen=True)
class WizardChoice:
    folder: Path
    sync_mode: str
    relay_url: str = ""
    relay_account: str = ""


def default_folder() -> Path:
    return Path.home() / "Cove"


def check_folder(text: str) -> str | None:
    """None if ``text`` names a usable folder (existing directory, or creatable), else why not."""
    if not text.strip():
        return "Choose a folder."
    p = Path(text.strip()).expanduser()
    if p.exists() and not p.is_dir():
        return f"{p} is a file, not a folder."
    parent = p if p.exists() else p.parent
    if not parent.is_dir():
        return f"{parent} does not exist."
    return None


class FolderPage(QWizardPage):
    def __init__(self, default: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setTitle("Choose a folder to sync")
        self.setSubTitle("Everything in this folder stays identical on all your devices, end-to-end encrypted.")
        self.path = QLineEdit(str(default))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.error = QLabel()
        self.error.setStyleSheet("color:#b00")
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        v = QVBoxLayout(self)
        v.addLayout(row)
        v.addWidget(QLabel("If the folder does not exist, Cove creates it. Files already in it are kept."))
        v.addWidget(self.error)
        v.addStretch()
        self.path.textChanged.connect(lambda _t: self.completeChanged.emit())

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Choose a folder", str(Path.home()))
        if chosen:
            self.path.setText(chosen)

    def isComplete(self) -> bool:
        return bool(self.path.text().strip())

    def validatePage(self) -> bool:
        problem = check_folder(self.path.text())
        self.error.setText(problem or "")
        return problem is None


class ModePage(QWizardPage):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setTitle("How should your devices reach each other?")
        self.lan = QRadioButton("On this network only (LAN)")
        self.relay = QRadioButton("Through a relay server, from anywhere")
        self.lan.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.lan)
        group.addButton(self.relay)
        lan_note = QLabel("Devices find each other on the same network and sync directly. Nothing leaves "
                          "your network.")
        relay_note = QLabel("A relay holds only encrypted data and passes changes on when your devices "
                            "are not on the same network. Use your own or one you trust.")
        for n in (lan_note, relay_note):
            n.setWordWrap(True)
            n.setStyleSheet("color:#666; margin-left:22px")
        self.url = QLineEdit(placeholderText="https://relay.example.org")
        self.account = QLineEdit(placeholderText="you@example.org")
        self.error = QLabel()
        self.error.setStyleSheet("color:#b00")
        self.error.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Relay address", self.url)
        form.addRow("Account", self.account)
        v = QVBoxLayout(self)
        v.addWidget(self.lan)
        v.addWidget(lan_note)
        v.addWidget(self.relay)
        v.addWidget(relay_note)
        v.addLayout(form)
        v.addWidget(self.error)
        v.addStretch()
        self.relay.toggled.connect(self._toggle)
        self._toggle(False)

    def _toggle(self, relay: bool) -> None:
        self.url.setEnabled(relay)
        self.account.setEnabled(relay)
        self.error.setText("")

    def validatePage(self) -> bool:
        if self.lan.isChecked():
            return True
        problem = validate_relay_url(self.url.text())
        self.error.setText(problem or "")
        return problem is None


class LinkPage(QWizardPage):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setTitle("Link to an existing device")
        self.setSubTitle("Already use Cove on another device? Link this one to share your account and folders.")
        self.code = QLineEdit(placeholderText="pairing code shown on your other device")
        self.code.setEnabled(False)
        note = QLabel(LINK_DISABLED + " Click Finish to start syncing this device's folder.")
        note.setWordWrap(True)
        note.setStyleSheet("color:#666")
        v = QVBoxLayout(self)
        v.addWidget(self.code)
        v.addWidget(note)
        v.addStretch()


class FirstRunWizard(QWizard):
    def __init__(self, default: Path | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Welcome to Cove")
        self.setWindowIcon(icon("cove"))
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.folder_page = FolderPage(default or default_folder())
        self.mode_page = ModePage()
        self.link_page = LinkPage()
        for p in (self.folder_page, self.mode_page, self.link_page):
            self.addPage(p)
        self.resize(620, 440)

    @property
    def choice(self) -> WizardChoice:
        relay = self.mode_page.relay.isChecked()
        return WizardChoice(
            folder=Path(self.folder_page.path.text().strip()).expanduser(),
            sync_mode=SyncMode.RELAY if relay else SyncMode.LAN,
            relay_url=self.mode_page.url.text().strip() if relay else "",
            relay_account=self.mode_page.account.text().strip() if relay else "",
        )
