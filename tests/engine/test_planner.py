"""Table tests of the planner: per-path resolution, conflict names and records, and whole plans
(ordering, moves, conflict copies, directories that outlive a remote delete)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import pytest

from sync.planner import (
    Action,
    ActionKind,
    ConflictKind,
    ConflictRecord,
    ConflictSide,
    DiskChange,
    Plan,
    conflict_id,
    conflict_name,
    copy_version,
    plan,
    resolve,
)
from sync.records import (
    Block,
    FileRecord,
    FileType,
    Ordering,
    RemoteRecord,
    VersionVector,
    compare,
)

DEV_A = "-".join(["AAAAAAA"] * 8)
DEV_B = "-".join(["BBBBBBB"] * 8)
DEV_C = "-".join(["CCCCCCC"] * 8)
A, B, C = "A" * 13, "B" * 13, "C" * 13  # short IDs, the keys of version vectors
FULL = {A: DEV_A, B: DEV_B, C: DEV_C}
NAMES = {DEV_A: "alpha", DEV_B: "bravo", DEV_C: "charlie"}
NOW = 1_795_000_000 * 10**9  # 2026-11-18 11:06:40 UTC


def V(**counters: int) -> VersionVector:
    return VersionVector.of({{"a": A, "b": B, "c": C}[k]: n for k, n in counters.items()})


def f(
    content: str = "x",
    v: VersionVector | None = None,
    *,
    path: str = "doc.txt",
    mtime: int = 1,
    mode: int = 0o644,
    by: str = A,
) -> FileRecord:
    data = content.encode()
    h = hashlib.sha256(data).digest()
    return FileRecord(
        path=path,
        type=FileType.FILE,
        size=len(data),
        mtime_ns=mtime,
        mode=mode,
        content_hash=h,
        blocks=(Block(h, len(data)),) if data else (),
        version=v or V(a=1),
        modified_by=by,
    )


def tomb(v: VersionVector, *, path: str = "doc.txt", by: str = A, type: FileType = FileType.FILE) -> FileRecord:
    return FileRecord(path=path, type=type, version=v, deleted=True, modified_by=by)


def d(v: VersionVector | None = None, *, path: str = "doc.txt", mtime: int = 1, by: str = A) -> FileRecord:
    return FileRecord(path=path, type=FileType.DIRECTORY, mode=0o755, mtime_ns=mtime, version=v or V(a=1), modified_by=by)


def link(target: str, v: VersionVector, *, path: str = "doc.txt", mtime: int = 1, by: str = A) -> FileRecord:
    h = hashlib.sha256(target.encode()).digest()
    return FileRecord(
        path=path, type=FileType.SYMLINK, mtime_ns=mtime, content_hash=h, symlink_target=target, version=v, modified_by=by
    )


def rr(record: FileRecord) -> RemoteRecord:
    """A remote record published by the device that authored it."""
    return RemoteRecord(origin=FULL[record.modified_by], record=record)


def same(a: FileRecord, b: FileRecord) -> bool:
    return a.same_content(b) and a.mode == b.mode


# --- resolve ---------------------------------------------------------------------------------------

# (id, device, local, remotes, expected content, expected version, disk, conflict, local_lost)
RESOLVE_CASES = [
    ("remote-newer", DEV_A, f("x", V(a=1)), [f("y", V(a=1, b=2), by=B)], f("y"), V(a=1, b=2),
     DiskChange.CONTENT, ConflictKind.NONE, False),
    ("remote-older", DEV_A, f("y", V(a=2, b=1)), [f("x", V(b=1), by=B)], f("y"), V(a=2, b=1),
     DiskChange.NONE, ConflictKind.NONE, False),
    ("remote-equal", DEV_A, f("x", V(b=1), by=B), [f("x", V(b=1), by=B)], f("x"), V(b=1),
     DiskChange.NONE, ConflictKind.NONE, False),
    ("no-local-remote-file", DEV_A, None, [f("y", V(b=1), by=B)], f("y"), V(b=1),
     DiskChange.CONTENT, ConflictKind.NONE, False),
    ("no-local-remote-tombstone", DEV_A, None, [tomb(V(b=2), by=B)], tomb(V()), V(b=2),
     DiskChange.NONE, ConflictKind.NONE, False),
    ("edit-edit-later-mtime-remote-wins", DEV_A, f("x", V(a=1), mtime=5), [f("y", V(b=1), mtime=9, by=B)],
     f("y"), V(a=1, b=1), DiskChange.CONTENT, ConflictKind.CONTENT, True),
    ("edit-edit-later-mtime-local-wins", DEV_A, f("x", V(a=1), mtime=9), [f("y", V(b=1), mtime=5, by=B)],
     f("x"), V(a=1, b=1), DiskChange.NONE, ConflictKind.CONTENT, False),
    ("edit-edit-mtime-tie-larger-device-B-wins", DEV_A, f("x", V(a=1), mtime=5), [f("y", V(b=1), mtime=5, by=B)],
     f("y"), V(a=1, b=1), DiskChange.CONTENT, ConflictKind.CONTENT, True),
    ("edit-edit-mtime-tie-local-C-wins", DEV_C, f("x", V(c=1), mtime=5, by=C), [f("y", V(b=1), mtime=5, by=B)],
     f("x"), V(b=1, c=1), DiskChange.NONE, ConflictKind.CONTENT, False),
    ("local-edit-beats-remote-delete", DEV_A, f("x", V(a=2, b=1)), [tomb(V(b=3), by=B)],
     f("x"), V(a=2, b=3), DiskChange.NONE, ConflictKind.EDIT_DELETE, False),
    ("remote-edit-beats-local-delete", DEV_A, tomb(V(a=2, b=1)), [f("y", V(b=3), by=B)],
     f("y"), V(a=2, b=3), DiskChange.CONTENT, ConflictKind.EDIT_DELETE, False),
    ("delete-delete-merges", DEV_A, tomb(V(a=2, b=1)), [tomb(V(b=3), by=B)],
     tomb(V()), V(a=2, b=3), DiskChange.NONE, ConflictKind.NONE, False),
    ("same-content-concurrent-merges", DEV_A, f("x", V(a=1), mtime=5), [f("x", V(b=1), mtime=7, by=B)],
     f("x"), V(a=1, b=1), DiskChange.NONE, ConflictKind.NONE, False),
    ("type-conflict-remote-dir-beats-local-file", DEV_A, f("x", V(a=1), mtime=9), [d(V(b=1), by=B)],
     d(), V(a=1, b=1), DiskChange.CONTENT, ConflictKind.CONTENT, True),
    ("type-conflict-local-dir-beats-remote-file", DEV_A, d(V(a=1)), [f("y", V(b=1), mtime=9, by=B)],
     d(), V(a=1, b=1), DiskChange.NONE, ConflictKind.CONTENT, False),
    ("type-conflict-file-vs-symlink-by-mtime", DEV_A, f("x", V(a=1), mtime=3), [link("t", V(b=1), mtime=4, by=B)],
     link("t", V()), V(a=1, b=1), DiskChange.CONTENT, ConflictKind.CONTENT, True),
    ("three-concurrent-latest-wins", DEV_A, f("x", V(a=1), mtime=5),
     [f("y", V(b=1), mtime=7, by=B), f("z", V(c=1), mtime=6, by=C)],
     f("y"), V(a=1, b=1, c=1), DiskChange.CONTENT, ConflictKind.CONTENT, True),
    ("three-concurrent-local-not-last", DEV_C, f("z", V(c=1), mtime=8, by=C),
     [f("y", V(b=1), mtime=7, by=B), f("x", V(a=1), mtime=5)],
     f("z"), V(a=1, b=1, c=1), DiskChange.NONE, ConflictKind.CONTENT, False),
    # Every holder of a losing content renames its local file to the copy (its name comes from
    # the top-ranked holder, so both land on the same path): not only the top-ranked one.
    ("identical-losers-top-one-copies", DEV_C, f("x", V(c=1), mtime=5, by=C),
     [f("x", V(b=1), mtime=5, by=B), f("y", V(a=1), mtime=9)],
     f("y"), V(a=1, b=1, c=1), DiskChange.CONTENT, ConflictKind.CONTENT, True),
    ("identical-losers-other-holder-copies-too", DEV_B, f("x", V(b=1), mtime=5, by=B),
     [f("x", V(c=1), mtime=5, by=C), f("y", V(a=1), mtime=9)],
     f("y"), V(a=1, b=1, c=1), DiskChange.CONTENT, ConflictKind.CONTENT, True),
    ("tombstone-dominates-old-remote", DEV_A, tomb(V(a=2, b=1)), [f("x", V(b=1), mtime=99, by=B)],
     tomb(V()), V(a=2, b=1), DiskChange.NONE, ConflictKind.NONE, False),
    ("remote-tombstone-dominates-local", DEV_A, f("x", V(b=1), by=B), [tomb(V(b=2), by=B)],
     tomb(V()), V(b=2), DiskChange.CONTENT, ConflictKind.NONE, False),
    ("recreated-remotely-dominates-tombstone", DEV_A, tomb(V(b=2), by=B), [f("new", V(b=3), by=B)],
     f("new"), V(b=3), DiskChange.CONTENT, ConflictKind.NONE, False),
    ("recreated-locally-dominates-tombstone", DEV_A, f("new", V(a=3, b=2)), [tomb(V(b=2), by=B)],
     f("new"), V(a=3, b=2), DiskChange.NONE, ConflictKind.NONE, False),
    ("mode-only-remote-newer", DEV_A, f("x", V(a=1)), [f("x", V(a=1, b=2), mode=0o755, by=B)],
     f("x", mode=0o755), V(a=1, b=2), DiskChange.MODE, ConflictKind.NONE, False),
    ("mode-only-concurrent-is-no-conflict", DEV_A, f("x", V(a=1), mtime=5), [f("x", V(b=1), mode=0o755, mtime=9, by=B)],
     f("x", mode=0o755), V(a=1, b=1), DiskChange.MODE, ConflictKind.NONE, False),
    ("symlink-target-change", DEV_A, link("t1", V(a=1)), [link("t2", V(a=1, b=2), by=B)],
     link("t2", V()), V(a=1, b=2), DiskChange.CONTENT, ConflictKind.NONE, False),
    ("symlink-concurrent-targets", DEV_A, link("t1", V(a=1), mtime=9), [link("t2", V(b=1), mtime=2, by=B)],
     link("t1", V()), V(a=1, b=1), DiskChange.NONE, ConflictKind.CONTENT, False),
    # Device C holds A's content merged with B's; A since replaced its content without seeing B.
    # The stale merge must not outrank A's newer version (B's is the later of the two left).
    ("derived-local-superseded-by-its-origin", DEV_C, f("a1", V(a=1, b=1), mtime=9, by=A),
     [f("a2", V(a=2), mtime=1), f("b", V(b=1), mtime=5, by=B)],
     f("b"), V(a=2, b=1), DiskChange.CONTENT, ConflictKind.CONTENT, False),
    ("derived-local-origin-deleted-no-resurrection", DEV_C, f("a1", V(a=1, b=1), mtime=9, by=A),
     [tomb(V(a=2)), f("b", V(b=1), mtime=5, by=B)],
     f("b"), V(a=2, b=1), DiskChange.CONTENT, ConflictKind.EDIT_DELETE, False),
]


@pytest.mark.parametrize(
    ("device", "local", "remotes", "content", "version", "disk", "conflict", "local_lost"),
    [pytest.param(*case[1:], id=case[0]) for case in RESOLVE_CASES],
)
def test_resolve_table(device, local, remotes, content, version, disk, conflict, local_lost):
    res = resolve(local, [rr(r) for r in remotes], device)
    assert res.target.deleted == content.deleted
    if not content.deleted:
        assert same(res.target, content), res.target
    assert res.target.version == version
    assert res.target.sequence == 0
    assert res.disk is disk
    assert res.conflict is conflict
    assert res.local_lost is local_lost


def test_resolve_target_carries_winner_origin_and_source():
    remote = rr(f("y", V(b=1), mtime=9, by=B))
    res = resolve(f("x", V(a=1), mtime=5), [remote], DEV_A)
    assert res.winner is remote
    assert res.target.modified_by == B
    assert res.target.mtime_ns == 9


def test_resolve_local_winner_has_no_source_and_keeps_stat_cache():
    local = f("x", V(a=1), mtime=9).with_changes(inode=77, sequence=5)
    res = resolve(local, [rr(f("y", V(b=1), mtime=5, by=B))], DEV_A)
    assert res.winner is None
    assert res.target.inode == 77 and res.index_changes


def test_resolve_unchanged_when_local_dominates():
    local = f("x", V(a=2, b=1)).with_changes(sequence=9)
    res = resolve(local, [rr(f("x", V(b=1), by=B))], DEV_A)
    assert not res.changes_disk and not res.index_changes


def test_resolve_needs_a_record():
    with pytest.raises(ValueError):
        resolve(None, [], DEV_A)


def test_remote_equal_to_local_adds_nothing():
    local = f("x", V(a=1, b=1), mtime=4)
    res = resolve(local, [rr(f("x", V(a=1, b=1), mtime=4))], DEV_A)
    assert res.conflict is ConflictKind.NONE and not res.index_changes and not res.changes_disk


# --- conflict_name -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "device", "expected"),
    [
        pytest.param("report.docx", "laptop", "report (conflict from laptop 2026-11-18 1106).docx", id="extension"),
        pytest.param("a/b/report.docx", "laptop", "a/b/report (conflict from laptop 2026-11-18 1106).docx", id="keeps-dirs"),
        pytest.param("x.tar.gz", "laptop", "x.tar (conflict from laptop 2026-11-18 1106).gz", id="last-extension"),
        pytest.param(".bashrc", "laptop", ".bashrc (conflict from laptop 2026-11-18 1106)", id="dotfile"),
        pytest.param("Makefile", "laptop", "Makefile (conflict from laptop 2026-11-18 1106)", id="no-extension"),
        pytest.param("name.", "laptop", "name. (conflict from laptop 2026-11-18 1106)", id="trailing-dot"),
        pytest.param("notes.final draft", "pc", "notes.final draft (conflict from pc 2026-11-18 1106)", id="spaced-ext"),
        pytest.param("r.txt", "work/laptop:2", "r (conflict from work_laptop_2 2026-11-18 1106).txt", id="bad-chars"),
        pytest.param("r.txt", "  \t ", "r (conflict from unknown device 2026-11-18 1106).txt", id="blank-device"),
        pytest.param("r.txt", "Zoë's Mac", "r (conflict from Zoë's Mac 2026-11-18 1106).txt", id="unicode"),
    ],
)
def test_conflict_name_table(path, device, expected):
    assert conflict_name(path, device, NOW) == expected


def test_conflict_name_is_utc():
    assert conflict_name("r", "d", 0) == "r (conflict from d 1970-01-01 0000)"


def test_conflict_name_collisions_count_up():
    first = conflict_name("a/r.txt", "pc", NOW)
    second = conflict_name("a/r.txt", "pc", NOW, {first})
    third = conflict_name("a/r.txt", "pc", NOW, {first, second})
    assert second == "a/r (conflict from pc 2026-11-18 1106) 2.txt"
    assert third == "a/r (conflict from pc 2026-11-18 1106) 3.txt"


@pytest.mark.parametrize("stem", ["x" * 300, "é" * 200, "😀" * 100], ids=["ascii", "2-byte", "4-byte"])
def test_conflict_name_fits_255_bytes(stem):
    out = conflict_name(f"dir/{stem}.txt", "d" * 300, NOW)
    name = out.rpartition("/")[2]
    assert out.startswith("dir/")
    assert len(name.encode("utf-8")) <= 255
    assert name.endswith(" 1106).txt")


# --- conflict records ----------------------------------------------------------------------------------


def _conflict() -> ConflictRecord:
    w, lo = f("y", V(a=1, b=2), by=B), f("x", V(a=2))
    return ConflictRecord(
        id=conflict_id("doc.txt", w.version, lo.version),
        path="doc.txt",
        copy_path="doc (conflict from alpha 2026-11-18 1106).txt",
        winner=ConflictSide(DEV_B, w),
        loser=ConflictSide(DEV_A, lo),
        ancestor=f("o", V(a=1)),
        created_at_ns=NOW,
        created_by=DEV_A,
    )


def test_conflict_record_round_trips_through_json():
    import json

    c = _conflict()
    assert ConflictRecord.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    no_anc = ConflictRecord(**{**c.__dict__, "ancestor": None})
    assert ConflictRecord.from_dict(no_anc.to_dict()) == no_anc


def test_conflict_record_newer_format_is_a_clear_error():
    data = _conflict().to_dict() | {"v": 99}
    with pytest.raises(ValueError, match="newer"):
        ConflictRecord.from_dict(data)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d.pop("v"), id="no-version"),
        pytest.param(lambda d: d.pop("winner"), id="no-winner"),
        pytest.param(lambda d: d.update(created_at_ns="soon"), id="bad-int"),
        pytest.param(lambda d: d["loser"]["record"].update(type="fifo"), id="bad-type"),
        pytest.param(lambda d: d["loser"]["record"].update(blocks="!!"), id="bad-block"),
        pytest.param(lambda d: d.update(copy_path="../outside"), id="escaping-copy-path"),
        pytest.param(lambda d: d["winner"]["record"].update(path="/etc/passwd"), id="absolute-record-path"),
    ],
)
def test_conflict_record_malformed(mutate):
    data = _conflict().to_dict()
    mutate(data)
    with pytest.raises(ValueError):
        ConflictRecord.from_dict(data)


def test_conflict_id_is_deterministic_and_distinguishes_versions():
    assert conflict_id("p", V(a=1), V(b=1)) == conflict_id("p", V(a=1), V(b=1))
    assert conflict_id("p", V(a=1), V(b=1)) != conflict_id("p", V(a=1), V(b=2))
    assert conflict_id("p", V(a=1), V(b=1)) != conflict_id("q", V(a=1), V(b=1))


# --- plan ---------------------------------------------------------------------------------------------


def run(
    local: Sequence[FileRecord],
    remote: Sequence[FileRecord],
    *,
    device: str = DEV_A,
    ancestors: Mapping[str, FileRecord] | None = None,
) -> Plan:
    remote_map: dict[str, list[RemoteRecord]] = {}
    for r in remote:
        remote_map.setdefault(r.path, []).append(rr(r))
    p = plan(
        {r.path: r for r in local},
        remote_map,
        device=device,
        device_names=NAMES,
        now_ns=NOW,
        ancestors=ancestors,
    )
    check_order(p)
    return p


def check_order(p: Plan) -> None:
    """The ordering rules, checked on any plan."""
    position = {}
    for i, a in enumerate(p.actions):
        position.setdefault((a.kind, a.path), i)
    for i, a in enumerate(p.actions):
        if a.kind in (ActionKind.MKDIR, ActionKind.DOWNLOAD, ActionKind.SYMLINK, ActionKind.MOVE):
            parts = a.path.split("/")
            for k in range(1, len(parts)):
                parent = "/".join(parts[:k])
                if (ActionKind.MKDIR, parent) in position:
                    assert position[(ActionKind.MKDIR, parent)] < i, f"{a} before mkdir {parent}"
            cc = position.get((ActionKind.CONFLICT_COPY, a.path))
            assert cc is None or cc < i, f"{a} before its conflict copy"
        if a.kind is ActionKind.DELETE:
            for j, b in enumerate(p.actions):
                if b.kind is ActionKind.DELETE and b.path.startswith(a.path + "/"):
                    assert j < i, f"{a} before deleting child {b}"
                if b.kind is ActionKind.MOVE and b.old_path and b.old_path.startswith(a.path + "/"):
                    assert j < i, f"{a} before moving child out {b}"


def kinds(p: Plan) -> list[tuple[str, str]]:
    return [(a.kind.value, str(a.path) if a.kind is not ActionKind.MOVE else f"{a.old_path}->{a.path}") for a in p.actions]


def test_plan_mkdir_parents_first_then_files():
    remote = [
        f("1", V(b=1), path="a/b/c/f1", by=B),
        d(V(b=1), path="a/b/c", by=B),
        d(V(b=1), path="a", by=B),
        d(V(b=1), path="a/b", by=B),
        f("2", V(b=1), path="a/f2", by=B),
    ]
    p = run([], remote)
    assert kinds(p) == [
        ("mkdir", "a"),
        ("mkdir", "a/b"),
        ("mkdir", "a/b/c"),
        ("download", "a/b/c/f1"),
        ("download", "a/f2"),
    ]
    assert p.downloads_bytes == 2
    dl = p.actions[3]
    assert dl.source is not None and dl.source.origin == DEV_B and dl.record is not None
    assert dl.record.version == V(b=1)


def test_plan_missing_parent_is_created_and_published():
    p = run([], [f("1", V(b=1), path="new/f", by=B)])
    assert kinds(p) == [("mkdir", "new"), ("download", "new/f")]
    mk = p.actions[0]
    assert mk.publish and mk.record is not None and mk.record.modified_by == A


def test_plan_deletes_children_first():
    local = [d(V(a=1), path="a"), d(V(a=1), path="a/b"), f("1", V(a=1), path="a/b/f1"), f("2", V(a=1), path="a/f2")]
    remote = [tomb(V(a=1, b=2), path=r.path, by=B, type=r.type) for r in local]
    p = run(local, remote)
    assert kinds(p) == [("delete", "a/b/f1"), ("delete", "a/b"), ("delete", "a/f2"), ("delete", "a")]
    assert all(a.record is not None and a.record.deleted for a in p.actions)


def test_plan_remote_tombstone_for_unknown_path_is_record_only():
    p = run([], [tomb(V(b=2), path="gone", by=B)])
    assert kinds(p) == [("record_only", "gone")]


def test_plan_nothing_to_do_when_equal():
    rec = f("x", V(b=1), path="same", by=B)
    assert run([rec], [rec]).actions == ()


def test_plan_move_detection():
    local = [f("content", V(a=1), path="old.txt")]
    remote = [tomb(V(a=1, b=2), path="old.txt", by=B), f("content", V(a=1, b=2), path="new.txt", by=B)]
    p = run(local, remote)
    assert kinds(p) == [("move", "old.txt->new.txt")]
    mv = p.actions[0]
    assert mv.old_record is not None and mv.old_record.deleted
    assert mv.record is not None and mv.record.path == "new.txt"
    assert mv.source is not None  # fallback when the local file changed meanwhile
    assert p.downloads_bytes == 0


def test_plan_directory_rename_is_many_moves():
    names = ["a.txt", "b.txt", "c.txt"]
    local = [d(V(a=1), path="old")] + [f(n, V(a=1), path=f"old/{n}") for n in names]
    remote = [tomb(V(a=1, b=2), path="old", by=B, type=FileType.DIRECTORY), d(V(b=1), path="new", by=B)]
    remote += [tomb(V(a=1, b=2), path=f"old/{n}", by=B) for n in names]
    remote += [f(n, V(a=1, b=2), path=f"new/{n}", by=B) for n in names]
    p = run(local, remote)
    assert kinds(p) == [
        ("mkdir", "new"),
        ("move", "old/a.txt->new/a.txt"),
        ("move", "old/b.txt->new/b.txt"),
        ("move", "old/c.txt->new/c.txt"),
        ("delete", "old"),
    ]


def test_plan_move_pairing_prefers_same_name_then_path():
    # Two local copies of one content move to two new places: same file names pair up.
    local = [f("same", V(a=1), path="x/one"), f("same", V(a=1), path="y/two")]
    remote = [tomb(V(a=1, b=2), path="x/one", by=B), tomb(V(a=1, b=2), path="y/two", by=B)]
    remote += [f("same", V(a=1, b=2), path="z/two", by=B), f("same", V(a=1, b=2), path="z/one", by=B)]
    local += [d(V(a=1), path=p) for p in ("x", "y", "z")]
    p = run(local, remote)
    moves = [(a.old_path, a.path) for a in p.actions if a.kind is ActionKind.MOVE]
    assert moves == [("x/one", "z/one"), ("y/two", "z/two")]


def test_plan_conflict_copy_before_download():
    local = [f("mine", V(a=1), path="r.txt", mtime=NOW)]
    ancestor = f("base", V(), path="r.txt")
    remote = [f("theirs", V(b=1), path="r.txt", mtime=NOW + 9, by=B)]
    p = run(local, remote, ancestors={"r.txt": ancestor})
    assert kinds(p) == [("conflict_copy", "r.txt"), ("download", "r.txt")]
    cc = p.actions[0]
    assert cc.record == local[0]
    c = cc.conflict
    assert c is not None and p.conflicts == (c,)
    assert c.copy_path == "r (conflict from alpha 2026-11-18 1106).txt"
    assert c.winner.origin == DEV_B and c.loser.origin == DEV_A
    assert c.loser.record == local[0] and c.ancestor == ancestor
    assert c.id == conflict_id("r.txt", V(b=1), V(a=1))
    assert c.created_at_ns == NOW and c.created_by == DEV_A
    assert p.actions[1].record is not None and p.actions[1].record.version == V(a=1, b=1)
    # The renamed file is indexed with the copy's deterministic version (see copy_version).
    assert cc.copy is not None and cc.copy.path == c.copy_path and same(cc.copy, local[0])
    assert cc.copy.version == copy_version("r.txt", local[0], A)


def test_plan_conflict_ancestor_must_precede_both():
    local = [f("mine", V(a=1), path="r.txt", mtime=5)]
    remote = [f("theirs", V(b=1), path="r.txt", mtime=9, by=B)]
    p = run(local, remote, ancestors={"r.txt": f("later", V(a=1, b=1), path="r.txt")})
    assert p.conflicts[0].ancestor is None


def test_plan_conflict_copy_name_avoids_taken_paths():
    first = "r (conflict from alpha 2026-11-18 1106).txt"
    local = [f("mine", V(a=1), path="r.txt", mtime=NOW), f("older copy", V(a=1), path=first)]
    p = run(local, [f("theirs", V(b=1), path="r.txt", mtime=NOW + 9, by=B)])
    assert p.conflicts[0].copy_path == "r (conflict from alpha 2026-11-18 1106) 2.txt"


def test_plan_winning_local_keeps_the_losing_remote_version_as_a_copy():
    # The winner's device keeps B's losing version too: it may supersede its winner before B
    # syncs, and B then only sees a version that dominates its own (no conflict there).
    local = [f("mine", V(a=1), path="r.txt", mtime=NOW + 9)]
    theirs = f("theirs", V(b=1), path="r.txt", mtime=NOW, by=B)
    p = run(local, [theirs])
    copy_path = "r (conflict from bravo 2026-11-18 1106).txt"
    assert kinds(p) == [("download", copy_path), ("record_only", "r.txt")]
    dl = p.actions[0]
    assert dl.publish and dl.source == rr(theirs) and dl.record is not None and same(dl.record, theirs)
    assert dl.record.version == copy_version("r.txt", theirs, B) and dl.record.mtime_ns == theirs.mtime_ns
    assert dl.record.blocks == theirs.blocks and dl.record.modified_by == A
    c = dl.conflict
    assert c is not None and p.conflicts == (c,) and c.copy_path == copy_path
    assert c.id == conflict_id("r.txt", V(a=1), V(b=1))
    assert c.winner == ConflictSide(DEV_A, local[0]) and c.loser == ConflictSide(DEV_B, theirs)
    assert p.actions[1].record.version == V(a=1, b=1)  # type: ignore[union-attr]


def test_plan_mode_change():
    p = run([f("x", V(a=1), path="run.sh")], [f("x", V(a=1, b=2), path="run.sh", mode=0o755, by=B)])
    assert kinds(p) == [("set_mode", "run.sh")]


def test_plan_symlink_replace():
    p = run([link("t1", V(a=1), path="l")], [link("t2", V(a=1, b=2), path="l", by=B)])
    assert kinds(p) == [("symlink", "l")]


def test_plan_type_change_file_to_dir():
    local = [f("x", V(a=1), path="p")]
    remote = [d(V(a=1, b=2), path="p", by=B), f("child", V(b=1), path="p/c", by=B)]
    p = run(local, remote)
    assert kinds(p) == [("delete", "p"), ("mkdir", "p"), ("download", "p/c")]
    assert p.actions[0].record is None  # the create that follows stores the record


def test_plan_type_change_dir_to_file():
    local = [d(V(a=1), path="p"), f("c", V(a=1), path="p/c")]
    remote = [f("now a file", V(a=1, b=2), path="p", by=B), tomb(V(a=1, b=2), path="p/c", by=B)]
    p = run(local, remote)
    assert kinds(p) == [("delete", "p/c"), ("delete", "p"), ("download", "p")]


def test_plan_remote_delete_of_dir_keeps_new_local_file():
    local = [d(V(a=1), path="dir"), f("old", V(a=1), path="dir/old"), f("new", V(a=2), path="dir/new")]
    remote = [tomb(V(a=1, b=2), path="dir", by=B, type=FileType.DIRECTORY), tomb(V(a=1, b=2), path="dir/old", by=B)]
    p = run(local, remote)
    assert kinds(p) == [("delete", "dir/old"), ("record_only", "dir")]
    keep = p.actions[1]
    assert keep.publish and keep.record is not None and not keep.record.deleted
    assert keep.record.type is FileType.DIRECTORY
    # The surviving directory's new version dominates the tombstone, so every device recreates it.
    assert compare(keep.record.version, V(a=1, b=2)) is Ordering.NEWER


def test_plan_remote_delete_of_nested_dirs_keeps_chain_to_new_file():
    local = [d(V(a=1), path="a"), d(V(a=1), path="a/b"), f("new", V(a=2), path="a/b/new"), f("o", V(a=1), path="a/o")]
    remote = [
        tomb(V(a=1, b=2), path="a", by=B, type=FileType.DIRECTORY),
        tomb(V(a=1, b=2), path="a/b", by=B, type=FileType.DIRECTORY),
        tomb(V(a=1, b=2), path="a/o", by=B),
    ]
    p = run(local, remote)
    assert kinds(p) == [("delete", "a/o"), ("record_only", "a"), ("record_only", "a/b")]
    assert all(a.publish for a in p.actions[1:])


def test_plan_file_replacing_dir_with_new_local_child_is_a_type_conflict():
    # B replaced dir p by a file; here p holds a file B never saw. The directory stays, with a
    # version concurrent with B's file (so B's device keeps its file as a conflict copy).
    local = [d(V(a=1), path="p"), f("new", V(a=2), path="p/new")]
    remote_file = f("file", V(a=1, b=2), path="p", by=B, mtime=NOW)
    p = run(local, [remote_file])
    assert kinds(p) == [("record_only", "p")]
    keep = p.actions[0]
    assert keep.publish and keep.record is not None and keep.record.type is FileType.DIRECTORY
    assert compare(keep.record.version, remote_file.version) is Ordering.CONCURRENT
    # ... and on B, that directory beats B's file: B makes the conflict copy.
    on_b = plan(
        {"p": remote_file},
        {"p": [RemoteRecord(DEV_A, keep.record)], "p/new": [RemoteRecord(DEV_A, local[1])]},
        device=DEV_B,
        device_names=NAMES,
        now_ns=NOW,
    )
    check_order(on_b)
    assert kinds(on_b) == [("conflict_copy", "p"), ("mkdir", "p"), ("download", "p/new")]
    assert on_b.conflicts[0].copy_path == "p (conflict from bravo 2026-11-18 1106)"


def test_plan_local_file_in_the_way_of_remote_children_is_kept_aside():
    # Here p is a file nobody else has heard of; a remote file arrives at p/child.
    p = run([f("mine", V(a=1), path="p")], [f("c", V(b=1), path="p/child", by=B)])
    assert [k for k, _ in kinds(p)] == ["conflict_copy", "mkdir", "download"]
    assert p.actions[1].publish


def test_plan_conflict_type_local_file_loses_to_remote_dir():
    local = [f("mine", V(a=1), path="p", mtime=99)]
    remote = [d(V(b=1), path="p", by=B), f("c", V(b=1), path="p/c", by=B)]
    p = run(local, remote)
    assert kinds(p) == [("conflict_copy", "p"), ("mkdir", "p"), ("download", "p/c")]
    assert not p.actions[1].publish  # the remote directory won; nothing new to publish


def test_plan_actions_describe_themselves():
    assert str(Action(ActionKind.MOVE, "b", None, old_path="a")) == "move a -> b"
    assert str(Action(ActionKind.DELETE, "a", None)) == "delete a"


# --- conflict copies made by every device that sees the conflict -------------------------------------

COPY_B = "r (conflict from bravo 2026-11-18 1106).txt"


def _winner_and_loser() -> tuple[FileRecord, FileRecord]:
    return f("mine", V(a=1), path="r.txt", mtime=NOW + 9), f("theirs", V(b=1), path="r.txt", mtime=NOW, by=B)


def test_plan_copy_already_in_the_index_is_not_made_again():
    # The copy path is not among the plan's inputs; ``lookup`` (the index) knows it holds the copy.
    mine, theirs = _winner_and_loser()
    have = theirs.with_changes(path=COPY_B, version=copy_version("r.txt", theirs, B), modified_by=A)
    p = plan({"r.txt": mine}, {"r.txt": [rr(mine), rr(theirs)]}, device=DEV_A, device_names=NAMES, now_ns=NOW,
             lookup={COPY_B: have}.get)
    assert kinds(p) == [("record_only", "r.txt")] and p.conflicts == ()


def test_plan_copy_deleted_or_edited_since_is_not_made_again():
    mine, theirs = _winner_and_loser()
    made = copy_version("r.txt", theirs, B)
    for later in (tomb(made.bump(C), path=COPY_B, by=C), f("edited", made.bump(C), path=COPY_B, by=C)):
        p = run([mine, later], [theirs])
        assert kinds(p) == [("record_only", "r.txt")] and p.conflicts == (), later


def test_plan_copy_name_held_by_other_content_counts_up_and_a_foreign_tombstone_is_merged():
    mine, theirs = _winner_and_loser()
    other = f("another copy", V(c=1), path=COPY_B, by=C)
    p = run([mine, other], [theirs])
    assert kinds(p)[0] == ("download", "r (conflict from bravo 2026-11-18 1106) 2.txt")
    gone = tomb(V(c=2), path=COPY_B, by=C)  # something else once had the name and was deleted
    p = run([mine, gone], [theirs])
    assert kinds(p)[0] == ("download", COPY_B)
    assert p.actions[0].record.version == copy_version("r.txt", theirs, B).merge(V(c=2))  # type: ignore[union-attr]


def test_plan_same_content_at_the_copy_name_is_the_copy():
    mine, theirs = _winner_and_loser()
    renamed_by_b = theirs.with_changes(path=COPY_B, version=V(b=2))  # B's own rename of its version
    p = run([mine], [theirs, renamed_by_b])
    assert ("download", COPY_B) in kinds(p) and p.conflicts == ()  # B's copy, taken as it is


def test_plan_losing_symlink_is_kept_as_a_symlink_and_three_way_keeps_both_losers():
    mine = f("mine", V(a=1), path="r.txt", mtime=NOW + 9)
    ln = link("somewhere", V(b=1), path="r.txt", mtime=NOW, by=B)
    other = f("charlie's", V(c=1), path="r.txt", mtime=NOW + 60 * 10**9, by=C)
    p = run([mine], [ln, other])  # C's later edit wins; A's own version and B's link both lose
    assert kinds(p) == [
        ("conflict_copy", "r.txt"),
        ("symlink", "r (conflict from bravo 2026-11-18 1106).txt"),
        ("download", "r.txt"),
    ]
    cc, sl = p.actions[0], p.actions[1]
    assert cc.conflict is not None and cc.conflict.copy_path == "r (conflict from alpha 2026-11-18 1106).txt"
    assert sl.publish and sl.record is not None and sl.record.symlink_target == "somewhere"
    assert sl.record.version == copy_version("r.txt", ln, B)
    assert {c.loser.origin for c in p.conflicts} == {DEV_A, DEV_B}
    assert {c.winner.origin for c in p.conflicts} == {DEV_C}
