"""SQLite implementation of :class:`relay.storage.LinkStore`: the device-link mailbox.

One row per pending offer, keyed by its public *slot* (see :mod:`sync.keys`): the opaque
encrypted blob, the account and device that deposited it, and when it expires. Expired rows are
purged when a new offer is deposited; a fetch that finds nothing usable changes nothing (so a
stranger cannot burn someone else's offer), a successful fetch deletes the row (single use).
"""

from __future__ import annotations

from relay.errors import Conflict
from relay.sqlite.db import Database


class SqliteLinks:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put_link(self, slot: str, username: str, device_id: str, blob: bytes, now: float, expires_at: float,
                 max_pending: int) -> None:
        """Store an offer; :class:`Conflict` ``slot_taken`` if the slot holds an unexpired one,
        ``too_many_link_offers`` if the account already has ``max_pending`` pending offers."""
        with self.db.transaction() as c:
            c.execute("DELETE FROM link_offers WHERE expires_at <= ?", (now,))
            if c.execute("SELECT 1 FROM link_offers WHERE slot=?", (slot,)).fetchone():
                raise Conflict("this link slot already holds a pending offer; make a new code", code="slot_taken")
            pending = c.execute("SELECT COUNT(*) FROM link_offers WHERE username=?", (username,)).fetchone()[0]
            if pending >= max_pending:
                raise Conflict(f"this account already has {pending} pending link offers; use or let them expire",
                               code="too_many_link_offers")
            c.execute("INSERT INTO link_offers VALUES (?,?,?,?,?,?)", (slot, username, device_id, blob, now, expires_at))

    def take_link(self, slot: str, username: str, now: float) -> bytes | None:
        """The offer's blob, deleted as it is returned; None (and nothing changed) if the slot is
        empty, expired, or holds another account's offer."""
        with self.db.transaction() as c:
            row = c.execute("SELECT username, blob, expires_at FROM link_offers WHERE slot=?", (slot,)).fetchone()
            if row is None or row["username"] != username or now >= row["expires_at"]:
                return None
            c.execute("DELETE FROM link_offers WHERE slot=?", (slot,))
            return bytes(row["blob"])
