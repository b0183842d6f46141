"""The body of a batch block upload, ``POST /v1/folders/{folder}/blocks``.

A concatenation of frames, one per block, with nothing before, between or after them::

    block ID  32 bytes   (the raw bytes of the 64-hex-character block ID)
    sha256    32 bytes   (SHA-256 of the ciphertext that follows)
    length     4 bytes   (unsigned, big-endian; 1 .. max_block_bytes)
    data      length bytes

A pure leaf module (no server imports) so clients can use :func:`encode` / :func:`frame_header`;
the relay parses frames incrementally as the body streams in.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable

HEADER = struct.Struct(">32s32sI")
HEADER_SIZE = HEADER.size  # 68
CONTENT_TYPE = "application/x-cove-blocks"


def frame_header(block_id: str, data: bytes, sha256: str | None = None) -> bytes:
    digest = bytes.fromhex(sha256) if sha256 is not None else hashlib.sha256(data).digest()
    return HEADER.pack(bytes.fromhex(block_id), digest, len(data))


def encode(blocks: Iterable[tuple[str, bytes]]) -> list[bytes]:
    """The body as a list of parts (headers and the data buffers themselves, not copied)."""
    parts: list[bytes] = []
    for block_id, data in blocks:
        parts.append(frame_header(block_id, data))
        parts.append(data)
    return parts


def parse_header(raw: bytes) -> tuple[str, str, int]:
    """(block ID hex, sha256 hex, length) of one frame header."""
    block_id, digest, length = HEADER.unpack(raw)
    return block_id.hex(), digest.hex(), length
