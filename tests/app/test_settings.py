"""App-only settings on disk, relay URL validation, the XDG autostart entry."""

from __future__ import annotations

from pathlib import Path

from app.settings import (
    AppSettings,
    SyncMode,
    autostart_enabled,
    load_settings,
    save_settings,
    set_autostart,
    settings_path,
    validate_relay_url,
)
from sync.config import Dirs


def test_round_trip_and_bad_values(tmp_path: Path) -> None:
    dirs = Dirs.under(tmp_path)
    assert load_settings(dirs) == AppSettings()
    s = AppSettings(first_run_done=True, sync_mode=SyncMode.RELAY, relay_url="https://r.example", upload_limit_kib=50)
    save_settings(dirs, s)
    assert load_settings(dirs) == s
    settings_path(dirs).write_text('{"upload_limit_kib": -3, "notifications": "yes", "sync_mode": "carrier pigeon", "x": 1}')
    assert load_settings(dirs) == AppSettings()
    settings_path(dirs).write_text("{broken")
    assert "unreadable" in load_settings(dirs).load_error


def test_relay_url_validation() -> None:
    assert validate_relay_url("https://relay.example.org") is None
    assert validate_relay_url("http://192.168.1.5:8443") is None
    for bad in ("", "relay.example.org", "ftp://x", "https://", "https://x/?a=1"):
        assert validate_relay_url(bad)


def test_autostart_entry(tmp_path: Path) -> None:
    d = tmp_path / "autostart"
    assert not autostart_enabled(d)
    path = set_autostart(True, d)
    text = path.read_text()
    assert "[Desktop Entry]" in text and "Exec=cove" in text
    assert autostart_enabled(d)
    set_autostart(True, d, exec_line="/opt/cove/cove gui")
    assert "Exec=/opt/cove/cove gui" in path.read_text()
    set_autostart(False, d)
    assert not autostart_enabled(d)
