"""Several devices syncing one folder through a transport, wired exactly as the engine wires them
(FolderRunner.open + attach_transport), with real folders, real indexes and real files."""

from __future__ import annotations

import os
import time
from pathlib import Path

from nacl.signing import SigningKey

from sync.config import Dirs, FolderConfig, write_marker
from sync.folder import FolderRunner
from sync.identity import DeviceIdentity
from sync.keys import FolderKeyring
from sync.transport_memory import MemoryRelay

FOLDER_ID = "testfolder0000000001"


class Device:
    def __init__(self, base: Path, name: str, relay: MemoryRelay, keyring: FolderKeyring, clock=None):
        self.name = name
        self.identity = DeviceIdentity(SigningKey.generate())
        self.root = base / name / "root"
        self.root.mkdir(parents=True)
        write_marker(self.root, FOLDER_ID)
        dirs = Dirs.under(base / name / "home")
        folder = FolderConfig(id=FOLDER_ID, path=self.root, label=name)
        self.runner = FolderRunner.open(folder, dirs, self.identity.short_id, clock or time.time_ns)
        relay.add_device(self.identity, name=name)
        self.transport = relay.transport_for(self.identity)
        self.syncer = self.runner.attach_transport(self.transport, keyring, self.identity, name)

    async def sync(self):
        """Scan local changes, then publish and apply remote ones."""
        await self.runner.scan_async()
        return await self.runner.sync_async()

    def files(self) -> dict[str, bytes | str]:
        return tree(self.root)

    def close(self) -> None:
        self.runner.close()


def tree(root: Path) -> dict[str, bytes | str]:
    """Everything in a folder but .cove/ (files' bytes, symlinks' targets, directories as 'dir')."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".cove" or rel_dir.startswith(".cove" + os.sep):
            dirnames[:] = []
            continue
        for d in list(dirnames):
            full = os.path.join(dirpath, d)
            rel = os.path.normpath(os.path.join(rel_dir, d))
            if rel == ".cove":
                continue
            if os.path.islink(full):
                out[rel] = "link:" + os.readlink(full)
                dirnames.remove(d)
            else:
                out[rel] = "dir"
        for f in filenames:
            full = os.path.join(dirpath, f)
            rel = os.path.normpath(os.path.join(rel_dir, f))
            out[rel] = ("link:" + os.readlink(full)) if os.path.islink(full) else Path(full).read_bytes()
    return out


def make_devices(base: Path, names: list[str]) -> tuple[MemoryRelay, list[Device]]:
    relay = MemoryRelay()
    keyring = FolderKeyring.create(FOLDER_ID)
    devices = [Device(base, n, relay, keyring) for n in names]
    relay.create_folder(FOLDER_ID)
    return relay, devices
