"""Entry point of the `cove` command: the desktop app where there is a screen, else the CLI/daemon.

* ``cove`` with no command opens the app when a display is available (``DISPLAY`` or
  ``WAYLAND_DISPLAY`` set, or ``QT_QPA_PLATFORM`` given), and otherwise runs ``cove daemon``;
* ``cove gui`` opens the app regardless;
* ``cove --version`` and every other command are the headless CLI (:mod:`sync.cli`), unchanged.

Qt is imported only when the app opens, so the CLI and the daemon start without it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path


def has_display(env: Mapping[str, str] = os.environ) -> bool:
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or env.get("QT_QPA_PLATFORM"))


def split_home(argv: list[str]) -> tuple[Path | None, list[str]]:
    """``--home DIR`` (or ``--home=DIR``) anywhere before the command, and what remains."""
    home, rest, i = None, [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--home" and i + 1 < len(argv):
            home, i = Path(argv[i + 1]), i + 2
            continue
        if a.startswith("--home="):
            home = Path(a.split("=", 1)[1])
        else:
            rest.append(a)
        i += 1
    return home, rest


def wants_gui(argv: list[str], env: Mapping[str, str] = os.environ) -> bool:
    _home, rest = split_home(argv)
    return rest == ["gui"] or (not rest and has_display(env))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if wants_gui(args):
        from app.application import run_gui
        from sync.config import Dirs

        home, _ = split_home(args)
        return run_gui(Dirs.under(home) if home else Dirs.default(), sys.argv[:1])
    from sync.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
