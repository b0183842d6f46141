"""Typed ``web.AppKey``s: the resources one relay instance wires together in :mod:`relay.app`."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from relay.auth import Authenticator, TokenMinter
from relay.config import RelayConfig
from relay.durability import GroupSync
from relay.limits import ConnectionCounter, SlidingWindow
from relay.metrics import Metrics
from relay.notify import NotifyHub
from relay.offload import Offload
from relay.storage import (
    AccountStore,
    BlockIndex,
    BlockStore,
    CertStore,
    FolderStore,
    LinkStore,
    LogStore,
)
from relay.stripes import LockStripes

Clock = Callable[[], float]

CONFIG = web.AppKey("config", RelayConfig)
CLOCK = web.AppKey("clock", Clock)
OFFLOAD = web.AppKey("offload", Offload)
ACCOUNTS = web.AppKey("accounts", AccountStore)
FOLDERS = web.AppKey("folders", FolderStore)
LOGS = web.AppKey("logs", LogStore)
LINKS = web.AppKey("links", LinkStore)
BLOCK_INDEX = web.AppKey("block_index", BlockIndex)
CERTS = web.AppKey("certs", CertStore)  # sharing: device certificates
BLOCK_STORE = web.AppKey("block_store", BlockStore)
MINTER = web.AppKey("minter", TokenMinter)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
METRICS = web.AppKey("metrics", Metrics)
HUB = web.AppKey("hub", NotifyHub)
LOGIN_BY_USER = web.AppKey("login_by_user", SlidingWindow)
LOGIN_BY_IP = web.AppKey("login_by_ip", SlidingWindow)
LINK_MISSES = web.AppKey("link_misses", SlidingWindow)
CONNECTIONS = web.AppKey("connections", ConnectionCounter)
BLOCK_LOCKS = web.AppKey("block_locks", LockStripes)
GROUP_SYNC = web.AppKey("group_sync", GroupSync)
