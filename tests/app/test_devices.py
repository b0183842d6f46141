"""The Devices page with real engines in real homes: linking a second device over the LAN through
the widgets (real zeroconf on loopback, real pairing), adding the linked folder with its folder ID,
a wrong code, the device list and revoking through the confirmation dialog, pausing and resuming
a LAN peer. Every wait has a deadline (waitUntil / waitSignal); nothing sleeps to wait."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from app.application import CoveApp
from app.linking import JoinInput, OfferOutcome, parse_join, peer_table, remaining
from app.main_window import Page
from app.pages.devices import device_state
from sync.account import account_key_path, load_account_keys, load_keyring
from sync.config import Dirs, RelayAccount, load_app_config, read_marker
from sync.devices import DeviceRow
from sync.keys import LinkCode, LinkError, link_qr_payload, new_code, parse_code
from sync.lan.certs import DeviceCertificate, DeviceDirectory
from sync.lan.discovery import enable_loopback_multicast
from sync.wire.ids import short_id

WAIT = 30_000
lan = pytest.mark.skipif(not enable_loopback_multicast(), reason="cannot enable multicast on lo")


@pytest.fixture
def second_app(qtbot, qloop, tmp_path: Path) -> Iterator[CoveApp]:
    """Device B: a fresh home of its own (no folders, no account key), the app on the same loop."""
    b = CoveApp(Dirs.under(tmp_path / "home-b"), tray=False, autostart_dir=tmp_path / "autostart-b",
                open_url=lambda _u: True, copy_text=lambda _t: None, poll_ms=200, lan=False)
    qtbot.addWidget(b.window)
    yield b
    if not b._quitting:
        with qtbot.waitSignal(b.quit_done, timeout=20_000):
            b.request_quit()


def nothing_saved(dirs: Dirs) -> bool:
    folders = dirs.data / "folders"
    return not account_key_path(dirs).exists() and not (folders.exists() and any(folders.glob("*/keyring.json")))


def offer_code(app: CoveApp, qtbot) -> str:
    page = app.window.devices
    page.offer_button.click()
    qtbot.waitUntil(lambda: bool(page.offer_code.text()), timeout=WAIT)  # Argon2id, then the code
    return page.offer_code.text()


# --- pure parts ----------------------------------------------------------------------------------


def test_code_input_and_countdown_rules() -> None:
    code = new_code().text
    relay = RelayAccount(url="https://relay.example", username="alice")
    assert parse_join(code, None) == JoinInput(code, None, None)  # typed, no relay here: the LAN
    assert parse_join(code.lower().replace("-", " "), relay) == JoinInput(code, relay.url, "alice")
    assert parse_join(link_qr_payload(code, ""), relay) == JoinInput(code, None, None)  # QR without relay: LAN
    qr = link_qr_payload(code, "https://other.example") + "&user=bob"
    assert parse_join(qr, None) == JoinInput(code, "https://other.example", "bob")
    with pytest.raises(LinkError, match="typo"):
        parse_join(code[:-1] + ("0" if code[-1] != "0" else "1"), None)
    assert remaining(100.0, 0.0) == "1:40" and remaining(10.0, 9.2) == "0:01" and remaining(5.0, 9.0) == "0:00"
    me = DeviceRow("A" * 52, "laptop", True, False, False, 0, False)
    assert device_state(me, True) == "this device"
    other = DeviceRow("B" * 52, "", False, False, True, 0, True)
    assert device_state(other, True) == "connected on the LAN, on the relay"
    gone = DeviceRow("C" * 52, "", False, True, False, 0, True)
    assert device_state(gone, True) == "revoked"


# --- linking over the LAN --------------------------------------------------------------------------


@lan
def test_link_a_second_device_over_the_lan_and_add_its_folder(make_app, second_app, folder, dirs, tmp_path,
                                                             qtbot) -> None:
    a, b = make_app(), second_app
    fid = a.engine.folder_for(folder).id
    a.start()
    qtbot.waitUntil(lambda: a.host.running, timeout=WAIT)
    b.host.start()  # running without keys: linking restarts it with them
    qtbot.waitUntil(lambda: b.host.running, timeout=WAIT)
    pa, pb = a.window.devices, b.window.devices
    fingerprint = load_account_keys(dirs).fingerprint()

    code = offer_code(a, qtbot)
    assert parse_code(code).text == code
    assert not pa.offer_qr.pixmap().isNull() and pa.offer_qr.pixmap().width() > 100
    assert fingerprint in pa.offer_fingerprint.text() and "Cove" in pa.offer_where.text()
    assert pa.offer_countdown.text().startswith("Valid for 9:") or pa.offer_countdown.text().startswith("Valid for 10:")
    assert not pa.offer_button.isEnabled() and pa.linking.offering

    pb.join_code.setText(code)
    assert pb.relay_fields.isHidden()  # a typed code on a device without a relay: the LAN
    pb.join_button.click()
    qtbot.waitUntil(lambda: bool(pb.folder_rows), timeout=WAIT)
    assert fingerprint in pb.join_status.text() and "over the LAN" in pb.join_status.text()
    assert load_account_keys(b.dirs).fingerprint() == fingerprint
    assert load_keyring(b.dirs, fid).current_key() == load_keyring(dirs, fid).current_key()
    qtbot.waitUntil(lambda: "took the code" in pa.offer_status.text(), timeout=WAIT)
    assert pa.offer_box.isHidden() and pa.offer_button.isEnabled()
    qtbot.waitUntil(lambda: b.host.running, timeout=WAIT)  # restarted with the account's keys

    row = pb.folder_rows[fid]
    assert "Cove" in row.label.text() and fid in row.label.text() and row.add_button.isVisibleTo(row)
    target = tmp_path / "b-docs"
    pb.choose_path = lambda f: target if f.id == fid else None
    with qtbot.waitSignal(pb.linking.folder_added, timeout=WAIT):
        row.add_button.click()
    assert read_marker(target) == fid
    assert b.engine.folder_for(target).id == fid
    assert "Synced at" in row.status.text() and row.add_button.isHidden()


@lan
def test_a_wrong_code_shows_why_and_saves_nothing(make_app, second_app, folder, qtbot) -> None:
    a, b = make_app(), second_app
    pb = b.window.devices
    good = parse_code(offer_code(a, qtbot))

    typo = good.text[:-1] + ("0" if good.text[-1] != "0" else "1")
    pb.join_code.setText(typo)
    assert pb.join() is None  # refused before any network
    assert "typo" in pb.join_status.text() and pb.join_status.isVisibleTo(pb)

    wrong = LinkCode(good.slot, "".join("Z" if ch != "Z" else "Y" for ch in good.secret))  # right slot, wrong secret
    pb.join_code.setText(wrong.text)
    task = pb.join()
    assert task is not None and not pb.join_button.isEnabled()
    qtbot.waitUntil(task.done, timeout=WAIT)
    assert task.result() is None
    assert pb.join_status.text().startswith("Not linked:") and "used up" in pb.join_status.text()
    assert pb.join_button.isEnabled() and not pb.folder_rows
    assert nothing_saved(b.dirs) and b.engine.config.relay is None
    # the offer was fetched (and could not be opened): A reports it as taken, the code is spent
    qtbot.waitUntil(lambda: not a.window.devices.linking.offering, timeout=WAIT)
    assert "took the code" in a.window.devices.offer_status.text()


def test_cancel_stops_serving_the_offer(make_app, folder, qtbot) -> None:
    a = make_app()
    pa = a.window.devices
    offer_code(a, qtbot)
    outcomes = []
    pa.linking.offer_finished.connect(lambda o, m: outcomes.append(o))
    pa.cancel_button.click()
    qtbot.waitUntil(lambda: bool(outcomes), timeout=WAIT)
    assert outcomes == [OfferOutcome.CANCELLED] and "Cancelled" in pa.offer_status.text()
    assert pa.offer_box.isHidden() and pa.offer_button.isEnabled() and not pa.offer_code.text()


def test_offering_without_account_keys_says_why(second_app, qtbot) -> None:
    pb = second_app.window.devices
    with qtbot.waitSignal(pb.linking.offer_finished, timeout=WAIT):
        pb.offer_button.click()
    assert "no account keys" in pb.offer_status.text() and pb.offer_box.isHidden()
    assert "No account keys on this device yet" in pb.fingerprint_label.text()


# --- the device list and revoking --------------------------------------------------------------------


def test_device_list_and_revoking_through_the_dialog(make_app, folder, dirs, qtbot) -> None:
    account = load_account_keys(dirs)
    directory_path = dirs.data / "lan" / "devices.json"
    other_pk = bytes(SigningKey.generate().verify_key)
    DeviceDirectory(account.sign_pk, directory_path).add(DeviceCertificate.issue(account.signing_key, other_pk, "local"))
    other = DeviceCertificate.issue(account.signing_key, other_pk, "local").device_id

    app = make_app()
    app.start()
    page = app.window.devices
    app.window.show()
    app.window.show_page(Page.DEVICES)  # shown: the page loads and refreshes the list
    qtbot.waitUntil(lambda: page.devices_table.rowCount() == 2, timeout=WAIT)
    me = app.engine.identity.device_id
    assert page.devices_table.item(0, 1).text() == short_id(me)
    assert "this device" in page.devices_table.item(0, 2).text()
    assert not page.revoke_buttons[me].isEnabled() and "cannot revoke itself" in page.revoke_buttons[me].toolTip()
    assert page.revoke_buttons[other].isEnabled()
    assert not page.peers_table.isHidden()  # the known device, not on this LAN
    assert page.peers_table.item(0, 0).text().startswith(short_id(other)[:7])

    page.revoke_buttons[other].click()
    box = page.revoke_dialog
    assert box is not None and box.isVisible() and short_id(other) in box.text() and other in box.informativeText()
    (revoke,) = [b for b in box.buttons() if b.text() == "Revoke"]
    with qtbot.waitSignal(page.roster.revoked, timeout=WAIT):
        revoke.click()
    assert DeviceDirectory(account.sign_pk, directory_path).revocation(other) is not None
    assert "Revoked" in page.devices_status.text()
    qtbot.waitUntil(lambda: not page.revoke_buttons[other].isEnabled(), timeout=WAIT)
    row = next(i for i in range(2) if page.devices_table.item(i, 1).text() == short_id(other))
    assert "revoked" in page.devices_table.item(row, 2).text()


def test_peer_table_rows_carry_the_device_and_its_pause() -> None:
    near, paused_there, known_only, me = "A" * 52, "B" * 52, "C" * 52, "D" * 52
    status = {"device_id": me, "updated": 100.0, "peers": [
        {"device_id": near, "name": "laptop", "addresses": [["192.168.1.5", 22000]], "connected": True,
         "folders": ["f"]},
        {"device_id": paused_there, "addresses": [], "paused": True},
    ]}
    rows = peer_table(status, [near, known_only, me], False, {known_only}, 101.0)
    assert [(r.device_id, r.path, r.paused) for r in rows] == [
        (near, "LAN", False), (paused_there, "paused", True), (known_only, "paused", True)]
    assert rows[0].device == f"{short_id(near)[:7]} laptop" and rows[0].addresses == "192.168.1.5:22000"
    assert rows[2].state == "not on this LAN"
    # a stale status (no LAN service running): only the known devices, each still with its ID
    assert [(r.device_id, r.path, r.paused) for r in peer_table(status, [near], True, (), 1_000.0)] == [
        (near, "relay", False)]


def test_pausing_and_resuming_a_lan_peer(make_app, folder, dirs, qtbot) -> None:
    account = load_account_keys(dirs)
    cert = DeviceCertificate.issue(account.signing_key, bytes(SigningKey.generate().verify_key), "local")
    DeviceDirectory(account.sign_pk, dirs.data / "lan" / "devices.json").add(cert)
    other = cert.device_id
    app = make_app()
    app.start()
    page = app.window.devices
    page.refresh()
    qtbot.waitUntil(lambda: other in page.pause_buttons, timeout=WAIT)  # known, not on this LAN
    button = page.pause_buttons[other]
    assert button.text() == "Pause" and button.toolTip().startswith("Pause syncing with this device")
    assert page.peers_table.item(0, 1).text() == "-"

    button.click()
    assert app.engine.config.paused_peers == (other,)
    assert load_app_config(dirs).paused_peers == (other,)
    assert page.pause_buttons[other].text() == "Resume"  # at once, before the refresh
    assert page.pause_buttons[other].toolTip().startswith("Resume syncing with this device")
    qtbot.waitUntil(lambda: not page.roster.busy, timeout=WAIT)  # the refresh agrees
    assert page.pause_buttons[other].text() == "Resume" and page.peers_table.item(0, 1).text() == "paused"
    assert any("paused syncing with" in line for line in app.host.log)

    page.pause_buttons[other].click()
    assert app.engine.config.paused_peers == ()
    assert load_app_config(dirs).paused_peers == ()
    qtbot.waitUntil(lambda: not page.roster.busy, timeout=WAIT)
    assert page.pause_buttons[other].text() == "Pause" and page.peers_table.item(0, 1).text() == "-"


def test_cancelling_the_dialog_revokes_nothing(make_app, folder, dirs, qtbot) -> None:
    account = load_account_keys(dirs)
    directory_path = dirs.data / "lan" / "devices.json"
    cert = DeviceCertificate.issue(account.signing_key, bytes(SigningKey.generate().verify_key), "local")
    DeviceDirectory(account.sign_pk, directory_path).add(cert)
    app = make_app()
    page = app.window.devices
    page.refresh()
    qtbot.waitUntil(lambda: page.devices_table.rowCount() == 2, timeout=WAIT)
    page.revoke_buttons[cert.device_id].click()
    page.revoke_dialog.reject()
    qtbot.waitUntil(lambda: page.revoke_dialog is None, timeout=WAIT)
    assert not page.roster.busy
    assert DeviceDirectory(account.sign_pk, directory_path).revocation(cert.device_id) is None


# --- linking through a relay ----------------------------------------------------------------------


def test_link_through_the_relay_with_the_qr_text(relay, make_app, second_app, dirs, tmp_path, qtbot) -> None:
    from tests.app.relay_helpers import run

    relay.create_user("alice", "correct horse battery")
    a, b = make_app(), second_app
    run(qtbot, a.engine.login(relay.base, "alice", "correct horse battery"))
    shared = run(qtbot, a.engine.add_relay_folder(tmp_path / "A"))
    pa, pb = a.window.devices, b.window.devices
    fingerprint = load_account_keys(dirs).fingerprint()

    offer_code(a, qtbot)
    offer = pa.linking.offer
    assert offer is not None and offer.qr_payload.startswith("cove://link?") and relay.base in pa.offer_where.text()
    pb.join_code.setText(offer.qr_payload)  # what scanning the QR code gives
    assert not pb.relay_fields.isHidden() and pb.via_relay.isChecked()
    assert pb.join_relay_url.text() == relay.base and pb.join_username.text() == "alice"
    assert pb.join() is None and "password" in pb.join_status.text()  # asked for, nothing sent
    pb.join_password.setText("correct horse battery")
    task = pb.join()
    qtbot.waitUntil(task.done, timeout=WAIT)
    assert task.result() is not None, pb.join_status.text()
    assert fingerprint in pb.join_status.text() and "through the relay" in pb.join_status.text()
    assert b.engine.config.relay is not None and b.engine.config.relay.username == "alice"
    assert load_account_keys(b.dirs).fingerprint() == fingerprint and not pb.join_password.text()
    # A learns it from the relay's device list: a new device signed in while the code was shown
    qtbot.waitUntil(lambda: not pa.linking.offering, timeout=WAIT)
    assert "used the code" in pa.offer_status.text()

    row = pb.folder_rows[shared.id]
    target = tmp_path / "B"
    pb.choose_path = lambda f: target
    with qtbot.waitSignal(pb.linking.folder_added, timeout=WAIT):
        row.add_button.click()
    folder = b.engine.folder_for(target)
    assert folder.id == shared.id and folder.relay and read_marker(target) == shared.id


def test_cancelling_a_relay_offer_takes_it_back(relay, make_app, second_app, qtbot) -> None:
    from tests.app.relay_helpers import run

    relay.create_user("alice", "correct horse battery")
    a, b = make_app(), second_app
    run(qtbot, a.engine.login(relay.base, "alice", "correct horse battery"))
    pa, pb = a.window.devices, b.window.devices
    offer_code(a, qtbot)
    qr = pa.linking.offer.qr_payload
    with qtbot.waitSignal(pa.linking.offer_finished, timeout=WAIT):
        pa.cancel_button.click()
    assert "relay no longer holds the code" in pa.offer_status.text()
    pb.join_code.setText(qr)
    pb.join_password.setText("correct horse battery")
    task = pb.join()
    qtbot.waitUntil(task.done, timeout=WAIT)
    assert "holds no link offer" in pb.join_status.text() and not account_key_path(b.dirs).exists()


def test_the_wizard_with_a_code_links_instead_of_starting_a_folder(make_app, tmp_path, qtbot) -> None:
    from PySide6.QtWidgets import QWizard

    app = make_app(default_folder=tmp_path / "NotMade")
    app.start()
    wiz = app.wizard
    wiz.next()
    wiz.next()
    assert wiz.currentPage() is wiz.link_page
    code = new_code().text
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")  # refused at once: no network in this test
    wiz.link_page.code.setText(typo)
    with qtbot.waitSignal(app.started, timeout=WAIT):
        wiz.button(QWizard.WizardButton.FinishButton).click()
    page = app.window.devices
    assert app.window.pages.currentWidget() is page and app.window.isVisible()
    assert page.join_code.text() == typo and "typo" in page.join_status.text()
    assert not list(app.engine.folders()) and not (tmp_path / "NotMade").exists()
