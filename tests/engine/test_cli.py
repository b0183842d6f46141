"""The headless CLI end to end: real folders, real index, the `cove` entry point in-process and the
daemon as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sync.cli import main
from sync.config import Dirs, load_app_config
from sync.engine import Engine
from sync.history import ArchiveReason, Keep


def cove(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".cove" not in p.relative_to(root).parts
    }


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_init_scan_status_history_restore(tmp_path: Path, home: Path, capsys) -> None:
    root = tmp_path / "Cove"
    assert cove(home, "init", str(root)) == 0
    assert (root / ".cove" / "folder.json").exists()
    (root / "notes.txt").write_text("first")
    (root / "sub").mkdir()
    (root / "sub" / "a.bin").write_bytes(os.urandom(300_000))
    assert cove(home, "scan") == 0
    out = capsys.readouterr().out
    assert "3 added" in out  # notes.txt, sub, sub/a.bin

    assert cove(home, "status") == 0
    out = capsys.readouterr().out
    assert "files      2" in out and "1 directories" in out and "up to date" in out

    # Restore works through the history the engine kept: archive the current version, edit.
    runner_version = root / "notes.txt"
    with Engine.create(Dirs.under(home)) as engine:
        runner = engine.runner(engine.folder_for(root).id)
        record = runner.index.get("notes.txt")
        runner.history.archive(record, ArchiveReason.REPLACED, keep=Keep.COPY)
    runner_version.write_text("second")
    assert cove(home, "scan") == 0
    assert cove(home, "history", str(root / "notes.txt")) == 0
    out = capsys.readouterr().out
    assert "   1  " in out
    assert cove(home, "restore", str(root / "notes.txt"), "--version", "1") == 0
    assert (root / "notes.txt").read_text() == "first"
    copy = tmp_path / "copy.txt"
    assert cove(home, "restore", str(root / "notes.txt"), "--version", "1", "--to", str(copy)) == 0
    assert copy.read_text() == "first"


def test_bad_paths_give_clear_errors_and_touch_nothing(tmp_path: Path, home: Path, capsys) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert cove(home, "init", str(a_file)) == 1
    assert "not a directory" in capsys.readouterr().err
    assert cove(home, "init", str(tmp_path / "missing" / "deeper")) == 1
    assert "does not exist" in capsys.readouterr().err
    assert cove(home, "history", str(tmp_path / "elsewhere.txt")) == 1
    assert "not inside a folder" in capsys.readouterr().err
    assert a_file.read_text() == "x"


def test_broken_index_is_reported_and_files_untouched(tmp_path: Path, home: Path, capsys) -> None:
    root = tmp_path / "Cove"
    assert cove(home, "init", str(root)) == 0
    (root / "keep.txt").write_text("precious")
    assert cove(home, "scan") == 0
    folder = load_app_config(Dirs.under(home)).folders[0]
    db = Dirs.under(home).index_path(folder.id)
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    before = snapshot(root)
    capsys.readouterr()
    assert cove(home, "scan") == 1
    err = capsys.readouterr().err
    assert "damaged" in err
    assert snapshot(root) == before
    assert db.read_bytes().startswith(b"this is not a database")


def test_missing_root_is_an_error_not_a_mass_delete(tmp_path: Path, home: Path, capsys) -> None:
    root = tmp_path / "Cove"
    assert cove(home, "init", str(root)) == 0
    for i in range(5):
        (root / f"f{i}").write_text(str(i))
    assert cove(home, "scan") == 0
    hidden = tmp_path / "unmounted"
    root.rename(hidden)
    capsys.readouterr()
    assert cove(home, "scan") == 1
    assert "missing" in capsys.readouterr().err.lower()
    hidden.rename(root)
    with Engine.create(Dirs.under(home)) as engine:
        assert engine.runner(engine.folder_for(root).id).index.count() == 5  # f0..f4: nothing was read as deleted


def test_mass_delete_waits_for_confirmation(tmp_path: Path, home: Path, capsys) -> None:
    root = tmp_path / "Cove"
    assert cove(home, "init", str(root)) == 0
    for i in range(30):
        (root / f"f{i}").write_text(str(i))
    (root / "stay").write_text("s")
    assert cove(home, "scan") == 0
    for i in range(30):
        (root / f"f{i}").unlink()
    capsys.readouterr()
    assert cove(home, "scan") == 1
    assert "--yes" in capsys.readouterr().err
    assert cove(home, "scan", "--yes") == 0
    assert "30 deleted" in capsys.readouterr().out


def test_daemon_indexes_a_settled_write(tmp_path: Path, home: Path) -> None:
    """`cove daemon` as a real process: a new file shows up in its report, and SIGTERM stops it."""
    root = tmp_path / "Cove"
    assert cove(home, "init", str(root)) == 0
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.main", "--home", str(home), "daemon"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        line = proc.stdout.readline()
        assert "watching" in line, line
        (root / "hello.txt").write_text("hi")
        seen = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "hello.txt" in line:
                break
        assert any("added hello.txt" in s for s in seen), seen
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "stopped" in out


def test_every_command_has_a_handler() -> None:
    """Each subcommand the parser offers runs something (`cove peers` once parsed and then failed
    with a KeyError)."""
    import argparse

    from sync.cli import COMMANDS, build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) - {"gui"} <= set(COMMANDS), set(sub.choices) - set(COMMANDS)


def test_peers_without_a_daemon(home: Path, tmp_path: Path, capsys) -> None:
    assert cove(home, "init", str(tmp_path / "f")) == 0
    capsys.readouterr()
    assert cove(home, "peers") == 0
    out = capsys.readouterr().out
    assert "this device" in out and "the daemon is not running" in out
