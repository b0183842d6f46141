"""Which names other systems cannot hold, and which names collide: pure rules on path strings.

A folder syncs between Linux, macOS and Windows. A name that is fine here may be impossible on
another device (``aux.txt``, ``a:b``, ``name.``), and two names that differ here may be one name
there: ``A.txt`` and ``a.txt`` on case-insensitive filesystems (Windows, macOS by default), or the
NFC and NFD spellings of ``café`` on macOS. The scanner keeps every such file indexed under its
exact path and reports it with one of these kinds; the rules here only *describe*, they never
rename or merge anything.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sync.changes import ErrorKind

MAX_NAME_BYTES = 255  # ext4, APFS, btrfs: 255 bytes of UTF-8; NTFS: 255 UTF-16 units
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{p}{i}" for p in ("COM", "LPT") for i in [*"123456789", "¹", "²", "³"]]
)
_RESERVED_PREFIXES = frozenset(n[:3] for n in _RESERVED)
_INVALID_CHARS = re.compile(r'[<>:"|?*\\\x00-\x1f]')


@dataclass(frozen=True)
class NameIssue:
    kind: ErrorKind
    message: str


def name_issues(name: str) -> list[NameIssue]:
    """Problems of one path component (not a whole path) on other systems; empty if portable.

    Called for every entry of every scan, so the common case (nothing wrong) does little work."""
    try:
        n_bytes = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # surrogate escapes: the name on disk is not valid UTF-8
        return [NameIssue(ErrorKind.UNDECODABLE_NAME, "name is not valid UTF-8; it cannot be synced")]
    issues: list[NameIssue] = []
    if len(name) >= 3 and name[:3].upper() in _RESERVED_PREFIXES:
        base = name.split(".", 1)[0].rstrip(" ").upper()
        if base in _RESERVED:
            issues.append(NameIssue(ErrorKind.RESERVED_NAME, f"{base} is a reserved name on Windows"))
    if _INVALID_CHARS.search(name):
        shown = " ".join(repr(c)[1:-1] for c in sorted(set(_INVALID_CHARS.findall(name))))
        issues.append(NameIssue(ErrorKind.INVALID_CHARACTER, f"characters not allowed on Windows: {shown}"))
    if name[-1:] in (".", " ") and name not in (".", ".."):
        issues.append(
            NameIssue(ErrorKind.TRAILING_DOT_OR_SPACE, "Windows cannot hold a name ending in a dot or space")
        )
    # A name never has more UTF-16 units than UTF-8 bytes: the byte limit is the stricter one.
    if n_bytes > MAX_NAME_BYTES:
        issues.append(NameIssue(ErrorKind.NAME_TOO_LONG, f"name is longer than {MAX_NAME_BYTES} bytes"))
    return issues


def fold(name: str) -> str:
    """The key under which case-insensitive, normalization-insensitive systems see a name.

    NFC, then simple (one-to-one) lowercase per character, as NTFS and APFS compare names: full
    case folding would wrongly call ``straße`` and ``strasse`` one name.
    """
    if name.isascii():
        return name.lower()
    nfc = unicodedata.normalize("NFC", name)
    return "".join(low if len(low := c.lower()) == 1 else c for c in nfc)


@dataclass(frozen=True)
class Collision:
    """Sibling names that another system would see as one; ``kind`` says why."""

    kind: ErrorKind
    paths: tuple[str, ...]


def find_collisions(paths: Iterable[str]) -> list[Collision]:
    """Groups of sibling paths (same parent, exact) whose names fold to the same key.

    A collision of two directories is reported once, at the directories; their children are not
    reported again. The kind is NORMALIZATION_COLLISION when all names are one name after NFC,
    else CASE_COLLISION.
    """
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in paths:
        parent, _, name = path.rpartition("/")
        groups[(parent, fold(name))].append(path)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort()
        nfc = {unicodedata.normalize("NFC", p.rpartition("/")[2]) for p in members}
        kind = ErrorKind.NORMALIZATION_COLLISION if len(nfc) == 1 else ErrorKind.CASE_COLLISION
        out.append(Collision(kind, tuple(members)))
    out.sort(key=lambda c: c.paths)
    return out
