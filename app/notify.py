"""Desktop notifications: what happened (remote changes, new conflicts, errors) batched into a few
messages, shown through the tray.

:func:`batch` is pure: any number of events become at most one notification per kind, so a
thousand changes make one message. :class:`Notifier` collects events for a short quiet window,
then shows the batch through a ``show`` callable (``QSystemTrayIcon.showMessage`` in the app),
and does nothing while notifications are off.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer


class EventKind(enum.Enum):
    CHANGE = "change"  # a remote change applied to a file
    CONFLICT = "conflict"
    ERROR = "error"


class Urgency(enum.IntEnum):
    INFO = 0
    WARNING = 1
    CRITICAL = 2


@dataclass(frozen=True)
class Event:
    kind: EventKind
    path: str  # relative path, or the folder for folder-wide errors
    folder: str = ""  # folder label
    message: str = ""
    device: str = ""


@dataclass(frozen=True)
class Notification:
    title: str
    body: str
    urgency: Urgency = Urgency.INFO


def _names(events: Sequence[Event], most: int = 3) -> str:
    names = []
    for e in events:
        name = e.path.rpartition("/")[2] or e.path
        if name not in names:
            names.append(name)
    head = ", ".join(names[:most])
    return head + (f" and {len(names) - most:,} more" if len(names) > most else "")


def _plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def batch(events: Sequence[Event]) -> list[Notification]:
    """At most one notification per kind: errors first, then conflicts, then changes."""
    by_kind: dict[EventKind, list[Event]] = {k: [] for k in EventKind}
    for e in events:
        by_kind[e.kind].append(e)
    out: list[Notification] = []
    errors = by_kind[EventKind.ERROR]
    if errors:
        title = "Cove could not sync " + (_names(errors, 1) if len(errors) == 1 else _plural(len(errors), "item", "items"))
        body = errors[0].message if len(errors) == 1 else f"{_names(errors)}. Open Cove → Activity for what to do."
        out.append(Notification(title, body, Urgency.CRITICAL))
    conflicts = by_kind[EventKind.CONFLICT]
    if conflicts:
        title = "Conflict: " + _names(conflicts, 1) if len(conflicts) == 1 else _plural(len(conflicts), "conflict", "conflicts")
        body = (f"Both versions are kept. {_names(conflicts)}. Open Cove → Conflicts to choose.")
        out.append(Notification(title, body, Urgency.WARNING))
    changes = by_kind[EventKind.CHANGE]
    if changes:
        devices = sorted({e.device for e in changes if e.device})
        who = f" from {', '.join(devices)}" if devices else ""
        folders = sorted({e.folder for e in changes if e.folder})
        where = f" in {', '.join(folders)}" if folders else ""
        title = (f"{_names(changes, 1)} updated{who}" if len(changes) == 1
                 else f"{_plural(len(changes), 'file', 'files')} updated{who}")
        out.append(Notification(title, f"{_names(changes)}{where}", Urgency.INFO))
    return out


class Notifier(QObject):
    """Collects events and shows them in batches after ``quiet_ms`` without new events (or after
    ``max_delay_ms`` at most)."""

    def __init__(
        self,
        show: Callable[[Notification], None],
        enabled: bool = True,
        quiet_ms: int = 1500,
        max_delay_ms: int = 10_000,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self._show = show
        self.enabled = enabled
        self._pending: list[Event] = []
        self._quiet = QTimer(self, singleShot=True, interval=quiet_ms)
        self._quiet.timeout.connect(self.flush)
        self._max = QTimer(self, singleShot=True, interval=max_delay_ms)
        self._max.timeout.connect(self.flush)
        self.shown: list[Notification] = []

    def add(self, events: Sequence[Event]) -> None:
        if not self.enabled or not events:
            return
        self._pending.extend(events)
        self._quiet.start()
        if not self._max.isActive():
            self._max.start()

    def flush(self) -> None:
        self._quiet.stop()
        self._max.stop()
        pending, self._pending = self._pending, []
        if not self.enabled:
            return
        for n in batch(pending):
            self.shown.append(n)
            self._show(n)
