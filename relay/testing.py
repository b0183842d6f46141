"""A small async client of the relay API and an in-process server, for tests and benchmarks.

This is deliberately thin and trusting (it does not verify what it reads back); the engine's real
client belongs to ``sync``. :class:`Identity` holds one user's account keys and one device key;
:class:`RelayClient` speaks the HTTP API as that device and keeps its log head per folder;
:func:`running_relay` serves an app on 127.0.0.1 with an ephemeral port.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from relay import blockbatch
from relay.app import create_app
from relay.config import RelayConfig
from relay.keys import Clock
from sync.wire.canonical import b64encode
from sync.wire.envelopes import GENESIS_HASH, LogEntry, MembershipChange, sign_relay_auth
from sync.wire.ids import device_id_from_public_key


def new_folder_id() -> str:
    return secrets.token_urlsafe(16)


def block_id_for(data: bytes, key: bytes = b"cove-test-folder-key") -> str:
    """Stand-in for the engine's keyed hash: BLAKE2b-256 keyed with a fixed test key."""
    return hashlib.blake2b(data, digest_size=32, key=key).hexdigest()


@dataclass
class Identity:
    username: str
    password: str = "correct horse battery"
    user_sign: SigningKey = field(default_factory=SigningKey.generate)
    user_box: PrivateKey = field(default_factory=PrivateKey.generate)
    device_key: SigningKey = field(default_factory=SigningKey.generate)

    @property
    def device_id(self) -> str:
        return device_id_from_public_key(bytes(self.device_key.verify_key))

    def other_device(self) -> Identity:
        return Identity(self.username, self.password, self.user_sign, self.user_box, SigningKey.generate())


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body

    @property
    def code(self) -> str | None:
        return self.body.get("error", {}).get("code") if isinstance(self.body, dict) else None


@dataclass
class Head:
    seq: int = 0
    hash: str = GENESIS_HASH


class RelayClient:
    def __init__(self, base_url: str, session: aiohttp.ClientSession, identity: Identity) -> None:
        self.base = base_url.rstrip("/")
        self.session = session
        self.me = identity
        self.token: str | None = None
        self.account_token: str | None = None
        self.heads: dict[str, Head] = {}

    # -- plumbing -----------------------------------------------------------------------------

    async def call(self, method: str, path: str, *, json: Any = None, data: bytes | None = None,
                   headers: dict[str, str] | None = None, token: str | None = "device",
                   ok: tuple[int, ...] = (200, 201)) -> Any:
        hdrs = dict(headers or {})
        tok = self.token if token == "device" else self.account_token if token == "account" else token
        if tok:
            hdrs["Authorization"] = f"Bearer {tok}"
        async with self.session.request(method, self.base + path, json=json, data=data, headers=hdrs) as resp:
            body: Any = await resp.read()
            if resp.content_type == "application/json":
                import json as _json

                body = _json.loads(body)
            if resp.status not in ok:
                raise ApiError(resp.status, body)
            return body

    # -- account and device -------------------------------------------------------------------

    async def signup(self) -> None:
        await self.call("POST", "/v1/accounts", json={"username": self.me.username, "password": self.me.password},
                        token=None)

    async def login(self) -> str:
        out = await self.call("POST", "/v1/auth/login",
                              json={"username": self.me.username, "password": self.me.password}, token=None)
        self.account_token = out["token"]
        return out["token"]

    async def register_device(self, name: str = "test device") -> None:
        await self.call("POST", "/v1/devices", json={"public_key": b64encode(bytes(self.me.device_key.verify_key)),
                                                     "name": name}, token="account")

    async def set_account_keys(self) -> None:
        await self.call("PUT", "/v1/account/keys", token="account", json={
            "sign_pk": b64encode(bytes(self.me.user_sign.verify_key)),
            "box_pk": b64encode(bytes(self.me.user_box.public_key)),
        })

    async def authenticate(self) -> str:
        ch = await self.call("POST", "/v1/auth/challenge", json={"device": self.me.device_id}, token=None)
        sig = sign_relay_auth(self.me.device_key, self.me.device_id, ch["challenge"])
        out = await self.call("POST", "/v1/auth/token", token=None, json={
            "device": self.me.device_id, "challenge": ch["challenge"], "signature": b64encode(sig)})
        self.token = out["token"]
        return out["token"]

    async def setup(self, *, signup: bool = True) -> RelayClient:
        """Sign up (open registration), log in, register this device and keys, get a device token."""
        if signup:
            await self.signup()
        await self.login()
        await self.register_device()
        await self.set_account_keys()
        await self.authenticate()
        return self

    # -- folders ------------------------------------------------------------------------------

    def change(self, folder: str, op: str, member: str, role: str | None, epoch: int = 0) -> MembershipChange:
        return MembershipChange.signed(
            self.me.user_sign, folder=folder, id=secrets.token_urlsafe(16), op=op, member=member, role=role,
            signer=self.me.username, epoch=epoch, issued_at=int(time.time()),
        )

    async def create_folder(self, folder: str | None = None) -> str:
        folder = folder or new_folder_id()
        change = self.change(folder, "create", self.me.username, "owner")
        await self.call("POST", "/v1/folders", json={"change": change.to_wire(),
                                                     "wrapped_key": b64encode(b"wrapped-for-owner")})
        return folder

    async def invite(self, folder: str, username: str, role: str = "editor", ttl: float | None = None) -> str:
        body: dict[str, Any] = {"change": self.change(folder, "add", username, role).to_wire(),
                                "wrapped_key": b64encode(b"wrapped-for-" + username.encode())}
        if ttl is not None:
            body["ttl"] = ttl
        out = await self.call("POST", f"/v1/folders/{folder}/invitations", json=body)
        return out["id"]

    async def accept(self, invitation: str) -> Any:
        return await self.call("POST", f"/v1/invitations/{invitation}/accept")

    # -- blocks and log -----------------------------------------------------------------------

    async def put_block(self, folder: str, data: bytes, block_id: str | None = None) -> str:
        block_id = block_id or block_id_for(data)
        await self.call("PUT", f"/v1/folders/{folder}/blocks/{block_id}", data=data,
                        headers={"X-Cove-Sha256": hashlib.sha256(data).hexdigest(),
                                 "Content-Type": "application/octet-stream"})
        return block_id

    async def put_blocks(self, folder: str, blocks: list[bytes] | list[tuple[str, bytes]]) -> Any:
        """Upload several blocks in one batch request; ``blocks`` are data or (block ID, data)."""
        pairs = [b if isinstance(b, tuple) else (block_id_for(b), b) for b in blocks]
        body = b"".join(blockbatch.encode(pairs))
        return await self.call("POST", f"/v1/folders/{folder}/blocks", data=body,
                               headers={"Content-Type": blockbatch.CONTENT_TYPE})

    async def get_block(self, folder: str, block_id: str) -> bytes:
        return await self.call("GET", f"/v1/folders/{folder}/blocks/{block_id}")

    def next_entry(self, folder: str, blocks: list[str] | tuple[str, ...] = (), ciphertext: bytes = b"ct") -> LogEntry:
        head = self.heads.get(folder, Head())
        return LogEntry.signed(self.me.device_key, folder=folder, device=self.me.device_id, seq=head.seq + 1,
                               prev=head.hash, blocks=list(blocks), ciphertext=ciphertext)

    async def append_entry(self, entry: LogEntry) -> Any:
        out = await self.call("POST", f"/v1/folders/{entry.folder}/log", json={"entry": entry.to_wire()})
        self.heads[entry.folder] = Head(entry.seq, entry.entry_hash())
        return out

    async def append(self, folder: str, blocks: list[str] | tuple[str, ...] = (), ciphertext: bytes = b"ct") -> Any:
        return await self.append_entry(self.next_entry(folder, blocks, ciphertext))

    async def read_log(self, folder: str, after: int = 0, limit: int = 500) -> Any:
        return await self.call("GET", f"/v1/folders/{folder}/log?after={after}&limit={limit}")

    async def read_all(self, folder: str, after: int = 0) -> list[dict]:
        out: list[dict] = []
        for _ in range(100_000):
            page = await self.read_log(folder, after, 1000)
            out.extend(page["entries"])
            after = page["next"]
            if not page["more"]:
                return out
        raise RuntimeError("log did not end")

    async def websocket(self) -> aiohttp.ClientWebSocketResponse:
        return await self.session.ws_connect(self.base + "/v1/notify",
                                             headers={"Authorization": f"Bearer {self.token}"})


@contextlib.asynccontextmanager
async def running_relay(config: RelayConfig, *, clock: Clock = time.time) -> AsyncIterator[tuple[str, web.Application]]:
    """Serve a relay app on 127.0.0.1 (port 0) in this event loop; yields (base URL, app)."""
    app = create_app(config, clock=clock)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", app
    finally:
        await runner.cleanup()
