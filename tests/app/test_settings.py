"""App-only settings on disk (and app.json files of older versions), relay URL validation, the XDG
autostart entry, and the Settings page's bandwidth rules (pure)."""

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
from app.pages.settings import edited_bandwidth, to_kib
from sync.config import Bandwidth, Dirs


def test_round_trip_and_bad_values(tmp_path: Path) -> None:
    dirs = Dirs.under(tmp_path)
    assert load_settings(dirs) == AppSettings()
    s = AppSettings(first_run_done=True, sync_mode=SyncMode.RELAY, relay_url="https://r.example", notifications=False)
    save_settings(dirs, s)
    assert load_settings(dirs) == s
    settings_path(dirs).write_text('{"notifications": "yes", "sync_mode": "carrier pigeon", "x": 1}')
    assert load_settings(dirs) == AppSettings()
    settings_path(dirs).write_text("{broken")
    assert "unreadable" in load_settings(dirs).load_error


def test_an_old_app_json_with_bandwidth_limits_still_loads(tmp_path: Path) -> None:
    """Versions before the engine had limits kept (unused) upload/download limits in app.json."""
    dirs = Dirs.under(tmp_path)
    settings_path(dirs).parent.mkdir(parents=True, exist_ok=True)
    settings_path(dirs).write_text('{"first_run_done": true, "sync_mode": "relay", "relay_url": "https://r.example", '
                                   '"upload_limit_kib": 500, "download_limit_kib": 0, "notifications": false}')
    loaded = load_settings(dirs)
    assert loaded == AppSettings(first_run_done=True, sync_mode=SyncMode.RELAY, relay_url="https://r.example",
                                 notifications=False)
    assert not loaded.load_error and not hasattr(loaded, "upload_limit_kib")
    save_settings(dirs, loaded)  # the next save drops them
    assert "limit" not in settings_path(dirs).read_text()


def test_bandwidth_boxes_rules() -> None:
    assert [to_kib(b) for b in (0, 1, 500, 1024, 1536, 10_000_000)] == [0, 1, 1, 1, 2, 9766]
    current = Bandwidth(lan_up=10_000_000, lan_down=0, relay_up=2048, relay_down=4096)
    shown = {"lan_up": 9766, "lan_down": 0, "relay_up": 2, "relay_down": 4}
    # only the boxes changed since they were shown are taken; the others keep the exact limit
    assert edited_bandwidth(current, shown, {**shown, "lan_down": 300}) == Bandwidth(10_000_000, 300 * 1024, 2048, 4096)
    assert edited_bandwidth(current, shown, {**shown, "relay_up": 0}) == Bandwidth(10_000_000, 0, 0, 4096)
    assert edited_bandwidth(current, shown, shown) == current


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
