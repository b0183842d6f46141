"""The app with a real relay on 127.0.0.1 and real engines: a conflict made by two engines resolved
through the workbench (keep mine, keep theirs, keep both) and checked on disk on both devices; the
wizard's and Settings' relay sign-in (fingerprint, NeedsLink, new and joined relay folders); tray
notifications for changes from the other device. Waits are signals and waitUntil."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtWidgets import QWizard

from app.account import NEEDS_LINK
from app.engine_host import AppState
from app.main_window import Page
from sync.account import account_key_path, load_account_keys
from sync.config import Dirs
from sync.engine import Engine
from tests.app.relay_helpers import run
from tests.engine.sync_harness import tree

WAIT = 20_000
PASSWORD = "correct horse battery"


def give_keys(src: Dirs, dst: Dirs) -> None:
    """Device linking hands the account keys over; here the key file stands in for it."""
    account_key_path(dst).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(account_key_path(src), account_key_path(dst))


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def two_devices(qtbot, relay, dirs: Dirs, tmp_path: Path) -> tuple[Engine, Engine, Path, Path, str]:
    """Device A (the app's ``dirs``) and device B, both signed in, sharing one relay folder."""
    relay.create_user("alice", PASSWORD)
    a, b = Engine.create(dirs), Engine.create(Dirs.under(tmp_path / "devB"))
    ra, rb = tmp_path / "A", tmp_path / "B"
    run(qtbot, a.login(relay.base, "alice", PASSWORD))
    give_keys(a.dirs, b.dirs)
    run(qtbot, b.login(relay.base, "alice", PASSWORD))
    folder = run(qtbot, a.add_relay_folder(ra))
    run(qtbot, b.add_relay_folder(rb, folder.id))
    return a, b, ra, rb, folder.id


def sync(qtbot, *engines: Engine, rounds: int = 1) -> None:
    for _ in range(rounds):
        for e in engines:
            run(qtbot, e.sync_now())


def test_conflicts_made_by_two_engines_resolved_in_the_workbench(relay, make_app, qloop, dirs, tmp_path, qtbot) -> None:
    a, b, ra, rb, _fid = two_devices(qtbot, relay, dirs, tmp_path)
    for name in ("mine.txt", "theirs.txt", "both.txt"):
        write(ra / name, "base\n")
    sync(qtbot, a, b)
    assert tree(rb) == tree(ra)
    for name in ("mine.txt", "theirs.txt", "both.txt"):  # concurrent edits on both devices
        write(ra / name, f"A's {name}\n")
        write(rb / name, f"B's {name}\n")
    sync(qtbot, a, b, rounds=2)
    assert len(a.conflicts()) == 3 and len(b.conflicts()) == 3
    a.close()

    app = make_app()
    app.start()
    qtbot.waitUntil(lambda: app.host.running, timeout=WAIT)
    c = app.window.conflicts
    app.window.show_page(Page.CONFLICTS)
    c.reload()
    qtbot.waitUntil(lambda: c.model.rowCount() == 3 and all(r.recorded for r in c.model.rows), timeout=WAIT)

    def resolve(path: str, button) -> None:
        row = next(i for i, r in enumerate(c.model.rows) if r.path == path)
        c.view.selectRow(row)
        qtbot.waitUntil(lambda: c.mine_preview.text.toPlainText() == f"A's {path}\n", timeout=WAIT)
        assert c.theirs_preview.text.toPlainText() == f"B's {path}\n"
        with qtbot.waitSignal(c.resolved, timeout=WAIT) as blocker:
            button.click()
        assert blocker.args == [1], c.note.text()

    resolve("mine.txt", c.keep_mine)
    qtbot.waitUntil(lambda: c.model.rowCount() == 2, timeout=WAIT)
    resolve("theirs.txt", c.keep_theirs)
    qtbot.waitUntil(lambda: c.model.rowCount() == 1, timeout=WAIT)
    resolve("both.txt", c.keep_both)
    qtbot.waitUntil(lambda: c.model.rowCount() == 0 and c.stack.currentWidget() is c.empty, timeout=WAIT)

    # on device A at once
    ta = tree(ra)
    assert ta["mine.txt"] == b"A's mine.txt\n" and ta["theirs.txt"] == b"B's theirs.txt\n"
    assert not [p for p in ta if p.startswith(("mine (", "theirs ("))]
    both = sorted(v for p, v in ta.items() if p.startswith("both"))
    assert both == [b"A's both.txt\n", b"B's both.txt\n"]
    # device B syncs; the resolutions (and the files they changed) arrive there too
    sync(qtbot, b, rounds=2)
    assert tree(rb) == tree(ra)
    assert b.conflicts() == []
    b.close()


def test_wizard_signs_in_and_starts_a_relay_folder(relay, make_app, qloop, dirs, tmp_path, qtbot) -> None:
    relay.create_user("alice", PASSWORD)
    target = tmp_path / "MyCove"
    app = make_app(default_folder=target, tray=True)
    app.start()
    wiz = app.wizard
    wiz.next()
    wiz.mode_page.relay.setChecked(True)
    wiz.mode_page.url.setText(relay.base)
    wiz.next()
    page = wiz.sign_in_page
    assert wiz.currentPage() is page and page.url.text() == relay.base
    assert not wiz.button(QWizard.WizardButton.NextButton).isEnabled()  # sign in first
    page.account.setText("alice")
    page.password.setText("wrong password")
    with qtbot.waitSignal(app.relay.failed, timeout=WAIT):
        page.sign_in_button.click()
    assert not page.isComplete() and page.status.text()
    qtbot.waitUntil(lambda: page.sign_in_button.isEnabled(), timeout=WAIT)
    page.password.setText(PASSWORD)
    with qtbot.waitSignal(app.relay.signed_in, timeout=WAIT):
        page.sign_in_button.click()
    fingerprint = load_account_keys(dirs).fingerprint()
    assert page.isComplete() and fingerprint in page.status.text()
    qtbot.waitUntil(lambda: not app.relay.busy, timeout=WAIT)  # the (empty) list of relay folders
    assert page.new_folder.isChecked() and not page.join_folder.isEnabled()
    wiz.next()
    assert wiz.currentPage() is wiz.link_page
    (target / "old.txt").parent.mkdir(parents=True)
    (target / "old.txt").write_text("was here before")
    states: list[str] = []
    app.host.folder_state.connect(lambda _f, state, _p: states.append(state))
    with qtbot.waitSignal(app.started, timeout=WAIT):
        wiz.button(QWizard.WizardButton.FinishButton).click()
    (folder,) = app.engine.folders()
    assert folder.relay and folder.path == target and app.engine.config.relay.username == "alice"
    # the running engine scans and publishes: the tray shows syncing, then up to date
    qtbot.waitUntil(lambda: "syncing" in states and states[-1] == "up to date", timeout=WAIT)
    qtbot.waitUntil(lambda: app.tray.state is AppState.UP_TO_DATE, timeout=WAIT)

    # a second device joins that folder from Settings; its changes reach the app and notify
    b = Engine.create(Dirs.under(tmp_path / "devB"))
    give_keys(dirs, b.dirs)
    run(qtbot, b.login(relay.base, "alice", PASSWORD))
    rb = tmp_path / "B"
    run(qtbot, b.add_relay_folder(rb, folder.id))
    sync(qtbot, b)
    assert (rb / "old.txt").read_text() == "was here before"

    shown = []
    app.tray.notify = shown.append
    for i in range(5):
        write(rb / "from-b" / f"note{i}.txt", f"note {i}")
    sync(qtbot, b)  # the relay notifies the app's engine, which applies the change
    qtbot.waitUntil(lambda: (rb / "from-b" / "note4.txt").exists() and (target / "from-b" / "note4.txt").exists(),
                    timeout=WAIT)
    qtbot.waitUntil(lambda: bool(shown), timeout=WAIT)  # batched: one notification for the burst
    assert shown[0].title == f"5 files updated from {b.identity.short_id}", shown
    b.close()


def test_settings_sign_in_needs_link_and_join(relay, make_app, qloop, dirs, tmp_path, qtbot, folder) -> None:
    relay.create_user("alice", PASSWORD)
    first = Engine.create(Dirs.under(tmp_path / "first"))
    run(qtbot, first.login(relay.base, "alice", PASSWORD))
    shared = run(qtbot, first.add_relay_folder(tmp_path / "shared"))
    write(tmp_path / "shared" / "hello.txt", "hello from the first device")
    sync(qtbot, first)

    app = make_app()
    app.start()
    qtbot.waitUntil(lambda: app.host.running, timeout=WAIT)
    s = app.window.settings
    s.lan_only.setChecked(False)
    s.relay_url.setText(relay.base)
    s.relay_account.setText("alice")
    s.relay_password.setText(PASSWORD)
    with qtbot.waitSignal(app.relay.needs_link, timeout=WAIT):
        s.sign_in_button.click()  # the account has keys, and they live on the first device
    assert "Link this device" in s.relay_status.text() and NEEDS_LINK[:20] in s.relay_status.text()

    give_keys(first.dirs, dirs)  # linked (see give_keys)
    qtbot.waitUntil(lambda: s.sign_in_button.isEnabled(), timeout=WAIT)
    s.relay_password.setText(PASSWORD)
    with qtbot.waitSignal(app.relay.signed_in, timeout=WAIT):
        s.sign_in_button.click()
    assert load_account_keys(dirs).fingerprint() in s.relay_status.text()
    qtbot.waitUntil(lambda: s.remote_list.count() == 1 and s.remote_list.item(0).data(256) == shared.id,
                    timeout=WAIT)
    s.remote_list.setCurrentRow(0)
    target = tmp_path / "joined"
    with qtbot.waitSignal(app.relay.folder_added, timeout=WAIT):
        s.relay_folder(s.selected_remote(), target)
    qtbot.waitUntil(lambda: (target / "hello.txt").exists(), timeout=WAIT)
    assert (target / "hello.txt").read_text() == "hello from the first device"

    # and this device's LAN folder goes through the relay too
    s.local_picker.select(app.engine.folder_for(folder).id)
    with qtbot.waitSignal(app.relay.folder_added, timeout=WAIT):
        s.local_to_relay.click()
    assert app.engine.folder_for(folder).relay
    qtbot.waitUntil(lambda: s.remote_list.count() == 2, timeout=WAIT)
    first.close()
