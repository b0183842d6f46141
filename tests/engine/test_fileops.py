"""sync.fileops: safe path joining, stat comparison against the index, atomic verified writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sync import chunker
from sync.config import TEMP_PREFIX
from sync.fileops import (
    ChangedOnDisk,
    HashMismatch,
    UnsafePath,
    atomic_write,
    check_relpath,
    content_hash_of,
    relpath_of,
    remove_stale_temps,
    resolve_inside,
    unchanged_since,
)
from sync.records import FileRecord, FileType


def temps(directory: Path) -> list[str]:
    return [n for n in os.listdir(directory) if n.startswith(TEMP_PREFIX)]


def record_of(path: Path, relpath: str) -> FileRecord:
    st = os.lstat(path)
    if path.is_symlink():
        return FileRecord(relpath, FileType.SYMLINK, inode=st.st_ino, symlink_target=os.readlink(path))
    if path.is_dir():
        return FileRecord(relpath, FileType.DIRECTORY, inode=st.st_ino)
    return FileRecord(
        relpath, FileType.FILE, size=st.st_size, mtime_ns=st.st_mtime_ns, mode=st.st_mode & 0o777,
        inode=st.st_ino, content_hash=content_hash_of(path),
    )


# -- paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "relpath",
    [
        "",
        "/etc/passwd",
        "..",
        "../x",
        "a/../../b",
        "a/..",
        "a/./b",
        ".",
        "a//b",
        "a/",
        "a\x00b",
        "C:/Windows",
        "\\\\server\\share",
        ".cove/folder.json",
        ".cove",
        "sub/.cove/x",
        f"dir/{TEMP_PREFIX}abc",
    ],
)
def test_refused_paths(tmp_path: Path, relpath: str) -> None:
    with pytest.raises(UnsafePath):
        resolve_inside(tmp_path, relpath)


@pytest.mark.parametrize(
    "relpath, parts",
    [
        ("a", ("a",)),
        ("a/b/c.txt", ("a", "b", "c.txt")),
        ("..a/b..", ("..a", "b..")),
        ("sub/.covex", ("sub", ".covex")),
        (".hidden", (".hidden",)),
        ("naïve/ünïcode", ("naïve", "ünïcode")),
    ],
)
def test_accepted_paths(tmp_path: Path, relpath: str, parts: tuple[str, ...]) -> None:
    assert check_relpath(relpath) == parts
    assert resolve_inside(tmp_path, relpath) == tmp_path.joinpath(*parts)


def test_symlinked_parent_escaping_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    with pytest.raises(UnsafePath, match="symlink"):
        resolve_inside(root, "escape/file.txt")
    with pytest.raises(UnsafePath, match="symlink"):
        resolve_inside(root, "escape/deeper/file.txt")


def test_symlinked_parent_inside_the_root_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to("real")
    with pytest.raises(UnsafePath):
        resolve_inside(tmp_path, "alias/file.txt")


def test_final_component_may_be_a_symlink_and_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("/etc/passwd")
    assert resolve_inside(tmp_path, "link") == tmp_path / "link"


def test_a_file_as_parent_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(UnsafePath):
        resolve_inside(tmp_path, "f/child")


def test_missing_parents_are_fine(tmp_path: Path) -> None:
    assert resolve_inside(tmp_path, "new/dir/file") == tmp_path / "new" / "dir" / "file"


def test_root_itself_may_be_reached_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "d").mkdir()
    (tmp_path / "rootlink").symlink_to(tmp_path / "real")
    assert resolve_inside(tmp_path / "rootlink", "d/x") == tmp_path / "rootlink" / "d" / "x"


@pytest.mark.parametrize(
    "path, expected",
    [("root/a/b", "a/b"), ("root", None), ("other/a", None), ("root/../other", None), ("root/a/../b", "b")],
)
def test_relpath_of(tmp_path: Path, path: str, expected: str | None) -> None:
    assert relpath_of(tmp_path / "root", tmp_path / path) == expected


# -- unchanged_since -----------------------------------------------------------------------------


def test_unchanged_file(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"hello")
    assert unchanged_since(p, record_of(p, "f"))


def test_content_change_is_seen(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"hello")
    rec = record_of(p, "f")
    p.write_bytes(b"hello, world")
    assert not unchanged_since(p, rec)


def test_same_size_mtime_change_is_seen(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"hello")
    rec = record_of(p, "f")
    os.utime(p, ns=(rec.mtime_ns + 1, rec.mtime_ns + 1))
    assert not unchanged_since(p, rec)


def test_replaced_file_with_same_stat_is_seen_by_inode(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"hello")
    rec = record_of(p, "f")
    keep_inode_busy = tmp_path / "old"
    os.link(p, keep_inode_busy)  # so the new file cannot reuse the inode number
    q = tmp_path / "g"
    q.write_bytes(b"HELLO")
    os.utime(q, ns=(rec.mtime_ns, rec.mtime_ns))
    os.replace(q, p)
    assert not unchanged_since(p, rec)
    assert unchanged_since(p, rec.with_changes(inode=0))  # unknown inode: size+mtime only


def test_type_change_is_seen(tmp_path: Path) -> None:
    p = tmp_path / "x"
    p.write_bytes(b"")
    rec = record_of(p, "x")
    p.unlink()
    p.mkdir()
    assert not unchanged_since(p, rec)


def test_symlink_target_change_is_seen(tmp_path: Path) -> None:
    p = tmp_path / "l"
    p.symlink_to("a")
    rec = record_of(p, "l")
    assert unchanged_since(p, rec)
    p.unlink()
    p.symlink_to("b")
    assert not unchanged_since(p, rec.with_changes(inode=0))


@pytest.mark.parametrize("exists", [False, True])
def test_absent_or_deleted_record_means_nothing_there(tmp_path: Path, exists: bool) -> None:
    p = tmp_path / "f"
    if exists:
        p.write_bytes(b"new")
    tomb = FileRecord("f", FileType.FILE, deleted=True)
    assert unchanged_since(p, None) is not exists
    assert unchanged_since(p, tomb) is not exists


def test_deleted_file_is_a_change(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"x")
    rec = record_of(p, "f")
    p.unlink()
    assert not unchanged_since(p, rec)


# -- atomic_write --------------------------------------------------------------------------------


def test_write_chunks_sets_mode_mtime_and_verifies(tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "f.bin"
    data = os.urandom(300_000)
    expected = chunker.hash_bytes(data).content_hash
    st = atomic_write(
        dest, [data[:1000], data[1000:]], expected_hash=expected, mode=0o755, mtime_ns=1_600_000_000_123_456_789
    )
    assert dest.read_bytes() == data
    assert st.st_mode & 0o777 == 0o755
    assert st.st_mtime_ns == 1_600_000_000_123_456_789
    assert st.st_ino == os.lstat(dest).st_ino
    assert temps(dest.parent) == []


def test_write_from_a_file_replaces_the_old_content(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.write_bytes(b"new content")
    dest.write_bytes(b"old")
    atomic_write(dest, src, expected_hash=content_hash_of(src))
    assert dest.read_bytes() == b"new content"
    assert src.read_bytes() == b"new content"


def test_write_replaces_a_symlink_without_following_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"do not touch")
    (tmp_path / "root").mkdir()
    link = tmp_path / "root" / "l"
    link.symlink_to(victim)
    atomic_write(link, [b"data"])
    assert not link.is_symlink()
    assert link.read_bytes() == b"data"
    assert victim.read_bytes() == b"do not touch"


def test_hash_mismatch_leaves_destination_and_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    dest.write_bytes(b"original")
    before = os.lstat(dest)
    with pytest.raises(HashMismatch):
        atomic_write(dest, [b"tampered"], expected_hash=chunker.hash_bytes(b"expected").content_hash)
    assert dest.read_bytes() == b"original"
    assert os.lstat(dest).st_ino == before.st_ino
    assert temps(tmp_path) == []


def test_failing_verify_leaves_destination_and_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    dest.write_bytes(b"original")

    def broken(_: Path) -> bytes:
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        atomic_write(dest, [b"new"], expected_hash=b"x" * 32, verify=broken)
    assert dest.read_bytes() == b"original"
    assert temps(tmp_path) == []


def test_source_failing_midway_leaves_destination_and_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    dest.write_bytes(b"original")

    def chunks():
        yield b"first part"
        raise ConnectionError("peer went away")

    with pytest.raises(ConnectionError):
        atomic_write(dest, chunks())
    assert dest.read_bytes() == b"original"
    assert temps(tmp_path) == []


def test_failed_precondition_leaves_destination_and_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    dest.write_bytes(b"original")
    rec = record_of(dest, "f")
    dest.write_bytes(b"edited by the user meanwhile")
    with pytest.raises(ChangedOnDisk):
        atomic_write(dest, [b"remote version"], precondition=lambda: unchanged_since(dest, rec))
    assert dest.read_bytes() == b"edited by the user meanwhile"
    assert temps(tmp_path) == []


def test_write_onto_a_directory_fails_cleanly(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "child").write_bytes(b"x")
    with pytest.raises(OSError):
        atomic_write(tmp_path / "d", [b"data"])
    assert (tmp_path / "d" / "child").read_bytes() == b"x"
    assert temps(tmp_path) == []


def test_empty_file(tmp_path: Path) -> None:
    dest = tmp_path / "empty"
    atomic_write(dest, [], expected_hash=chunker.hash_bytes(b"").content_hash)
    assert dest.read_bytes() == b""


def test_remove_stale_temps(tmp_path: Path) -> None:
    (tmp_path / f"{TEMP_PREFIX}abc").write_bytes(b"partial")
    (tmp_path / "keep.txt").write_bytes(b"x")
    removed = remove_stale_temps(tmp_path)
    assert [p.name for p in removed] == [f"{TEMP_PREFIX}abc"]
    assert os.listdir(tmp_path) == ["keep.txt"]
