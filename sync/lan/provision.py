"""Setting up devices for LAN-only sync without a relay (tests, the benchmark, and the basis of
a future "link over LAN" flow): the account key and a folder key written into a device's home.

Linking a second device over the LAN (moving the account key to it) is not built yet; today the
keys get there by device linking through a relay, or by this function.
"""

from __future__ import annotations

from pathlib import Path

from sync.account import account_key_path, keyring_path
from sync.config import Dirs
from sync.engine import Engine
from sync.keys import AccountKeys, FolderKeyring


def provision_home(
    home: Path, root: Path, folder_id: str, account: AccountKeys, keyring: FolderKeyring, device_name: str = ""
) -> Dirs:
    """A device home whose config has one LAN-only folder at ``root``, holding the account key
    and the folder's keyring."""
    dirs = Dirs.under(home)
    # Keys first: adding a LAN-only folder would otherwise make this device a new account.
    path = account_key_path(dirs)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        account.save(path)
    kp = keyring_path(dirs, folder_id)
    kp.parent.mkdir(parents=True, exist_ok=True)
    if not kp.exists():
        keyring.save(kp)
    with Engine.create(dirs) as engine:
        engine.add_folder(root, label=device_name or root.name, folder_id=folder_id)
    return dirs
