"""Notification batching (pure) and the Notifier that respects the setting."""

from __future__ import annotations

from app.notify import Event, EventKind, Notifier, Urgency, batch


def test_a_thousand_changes_make_one_notification() -> None:
    events = [Event(EventKind.CHANGE, f"dir/file{i}.txt", "Cove", device="LAPTOP") for i in range(1000)]
    (n,) = batch(events)
    assert n.title == "1,000 files updated from LAPTOP"
    assert "file0.txt, file1.txt, file2.txt and 997 more" in n.body


def test_one_per_kind_errors_first() -> None:
    events = ([Event(EventKind.CHANGE, "a.txt")] + [Event(EventKind.CONFLICT, f"c{i}.txt") for i in range(3)]
              + [Event(EventKind.ERROR, "x", message="disk full")])
    out = batch(events)
    assert [n.urgency for n in out] == [Urgency.CRITICAL, Urgency.WARNING, Urgency.INFO]
    assert out[0].body == "disk full"
    assert out[1].title == "3 conflicts"
    assert out[2].title == "a.txt updated"
    assert batch([]) == []


def test_notifier_batches_and_obeys_setting(qtbot) -> None:
    shown = []
    notifier = Notifier(shown.append, quiet_ms=20)
    for i in range(500):
        notifier.add([Event(EventKind.CHANGE, f"f{i}")])
    qtbot.waitUntil(lambda: len(shown) == 1)
    assert shown[0].title == "500 files updated"
    notifier.enabled = False
    notifier.add([Event(EventKind.ERROR, "x", message="boom")])
    notifier.flush()
    assert len(shown) == 1
