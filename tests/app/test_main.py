"""`cove` dispatch: the app with a display or `cove gui`, the CLI otherwise and for every command."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.main import main, split_home, wants_gui


def test_dispatch_rules() -> None:
    assert wants_gui([], {"DISPLAY": ":0"})
    assert wants_gui([], {"WAYLAND_DISPLAY": "wayland-0"})
    assert wants_gui([], {"QT_QPA_PLATFORM": "offscreen"})
    assert not wants_gui([], {})
    assert wants_gui(["gui"], {})
    assert wants_gui(["--home", "/x", "gui"], {})
    assert not wants_gui(["daemon"], {"DISPLAY": ":0"})
    assert not wants_gui(["--home", "/x", "status"], {"DISPLAY": ":0"})
    assert split_home(["--home=/h", "scan"]) == (Path("/h"), ["scan"])


def test_cli_unchanged(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and "cove" in capsys.readouterr().out
    assert main(["--home", str(tmp_path), "status"]) == 0
    assert "No folders yet" in capsys.readouterr().out
