"""The peer channel: a mutually authenticated, encrypted, framed connection between two devices.

Handshake (libsodium only, no home-made primitives), over a :class:`~sync.lan.stream.FrameStream`::

    I -> R   "COVELAN2" || eph_pk_I (X25519, crypto_kx)            40 bytes, clear
    R -> I   "COVELAN2" || eph_pk_R                                  40 bytes, clear
    both     (rx, tx) = crypto_kx_{client,server}_session_keys(...)
             th = BLAKE2b-256("COVELAN2" || eph_pk_I || eph_pk_R)   (transcript hash)
    I -> R   [auth]  {"cert": device certificate, "sig": Ed25519_device("cove.lan-auth.v1" I th)}
             R verifies before it says anything about itself
    R -> I   [auth]  {"cert": ..., "sig": Ed25519_device("cove.lan-auth.v1" R th)}

Everything after the two clear hellos travels as frames ``u32 length || AES-256-GCM(payload)``,
one key per direction (the kx session keys), the nonce a 64-bit frame counter (32 zero bits, then
the counter big-endian) and the length the associated data: the record layer of TLS 1.3 and
Noise. A frame that is reordered, replayed, dropped, cut, resized or moved to the other direction
fails authentication. Every :data:`REKEY_FRAMES` frames each direction's key is replaced by a
BLAKE2b hash of itself (counter reset), far inside AES-GCM's per-key limits. AES-GCM comes from
OpenSSL through pyca/cryptography (hardware AES, ~9 GB/s here, and it releases the GIL); version
1 used libsodium's secretstream (XChaCha20-Poly1305, ~1.15 GB/s), which cost about 1.8 s of CPU
per GiB over both ends — the largest single cost of a LAN transfer. The signatures bind each
device key to this connection's ephemeral keys and role; the certificate binds the device key to
the account (:mod:`sync.lan.certs`). A peer whose certificate does not verify, or whose device
the account revoked (``refuse``: the directory's revocations and the relay's revoked devices),
gets nothing but the responder's ephemeral key: the connection is closed before any folder is
named.

A message is ``u32 header_length || header (JSON object) || body (bytes)``. Frames larger than
:data:`MAX_FRAME`, headers larger than :data:`MAX_HEADER`, undecryptable frames and non-object
headers close the connection (:class:`ProtocolError`); what a well-formed message asks is judged
by the session (:mod:`sync.lan.session`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nacl.bindings as sodium
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.encoding import RawEncoder
from nacl.exceptions import BadSignatureError
from nacl.hash import blake2b
from nacl.signing import SigningKey, VerifyKey

from sync.errors import CoveError
from sync.lan.certs import CertificateError, DeviceCertificate
from sync.lan.stream import FrameLengthError, FrameStream

MAGIC = b"COVELAN2"
AUTH_TAG = b"cove.lan-auth.v1"
PROTOCOL_VERSION = 2
MAX_FRAME = 16 * 1024 * 1024 + 4096
MAX_HEADER = 256 * 1024
HANDSHAKE_TIMEOUT_S = 10.0
FRAME_TIMEOUT_S = 60.0  # once a frame's length arrived, its bytes must follow within this
THREAD_THRESHOLD = 1024 * 1024  # larger frames are sealed/opened off the event loop
REKEY_FRAMES = 1 << 20  # frames under one key, per direction (TLS 1.3 allows 2^24.5 for AES-GCM)

_ABYTES = 16  # the GCM tag
_LEN = struct.Struct(">I")


class ChannelError(CoveError):
    pass


class ProtocolError(ChannelError):
    """The peer broke the protocol; the connection is closed."""


class AuthenticationFailed(ChannelError):
    """The peer is not a device of our account (or not the device we expected)."""


class ChannelClosed(ChannelError):
    pass


Throttle = Callable[[int], Awaitable[None]]


class CipherState:
    """One direction of a channel: AES-256-GCM under ``key`` with a frame counter as nonce.
    Sealing and opening must happen in frame order (the channel's send and receive locks)."""

    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("a channel key is 32 bytes")
        self._key = key
        self._aead = AESGCM(key)
        self._n = 0

    def nonce(self) -> tuple[AESGCM, bytes]:
        """The AEAD and nonce of the next frame (taken in order, used by one seal or open)."""
        if self._n == REKEY_FRAMES:
            self._key = hashlib.blake2b(self._key, digest_size=32, person=b"cove.lan.rekey").digest()
            self._aead = AESGCM(self._key)
            self._n = 0
        nonce = struct.pack(">IQ", 0, self._n)
        self._n += 1
        return self._aead, nonce

    @staticmethod
    def seal(aead: AESGCM, nonce: bytes, plain: bytes | memoryview) -> bytearray:
        """``u32 length || ciphertext`` of one frame, the length authenticated as well."""
        frame = bytearray(4 + len(plain) + _ABYTES)
        _LEN.pack_into(frame, 0, len(plain) + _ABYTES)
        aead.encrypt_into(nonce, plain, bytes(frame[:4]), memoryview(frame)[4:])
        return frame

    @staticmethod
    def open(aead: AESGCM, nonce: bytes, frame: bytes) -> bytes:
        """The payload of a frame (without its length prefix); InvalidTag if it was tampered."""
        return aead.decrypt(nonce, frame, _LEN.pack(len(frame)))


@dataclass
class Counters:
    bytes_in: int = 0
    bytes_out: int = 0
    frames_in: int = 0
    frames_out: int = 0


@dataclass(frozen=True)
class BodyBuffer:
    """A large message body already in place: ``buf[start:]``, with ``buf[:start]`` free for the
    header in front of it, so the message is sealed straight from ``buf`` with no copy of the
    body (a run of blocks a peer serves). Without room enough, it is copied like any body."""

    buf: bytearray
    start: int

    def __len__(self) -> int:
        return len(self.buf) - self.start


Body = bytes | BodyBuffer


def encode_message(header: dict[str, Any], body: Body = b"") -> bytes | memoryview:
    h = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    if isinstance(body, BodyBuffer):
        at = body.start - 4 - len(h)
        if at >= 0:
            _LEN.pack_into(body.buf, at, len(h))
            body.buf[at + 4 : body.start] = h
            return memoryview(body.buf)[at:]
        return struct.pack(">I", len(h)) + h + memoryview(body.buf)[body.start :]
    return struct.pack(">I", len(h)) + h + body


def decode_message(plain: bytes) -> tuple[dict[str, Any], bytes]:
    if len(plain) < 4:
        raise ProtocolError("message shorter than its header length")
    (n,) = struct.unpack(">I", plain[:4])
    if n > MAX_HEADER or n > len(plain) - 4:
        raise ProtocolError("message header length out of range")
    try:
        header = json.loads(plain[4 : 4 + n])
    except (ValueError, UnicodeDecodeError) as e:
        raise ProtocolError(f"message header is not JSON: {e}") from e
    if not isinstance(header, dict):
        raise ProtocolError("message header is not a JSON object")
    return header, plain[4 + n :]


@dataclass
class Channel:
    stream: FrameStream
    peer: DeviceCertificate
    initiator: bool
    _tx: CipherState
    _rx: CipherState
    throttle_out: Throttle | None = None  # bandwidth limits: frames sent ...
    throttle_in: Throttle | None = None  # ... and received
    counters: Counters = field(default_factory=Counters)

    def __post_init__(self) -> None:
        self._send_lock = asyncio.Lock()
        self._recv_lock = asyncio.Lock()
        self.closed = False

    @property
    def peer_id(self) -> str:
        return self.peer.device_id

    async def send(self, header: dict[str, Any], body: Body = b"") -> None:
        plain = encode_message(header, body)
        if len(plain) + _ABYTES > MAX_FRAME:
            raise ProtocolError(f"message of {len(plain)} bytes is larger than a frame")
        async with self._send_lock:
            if self.closed:
                raise ChannelClosed("channel closed")
            aead, nonce = self._tx.nonce()
            if len(plain) > THREAD_THRESHOLD:
                frame = await asyncio.to_thread(CipherState.seal, aead, nonce, plain)
            else:
                frame = CipherState.seal(aead, nonce, plain)
            if self.throttle_out is not None:
                await self.throttle_out(len(frame))
            try:
                self.stream.write(frame)
                await self.stream.drain()
            except (ConnectionError, RuntimeError) as e:
                self.close()
                raise ChannelClosed(f"connection lost: {e}") from e
            self.counters.bytes_out += len(frame)
            self.counters.frames_out += 1

    async def recv(self) -> tuple[dict[str, Any], bytes]:
        async with self._recv_lock:
            frame = await _read_frame(self.stream)
            if self.throttle_in is not None:
                await self.throttle_in(len(frame) + 4)
            self.counters.bytes_in += len(frame) + 4
            self.counters.frames_in += 1
            aead, nonce = self._rx.nonce()
            try:
                if len(frame) > THREAD_THRESHOLD:
                    plain = await asyncio.to_thread(CipherState.open, aead, nonce, frame)
                else:
                    plain = CipherState.open(aead, nonce, frame)
            except (InvalidTag, ValueError) as e:
                self.close()
                raise ProtocolError("a frame failed authentication; connection closed") from e
            return decode_message(plain)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.stream.close()


def _closed_error(e: BaseException) -> ChannelClosed:
    return ChannelClosed("peer closed the connection" if isinstance(e, EOFError) else f"connection lost: {e}")


async def _read_exactly(stream: FrameStream, n: int, timeout: float | None) -> bytes:
    try:
        if timeout is None:
            return await stream.read_exactly(n)
        return await asyncio.wait_for(stream.read_exactly(n), timeout)
    except (EOFError, ConnectionError, OSError) as e:
        raise _closed_error(e) from e
    except TimeoutError as e:
        raise ProtocolError("peer stalled in the middle of a frame") from e


async def _read_frame(stream: FrameStream, timeout: float | None = None) -> bytes | bytearray:
    """A frame's ciphertext. ``timeout``: for all of it (the handshake); otherwise waiting for a
    frame is unbounded, and once its length arrived the rest must follow within FRAME_TIMEOUT_S."""
    try:
        if timeout is None:
            return await stream.read_frame(_ABYTES, MAX_FRAME, FRAME_TIMEOUT_S)
        return await asyncio.wait_for(stream.read_frame(_ABYTES, MAX_FRAME), timeout)
    except FrameLengthError as e:
        raise ProtocolError(str(e)) from e
    except (EOFError, ConnectionError, OSError) as e:
        raise _closed_error(e) from e
    except TimeoutError as e:
        raise ProtocolError("peer stalled in the middle of a frame") from e


def _auth_bytes(role: bytes, th: bytes) -> bytes:
    return AUTH_TAG + b"\x00" + role + b"\x00" + th


async def handshake(
    stream: FrameStream,
    *,
    initiator: bool,
    device_key: SigningKey,
    cert: DeviceCertificate,
    account_sign_pk: bytes,
    expected_peer: str | None = None,
    throttle: tuple[Throttle, Throttle] | None = None,
    timeout: float = HANDSHAKE_TIMEOUT_S,
    refuse: Callable[[str], bool] | None = None,
) -> Channel:
    """Run the handshake; returns an open :class:`Channel` or raises (and closes the stream).
    ``throttle``: (outgoing, incoming) bandwidth limits for the channel's frames.
    ``refuse(device_id)`` true: the peer's device was revoked; it is refused like a non-member."""
    try:
        return await asyncio.wait_for(
            _handshake(stream, initiator, device_key, cert, account_sign_pk, expected_peer, throttle, refuse),
            timeout,
        )
    except TimeoutError as e:
        stream.close()
        raise ProtocolError("handshake timed out") from e
    except BaseException:
        stream.close()
        raise


async def _handshake(
    stream: FrameStream,
    initiator: bool,
    device_key: SigningKey,
    cert: DeviceCertificate,
    account_sign_pk: bytes,
    expected_peer: str | None,
    throttle: tuple[Throttle, Throttle] | None,
    refuse: Callable[[str], bool] | None = None,
) -> Channel:
    eph_pk, eph_sk = sodium.crypto_kx_keypair()
    try:
        stream.write(MAGIC + eph_pk)
        await stream.drain()
    except ConnectionError as e:
        raise _closed_error(e) from e
    hello = await _read_exactly(stream, len(MAGIC) + 32, None)
    if hello[: len(MAGIC)] != MAGIC:
        raise ProtocolError("not a Cove LAN peer (bad magic)")
    peer_eph = hello[len(MAGIC) :]
    if peer_eph == eph_pk:
        raise ProtocolError("reflected handshake")
    try:
        if initiator:
            rx_key, tx_key = sodium.crypto_kx_client_session_keys(eph_pk, eph_sk, peer_eph)
            th = blake2b(MAGIC + eph_pk + peer_eph, digest_size=32, encoder=RawEncoder)
        else:
            rx_key, tx_key = sodium.crypto_kx_server_session_keys(eph_pk, eph_sk, peer_eph)
            th = blake2b(MAGIC + peer_eph + eph_pk, digest_size=32, encoder=RawEncoder)
    except Exception as e:  # libsodium refuses degenerate keys
        raise ProtocolError(f"key exchange failed: {e}") from e
    tx, rx = CipherState(tx_key), CipherState(rx_key)
    placeholder = DeviceCertificate(b"\0" * 32, "", 0, b"")
    chan = Channel(stream, placeholder, initiator, tx, rx, *(throttle or (None, None)))
    my_role, peer_role = (b"I", b"R") if initiator else (b"R", b"I")

    async def send_auth() -> None:
        sig = device_key.sign(_auth_bytes(my_role, th)).signature
        await chan.send({"t": "auth", "v": PROTOCOL_VERSION, "cert": cert.to_wire(), "sig": sig.hex()})

    async def recv_auth() -> DeviceCertificate:
        header, body = await chan.recv()
        if header.get("t") != "auth" or body:
            raise ProtocolError("expected the peer's authentication first")
        if header.get("v") != PROTOCOL_VERSION:
            raise ProtocolError(f"peer speaks protocol version {header.get('v')!r}, we speak {PROTOCOL_VERSION}")
        try:
            peer_cert = DeviceCertificate.from_wire(header.get("cert"))
            sig = bytes.fromhex(header.get("sig", "")) if isinstance(header.get("sig"), str) else b""
        except (CertificateError, ValueError) as e:
            raise AuthenticationFailed(f"peer sent an unreadable certificate: {e}") from e
        if not peer_cert.verify(account_sign_pk):
            raise AuthenticationFailed("peer is not a device of this account (certificate does not verify)")
        if refuse is not None and refuse(peer_cert.device_id):
            raise AuthenticationFailed(f"peer {peer_cert.device_id[:7]} is a revoked device of this account")
        try:
            VerifyKey(peer_cert.device_pk).verify(_auth_bytes(peer_role, th), sig)
        except (BadSignatureError, ValueError, TypeError) as e:
            raise AuthenticationFailed("peer does not hold the device key its certificate names") from e
        if peer_cert.device_pk == bytes(device_key.verify_key):
            raise AuthenticationFailed("connected to ourselves")
        if expected_peer is not None and peer_cert.device_id != expected_peer:
            raise AuthenticationFailed(f"expected device {expected_peer[:7]}, found {peer_cert.device_id[:7]}")
        return peer_cert

    if initiator:
        await send_auth()
        chan.peer = await recv_auth()
    else:
        chan.peer = await recv_auth()
        await send_auth()
    return chan
