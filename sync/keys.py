"""The user's keys: account key pair, device linking, and folder keyrings with epochs.

Responsibility: create, store and move the secret keys a person's devices share, and nothing else
(encrypting content with them is :mod:`sync.crypto`). Constructions, all libsodium via PyNaCl:

- **Account keys** (:class:`AccountKeys`): an Ed25519 signing key (signs membership changes and
  folder-key wraps) and an X25519 key (receives wrapped folder keys), published to the relay with
  ``PUT /v1/account/keys``. The **fingerprint** people compare is BLAKE2b-160 (personal
  ``cove-acct-fp-v1``) of ``sign_pk || box_pk`` in 32 base32 characters, eight groups of four.
  Stored as a small versioned JSON file, mode 0600, written atomically.
- **Device linking** (:class:`LinkOffer`, :func:`accept_link`): the existing device shows a pairing
  code of 24 characters (six groups of four) in Crockford-style base32 (no ``I L O U``; typing
  ``O``/``I``/``L`` is read as ``0``/``1``/``1``): a public 5-character *slot* (25 bits; names the
  relay mailbox, or the LAN announcement, that carries the offer), an 18-character *secret* (90
  bits) and one Luhn mod 32 check character that catches every single-character typo and adjacent
  swaps. The offer *blob* holds the account keys, relay URL and username (both empty for a LAN-only
  device) and, optionally, the keyrings of LAN-only folders (:class:`LinkedFolder`; a relay hands
  those out wrapped instead), encrypted with XChaCha20-Poly1305 under
  ``Argon2id(slot || secret, random salt)``; the Argon2 limits and salt travel in the blob's
  authenticated header, and the limits accepted on opening are capped so a forged blob cannot make
  a device allocate gigabytes. Whoever stores the blob (the relay, or anyone on the LAN who asks
  the offering device for it) must still guess 90 bits through Argon2id. The code is for one
  transfer and should expire with its mailbox.
- **Folder keyring** (:class:`FolderKeyring`): 32 random bytes per epoch. A key is handed to a
  member *wrapped*: sign-then-seal — the wrapper's account key signs
  ``"cove.folder-key.v1\\0" | folder | epoch | key | recipient box_pk``, and key, signer and signature
  go into a SealedBox (X25519 + XSalsa20-Poly1305) for the recipient's ``box_pk``. A sealed box
  alone is anonymous — the relay could seal a key of its own choosing to you, or move a wrapped key
  between folders or epochs — so :meth:`FolderKeyring.add_wrapped` requires the signer to be among
  ``trusted_signers`` (the folder owners' account ``sign_pk``, from the verified membership log)
  and checks folder and epoch. Serialised as versioned JSON (mode 0600; not encrypted at rest).

Format versions newer than this code knows raise an error saying so (upgrade Cove).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import struct
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.encoding import RawEncoder
from nacl.exceptions import BadSignatureError
from nacl.exceptions import CryptoError as _NaclCryptoError
from nacl.hash import blake2b
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.pwhash import argon2id
from nacl.signing import SigningKey, VerifyKey

from sync.atomic import replace_file
from sync.errors import CoveError
from sync.wire.ids import is_folder_id

# --- errors ------------------------------------------------------------------------------------------


class KeyFileError(CoveError):
    """A key file that is corrupt, of another kind, or written by a newer Cove."""


class LinkError(CoveError):
    """A pairing code or link offer that cannot be used (typo, wrong code, altered offer)."""


class KeyringError(CoveError):
    """A folder key that cannot be accepted (bad wrap, untrusted signer, conflicting key)."""


class UnknownEpochKey(KeyringError, KeyError):
    """The keyring has no key for that epoch."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown epoch"


# --- helpers -----------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"{what} is missing or not a string")
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if size is not None and len(raw) != size:
        raise ValueError(f"{what} has {len(raw)} bytes, expected {size}")
    return raw


def write_private_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, readable only by the user (0600), fsynced."""
    replace_file(Path(path), data, mode=0o600)


def _check_versioned(data: Any, kind: str, version: int, source: str | Path) -> dict[str, Any]:
    """A key document's kind and format version: corrupt, foreign or newer ones are refused."""
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise KeyFileError(f"{source} is corrupt or not a {kind} file", source)
    found = data.get("version")
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        raise KeyFileError(f"{source} is corrupt (bad version field)", source)
    if found > version:
        raise KeyFileError(
            f"{source} was written by a newer version of Cove (format {found}; this Cove reads "
            f"format {version}): upgrade Cove",
            source,
        )
    return data


def _load_versioned(path: Path, kind: str, version: int) -> dict[str, Any]:
    raw = path.read_bytes()  # FileNotFoundError propagates: "no keys yet" is not corruption
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise KeyFileError(f"{path} is corrupt (not a Cove key file)", path) from None
    return _check_versioned(data, kind, version, path)


# --- account keys ------------------------------------------------------------------------------------

FP_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
ACCOUNT_KEYS_KIND = "cove-account-keys"
ACCOUNT_KEYS_VERSION = 1
_ACCOUNT_BYTES_VERSION = 1


def _base32(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    bits = len(data) * 8
    chars = (bits + 4) // 5
    n <<= chars * 5 - bits
    return "".join(FP_ALPHABET[(n >> (5 * (chars - 1 - i))) & 31] for i in range(chars))


def fingerprint_of(sign_pk: bytes, box_pk: bytes) -> str:
    """The fingerprint of an account's public keys (for comparing another user's keys)."""
    if len(sign_pk) != 32 or len(box_pk) != 32:
        raise ValueError("account public keys are 32 bytes each")
    digest = blake2b(sign_pk + box_pk, digest_size=20, person=b"cove-acct-fp-v1", encoder=RawEncoder)
    text = _base32(digest)
    return " ".join(text[i : i + 4] for i in range(0, 32, 4))


@dataclass(frozen=True)
class AccountKeys:
    """The user's account key pair (shared by all of their devices)."""

    signing_key: SigningKey
    box_key: PrivateKey

    @classmethod
    def generate(cls) -> AccountKeys:
        return cls(SigningKey.generate(), PrivateKey.generate())

    @property
    def sign_pk(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def box_pk(self) -> bytes:
        return bytes(self.box_key.public_key)

    def fingerprint(self) -> str:
        """``XXXX XXXX XXXX XXXX XXXX XXXX XXXX XXXX`` (160 bits) of ``sign_pk || box_pk``."""
        return fingerprint_of(self.sign_pk, self.box_pk)

    def public_keys(self) -> dict[str, str]:
        """The body of ``PUT /v1/account/keys``."""
        return {"sign_pk": _b64(self.sign_pk), "box_pk": _b64(self.box_pk)}

    # secret serialisation (used inside link offers)
    def to_bytes(self) -> bytes:
        return bytes([_ACCOUNT_BYTES_VERSION]) + bytes(self.signing_key) + bytes(self.box_key)

    @classmethod
    def from_bytes(cls, data: bytes) -> AccountKeys:
        if len(data) < 1 or data[0] != _ACCOUNT_BYTES_VERSION or len(data) != 65:
            raise ValueError("not serialised account keys")
        return cls(SigningKey(data[1:33]), PrivateKey(data[33:65]))

    def save(self, path: str | os.PathLike[str]) -> None:
        doc = {
            "kind": ACCOUNT_KEYS_KIND,
            "version": ACCOUNT_KEYS_VERSION,
            "sign_seed": _b64(bytes(self.signing_key)),
            "box_secret": _b64(bytes(self.box_key)),
            "sign_pk": _b64(self.sign_pk),
            "box_pk": _b64(self.box_pk),
            "fingerprint": self.fingerprint(),
        }
        write_private_file(path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("ascii"))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AccountKeys:
        path = Path(path)
        data = _load_versioned(path, ACCOUNT_KEYS_KIND, ACCOUNT_KEYS_VERSION)
        try:
            keys = cls(
                SigningKey(_unb64(data.get("sign_seed"), "sign_seed", 32)),
                PrivateKey(_unb64(data.get("box_secret"), "box_secret", 32)),
            )
            if "sign_pk" in data and _unb64(data["sign_pk"], "sign_pk", 32) != keys.sign_pk:
                raise ValueError("sign_pk does not match the secret key")
            if "box_pk" in data and _unb64(data["box_pk"], "box_pk", 32) != keys.box_pk:
                raise ValueError("box_pk does not match the secret key")
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"{path} is corrupt: {exc}", path) from None
        return keys

    def __repr__(self) -> str:  # never print secrets
        return f"AccountKeys(fingerprint={self.fingerprint()!r})"


# --- device linking ----------------------------------------------------------------------------------

CODE_ALPHABET = FP_ALPHABET
SLOT_LEN = 5
SECRET_LEN = 18
CODE_LEN = SLOT_LEN + SECRET_LEN + 1  # + check character = 24
LINK_MAGIC = b"COVELINK"
LINK_VERSION = 1
LINK_OPSLIMIT = argon2id.OPSLIMIT_MODERATE  # 3 passes
LINK_MEMLIMIT = argon2id.MEMLIMIT_INTERACTIVE  # 64 MiB; ~0.2 s here
_MAX_OPSLIMIT = argon2id.OPSLIMIT_SENSITIVE
_MAX_MEMLIMIT = argon2id.MEMLIMIT_SENSITIVE  # 1 GiB: refuse blobs demanding more
_LINK_HEADER = struct.Struct(">8sBIQ16s5s24s")  # magic, version, ops, mem, salt, slot, nonce
_LINK_TAG = b"cove.link.v1\x00"
QR_SCHEME = "cove"


def _luhn32(chars: str) -> str:
    factor, total, n = 1, 0, len(CODE_ALPHABET)
    for ch in reversed(chars):
        addend = factor * CODE_ALPHABET.index(ch)
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return CODE_ALPHABET[(n - total % n) % n]


class LinkCode(NamedTuple):
    """A parsed pairing code: ``slot`` is public (mailbox name), ``secret`` is not."""

    slot: str
    secret: str

    @property
    def text(self) -> str:
        """The code as shown to people: ``ABCD-EFGH-JKMN-PQRS-TVWX-YZ01``."""
        body = self.slot + self.secret
        full = body + _luhn32(body)
        return "-".join(full[i : i + 4] for i in range(0, CODE_LEN, 4))

    def __str__(self) -> str:
        return self.text


def parse_code(text: str) -> LinkCode:
    """Read a typed pairing code: any case, spaces/dashes/dots ignored, ``O``→0, ``I``/``L``→1.

    Raises :class:`LinkError` for the wrong length, a character that cannot be in a code, or a
    check-character mismatch (a typo)."""
    if not isinstance(text, str):
        raise LinkError("a pairing code is text")
    compact = "".join(ch for ch in text.upper() if ch not in " \t\r\n-._")
    compact = compact.translate(str.maketrans("OIL", "011"))
    bad = sorted({ch for ch in compact if ch not in CODE_ALPHABET})
    if bad:
        raise LinkError(f"a pairing code cannot contain {''.join(bad)!r}; check what you typed")
    if len(compact) != CODE_LEN:
        raise LinkError(f"a pairing code has {CODE_LEN} characters; this one has {len(compact)}")
    body, check = compact[:-1], compact[-1]
    if _luhn32(body) != check:
        raise LinkError("the pairing code has a typo (its check character does not match); check it again")
    return LinkCode(body[:SLOT_LEN], body[SLOT_LEN:])


def new_code() -> LinkCode:
    def pick(n: int) -> str:
        return "".join(secrets.choice(CODE_ALPHABET) for _ in range(n))

    return LinkCode(pick(SLOT_LEN), pick(SECRET_LEN))


@dataclass(frozen=True)
class LinkedFolder:
    """A LAN-only folder handed over with the account keys: its ID, label and keyring."""

    id: str
    label: str
    keyring: FolderKeyring


@dataclass(frozen=True)
class LinkedAccount:
    """What a new device receives through linking."""

    account_keys: AccountKeys
    relay_url: str
    username: str
    folders: tuple[LinkedFolder, ...] = ()


def _link_key(code: LinkCode, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    password = _LINK_TAG + (code.slot + code.secret).encode("ascii")
    return argon2id.kdf(32, password, salt, opslimit=opslimit, memlimit=memlimit)


class LinkOffer(NamedTuple):
    """A pairing code (show it, or :func:`link_qr_payload` as a QR code) and the sealed offer blob
    (put it in the relay mailbox named :attr:`slot`, or serve it on the LAN under that slot:
    :mod:`sync.lan.pairing`). Unpacks as ``code, blob``."""

    code: str
    blob: bytes

    @property
    def slot(self) -> str:
        return parse_code(self.code).slot

    @classmethod
    def create(
        cls,
        account_keys: AccountKeys,
        relay_url: str,
        username: str,
        *,
        opslimit: int = LINK_OPSLIMIT,
        memlimit: int = LINK_MEMLIMIT,
        code: LinkCode | None = None,
        folders: Iterable[LinkedFolder] = (),
    ) -> LinkOffer:
        """Seal ``account_keys`` (and the keyrings of ``folders``, for LAN linking) under a new code."""
        code = code or new_code()
        salt = secrets.token_bytes(argon2id.SALTBYTES)
        nonce = secrets.token_bytes(24)
        header = _LINK_HEADER.pack(
            LINK_MAGIC, LINK_VERSION, opslimit, memlimit, salt, code.slot.encode(), nonce
        )
        doc: dict[str, Any] = {
            "account": _b64(account_keys.to_bytes()),
            "created_at": int(time.time()),
            "relay_url": relay_url,
            "username": username,
        }
        folders = list(folders)
        if folders:  # absent from relay offers (and from offers of older versions): still opens
            doc["folders"] = [
                {"id": f.id, "label": f.label, "keyring": _b64(f.keyring.to_bytes())} for f in folders
            ]
        body = json.dumps(doc, sort_keys=True).encode("utf-8")
        key = _link_key(code, salt, opslimit, memlimit)
        sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(body, header, nonce, key)
        return cls(code.text, header + sealed)


def link_slot(code: str) -> str:
    """The public mailbox name of a pairing code (what both devices tell the relay)."""
    return parse_code(code).slot


def accept_link(code: str | LinkCode, blob: bytes) -> LinkedAccount:
    """Open a link offer with the code the person typed (or scanned) → the account to join."""
    parsed = code if isinstance(code, LinkCode) else parse_code(code)
    if not isinstance(blob, (bytes, bytearray)) or len(blob) < _LINK_HEADER.size + 16:
        raise LinkError("the link offer is truncated or empty")
    magic, version, ops, mem, salt, slot, nonce = _LINK_HEADER.unpack_from(blob)
    if magic != LINK_MAGIC:
        raise LinkError("this is not a Cove link offer")
    if version > LINK_VERSION:
        raise LinkError(
            f"the link offer was made by a newer version of Cove (format {version}): upgrade Cove on this device"
        )
    if version != LINK_VERSION:
        raise LinkError(f"unknown link offer format {version}")
    if slot != parsed.slot.encode():
        raise LinkError("this pairing code belongs to a different link offer; check the code")
    if not (argon2id.OPSLIMIT_MIN <= ops <= _MAX_OPSLIMIT and argon2id.MEMLIMIT_MIN <= mem <= _MAX_MEMLIMIT):
        raise LinkError("the link offer asks for key-derivation limits out of range; refusing it")
    key = _link_key(parsed, salt, ops, mem)
    try:
        body = crypto_aead_xchacha20poly1305_ietf_decrypt(
            bytes(blob[_LINK_HEADER.size :]), bytes(blob[: _LINK_HEADER.size]), nonce, key
        )
    except _NaclCryptoError:
        raise LinkError(
            "the pairing code does not open this link offer: the code is wrong or the offer was altered"
        ) from None
    try:
        data = json.loads(body)
        account = AccountKeys.from_bytes(_unb64(data["account"], "account"))
        relay_url, username = data["relay_url"], data["username"]
        if not isinstance(relay_url, str) or not isinstance(username, str):
            raise TypeError("relay_url and username must be strings")
        folders = _linked_folders(data.get("folders", []))
    except (ValueError, KeyError, TypeError, KeyFileError) as exc:
        raise LinkError(f"the link offer is corrupt: {exc}") from None
    return LinkedAccount(account, relay_url, username, folders)


def _linked_folders(items: Any) -> tuple[LinkedFolder, ...]:
    if not isinstance(items, list):
        raise TypeError("folders must be a list")
    out: list[LinkedFolder] = []
    for item in items:
        if not isinstance(item, dict):
            raise TypeError("a folder must be an object")
        folder_id, label = item["id"], item.get("label", "")
        if not is_folder_id(folder_id) or not isinstance(label, str):  # an ID names a directory
            raise ValueError(f"bad folder ID or label: {folder_id!r}")
        keyring = FolderKeyring.from_bytes(_unb64(item["keyring"], "keyring"), source=f"keyring of {folder_id}")
        if keyring.folder != folder_id or not len(keyring):
            raise ValueError(f"the keyring of folder {folder_id} is for another folder or empty")
        if any(f.id == folder_id for f in out):
            raise ValueError(f"folder {folder_id} appears twice")
        out.append(LinkedFolder(folder_id, label, keyring))
    return tuple(out)


def link_qr_payload(code: str, relay_url: str) -> str:
    """The text of a link QR code: ``cove://link?code=...&relay=...`` (render with segno); without
    a relay (LAN linking) just ``cove://link?code=...``."""
    text = parse_code(code).text
    params = {"code": text, "relay": relay_url} if relay_url else {"code": text}
    return f"{QR_SCHEME}://link?" + urllib.parse.urlencode(params)


def parse_qr_payload(text: str) -> tuple[str, str]:
    """``(code, relay_url)`` from a scanned :func:`link_qr_payload` text; ``relay_url`` is empty
    when the QR code names no relay (the offer waits on the LAN)."""
    parts = urllib.parse.urlsplit(text.strip())
    if parts.scheme != QR_SCHEME or parts.netloc != "link":
        raise LinkError("this QR code is not a Cove device link")
    query = urllib.parse.parse_qs(parts.query)
    try:
        code, relay = query["code"][0], (query.get("relay") or [""])[0]
    except (KeyError, IndexError):
        raise LinkError("the Cove link QR code is incomplete") from None
    return parse_code(code).text, relay


# --- folder keyring ----------------------------------------------------------------------------------

FOLDER_KEY_SIZE = 32
MAX_EPOCH = 2**32 - 1
KEYRING_KIND = "cove-folder-keyring"
KEYRING_VERSION = 1
_WRAP_VERSION = 1
_WRAP_TAG = b"cove.folder-key.v1\x00"
_WRAP_INNER = struct.Struct(">BI32s32s64s")  # version, epoch, key, signer sign_pk, signature


def _wrap_statement(folder: str, epoch: int, key: bytes, recipient_box_pk: bytes) -> bytes:
    f = folder.encode("utf-8")
    if len(f) > 255:
        raise ValueError("folder ID is too long")
    return _WRAP_TAG + bytes([len(f)]) + f + epoch.to_bytes(4, "big") + key + recipient_box_pk


def _check_epoch(epoch: Any) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= MAX_EPOCH:
        raise ValueError(f"epoch must be an integer in 0..{MAX_EPOCH}")
    return epoch


def unwrap_folder_key(
    wrapped: bytes,
    *,
    folder: str,
    epoch: int,
    account_keys: AccountKeys,
    trusted_signers: Iterable[bytes],
) -> bytes:
    """Open a wrapped folder key sent to ``account_keys`` and check who wrapped it, for what.

    ``trusted_signers``: account ``sign_pk`` values allowed to hand out keys of this folder (its
    owners, and the user's own account). Raises :class:`KeyringError` with the reason."""
    _check_epoch(epoch)
    trusted = {bytes(pk) for pk in trusted_signers}
    try:
        inner = SealedBox(account_keys.box_key).decrypt(bytes(wrapped))
    except (_NaclCryptoError, ValueError, TypeError):
        raise KeyringError(
            "a wrapped folder key could not be opened: it was sealed for another account's key or altered"
        ) from None
    if len(inner) < 1:
        raise KeyringError("a wrapped folder key is empty")
    if inner[0] > _WRAP_VERSION:
        raise KeyringError(
            f"a folder key was wrapped by a newer version of Cove (format {inner[0]}): upgrade Cove"
        )
    if inner[0] != _WRAP_VERSION or len(inner) != _WRAP_INNER.size:
        raise KeyringError("a wrapped folder key is malformed")
    _, w_epoch, key, signer, sig = _WRAP_INNER.unpack(inner)
    if w_epoch != epoch:
        raise KeyringError(f"the folder key offered for epoch {epoch} was wrapped for epoch {w_epoch}")
    if signer not in trusted:
        raise KeyringError("a folder key was wrapped by an account that may not hand out this folder's keys")
    try:
        VerifyKey(signer).verify(_wrap_statement(folder, epoch, key, account_keys.box_pk), sig)
    except (BadSignatureError, ValueError):
        raise KeyringError(
            "a wrapped folder key's signature does not verify (it was made for another folder, epoch or account)"
        ) from None
    return key


class FolderKeyring:
    """The keys of one folder by epoch. Epochs start at 0; ``new_epoch`` adds the next one."""

    def __init__(self, folder: str, keys: Mapping[int, bytes] | None = None) -> None:
        if not isinstance(folder, str) or not folder:
            raise ValueError("a keyring belongs to a folder ID")
        self.folder = folder
        self._keys: dict[int, bytes] = {}
        for epoch, key in (keys or {}).items():
            self.add_key(epoch, key)

    @classmethod
    def create(cls, folder: str) -> FolderKeyring:
        """A new folder's keyring with a random key for epoch 0."""
        return cls(folder, {0: secrets.token_bytes(FOLDER_KEY_SIZE)})

    @property
    def epochs(self) -> list[int]:
        return sorted(self._keys)

    @property
    def current_epoch(self) -> int:
        """The newest epoch: new content is encrypted under it."""
        if not self._keys:
            raise UnknownEpochKey(f"no keys for folder {self.folder} yet")
        return max(self._keys)

    def current_key(self) -> bytes:
        return self._keys[self.current_epoch]

    def has(self, epoch: int) -> bool:
        return epoch in self._keys

    __contains__ = has

    def __len__(self) -> int:
        return len(self._keys)

    def key(self, epoch: int) -> bytes:
        try:
            return self._keys[epoch]
        except (KeyError, TypeError):
            raise UnknownEpochKey(
                f"no key for epoch {epoch} of folder {self.folder} (not received yet, or access was removed)"
            ) from None

    def __call__(self, epoch: int) -> bytes:  # usable as sync.crypto's key_for_epoch
        return self.key(epoch)

    def new_epoch(self) -> int:
        """Add a fresh random key as the next epoch (after removing a member) and return it."""
        epoch = self.current_epoch + 1 if self._keys else 0
        self.add_key(epoch, secrets.token_bytes(FOLDER_KEY_SIZE))
        return epoch

    def add_key(self, epoch: int, key: bytes) -> None:
        """Add a plain key. The same key again is a no-op; a different key for a known epoch is an
        error (someone tries to swap a folder key)."""
        _check_epoch(epoch)
        if not isinstance(key, (bytes, bytearray)) or len(key) != FOLDER_KEY_SIZE:
            raise ValueError("a folder key is 32 bytes")
        known = self._keys.get(epoch)
        if known is not None and known != bytes(key):
            raise KeyringError(
                f"a different key for epoch {epoch} of folder {self.folder} is already known; refusing it"
            )
        self._keys[epoch] = bytes(key)

    def wrap(self, epoch: int, recipient_box_pk: bytes, signer: AccountKeys) -> bytes:
        """The key of ``epoch`` signed by ``signer`` and sealed for ``recipient_box_pk`` (an
        account's X25519 public key, from ``GET /v1/users/{username}/keys``)."""
        key = self.key(epoch)
        recipient = bytes(recipient_box_pk)
        if len(recipient) != 32:
            raise ValueError("a box public key is 32 bytes")
        sig = signer.signing_key.sign(_wrap_statement(self.folder, epoch, key, recipient)).signature
        inner = _WRAP_INNER.pack(_WRAP_VERSION, epoch, key, signer.sign_pk, sig)
        return SealedBox(PublicKey(recipient)).encrypt(inner)

    def add_wrapped(
        self, epoch: int, wrapped: bytes, account_keys: AccountKeys, *, trusted_signers: Iterable[bytes]
    ) -> bytes:
        """Unwrap (see :func:`unwrap_folder_key`) and add a key received from the relay; returns it."""
        key = unwrap_folder_key(
            wrapped,
            folder=self.folder,
            epoch=epoch,
            account_keys=account_keys,
            trusted_signers=trusted_signers,
        )
        self.add_key(epoch, key)
        return key

    # storage

    def to_bytes(self) -> bytes:
        doc = {
            "kind": KEYRING_KIND,
            "version": KEYRING_VERSION,
            "folder": self.folder,
            "keys": {str(e): _b64(k) for e, k in sorted(self._keys.items())},
        }
        return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "keyring") -> FolderKeyring:
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise KeyFileError(f"{source} is corrupt (not a Cove folder keyring)", source) from None
        return cls._from_doc(doc, source)

    @classmethod
    def _from_doc(cls, doc: Any, source: str) -> FolderKeyring:
        _check_versioned(doc, KEYRING_KIND, KEYRING_VERSION, source)
        try:
            keys = doc["keys"]
            if not isinstance(keys, dict):
                raise TypeError("keys must be an object")
            return cls(
                doc["folder"], {int(e): _unb64(k, f"key {e}", FOLDER_KEY_SIZE) for e, k in keys.items()}
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise KeyFileError(f"{source} is corrupt: {exc}", source) from None

    def save(self, path: str | os.PathLike[str]) -> None:
        write_private_file(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FolderKeyring:
        path = Path(path)
        return cls.from_bytes(path.read_bytes(), source=str(path))  # missing file: FileNotFoundError

    def __repr__(self) -> str:
        return f"FolderKeyring(folder={self.folder!r}, epochs={self.epochs})"
