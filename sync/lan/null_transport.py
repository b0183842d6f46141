"""A ``RelayTransport`` for folders without a relay (LAN-only, the embedded default).

The syncer's publish half seals entries into the local log exactly as with a relay (the entry is
stored with its head before it is "appended"); here the append only tells the LAN service that
this device's log grew, so connected peers are notified and pull it. There are no blocks to upload
(peers read them from our files) and nothing to fetch (peers' entries arrive through
``Syncer.ingest``). The device list the syncer verifies signatures against is the directory of
device certificates verified on the LAN, with the account's revocations (revoked devices are
listed with ``revoked=True``, so the syncer refuses their entries).

:class:`NotifyingTransport` wraps a real relay transport the same way, so LAN peers of a relay
folder hear about local changes at once even while the relay is unreachable. Its device list
merges the relay's (authoritative for the account: it knows revocations) with the directory's; a
device either of them revoked is revoked, and the relay's revoked devices are handed to the
directory so the LAN refuses them too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sync.errors import CoveError
from sync.lan.certs import DeviceDirectory
from sync.relay_client import (
    AppendResult,
    DeviceInfo,
    FetchPage,
    FolderHeads,
    Head,
    NotFound,
)
from sync.wire.envelopes import LogEntry

OnAppend = Callable[[str, LogEntry], None]


class NullTransport:
    """Local-only semantics; see the module docstring."""

    def __init__(self, directory: DeviceDirectory, on_append: OnAppend | None = None, index_heads: Callable[[str], dict] | None = None):
        self.directory = directory
        self.on_append = on_append
        self.index_heads = index_heads

    async def missing_blocks(self, folder: str, block_ids: Sequence[str]) -> set[str]:
        return set()

    async def put_blocks(self, folder: str, blocks: Sequence[tuple[str, bytes]]) -> None:
        return None

    async def get_block(self, folder: str, block_id: str) -> bytes:
        raise NotFound("no relay: blocks come from LAN peers only", status=404, code="block_not_found")

    async def append(self, folder: str, entry: LogEntry) -> AppendResult:
        if self.on_append is not None:
            self.on_append(folder, entry)
        return AppendResult(0, entry.entry_hash(), True)

    async def fetch(self, folder: str, after: int, limit: int = 1000) -> FetchPage:
        return FetchPage([], after, False, after)

    async def heads(self, folder: str) -> FolderHeads:
        heads = self.index_heads(folder) if self.index_heads else {}
        return FolderHeads({d: Head(s, h) for d, (s, h) in heads.items()}, 0)

    async def save_cursor(self, folder: str, rseq: int) -> None:
        return None

    async def get_cursor(self, folder: str) -> int:
        return 0

    async def devices(self) -> list[DeviceInfo]:
        return self.directory.devices()


class NotifyingTransport:
    """Wraps a relay transport: local appends notify the LAN first, then go to the relay; the
    device list is the relay's plus the LAN directory's."""

    def __init__(self, inner: Any, on_append: OnAppend, directory: DeviceDirectory | None = None):
        self.inner = inner
        self.on_append = on_append
        self.directory = directory

    async def append(self, folder: str, entry: LogEntry) -> AppendResult:
        self.on_append(folder, entry)
        return await self.inner.append(folder, entry)

    async def devices(self) -> list[DeviceInfo]:
        return merge_devices(self.directory, await self._relay_devices())

    async def _relay_devices(self) -> list[DeviceInfo] | None:
        try:
            return list(await self.inner.devices())
        except CoveError:
            if self.directory is None or not self.directory.devices():
                raise
            return None  # the relay is unreachable: the directory fills in

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def merge_devices(directory: DeviceDirectory | None, relay: list[DeviceInfo] | None) -> list[DeviceInfo]:
    """The relay's device list over the directory's; revoked when either says so. The relay's
    revoked devices are noted in the directory (the LAN service then refuses them)."""
    out = {d.device_id: d for d in (directory.devices() if directory else [])}
    for d in relay or []:
        known = out.get(d.device_id)
        out[d.device_id] = replace(d, revoked=True) if known is not None and known.revoked else d
    if directory is not None and relay:
        directory.note_relay_revoked(relay)
    return list(out.values())
