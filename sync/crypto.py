"""Encryption of folder content and log-entry payloads with a folder key: pure functions over bytes.

Responsibility: turn a plaintext block into the (block ID, ciphertext) pair the relay stores, turn
a log entry's plaintext payload into the ``ciphertext`` field of a :class:`sync.wire.envelopes.LogEntry`,
and back, refusing anything altered, misplaced or written by a newer Cove. No I/O, no state besides
a per-thread zstd context and a small cache of derived subkeys; safe to call from worker threads
(libsodium, zstd and BLAKE3 release the GIL on large inputs).

Constructions (libsodium through PyNaCl only; nothing home-made):

- **Subkeys.** Each folder key (32 random bytes per epoch, :class:`sync.keys.FolderKeyring`) is
  never used directly: ``subkey = BLAKE2b-256(purpose, key=folder_key, person="cove-subkey-v1")``
  for the purposes ``block-id``, ``block-aead`` and ``payload-aead`` (keyed BLAKE2b is a PRF; this
  is what libsodium's ``crypto_kdf`` does, with the purpose as input instead of a subkey number).
- **Block IDs.** ``block_id = hex(BLAKE2b-256(epoch_u32 || BLAKE3(plaintext), key=subkey("block-id")))``.
  The relay sees only this keyed hash, so it cannot confirm a guess of a block's content (unlike a
  plain content hash), while equal blocks in one folder and epoch still deduplicate. IDs differ
  between folders (different keys) and epochs.
- **AEAD.** XChaCha20-Poly1305-IETF (``crypto_aead_xchacha20poly1305_ietf_*``) with a random 24-byte
  nonce per message (random nonces are safe at this size; no counter state to lose).
- **Compression** (blocks only): zstd level 3, kept only when it makes the *padded* block smaller,
  so incompressible data costs no decompression on the way back. Log-entry payloads are compressed
  by their producer (:mod:`sync.entries`), not here.
- **Padding.** Exact sizes must not reach the relay: the size of a file (it is a single block below
  64 KiB) or of a metadata batch identifies it surprisingly often. Inner plaintexts are padded to
  ``padded_size(n)``: powers of two from 256 B up to 4 KiB, and **Padmé** (Nikitin et al., "Reducing
  Metadata Leakage from Encrypted Files and Communication with PURBs", PETS 2019) above. Padmé
  leaks only O(log log n) bits of the length with at most 12 % overhead (≤ 3.2 % for 64 KiB–1 MiB
  blocks: granularity 2 KiB at 64 KiB, 32 KiB at 1 MiB), where power-of-two buckets would cost up
  to 100 %. Small sizes get whole power-of-two buckets because there a few bytes of overhead are
  cheap and the leak is relatively largest.

Formats (all integers big-endian)::

    ciphertext  = version u8 (=1) | epoch u32 | nonce[24] | AEAD(inner)        (45 bytes + padded inner)
    block inner = flags u8 (bit 0: zstd) | body_len u32 | body | zero padding
    payload inner =                  0 u8 | body_len u32 | body | zero padding
    block AAD   = "cove.block.v1\\0"   | version | epoch | len u8 | folder | block_id (64 ASCII hex)
    payload AAD = "cove.payload.v1\\0" | version | epoch | len u8 | folder | len u8 | device | seq u64

The AAD binds a block to its folder, epoch and ID, and a payload to its folder, epoch, device and
sequence number, so the relay (or a member) cannot move ciphertext to another place, folder or log
position. Blocks and payloads use different subkeys and AAD tags, so one can never pass for the other.
:func:`open_block` additionally checks BLAKE3(plaintext) against the hash the record promised and
that the block ID is the keyed hash of it. A version byte above 1 raises :class:`UnsupportedVersion`
("written by a newer Cove").

Throughput (``python -m sync.crypto``; one core, random 256 KiB blocks, best of 5, on a shared and
busy 2-core machine): seal 0.35–0.6 GB/s, open 0.45–0.7 GB/s, against 1.0–1.3 GB/s for the bare
AEAD. Seal also pays BLAKE3 (re-verifying the scan's hash), one zstd attempt (~5 GB/s on
incompressible data, which zstd detects quickly) and the padding copy; open pays BLAKE3 and
the keyed block-ID check. Both are well above disk and network rates, and run in worker threads.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Protocol, Union

import blake3
import zstandard
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.encoding import RawEncoder
from nacl.exceptions import CryptoError as _NaclCryptoError
from nacl.hash import blake2b
from nacl.utils import random as _random

from sync.chunker import verified
from sync.errors import CoveError
from sync.wire.envelopes import MAX_ENTRY_CIPHERTEXT

FORMAT_VERSION = 1
KEY_SIZE = 32
NONCE_SIZE = 24
TAG_SIZE = 16
HASH_SIZE = 32  # BLAKE3-256 of a plaintext block (sync.chunker.block_hash)
MAX_EPOCH = 2**32 - 1
MAX_SEQ = 2**64 - 1
ZSTD_LEVEL = 3
FLAG_ZSTD = 0x01

_HEADER = struct.Struct(">BI")  # version, epoch
_INNER = struct.Struct(">BI")  # flags, body length
HEADER_SIZE = _HEADER.size + NONCE_SIZE  # 29
OVERHEAD = HEADER_SIZE + TAG_SIZE  # 45 bytes besides the padded inner plaintext

#: Largest plaintext block accepted (the chunker's maximum is 1 MiB; the relay's limit is 16 MiB).
MAX_BLOCK_SIZE = 4 * 1024 * 1024
#: Largest log entry ciphertext the relay accepts.
MAX_PAYLOAD_CIPHERTEXT = MAX_ENTRY_CIPHERTEXT

_BLOCK_TAG = b"cove.block.v1\x00"
_PAYLOAD_TAG = b"cove.payload.v1\x00"
_SUBKEY_PERSON = b"cove-subkey-v1"

SMALL_BUCKET_MIN = 256
SMALL_BUCKET_MAX = 4096


# --- errors ------------------------------------------------------------------------------------------


class CryptoError(CoveError):
    """Base of every failure to seal or open Cove ciphertext."""


class MalformedCiphertext(CryptoError):
    """Bytes that are not Cove ciphertext at all (truncated, bad header, bad padding)."""


class UnsupportedVersion(CryptoError):
    """Ciphertext in a format version this Cove does not know: written by a newer Cove."""


class UnknownEpoch(CryptoError):
    """No key for the epoch the ciphertext names (not received yet, or access was removed)."""


class AuthenticationFailed(CryptoError):
    """The AEAD refused: wrong key, altered bytes, or ciphertext moved to another folder/block/position.

    The AEAD cannot tell these apart (by design), so neither can this error."""


class ContentMismatch(CryptoError):
    """Decryption worked but the plaintext is not the block that was asked for (wrong block)."""


class BlockHashMismatch(CryptoError, ValueError):
    """``seal_block`` was given a plain hash that is not BLAKE3 of the plaintext (the file changed
    between hashing and reading?)."""


# --- key lookup --------------------------------------------------------------------------------------


class _HasKey(Protocol):
    def key(self, epoch: int) -> bytes: ...


KeySource = Union[_HasKey, Mapping[int, bytes], Callable[[int], bytes]]  # noqa: UP007 (runtime alias)


def _lookup(keys: Any, epoch: int) -> bytes:
    """The folder key of ``epoch`` from a keyring (``.key(epoch)``), a mapping or a callable."""
    try:
        if hasattr(keys, "key") and callable(keys.key):
            key = keys.key(epoch)
        elif isinstance(keys, Mapping):
            key = keys[epoch]
        elif callable(keys):
            key = keys(epoch)
        else:
            raise TypeError("keys must be a FolderKeyring, a mapping epoch -> key or a callable")
    except UnknownEpoch:
        raise
    except (KeyError, LookupError) as exc:
        raise UnknownEpoch(
            f"no folder key for epoch {epoch} (not received yet, or access to it was removed)"
        ) from exc
    if key is None:
        raise UnknownEpoch(f"no folder key for epoch {epoch} (not received yet, or access to it was removed)")
    _check_key(key)
    return bytes(key)


def _check_key(key: Any) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_SIZE:
        raise TypeError("a folder key is 32 bytes")


def _check_epoch(epoch: Any) -> None:
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= MAX_EPOCH:
        raise ValueError(f"epoch must be an integer in 0..{MAX_EPOCH}")


@lru_cache(maxsize=512)
def _subkey(folder_key: bytes, purpose: bytes) -> bytes:
    return blake2b(purpose, digest_size=32, key=folder_key, person=_SUBKEY_PERSON, encoder=RawEncoder)


def _lp(text: str, what: str) -> bytes:
    """A length-prefixed (u8) UTF-8 string for AAD, so concatenations cannot be ambiguous."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string")
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raise ValueError(f"{what} is too long")
    return bytes([len(raw)]) + raw


# --- padding -----------------------------------------------------------------------------------------


def padme(length: int) -> int:
    """Padmé: round ``length`` up so that only its top O(log log n) bits remain (≤ 12 % overhead)."""
    if length < 2:
        return length
    e = length.bit_length() - 1  # floor(log2 L)
    s = e.bit_length()  # floor(log2 E) + 1
    mask = (1 << (e - s)) - 1
    return (length + mask) & ~mask


def padded_size(length: int) -> int:
    """The padded size of an inner plaintext of ``length`` bytes (see the module docstring)."""
    if length <= SMALL_BUCKET_MIN:
        return SMALL_BUCKET_MIN
    if length <= SMALL_BUCKET_MAX:
        return 1 << (length - 1).bit_length()
    return padme(length)


def _pad(flags: int, body: bytes | bytearray | memoryview) -> bytes:
    n = _INNER.size + len(body)
    return b"".join((_INNER.pack(flags, len(body)), body, bytes(padded_size(n) - n)))


def _unpad(inner: bytes) -> tuple[int, memoryview]:
    if len(inner) < _INNER.size:
        raise MalformedCiphertext("encrypted content is truncated")
    flags, n = _INNER.unpack_from(inner)
    end = _INNER.size + n
    if end > len(inner) or len(inner) != padded_size(end):
        raise MalformedCiphertext("encrypted content has an invalid length or padding")
    view = memoryview(inner)
    if any(view[end:]):
        raise MalformedCiphertext("encrypted content has non-zero padding")
    return flags, view[_INNER.size : end]


# --- zstd (one context per thread: contexts are not thread-safe) -------------------------------------

_tls = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    c = getattr(_tls, "c", None)
    if c is None:
        c = _tls.c = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_tls, "d", None)
    if d is None:
        d = _tls.d = zstandard.ZstdDecompressor()
    return d


# --- header ------------------------------------------------------------------------------------------


def peek_epoch(ciphertext: bytes) -> int:
    """The epoch a block or payload ciphertext was sealed under (unauthenticated until opened)."""
    return _parse_header(ciphertext)[1]


def _parse_header(ciphertext: bytes) -> tuple[int, int, bytes]:
    if not isinstance(ciphertext, (bytes, bytearray, memoryview)):
        raise TypeError("ciphertext must be bytes")
    if len(ciphertext) < 1:
        raise MalformedCiphertext("ciphertext is empty")
    version = ciphertext[0]
    if version > FORMAT_VERSION:
        raise UnsupportedVersion(
            f"this data was written by a newer version of Cove (format {version}; this Cove reads "
            f"format {FORMAT_VERSION}): upgrade Cove to read it"
        )
    if version != FORMAT_VERSION:
        raise MalformedCiphertext(f"not Cove ciphertext (unknown format byte {version})")
    if len(ciphertext) < OVERHEAD:
        raise MalformedCiphertext(f"ciphertext is truncated ({len(ciphertext)} bytes)")
    _, epoch = _HEADER.unpack_from(ciphertext)
    nonce = bytes(ciphertext[_HEADER.size : HEADER_SIZE])
    return version, epoch, nonce


def _encrypt(inner: bytes, aad_tail: bytes, tag: bytes, epoch: int, key: bytes) -> bytes:
    header = _HEADER.pack(FORMAT_VERSION, epoch)
    nonce = _random(NONCE_SIZE)
    sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(inner, tag + header + aad_tail, nonce, key)
    return header + nonce + sealed


def _decrypt(
    ciphertext: bytes, aad_tail: bytes, tag: bytes, keys: Any, purpose: bytes, what: str
) -> tuple[int, bytes]:
    version, epoch, nonce = _parse_header(ciphertext)
    key = _subkey(_lookup(keys, epoch), purpose)
    header = _HEADER.pack(version, epoch)
    try:
        inner = crypto_aead_xchacha20poly1305_ietf_decrypt(
            bytes(ciphertext[HEADER_SIZE:]), tag + header + aad_tail, nonce, key
        )
    except _NaclCryptoError:
        raise AuthenticationFailed(
            f"{what} could not be decrypted: it was altered, belongs to another "
            f"{'folder or block' if tag == _BLOCK_TAG else 'folder, device or log position'}, "
            f"or the key for epoch {epoch} is wrong"
        ) from None
    return epoch, inner


# --- blocks ------------------------------------------------------------------------------------------


def _block_id(keyring_or_key: Any, epoch: int, plain_hash: bytes) -> str:
    """The relay-visible ID (64 lowercase hex) of the block whose BLAKE3 hash is ``plain_hash``.

    ``keyring_or_key`` is the folder key of ``epoch`` (32 bytes) or anything :func:`open_block`
    accepts as ``keys`` (a :class:`sync.keys.FolderKeyring`, a mapping, a callable)."""
    _check_epoch(epoch)
    if isinstance(keyring_or_key, (bytes, bytearray)):
        _check_key(keyring_or_key)
        folder_key = bytes(keyring_or_key)
    else:
        folder_key = _lookup(keyring_or_key, epoch)
    if not isinstance(plain_hash, (bytes, bytearray)) or len(plain_hash) != HASH_SIZE:
        raise ValueError("plain_hash must be the 32-byte BLAKE3 hash of the block")
    return blake2b(
        _HEADER.pack(0, epoch)[1:] + bytes(plain_hash),
        digest_size=32,
        key=_subkey(folder_key, b"block-id"),
        encoder=RawEncoder,
    ).hex()


block_id = _block_id


def _block_aad(folder: str, bid: str) -> bytes:
    if not isinstance(bid, str) or len(bid) != 64:
        raise ValueError("a block ID is 64 hex characters")
    return _lp(folder, "folder") + bid.encode("ascii")


def seal_block(
    plaintext: bytes | bytearray | memoryview,
    *,
    folder: str,
    epoch: int,
    folder_key: bytes,
    plain_hash: bytes | None = None,
) -> tuple[str, bytes]:
    """Compress (when it helps), pad and encrypt one block → ``(block_id, ciphertext)``.

    ``plain_hash`` is the block's BLAKE3 hash from the scan; it is checked against ``plaintext``
    (:class:`BlockHashMismatch` if the content changed since) and computed when omitted."""
    _check_epoch(epoch)
    _check_key(folder_key)
    if len(plaintext) > MAX_BLOCK_SIZE:
        raise ValueError(f"block of {len(plaintext)} bytes exceeds the maximum of {MAX_BLOCK_SIZE}")
    actual = blake3.blake3(plaintext, max_threads=1).digest()
    if plain_hash is not None and bytes(plain_hash) != actual:
        raise BlockHashMismatch(
            "the block's content does not match its hash (did the file change while it was read?)"
        )
    folder_key = bytes(folder_key)
    bid = _block_id(folder_key, epoch, actual)
    flags, body = 0, plaintext
    if len(plaintext) >= 64:
        packed = _compressor().compress(plaintext)
        if padded_size(_INNER.size + len(packed)) < padded_size(_INNER.size + len(plaintext)):
            flags, body = FLAG_ZSTD, packed
    inner = _pad(flags, body)
    ct = _encrypt(inner, _block_aad(folder, bid), _BLOCK_TAG, epoch, _subkey(folder_key, b"block-aead"))
    return bid, ct


def open_block(
    ciphertext: bytes,
    *,
    folder: str,
    block_id: str,
    keys: KeySource,
    expected_plain_hash: bytes,
) -> bytes:
    """Decrypt and verify a block: AEAD (folder, epoch, block ID), padding, BLAKE3 == expected.

    ``keys`` gives the folder key for the epoch named in the ciphertext: a
    :class:`sync.keys.FolderKeyring`, a mapping ``epoch -> key`` or a callable ``epoch -> key``."""
    bid = block_id
    if not isinstance(expected_plain_hash, (bytes, bytearray)) or len(expected_plain_hash) != HASH_SIZE:
        raise ValueError("expected_plain_hash must be a 32-byte BLAKE3 hash")
    epoch, inner = _decrypt(
        ciphertext, _block_aad(folder, bid), _BLOCK_TAG, keys, b"block-aead", f"block {bid[:12]}"
    )
    flags, body = _unpad(inner)
    if flags & ~FLAG_ZSTD:
        raise UnsupportedVersion(
            "this block uses a feature of a newer version of Cove: upgrade Cove to read it"
        )
    if flags & FLAG_ZSTD:
        try:
            size = zstandard.frame_content_size(body)
            if size < 0 or size > MAX_BLOCK_SIZE:
                raise MalformedCiphertext("compressed block declares no or an oversized content size")
            plaintext = _decompressor().decompress(body, max_output_size=MAX_BLOCK_SIZE)
        except zstandard.ZstdError as exc:
            raise MalformedCiphertext(f"compressed block is corrupt: {exc}") from None
    else:
        plaintext = body
    checked = verified(plaintext, bytes(expected_plain_hash))
    if checked is None:
        raise ContentMismatch(
            f"block {bid[:12]} decrypted, but it is not the content that was expected (wrong block)"
        )
    if _block_id(_lookup(keys, epoch), epoch, checked.hash) != bid:
        raise ContentMismatch(f"block {bid[:12]} is stored under an ID that does not match its content")
    return checked


# --- log entry payloads ------------------------------------------------------------------------------


def _payload_aad(folder: str, device_id: str, seq: int) -> bytes:
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise ValueError("seq must be a non-negative 64-bit integer")
    return _lp(folder, "folder") + _lp(device_id, "device_id") + seq.to_bytes(8, "big")


def _max_payload() -> int:
    lo, hi = 0, MAX_PAYLOAD_CIPHERTEXT
    while lo < hi:  # largest n with OVERHEAD + padded_size(5 + n) <= limit
        mid = (lo + hi + 1) // 2
        if OVERHEAD + padded_size(_INNER.size + mid) <= MAX_PAYLOAD_CIPHERTEXT:
            lo = mid
        else:
            hi = mid - 1
    return lo


#: Largest payload whose sealed form fits in a log entry (``MAX_ENTRY_CIPHERTEXT`` = 1 MiB).
MAX_PAYLOAD_SIZE = _max_payload()


def seal_payload(
    payload: bytes, *, folder: str, epoch: int, device_id: str, seq: int, folder_key: bytes
) -> bytes:
    """Pad and encrypt a log entry payload; AAD binds folder, epoch, device and sequence number."""
    _check_epoch(epoch)
    _check_key(folder_key)
    if len(payload) > MAX_PAYLOAD_SIZE:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the maximum of {MAX_PAYLOAD_SIZE}")
    inner = _pad(0, payload)
    aad = _payload_aad(folder, device_id, seq)
    return _encrypt(inner, aad, _PAYLOAD_TAG, epoch, _subkey(bytes(folder_key), b"payload-aead"))


def open_payload(
    ciphertext: bytes, *, folder: str, device_id: str, seq: int, key_for_epoch: KeySource
) -> bytes:
    """Decrypt a log entry payload sealed for exactly this folder, device and seq.

    ``key_for_epoch``: a callable ``epoch -> key``, a mapping, or a :class:`sync.keys.FolderKeyring`.
    Use :func:`peek_epoch` to learn the epoch (it is authenticated once this returns)."""
    aad = _payload_aad(folder, device_id, seq)
    _, inner = _decrypt(
        ciphertext, aad, _PAYLOAD_TAG, key_for_epoch, b"payload-aead", f"entry {seq} of {device_id[:7]}"
    )
    flags, body = _unpad(inner)
    if flags != 0:
        raise UnsupportedVersion(
            "this entry uses a feature of a newer version of Cove: upgrade Cove to read it"
        )
    return bytes(body)


# --- benchmark ---------------------------------------------------------------------------------------


def _bench(block_size: int = 256 * 1024, total: int = 32 * 1024 * 1024, rounds: int = 5) -> dict[str, float]:
    """Seal then open ``total`` bytes of random ``block_size`` blocks on one thread → best MB/s."""
    import os
    import time

    key = os.urandom(32)
    folder = "bench-folder-0000"
    data = [os.urandom(block_size) for _ in range(8)]
    hashes = [blake3.blake3(d).digest() for d in data]
    n = total // block_size
    keys = {0: key}
    seal_t = open_t = aead_t = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        sealed = [
            seal_block(data[i % 8], folder=folder, epoch=0, folder_key=key, plain_hash=hashes[i % 8])
            for i in range(n)
        ]
        t1 = time.perf_counter()
        for i, (bid, ct) in enumerate(sealed):
            open_block(ct, folder=folder, block_id=bid, keys=keys, expected_plain_hash=hashes[i % 8])
        t2 = time.perf_counter()
        for i in range(n):  # the bare AEAD, for comparison
            crypto_aead_xchacha20poly1305_ietf_encrypt(data[i % 8], b"", b"n" * NONCE_SIZE, key)
        t3 = time.perf_counter()
        seal_t, open_t, aead_t = min(seal_t, t1 - t0), min(open_t, t2 - t1), min(aead_t, t3 - t2)
    mb = n * block_size / 1e6
    return {
        "block_KiB": block_size // 1024,
        "seal_MBps": round(mb / seal_t),
        "open_MBps": round(mb / open_t),
        "bare_aead_MBps": round(mb / aead_t),
    }


if __name__ == "__main__":
    for size in (64 * 1024, 256 * 1024, 1024 * 1024):
        print(_bench(size))
