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

A :class:`DeviceRevocation` is the account key's signature over ``{"device_pk", "revoked_at",
"username"}`` (tag ``cove.device-revoke.v1``): the device is no longer one of the account's. The
directory keeps verified revocations next to the certificates; a revoked device's certificate is
never accepted again (not by :meth:`DeviceDirectory.add`, not in the handshake), ``devices()``
reports it ``revoked``, and peers pass revocations on in ``hello``. Revocations are final: there
is no "un-revoke" (a device that should come back gets a new device key, i.e. is linked again).
The directory also holds the IDs the relay reports revoked (``note_relay_revoked``): unsigned, so
they are obeyed here but never passed on.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from sync.atomic import replace_file
from sync.relay_client import DeviceInfo
from sync.wire.canonical import CanonicalError, b64decode, b64encode, signing_bytes
from sync.wire.ids import device_id_from_public_key

CERT_TAG = "cove.device-cert.v1"
REVOKE_TAG = "cove.device-revoke.v1"
MAX_USERNAME = 64
MAX_REVOCATIONS = 1000  # kept and sent in hello (like MAX_CERTS): an account has far fewer devices


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
        pk, sig = _key_and_signature(data, "certificate")
        issued, user = data["issued_at"], data["username"]
        if not isinstance(issued, int) or isinstance(issued, bool) or not 0 <= issued < 2**40:
            raise CertificateError("certificate issued_at out of range")
        if not isinstance(user, str) or len(user) > MAX_USERNAME:
            raise CertificateError("certificate username invalid")
        return cls(pk, user, issued, sig)

    @classmethod
    def issue(cls, account_key: SigningKey, device_pk: bytes, username: str, issued_at: int | None = None) -> DeviceCertificate:
        unsigned = cls(device_pk, username, int(time.time()) if issued_at is None else issued_at, b"")
        return cls(device_pk, username, unsigned.issued_at, account_key.sign(unsigned.signing_bytes()).signature)


@dataclass(frozen=True)
class DeviceRevocation:
    """The account's statement that ``device_pk`` no longer belongs to it (see the module docstring)."""

    device_pk: bytes
    username: str
    revoked_at: int
    signature: bytes

    @property
    def device_id(self) -> str:
        return device_id_from_public_key(self.device_pk)

    def body(self) -> dict[str, Any]:
        return {"device_pk": b64encode(self.device_pk), "revoked_at": self.revoked_at, "username": self.username}

    def signing_bytes(self) -> bytes:
        return signing_bytes(REVOKE_TAG, self.body())

    def verify(self, account_sign_pk: bytes) -> bool:
        try:
            VerifyKey(account_sign_pk).verify(self.signing_bytes(), self.signature)
        except (BadSignatureError, ValueError, TypeError):
            return False
        return True

    def to_wire(self) -> dict[str, Any]:
        return {**self.body(), "signature": b64encode(self.signature)}

    @classmethod
    def from_wire(cls, data: Any) -> DeviceRevocation:
        if not isinstance(data, dict) or set(data) != {"device_pk", "revoked_at", "username", "signature"}:
            raise CertificateError("a revocation has exactly device_pk, revoked_at, username, signature")
        pk, sig = _key_and_signature(data, "revocation")
        at, user = data["revoked_at"], data["username"]
        if not isinstance(at, int) or isinstance(at, bool) or not 0 <= at < 2**40:
            raise CertificateError("revocation revoked_at out of range")
        if not isinstance(user, str) or len(user) > MAX_USERNAME:
            raise CertificateError("revocation username invalid")
        return cls(pk, user, at, sig)

    @classmethod
    def issue(cls, account_key: SigningKey, device_pk: bytes, username: str = "", revoked_at: int | None = None) -> DeviceRevocation:
        if len(device_pk) != 32:
            raise CertificateError("a device key is 32 bytes")
        unsigned = cls(device_pk, username, int(time.time()) if revoked_at is None else revoked_at, b"")
        return cls(device_pk, username, unsigned.revoked_at, account_key.sign(unsigned.signing_bytes()).signature)


def _key_and_signature(data: dict[str, Any], what: str) -> tuple[bytes, bytes]:
    try:
        pk = b64decode(data["device_pk"]) if isinstance(data["device_pk"], str) else b""
        sig = b64decode(data["signature"]) if isinstance(data["signature"], str) else b""
    except CanonicalError as e:
        raise CertificateError(f"bad base64 in {what}: {e}") from e
    if len(pk) != 32 or len(sig) != 64:
        raise CertificateError(f"{what} key or signature has the wrong length")
    return pk, sig


class Membership(Protocol):
    """Which of our folders a verified peer may learn about."""

    def folders_for(self, cert: DeviceCertificate, ours: Iterable[str]) -> set[str]: ...


class SameAccount:
    """Devices of one account see all of its folders (the certificate check already passed)."""

    def folders_for(self, cert: DeviceCertificate, ours: Iterable[str]) -> set[str]:
        return set(ours)


OnRevoked = Callable[[set[str]], None]


class DeviceDirectory:
    """Verified certificates and revocations of the account's devices, persisted together
    (``{"certs": [...], "revocations": [...]}``, atomic JSON; the older plain list of certificates
    is read too). Unreadable items are skipped; an unreadable file is rebuilt from peers.

    Several processes may use one file (the daemon, and ``cove devices revoke`` from a shell): a
    save merges what is on disk first (under a lock file where the platform has ``flock``), and
    :meth:`reload` picks up what another process wrote (the daemon calls it periodically).
    ``on_revoked`` callbacks hear every newly stored revocation (signed or from the relay)."""

    def __init__(self, account_sign_pk: bytes, path: Path | None = None):
        self.account_sign_pk = account_sign_pk
        self.path = path
        self._certs: dict[str, DeviceCertificate] = {}
        self._revoked: dict[str, DeviceRevocation] = {}
        self._relay_revoked: dict[str, DeviceInfo] = {}
        self._lock = threading.RLock()
        self._seen_file: tuple[int, int] | None = None
        self.on_revoked: list[OnRevoked] = []
        self.reload()

    # -- certificates --------------------------------------------------------------------------

    def add(self, cert: DeviceCertificate, save: bool = True) -> bool:
        """Keep ``cert`` if it verifies and its device is not revoked; True when it was kept (or an
        equal or newer one is held)."""
        if not cert.verify(self.account_sign_pk):
            return False
        with self._lock:
            if self.is_revoked(cert.device_id):
                return False
            old = self._certs.get(cert.device_id)
            if old is not None and old.issued_at >= cert.issued_at:
                return True
            self._certs[cert.device_id] = cert
        if save and self.path is not None:
            self._save()
        return True

    def get(self, device_id: str) -> DeviceCertificate | None:
        return self._certs.get(device_id)

    def certificates(self) -> list[DeviceCertificate]:
        """Certificates of devices that are not revoked (what is passed on in ``hello``)."""
        with self._lock:
            return sorted((c for c in self._certs.values() if not self.is_revoked(c.device_id)),
                          key=lambda c: c.device_id)

    # -- revocations ---------------------------------------------------------------------------

    def revoke(self, revocation: DeviceRevocation, save: bool = True) -> bool:
        """Keep ``revocation`` if it verifies; True when it is valid. Listeners hear of it when it
        is new."""
        new = self._store(revocation)
        if new is None:
            return False
        if new and save and self.path is not None:
            self._save()
        if new:
            self._notify({revocation.device_id})
        return True

    def _store(self, revocation: DeviceRevocation) -> bool | None:
        """None: invalid; True: newly stored; False: known already."""
        if not revocation.verify(self.account_sign_pk):
            return None
        with self._lock:
            if revocation.device_id in self._revoked:
                return False
            if len(self._revoked) >= MAX_REVOCATIONS:
                return None
            self._revoked[revocation.device_id] = revocation
            return True

    def note_relay_revoked(self, devices: Iterable[DeviceInfo]) -> set[str]:
        """The relay's device list (authoritative for relay accounts): remember the revoked ones,
        so the LAN refuses them too. Not persisted or passed on (unsigned); returns the new IDs."""
        new: set[str] = set()
        with self._lock:
            for d in devices:
                if d.revoked and d.device_id not in self._relay_revoked:
                    self._relay_revoked[d.device_id] = d
                    if d.device_id not in self._revoked:
                        new.add(d.device_id)
        if new:
            self._notify(new)
        return new

    def is_revoked(self, device_id: str) -> bool:
        return device_id in self._revoked or device_id in self._relay_revoked

    def revocation(self, device_id: str) -> DeviceRevocation | None:
        return self._revoked.get(device_id)

    def revocations(self) -> list[DeviceRevocation]:
        with self._lock:
            return sorted(self._revoked.values(), key=lambda r: r.device_id)

    def devices(self) -> list[DeviceInfo]:
        """Every device known here; revoked ones (signed or by the relay) with ``revoked=True``."""
        with self._lock:
            out = {c.device_id: DeviceInfo(c.device_id, c.device_pk, self.is_revoked(c.device_id), c.username)
                   for c in self._certs.values()}
            for r in self._revoked.values():
                if r.device_id not in out:
                    out[r.device_id] = DeviceInfo(r.device_id, r.device_pk, True, r.username or None)
            for d in self._relay_revoked.values():
                if d.device_id not in out:
                    out[d.device_id] = DeviceInfo(d.device_id, d.public_key, True, d.name)
        return [out[k] for k in sorted(out)]

    def _notify(self, device_ids: set[str]) -> None:
        for callback in list(self.on_revoked):
            callback(set(device_ids))

    # -- persistence ---------------------------------------------------------------------------

    def reload(self) -> set[str]:
        """Merge what the file holds (another process may have written it); returns the devices
        newly revoked by it. Cheap when the file did not change."""
        if self.path is None:
            return set()
        try:
            st = self.path.stat()
        except OSError:
            return set()
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._seen_file:
            return set()
        self._seen_file = stamp
        certs, revocations = self._read()
        new = {r.device_id for r in revocations if self._store(r)}
        for c in certs:
            self.add(c, save=False)
        if new:
            self._notify(new)
        return new

    def _read(self) -> tuple[list[DeviceCertificate], list[DeviceRevocation]]:
        assert self.path is not None
        try:
            doc = json.loads(self.path.read_text())
        except (ValueError, OSError):
            return [], []  # a damaged cache is rebuilt from peers
        if isinstance(doc, list):  # the format before revocations
            doc = {"certs": doc}
        if not isinstance(doc, dict):
            return [], []
        certs, revocations = [], []
        for w in doc.get("certs") or []:
            with contextlib.suppress(CertificateError):
                certs.append(DeviceCertificate.from_wire(w))
        for w in doc.get("revocations") or []:
            with contextlib.suppress(CertificateError):
                revocations.append(DeviceRevocation.from_wire(w))
        return certs, revocations

    def _save(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.path.with_suffix(".lock")):
            certs, revocations = self._read()  # another process may have added to it
            new = {r.device_id for r in revocations if self._store(r)}
            for c in certs:
                if c.verify(self.account_sign_pk) and not self.is_revoked(c.device_id):
                    with self._lock:
                        old = self._certs.get(c.device_id)
                        if old is None or old.issued_at < c.issued_at:
                            self._certs[c.device_id] = c
            with self._lock:
                doc = {"certs": [c.to_wire() for c in sorted(self._certs.values(), key=lambda c: c.device_id)],
                       "revocations": [r.to_wire() for r in self.revocations()]}
            replace_file(self.path, json.dumps(doc, sort_keys=True).encode(), mode=0o600)
            with contextlib.suppress(OSError):
                st = self.path.stat()
                self._seen_file = (st.st_mtime_ns, st.st_size)
        if new:
            self._notify(new)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock between processes (POSIX ``flock``; elsewhere none)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: the merge-before-write still narrows the race
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
