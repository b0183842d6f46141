"""In-process LAN devices: real folders, indexes, runners and LanServices on 127.0.0.1, wired as
:mod:`sync.lan.glue` wires them (NullTransport, no relay), connected directly (no discovery)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from nacl.signing import SigningKey

from sync.config import Dirs, FolderConfig, write_marker
from sync.folder import FolderRunner
from sync.identity import DeviceIdentity
from sync.keys import AccountKeys, FolderKeyring
from sync.lan.certs import DeviceCertificate, DeviceDirectory
from sync.lan.null_transport import NullTransport
from sync.lan.service import LanService
from tests.engine.sync_harness import tree

FOLDER_ID = "lanfolder00000000001"


class LanDevice:
    def __init__(self, base: Path, name: str, account: AccountKeys, keyring: FolderKeyring, *,
                 cert_key: SigningKey | None = None, folder_id: str = FOLDER_ID):
        self.name = name
        self.account_key = account.signing_key
        self.identity = DeviceIdentity(SigningKey.generate())
        self.root = base / name / "root"
        self.root.mkdir(parents=True)
        write_marker(self.root, folder_id)
        dirs = Dirs.under(base / name / "home")
        folder = FolderConfig(id=folder_id, path=self.root, label=name)
        self.runner = FolderRunner.open(folder, dirs, self.identity.short_id, time.time_ns)
        self.directory = DeviceDirectory(account.sign_pk, dirs.data / "lan" / "devices.json")
        cert = DeviceCertificate.issue(cert_key or account.signing_key, self.identity.public_key, "alice")
        self.lan = LanService(self.identity, account.sign_pk, cert, self.directory, report=self.log.append)
        self.transport = NullTransport(self.directory, self.lan.on_append)
        self.syncer = self.runner.attach_transport(self.transport, keyring, self.identity, name)
        self.lan.add_folder(self.runner)

    log: list[str]

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj.log = []
        return obj

    async def start(self) -> int:
        return await self.lan.start(host="127.0.0.1")

    async def publish(self) -> None:
        """Scan, then publish (which notifies peers)."""
        await self.runner.scan_async()
        await self.runner.sync_async()

    def files(self) -> dict[str, bytes | str]:
        return tree(self.root)

    async def close(self) -> None:
        await self.lan.stop()
        self.runner.close()


async def wait_for(cond: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Wait until ``cond()`` holds, re-checking whenever asyncio runs other work; fail at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def make_lan_devices(base: Path, names: list[str], connect: bool = True) -> list[LanDevice]:
    account = AccountKeys.generate()
    keyring = FolderKeyring.create(FOLDER_ID)
    devices = [LanDevice(base, n, account, keyring) for n in names]
    for d in devices:
        await d.start()
    if connect:
        for i, a in enumerate(devices):
            for b in devices[i + 1 :]:
                await a.lan.connect("127.0.0.1", b.lan.port, expected=b.identity.device_id)
    return devices


def connected(a: LanDevice, b: LanDevice) -> bool:
    p = a.lan.peers.get(b.identity.device_id)
    return p is not None and p.session is not None and FOLDER_ID in p.session.shared
