"""SQLite store of device certificates (sharing, docs/sharing.md): the account key's signature
over a device's public key, uploaded by the device itself and served to the members of the folders
its account belongs to. The relay keeps them as opaque signed JSON; clients verify them."""

from __future__ import annotations

import json

from relay.records import Device
from relay.sqlite.accounts import _device
from relay.sqlite.db import Database


class SqliteCerts:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put_certificate(self, device_id: str, username: str, cert: dict, now: float) -> None:
        with self.db.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO device_certs VALUES (?,?,?,?)",
                (device_id, username, json.dumps(cert, sort_keys=True), now),
            )

    def folder_devices(self, folder: str) -> list[tuple[Device, dict | None]]:
        """Every device of every current member of ``folder``, with its certificate if uploaded."""
        with self.db.reading() as c:
            rows = c.execute(
                "SELECT d.*, dc.cert_json FROM members m JOIN devices d ON d.username = m.username"
                " LEFT JOIN device_certs dc ON dc.device_id = d.device_id"
                " WHERE m.folder_id=? ORDER BY d.username, d.created_at",
                (folder,),
            ).fetchall()
        return [(_device(r), json.loads(r["cert_json"]) if r["cert_json"] else None) for r in rows]
