"""`cove pause`, `cove resume`, `cove limits`: what they save, what they print, and the clear
errors for bad input (nothing saved). Rates as people type them. The config's validation of the
saved settings. (That a running daemon takes them up: tests/lan/test_lan_settings.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from sync.account import account_key_path
from sync.cli import main
from sync.config import Bandwidth, ConfigError, Dirs, load_app_config
from sync.humanize import human_rate, parse_rate
from sync.keys import AccountKeys
from sync.lan.certs import DeviceCertificate, DeviceDirectory
from sync.wire.ids import device_id_from_public_key


def cove(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


@pytest.mark.parametrize(
    "text, rate",
    [("0", 0), ("unlimited", 0), ("none", 0), ("500K", 512_000), ("500 KiB/s", 512_000), ("10M", 10 * 1024**2),
     ("1.5MiB/s", 1_572_864), ("10MB", 10_000_000), ("2000", 2000), ("1G", 1024**3), ("100kb", 100_000)],
)
def test_rates_as_people_type_them(text: str, rate: int) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "abc", "-1M", "10X", "M", "5", "0.5K", "nan", "inf"])
def test_bad_rates_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match="rate|1 KiB"):
        parse_rate(text)


def test_rates_read_back() -> None:
    assert human_rate(0) == "unlimited"
    assert human_rate(1_572_864) == "1.5 MiB/s"


def test_limits_are_saved_shown_and_bad_input_changes_nothing(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    assert cove(home, "limits") == 0
    assert capsys.readouterr().out.count("unlimited") == 4
    assert cove(home, "limits", "--lan-up", "5M", "--relay", "1MiB/s") == 0
    out = capsys.readouterr().out
    assert "5.0 MiB/s" in out and out.count("1.0 MiB/s") == 2 and "Saved" in out
    bw = load_app_config(Dirs.under(home)).bandwidth
    assert bw == Bandwidth(lan_up=5 * 1024**2, relay_up=1024**2, relay_down=1024**2)
    with pytest.raises(SystemExit) as e:
        cove(home, "limits", "--lan-down", "fast")
    assert e.value.code == 2 and "not a rate" in capsys.readouterr().err
    assert load_app_config(Dirs.under(home)).bandwidth == bw
    assert cove(home, "limits", "--lan", "0", "--relay-down", "none") == 0
    assert load_app_config(Dirs.under(home)).bandwidth == Bandwidth(relay_up=1024**2)


def test_pause_and_resume_folders(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    one, two = tmp_path / "one", tmp_path / "two"
    assert cove(home, "init", str(one)) == 0 and cove(home, "init", str(two)) == 0
    assert cove(home, "pause", str(one / "sub" / "file.txt")) == 0  # a path inside the folder will do
    paused = {f.path.name: f.paused for f in load_app_config(Dirs.under(home)).folders}
    assert paused == {"one": True, "two": False}
    capsys.readouterr()
    assert cove(home, "status") == 0
    assert "paused" in capsys.readouterr().out
    assert cove(home, "pause") == 0  # all of them
    assert "one is already paused" in capsys.readouterr().out.replace(str(tmp_path) + "/", "")
    assert all(f.paused for f in load_app_config(Dirs.under(home)).folders)
    assert cove(home, "resume") == 0
    assert not any(f.paused for f in load_app_config(Dirs.under(home)).folders)
    assert cove(home, "pause", str(tmp_path)) == 1  # not inside a synced folder
    assert "not inside a folder" in capsys.readouterr().err
    assert cove(home, "pause", str(one), "--peer", "ABCD") == 1
    assert "not both" in capsys.readouterr().err


def test_pause_and_resume_peers_by_id_prefix(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    dirs = Dirs.under(home)
    account = AccountKeys.generate()
    path = account_key_path(dirs)
    path.parent.mkdir(parents=True, exist_ok=True)
    account.save(path)
    directory = DeviceDirectory(account.sign_pk, dirs.data / "lan" / "devices.json")
    peer_key = SigningKey.generate()
    directory.add(DeviceCertificate.issue(account.signing_key, bytes(peer_key.verify_key), "alice"))
    peer = device_id_from_public_key(bytes(peer_key.verify_key))
    assert cove(home, "pause", "--peer", peer[:3]) == 1  # too short to be sure
    assert "at least 4" in capsys.readouterr().err
    assert cove(home, "pause", "--peer", ("A" if peer[0] != "A" else "B") + peer[1:9]) == 1  # no such device
    assert "no known device" in capsys.readouterr().err
    assert cove(home, "pause", "--peer", peer[:9].lower()) == 0
    assert load_app_config(dirs).paused_peers == (peer,)
    assert f"Paused peer {peer}" in capsys.readouterr().out
    assert cove(home, "resume", "--peer", peer) == 0
    assert load_app_config(dirs).paused_peers == ()


@pytest.mark.parametrize(
    "doc, message",
    [({"bandwidth": {"lan_up": -1}}, "whole number"), ({"bandwidth": {"lan_up": "10M"}}, "whole number"),
     ({"bandwidth": {"upload": 5}}, "malformed bandwidth"), ({"bandwidth": [1, 2]}, "malformed bandwidth"),
     ({"paused_peers": ["not-a-device"]}, "paused_peers"), ({"paused_peers": "ABC"}, "paused_peers")],
)
def test_bad_saved_settings_are_refused_with_a_clear_error(tmp_path: Path, doc: dict, message: str) -> None:
    dirs = Dirs.under(tmp_path / "home")
    dirs.config.mkdir(parents=True)
    dirs.config_file.write_text(json.dumps({"version": 1, "folders": [], **doc}))
    with pytest.raises(ConfigError, match=message):
        load_app_config(dirs)
