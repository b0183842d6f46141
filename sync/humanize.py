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


_UNITS = {
    "": 1, "b": 1,
    "k": 1024, "kib": 1024, "kb": 1000,
    "m": 1024**2, "mib": 1024**2, "mb": 1000**2,
    "g": 1024**3, "gib": 1024**3, "gb": 1000**3,
}
_UNLIMITED = {"0", "none", "off", "unlimited", "no"}


def parse_rate(text: str) -> int:
    """A bandwidth limit as people type it, in bytes per second; 0 means unlimited.

    ``500K``, ``500KiB``, ``10M``, ``1.5 MiB/s`` (K, M, G and KiB, MiB, GiB are binary),
    ``10MB`` (KB, MB, GB are decimal), ``2000`` (bytes), ``0``/``none``/``unlimited``.
    Raises ValueError with a message for a person."""
    t = text.strip().lower().replace(" ", "")
    if t in _UNLIMITED:
        return 0
    if t.endswith("/s"):
        t = t[:-2]
    i = len(t)
    while i and not (t[i - 1].isdigit() or t[i - 1] == "."):
        i -= 1
    number, unit = t[:i], t[i:]
    if unit not in _UNITS or not number:
        raise ValueError(f"{text!r} is not a rate: use e.g. 500K, 10M, 1.5MiB/s, 10MB or 0 for unlimited")
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a rate: use e.g. 500K, 10M, 1.5MiB/s, 10MB or 0 for unlimited") from None
    if value < 0 or value != value or value == float("inf"):
        raise ValueError(f"{text!r}: a rate is a positive number (0 for unlimited)")
    rate = round(value * _UNITS[unit])
    if value > 0 and rate < 1024:
        raise ValueError(f"{text!r} is below 1 KiB/s: that would stop syncing; use `cove pause` for that")
    return rate


def human_rate(bytes_per_s: int) -> str:
    """``unlimited`` or e.g. ``1.5 MiB/s``."""
    return "unlimited" if bytes_per_s <= 0 else f"{human_size(bytes_per_s)}/s"
