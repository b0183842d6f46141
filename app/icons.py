"""Icons from ``resources/icons`` (through :func:`resources.path`, so the bundle finds them too),
loaded once and cached."""

from __future__ import annotations

import datetime as dt
from functools import cache

from PySide6.QtGui import QIcon

import resources
from sync.humanize import human_size  # noqa: F401  (re-exported for the views)


@cache
def icon(name: str) -> QIcon:
    """``icon("cove")`` → resources/icons/cove.svg."""
    return QIcon(str(resources.path(f"icons/{name}.svg")))


def when(ns: int | None, now_ns: int | None = None) -> str:
    """A time for people: "14:03" today, "Mon 14:03" this week, else the date."""
    if not ns:
        return "never"
    t = dt.datetime.fromtimestamp(ns / 1e9)
    now = dt.datetime.fromtimestamp(now_ns / 1e9) if now_ns else dt.datetime.now()
    if t.date() == now.date():
        return t.strftime("%H:%M")
    if abs((now - t).days) < 7:
        return t.strftime("%a %H:%M")
    return t.strftime("%Y-%m-%d %H:%M")
