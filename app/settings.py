"""Settings that only the desktop app uses, kept in ``<config dir>/app.json`` beside the engine's
``config.json`` (which the app never edits directly: engine settings such as bandwidth limits and
paused peers go through :class:`sync.engine.Engine`), and the XDG autostart entry.

:class:`AppSettings` is typed and validated on load; an unreadable file falls back to defaults
with the problem in :attr:`AppSettings.load_error` instead of stopping the app, and keys it does
not know (such as ``upload_limit_kib`` of older versions) are skipped. Saving is atomic.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from urllib.parse import urlparse

import resources
from sync.config import Dirs, atomic_write_json

SETTINGS_FILE = "app.json"
AUTOSTART_NAME = "cove.desktop"


class SyncMode:
    LAN = "lan"
    RELAY = "relay"


@dataclass(frozen=True)
class AppSettings:
    first_run_done: bool = False
    sync_mode: str = SyncMode.LAN
    relay_url: str = ""
    relay_account: str = ""
    notifications: bool = True
    start_on_login: bool = False
    load_error: str = ""

    def with_(self, **changes: object) -> AppSettings:
        return replace(self, **changes)  # type: ignore[arg-type]


def settings_path(dirs: Dirs) -> Path:
    return dirs.config / SETTINGS_FILE


def load_settings(dirs: Dirs) -> AppSettings:
    path = settings_path(dirs)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return AppSettings()
    except (OSError, ValueError) as e:
        return AppSettings(load_error=f"{path} is unreadable ({e}); using defaults")
    if not isinstance(raw, dict):
        return AppSettings(load_error=f"{path} is not a JSON object; using defaults")
    known = {f.name: f for f in fields(AppSettings) if f.name != "load_error"}
    values: dict[str, object] = {}
    defaults = AppSettings()
    for name, value in raw.items():
        if name not in known:
            continue
        default = getattr(defaults, name)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        else:
            ok = isinstance(value, str)
        if ok:
            values[name] = value
    if values.get("sync_mode") not in (None, SyncMode.LAN, SyncMode.RELAY):
        values.pop("sync_mode")
    return AppSettings(**values)  # type: ignore[arg-type]


def save_settings(dirs: Dirs, settings: AppSettings) -> None:
    data = asdict(settings)
    data.pop("load_error")
    atomic_write_json(settings_path(dirs), data)


def validate_relay_url(url: str) -> str | None:
    """None if ``url`` can name a relay, else what is wrong with it (for a person)."""
    url = url.strip()
    if not url:
        return "Enter the address of your relay, e.g. https://relay.example.org"
    parsed = urlparse(url)
    if parsed.scheme not in ("https", "http"):
        return "The address must start with https:// (or http:// for a relay on your own network)"
    if not parsed.hostname:
        return "The address has no host name"
    if parsed.query or parsed.fragment:
        return "The address must not contain ? or #"
    return None


# -- start on login (XDG autostart) ---------------------------------------------------------------


def autostart_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "autostart"


def autostart_enabled(directory: Path | None = None) -> bool:
    return ((directory or autostart_dir()) / AUTOSTART_NAME).exists()


def set_autostart(enabled: bool, directory: Path | None = None, exec_line: str | None = None) -> Path:
    """Write or remove the autostart entry (from ``resources/cove-autostart.desktop``)."""
    target = (directory or autostart_dir()) / AUTOSTART_NAME
    if not enabled:
        target.unlink(missing_ok=True)
        return target
    text = resources.path("cove-autostart.desktop").read_text(encoding="utf-8")
    if exec_line:
        text = "\n".join(f"Exec={exec_line}" if ln.startswith("Exec=") else ln for ln in text.splitlines()) + "\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return target
