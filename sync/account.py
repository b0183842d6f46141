"""This device's relay account: signing in, the account keys, and folders' keys on the relay.

* ``login``: password login, register this device's key, and make sure the account has account
  keys — the first device of an account creates them; a later device must be linked to get them
  (``cove link``), because the relay never holds them.
* ``create_remote_folder``: a new random folder key (epoch 0), wrapped to the account's own box
  key and signed by the account key; the signed ``create`` membership change makes the relay
  register the folder with this user as owner.
* ``join_remote_folder``: fetch this user's wrapped keys of a folder and unwrap them, accepting
  only keys wrapped by a trusted signer (for a person's own folders: their own account key).

Keys live in the data directory: ``account.key`` and ``folders/<id>/keyring.json`` (both 0600).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sync.config import Dirs
from sync.errors import CoveError
from sync.identity import DeviceIdentity
from sync.keys import AccountKeys, FolderKeyring, KeyFileError
from sync.relay_client import RelayClient
from sync.wire.envelopes import MembershipChange

ACCOUNT_KEY_FILE = "account.key"


class AccountError(CoveError):
    pass


class NeedsLink(AccountError):
    """The account already has keys that this device does not hold."""


@dataclass(frozen=True)
class LoginResult:
    username: str
    created_keys: bool
    fingerprint: str


def account_key_path(dirs: Dirs) -> Path:
    return dirs.data / ACCOUNT_KEY_FILE


def keyring_path(dirs: Dirs, folder_id: str) -> Path:
    return dirs.data / "folders" / folder_id / "keyring.json"


def load_account_keys(dirs: Dirs) -> AccountKeys | None:
    try:
        return AccountKeys.load(account_key_path(dirs))
    except FileNotFoundError:
        return None
    except KeyFileError as e:
        raise AccountError(str(e)) from e


def load_keyring(dirs: Dirs, folder_id: str) -> FolderKeyring | None:
    try:
        return FolderKeyring.load(keyring_path(dirs, folder_id))
    except FileNotFoundError:
        return None


class AccountService:
    def __init__(self, dirs: Dirs, identity: DeviceIdentity, client: RelayClient, clock: Callable[[], float] = time.time):
        self.dirs = dirs
        self.identity = identity
        self.client = client
        self.clock = clock

    async def login(self, username: str, password: str, device_name: str = "") -> LoginResult:
        await self.client.login(username, password)
        await self.client.register_device(device_name)
        info = await self.client.account()
        local = load_account_keys(self.dirs)
        if info.sign_pk is None or info.box_pk is None:
            keys = local or AccountKeys.generate()
            await self.client.set_account_keys(keys.sign_pk, keys.box_pk)
            keys.save(account_key_path(self.dirs))
            return LoginResult(username, local is None, keys.fingerprint())
        if local is not None and local.sign_pk == info.sign_pk and local.box_pk == info.box_pk:
            return LoginResult(username, False, local.fingerprint())
        raise NeedsLink(
            f"signed in as {username}, but this account's keys live on your other devices. "
            "On one of them run `cove link`, then here `cove link CODE`."
        )

    def account_keys(self) -> AccountKeys:
        keys = load_account_keys(self.dirs)
        if keys is None:
            raise NeedsLink("this device has no account keys yet: sign in (`cove login`) or link it (`cove link CODE`)")
        return keys

    async def create_remote_folder(self, folder_id: str) -> FolderKeyring:
        keys = self.account_keys()
        username = self.client.username or (await self.client.account()).username
        # A LAN-only folder that starts syncing through the relay keeps its key.
        keyring = load_keyring(self.dirs, folder_id) or FolderKeyring.create(folder_id)
        wrapped = keyring.wrap(keyring.epochs[0], keys.box_pk, signer=keys)
        change = MembershipChange.signed(
            keys.signing_key,
            folder=folder_id,
            id=secrets.token_urlsafe(16),
            op="create",
            member=username,
            role="owner",
            signer=username,
            epoch=0,
            issued_at=int(self.clock()),
        )
        await self.client.create_folder(change, wrapped)
        path = keyring_path(self.dirs, folder_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        keyring.save(path)
        return keyring

    async def join_remote_folder(self, folder_id: str, trusted_signers: list[bytes] | None = None) -> FolderKeyring:
        keys = self.account_keys()
        keyring = load_keyring(self.dirs, folder_id) or FolderKeyring(folder_id)
        signers = [keys.sign_pk, *(trusted_signers or [])]
        wrapped = await self.client.get_keys(folder_id)
        if not wrapped:
            raise AccountError(f"the relay holds no key of folder {folder_id} for this account")
        for w in wrapped:
            if w.epoch not in keyring:
                keyring.add_wrapped(w.epoch, w.wrapped_key, keys, trusted_signers=signers)
        path = keyring_path(self.dirs, folder_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        keyring.save(path)
        return keyring
