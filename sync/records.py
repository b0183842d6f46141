"""File records and version vectors: the data a folder's state is made of, and pure decisions on it.

A folder's state is a set of :class:`FileRecord` (path, type, size, mtime, mode, blocks, version
vector, deleted flag). :class:`VersionVector` decides causality between two versions of a path;
clocks only ever break ties, and that happens elsewhere (the planner), never here.

Everything in this module is immutable and free of I/O, so the rules are tested as tables.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

FORMAT_VERSION = 1


class Ordering(enum.Enum):
    """How version ``a`` relates to version ``b``."""

    EQUAL = "equal"
    NEWER = "newer"  # a strictly dominates b
    OLDER = "older"  # b strictly dominates a
    CONCURRENT = "concurrent"  # neither dominates: a conflict unless contents agree


@dataclass(frozen=True)
class VersionVector:
    """A mapping of device short ID to counter; absent devices count as zero.

    Counters are logical: each device bumps its own entry to one more than the largest counter it
    has seen in the vector (Syncthing's scheme uses clock-seeded counters; we keep plain integers,
    which is enough since ties are broken by the planner, not by the vector).
    """

    counters: tuple[tuple[str, int], ...] = ()

    @staticmethod
    def of(mapping: Mapping[str, int]) -> VersionVector:
        return VersionVector(tuple(sorted((k, v) for k, v in mapping.items() if v > 0)))

    def as_dict(self) -> dict[str, int]:
        return dict(self.counters)

    def get(self, device: str) -> int:
        for k, v in self.counters:
            if k == device:
                return v
        return 0

    def bump(self, device: str) -> VersionVector:
        """The vector after ``device`` makes a change on top of this version."""
        top = max((v for _, v in self.counters), default=0)
        d = self.as_dict()
        d[device] = top + 1
        return VersionVector.of(d)

    def merge(self, other: VersionVector) -> VersionVector:
        """Element-wise maximum: a version that has seen both."""
        d = self.as_dict()
        for k, v in other.counters:
            if v > d.get(k, 0):
                d[k] = v
        return VersionVector.of(d)

    def compare(self, other: VersionVector) -> Ordering:
        return compare(self, other)

    def is_empty(self) -> bool:
        return not self.counters

    def to_json(self) -> str:
        return json.dumps(dict(self.counters), separators=(",", ":"), sort_keys=True)

    @staticmethod
    def from_json(text: str | None) -> VersionVector:
        if not text:
            return VersionVector()
        return _vector_from_json(text)

    def __str__(self) -> str:
        return "{" + ", ".join(f"{k[:7]}:{v}" for k, v in self.counters) + "}"


@functools.lru_cache(maxsize=4096)
def _vector_from_json(text: str) -> VersionVector:
    """Parsing is cached: a folder's records share few distinct vectors, and vectors are
    immutable, so a 100k-file index loads with a few thousand parses instead of 100k."""
    data = json.loads(text)
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in data.items()
    ):
        raise ValueError(f"malformed version vector: {text!r}")
    return VersionVector.of(data)


def compare(a: VersionVector, b: VersionVector) -> Ordering:
    """Pure comparison of two version vectors."""
    da, db = a.as_dict(), b.as_dict()
    a_ahead = any(v > db.get(k, 0) for k, v in da.items())
    b_ahead = any(v > da.get(k, 0) for k, v in db.items())
    if a_ahead and b_ahead:
        return Ordering.CONCURRENT
    if a_ahead:
        return Ordering.NEWER
    if b_ahead:
        return Ordering.OLDER
    return Ordering.EQUAL


class FileType(enum.Enum):
    FILE = "file"
    DIRECTORY = "dir"
    SYMLINK = "symlink"


@dataclass(frozen=True, slots=True)
class Block:
    """One content-defined chunk of a file: its strong hash and length. Offsets are cumulative."""

    hash: bytes
    size: int


@dataclass(frozen=True, slots=True)
class FileRecord:
    """What the index knows of one path.

    ``path`` is relative to the folder root, with ``/`` separators, exactly as the name is on disk
    (no Unicode normalisation applied; collisions are detected and reported, never merged).
    ``content_hash`` is the file's strong hash (see :mod:`sync.chunker`); for a symlink,
    ``symlink_target`` holds the link text and the hash covers it. Directories have neither.
    """

    path: str
    type: FileType
    size: int = 0
    mtime_ns: int = 0
    mode: int = 0o644
    inode: int = 0
    content_hash: bytes | None = None
    blocks: tuple[Block, ...] = ()
    symlink_target: str | None = None
    version: VersionVector = field(default_factory=VersionVector)
    deleted: bool = False
    sequence: int = 0
    modified_by: str = ""

    def same_content(self, other: FileRecord) -> bool:
        """Same type and bytes (or link target); metadata such as mtime is not compared."""
        if self.type != other.type or self.deleted != other.deleted:
            return False
        if self.type is FileType.DIRECTORY:
            return True
        if self.type is FileType.SYMLINK:
            return self.symlink_target == other.symlink_target
        return self.size == other.size and self.content_hash == other.content_hash

    def executable(self) -> bool:
        return bool(self.mode & 0o100)

    def with_changes(self, **changes: object) -> FileRecord:
        return replace(self, **changes)  # type: ignore[arg-type]


def encode_blocks(blocks: Iterable[Block]) -> bytes:
    """Compact storage form of a block list: per block, 4-byte big-endian size then 32-byte hash."""
    out = bytearray()
    for b in blocks:
        if len(b.hash) != 32:
            raise ValueError("block hashes are 32 bytes")
        out += b.size.to_bytes(4, "big") + b.hash
    return bytes(out)


def decode_blocks(data: bytes | None) -> tuple[Block, ...]:
    if not data:
        return ()
    if len(data) % 36:
        raise ValueError("corrupt block list")
    return tuple(
        Block(hash=data[i + 4 : i + 36], size=int.from_bytes(data[i : i + 4], "big"))
        for i in range(0, len(data), 36)
    )


@dataclass(frozen=True)
class RemoteRecord:
    """A file record as another device published it in its log."""

    origin: str  # full device ID of the device whose log carried the record
    record: FileRecord
    epoch: int = 0  # folder key epoch the record's blocks were encrypted under
