"""Setting up devices for LAN-only sync without a relay in one step, for the tests and the
benchmark: the account key and a folder key written straight into a device's home.

People link a second device over the LAN with ``cove link`` / ``cove link CODE``
(:mod:`sync.lan.linking`, :mod:`sync.lan.pairing`), which moves the same keys sealed under a
pairing code; this shortcut skips the code and the network.
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
