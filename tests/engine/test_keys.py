"""sync.keys: account keys and their files, pairing codes and link offers, folder keyrings and
signed, sealed key wraps."""

from __future__ import annotations

import json
import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.pwhash import argon2id

from sync import keys as K
from sync.keys import (
    AccountKeys,
    FolderKeyring,
    KeyFileError,
    KeyringError,
    LinkCode,
    LinkError,
    LinkOffer,
    UnknownEpochKey,
    accept_link,
    fingerprint_of,
    link_qr_payload,
    link_slot,
    parse_code,
    parse_qr_payload,
    unwrap_folder_key,
)

FAST = {"opslimit": argon2id.OPSLIMIT_MIN, "memlimit": argon2id.MEMLIMIT_MIN}
FOLDER = "folder-AAAAAAAAAAAA"


@pytest.fixture(scope="module")
def alice() -> AccountKeys:
    return AccountKeys.generate()


@pytest.fixture(scope="module")
def bob() -> AccountKeys:
    return AccountKeys.generate()


# --- account keys ------------------------------------------------------------------------------------


def test_account_keys_save_load_round_trip(tmp_path, alice):
    path = tmp_path / "sub" / "account.json"
    alice.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = AccountKeys.load(path)
    assert loaded.sign_pk == alice.sign_pk and loaded.box_pk == alice.box_pk
    assert loaded.fingerprint() == alice.fingerprint()
    assert len(alice.sign_pk) == 32 and len(alice.box_pk) == 32
    assert "sign_seed" not in repr(alice) and repr(alice).startswith("AccountKeys(")
    assert not [p for p in path.parent.iterdir() if p.name != "account.json"]  # no temp leftovers


def test_account_key_file_corrupt_or_newer(tmp_path, alice):
    path = tmp_path / "account.json"
    for content in (b"\x00garbage", b"[]", b'{"kind": "other", "version": 1}'):
        path.write_bytes(content)
        with pytest.raises(KeyFileError, match="corrupt"):
            AccountKeys.load(path)
    alice.save(path)
    doc = json.loads(path.read_text())
    doc["version"] = 99
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="newer version of Cove"):
        AccountKeys.load(path)
    doc["version"] = 1
    doc["sign_seed"] = doc["sign_seed"][:-4]
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="corrupt"):
        AccountKeys.load(path)
    alice.save(path)
    doc = json.loads(path.read_text())
    doc["box_pk"] = K._b64(bytes(32))
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="does not match"):
        AccountKeys.load(path)
    with pytest.raises(FileNotFoundError):
        AccountKeys.load(tmp_path / "missing.json")


def test_fingerprint_format_and_stability(alice, bob):
    fp = alice.fingerprint()
    groups = fp.split(" ")
    assert len(groups) == 8 and all(len(g) == 4 for g in groups)
    assert set(fp.replace(" ", "")) <= set(K.FP_ALPHABET)
    assert fp == alice.fingerprint() == fingerprint_of(alice.sign_pk, alice.box_pk)
    assert fp != bob.fingerprint()
    assert fingerprint_of(alice.sign_pk, bob.box_pk) != fp  # covers both keys


def test_fingerprint_known_answer():
    # pinned: changing the construction would change every fingerprint people have compared
    assert fingerprint_of(bytes(32), bytes(32)) == "397P KD2Q ZZ7J T1Q8 8R3F ZFRH 7CNM G6J2"


def test_public_keys_body(alice):
    body = alice.public_keys()
    assert set(body) == {"sign_pk", "box_pk"}
    assert K._unb64(body["sign_pk"], "x", 32) == alice.sign_pk


# --- pairing codes -----------------------------------------------------------------------------------


def test_code_format_and_entropy():
    code = K.new_code()
    text = code.text
    assert len(text) == 29 and text.count("-") == 5
    assert all(len(g) == 4 for g in text.split("-"))
    assert len(code.secret) * 5 >= 80
    assert parse_code(text) == code
    assert K.new_code() != code


def test_parse_code_is_tolerant():
    code = K.new_code()
    text = code.text
    variants = [
        text.lower(),
        text.replace("-", " "),
        text.replace("-", ""),
        "  " + text.replace("-", " - ") + "\n",
        text.replace("0", "o").replace("1", "l"),
        text.replace("1", "I"),
    ]
    for v in variants:
        assert parse_code(v) == code, v


@settings(max_examples=80, deadline=None)
@given(pos=st.integers(0, K.CODE_LEN - 1), delta=st.integers(1, 31), seed=st.integers(0, 2**32))
def test_every_single_character_typo_is_detected(pos, delta, seed):
    import random

    r = random.Random(seed)
    code = LinkCode(
        "".join(r.choice(K.CODE_ALPHABET) for _ in range(5)),
        "".join(r.choice(K.CODE_ALPHABET) for _ in range(18)),
    )
    compact = code.text.replace("-", "")
    typo = (
        compact[:pos]
        + K.CODE_ALPHABET[(K.CODE_ALPHABET.index(compact[pos]) + delta) % 32]
        + compact[pos + 1 :]
    )
    with pytest.raises(LinkError, match="typo"):
        parse_code(typo)


def test_adjacent_swaps_are_mostly_detected():
    """Luhn mod N catches all but a few adjacent transpositions; measured over seeded codes so the
    test is deterministic."""
    import random

    rng = random.Random(1234)
    caught = total = 0
    for _ in range(200):
        body = "".join(rng.choice(K.CODE_ALPHABET) for _ in range(K.SLOT_LEN + K.SECRET_LEN))
        code = K.LinkCode(body[: K.SLOT_LEN], body[K.SLOT_LEN :]).text.replace("-", "")
        for i in range(len(code) - 1):
            if code[i] == code[i + 1]:
                continue
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
            total += 1
            try:
                parse_code(swapped)
            except LinkError:
                caught += 1
    assert caught / total >= 0.95, (caught, total)


def test_parse_code_rejects_bad_input():
    with pytest.raises(LinkError, match="characters"):
        parse_code("ABCD-EFGH")
    with pytest.raises(LinkError, match="cannot contain"):
        parse_code("UUUU-" * 5 + "UUUU")
    with pytest.raises(LinkError, match="cannot contain"):
        parse_code("ABCD-EFGH-JKMN-PQRS-TVWX-YZ!1")


# --- link offers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def offer(alice) -> LinkOffer:
    return LinkOffer.create(alice, "https://relay.example:8443", "alice", **FAST)


def test_link_round_trip(alice, offer):
    code, blob = offer
    assert offer.slot == link_slot(code) == parse_code(code).slot
    assert code.encode() not in blob and parse_code(code).secret.encode() not in blob
    linked = accept_link(code.lower().replace("-", " "), blob)
    assert linked.username == "alice" and linked.relay_url == "https://relay.example:8443"
    assert linked.account_keys.sign_pk == alice.sign_pk
    assert linked.account_keys.box_pk == alice.box_pk
    assert linked.account_keys.fingerprint() == alice.fingerprint()


def test_link_with_wrong_code_is_refused(offer):
    code, blob = offer
    other = LinkCode(parse_code(code).slot, K.new_code().secret).text  # same slot, wrong secret
    with pytest.raises(LinkError, match="code is wrong or the offer was altered"):
        accept_link(other, blob)
    with pytest.raises(LinkError, match="different link offer"):
        accept_link(K.new_code().text, blob)
    with pytest.raises(LinkError, match="typo"):
        accept_link(code[:-1] + ("0" if code[-1] != "0" else "1"), blob)


def test_tampered_link_blob_is_refused(offer):
    code, blob = offer
    for i in list(range(K._LINK_HEADER.size, len(blob), 7)) + [8, 30, 40, 56, len(blob) - 1]:
        bad = bytearray(blob)
        bad[i] ^= 1
        with pytest.raises(LinkError):
            accept_link(code, bytes(bad))
    with pytest.raises(LinkError, match="truncated"):
        accept_link(code, blob[:20])
    with pytest.raises(LinkError, match="not a Cove link"):
        accept_link(code, b"X" + blob[1:])


def test_link_blob_limits_are_capped_and_newer_version_refused(alice):
    code = K.new_code()
    blob = LinkOffer.create(alice, "https://r", "alice", code=code, **FAST).blob
    huge = blob[:9] + (99).to_bytes(4, "big") + blob[13:]
    with pytest.raises(LinkError, match="out of range"):
        accept_link(code.text, huge)
    newer = blob[:8] + b"\x02" + blob[9:]
    with pytest.raises(LinkError, match="newer version of Cove"):
        accept_link(code.text, newer)


def test_qr_payload_round_trip(offer):
    text = link_qr_payload(offer.code.lower(), "https://relay.example/a b")
    assert text.startswith("cove://link?")
    assert parse_qr_payload(text) == (offer.code, "https://relay.example/a b")
    with pytest.raises(LinkError):
        parse_qr_payload("https://example.com/?code=x")


# --- folder keyring ----------------------------------------------------------------------------------


def test_keyring_epochs():
    ring = FolderKeyring.create(FOLDER)
    assert ring.current_epoch == 0 and len(ring.key(0)) == 32
    assert ring.new_epoch() == 1 and ring.current_epoch == 1
    assert ring.key(0) != ring.key(1) and ring.current_key() == ring.key(1)
    assert ring.epochs == [0, 1] and 1 in ring and 5 not in ring
    with pytest.raises(UnknownEpochKey, match="epoch 5"):
        ring.key(5)
    with pytest.raises(KeyError):
        ring.key(5)
    empty = FolderKeyring(FOLDER)
    with pytest.raises(UnknownEpochKey):
        _ = empty.current_epoch
    assert empty.new_epoch() == 0


def test_keyring_refuses_a_different_key_for_a_known_epoch():
    ring = FolderKeyring.create(FOLDER)
    ring.add_key(0, ring.key(0))  # same key: no-op
    with pytest.raises(KeyringError, match="different key"):
        ring.add_key(0, os.urandom(32))
    with pytest.raises(ValueError):
        ring.add_key(-1, os.urandom(32))
    with pytest.raises(ValueError):
        ring.add_key(2, b"short")


def test_wrap_unwrap_round_trip(alice, bob):
    ring = FolderKeyring.create(FOLDER)
    ring.new_epoch()
    wrapped = ring.wrap(1, bob.box_pk, signer=alice)
    theirs = FolderKeyring(FOLDER)
    assert theirs.add_wrapped(1, wrapped, bob, trusted_signers=[alice.sign_pk]) == ring.key(1)
    assert theirs.key(1) == ring.key(1) and theirs.current_epoch == 1
    # self-wrap (own devices) works with the own account as signer
    mine = ring.wrap(0, alice.box_pk, signer=alice)
    assert unwrap_folder_key(
        mine, folder=FOLDER, epoch=0, account_keys=alice, trusted_signers=[alice.sign_pk]
    ) == ring.key(0)


def test_unwrap_with_the_wrong_account_key_is_refused(alice, bob):
    ring = FolderKeyring.create(FOLDER)
    wrapped = ring.wrap(0, bob.box_pk, signer=alice)
    eve = AccountKeys.generate()
    with pytest.raises(KeyringError, match="another account's key or altered"):
        FolderKeyring(FOLDER).add_wrapped(0, wrapped, eve, trusted_signers=[alice.sign_pk])
    bad = bytearray(wrapped)
    bad[40] ^= 1
    with pytest.raises(KeyringError, match="altered"):
        FolderKeyring(FOLDER).add_wrapped(0, bytes(bad), bob, trusted_signers=[alice.sign_pk])


def test_unwrap_checks_signer_folder_and_epoch(alice, bob):
    ring = FolderKeyring.create(FOLDER)
    wrapped = ring.wrap(0, bob.box_pk, signer=alice)
    # an anonymous sealed box (e.g. made by the relay) or an untrusted signer is refused
    eve = AccountKeys.generate()
    forged = ring.wrap(0, bob.box_pk, signer=eve)
    with pytest.raises(KeyringError, match="may not hand out"):
        unwrap_folder_key(forged, folder=FOLDER, epoch=0, account_keys=bob, trusted_signers=[alice.sign_pk])
    # moved to another folder or relabelled as another epoch
    with pytest.raises(KeyringError, match="another folder"):
        unwrap_folder_key(
            wrapped, folder="folder-OTHEROTHEROT", epoch=0, account_keys=bob, trusted_signers=[alice.sign_pk]
        )
    with pytest.raises(KeyringError, match="wrapped for epoch 0"):
        unwrap_folder_key(wrapped, folder=FOLDER, epoch=1, account_keys=bob, trusted_signers=[alice.sign_pk])


def test_unwrap_newer_wrap_version_is_refused(alice, bob):
    from nacl.public import PublicKey, SealedBox

    inner = bytes([2]) + bytes(K._WRAP_INNER.size - 1)
    wrapped = SealedBox(PublicKey(bob.box_pk)).encrypt(inner)
    with pytest.raises(KeyringError, match="newer version of Cove"):
        unwrap_folder_key(wrapped, folder=FOLDER, epoch=0, account_keys=bob, trusted_signers=[alice.sign_pk])


def test_keyring_storage_round_trip(tmp_path):
    ring = FolderKeyring.create(FOLDER)
    ring.new_epoch()
    path = tmp_path / "keyring.json"
    ring.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = FolderKeyring.load(path)
    assert loaded.folder == FOLDER and loaded.epochs == [0, 1]
    assert all(loaded.key(e) == ring.key(e) for e in ring.epochs)
    assert FolderKeyring.from_bytes(ring.to_bytes()).epochs == [0, 1]


def test_keyring_storage_corrupt_or_newer(tmp_path):
    path = tmp_path / "keyring.json"
    ring = FolderKeyring.create(FOLDER)
    doc = json.loads(ring.to_bytes())
    doc["version"] = 2
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="newer version of Cove"):
        FolderKeyring.load(path)
    doc["version"] = 1
    doc["keys"] = {"0": "AAAA"}
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="corrupt"):
        FolderKeyring.load(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(KeyFileError, match="corrupt"):
        FolderKeyring.load(path)
    with pytest.raises(KeyFileError, match="corrupt"):
        FolderKeyring.from_bytes(b"{}")
