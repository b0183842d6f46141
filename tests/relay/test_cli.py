"""The ``cove-relay`` command line: help, admin commands on a data directory, config precedence,
and a served relay that honours a CLI-disabled account and stops cleanly on SIGTERM."""

from __future__ import annotations

import io
import json
import sys

import aiohttp
import pytest

from relay import cli
from relay.config import ConfigError, load_config
from relay.testing import ApiError, Identity, RelayClient
from tests.relay.test_restart import RelayProcess


def run(argv, capsys, stdin: str | None = None, monkeypatch=None) -> tuple[int, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = cli.main(argv)
    return code, capsys.readouterr().out


def test_help_explains_settings(capsys):
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    out = capsys.readouterr().out
    for word in ("--tls-cert", "COVE_RELAY_MAX_BLOCK_BYTES", "shutdown_timeout", "--config"):
        assert word in out


def test_user_admin_commands(tmp_path, capsys, monkeypatch):
    data = str(tmp_path / "d")
    assert run(["user", "add", "alice", "--data", data, "--password-stdin", "--quota", "2G"], capsys,
               "s3cret-password\n", monkeypatch)[0] == 0
    code, _ = run(["user", "add", "alice", "--data", data, "--password-stdin"], capsys, "s3cret-password\n",
                  monkeypatch)
    assert code == 2
    assert run(["user", "quota", "alice", "5G", "--data", data], capsys)[0] == 0
    assert run(["user", "disable", "alice", "--data", data], capsys)[0] == 0
    code, out = run(["user", "list", "--json", "--data", data], capsys)
    users = json.loads(out)
    assert users == [{"username": "alice", "disabled": True, "quota": 5 * 1024**3, "used": 0, "devices": 0,
                      "keys": False}]
    assert run(["user", "enable", "alice", "--data", data], capsys)[0] == 0
    code, out = run(["stats", "--json", "--data", data], capsys)
    assert json.loads(out)["users"] == 1
    assert run(["user", "disable", "nobody", "--data", data], capsys)[0] == 2


def test_config_precedence(tmp_path):
    f = tmp_path / "relay.toml"
    f.write_text('port = 1000\nhost = "0.0.0.0"\nmax_block_bytes = 5\n')
    c = load_config(file=f, env={"COVE_RELAY_PORT": "2000"}, overrides={"max_block_bytes": 7, "host": None})
    assert (c.port, c.host, c.max_block_bytes) == (2000, "0.0.0.0", 7)
    with pytest.raises(ConfigError):
        load_config(env={"COVE_RELAY_NOPE": "1"})
    with pytest.raises(ConfigError):
        load_config(env={"COVE_RELAY_PORT": "eighty"})


async def test_served_relay_obeys_cli_disable_and_stops_on_sigterm(tmp_path, capsys, monkeypatch):
    server = RelayProcess(tmp_path / "data", tmp_path / "relay.log")
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            alice = await RelayClient(server.base, session, Identity("alice")).setup()
            await alice.call("GET", "/v1/folders")
            assert cli.main(["user", "disable", "alice", "--data", str(server.data)]) == 0
            with pytest.raises(ApiError) as err:
                await alice.call("GET", "/v1/folders")
            assert err.value.status == 403
    finally:
        assert await server.terminate() == 0
    lines = [json.loads(line) for line in (tmp_path / "relay.log").read_text().splitlines()]
    events = [line["event"] for line in lines]
    assert "listening" in events and events[-1] == "stopped"
