"""Typed configuration: where Cove keeps its files, which folders it syncs, and each folder's marker.

Three places on disk, and nothing else:

* the **config directory** (platformdirs ``user_config_dir("cove")``, or ``$COVE_CONFIG_DIR``)
  holds ``config.json``: the list of folders and app settings;
* the **data directory** (``user_data_dir("cove")``, or ``$COVE_DATA_DIR``) holds the device key
  and one index database per folder (``folders/<folder id>/index.db``);
* each synced root holds a ``.cove/`` directory with the **marker** ``folder.json`` (the folder ID),
  the local history and temp files. The marker lets the engine tell "this is my folder" from "the
  disk was not mounted" or "someone put another directory here": a root without its marker is an
  error, never an empty folder.

Loading validates everything and raises :class:`ConfigError` with a message meant for a person.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import platformdirs

from sync.atomic import replace_file
from sync.wire.ids import is_device_id

CONFIG_VERSION = 1
MARKER_DIR = ".cove"
MARKER_FILE = "folder.json"
HISTORY_DIR = "history"
TEMP_PREFIX = ".cove-tmp-"


class ConfigError(Exception):
    """Configuration that cannot be used; the message says what to do."""


@dataclass(frozen=True)
class VersioningConfig:
    """Local history retention: at most ``keep`` versions per file, thinned by age
    (staggered: every version for the first hour, one per hour for a day, one per day for a month,
    one per week after), and nothing older than ``max_age_days`` (0 keeps forever)."""

    keep: int = 20
    max_age_days: int = 365


@dataclass(frozen=True)
class FolderConfig:
    id: str
    path: Path
    label: str = ""
    rescan_interval_s: float = 3600.0
    debounce_ms: int = 100
    paused: bool = False
    versioning: VersioningConfig = field(default_factory=VersioningConfig)
    relay: bool = False  # synced through the account's relay (else local/LAN only)

    @property
    def marker_dir(self) -> Path:
        return self.path / MARKER_DIR

    @property
    def history_dir(self) -> Path:
        return self.path / MARKER_DIR / HISTORY_DIR

    def to_json(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d

    @staticmethod
    def from_json(d: dict) -> FolderConfig:
        try:
            versioning = VersioningConfig(**d.get("versioning", {}))
            return FolderConfig(
                id=str(d["id"]),
                path=Path(d["path"]),
                label=str(d.get("label", "")),
                rescan_interval_s=float(d.get("rescan_interval_s", 3600.0)),
                debounce_ms=int(d.get("debounce_ms", 100)),
                paused=bool(d.get("paused", False)),
                versioning=versioning,
                relay=bool(d.get("relay", False)),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"malformed folder entry in config: {e}") from e


@dataclass(frozen=True)
class Dirs:
    """The per-user directories, resolved once and passed in (never looked up deep inside)."""

    config: Path
    data: Path

    @staticmethod
    def default() -> Dirs:
        config = os.environ.get("COVE_CONFIG_DIR") or platformdirs.user_config_dir("cove")
        data = os.environ.get("COVE_DATA_DIR") or platformdirs.user_data_dir("cove")
        return Dirs(config=Path(config), data=Path(data))

    @staticmethod
    def under(home: Path) -> Dirs:
        """Everything under one directory (``--home``): tests and several devices on one machine."""
        return Dirs(config=home / "config", data=home / "data")

    @property
    def config_file(self) -> Path:
        return self.config / "config.json"

    def index_path(self, folder_id: str) -> Path:
        return self.data / "folders" / folder_id / "index.db"


@dataclass(frozen=True)
class RelayAccount:
    """The relay this device signed in to, and as whom."""

    url: str
    username: str


@dataclass(frozen=True)
class Bandwidth:
    """Bandwidth limits in bytes per second, 0 for none: to and from LAN peers, and to and from
    the relay, each set on its own (``cove limits``, the app's settings)."""

    lan_up: int = 0
    lan_down: int = 0
    relay_up: int = 0
    relay_down: int = 0

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(d: object) -> Bandwidth:
        names = [f.name for f in fields(Bandwidth)]
        if not isinstance(d, dict) or set(d) - set(names):
            raise ConfigError(f"malformed bandwidth limits in config (expected {', '.join(names)})")
        values = {k: d.get(k, 0) for k in names}
        for k, v in values.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"bandwidth limit {k} must be a whole number of bytes per second, 0 for none (got {v!r})")
        return Bandwidth(**values)


@dataclass(frozen=True)
class AppConfig:
    folders: tuple[FolderConfig, ...] = ()
    device_name: str = ""
    relay: RelayAccount | None = None
    bandwidth: Bandwidth = field(default_factory=Bandwidth)
    paused_peers: tuple[str, ...] = ()  # device IDs: not connected to, not accepted, until resumed

    def folder_for(self, path: Path) -> FolderConfig | None:
        """The folder whose root contains ``path`` (or is it)."""
        p = path.resolve()
        for f in self.folders:
            root = f.path.resolve()
            if p == root or root in p.parents:
                return f
        return None

    def with_folder(self, folder: FolderConfig) -> AppConfig:
        others = tuple(f for f in self.folders if f.id != folder.id)
        return replace(self, folders=others + (folder,))


def atomic_write_json(path: Path, data: object) -> None:
    """Write JSON through a temp file, fsync and rename, so a crash leaves the old or new file."""
    replace_file(path, json.dumps(data, indent=2, sort_keys=True).encode("utf-8"))


def load_app_config(dirs: Dirs) -> AppConfig:
    path = dirs.config_file
    if not path.exists():
        return AppConfig()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read {path}: {e}. Fix or remove the file.") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} is not a JSON object")
    version = raw.get("version", CONFIG_VERSION)
    if not isinstance(version, int) or version > CONFIG_VERSION:
        raise ConfigError(
            f"{path} was written by a newer Cove (config version {version}); "
            f"this Cove understands version {CONFIG_VERSION}. Upgrade Cove."
        )
    folders = tuple(FolderConfig.from_json(f) for f in raw.get("folders", []))
    relay_raw = raw.get("relay")
    relay = None
    if relay_raw is not None:
        if not isinstance(relay_raw, dict) or not isinstance(relay_raw.get("url"), str) or not isinstance(
            relay_raw.get("username"), str
        ):
            raise ConfigError(f"{path}: malformed relay account")
        relay = RelayAccount(url=relay_raw["url"], username=relay_raw["username"])
    bandwidth = Bandwidth.from_json(raw.get("bandwidth", {}))
    peers = raw.get("paused_peers", [])
    if not isinstance(peers, list) or not all(isinstance(p, str) and is_device_id(p) for p in peers):
        raise ConfigError(f"{path}: paused_peers must be a list of device IDs")
    return AppConfig(folders=folders, device_name=str(raw.get("device_name", "")), relay=relay,
                     bandwidth=bandwidth, paused_peers=tuple(peers))


def save_app_config(dirs: Dirs, config: AppConfig) -> None:
    atomic_write_json(
        dirs.config_file,
        {
            "version": CONFIG_VERSION,
            "device_name": config.device_name,
            "folders": [f.to_json() for f in config.folders],
            "relay": None if config.relay is None else {"url": config.relay.url, "username": config.relay.username},
            "bandwidth": config.bandwidth.to_json(),
            "paused_peers": sorted(config.paused_peers),
        },
    )


def new_folder_id() -> str:
    """A random folder ID: 20 lowercase base32 characters (100 bits)."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return "".join(secrets.choice(alphabet) for _ in range(20))


def read_marker(root: Path) -> str | None:
    """The folder ID in ``root``'s marker, or None when there is no marker."""
    marker = root / MARKER_DIR / MARKER_FILE
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ConfigError(f"folder marker {marker} is unreadable: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("folder_id"), str):
        raise ConfigError(f"folder marker {marker} is malformed")
    return data["folder_id"]


def write_marker(root: Path, folder_id: str) -> None:
    atomic_write_json(root / MARKER_DIR / MARKER_FILE, {"version": CONFIG_VERSION, "folder_id": folder_id})
