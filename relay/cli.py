"""The ``cove-relay`` command line: ``serve`` and the admin commands ``user`` and ``stats``.

Every command takes ``--data DIR`` (or ``COVE_RELAY_DATA_DIR``) and ``--config FILE``; ``serve``
takes the listening and TLS options. Settings not on the command line come from the config file
and the environment (see ``cove-relay serve --help`` for the full list).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
import time
from pathlib import Path

from relay.admin import Admin, human, parse_size
from relay.config import ConfigError, RelayConfig, describe, load_config
from relay.errors import RelayError

DESCRIPTION = """\
Cove relay server: stores end-to-end encrypted blocks and signed per-device logs for Cove
clients, with accounts, shared folders and instant notifications. It only ever sees ciphertext.

Quick start:
  cove-relay user add alice --data /var/lib/cove-relay      # prompts for a password
  cove-relay serve --data /var/lib/cove-relay --host 0.0.0.0 --port 8443 \\
      --tls-cert /etc/cove-relay/cert.pem --tls-key /etc/cove-relay/key.pem

Everything lives in the data directory: relay.db (SQLite, WAL), blocks/ and secret.key.
Back it up with `sqlite3 relay.db ".backup ..."` plus a copy of blocks/ (docs/self-hosting.md).
"""

SERVE_EPILOG = "Settings (config-file key, environment variable, default):\n" + describe() + """

Precedence: command line > environment > config file > defaults.
SIGTERM or SIGINT stops accepting connections, lets in-flight requests finish for up to
shutdown_timeout seconds, then closes the database.
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, metavar="DIR",
                   help="data directory (default: $COVE_RELAY_DATA_DIR or ./relay-data)")
    p.add_argument("--config", type=Path, metavar="FILE", help="TOML config file (see resources/relay.example.toml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cove-relay", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the relay server", description="Run the relay server.",
                           epilog=SERVE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(serve)
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (default 8443; 0 picks a free port)")
    serve.add_argument("--tls-cert", type=Path, metavar="PEM", help="certificate chain for HTTPS")
    serve.add_argument("--tls-key", type=Path, metavar="PEM", help="private key for HTTPS")
    serve.add_argument("--open-registration", action="store_true", default=None,
                       help="let anyone create an account over the API")
    serve.add_argument("--log-level", metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR")

    user = sub.add_parser("user", help="manage accounts", description="Manage accounts in the data directory.")
    usub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = usub.add_parser("add", help="create an account")
    _common(add)
    add.add_argument("username")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--quota", metavar="SIZE", help="storage quota, e.g. 50G (default: default_quota)")
    lst = usub.add_parser("list", help="list accounts")
    _common(lst)
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    dis = usub.add_parser("disable", help="disable an account (it loses access at once)")
    _common(dis)
    dis.add_argument("username")
    ena = usub.add_parser("enable", help="re-enable a disabled account")
    _common(ena)
    ena.add_argument("username")
    quota = usub.add_parser("quota", help="set an account's storage quota")
    _common(quota)
    quota.add_argument("username")
    quota.add_argument("size", help="bytes, or with a unit: 500M, 20G, 1T")
    pw = usub.add_parser("password", help="set an account's password")
    _common(pw)
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    stats = sub.add_parser("stats", help="print storage statistics")
    _common(stats)
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _config(args: argparse.Namespace, **overrides: object) -> RelayConfig:
    return load_config(file=args.config, overrides={"data_dir": args.data, **overrides})


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat: ") != first:
        raise RelayError("passwords do not match")
    return first


def _serve(args: argparse.Namespace) -> int:
    from relay.jsonlog import setup_logging
    from relay.server import serve

    config = _config(args, host=args.host, port=args.port, tls_cert=args.tls_cert, tls_key=args.tls_key,
                     open_registration=args.open_registration, log_level=args.log_level)
    setup_logging(config.log_level)
    asyncio.run(serve(config))
    return 0


def _user(args: argparse.Namespace) -> int:
    config = _config(args)
    admin = Admin(config.data_dir)
    cmd = args.user_command
    if cmd == "add":
        quota = parse_size(args.quota) if args.quota else config.default_quota
        admin.add_user(args.username, _read_password(args.password_stdin), quota, config.password_strength,
                       time.time())
        print(f"created {args.username} (quota {human(quota)})")
    elif cmd == "list":
        users = admin.list_users()
        if args.json:
            print(json.dumps(users, indent=2))
        else:
            print(f"{'USERNAME':<24} {'STATUS':<9} {'USED':>10} {'QUOTA':>10} {'DEVICES':>7} KEYS")
            for u in users:
                print(f"{u['username']:<24} {'disabled' if u['disabled'] else 'active':<9} {human(u['used']):>10} "
                      f"{human(u['quota']):>10} {u['devices']:>7} {'yes' if u['keys'] else 'no'}")
    elif cmd in ("disable", "enable"):
        admin.set_disabled(args.username, cmd == "disable")
        print(f"{args.username} {cmd}d")
    elif cmd == "quota":
        size = parse_size(args.size)
        admin.set_quota(args.username, size)
        print(f"quota of {args.username} set to {human(size)}")
    elif cmd == "password":
        admin.set_password(args.username, _read_password(args.password_stdin), config.password_strength)
        print(f"password of {args.username} changed")
    return 0


def _stats(args: argparse.Namespace) -> int:
    stats = Admin(_config(args).data_dir).stats()
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        for key, value in stats.items():
            shown = human(value) if key.endswith("_bytes") else value
            print(f"{key.replace('_', ' '):<22} {shown}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "user":
            return _user(args)
        return _stats(args)
    except (RelayError, ConfigError, ValueError, OSError) as exc:
        message = exc.message if isinstance(exc, RelayError) else str(exc)
        print(f"cove-relay: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
