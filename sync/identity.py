"""This device's identity: its Ed25519 key, kept in the data directory, and the IDs derived from it.

The key file holds the 32-byte seed, readable only by the user (0600). The same key will
authenticate the device to peers and to the relay and sign the log entries it writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from sync.wire.ids import device_id_from_public_key, short_id

KEY_FILE = "device.key"


class IdentityError(Exception):
    pass


@dataclass(frozen=True)
class DeviceIdentity:
    signing_key: SigningKey

    @property
    def public_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def device_id(self) -> str:
        return device_id_from_public_key(self.public_key)

    @property
    def short_id(self) -> str:
        return short_id(self.device_id)


def load_or_create_identity(data_dir: Path) -> DeviceIdentity:
    path = data_dir / KEY_FILE
    try:
        seed = path.read_bytes()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        key = SigningKey.generate()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(bytes(key))
            f.flush()
            os.fsync(f.fileno())
        return DeviceIdentity(key)
    if len(seed) != 32:
        raise IdentityError(f"device key {path} is corrupt ({len(seed)} bytes, expected 32)")
    return DeviceIdentity(SigningKey(seed))
