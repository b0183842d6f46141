"""`cove share ...` and `cove invites ...`: sharing folders from the command line (docs/sharing.md).

    cove share invite PATH USER [--role editor|viewer|owner] [--days N]
    cove share list PATH
    cove share role PATH USER ROLE
    cove share remove PATH USER          (starts a new key epoch)
    cove share transfer PATH USER        (USER becomes an owner, you an editor)
    cove share withdraw PATH ID          (a pending invitation)
    cove share leave PATH
    cove share fingerprint               (this account's key fingerprint)
    cove invites                         (pending invitations for you)
    cove invites accept ID|LINK [PATH]
    cove invites decline ID|LINK

:func:`register_share_commands` adds the parsers; :data:`SHARE_COMMANDS` maps the command names to
their handlers (``COMMANDS.update(SHARE_COMMANDS)`` in :mod:`sync.cli`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from sync.membership import ROLES

if TYPE_CHECKING:
    from sync.engine import Engine


def register_share_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser("share", help="share a relay folder with other users: invite, list, roles, remove")
    ssub = s.add_subparsers(dest="share_command", metavar="ACTION", required=True)
    a = ssub.add_parser("invite", help="invite USER (a user of your relay) to the folder at PATH")
    a.add_argument("path", type=Path)
    a.add_argument("user")
    a.add_argument("--role", choices=ROLES, default="editor")
    a.add_argument("--days", type=float, default=7.0, help="the invitation expires after this many days")
    a = ssub.add_parser("list", help="members (roles, key fingerprints) and pending invitations")
    a.add_argument("path", type=Path)
    a = ssub.add_parser("role", help="change a member's role")
    a.add_argument("path", type=Path)
    a.add_argument("user")
    a.add_argument("role", choices=ROLES)
    a = ssub.add_parser("remove", help="remove a member (new content uses a new key they never get)")
    a.add_argument("path", type=Path)
    a.add_argument("user")
    a = ssub.add_parser("transfer", help="make USER an owner and step down to editor")
    a.add_argument("path", type=Path)
    a.add_argument("user")
    a = ssub.add_parser("withdraw", help="withdraw a pending invitation")
    a.add_argument("path", type=Path)
    a.add_argument("id")
    a = ssub.add_parser("leave", help="leave a folder someone shared with you")
    a.add_argument("path", type=Path)
    ssub.add_parser("fingerprint", help="show your account key's fingerprint (for others to compare)")

    s = sub.add_parser("invites", help="invitations to folders shared with you; accept or decline")
    isub = s.add_subparsers(dest="invites_command", metavar="ACTION")
    a = isub.add_parser("accept", help="accept an invitation (its ID, or the link you were sent)")
    a.add_argument("id", help="the invitation's ID or link (an older ID that starts with '-' needs `--` before it)")
    a.add_argument("path", type=Path, nargs="?", help="where to sync it (default ~/Cove/INVITER-FOLDER)")
    a = isub.add_parser("decline", help="decline an invitation")
    a.add_argument("id")


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def cmd_share(engine: Engine, args: argparse.Namespace) -> int:
    sh = engine.sharing
    cmd = args.share_command
    if cmd == "fingerprint":
        print(f"Your account key fingerprint: {sh.fingerprint()}")
        return 0
    path = args.path
    if cmd == "invite":
        res = asyncio.run(sh.invite(path, args.user, args.role, ttl=args.days * 86400))
        inv = res.invitation
        print(f"Invited {inv.invitee} as {inv.role} (invitation {inv.id}, expires {_when(inv.expires_at)}).")
        print(f"  {inv.invitee}'s key fingerprint: {res.invitee_fingerprint}")
        print("  Compare it with what they see in `cove share fingerprint` before trusting it.")
        print(f"  Invitation link: {res.link}")
        return 0
    if cmd == "list":
        info = asyncio.run(sh.info(path))
        print(f"{path}  (folder {info.folder}, key epoch {info.epoch}, you are {info.my_role or 'not a member'})")
        for m in info.members:
            print(f"  {m.username:20} {m.role:7} {m.fingerprint}{'  (you)' if m.me else ''}")
        if info.pending:
            print("Pending invitations:")
            for inv in info.pending:
                print(f"  {inv.id}  {inv.invitee:20} {inv.role:7} expires {_when(inv.expires_at)}")
        for r in info.refused:
            print(f"  refused membership change: {r}")
        return 0
    if cmd == "role":
        asyncio.run(sh.set_role(path, args.user, args.role))
        print(f"{args.user} is now {args.role}.")
        return 0
    if cmd == "remove":
        epoch = asyncio.run(sh.remove(path, args.user))
        print(f"Removed {args.user}; new content uses key epoch {epoch}, which they never receive.")
        return 0
    if cmd == "transfer":
        asyncio.run(sh.transfer(path, args.user))
        print(f"{args.user} is now an owner; you are an editor.")
        return 0
    if cmd == "withdraw":
        asyncio.run(sh.withdraw(path, args.id))
        print(f"Withdrew invitation {args.id}.")
        return 0
    if cmd == "leave":
        asyncio.run(sh.leave(path))
        print(f"You left the folder; {path} stays on this device but no longer syncs.")
        return 0
    raise AssertionError(cmd)


def cmd_invites(engine: Engine, args: argparse.Namespace) -> int:
    sh = engine.sharing
    cmd = getattr(args, "invites_command", None)
    if cmd == "decline":
        asyncio.run(sh.decline(args.id))
        print("Declined.")
        return 0
    if cmd == "accept":
        path = args.path
        if path is None:
            from sync.sharing import parse_invite

            inv_id, _ = parse_invite(args.id)
            by_id = {v.id: v for v in asyncio.run(sh.invitations())}
            if inv_id not in by_id:
                print(f"cove: no pending invitation {inv_id}")
                return 1
            inv = by_id[inv_id].invitation
            path = Path.home() / "Cove" / f"{inv.inviter}-{inv.folder[:8]}"
        folder = asyncio.run(sh.accept(args.id, path))
        print(f"Accepted; syncing {folder.path} (folder id {folder.id}).")
        asyncio.run(engine.sync_now(folder.id))
        return 0
    views = asyncio.run(sh.invitations())
    print(f"Your account key fingerprint: {sh.fingerprint()}")
    if not views:
        print("No pending invitations.")
        return 0
    for v in views:
        inv = v.invitation
        print(f"{inv.id}  from {inv.inviter} as {inv.role}, folder {inv.folder}, expires {_when(inv.expires_at)}")
        print(f"  {inv.inviter}'s key fingerprint: {v.inviter_fingerprint or 'unknown'}")
        if v.problem:
            print(f"  WARNING: {v.problem}")
    print("Accept with `cove invites accept ID [PATH]`, or decline with `cove invites decline ID`.")
    return 0


SHARE_COMMANDS = {"share": cmd_share, "invites": cmd_invites}
