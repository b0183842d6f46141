"""Administration of a relay data directory, used by ``cove-relay user ...`` and ``stats``.

Works on the SQLite database directly (WAL allows it while the server runs). Changes take effect
on the server's next request, since the server re-reads accounts and devices on every request;
WebSockets of a disabled account are closed by the server's periodic revocation sweep.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from relay.auth import hash_password
from relay.errors import BadRequest
from relay.sqlite import SqliteStores
from sync.wire.ids import is_username

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(i?B?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


def parse_size(text: str) -> int:
    """``10G``, ``500MiB``, ``1048576`` → bytes (binary units)."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@dataclass
class Admin:
    data_dir: Path

    def _stores(self) -> SqliteStores:
        if not (self.data_dir / "relay.db").exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
        return SqliteStores(self.data_dir / "relay.db")

    def add_user(self, username: str, password: str, quota: int, strength: str, now: float) -> None:
        if not is_username(username):
            raise BadRequest("usernames are 2-32 characters: a-z, 0-9, _ and -, starting alphanumeric")
        if len(password) < 8:
            raise BadRequest("passwords need at least 8 characters")
        stores = self._stores()
        try:
            stores.accounts.create_user(username, hash_password(password, strength), quota, now)
        finally:
            stores.close()

    def list_users(self) -> list[dict]:
        stores = self._stores()
        try:
            out = []
            for u in stores.accounts.list_users():
                devices = stores.accounts.list_devices(u.username)
                out.append({
                    "username": u.username, "disabled": u.disabled, "quota": u.quota, "used": u.used,
                    "devices": sum(1 for d in devices if not d.revoked), "keys": u.sign_pk is not None,
                })
            return out
        finally:
            stores.close()

    def set_disabled(self, username: str, disabled: bool) -> None:
        stores = self._stores()
        try:
            stores.accounts.set_disabled(username, disabled)
        finally:
            stores.close()

    def set_quota(self, username: str, quota: int) -> None:
        stores = self._stores()
        try:
            stores.accounts.set_quota(username, quota)
        finally:
            stores.close()

    def set_password(self, username: str, password: str, strength: str) -> None:
        if len(password) < 8:
            raise BadRequest("passwords need at least 8 characters")
        stores = self._stores()
        try:
            stores.accounts.set_password_hash(username, hash_password(password, strength))
        finally:
            stores.close()

    def stats(self) -> dict:
        stores = self._stores()
        try:
            db = stores.db
            one = lambda sql: db.query_one(sql)[0]  # noqa: E731
            blocks, nbytes = stores.blocks.count()
            return {
                "data_dir": str(self.data_dir),
                "users": one("SELECT COUNT(*) FROM users"),
                "disabled_users": one("SELECT COUNT(*) FROM users WHERE disabled"),
                "devices": one("SELECT COUNT(*) FROM devices WHERE NOT revoked"),
                "folders": one("SELECT COUNT(*) FROM folders"),
                "log_entries": one("SELECT COUNT(*) FROM entries"),
                "pending_invitations": one("SELECT COUNT(*) FROM invitations WHERE state='pending'"),
                "blocks": blocks,
                "block_bytes": nbytes,
                "unreferenced_blocks": one("SELECT COUNT(*) FROM blocks WHERE refcount=0"),
                "database_bytes": sum(
                    os.path.getsize(p) for p in self.data_dir.glob("relay.db*") if p.is_file()
                ),
            }
        finally:
            stores.close()
