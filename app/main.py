"""Entry point of the `cove` command: the desktop app where there is a screen, else the CLI/daemon."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from sync.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
