"""The first-run wizard: choose a folder (default ~/Cove), LAN-only or a relay; for a relay, sign in
(for real, through :class:`app.account.RelayAccount`: the account key fingerprint is shown, or what
to do when the keys live on another device) and choose a new relay folder or one already on the
relay; link to an existing device (a pairing code: the app then links on the Devices page and offers
the other device's folders there, instead of starting a new folder). Adding the folder or linking is
left to :class:`app.application.CoveApp`, which acts on :attr:`FirstRunWizard.choice`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
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

from app.account import RelayAccount, RemoteFolder
from app.icons import icon
from app.settings import SyncMode, validate_relay_url


@dataclass(frozen=True)
class WizardChoice:
    folder: Path
    sync_mode: str
    relay_url: str = ""
    relay_account: str = ""
    signed_in: bool = False  # the relay sign-in succeeded and this device holds the account keys
    relay_folder_id: str | None = None  # join this folder on the relay (None: a new relay folder)
    link_code: str = ""  # link to an existing device with this pairing code instead of adding the folder


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
        self.error = QLabel()
        self.error.setStyleSheet("color:#b00")
        self.error.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Relay address", self.url)
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
        self.error.setText("")

    def validatePage(self) -> bool:
        if self.lan.isChecked():
            return True
        problem = validate_relay_url(self.url.text())
        self.error.setText(problem or "")
        return problem is None

    def nextId(self) -> int:
        return PageId.SIGN_IN if self.relay.isChecked() else PageId.LINK


class SignInPage(QWizardPage):
    """Sign in to the relay; then a new relay folder or one of the account's folders on it."""

    def __init__(self, relay: RelayAccount | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.relay = relay
        self.setTitle("Sign in to your relay")
        self.setSubTitle("The relay checks your password; it never sees your files, their names or your "
                         "encryption keys.")
        self.url = QLabel()
        self.account = QLineEdit(placeholderText="your user name on the relay")
        self.password = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.sign_in_button = QPushButton("Sign in")
        self.sign_in_button.clicked.connect(self.sign_in)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.new_folder = QRadioButton("Start a new relay folder with this folder's files")
        self.join_folder = QRadioButton("Sync a folder already on the relay into this folder:")
        self.new_folder.setChecked(True)
        self.remote = QComboBox()
        self.remote.setEnabled(False)
        self.join_folder.toggled.connect(self.remote.setEnabled)
        form = QFormLayout()
        form.addRow("Relay", self.url)
        form.addRow("Account", self.account)
        form.addRow("Password", self.password)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.sign_in_button)
        v = QVBoxLayout(self)
        v.addLayout(form)
        v.addLayout(row)
        v.addWidget(self.new_folder)
        v.addWidget(self.join_folder)
        v.addWidget(self.remote)
        v.addStretch()
        self.signed_in = False
        self._show_folder_choice(False)
        if relay is not None:
            relay.signed_in.connect(self._signed_in)
            relay.needs_link.connect(self._needs_link)
            relay.failed.connect(self._failed)
            relay.remote_folders.connect(self._remote_folders)
            relay.busy_changed.connect(lambda busy: self.sign_in_button.setEnabled(not busy))

    def initializePage(self) -> None:
        self.url.setText(self.field_url())

    def field_url(self) -> str:
        wizard = self.wizard()
        return wizard.mode_page.url.text().strip() if isinstance(wizard, FirstRunWizard) else ""

    def _show_folder_choice(self, shown: bool) -> None:
        for w in (self.new_folder, self.join_folder, self.remote):
            w.setVisible(shown)

    def sign_in(self) -> None:
        if self.relay is None:
            return
        if not self.account.text().strip() or not self.password.text():
            self.status.setText("<span style='color:#b00'>Enter your user name and password.</span>")
            return
        self.signed_in = False
        self.completeChanged.emit()
        self.status.setText("Signing in…")
        self.relay.sign_in(self.field_url(), self.account.text(), self.password.text())

    def _signed_in(self, result) -> None:
        self.signed_in = True
        self.password.clear()
        created = " (new keys made on this device)" if result.created_keys else ""
        self.status.setText(f"Signed in as <b>{result.username}</b>{created}. Account key fingerprint:<br>"
                            f"<code>{result.fingerprint}</code><br><span style='color:#666'>Check that "
                            "your other devices show the same.</span>")
        self._show_folder_choice(True)
        self.completeChanged.emit()
        if self.relay is not None:
            self.relay.load_folders()

    def _needs_link(self, message: str) -> None:
        self.signed_in = False
        self.status.setText(f"<span style='color:#a60'>{message}</span>")
        self._show_folder_choice(False)
        self.completeChanged.emit()

    def _failed(self, message: str) -> None:
        if self.isVisible() or not self.signed_in:
            self.status.setText(f"<span style='color:#b00'>{message}</span>")

    def _remote_folders(self, folders: list[RemoteFolder]) -> None:
        self.remote.clear()
        for f in folders:
            self.remote.addItem(f.title, f.id)
        self.join_folder.setEnabled(bool(folders))
        if not folders:
            self.new_folder.setChecked(True)

    def isComplete(self) -> bool:
        return self.signed_in

    def folder_id(self) -> str | None:
        return self.remote.currentData() if self.join_folder.isChecked() and self.remote.count() else None

    def nextId(self) -> int:
        return PageId.LINK


class LinkPage(QWizardPage):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setTitle("Link to an existing device")
        self.setSubTitle("Already use Cove on another device? Link this one to share your account and folders.")
        self.code = QLineEdit(placeholderText="pairing code shown on your other device (optional)")
        note = QLabel("On your other device open Devices → Link a new device and enter the code it shows here. "
                      "Cove then links this device and lists that device's folders for you to add. Leave it "
                      "empty to start syncing the folder you chose as a new Cove folder.")
        note.setWordWrap(True)
        note.setStyleSheet("color:#666")
        v = QVBoxLayout(self)
        v.addWidget(self.code)
        v.addWidget(note)
        v.addStretch()


class PageId:
    FOLDER, MODE, SIGN_IN, LINK = range(4)


class FirstRunWizard(QWizard):
    def __init__(self, default: Path | None = None, relay: RelayAccount | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Welcome to Cove")
        self.setWindowIcon(icon("cove"))
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.folder_page = FolderPage(default or default_folder())
        self.mode_page = ModePage()
        self.sign_in_page = SignInPage(relay)
        self.link_page = LinkPage()
        for page_id, p in zip((PageId.FOLDER, PageId.MODE, PageId.SIGN_IN, PageId.LINK),
                              (self.folder_page, self.mode_page, self.sign_in_page, self.link_page)):
            self.setPage(page_id, p)
        self.resize(620, 440)

    @property
    def choice(self) -> WizardChoice:
        relay = self.mode_page.relay.isChecked()
        return WizardChoice(
            folder=Path(self.folder_page.path.text().strip()).expanduser(),
            sync_mode=SyncMode.RELAY if relay else SyncMode.LAN,
            relay_url=self.mode_page.url.text().strip() if relay else "",
            relay_account=self.sign_in_page.account.text().strip() if relay else "",
            signed_in=relay and self.sign_in_page.signed_in,
            relay_folder_id=self.sign_in_page.folder_id() if relay else None,
            link_code=self.link_page.code.text().strip(),
        )
