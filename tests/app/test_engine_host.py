"""The engine host: the tray's state from the engine's folder_state events (pure and live), and a
folder added while the engine runs is started in the same Engine.run (no restart)."""

from __future__ import annotations

from app.engine_host import AppState, change_events, overall_state
from app.notify import EventKind
from sync.records import FileRecord, FileType
from tests.app.test_app import WAIT, indexed, started


def test_overall_state() -> None:
    assert overall_state([], False) is AppState.UP_TO_DATE
    assert overall_state(["up to date", "syncing"], False) is AppState.SYNCING
    assert overall_state(["scanning", "offline"], False) is AppState.SYNCING
    assert overall_state(["up to date", "offline"], False) is AppState.OFFLINE
    assert overall_state(["offline", "error: disk full"], False) is AppState.ERROR
    assert overall_state(["waiting for confirmation"], False) is AppState.ERROR
    assert overall_state(["paused", "paused"], False) is AppState.PAUSED
    assert overall_state(["up to date"], True) is AppState.PAUSED


def test_change_events_are_other_devices_files() -> None:
    records = [FileRecord("a.txt", FileType.FILE, modified_by="LAPTOP"),
               FileRecord("dir", FileType.DIRECTORY, modified_by="LAPTOP"),
               FileRecord("mine.txt", FileType.FILE, modified_by="ME"),
               FileRecord("gone.txt", FileType.FILE, modified_by="LAPTOP", deleted=True)]
    events = change_events("Cove", records, "ME")
    assert [(e.kind, e.path, e.device, e.message) for e in events] == [
        (EventKind.CHANGE, "a.txt", "LAPTOP", ""), (EventKind.CHANGE, "gone.txt", "LAPTOP", "deleted")]


def test_tray_follows_folder_state_events(make_app, folder, qtbot) -> None:
    app = make_app(tray=True)  # not started: the events below are the only ones
    app.host.refresh()
    qtbot.waitUntil(lambda: bool(app.host.infos), timeout=WAIT)
    fid = app.host.infos[0].id
    tray, ev = app.tray, app.engine.events
    for line, expected in (("syncing", AppState.SYNCING), ("offline", AppState.OFFLINE),
                           ("error: the folder is gone", AppState.ERROR), ("up to date", AppState.UP_TO_DATE)):
        ev.folder_state(fid, line, None)
        qtbot.waitUntil(lambda: tray.state is expected, timeout=WAIT)  # noqa: B023
        assert app.host.infos[0].state == line
    ev.folder_state(fid, "syncing", 0.5)
    qtbot.waitUntil(lambda: app.window.folders.model.object(0).progress == 0.5, timeout=WAIT)


def test_folder_added_while_running_starts_in_the_same_run(make_app, folder, tmp_path, dirs, qtbot) -> None:
    app = make_app()
    started(app, qtbot)
    task = app.host._task
    second = tmp_path / "Second"
    second.mkdir()
    (second / "one.txt").write_text("1")
    app.window.folders.add_folder(second)
    qtbot.waitUntil(lambda: len(app.host.infos) == 2, timeout=WAIT)
    fid2 = app.engine.folder_for(second).id
    qtbot.waitUntil(lambda: "one.txt" in indexed(dirs, fid2), timeout=WAIT)
    (second / "two.txt").write_text("2")  # watched by the same run
    qtbot.waitUntil(lambda: "two.txt" in indexed(dirs, fid2), timeout=WAIT)
    assert app.host._task is task and app.host.running


def test_a_failing_lan_start_falls_back_to_syncing_without_lan(make_app, folder, dirs, qtbot, monkeypatch) -> None:
    app = make_app(lan=True)
    real = app.engine.run

    async def run(stop, report=None, *, lan=True, **kwargs):
        if lan:  # what LAN discovery did on a machine with an odd interface address
            raise OSError("illegal IP address string passed to inet_pton")
        return await real(stop, report, lan=False, **kwargs)

    monkeypatch.setattr(app.engine, "run", run)
    fid = started(app, qtbot)
    qtbot.waitUntil(lambda: not app.host.lan and app.host.running, timeout=WAIT)
    assert "LAN sync is off: illegal IP address" in app.host.log[0]
    (folder / "still-synced.txt").write_text("yes")
    qtbot.waitUntil(lambda: "still-synced.txt" in indexed(dirs, fid), timeout=WAIT)
