"""The real app, offscreen, on a real engine and real folders: every page driven through its
widgets, with the results checked on disk and in the index. Waits are signals and waitUntil."""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard

from app.engine_host import AppState
from app.main_window import Page
from app.settings import SyncMode, load_settings
from app.tree_model import Role
from sync.account import load_account_keys
from sync.config import Bandwidth, Dirs, load_app_config, read_marker
from sync.engine import Engine
from sync.history import ArchiveReason, Keep
from sync.queries import FileStatus, IndexReader
from sync.records import FileRecord, FileType

WAIT = 15_000


def indexed(dirs: Dirs, folder_id: str) -> set[str]:
    with IndexReader(dirs.index_path(folder_id)) as reader:
        return {c.path for c in reader.recent_changes(10_000) if not c.deleted}


def started(app, qtbot):
    app.start()
    qtbot.waitUntil(lambda: app.host.running, timeout=WAIT)
    qtbot.waitUntil(lambda: bool(app.host.infos) and app.host.infos[0].counts is not None, timeout=WAIT)
    return app.host.infos[0].id


def test_folders_and_files_follow_the_engine(make_app, folder, dirs, qtbot) -> None:
    app = make_app()
    fid = started(app, qtbot)
    w = app.window
    info = w.folders.model.object(0)
    assert info.state == "up to date" and info.counts.files == 3
    w.show_files(fid)
    model = w.files.model
    qtbot.waitUntil(lambda: model.rowCount() == 2, timeout=WAIT)
    docs = model.index_for_path("docs")
    assert model.canFetchMore(docs)
    w.files.view.expand(docs)  # the view asks for the children; they load off the GUI thread
    qtbot.waitUntil(lambda: model.rowCount(docs) == 2, timeout=WAIT)

    (folder / "fresh.txt").write_text("new")  # the embedded engine's watcher sees it
    qtbot.waitUntil(lambda: model.index_for_path("fresh.txt").isValid()
                    and model.data(model.index_for_path("fresh.txt"), Role.STATUS) is FileStatus.SYNCED,
                    timeout=WAIT)
    qtbot.waitUntil(lambda: w.folders.model.object(0).counts.files == 4, timeout=WAIT)
    qtbot.waitUntil(lambda: any(r.path == "fresh.txt" for r in w.activity.model.rows), timeout=WAIT)


def test_files_context_menu(make_app, folder, qtbot) -> None:
    app = make_app()
    fid = started(app, qtbot)
    w = app.window
    w.show_files(fid)
    qtbot.waitUntil(lambda: w.files.model.rowCount() == 2, timeout=WAIT)
    entry = w.files.entry_at(w.files.model.index_for_path("notes.txt"))
    actions = {a.text(): a for a in w.files.actions_for(entry)}
    assert list(actions) == ["Open", "Show in file manager", "History…", "Share folder…", "Copy path"]
    assert not actions["Share folder…"].isEnabled() and actions["Share folder…"].toolTip()
    actions["Open"].trigger()
    actions["Show in file manager"].trigger()
    assert app.ctx.open_url[-2:] == [str(folder / "notes.txt"), str(folder)]
    actions["Copy path"].trigger()
    assert app.copied == [str(folder / "notes.txt")]
    actions["History…"].trigger()
    assert w.pages.currentWidget() is w.history and w.history.path_edit.text() == "notes.txt"


def keep_old_version(dirs: Dirs, folder: Path, rel: str, new_text: str) -> None:
    with Engine.create(dirs) as engine:
        fid = engine.folder_for(folder).id
        runner = engine.runner(fid)
        runner.history.archive(runner.index.get(rel), ArchiveReason.REPLACED, Keep.COPY)
        (folder / rel).write_text(new_text)
        engine.scan(fid)


def test_restore_a_version_from_history(make_app, folder, dirs, tmp_path, qtbot) -> None:
    keep_old_version(dirs, folder, "notes.txt", "second version\n")
    app = make_app()
    fid = started(app, qtbot)
    h = app.window.history
    app.window.show_history(fid, "notes.txt")
    qtbot.waitUntil(lambda: h.versions.rowCount() == 1 and h.restore_button.isEnabled(), timeout=WAIT)
    qtbot.waitUntil(lambda: h.preview.currentWidget() is h.preview.text, timeout=WAIT)
    assert h.preview.text.toPlainText() == "hello\n"
    with qtbot.waitSignal(h.restored, timeout=WAIT):
        h.restore_button.click()
    assert (folder / "notes.txt").read_bytes() == b"hello\n"
    # the replaced version was kept in turn, and can be saved as a copy outside the folder
    qtbot.waitUntil(lambda: h.versions.rowCount() == 2, timeout=WAIT)
    h.versions_view.selectRow(0)  # newest first: "second version"
    copy = tmp_path / "copy.txt"
    with qtbot.waitSignal(h.restored, timeout=WAIT):
        h.restore_selected(to=copy)
    assert copy.read_bytes() == b"second version\n"


def test_folder_as_it_was(make_app, folder, dirs, qtbot) -> None:
    before = time.time_ns()
    keep_old_version(dirs, folder, "notes.txt", "changed\n")
    keep_old_version(dirs, folder, "docs/a.md", "# changed\n")
    app = make_app()
    started(app, qtbot)
    h = app.window.history
    h.show_past(before)
    qtbot.waitUntil(lambda: h.past.rowCount() == 3, timeout=WAIT)
    older = {r.path for r in h.past.rows if not r.is_current}
    assert older == {"notes.txt", "docs/a.md"}
    h.past.set_all_checked(True)
    with qtbot.waitSignal(h.restored, timeout=WAIT):
        h.past_restore.click()
    assert (folder / "notes.txt").read_text() == "hello\n"
    assert (folder / "docs" / "a.md").read_text() == "# A\n"


def test_ignore_pattern_is_obeyed_by_the_engine(make_app, folder, dirs, qtbot) -> None:
    app = make_app()
    fid = started(app, qtbot)
    s = app.window.settings
    qtbot.waitUntil(lambda: app.jobs.idle, timeout=WAIT)
    s.ignore_edit.setPlainText("*.log\nbuild/\n")
    with qtbot.waitSignal(s.saved, timeout=WAIT):
        s.ignore_save.click()
    assert (folder / ".coveignore").read_text() == "*.log\nbuild/\n"
    (folder / "debug.log").write_text("noise")
    (folder / "keep.txt").write_text("signal")
    qtbot.waitUntil(lambda: "keep.txt" in indexed(dirs, fid), timeout=WAIT)
    assert "debug.log" not in indexed(dirs, fid)
    assert ".coveignore" in indexed(dirs, fid)
    # and the Files view shows it as ignored
    files = app.window.files
    files.show_folder(fid)
    files.model.refresh()
    qtbot.waitUntil(lambda: files.model.index_for_path("debug.log").isValid(), timeout=WAIT)
    assert files.model.data(files.model.index_for_path("debug.log"), Role.STATUS) is FileStatus.IGNORED


def test_general_settings_persist(make_app, folder, dirs, tmp_path, qtbot) -> None:
    app = make_app()
    started(app, qtbot)
    s = app.window.settings
    s.start_on_login.setChecked(True)
    assert (tmp_path / "autostart" / "cove.desktop").exists()
    s.notifications.setChecked(False)
    assert not app.notifier.enabled
    s.lan_only.setChecked(False)
    s.relay_url.setText("relay.example.org")
    assert not s.save_relay() and "https://" in s.relay_status.text()
    s.relay_url.setText("https://relay.example.org")
    assert s.save_relay()
    saved = load_settings(dirs)
    assert (saved.start_on_login, saved.notifications, saved.sync_mode, saved.relay_url) == (
        True, False, SyncMode.RELAY, "https://relay.example.org")
    s.start_on_login.setChecked(False)
    assert not (tmp_path / "autostart" / "cove.desktop").exists()


def type_limit(qtbot, box, text: str) -> None:
    """Type into a spin box and press Return, as a person does (editing finishes)."""
    box.selectAll()
    qtbot.keyClicks(box, text)
    qtbot.keyClick(box, Qt.Key.Key_Return)


def test_bandwidth_limits_reach_the_engine_and_stay(make_app, folder, dirs, qtbot) -> None:
    with Engine.create(dirs) as engine:
        engine.set_bandwidth(Bandwidth(lan_down=10_000_000))  # as `cove limits --lan-down 10MB` sets it
    app = make_app()
    started(app, qtbot)
    s = app.window.settings
    assert [b.value() for b in (s.lan_up, s.lan_down, s.relay_up, s.relay_down)] == [0, 9766, 0, 0]
    assert s.lan_up.text() == "unlimited" and "9.5 MiB/s" in s.bandwidth_status.text()
    with qtbot.waitSignal(s.saved, timeout=WAIT):
        type_limit(qtbot, s.lan_up, "500")
    with qtbot.waitSignal(s.saved, timeout=WAIT):
        type_limit(qtbot, s.relay_down, "2000")
    # the LAN download limit was not touched: it keeps its exact value, not 9766 KiB/s
    want = Bandwidth(lan_up=500 * 1024, lan_down=10_000_000, relay_up=0, relay_down=2000 * 1024)
    assert app.engine.config.bandwidth == want
    assert load_app_config(dirs).bandwidth == want
    limits = app.engine.limits
    assert (limits.lan_up.rate, limits.lan_down.rate, limits.relay_up.rate, limits.relay_down.rate) == (
        500 * 1024, 10_000_000, 0, 2000 * 1024)
    assert "Saved and applied" in s.bandwidth_status.text() and "500.0 KiB/s" in s.bandwidth_status.text()
    assert any("bandwidth limits" in line for line in app.host.log)
    with qtbot.assertNotEmitted(s.saved):  # finishing an edit that changed nothing saves nothing
        s.relay_up.editingFinished.emit()
    with qtbot.waitSignal(s.saved, timeout=WAIT):
        type_limit(qtbot, s.lan_up, "0")  # back to unlimited
    assert app.engine.config.bandwidth.lan_up == 0 and app.engine.limits.lan_up.unlimited

    with qtbot.waitSignal(app.quit_done, timeout=WAIT):
        app.request_quit()
    again = make_app()
    s = again.window.settings
    assert [b.value() for b in (s.lan_up, s.lan_down, s.relay_up, s.relay_down)] == [0, 9766, 0, 2000]
    assert again.engine.limits.relay_down.rate == 2000 * 1024


def make_conflict(root: Path, rel: str, mine: str, theirs_copy: str, device: str) -> str:
    (root / rel).write_text(mine)
    stem, ext = os.path.splitext(rel)
    copy = f"{stem} (conflict from {device} 2026-11-03 0912){ext}"
    (root / copy).write_text(theirs_copy)
    return copy


def test_conflict_workbench_resolves_on_disk(make_app, folder, dirs, qtbot) -> None:
    with Engine.create(dirs) as engine:
        me = engine.identity.short_id
    # my version lost: it is in the copy named after me; the other device's is at the path
    copy_a = make_conflict(folder, "a.txt", "theirs\nline\n", "mine\nline\n", me)
    # the other device's version lost: the copy is theirs
    copy_b = make_conflict(folder, "b.txt", "mine b\n", "theirs b\n", "OTHERDEVICE1")
    copies = [make_conflict(folder, f"bulk{i}.txt", f"mine {i}\n", f"theirs {i}\n", "OTHERDEVICE1") for i in range(3)]
    app = make_app()
    fid = started(app, qtbot)
    c = app.window.conflicts
    c.reload()
    qtbot.waitUntil(lambda: c.model.rowCount() == 5, timeout=WAIT)
    row = c.model.find(f"{fid}:{copy_a}")
    c.view.selectRow(row)
    qtbot.waitUntil(lambda: "+line" not in c.diff.toHtml() and "theirs" in c.diff.toPlainText(), timeout=WAIT)
    assert c.mine_preview.text.toPlainText() == "mine\nline\n"
    assert c.theirs_preview.text.toPlainText() == "theirs\nline\n"
    assert "-mine" in c.diff.toPlainText() and "+theirs" in c.diff.toPlainText()

    with qtbot.waitSignal(c.resolved, timeout=WAIT):
        c.keep_mine.click()
    assert (folder / "a.txt").read_text() == "mine\nline\n" and not (folder / copy_a).exists()
    qtbot.waitUntil(lambda: c.model.rowCount() == 4, timeout=WAIT)
    assert len(app.engine.history(folder / "a.txt")) == 1  # theirs was kept in history

    c.view.selectRow(c.model.find(f"{fid}:{copy_b}"))
    with qtbot.waitSignal(c.resolved, timeout=WAIT):
        c.keep_both.click()
    assert (folder / "b.txt").read_text() == "mine b\n"
    assert (folder / "b (OTHERDEVICE1).txt").read_text() == "theirs b\n" and not (folder / copy_b).exists()
    qtbot.waitUntil(lambda: c.model.rowCount() == 3, timeout=WAIT)

    c.select_all.click()
    assert c.keep_theirs.text() == "Keep theirs (3 conflicts)"
    with qtbot.waitSignal(c.resolved, timeout=WAIT) as blocker:
        c.keep_theirs.click()
    assert blocker.args == [3]
    for i, copy in enumerate(copies):
        assert (folder / f"bulk{i}.txt").read_text() == f"theirs {i}\n" and not (folder / copy).exists()
    qtbot.waitUntil(lambda: c.model.rowCount() == 0 and c.stack.currentWidget() is c.empty, timeout=WAIT)


def test_activity_lists_errors_with_advice(make_app, folder, dirs, qtbot) -> None:
    with Engine.create(dirs) as engine:
        engine.runner(engine.folder_for(folder).id).index.record_errors(
            [("docs/secret.pdf", "permission_denied", "cannot read its contents: Permission denied")])
    app = make_app()
    a = app.window.activity
    qtbot.waitUntil(lambda: a.model.rowCount() > 0, timeout=WAIT)
    first = a.model.object(0)
    assert first.is_error and first.path == "docs/secret.pdf" and "read access" in first.advice
    a.view.selectRow(0)
    assert "What to do" in a.detail.text()


def test_devices_page(make_app, folder, qtbot) -> None:
    app = make_app()
    d = app.window.devices
    assert app.engine.identity.device_id == d.device_id
    assert load_account_keys(app.dirs).fingerprint() in d.fingerprint_label.text()
    assert d.offer_button.isEnabled() and d.offer_box.isHidden()  # linking: tests/app/test_devices.py
    assert d.join_button.isEnabled() and d.relay_fields.isHidden()
    assert d.peers_empty.isVisibleTo(d)


def test_wizard_creates_the_folder_and_starts_the_engine(make_app, dirs, tmp_path, qtbot) -> None:
    target = tmp_path / "MyCove"
    app = make_app(default_folder=target)
    assert app.needs_wizard
    app.start()
    wiz = app.wizard
    assert wiz is not None and wiz.folder_page.path.text() == str(target)
    wiz.next()
    assert wiz.currentPage() is wiz.mode_page
    wiz.mode_page.relay.setChecked(True)
    wiz.mode_page.url.setText("not a url")
    wiz.next()
    assert wiz.currentPage() is wiz.mode_page and wiz.mode_page.error.text()
    wiz.mode_page.url.setText("https://relay.example.org")
    wiz.next()
    assert wiz.currentPage() is wiz.sign_in_page and not wiz.sign_in_page.isComplete()  # see test_relay.py
    wiz.back()
    wiz.mode_page.lan.setChecked(True)
    wiz.next()
    assert wiz.currentPage() is wiz.link_page and wiz.link_page.code.isEnabled() and not wiz.choice.link_code
    with qtbot.waitSignal(app.started, timeout=WAIT):
        wiz.button(QWizard.WizardButton.FinishButton).click()
    assert read_marker(target) is not None
    assert [f.path for f in app.engine.folders()] == [target]
    s = load_settings(dirs)
    assert s.first_run_done and s.sync_mode == SyncMode.LAN
    assert app.window.isVisible()
    (target / "hello.txt").write_text("hi")
    qtbot.waitUntil(lambda: "hello.txt" in indexed(dirs, app.engine.folder_for(target).id), timeout=WAIT)


def test_tray_menu_and_notifications(make_app, folder, qtbot) -> None:
    app = make_app(tray=True)
    started(app, qtbot)
    tray = app.tray
    assert tray is not None
    tray.open_action.trigger()
    assert app.window.isVisible()
    (open_folder,) = tray.open_folder_menu.actions()
    open_folder.trigger()
    assert app.ctx.open_url[-1] == str(folder)
    tray.recent_action.trigger()
    assert app.window.pages.currentIndex() == Page.ACTIVITY

    tray.pause_action.trigger()  # Engine.set_paused: the engine task keeps running, the folder rests
    qtbot.waitUntil(lambda: tray.state is AppState.PAUSED, timeout=WAIT)
    assert app.host.running and app.host.infos[0].state == "paused" and app.engine.folder_for(folder).paused
    assert tray.pause_action.text() == "Resume syncing"
    (folder / "while-paused.txt").write_text("waits")
    tray.pause_action.trigger()
    qtbot.waitUntil(lambda: tray.state is AppState.UP_TO_DATE and not app.engine.folder_for(folder).paused,
                    timeout=WAIT)
    qtbot.waitUntil(lambda: "while-paused.txt" in indexed(app.dirs, app.host.infos[0].id), timeout=WAIT)

    shown = []
    tray.notify = shown.append  # the real one calls QSystemTrayIcon.showMessage
    fid = app.host.infos[0].id
    ev = app.engine.events  # the engine's callbacks, as a sync would call them
    ev.error(fid, "x", "permission_denied", "disk full")
    ev.error(fid, "x", "permission_denied", "disk full")  # a standing error is told once
    ev.changes(fid, [], True)
    ev.changes(fid, [FileRecord(f"f{i}", FileType.FILE, modified_by="OTHERDEV") for i in range(1000)], True)
    ev.changes(fid, [FileRecord("mine.txt", FileType.FILE, modified_by=app.engine.identity.short_id)], False)
    app.notifier.flush()
    assert [n.title for n in shown] == ["Cove could not sync x", "1,000 files updated from OTHERDEV"]

    with qtbot.waitSignal(app.quit_done, timeout=WAIT):
        tray.quit_action.trigger()
    assert not app.host.running


def test_without_a_tray_closing_the_window_quits(make_app, folder, qtbot) -> None:
    app = make_app(tray=False)
    started(app, qtbot)
    assert app.tray is None and app.window.isVisible()
    with qtbot.waitSignal(app.quit_done, timeout=WAIT):
        app.window.close()


def test_lan_only_settings_show_the_account_key_without_a_user(make_app, folder, qtbot) -> None:
    """A LAN-only device holds account keys (made with its first folder) but no relay account."""
    app = make_app()
    started(app, qtbot)
    text = app.window.settings.relay_status.text()
    assert "LAN only" in text and "fingerprint" in text and "Signed in as" not in text
