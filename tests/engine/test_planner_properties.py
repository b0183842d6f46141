"""Property tests of the planner: convergence, order independence, no resurrection, edit beats
delete, merged versions dominate their inputs; and plans that a simulated disk can apply in order.

Histories are simulated: three devices edit, delete and receive each other's published records
(each publishes only its own changes, as in ``docs/relay-sync-design.md``) and store what
:func:`resolve` decides. Examples are bounded so the whole file runs in a few seconds.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.planner import ActionKind, plan, resolve
from sync.records import (
    FileRecord,
    FileType,
    Ordering,
    RemoteRecord,
    VersionVector,
    compare,
)

DEVICES = ["-".join([c * 7] * 8) for c in "ABC"]
SHORT = {dev: dev.replace("-", "")[:13] for dev in DEVICES}
PATH = "doc.txt"


def _file(content: int, mtime: int, mode: int, version: VersionVector, by: str) -> FileRecord:
    data = f"content {content}".encode()
    return FileRecord(
        path=PATH,
        type=FileType.FILE,
        size=len(data),
        mtime_ns=mtime,
        mode=mode,
        content_hash=hashlib.sha256(data).digest(),
        version=version,
        modified_by=by,
    )


def _state(r: FileRecord) -> tuple:
    """What must converge: content (or deletion), mode and version."""
    if r.deleted:
        return ("deleted", r.version)
    return (r.type, r.content_hash, r.symlink_target, r.mode, r.version)


@dataclass
class Device:
    id: str
    local: FileRecord | None = None
    published: FileRecord | None = None  # its own latest change, as others receive it
    received: dict[str, FileRecord] = field(default_factory=dict)

    @property
    def short(self) -> str:
        return SHORT[self.id]

    def remotes(self) -> list[RemoteRecord]:
        out = [RemoteRecord(o, r) for o, r in sorted(self.received.items())]
        if self.published is not None:
            out.append(RemoteRecord(self.id, self.published))
        return out

    def change(self, record: FileRecord) -> None:
        self.local = self.published = record

    def sync(self) -> list[RemoteRecord]:
        remotes = self.remotes()
        if remotes:
            res = resolve(self.local, remotes, self.id)
            check_resolution_invariants(self.local, remotes, self.id)
            self.local = res.target
        return remotes


def check_resolution_invariants(local: FileRecord | None, remotes: list[RemoteRecord], device: str) -> None:
    res = resolve(local, remotes, device)
    # The merged vector dominates or equals every input.
    for r in [*(x.record for x in remotes), *([local] if local else [])]:
        assert compare(res.target.version, r.version) in (Ordering.NEWER, Ordering.EQUAL)
    # Order independence.
    shuffled = list(remotes)
    random.Random(len(remotes)).shuffle(shuffled)
    assert resolve(local, shuffled, device) == res
    assert resolve(local, list(reversed(remotes)), device) == res


edit = st.tuples(
    st.just("edit"), st.sampled_from(DEVICES), st.integers(0, 3), st.integers(0, 3), st.sampled_from([0o644, 0o755])
)
delete = st.tuples(st.just("delete"), st.sampled_from(DEVICES))
receive = st.tuples(st.just("receive"), st.sampled_from(DEVICES), st.sampled_from(DEVICES))
history = st.lists(st.one_of(edit, delete, receive, receive), max_size=25)


def simulate(events: list[tuple]) -> dict[str, Device]:
    devices = {dev: Device(dev) for dev in DEVICES}
    for ev in events:
        dev = devices[ev[1]]
        if ev[0] == "edit":
            _, _, content, mtime, mode = ev
            base = dev.local.version if dev.local else VersionVector()
            dev.change(_file(content, mtime, mode, base.bump(dev.short), dev.short))
        elif ev[0] == "delete":
            if dev.local is not None and not dev.local.deleted:
                dev.change(dev.local.with_changes(deleted=True, version=dev.local.version.bump(dev.short), modified_by=dev.short))
        else:
            src = devices[ev[2]]
            if src is not dev and src.published is not None:
                dev.received[src.id] = src.published
                dev.sync()
    return devices


@settings(max_examples=200, deadline=None)
@given(history)
def test_convergence_once_everything_is_received(events):
    devices = simulate(events)
    published = {d.id: d.published for d in devices.values() if d.published is not None}
    if not published:
        return
    outcomes = set()
    for dev in devices.values():
        dev.received = {o: r for o, r in published.items() if o != dev.id}
        dev.sync()
        assert dev.local is not None
        outcomes.add(_state(dev.local))
    assert len(outcomes) == 1, outcomes
    # A second round changes nothing: the state is a fixed point.
    for dev in devices.values():
        before = _state(dev.local)  # type: ignore[arg-type]
        dev.sync()
        assert _state(dev.local) == before  # type: ignore[arg-type]


vectors = st.dictionaries(st.sampled_from(list(SHORT.values())), st.integers(1, 4), max_size=3).map(VersionVector.of)
live_records = st.builds(
    _file,
    content=st.integers(0, 3),
    mtime=st.integers(0, 3),
    mode=st.sampled_from([0o644, 0o755]),
    version=vectors,
    by=st.sampled_from(list(SHORT.values())),
)


records = st.one_of(live_records, live_records.map(lambda r: r.with_changes(deleted=True)))


@settings(max_examples=100, deadline=None)
@given(st.lists(records, min_size=1, max_size=3), st.one_of(st.none(), records), st.sampled_from(DEVICES), st.randoms())
def test_resolution_is_order_independent_and_merges_every_input(remote_records, local, device, rnd):
    # One record per origin, as receivers keep them (two of one origin could tie on every key).
    remotes = [RemoteRecord(DEVICES[i], r) for i, r in enumerate(remote_records)]
    res = resolve(local, remotes, device)
    for _ in range(3):
        rnd.shuffle(remotes)
        assert resolve(local, remotes, device) == res
    for r in [*remote_records, *([local] if local else [])]:
        assert compare(res.target.version, r.version) in (Ordering.NEWER, Ordering.EQUAL)


@settings(max_examples=100, deadline=None)
@given(st.lists(live_records, min_size=1, max_size=4), st.sampled_from(DEVICES), st.booleans(), st.randoms())
def test_no_resurrection_of_a_dominating_tombstone(lives, deleter, tomb_is_local, rnd):
    merged = VersionVector()
    for r in lives:
        merged = merged.merge(r.version)
    tomb = lives[0].with_changes(deleted=True, version=merged.bump(SHORT[deleter]), modified_by=SHORT[deleter])
    remotes = [RemoteRecord(DEVICES[i % 3], r) for i, r in enumerate(lives)]
    rnd.shuffle(remotes)
    if tomb_is_local:
        res = resolve(tomb, remotes, deleter)
    else:
        res = resolve(rnd.choice([None, *lives]), [*remotes, RemoteRecord(deleter, tomb)], DEVICES[0])
    assert res.target.deleted
    assert res.target.version == tomb.version


@settings(max_examples=100, deadline=None)
@given(live_records, vectors, st.integers(0, 1), st.booleans())
def test_edit_beats_concurrent_delete(base_record, base, order, edit_is_local):
    editor, deleter = (DEVICES[0], DEVICES[1]) if order else (DEVICES[1], DEVICES[0])
    live = base_record.with_changes(version=base.bump(SHORT[editor]), modified_by=SHORT[editor])
    tomb = base_record.with_changes(deleted=True, version=base.bump(SHORT[deleter]), modified_by=SHORT[deleter], mtime_ns=99)
    assert compare(live.version, tomb.version) is Ordering.CONCURRENT
    if edit_is_local:
        res = resolve(live, [RemoteRecord(deleter, tomb)], editor)
    else:
        res = resolve(tomb, [RemoteRecord(editor, live)], deleter)
    assert not res.target.deleted and res.target.same_content(live)
    assert res.target.version == live.version.merge(tomb.version)
    assert not res.local_lost


# --- plans applied to a simulated disk ---------------------------------------------------------------

UNIVERSE = ["p", "q", "p/p", "p/q", "q/p", "q/q", "p/p/p", "p/p/q", "p/q/p", "q/q/q"]
KINDS = ["absent", "absent", "dir", "dir", "file0", "file1", "file2", "link"]


def _tree(kinds: list[str]) -> dict[str, str]:
    """A consistent tree: an entry exists only under an existing directory."""
    tree: dict[str, str] = {}
    for path, kind in zip(UNIVERSE, kinds, strict=True):
        parent = path.rpartition("/")[0]
        if kind != "absent" and (not parent or tree.get(parent) == "dir"):
            tree[path] = kind
    return tree


trees = st.lists(st.sampled_from(KINDS), min_size=len(UNIVERSE), max_size=len(UNIVERSE)).map(_tree)


def _record(path: str, kind: str, version: VersionVector, by: str) -> FileRecord:
    if kind == "dir":
        return FileRecord(path=path, type=FileType.DIRECTORY, mode=0o755, version=version, modified_by=by)
    if kind == "link":
        return FileRecord(path=path, type=FileType.SYMLINK, symlink_target="t", version=version, modified_by=by)
    data = kind.encode()
    return FileRecord(
        path=path, type=FileType.FILE, size=len(data), content_hash=hashlib.sha256(data).digest(),
        version=version, modified_by=by,
    )


def _kind(r: FileRecord) -> str:
    if r.type is FileType.DIRECTORY:
        return "dir"
    if r.type is FileType.SYMLINK:
        return "link"
    return {hashlib.sha256(k.encode()).digest(): k for k in ("file0", "file1", "file2")}[r.content_hash]  # type: ignore[index]


def apply_on_disk(disk: dict[str, str], actions) -> None:
    """Apply actions to a path → kind map, asserting every precondition a real filesystem has."""

    def parent_ok(path: str) -> bool:
        parent = path.rpartition("/")[0]
        return not parent or disk.get(parent) == "dir"

    for a in actions:
        p = a.path
        if a.kind is ActionKind.CONFLICT_COPY:
            assert p in disk and a.conflict.copy_path not in disk and disk[p] != "dir"
            disk[a.conflict.copy_path] = disk.pop(p)
        elif a.kind is ActionKind.MKDIR:
            assert p not in disk and parent_ok(p), a
            disk[p] = "dir"
        elif a.kind in (ActionKind.DOWNLOAD, ActionKind.SYMLINK):
            new = _kind(a.record)
            assert parent_ok(p) and disk.get(p, new) != "dir", a
            assert (disk.get(p) == "link") == (new == "link") or p not in disk, a
            if a.kind is ActionKind.DOWNLOAD:
                assert a.source is not None and a.source.record.content_hash == a.record.content_hash
            disk[p] = new
        elif a.kind is ActionKind.MOVE:
            assert disk.get(a.old_path) == _kind(a.record), a
            assert parent_ok(p) and disk.get(p, "file") not in ("dir", "link"), a
            disk[p] = disk.pop(a.old_path)
        elif a.kind is ActionKind.DELETE:
            assert p in disk, a
            assert not any(q.startswith(p + "/") for q in disk), f"{a}: directory not empty"
            del disk[p]
        elif a.kind is ActionKind.SET_MODE:
            assert p in disk


@settings(max_examples=150, deadline=None)
@given(trees, trees, st.sets(st.sampled_from(UNIVERSE)))
def test_plans_apply_in_order_and_reach_the_remote_tree(local_tree, remote_tree, unpublished):
    """B changed its tree after seeing A's; A also has files B never heard of (``unpublished``
    among A's files that B's tree lacks). Applying A's plan in order must never break a filesystem
    rule, and must leave B's tree plus A's unpublished files (with the directories they need)."""
    a, b = SHORT[DEVICES[0]], SHORT[DEVICES[1]]
    base, newer = VersionVector.of({a: 1}), VersionVector.of({a: 1, b: 2})
    local_only = {p for p in unpublished if p in local_tree and p not in remote_tree and local_tree[p] != "dir"}
    local = {p: _record(p, k, base, a) for p, k in local_tree.items()}
    remote: dict[str, list[RemoteRecord]] = {}
    for p in set(local_tree) | set(remote_tree):
        if p in local_only:
            continue
        if p in remote_tree:
            r = _record(p, remote_tree[p], newer, b)
        else:
            r = _record(p, local_tree[p], newer, b).with_changes(deleted=True)
        remote[p] = [RemoteRecord(DEVICES[1], r)]

    result = plan(local, remote, device=DEVICES[0], device_names={}, now_ns=0)
    disk = dict(local_tree)
    apply_on_disk(disk, result.actions)

    expected = dict(remote_tree)
    for p in local_only:
        expected = {q: k for q, k in expected.items() if not p.startswith(q + "/") or k == "dir"}
        expected[p] = local_tree[p]
        parts = p.split("/")
        for i in range(1, len(parts)):
            expected["/".join(parts[:i])] = "dir"
    copies = {c.copy_path for c in result.conflicts}
    assert {p: k for p, k in disk.items() if p not in copies} == expected


# --- conflict copies: every device that sees a conflict keeps the same copies ------------------------

NAMES = {DEVICES[0]: "alpha", DEVICES[1]: "bravo", DEVICES[2]: "charlie"}


def _version_of(i: int, base: VersionVector) -> VersionVector:
    return base.bump(SHORT[DEVICES[i]])


def _copies(result) -> set[tuple]:
    out = set()
    for a in result.actions:
        if a.kind is ActionKind.CONFLICT_COPY:
            assert a.copy is not None and a.conflict is not None and a.copy.path == a.conflict.copy_path
            out.add((a.copy.path, a.copy.type, a.copy.content_hash, a.copy.symlink_target, a.copy.version, a.conflict.id))
        elif a.conflict is not None:
            assert a.kind in (ActionKind.DOWNLOAD, ActionKind.SYMLINK) and a.publish
            r = a.record
            out.add((r.path, r.type, r.content_hash, r.symlink_target, r.version, a.conflict.id))
    return out


version_entry = st.tuples(
    st.sampled_from(["file", "file", "link", "deleted"]), st.integers(0, 2), st.integers(0, 2 * 60 * 10**9)
)


@settings(max_examples=150, deadline=None)
@given(st.lists(version_entry, min_size=2, max_size=3), st.booleans())
def test_every_device_makes_the_same_conflict_copies(entries, covered):
    """Concurrent versions of one path by two or three devices: whichever device plans (its own
    version as its local record, or merged already so that only the published records count, or
    no version of its own), the conflict copies it makes are the same ones — same paths, contents
    and versions, one per distinct losing live content — so copies made independently merge
    without a new conflict."""
    records = []
    for i, (kind, content, mtime) in enumerate(entries):
        v = VersionVector().bump(SHORT[DEVICES[i]])
        if kind == "link":
            r = FileRecord(path=PATH, type=FileType.SYMLINK, symlink_target=f"t{content}", mtime_ns=mtime,
                           version=v, modified_by=SHORT[DEVICES[i]])
        else:
            r = _file(content, mtime, 0o644, v, SHORT[DEVICES[i]])
            if kind == "deleted":
                r = r.with_changes(deleted=True)
        records.append(r)
    remote = {PATH: [RemoteRecord(DEVICES[j], r) for j, r in enumerate(records)]}
    merged = resolve(None, remote[PATH], DEVICES[0]).target
    outcomes = []
    for i in range(3):
        own = records[i] if i < len(records) else None
        local = {PATH: merged if covered and own is not None else own} if own is not None else {}
        result = plan(local, remote, device=DEVICES[i], device_names=NAMES, now_ns=10**18 + i)
        outcomes.append(_copies(result))
    assert all(c == outcomes[0] for c in outcomes), outcomes
    if merged.deleted:
        losing = set()
    else:
        winner_key = (merged.type, merged.content_hash, merged.symlink_target)
        losing = {(r.type, r.content_hash, r.symlink_target) for r in records if not r.deleted} - {winner_key}
    assert {(t, h, s) for _, t, h, s, _, _ in outcomes[0]} == losing
    assert len({p for p, *_ in outcomes[0]}) == len(outcomes[0])  # one path per copy
