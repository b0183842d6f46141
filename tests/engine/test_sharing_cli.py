"""`cove share` and `cove invites` against a real relay (the CLI runs in a thread with its own loop)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sync.cli import main
from tests.engine.test_sharing import engine_for, root, write


async def cove(capsys, *argv: str) -> tuple[int, str]:
    code = await asyncio.to_thread(main, list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


async def test_share_and_invites_commands(tmp_path: Path, relay_server, capsys) -> None:
    alice = await engine_for(tmp_path, relay_server, "alice", "alice")
    bob = await engine_for(tmp_path, relay_server, "bob", "bob")
    await alice.add_relay_folder(root(alice))
    write(root(alice) / "doc.txt", "shared doc")
    await alice.sync_now()
    alice.close()
    bob.close()
    ha, hb = str(tmp_path / "alice"), str(tmp_path / "bob")

    code, out = await cove(capsys, "--home", ha, "share", "invite", str(root(alice)), "bob", "--role", "editor")
    assert code == 0, out
    assert "Invited bob as editor" in out and "cove://invite?" in out
    link = next(line.split(": ", 1)[1] for line in out.splitlines() if "Invitation link" in line)

    code, out = await cove(capsys, "--home", hb, "invites")
    assert code == 0 and "from alice as editor" in out, out
    inv_id = out.splitlines()[1].split()[0]
    code, out = await cove(capsys, "--home", hb, "invites", "accept", link, str(tmp_path / "bob" / "Shared"))
    assert code == 0, out
    assert (tmp_path / "bob" / "Shared" / "doc.txt").read_bytes() == b"shared doc"
    code, out = await cove(capsys, "--home", hb, "invites", "accept", inv_id)
    assert code == 1 and "no pending invitation" in out

    code, out = await cove(capsys, "--home", ha, "share", "list", str(root(alice)))
    assert code == 0 and "bob" in out and "editor" in out and "(you)" in out, out
    code, out = await cove(capsys, "--home", hb, "share", "invite", str(tmp_path / "bob" / "Shared"), "alice")
    assert code == 1 and "only an owner" in out
    code, out = await cove(capsys, "--home", ha, "share", "remove", str(root(alice)), "bob")
    assert code == 0 and "epoch 1" in out, out
    code, out = await cove(capsys, "--home", ha, "share", "list", str(root(alice)))
    assert "bob" not in out.split("\n", 1)[1]
