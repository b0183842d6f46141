"""Device certificates: proof that a device key belongs to an account, and the directory of the
devices this device has verified.

A certificate is the account's Ed25519 signing key's signature over
``{"device_pk": b64, "issued_at": unix_s, "username": str}`` (domain tag ``cove.device-cert.v1``,
canonical JSON as :mod:`sync.wire.canonical`). Every device of an account holds the account key
(device linking), so each device issues its own certificate at start. A peer is a member of our
account on the LAN exactly when its certificate verifies against the account ``sign_pk`` we hold
and names the key that signed the handshake.

:class:`Membership` is the seam that decides which folders a verified peer may see; today it is
"every folder of the account" (same account), later (sharing, issue 7) a folder's signed member
list can be consulted through the same call.

:class:`DeviceDirectory` keeps verified certificates (``<data>/lan/devices.json``), so entries of
a device that is not connected right now (carried by another peer) can still be verified; the
LAN-only transport serves it as the device list the syncer checks signatures against.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from sync.relay_client import DeviceInfo
from sync.wire.canonical import CanonicalError, b64decode, b64encode, signing_bytes
from sync.wire.ids import device_id_from_public_key

CERT_TAG = "cove.device-cert.v1"
MAX_USERNAME = 64


class CertificateError(ValueError):
    pass


@dataclass(frozen=True)
class DeviceCertificate:
    device_pk: bytes
    username: str
    issued_at: int
    signature: bytes

    @property
    def device_id(self) -> str:
        return device_id_from_public_key(self.device_pk)

    def body(self) -> dict[str, Any]:
        return {"device_pk": b64encode(self.device_pk), "issued_at": self.issued_at, "username": self.username}

    def signing_bytes(self) -> bytes:
        return signing_bytes(CERT_TAG, self.body())

    def verify(self, account_sign_pk: bytes) -> bool:
        try:
            VerifyKey(account_sign_pk).verify(self.signing_bytes(), self.signature)
        except (BadSignatureError, ValueError, TypeError):
            return False
        return True

    def to_wire(self) -> dict[str, Any]:
        return {**self.body(), "signature": b64encode(self.signature)}

    @classmethod
    def from_wire(cls, data: Any) -> DeviceCertificate:
        if not isinstance(data, dict) or set(data) != {"device_pk", "issued_at", "username", "signature"}:
            raise CertificateError("a certificate has exactly device_pk, issued_at, username, signature")
        try:
            pk = b64decode(data["device_pk"]) if isinstance(data["device_pk"], str) else b""
            sig = b64decode(data["signature"]) if isinstance(data["signature"], str) else b""
        except CanonicalError as e:
            raise CertificateError(f"bad base64 in certificate: {e}") from e
        issued, user = data["issued_at"], data["username"]
        if len(pk) != 32 or len(sig) != 64:
            raise CertificateError("certificate key or signature has the wrong length")
        if not isinstance(issued, int) or isinstance(issued, bool) or not 0 <= issued < 2**40:
            raise CertificateError("certificate issued_at out of range")
        if not isinstance(user, str) or len(user) > MAX_USERNAME:
            raise CertificateError("certificate username invalid")
        return cls(pk, user, issued, sig)

    @classmethod
    def issue(cls, account_key: SigningKey, device_pk: bytes, username: str, issued_at: int | None = None) -> DeviceCertificate:
        unsigned = cls(device_pk, username, int(time.time()) if issued_at is None else issued_at, b"")
        return cls(device_pk, username, unsigned.issued_at, account_key.sign(unsigned.signing_bytes()).signature)


class Membership(Protocol):
    """Which of our folders a verified peer may learn about."""

    def folders_for(self, cert: DeviceCertificate, ours: Iterable[str]) -> set[str]: ...


class SameAccount:
    """Devices of one account see all of its folders (the certificate check already passed)."""

    def folders_for(self, cert: DeviceCertificate, ours: Iterable[str]) -> set[str]:
        return set(ours)


class DeviceDirectory:
    """Verified certificates of the account's devices, persisted (atomic JSON)."""

    def __init__(self, account_sign_pk: bytes, path: Path | None = None):
        self.account_sign_pk = account_sign_pk
        self.path = path
        self._certs: dict[str, DeviceCertificate] = {}
        self._lock = threading.Lock()
        if path is not None and path.exists():
            try:
                for w in json.loads(path.read_text()):
                    self.add(DeviceCertificate.from_wire(w), save=False)
            except (ValueError, OSError, CertificateError):
                pass  # a damaged cache is rebuilt from peers

    def add(self, cert: DeviceCertificate, save: bool = True) -> bool:
        """Keep ``cert`` if it verifies; True when it is valid."""
        if not cert.verify(self.account_sign_pk):
            return False
        with self._lock:
            old = self._certs.get(cert.device_id)
            if old is not None and old.issued_at >= cert.issued_at:
                return True
            self._certs[cert.device_id] = cert
        if save and self.path is not None:
            self._save()
        return True

    def _save(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with self._lock:
            tmp.write_text(json.dumps([c.to_wire() for c in self._certs.values()], sort_keys=True))
        os.replace(tmp, self.path)

    def get(self, device_id: str) -> DeviceCertificate | None:
        return self._certs.get(device_id)

    def certificates(self) -> list[DeviceCertificate]:
        with self._lock:
            return sorted(self._certs.values(), key=lambda c: c.device_id)

    def devices(self) -> list[DeviceInfo]:
        return [DeviceInfo(c.device_id, c.device_pk, False, c.username) for c in self.certificates()]
