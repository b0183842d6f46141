"""Name rules as tables: names other systems cannot hold, and names that collide."""

from __future__ import annotations

import unicodedata

import pytest

from sync.changes import ErrorKind
from sync.names import fold, find_collisions, name_issues

K = ErrorKind


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("report.txt", []),
        (".hidden", []),
        ("café", []),
        ("CON", [K.RESERVED_NAME]),
        ("con", [K.RESERVED_NAME]),
        ("aux.txt", [K.RESERVED_NAME]),
        ("Nul.tar.gz", [K.RESERVED_NAME]),
        ("COM1", [K.RESERVED_NAME]),
        ("lpt9.log", [K.RESERVED_NAME]),
        ("COM¹", [K.RESERVED_NAME]),
        ("CON .txt", [K.RESERVED_NAME]),
        ("CONSOLE", []),
        ("COM0", []),
        ("auxiliary", []),
        ("a:b", [K.INVALID_CHARACTER]),
        ('say "hi"', [K.INVALID_CHARACTER]),
        ("what?", [K.INVALID_CHARACTER]),
        ("a*b|c<d>e", [K.INVALID_CHARACTER]),
        ("back\\slash", [K.INVALID_CHARACTER]),
        ("tab\there", [K.INVALID_CHARACTER]),
        ("bell\x07", [K.INVALID_CHARACTER]),
        ("name.", [K.TRAILING_DOT_OR_SPACE]),
        ("name ", [K.TRAILING_DOT_OR_SPACE]),
        ("aux.", [K.RESERVED_NAME, K.TRAILING_DOT_OR_SPACE]),
        ("x" * 255, []),
        ("x" * 256, [K.NAME_TOO_LONG]),
        ("é" * 128, [K.NAME_TOO_LONG]),  # 256 UTF-8 bytes
        ("é" * 127, []),
        ("bad\udcffbyte", [K.UNDECODABLE_NAME]),
    ],
)
def test_name_issues_table(name, kinds):
    assert [i.kind for i in name_issues(name)] == kinds


NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("A.txt", "a.txt", True),
        (NFC, NFD, True),
        (NFC.upper(), NFD, True),
        ("straße", "strasse", False),  # simple folding, as NTFS and APFS compare
        ("ΣΑΣ", "σας", False),  # final sigma folds differently one-to-one ...
        ("Σ", "σ", True),
        ("a", "b", False),
    ],
)
def test_fold_table(a, b, same):
    assert (fold(a) == fold(b)) is same


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["a.txt", "b.txt"], []),
        (["A.txt", "a.txt"], [(K.CASE_COLLISION, ("A.txt", "a.txt"))]),
        ([f"d/{NFC}", f"d/{NFD}"], [(K.NORMALIZATION_COLLISION, tuple(sorted((f"d/{NFC}", f"d/{NFD}"))))]),
        (["x/A", "y/a"], []),  # different parents never collide
        (["Dir", "dir", "Dir/f", "dir/f"], [(K.CASE_COLLISION, ("Dir", "dir"))]),  # reported once
        (["a", "A", "á"], [(K.CASE_COLLISION, ("A", "a"))]),
        ([NFC, NFD.upper()], [(K.CASE_COLLISION, tuple(sorted((NFC, NFD.upper()))))]),
    ],
)
def test_find_collisions_table(paths, expected):
    assert [(c.kind, c.paths) for c in find_collisions(paths)] == expected
