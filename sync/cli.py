"""The headless command line: `cove init|scan|status|history|restore|daemon` and the rest.

Parses arguments, asks the :class:`sync.engine.Engine` to do the work and prints the outcome for a
person. Every failure the user can cause (a bad path, a broken index, a newer config) is a
:class:`sync.errors.CoveError` and ends in a one-line message and exit status 1; nothing on disk is
touched on the way out. Usage errors exit with 2 (argparse).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import os
import signal
import sys
from pathlib import Path

from sync import __version__
from sync.config import Dirs
from sync.engine import Engine, FolderStatus, ScanSummary
from sync.errors import CoveError
from sync.humanize import human_size
from sync.settings_cli import SETTINGS_COMMANDS, register_settings_commands
from sync.share_cli import SHARE_COMMANDS, register_share_commands


def _when(ns: int | None) -> str:
    if not ns:
        return "never"
    return dt.datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def _print_summary(s: ScanSummary) -> None:
    print(
        f"{s.folder_path}: {s.added} added, {s.modified} modified, {s.deleted} deleted, "
        f"{s.moved} moved, {s.errors} errors ({s.files} files, {s.seconds:.2f} s)"
    )
    for message in s.messages:
        print(f"  {message}")


def _print_status(st: FolderStatus) -> None:
    print(f"{st.path}")
    print(f"  folder id  {st.folder_id}")
    print(f"  state      {st.state}")
    print(f"  files      {st.files} ({human_size(st.bytes)}), {st.directories} directories")
    print(f"  last scan  {_when(st.last_scan_ns)}")
    print(f"  history    {st.history_versions} kept versions")
    if st.errors:
        print(f"  errors     {len(st.errors)}")
        for e in st.errors[:20]:
            print(f"    {e.path or '/'}: {e.kind}: {e.message}")
        if len(st.errors) > 20:
            print(f"    ... and {len(st.errors) - 20} more")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cove",
        description=(
            "Cove keeps folders identical across your devices, end-to-end encrypted. "
            "With no command, `cove` opens the desktop app where there is a screen and runs the "
            "daemon where there is none."
        ),
    )
    p.add_argument("--version", action="version", version=f"cove {__version__}")
    p.add_argument(
        "--home",
        type=Path,
        help="keep config and data under this directory instead of the per-user defaults "
        "(also: $COVE_CONFIG_DIR and $COVE_DATA_DIR)",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("gui", help="open the desktop app (also what `cove` alone does where there is a screen)")

    s = sub.add_parser("init", help="start syncing a folder (created if missing) and index it")
    s.add_argument("path", type=Path)
    s.add_argument("--label", default="", help="a name for the folder shown in the app")
    s.add_argument("--id", dest="folder_id", metavar="FOLDER_ID",
                   help="join an existing LAN folder of your other device (the IDs `cove link CODE` printed)")

    s = sub.add_parser("scan", help="scan folders now and record what changed")
    s.add_argument("path", type=Path, nargs="?", help="only the folder containing this path")
    s.add_argument(
        "--yes", action="store_true", help="accept a scan that would delete a large share of a folder"
    )

    s = sub.add_parser("status", help="show each folder's state, size, last scan and errors")
    s.add_argument("path", type=Path, nargs="?")

    s = sub.add_parser("history", help="list the kept versions of a file")
    s.add_argument("path", type=Path)

    s = sub.add_parser("restore", help="bring back a kept version of a file")
    s.add_argument("path", type=Path)
    s.add_argument("--version", "-v", dest="version_no", type=int, required=True, metavar="N",
                   help="the version number shown by `cove history`")
    s.add_argument("--to", type=Path, help="save the version as a copy here instead of replacing")

    s = sub.add_parser("login", help="sign in to a relay (creates the account keys on the first device)")
    s.add_argument("url", metavar="RELAY_URL")
    s.add_argument("--username", "-u", help="relay username (asked when missing)")
    s.add_argument("--password-stdin", action="store_true", help="read the password from standard input")

    s = sub.add_parser("folder", help="folders synced through the relay")
    fsub = s.add_subparsers(dest="folder_command", metavar="ACTION", required=True)
    fa = fsub.add_parser("add", help="sync PATH through the relay: a new folder, or join one with --id")
    fa.add_argument("path", type=Path)
    fa.add_argument("--id", dest="folder_id", help="join this existing folder (see `cove folder list`)")
    fa.add_argument("--label", default="")
    fsub.add_parser("list", help="folders this account has on the relay")

    sub.add_parser("sync", help="scan, publish and receive relay folders once, now")

    s = sub.add_parser("conflicts", help="list open conflicts")
    s.add_argument("path", type=Path, nargs="?")

    s = sub.add_parser("resolve", help="resolve a conflict: keep mine, theirs or both")
    s.add_argument("path", type=Path, help="the conflicted file or its conflict copy")
    s.add_argument("--keep", choices=["mine", "theirs", "both"], required=True)

    s = sub.add_parser(
        "link", help="link devices: show a pairing code here, or enter CODE on the new device",
        description="On a device that is set up, `cove link` shows a pairing code and a QR code. With a relay the "
                    "code's sealed offer waits in the relay; without one (LAN-only) this device offers it on the "
                    "local network and waits until the new device took it. On the new device, `cove link CODE` "
                    "receives the account keys (and, over the LAN, the keys of the LAN-only folders; join each "
                    "with `cove init PATH --id FOLDER_ID`).")
    s.add_argument("code", nargs="?", metavar="CODE",
                   help="on the new device: the pairing code (or the cove://link?... text of its QR code) "
                        "shown by `cove link` on a device that is set up")
    s.add_argument("--relay", metavar="URL",
                   help="relay URL (default: from the QR text, else the relay this device uses; "
                        "with none, the code is fetched from the LAN)")
    s.add_argument("--lan", action="store_true", help="fetch the offer from a device on this LAN, not from a relay")
    s.add_argument("--username", "-u", help="relay username (taken from the QR text, or asked, when missing)")
    s.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    s.add_argument("--ttl", type=float, default=600.0, metavar="SECONDS",
                   help="how long a new code stays valid (default 600, at most 3600)")
    s.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="LAN: how long the new device looks for the device offering the code (default 30)")

    register_share_commands(sub)  # `cove share ...`, `cove invites ...` (sync/share_cli.py)

    sub.add_parser("peers", help="devices on the LAN and the path in use (LAN or relay)")

    s = sub.add_parser("devices", help="this account's devices; `cove devices revoke ID` removes one")
    dsub = s.add_subparsers(dest="devices_command", metavar="ACTION")
    r = dsub.add_parser("revoke", help="remove a device from the account: LAN peers and the relay refuse it from now on")
    r.add_argument("device", metavar="DEVICE_ID_OR_PREFIX", help="its ID as `cove devices` shows it (a unique prefix will do)")

    register_settings_commands(sub)  # `cove pause`, `cove resume`, `cove limits` (sync/settings_cli.py)

    s = sub.add_parser("daemon", help="watch all folders and keep the index current until stopped")
    s.add_argument("--once", action="store_true", help="scan and sync every folder once, then exit")
    return p


def _engine(args: argparse.Namespace) -> Engine:
    dirs = Dirs.under(args.home) if args.home else Dirs.default()
    return Engine.create(dirs)


def _cmd_init(engine: Engine, args: argparse.Namespace) -> int:
    folder = engine.add_folder(args.path, label=args.label, folder_id=args.folder_id)
    print(f"Syncing {folder.path} (folder id {folder.id})")
    _print_summary(engine.scan(folder.id))
    return 0


def _cmd_scan(engine: Engine, args: argparse.Namespace) -> int:
    folders = [engine.folder_for(args.path)] if args.path else list(engine.folders())
    if not folders:
        print("No folders yet. Add one with `cove init PATH`.")
        return 0
    status = 0
    for f in folders:
        try:
            _print_summary(engine.scan(f.id, confirm_mass_delete=args.yes))
        except CoveError as e:
            print(f"{f.path}: {e}", file=sys.stderr)
            status = 1
    return status


def _cmd_status(engine: Engine, args: argparse.Namespace) -> int:
    folders = [engine.folder_for(args.path)] if args.path else list(engine.folders())
    if not folders:
        print("No folders yet. Add one with `cove init PATH`.")
        return 0
    for f in folders:
        _print_status(engine.status(f.id))
    return 0


def _cmd_history(engine: Engine, args: argparse.Namespace) -> int:
    entries = engine.history(args.path)
    if not entries:
        print(f"No kept versions of {args.path}.")
        return 0
    print(f"{'N':>4}  {'kept at':19}  {'modified':19}  {'size':>10}  {'by':13}  reason")
    for e in entries:
        print(
            f"{e.version_no:>4}  {_when(e.archived_at_ns):19}  {_when(e.mtime_ns):19}  "
            f"{human_size(e.size):>10}  {e.modified_by[:13]:13}  {e.reason}"
        )
    return 0


def _cmd_restore(engine: Engine, args: argparse.Namespace) -> int:
    dest = engine.restore(args.path, args.version_no, args.to)
    print(f"Restored version {args.version_no} of {args.path} to {dest}")
    return 0


def _cmd_daemon(engine: Engine, args: argparse.Namespace) -> int:
    if not list(engine.folders()):
        print("No folders yet. Add one with `cove init PATH`, then start the daemon again.")
        return 1

    async def run() -> None:
        if args.once:  # one pass: scan every folder, sync relay folders, exit
            for f in engine.folders():
                await engine.runner(f.id).scan_async()
            if engine.config.relay is not None and any(f.relay for f in engine.folders()):
                await engine.sync_now()
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await engine.run(stop, report=lambda line: print(line, flush=True))

    print(f"Cove daemon watching {', '.join(str(f.path) for f in engine.folders())}", flush=True)
    asyncio.run(run())
    print("Cove daemon stopped.", flush=True)
    return 0


def _cmd_login(engine: Engine, args: argparse.Namespace) -> int:
    username = args.username or input("Username: ").strip()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
    result = asyncio.run(engine.login(args.url, username, password))
    print(f"Signed in to {args.url} as {result.username}.")
    if result.created_keys:
        print("Created this account's keys on this device; link other devices with `cove link`.")
    print(f"Account key fingerprint: {result.fingerprint}")
    return 0


def _cmd_folder(engine: Engine, args: argparse.Namespace) -> int:
    if args.folder_command == "list":
        local = {f.id: f for f in engine.folders()}
        rows = asyncio.run(engine.remote_folders())
        if not rows:
            print("No folders on the relay yet. Add one with `cove folder add PATH`.")
        for f in rows:
            here = local.get(f.folder)
            where = str(here.path) if here else "not on this device"
            print(f"{f.folder}  {f.role:7}  {where}")
        return 0
    folder = asyncio.run(engine.add_relay_folder(args.path, args.folder_id, args.label))
    print(f"Syncing {folder.path} through the relay (folder id {folder.id})")
    _print_summary(engine.scan(folder.id))
    asyncio.run(engine.sync_now(folder.id))
    return 0


def _cmd_sync(engine: Engine, args: argparse.Namespace) -> int:
    asyncio.run(engine.sync_now())
    for f in engine.folders():
        st = engine.status(f.id)
        print(f"{f.path}: {st.state}")
    return 0


def _cmd_conflicts(engine: Engine, args: argparse.Namespace) -> int:
    folder_id = engine.folder_for(args.path).id if args.path else None
    conflicts = engine.conflicts(folder_id)
    if not conflicts:
        print("No open conflicts.")
        return 0
    for c in conflicts:
        r = c.record
        print(f"{c.path}")
        print(f"  kept here      {_when(r.winner.record.mtime_ns)}  {human_size(r.winner.record.size):>10}  by {r.winner.origin[:13]}")
        print(f"  conflict copy  {_when(r.loser.record.mtime_ns)}  {human_size(r.loser.record.size):>10}  by {r.loser.origin[:13]}  -> {r.copy_path}")
        print(f"  mine is        {'the conflict copy' if c.mine_is_copy else 'the file'}")
    return 0


def _cmd_resolve(engine: Engine, args: argparse.Namespace) -> int:
    from sync.conflicts import Keep

    conflict = asyncio.run(engine.resolve(args.path, Keep(args.keep)))
    print(f"Resolved {conflict.record.path}: kept {args.keep}.")
    return 0


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _cmd_link(engine: Engine, args: argparse.Namespace) -> int:
    if args.code is None:
        if engine.config.relay is None:
            return _link_offer_lan(engine, args)
        import segno

        pending = asyncio.run(engine.link_offer(args.ttl))
        print(f"Pairing code for {pending.username} on {pending.relay_url}:")
        print()
        print(f"    {pending.code}")
        print()
        print(f"On the new device run `cove link CODE --relay {pending.relay_url}` with this code, or scan this QR code:")
        segno.make(pending.qr_payload).terminal(out=sys.stdout, compact=True)
        print(f"The code works once and is valid for {_minutes(pending.ttl)}.")
        print(f"Account key fingerprint: {pending.fingerprint}")
        return 0
    from sync.linking import parse_link_input

    code, qr_relay, qr_user = parse_link_input(args.code)
    from_qr = args.code.strip().lower().startswith("cove:")
    known = engine.config.relay
    relay = args.relay or qr_relay or (None if args.lan or from_qr or known is None else known.url)
    if args.lan or not relay:  # no relay given, none in the QR code, none configured: the LAN
        return _link_accept_lan(engine, code, args.timeout)
    username = args.username or qr_user or (known.username if known else None) or input("Username: ").strip()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"Password for {username}: ")
    linked = asyncio.run(engine.link_accept(code, relay, username, password))
    print(f"Linked this device to {linked.username} on {linked.relay_url}.")
    print(f"Account key fingerprint: {linked.fingerprint} (the same as on your other device)")
    if linked.folders is None:
        print(f"Could not list the account's folders now ({linked.folders_error}); see `cove folder list`.")
    elif not linked.folders:
        print("The account has no folders on the relay yet. Add one with `cove folder add PATH`.")
    else:
        print("Folders of this account on the relay; add each here with:")
        for f in linked.folders:
            print(f"  cove folder add PATH --id {f.folder}    ({f.role})")
    return 0


def _link_offer_lan(engine: Engine, args: argparse.Namespace) -> int:
    """`cove link` on a LAN-only device: show the code, then hand the offer out on the LAN."""
    import segno

    from sync.lan.pairing import Outcome

    async def run() -> int:
        pending = await engine.link_offer(args.ttl)
        print("Pairing code (no relay: this device hands the keys over on the local network):")
        print()
        print(f"    {pending.code}")
        print()
        print("On the new device, on the same network, run `cove link CODE` with this code, or scan this QR code:")
        segno.make(pending.qr_payload).terminal(out=sys.stdout, compact=True)
        if pending.folders:
            print("It hands over the account keys and the keys of these folders:")
            for f in pending.folders:
                print(f"  {f.id}    ({f.label})")
        else:
            print("It hands over the account keys (this device syncs no LAN folders yet).")
        print(f"Account key fingerprint: {pending.fingerprint}")
        print(f"Waiting up to {_minutes(pending.ttl)} for the new device (Ctrl-C cancels) ...", flush=True)
        served = await pending.serve()
        if served.outcome is Outcome.EXPIRED:
            raise CoveError(f"the pairing code expired after {_minutes(pending.ttl)} unused; nothing was handed out")
        print(f"The device at {served.peer} took the offer; the code is used up. "
              "Check that it shows the same account key fingerprint.")
        return 0

    return asyncio.run(run())


def _link_accept_lan(engine: Engine, code: str, timeout: float) -> int:
    print(f"Looking for the device offering this code on the local network (up to {timeout:g} s) ...", flush=True)
    linked = asyncio.run(engine.link_accept(code, timeout=timeout))
    print("Linked this device over the LAN.")
    print(f"Account key fingerprint: {linked.fingerprint} (the same as on your other device)")
    if linked.replaced_keys is not None:
        print(f"The account key this device had made for itself is kept in {linked.replaced_keys}.")
    if not linked.folders:
        print("The other device syncs no LAN folders yet; start one with `cove init PATH` on either device.")
        return 0
    joinable = [f for f in linked.folders if f.path is None]
    for f in linked.folders:
        if f.path is not None:
            print(f"Already syncing {f.path} (folder {f.id}).")
    if joinable:
        print("To sync a folder of the other device here, run:")
        for f in joinable:
            print(f"  cove init PATH --id {f.id}    ({f.label})")
    print("Then run `cove daemon` (or the app) on both devices to sync over the LAN.")
    return 0


def _cmd_peers(engine: Engine, args: argparse.Namespace) -> int:
    from sync.lan.cli import peers_command

    return peers_command(engine)


def _cmd_devices(engine: Engine, args: argparse.Namespace) -> int:
    from sync import devices

    if args.devices_command == "revoke":
        r = asyncio.run(devices.revoke(engine, args.device))
        label = f"{r.device_id}" + (f" ({r.name})" if r.name else "")
        print(f"{label} was already revoked." if r.already_revoked else f"Revoked {label}.")
        print("LAN peers refuse it from now on (a running daemon passes the revocation on at once).")
        if r.relay == "revoked":
            print("The relay revoked it too.")
        elif r.relay == "not registered":
            print("The relay does not know this device (LAN only).")
        elif r.relay:
            print(f"cove: could not revoke it on the relay: {r.relay}; run the command again", file=sys.stderr)
            return 1
        return 0
    listing = asyncio.run(devices.list_devices(engine))
    if not listing.daemon_running:
        print("(the daemon is not running: no LAN connection state)")
    if listing.relay_error:
        print(f"(the relay's device list is unavailable: {listing.relay_error})")
    print(f"{'device':15}  {'name':20}  state")
    for d in listing.rows:
        state = ["this device"] if d.this_device else []
        if d.revoked:
            state.append("revoked")
        elif d.connected:
            state.append("connected (LAN)")
        elif d.last_seen and not d.this_device:
            state.append(f"last seen {dt.datetime.fromtimestamp(d.last_seen):%Y-%m-%d %H:%M}")
        if d.on_relay:
            state.append("on the relay")
        print(f"{d.device_id[:15]}  {d.name[:20]:20}  {', '.join(state) or '-'}")
    return 0


def _cmd_gui(engine: Engine, args: argparse.Namespace) -> int:
    from app.main import main as app_main

    return app_main(["--home", str(args.home), "gui"] if args.home else ["gui"])


COMMANDS = {
    "init": _cmd_init,
    "scan": _cmd_scan,
    "status": _cmd_status,
    "history": _cmd_history,
    "restore": _cmd_restore,
    "daemon": _cmd_daemon,
    "login": _cmd_login,
    "folder": _cmd_folder,
    "sync": _cmd_sync,
    "conflicts": _cmd_conflicts,
    "resolve": _cmd_resolve,
    "link": _cmd_link,
}

COMMANDS.update(SHARE_COMMANDS)
COMMANDS.update(SETTINGS_COMMANDS)
COMMANDS["devices"] = _cmd_devices
COMMANDS["peers"] = _cmd_peers


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "daemon"])
    command = args.command
    try:
        with _engine(args) as engine:
            return COMMANDS[command](engine, args)
    except CoveError as e:
        print(f"cove: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `cove status | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
