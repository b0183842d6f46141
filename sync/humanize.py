"""Numbers for people, shared by the CLI and the app so both show sizes the same way."""

from __future__ import annotations


def human_size(n: int) -> str:
    """Binary units, as file managers on Linux show them: ``512 B``, ``1.5 MiB``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
