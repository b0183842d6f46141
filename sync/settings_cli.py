"""`cove pause`, `cove resume` and `cove limits`: pausing folders and LAN peers, and bandwidth
limits, from the command line.

    cove pause [PATH ...]             pause these folders (all of them without PATH)
    cove pause --peer ID [--peer ID]  stop syncing with these LAN peers (unique ID prefixes)
    cove resume [PATH ...] | --peer ID
    cove limits                       show the limits
    cove limits --lan-up 5M --relay-down 0 ...   (--lan and --relay set both directions)

Everything is saved in the config; a running daemon (or the app) takes it up within a second
(:meth:`sync.engine.Engine.reload_settings`), so these work while Cove runs.
:func:`register_settings_commands` adds the parsers; :data:`SETTINGS_COMMANDS` maps the command
names to their handlers.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from sync.errors import CoveError
from sync.humanize import human_rate, parse_rate

if TYPE_CHECKING:
    from sync.engine import Engine

_RATE_HELP = "bytes per second: 500K, 10M, 1.5MiB/s (binary), 10MB (decimal), 0 for unlimited"


def _rate(text: str) -> int:
    try:
        return parse_rate(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def register_settings_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for name, verb in (("pause", "pause"), ("resume", "resume")):
        s = sub.add_parser(name, help=f"{verb} syncing folders (all without PATH) or LAN peers (--peer)")
        s.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="a synced folder (or a path inside it)")
        s.add_argument("--peer", action="append", default=[], metavar="ID",
                       help="a device of this account, by a unique prefix of its ID (see `cove devices`)")
    s = sub.add_parser("limits", help="show or set bandwidth limits for LAN peers and the relay")
    for flag, what in (("--lan-up", "to LAN peers"), ("--lan-down", "from LAN peers"),
                       ("--relay-up", "to the relay"), ("--relay-down", "from the relay"),
                       ("--lan", "to and from LAN peers"), ("--relay", "to and from the relay")):
        s.add_argument(flag, type=_rate, metavar="RATE", help=f"limit {what} ({_RATE_HELP})")


def _known_devices(engine: Engine) -> list[str]:
    from sync.devices import directory_for

    known = set(engine.config.paused_peers)
    try:
        known |= {c.device_id for c in directory_for(engine).certificates()}
    except CoveError:
        pass  # no account key: only what is paused already can be resumed
    return sorted(known - {engine.identity.device_id})


def _pause_or_resume(engine: Engine, args: argparse.Namespace, paused: bool) -> int:
    verb = "Paused" if paused else "Resumed"
    if args.peer:
        if args.paths:
            raise CoveError("give folders or --peer, not both")
        from sync.devices import match_device

        known = _known_devices(engine)
        for text in args.peer:
            device = match_device(known, text)
            engine.set_peer_paused(device, paused)
            print(f"{verb} peer {device}.")
        print("A running daemon " + ("disconnects it and refuses it until `cove resume --peer`."
                                     if paused else "connects to it again when it is on the LAN."))
        return 0
    folders = [engine.folder_for(p) for p in args.paths] if args.paths else list(engine.folders())
    if not folders:
        raise CoveError("no folders to " + ("pause" if paused else "resume") + " (add one with `cove init PATH`)")
    for f in {f.id: f for f in folders}.values():
        if f.paused == paused:
            print(f"{f.path} is already {'paused' if paused else 'syncing'}.")
            continue
        engine.set_paused(f.id, paused)
        print(f"{verb} {f.path}.")
    print("A running daemon takes this up within a second" + (
        "; changes made meanwhile sync when you resume." if paused else "."))
    return 0


def _cmd_pause(engine: Engine, args: argparse.Namespace) -> int:
    return _pause_or_resume(engine, args, True)


def _cmd_resume(engine: Engine, args: argparse.Namespace) -> int:
    return _pause_or_resume(engine, args, False)


def _cmd_limits(engine: Engine, args: argparse.Namespace) -> int:
    bw = engine.config.bandwidth
    changes = {}
    for both, up, down in (("lan", "lan_up", "lan_down"), ("relay", "relay_up", "relay_down")):
        if getattr(args, both) is not None:
            changes[up] = changes[down] = getattr(args, both)
        for key in (up, down):
            if getattr(args, key) is not None:
                changes[key] = getattr(args, key)
    if changes:
        bw = replace(bw, **changes)
        engine.set_bandwidth(bw)
    print(f"{'':6}  {'upload':>14}  {'download':>14}")
    print(f"{'LAN':6}  {human_rate(bw.lan_up):>14}  {human_rate(bw.lan_down):>14}")
    print(f"{'relay':6}  {human_rate(bw.relay_up):>14}  {human_rate(bw.relay_down):>14}")
    if changes:
        print("Saved; a running daemon applies it within a second.")
    return 0


SETTINGS_COMMANDS = {"pause": _cmd_pause, "resume": _cmd_resume, "limits": _cmd_limits}
