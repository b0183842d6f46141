"""The plaintext payload of a log entry, and file records as exchanged between devices.

A payload is what one device tells the others in one entry of its log: a batch of file records
(with the key epoch their blocks are encrypted under), conflict records it created, and conflict
resolutions. It is encoded as canonical JSON compressed with zstd, then sealed with the folder key
(:mod:`sync.crypto`) — the relay only ever sees the sealed bytes.

Everything that arrives from elsewhere is validated here: types, sizes, and paths (a path that
would escape the folder root is refused, never "cleaned up"). A payload written by a newer Cove
raises :class:`NewerFormat` with a message that says to upgrade.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import zstandard

from sync.fileops import UnsafePath, check_relpath
from sync.records import Block, FileRecord, FileType, VersionVector

PAYLOAD_VERSION = 1
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024  # decompressed
MAX_BLOCKS_PER_RECORD = 1 << 22  # 4 Mi blocks x >= 64 KiB: 256 TiB


class PayloadError(ValueError):
    """A payload that is malformed or unsafe; the entry carrying it is refused."""


class NewerFormat(PayloadError):
    pass


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise PayloadError(f"{what} must be base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as e:
        raise PayloadError(f"{what} is not valid base64") from e


def record_to_wire(r: FileRecord) -> dict[str, Any]:
    d: dict[str, Any] = {
        "path": r.path,
        "type": r.type.value,
        "version": r.version.as_dict(),
        "by": r.modified_by,
    }
    if r.deleted:
        d["deleted"] = True
        return d
    d["mode"] = r.mode
    if r.type is FileType.FILE:
        d["size"] = r.size
        d["mtime_ns"] = r.mtime_ns
        d["hash"] = _b64(r.content_hash or b"")
        d["blocks"] = _b64(b"".join(b.size.to_bytes(4, "big") + b.hash for b in r.blocks))
    elif r.type is FileType.SYMLINK:
        d["target"] = r.symlink_target or ""
        d["mtime_ns"] = r.mtime_ns
    return d


def _int(d: Mapping[str, Any], key: str, default: int | None = None, lo: int = 0, hi: int = 2**63 - 1) -> int:
    v = d.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise PayloadError(f"field {key!r} must be an integer in [{lo}, {hi}]")
    return v


def record_from_wire(d: Any) -> FileRecord:
    if not isinstance(d, dict):
        raise PayloadError("a record must be an object")
    path = d.get("path")
    if not isinstance(path, str):
        raise PayloadError("record path must be text")
    try:
        check_relpath(path)
    except UnsafePath as e:
        raise PayloadError(f"unsafe path in record: {e}") from e
    try:
        typ = FileType(d.get("type"))
    except ValueError as e:
        raise PayloadError(f"unknown file type {d.get('type')!r}") from e
    version = d.get("version")
    if not isinstance(version, dict) or not version or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v > 0
        for k, v in version.items()
    ):
        raise PayloadError("record version must be a non-empty map of device to positive counter")
    by = d.get("by", "")
    if not isinstance(by, str):
        raise PayloadError("record 'by' must be text")
    base = FileRecord(path=path, type=typ, version=VersionVector.of(version), modified_by=by)
    if d.get("deleted") is True:
        return base.with_changes(deleted=True)
    mode = _int(d, "mode", 0o644, 0, 0o7777)
    if typ is FileType.DIRECTORY:
        return base.with_changes(mode=mode)
    if typ is FileType.SYMLINK:
        target = d.get("target")
        if not isinstance(target, str) or not target or "\x00" in target:
            raise PayloadError("symlink target must be non-empty text")
        return base.with_changes(mode=mode, symlink_target=target, mtime_ns=_int(d, "mtime_ns", 0))
    size = _int(d, "size")
    content_hash = _unb64(d.get("hash"), "hash")
    if len(content_hash) != 32:
        raise PayloadError("content hash must be 32 bytes")
    raw = _unb64(d.get("blocks", ""), "blocks")
    if len(raw) % 36 or len(raw) // 36 > MAX_BLOCKS_PER_RECORD:
        raise PayloadError("malformed block list")
    blocks = tuple(
        Block(hash=raw[i + 4 : i + 36], size=int.from_bytes(raw[i : i + 4], "big")) for i in range(0, len(raw), 36)
    )
    if sum(b.size for b in blocks) != size:
        raise PayloadError(f"block sizes of {path!r} do not add up to its size")
    return base.with_changes(
        mode=mode, size=size, mtime_ns=_int(d, "mtime_ns"), content_hash=content_hash, blocks=blocks
    )


@dataclass(frozen=True)
class Payload:
    """One log entry's content. ``records`` pairs each record with its blocks' key epoch."""

    records: tuple[tuple[FileRecord, int], ...] = ()
    conflicts: tuple[dict[str, Any], ...] = ()
    resolutions: tuple[dict[str, Any], ...] = ()
    device_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def encode_payload(p: Payload) -> bytes:
    doc = {
        "v": PAYLOAD_VERSION,
        "name": p.device_name,
        "records": [{**record_to_wire(r), "epoch": epoch} for r, epoch in p.records],
        "conflicts": list(p.conflicts),
        "resolutions": list(p.resolutions),
    }
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")
    return zstandard.ZstdCompressor(level=3).compress(text)


def decode_payload(data: bytes) -> Payload:
    try:
        text = zstandard.ZstdDecompressor().decompress(data, max_output_size=MAX_PAYLOAD_BYTES)
    except zstandard.ZstdError as e:
        raise PayloadError(f"payload does not decompress: {e}") from e
    if len(text) > MAX_PAYLOAD_BYTES:
        raise PayloadError("payload too large")
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise PayloadError("payload is not JSON") from e
    if not isinstance(doc, dict):
        raise PayloadError("payload must be an object")
    version = doc.get("v")
    if not isinstance(version, int) or isinstance(version, bool):
        raise PayloadError("payload has no format version")
    if version > PAYLOAD_VERSION:
        raise NewerFormat(
            f"this change was written by a newer Cove (payload format {version}; this Cove reads "
            f"up to {PAYLOAD_VERSION}). Upgrade Cove on this device."
        )
    records_raw = doc.get("records", [])
    conflicts = doc.get("conflicts", [])
    resolutions = doc.get("resolutions", [])
    name = doc.get("name", "")
    if not isinstance(records_raw, list) or not isinstance(conflicts, list) or not isinstance(resolutions, list):
        raise PayloadError("payload lists are malformed")
    if not all(isinstance(c, dict) for c in conflicts) or not all(isinstance(r, dict) for r in resolutions):
        raise PayloadError("conflict and resolution entries must be objects")
    if not isinstance(name, str):
        raise PayloadError("device name must be text")
    records: list[tuple[FileRecord, int]] = []
    seen: set[str] = set()
    for raw in records_raw:
        rec = record_from_wire(raw)
        if rec.path in seen:
            raise PayloadError(f"path {rec.path!r} appears twice in one entry")
        seen.add(rec.path)
        records.append((rec, _int(raw, "epoch", 0, 0, 2**31)))
    return Payload(tuple(records), tuple(conflicts), tuple(resolutions), name)


def encode_records_json(records: Sequence[FileRecord]) -> str:
    """Records as JSON text for local storage (the index's remote table, conflict records)."""
    return json.dumps([record_to_wire(r) for r in records], separators=(",", ":"), sort_keys=True)
