"""The embedded metadata store: SQLite in WAL mode, one connection used from one thread.

:class:`SqliteStores` opens the database, migrates it, and exposes the per-area stores
(:mod:`.accounts`, :mod:`.folders`, :mod:`.logs`, :mod:`.blocks`, :mod:`.links`) that implement the protocols of
:mod:`relay.storage` over the shared connection.
"""

from __future__ import annotations

from pathlib import Path

from relay.sqlite.accounts import SqliteAccounts
from relay.sqlite.blocks import SqliteBlocks
from relay.sqlite.certs import SqliteCerts
from relay.sqlite.db import Database
from relay.sqlite.folders import SqliteFolders
from relay.sqlite.links import SqliteLinks
from relay.sqlite.logs import SqliteLogs


class SqliteStores:
    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        self.db = Database(path, synchronous=synchronous)
        self.accounts = SqliteAccounts(self.db)
        self.folders = SqliteFolders(self.db)
        self.logs = SqliteLogs(self.db)
        self.blocks = SqliteBlocks(self.db)
        self.certs = SqliteCerts(self.db)
        self.links = SqliteLinks(self.db)

    def close(self) -> None:
        self.db.close()
