"""The relay account as the wizard and Settings use it: sign in (:meth:`Engine.login`), list the
account's folders on the relay (:meth:`Engine.remote_folders`) and add a folder that syncs through
the relay — a new one or one of those (:meth:`EngineHost.add_relay_folder`).

Every call is a coroutine awaited on the app's asyncio loop (qasync runs it beside the widgets, so
network waits never block the GUI thread); the outcome comes back as Qt signals. The methods
return the task, so tests can wait on it as well as on the signals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.context import SettingsStore
from app.engine_host import EngineHost
from app.settings import SyncMode
from sync.account import NeedsLink, load_account_keys

NEEDS_LINK = ("Signed in, but this account's encryption keys live on your other devices — the relay never "
              "holds them, so this device cannot read your folders yet. Link this device from one that is "
              "set up: on that device open Devices → Link a new device, and here enter its code under "
              "Devices → Join with a code (with this relay and your password).")


@dataclass(frozen=True)
class RemoteFolder:
    """A folder of this account on the relay (its name and files are encrypted: the ID is all the
    relay knows), and where it syncs on this device, if it does."""

    id: str
    role: str
    changes: int
    local_path: Path | None = None

    @property
    def title(self) -> str:
        where = f" — synced at {self.local_path}" if self.local_path else ""
        return f"{self.id} ({self.role}, {self.changes:,} changes){where}"


def describe_error(e: BaseException) -> str:
    text = str(e) or e.__class__.__name__
    if isinstance(e, (OSError, asyncio.TimeoutError)) and "relay" not in text.lower():
        return f"Cannot reach the relay: {text}"
    return text


class RelayAccount(QObject):
    busy_changed = Signal(bool)
    signed_in = Signal(object)  # sync.account.LoginResult
    needs_link = Signal(str)  # what to do (NEEDS_LINK)
    failed = Signal(str)  # why a call failed, for a person
    remote_folders = Signal(list)  # list[RemoteFolder]
    folder_added = Signal(object)  # sync.config.FolderConfig

    def __init__(self, host: EngineHost, settings: SettingsStore, parent: QObject | None = None):
        super().__init__(parent)
        self.host = host
        self.settings = settings
        self._tasks: set[asyncio.Task] = set()
        self.fingerprint = ""
        self.linked = False  # this device holds the account keys
        self.last_error = ""
        self.failed.connect(lambda m: setattr(self, "last_error", m))

    @property
    def engine(self):
        return self.host.engine

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def current(self) -> tuple[str, str, str]:
        """(relay url, username, account key fingerprint or "") as the engine has them now."""
        relay = self.engine.config.relay
        try:
            keys = load_account_keys(self.engine.dirs)
        except Exception:  # noqa: BLE001 - an unreadable key file shows as "no keys"
            keys = None
        return (relay.url if relay else "", relay.username if relay else "", keys.fingerprint() if keys else "")

    def _run(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        was_idle = not self._tasks
        self._tasks.add(task)
        if was_idle:
            self.busy_changed.emit(True)

        def finished(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if not self._tasks:
                self.busy_changed.emit(False)

        task.add_done_callback(finished)
        return task

    # -- sign in -------------------------------------------------------------------------------

    def sign_in(self, url: str, username: str, password: str) -> asyncio.Task:
        return self._run(self._sign_in(url.strip().rstrip("/"), username.strip(), password))

    async def _sign_in(self, url: str, username: str, password: str) -> Any:
        try:
            result = await self.engine.login(url, username, password)
        except NeedsLink:
            self.linked = False
            self.settings.update(sync_mode=SyncMode.RELAY, relay_url=url, relay_account=username)
            self.needs_link.emit(NEEDS_LINK)
            return None
        except Exception as e:  # noqa: BLE001 - shown to the person
            self.failed.emit(describe_error(e))
            return None
        self.linked = True
        self.fingerprint = result.fingerprint
        self.settings.update(sync_mode=SyncMode.RELAY, relay_url=url, relay_account=username)
        self.signed_in.emit(result)
        return result

    # -- folders on the relay ------------------------------------------------------------------

    def load_folders(self) -> asyncio.Task:
        return self._run(self._load_folders())

    async def _load_folders(self) -> list[RemoteFolder] | None:
        try:
            infos = await self.engine.remote_folders()
        except Exception as e:  # noqa: BLE001
            self.failed.emit(describe_error(e))
            return None
        local = {f.id: f.path for f in self.engine.folders() if f.relay}
        out = [RemoteFolder(i.folder, i.role, i.last_rseq, local.get(i.folder)) for i in infos]
        self.remote_folders.emit(out)
        return out

    def add_folder(self, path: Path, folder_id: str | None = None) -> asyncio.Task:
        """Sync ``path`` through the relay: as a new relay folder, or as ``folder_id`` (join)."""
        return self._run(self._add_folder(path, folder_id))

    async def _add_folder(self, path: Path, folder_id: str | None) -> Any:
        try:
            folder = await self.host.add_relay_folder(path, folder_id)
        except NeedsLink:
            self.needs_link.emit(NEEDS_LINK)
            return None
        except Exception as e:  # noqa: BLE001
            self.failed.emit(describe_error(e))
            return None
        self.folder_added.emit(folder)
        return folder
