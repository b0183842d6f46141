"""SQLite implementation of :class:`relay.storage.AccountStore`: users, devices, auth challenges."""

from __future__ import annotations

import sqlite3

from relay.errors import Conflict, NotFound
from relay.records import Device, User
from relay.sqlite.db import Database


def _user(row: sqlite3.Row) -> User:
    return User(
        username=row["username"],
        password_hash=bytes(row["password_hash"]),
        sign_pk=bytes(row["sign_pk"]) if row["sign_pk"] is not None else None,
        box_pk=bytes(row["box_pk"]) if row["box_pk"] is not None else None,
        disabled=bool(row["disabled"]),
        quota=row["quota"],
        used=row["used"],
        created_at=row["created_at"],
    )


def _device(row: sqlite3.Row) -> Device:
    return Device(
        device_id=row["device_id"],
        username=row["username"],
        public_key=bytes(row["public_key"]),
        name=row["name"],
        revoked=bool(row["revoked"]),
        created_at=row["created_at"],
    )


class SqliteAccounts:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create_user(self, username: str, password_hash: bytes, quota: int, now: float) -> User:
        with self.db.transaction() as c:
            if c.execute("SELECT 1 FROM users WHERE username=?", (username,)).fetchone():
                raise Conflict("username taken", code="username_taken")
            c.execute(
                "INSERT INTO users(username, password_hash, quota, created_at) VALUES (?,?,?,?)",
                (username, password_hash, quota, now),
            )
        user = self.get_user(username)
        assert user is not None
        return user

    def get_user(self, username: str) -> User | None:
        row = self.db.query_one("SELECT * FROM users WHERE username=?", (username,))
        return _user(row) if row else None

    def list_users(self) -> list[User]:
        return [_user(r) for r in self.db.query("SELECT * FROM users ORDER BY username")]

    def _update_user(self, sql: str, params: tuple) -> None:
        with self.db.transaction() as c:
            if c.execute(sql, params).rowcount != 1:
                raise NotFound("no such user", code="user_not_found")

    def set_disabled(self, username: str, disabled: bool) -> None:
        self._update_user("UPDATE users SET disabled=? WHERE username=?", (int(disabled), username))

    def set_quota(self, username: str, quota: int) -> None:
        self._update_user("UPDATE users SET quota=? WHERE username=?", (quota, username))

    def set_password_hash(self, username: str, password_hash: bytes) -> None:
        self._update_user("UPDATE users SET password_hash=? WHERE username=?", (password_hash, username))

    def set_account_keys(self, username: str, sign_pk: bytes, box_pk: bytes) -> None:
        with self.db.transaction() as c:
            row = c.execute("SELECT sign_pk, box_pk FROM users WHERE username=?", (username,)).fetchone()
            if row is None:
                raise NotFound("no such user", code="user_not_found")
            if row["sign_pk"] is not None:
                if bytes(row["sign_pk"]) == sign_pk and bytes(row["box_pk"]) == box_pk:
                    return
                raise Conflict("account keys are already set", code="account_keys_set")
            c.execute("UPDATE users SET sign_pk=?, box_pk=? WHERE username=?", (sign_pk, box_pk, username))

    def add_device(self, username: str, device_id: str, public_key: bytes, name: str, now: float) -> Device:
        with self.db.transaction() as c:
            row = c.execute("SELECT * FROM devices WHERE device_id=?", (device_id,)).fetchone()
            if row is not None:
                if row["username"] != username or row["revoked"]:
                    raise Conflict("device key is registered elsewhere or revoked", code="device_taken")
                return _device(row)
            c.execute(
                "INSERT INTO devices(device_id, username, public_key, name, created_at) VALUES (?,?,?,?,?)",
                (device_id, username, public_key, name, now),
            )
            return _device(c.execute("SELECT * FROM devices WHERE device_id=?", (device_id,)).fetchone())

    def get_device(self, device_id: str) -> Device | None:
        row = self.db.query_one("SELECT * FROM devices WHERE device_id=?", (device_id,))
        return _device(row) if row else None

    def device_and_user(self, device_id: str) -> tuple[Device, User] | None:
        """The device and its account, read together for per-request auth checks."""
        with self.db.reading() as c:
            drow = c.execute("SELECT * FROM devices WHERE device_id=?", (device_id,)).fetchone()
            if drow is None:
                return None
            urow = c.execute("SELECT * FROM users WHERE username=?", (drow["username"],)).fetchone()
        return (_device(drow), _user(urow)) if urow else None

    def list_devices(self, username: str) -> list[Device]:
        rows = self.db.query("SELECT * FROM devices WHERE username=? ORDER BY created_at", (username,))
        return [_device(r) for r in rows]

    def revoke_device(self, username: str, device_id: str) -> None:
        with self.db.transaction() as c:
            n = c.execute(
                "UPDATE devices SET revoked=1 WHERE device_id=? AND username=?", (device_id, username)
            ).rowcount
            if n != 1:
                raise NotFound("no such device", code="device_not_found")

    def put_challenge(self, nonce: str, device_id: str, expires_at: float) -> None:
        with self.db.transaction() as c:
            c.execute("DELETE FROM challenges WHERE expires_at < ?", (expires_at - 3600,))
            c.execute("INSERT INTO challenges VALUES (?,?,?)", (nonce, device_id, expires_at))

    def take_challenge(self, nonce: str, device_id: str, now: float) -> bool:
        """Consume a challenge: true once, if it exists, belongs to the device and is unexpired."""
        with self.db.transaction() as c:
            row = c.execute("SELECT * FROM challenges WHERE nonce=?", (nonce,)).fetchone()
            if row is None or row["device_id"] != device_id:
                return False
            c.execute("DELETE FROM challenges WHERE nonce=?", (nonce,))
            return now < row["expires_at"]
