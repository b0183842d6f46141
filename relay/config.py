"""Typed relay configuration: defaults, TOML file, ``COVE_RELAY_*`` environment, command line.

Precedence, lowest to highest: built-in defaults < config file (``--config FILE``, TOML, keys as
the field names below) < environment (``COVE_RELAY_<FIELD>`` upper-cased, e.g.
``COVE_RELAY_PORT=8443``) < command-line flags. :func:`describe` renders every setting for
``--help`` and the docs.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
GiB = 1024 * MiB


def _f(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class RelayConfig:
    data_dir: Path = _f(Path("./relay-data"), "Data directory: relay.db (SQLite, WAL), blocks/, secret.key.")
    host: str = _f("127.0.0.1", "Address to listen on (use 0.0.0.0 or :: to listen on all interfaces).")
    port: int = _f(8443, "TCP port (0 picks a free one; the chosen port is logged).")
    tls_cert: Path | None = _f(None, "PEM certificate chain; with tls_key the relay serves HTTPS itself.")
    tls_key: Path | None = _f(None, "PEM private key for tls_cert.")
    open_registration: bool = _f(False, "Allow anyone to create an account via POST /v1/accounts.")
    default_quota: int = _f(10 * GiB, "Storage quota in bytes for new accounts.")
    max_block_bytes: int = _f(16 * MiB, "Largest block accepted by PUT.")
    max_json_bytes: int = _f(4 * MiB, "Largest JSON request body.")
    max_batch_bytes: int = _f(64 * MiB, "Largest body of a batch block upload (POST .../blocks).")
    max_batch_blocks: int = _f(1000, "Most blocks in one batch block upload.")
    request_timeout: float = _f(120.0, "Seconds a request (including its body upload) may take.")
    max_connections_per_account: int = _f(64, "Concurrent requests plus WebSockets per account.")
    token_ttl: float = _f(3600.0, "Lifetime in seconds of device bearer tokens.")
    login_token_ttl: float = _f(900.0, "Lifetime in seconds of password-login (account) tokens.")
    challenge_ttl: float = _f(120.0, "Seconds a device-auth challenge stays valid.")
    invitation_ttl: float = _f(7 * 86400.0, "Default lifetime of invitations in seconds.")
    link_ttl: float = _f(600.0, "Default lifetime in seconds of a device-link offer (POST /v1/link).")
    link_max_ttl: float = _f(3600.0, "Longest lifetime in seconds a device-link offer may ask for.")
    link_attempts_per_account: int = _f(10, "Failed device-link fetches allowed per account per login_window.")
    login_attempts_per_user: int = _f(5, "Failed logins allowed per username per login_window.")
    login_attempts_per_ip: int = _f(30, "Login attempts allowed per client address per login_window.")
    login_window: float = _f(300.0, "Window in seconds for the login rate limits.")
    password_strength: str = _f("interactive", "Argon2id cost for new passwords: min, interactive, moderate.")
    gc_grace: float = _f(86400.0, "Seconds an unreferenced block is kept before it is collected.")
    gc_interval: float = _f(600.0, "Seconds between garbage-collection passes (0 disables).")
    revocation_sweep_interval: float = _f(5.0, "Seconds between checks that close WebSockets of disabled accounts.")
    ws_queue: int = _f(1024, "Notifications buffered per WebSocket before a slow client is dropped.")
    ws_heartbeat: float = _f(30.0, "WebSocket ping interval in seconds.")
    sqlite_synchronous: str = _f("FULL", "SQLite synchronous mode: FULL (durable on power loss) or NORMAL.")
    shutdown_timeout: float = _f(30.0, "Seconds to let in-flight requests finish on SIGTERM.")
    log_level: str = _f("INFO", "Log level: DEBUG, INFO, WARNING, ERROR.")
    access_log: bool = _f(True, "Log every request as a JSON line.")
    trust_proxy: bool = _f(False, "Take the client address from X-Forwarded-For (behind a reverse proxy).")

    @property
    def db_path(self) -> Path:
        return self.data_dir / "relay.db"

    @property
    def blocks_dir(self) -> Path:
        return self.data_dir / "blocks"

    @property
    def secret_path(self) -> Path:
        return self.data_dir / "secret.key"


class ConfigError(ValueError):
    """A setting with a wrong name or a value of the wrong type."""


def _coerce(name: str, kind: Any, value: Any) -> Any:
    kind_s = str(kind)
    try:
        if "Path" in kind_s:
            return None if value in (None, "") else Path(value)
        if kind_s in ("bool", "<class 'bool'>"):
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind_s in ("int", "<class 'int'>"):
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind_s in ("float", "<class 'float'>"):
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad value for {name}: {value!r}") from exc


def load_config(
    *, file: Path | None = None, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> RelayConfig:
    """Merge defaults, the TOML ``file``, ``COVE_RELAY_*`` variables of ``env`` and ``overrides``."""
    fields = {f.name: f for f in dataclasses.fields(RelayConfig)}
    values: dict[str, Any] = {}
    if file is not None:
        with open(file, "rb") as fh:
            data = tomllib.load(fh)
        for key, value in data.items():
            if key not in fields:
                raise ConfigError(f"unknown setting {key!r} in {file}")
            values[key] = _coerce(key, fields[key].type, value)
    for key, value in (os.environ if env is None else env).items():
        if key.startswith("COVE_RELAY_"):
            name = key[len("COVE_RELAY_") :].lower()
            if name not in fields:
                raise ConfigError(f"unknown environment setting {key}")
            values[name] = _coerce(name, fields[name].type, value)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(key, fields[key].type, value)
    config = RelayConfig(**values)
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ConfigError("tls_cert and tls_key must be given together")
    if config.password_strength not in ("min", "interactive", "moderate"):
        raise ConfigError("password_strength must be min, interactive or moderate")
    return config


def describe() -> str:
    """One paragraph per setting: name, environment variable, default, help."""
    lines = []
    for f in dataclasses.fields(RelayConfig):
        default = f.default
        lines.append(f"  {f.name} (COVE_RELAY_{f.name.upper()}, default {default!s})\n      {f.metadata['help']}")
    return "\n".join(lines)
