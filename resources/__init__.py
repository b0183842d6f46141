"""Icons, desktop entries, service units and example configs, loaded through :func:`path`."""

from __future__ import annotations

import sys
from pathlib import Path


def path(name: str) -> Path:
    """The path of resource ``name`` (e.g. ``"icons/cove.svg"``), from a source checkout, an
    installed package, or a PyInstaller bundle alike."""
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent.parent)) / "resources"
    p = base / name
    if not p.exists():
        raise FileNotFoundError(f"Cove resource missing: {name} (looked in {base})")
    return p
