"""The scanner's pure decisions as tables: diff, needs_hash, needs_confirmation, scopes."""

from __future__ import annotations

import pytest

from sync.changes import ChangeKind
from sync.records import FileRecord, FileType
from sync.scanner import Entry, diff, needs_confirmation, needs_hash, normalize_scope, under_any

F, D, L = FileType.FILE, FileType.DIRECTORY, FileType.SYMLINK
K = ChangeKind


def f(path, h=b"h1", size=10, mtime=1, inode=0, mode=0o644):
    return FileRecord(path=path, type=F, size=size, mtime_ns=mtime, inode=inode, mode=mode, content_hash=h)


def d(path, inode=0, mode=0o755):
    return FileRecord(path=path, type=D, inode=inode, mode=mode)


def link(path, target, inode=0):
    return FileRecord(path=path, type=L, symlink_target=target, inode=inode, mode=0o777)


def summary(changes):
    return [(c.kind, c.path, c.old_path) for c in changes]


CASES = [
    ("nothing", [f("a")], [f("a")], [], []),
    ("added", [], [f("a")], [], [(K.ADDED, "a", None)]),
    ("deleted", [f("a")], [], [], [(K.DELETED, "a", None)]),
    ("modified content", [f("a")], [f("a", h=b"h2")], [], [(K.MODIFIED, "a", None)]),
    ("modified size", [f("a")], [f("a", size=11)], [], [(K.MODIFIED, "a", None)]),
    ("mode change", [f("a")], [f("a", mode=0o755)], [], [(K.MODIFIED, "a", None)]),
    ("mtime only", [f("a")], [f("a", mtime=2)], [], [(K.METADATA, "a", None)]),
    ("inode only", [f("a", inode=1)], [f("a", inode=2)], [], [(K.METADATA, "a", None)]),
    ("dir mtime ignored", [d("x")], [FileRecord(path="x", type=D, mtime_ns=5, mode=0o755)], [], []),
    ("dir mode", [d("x")], [d("x", mode=0o700)], [], [(K.MODIFIED, "x", None)]),
    ("file to dir", [f("a")], [d("a")], [], [(K.TYPE_CHANGED, "a", None)]),
    ("file to link", [f("a")], [link("a", "t")], [], [(K.TYPE_CHANGED, "a", None)]),
    ("link retarget", [link("a", "t")], [link("a", "u")], [], [(K.MODIFIED, "a", None)]),
    ("move by content", [f("a")], [f("b")], [], [(K.MOVED, "b", "a")]),
    (
        "move changed content is delete+add",
        [f("a")],
        [f("b", h=b"h2")],
        [],
        [(K.ADDED, "b", None), (K.DELETED, "a", None)],
    ),
    (
        "same hash other size is no move",
        [f("a", size=1)],
        [f("b", size=2)],
        [],
        [(K.ADDED, "b", None), (K.DELETED, "a", None)],
    ),
    ("copy is an add", [f("a")], [f("a"), f("b")], [], [(K.ADDED, "b", None)]),
    ("link move", [link("a", "t")], [link("b", "t")], [], [(K.MOVED, "b", "a")]),
    ("dir move by inode", [d("x", inode=7)], [d("y", inode=7)], [], [(K.MOVED, "y", "x")]),
    ("dir without inode: no move", [d("x")], [d("y")], [], [(K.ADDED, "y", None), (K.DELETED, "x", None)]),
    (
        "empty files pair only by inode",
        [f("a", h=b"e", size=0, inode=1), f("b", h=b"e", size=0, inode=2)],
        [f("c", h=b"e", size=0, inode=2), f("d", h=b"e", size=0, inode=9)],
        [],
        [(K.MOVED, "c", "b"), (K.ADDED, "d", None), (K.DELETED, "a", None)],
    ),
    (
        "same-name candidate wins",
        [f("x/a"), f("y/b")],
        [f("z/b")],
        [],
        [(K.MOVED, "z/b", "y/b"), (K.DELETED, "x/a", None)],
    ),
    (
        "same-inode candidate wins",
        [f("x/a", inode=1), f("y/a", inode=2)],
        [f("z/a", inode=2)],
        [],
        [(K.MOVED, "z/a", "y/a"), (K.DELETED, "x/a", None)],
    ),
    (
        "directory rename is a dir move and file moves",
        [
            d("old", inode=5),
            f("old/a", h=b"1"),
            f("old/b", h=b"2"),
            d("old/s", inode=6),
            f("old/s/c", h=b"3"),
        ],
        [
            d("new", inode=5),
            f("new/a", h=b"1"),
            f("new/b", h=b"2"),
            d("new/s", inode=6),
            f("new/s/c", h=b"3"),
        ],
        [],
        [
            (K.MOVED, "new", "old"),
            (K.MOVED, "new/a", "old/a"),
            (K.MOVED, "new/b", "old/b"),
            (K.MOVED, "new/s", "old/s"),
            (K.MOVED, "new/s/c", "old/s/c"),
        ],
    ),
    (
        "deletes deepest first, after the rest",
        [d("a"), f("a/x"), d("a/b"), f("a/b/y", h=b"2"), f("z", h=b"3")],
        [f("z", h=b"4")],
        [],
        [
            (K.MODIFIED, "z", None),
            (K.DELETED, "a/x", None),
            (K.DELETED, "a/b/y", None),
            (K.DELETED, "a/b", None),
            (K.DELETED, "a", None),
        ],
    ),
    ("protected path keeps its record", [f("a")], [], ["a"], []),
    ("protected subtree keeps records", [d("p"), f("p/a"), f("p/q/b")], [d("p")], ["p"], []),
    ("protected change is not reported", [f("a")], [f("a", h=b"2")], ["a"], []),
    ("protection is by path component", [f("pa")], [], ["p"], [(K.DELETED, "pa", None)]),
]


@pytest.mark.parametrize(
    ("name", "previous", "observed", "protected", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_diff_table(name, previous, observed, protected, expected):
    prev = {r.path: r for r in previous}
    obs = {r.path: r for r in observed}
    assert summary(diff(prev, obs, protected)) == expected


def test_diff_carries_records():
    old, new = f("a"), f("b", inode=3)
    gone = f("c", h=b"zz")
    (moved, deleted) = diff({"a": old, "c": gone}, {"b": new})
    assert moved.record is new and moved.previous is old
    assert deleted.record.deleted and deleted.record.path == "c" and deleted.previous is gone


def e(path, typ=F, size=10, mtime=1, inode=0):
    return Entry(path, typ, size, mtime, inode, 0o644)


@pytest.mark.parametrize(
    ("prev", "entry", "expected"),
    [
        (None, e("a"), True),
        (f("a"), e("a"), False),
        (f("a"), e("a", size=11), True),
        (f("a"), e("a", mtime=2), True),
        (f("a", inode=1), e("a", inode=2), True),
        (f("a"), e("a", typ=L), True),
        (None, e("a", typ=D), False),
        (f("a"), e("a", typ=D), False),  # directories are never read
    ],
)
def test_needs_hash_table(prev, entry, expected):
    assert needs_hash(prev, entry) is expected


def _deletes(n):
    return [diff({"x": f("x")}, {})[0]] * n


@pytest.mark.parametrize(
    ("deletes", "indexed", "expected"),
    [
        (0, 100, False),
        (50, 100, False),
        (51, 100, True),
        (19, 19, False),  # small folders never ask
        (11, 20, True),
        (10, 20, False),
    ],
)
def test_needs_confirmation_table(deletes, indexed, expected):
    assert needs_confirmation(_deletes(deletes), indexed) is expected


def test_moves_are_not_deletes():
    moves = diff(
        {f"p{i}": f(f"p{i}", h=bytes([i])) for i in range(30)},
        {f"q{i}": f(f"q{i}", h=bytes([i])) for i in range(30)},
    )
    assert all(c.kind is K.MOVED for c in moves)
    assert not needs_confirmation(moves, 30)


@pytest.mark.parametrize(
    ("paths", "known", "expected"),
    [
        ([""], set(), None),
        (["a/b/c", "x"], {"a", "a/b"}, ["a/b/c", "x"]),
        (["a/b/c"], {"a"}, ["a/b"]),  # new ancestor: scan from it
        (["a/b/c"], set(), ["a"]),
        (["a", "a/b", "a/b/c"], {"a", "a/b"}, ["a"]),
        (["/a/"], set(), ["a"]),
        (["ab", "a/b"], {"a"}, ["a/b", "ab"]),
    ],
)
def test_normalize_scope_table(paths, known, expected):
    assert normalize_scope(paths, known.__contains__) == expected


@pytest.mark.parametrize(
    ("path", "roots", "expected"),
    [
        ("a/b", {"a"}, True),
        ("a", {"a"}, True),
        ("ab", {"a"}, False),
        ("x", {""}, True),
        ("x", set(), False),
        ("a/b/c", {"a/b"}, True),
    ],
)
def test_under_any_table(path, roots, expected):
    assert under_any(path, roots) is expected
