"""Table tests of version vectors: compare, bump, merge; and the block list encoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.records import (
    Block,
    FileRecord,
    FileType,
    Ordering,
    VersionVector,
    compare,
    decode_blocks,
    encode_blocks,
)

V = VersionVector.of


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ({}, {}, Ordering.EQUAL),
        ({"A": 1}, {"A": 1}, Ordering.EQUAL),
        ({"A": 1, "B": 0}, {"A": 1}, Ordering.EQUAL),  # absent counts as zero
        ({"A": 2}, {"A": 1}, Ordering.NEWER),
        ({"A": 1}, {}, Ordering.NEWER),
        ({"A": 1, "B": 1}, {"A": 1}, Ordering.NEWER),
        ({"A": 1}, {"A": 2}, Ordering.OLDER),
        ({}, {"B": 3}, Ordering.OLDER),
        ({"A": 1}, {"A": 1, "B": 1}, Ordering.OLDER),
        ({"A": 1}, {"B": 1}, Ordering.CONCURRENT),
        ({"A": 2, "B": 1}, {"A": 1, "B": 2}, Ordering.CONCURRENT),
        ({"A": 3, "B": 1, "C": 5}, {"A": 3, "B": 1, "C": 5}, Ordering.EQUAL),
        ({"A": 3, "B": 2, "C": 5}, {"A": 3, "B": 1, "C": 5}, Ordering.NEWER),
    ],
)
def test_compare_table(a, b, expected):
    assert compare(V(a), V(b)) is expected
    assert V(a).compare(V(b)) is expected


_MIRROR = {
    Ordering.EQUAL: Ordering.EQUAL,
    Ordering.NEWER: Ordering.OLDER,
    Ordering.OLDER: Ordering.NEWER,
    Ordering.CONCURRENT: Ordering.CONCURRENT,
}


@pytest.mark.parametrize(
    ("start", "device", "expected"),
    [
        ({}, "A", {"A": 1}),
        ({"A": 1}, "A", {"A": 2}),
        ({"A": 1}, "B", {"A": 1, "B": 2}),  # one more than the largest counter seen
        ({"A": 5, "B": 2}, "B", {"A": 5, "B": 6}),
        ({"A": 5, "B": 7}, "A", {"A": 8, "B": 7}),
    ],
)
def test_bump_table(start, device, expected):
    before = V(start)
    after = before.bump(device)
    assert after == V(expected)
    assert compare(after, before) is Ordering.NEWER


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ({}, {}, {}),
        ({"A": 1}, {}, {"A": 1}),
        ({"A": 1}, {"B": 2}, {"A": 1, "B": 2}),
        ({"A": 3, "B": 1}, {"A": 1, "B": 4}, {"A": 3, "B": 4}),
    ],
)
def test_merge_table(a, b, expected):
    merged = V(a).merge(V(b))
    assert merged == V(expected)
    assert compare(merged, V(a)) in (Ordering.NEWER, Ordering.EQUAL)
    assert compare(merged, V(b)) in (Ordering.NEWER, Ordering.EQUAL)


def test_concurrent_edits_resolved_by_merge_then_bump():
    base = V({"A": 1})
    a, b = base.bump("A"), base.bump("B")
    assert compare(a, b) is Ordering.CONCURRENT
    resolved = a.merge(b).bump("A")
    assert compare(resolved, a) is Ordering.NEWER
    assert compare(resolved, b) is Ordering.NEWER


vectors = st.dictionaries(st.sampled_from("ABCD"), st.integers(0, 5)).map(V)


@given(vectors, vectors)
def test_compare_is_antisymmetric(a, b):
    assert compare(b, a) is _MIRROR[compare(a, b)]


@given(vectors, vectors)
def test_merge_dominates_both(a, b):
    m = a.merge(b)
    assert compare(m, a) in (Ordering.NEWER, Ordering.EQUAL)
    assert compare(m, b) in (Ordering.NEWER, Ordering.EQUAL)
    assert a.merge(b) == b.merge(a)


@given(vectors)
def test_json_round_trip(v):
    assert VersionVector.from_json(v.to_json()) == v


@pytest.mark.parametrize("text", ["[1]", '{"A": -1}', '{"A": "1"}', "{1: 2}"])
def test_from_json_rejects_malformed(text):
    with pytest.raises(ValueError):
        VersionVector.from_json(text)


def test_block_list_round_trip():
    blocks = (Block(b"\x01" * 32, 65536), Block(b"\x02" * 32, 1))
    assert decode_blocks(encode_blocks(blocks)) == blocks
    assert decode_blocks(None) == ()
    with pytest.raises(ValueError):
        decode_blocks(b"\x00" * 35)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (
            dict(type=FileType.FILE, size=1, content_hash=b"h"),
            dict(type=FileType.FILE, size=1, content_hash=b"h", mtime_ns=9),
            True,
        ),
        (
            dict(type=FileType.FILE, size=1, content_hash=b"h"),
            dict(type=FileType.FILE, size=1, content_hash=b"x"),
            False,
        ),
        (
            dict(type=FileType.FILE, size=1, content_hash=b"h"),
            dict(type=FileType.SYMLINK, symlink_target="h"),
            False,
        ),
        (
            dict(type=FileType.SYMLINK, symlink_target="t"),
            dict(type=FileType.SYMLINK, symlink_target="t"),
            True,
        ),
        (dict(type=FileType.DIRECTORY), dict(type=FileType.DIRECTORY, mode=0o700), True),
        (dict(type=FileType.FILE, deleted=True), dict(type=FileType.FILE), False),
    ],
)
def test_same_content_table(a, b, same):
    assert FileRecord(path="p", **a).same_content(FileRecord(path="p", **b)) is same
