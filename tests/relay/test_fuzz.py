"""Schema-driven fuzz: every route of the served OpenAPI document, hit with generated path
parameters, queries, headers, tokens and bodies (shaped by the schema, arbitrary JSON, or raw
bytes). The relay must never answer 5xx. Bounded examples keep it quick.

The relay runs in a background thread with its own event loop; requests go through http.client so
odd paths reach the server untouched.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.testing import RelayClient, Identity, running_relay
from tests.relay.conftest import make_config


class ServerThread:
    def __init__(self, config) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.started: Future[str] = Future()
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self.stop_event = asyncio.Event()
        async with running_relay(self.config) as (base, app):
            self.app = app
            self.started.set_result(base)
            await self.stop_event.wait()

    def run(self, coro) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        self.base = self.started.result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(30)


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory) -> Iterator[dict]:
    config = make_config(tmp_path_factory.mktemp("fuzz") / "data", max_json_bytes=256 * 1024,
                         max_block_bytes=256 * 1024, login_attempts_per_ip=10**6, login_attempts_per_user=10**6)
    with ServerThread(config) as server:
        async def setup() -> dict:
            async with aiohttp.ClientSession() as session:
                alice = await RelayClient(server.base, session, Identity("alice")).setup()
                bob = await RelayClient(server.base, session, Identity("bob")).setup()
                folder = await alice.create_folder()
                block = await alice.put_block(folder, b"fuzz block")
                await alice.append(folder, [block])
                inv = await alice.invite(folder, "bob")
                return {"base": server.base, "folder": folder, "block": block, "invitation": inv,
                        "device": alice.me.device_id, "username": "bob",
                        "tokens": [alice.token, alice.account_token, bob.token, None, "cove1.d.x.1.y", "garbage"]}

        world = server.run(setup())
        conn = http.client.HTTPConnection(urlsplit(server.base).hostname, urlsplit(server.base).port, timeout=30)
        world["get_doc"] = lambda: json.loads(_request(conn, "GET", "/openapi.json", None, {})[1])
        world["conn"] = conn
        world["doc"] = world["get_doc"]()
        yield world
        conn.close()


def _request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None,
             headers: dict[str, str]) -> tuple[int, bytes]:
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.getheader("Connection", "").lower() == "close":
            conn.close()
        return resp.status, data
    except (http.client.HTTPException, ConnectionError):
        conn.close()  # reconnects on the next request
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()


TRICKS = ["..", "%2e%2e", "%2e%2e%2f%2e%2e", "..%2f..%2fsecret.key", "%00", "a" * 300, "%", "%zz", "~", "-",
          "A" * 16, "0" * 64, "ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def _field_value(schema: dict, world: dict) -> st.SearchStrategy:
    options = [json_values]
    if schema.get("format") == "byte":
        options.append(st.binary(max_size=80).map(lambda b: __import__("base64").b64encode(b).decode()))
    if schema.get("type") == "integer":
        options.append(st.integers(min_value=-5, max_value=2**64))
    return st.one_of(*options)


def _bodies(op: dict, world: dict) -> st.SearchStrategy:
    content = op.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    raw = st.binary(max_size=300)
    arbitrary = json_values.map(lambda v: json.dumps(v).encode())
    if not schema or "properties" not in schema:
        return st.one_of(raw, arbitrary, st.just(b""))
    props = schema["properties"]
    shaped = st.fixed_dictionaries(
        {}, optional={name: _field_value(sub, world) for name, sub in props.items()}
    ).map(lambda d: json.dumps(d).encode())
    return st.one_of(shaped, shaped, arbitrary, raw)


def _param(name: str, world: dict) -> st.SearchStrategy[str]:
    valid = {"folder": world["folder"], "block": world["block"], "device": world["device"],
             "username": world["username"], "invitation": world["invitation"],
             "slot": "ABCDE"}.get(name, "x")
    return st.one_of(
        st.just(valid),
        st.sampled_from(TRICKS),
        st.text(max_size=70).map(lambda t: quote(t, safe="")),
        st.text(alphabet="abcdef0123456789", min_size=63, max_size=65),
    )


ROUTES = [
    ("DELETE", "/v1/devices/{device}"), ("DELETE", "/v1/folders/{folder}/invitations/{invitation}"),
    ("GET", "/healthz"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("GET", "/v1/account"),
    ("GET", "/v1/devices"), ("GET", "/v1/folders"), ("GET", "/v1/link/{slot}"), ("POST", "/v1/link"), ("GET", "/v1/folders/{folder}"),
    ("GET", "/v1/folders/{folder}/blocks/{block}"), ("GET", "/v1/folders/{folder}/cursor"),
    ("GET", "/v1/folders/{folder}/heads"), ("GET", "/v1/folders/{folder}/invitations"),
    ("GET", "/v1/folders/{folder}/keys"), ("GET", "/v1/folders/{folder}/log"), ("GET", "/v1/invitations"),
    ("GET", "/v1/notify"), ("GET", "/v1/users/{username}/keys"), ("HEAD", "/v1/folders/{folder}/blocks/{block}"),
    ("POST", "/v1/accounts"), ("POST", "/v1/auth/challenge"), ("POST", "/v1/auth/login"), ("POST", "/v1/auth/token"),
    ("POST", "/v1/devices"), ("POST", "/v1/folders"), ("POST", "/v1/folders/{folder}/blocks"),
    ("POST", "/v1/folders/{folder}/blocks/missing"),
    ("POST", "/v1/folders/{folder}/invitations"), ("POST", "/v1/folders/{folder}/log"),
    ("POST", "/v1/folders/{folder}/membership"), ("POST", "/v1/invitations/{invitation}/accept"),
    ("POST", "/v1/invitations/{invitation}/decline"), ("PUT", "/v1/account/keys"),
    ("PUT", "/v1/folders/{folder}/blocks/{block}"), ("PUT", "/v1/folders/{folder}/cursor"),
    ("PUT", "/v1/folders/{folder}/keys"),
    ("GET", "/v1/folders/{folder}/devices"), ("PUT", "/v1/devices/{device}/certificate"),  # sharing
]


def test_route_list_matches_openapi(fuzz_world):
    served = {(m.upper(), p) for p, ops in fuzz_world["doc"]["paths"].items() for m in ops}
    assert served == set(ROUTES)


@pytest.mark.parametrize("method,template", ROUTES)
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_no_5xx(fuzz_world, method, template, data):
    op = fuzz_world["doc"]["paths"][template][method.lower()]
    path = template
    for name in re.findall(r"{(\w+)}", template):
        path = path.replace("{" + name + "}", data.draw(_param(name, fuzz_world), label=name))
    query = data.draw(st.lists(st.tuples(st.sampled_from(["after", "limit", "x"]),
                                         st.text(max_size=12).map(lambda t: quote(t, safe=""))), max_size=2))
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in query)
    headers: dict[str, str] = {}
    token = data.draw(st.sampled_from(fuzz_world["tokens"]), label="token")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if data.draw(st.booleans(), label="hash header"):
        headers["X-Cove-Sha256"] = data.draw(st.text(alphabet="0123456789abcdef", min_size=0, max_size=64))
    body = data.draw(_bodies(op, fuzz_world), label="body") if method in ("POST", "PUT") else None
    status, payload = _request(fuzz_world["conn"], method, path, body, headers)
    assert status < 500, (method, path, status, payload[:300])
