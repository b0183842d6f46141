"""Sharing folders with other users of the relay (docs/sharing.md).

Two halves:

* :class:`MemberAuthority` — installed on a relay folder's :class:`~sync.syncer.Syncer`; it is what
  the syncer asks "is this device a current member's, may it write?". It verifies the folder's
  membership log (:func:`sync.membership.verify_log`) with pinned user keys, and the devices of the
  members through their **device certificates** (the account key's signature over the device key,
  :mod:`sync.lan.certs`), so a relay that lists extra devices or fabricates membership changes gains
  nothing. It also uploads this device's certificate, fetches new epochs' folder keys (accepting
  only keys wrapped by an owner), holds publishing while this user is a viewer or a newer epoch's
  key has not arrived, and, on an owner's device, re-wraps every epoch's key for members that
  joined (they need the old epochs to read older content).
* :class:`Sharing` — the operations of the CLI and the app (through ``Engine.sharing``): invite
  (by username; the result carries an invitation link with the inviter's fingerprint), list
  members and pending invitations, change a role, remove a member (a new key epoch), leave,
  transfer ownership, list/accept/decline invitations addressed to this user.

Trust: every user key seen is pinned on first sight (``<data>/sharing/known_users.json``); the
creator's key is pinned when this device creates or joins the folder, an inviter's key when an
invitation is accepted (and compared with the fingerprint in an invitation link when given). A key
that later differs is refused.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.parse
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sync.account import keyring_path, load_account_keys, load_keyring
from sync.errors import CoveError
from sync.keys import AccountKeys, FolderKeyring, KeyringError, write_private_file
from sync.lan.certs import CertificateError, DeviceCertificate
from sync.membership import (
    ROLES,
    MembershipError,
    UserKeys,
    VerifiedMembership,
    verify_log,
)
from sync.relay_client import DeviceInfo, Invitation, NotFound, RelayClient
from sync.syncer import META_PUBLISHED, RefusedEntry, SyncError
from sync.wire.envelopes import MembershipChange

if TYPE_CHECKING:
    from sync.config import Dirs, FolderConfig
    from sync.engine import Engine
    from sync.syncer import Syncer

INVITE_SCHEME = "cove"
DEFAULT_INVITE_TTL = 7 * 86400


class SharingError(CoveError):
    pass


# --- pinned user keys ---------------------------------------------------------------------------


class KnownUsers:
    """Account keys of other users this device has seen, pinned on first use."""

    def __init__(self, path: Path):
        self.path = path
        self._users: dict[str, UserKeys] = {}
        try:
            raw = json.loads(path.read_text())
            for name, k in raw.get("users", {}).items():
                self._users[name] = UserKeys(bytes.fromhex(k["sign_pk"]), bytes.fromhex(k["box_pk"]))
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise SharingError(f"{path} is corrupt ({e}); move it away to trust users afresh") from e

    @classmethod
    def open(cls, dirs: Dirs) -> KnownUsers:
        return cls(dirs.data / "sharing" / "known_users.json")

    def get(self, username: str) -> UserKeys | None:
        return self._users.get(username)

    def sign_pks(self) -> dict[str, bytes]:
        return {u: k.sign_pk for u, k in self._users.items()}

    def pin(self, username: str, keys: UserKeys) -> None:
        known = self._users.get(username)
        if known == keys:
            return
        if known is not None:
            raise SharingError(
                f"the relay presents a different account key for {username} ({keys.fingerprint}) than the "
                f"one this device trusts ({known.fingerprint}); refusing it"
            )
        self._users[username] = keys
        doc = {"users": {u: {"sign_pk": k.sign_pk.hex(), "box_pk": k.box_pk.hex(), "fingerprint": k.fingerprint}
                         for u, k in sorted(self._users.items())}}
        write_private_file(self.path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())


def membership_cache_path(dirs: Dirs, folder_id: str) -> Path:
    return dirs.data / "folders" / folder_id / "membership.json"


def _save_cache(dirs: Dirs, m: VerifiedMembership, me: str) -> None:
    doc = {"folder": m.folder, "members": {u: x.role for u, x in sorted(m.members.items())},
           "my_role": m.role(me), "epoch": m.epoch, "refused": list(m.refused)}
    path = membership_cache_path(dirs, m.folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
    tmp.replace(path)


def cached_membership(dirs: Dirs, folder_id: str) -> dict[str, Any] | None:
    """The last verified membership of a folder (for the app, without the relay)."""
    try:
        return json.loads(membership_cache_path(dirs, folder_id).read_text())
    except (FileNotFoundError, ValueError):
        return None


async def fetch_membership(
    client: RelayClient, dirs: Dirs, folder: str, me: str, my_keys: AccountKeys,
    *, trust: dict[str, UserKeys] | None = None,
) -> VerifiedMembership:
    """Read the folder's membership log from the relay and verify it (pins keys on first use)."""
    return (await _fetch_membership(client, dirs, folder, me, my_keys, trust=trust))[0]


async def _fetch_membership(
    client: RelayClient, dirs: Dirs, folder: str, me: str, my_keys: AccountKeys,
    *, trust: dict[str, UserKeys] | None = None,
) -> tuple[VerifiedMembership, tuple[str, ...]]:
    info = await client.folder(folder)
    known = KnownUsers.open(dirs)
    mine = UserKeys(my_keys.sign_pk, my_keys.box_pk)
    names = {c.signer for c in info.membership_log} | {c.member for c in info.membership_log}
    keys: dict[str, UserKeys] = {}
    for name in sorted(names):
        if name == me:
            keys[name] = mine
            continue
        try:
            keys[name] = UserKeys(*await client.user_keys(name))
        except NotFound:
            continue  # an account without keys: its changes are refused
    pinned = {**known.sign_pks(), **{u: k.sign_pk for u, k in (trust or {}).items()}, me: mine.sign_pk}
    m = verify_log(folder, info.membership_log, keys, pinned)
    involved = set(m.members) | {c.signer for c in info.membership_log if c.id in set(m.applied)}
    for name in sorted(involved - {me}):
        known.pin(name, keys[name])
    _save_cache(dirs, m, me)
    return m, tuple(c.id for c in info.membership_log)


# --- the syncer's authority -----------------------------------------------------------------------


class MemberAuthority:
    """Which devices are current members' (and may write) for one relay folder; see module doc."""

    def __init__(self, syncer: Syncer, dirs: Dirs, username: str, account_keys: AccountKeys,
                 clock: Any = time.monotonic):
        self.syncer = syncer
        self.dirs = dirs
        self.username = username
        self.account_keys = account_keys
        self.clock = clock
        self.membership: VerifiedMembership | None = None
        self.devices: dict[str, tuple[DeviceInfo, str]] = {}  # device → (info, username), verified
        self.removed = False
        self.need_keys = False
        self._cert_sent_to: int | None = None
        self._missed: set[str] = set()
        self._keyed: tuple[tuple[str, ...], tuple[int, ...]] | None = None  # what an owner re-wrapped

    @property
    def client(self) -> RelayClient:
        return self.syncer.transport  # type: ignore[return-value]

    @property
    def folder(self) -> str:
        return self.syncer.folder

    def _certificate(self) -> DeviceCertificate:
        return DeviceCertificate.issue(self.account_keys.signing_key, self.syncer.identity.public_key, self.username)

    async def refresh(self) -> None:
        """Before each sync round: certificate uploaded, membership and keys current."""
        client = self.client
        if self._cert_sent_to != id(client):
            await client.put_device_certificate(self._certificate().to_wire())
            self._cert_sent_to = id(client)
        self._missed.clear()
        try:
            info_log = (await client.folder(self.folder)).membership_log
        except NotFound as e:
            self.removed = True
            raise SyncError(
                "this account is no longer a member of the shared folder (removed, or left); "
                "it no longer receives changes", self.syncer.root) from e
        self.removed = False
        if self.membership is None or tuple(c.id for c in info_log) != self._log_ids:
            await self._reload()
        else:
            self._report_refused()  # again: a full scan clears the folder's errors
            if self.need_keys or self.membership.epoch > self.syncer.keyring.current_epoch:
                await self.fetch_keys()
        self.need_keys = False

    _log_ids: tuple[str, ...] = ()

    async def _reload(self) -> None:
        client = self.client
        try:
            m, self._log_ids = await _fetch_membership(client, self.dirs, self.folder, self.username,
                                                       self.account_keys)
        except MembershipError as e:
            raise SyncError(str(e), self.syncer.root) from e
        self.membership = m
        self._report_refused()
        await self._load_devices()
        await self.fetch_keys()
        if m.role(self.username) == "owner":
            await self._rewrap_for_members()

    def _report_refused(self) -> None:
        m = self.membership
        if m is not None and m.refused:
            self.syncer.index.record_errors(
                [(f".cove/membership/{i}", "refused_membership_change", r) for i, r in enumerate(m.refused[:50])],
                clear_under=[".cove/membership"])

    async def _load_devices(self) -> None:
        m = self.membership
        assert m is not None
        verified: dict[str, tuple[DeviceInfo, str]] = {}
        for row in await self.client.folder_devices(self.folder):
            member = m.members.get(row.username)
            if member is None or row.certificate is None:
                continue
            try:
                cert = DeviceCertificate.from_wire(row.certificate)
            except CertificateError:
                continue
            if (cert.username != row.username or cert.device_pk != row.info.public_key
                    or not cert.verify(member.keys.sign_pk)):
                continue
            verified[row.info.device_id] = (row.info, row.username)
        self.devices = verified

    async def fetch_keys(self) -> None:
        """Add folder keys of epochs this device lacks (wrapped by an owner, or by this account)."""
        m = self.membership
        keyring = self.syncer.keyring
        signers = [self.account_keys.sign_pk, *(m.key_signers() if m else [])]
        changed = False
        for w in await self.client.get_keys(self.folder):
            if w.epoch in keyring:
                continue
            try:
                keyring.add_wrapped(w.epoch, w.wrapped_key, self.account_keys, trusted_signers=signers)
                changed = True
            except KeyringError:
                continue  # not wrapped by an owner: ignored (an error would block the folder)
        if changed:
            keyring.save(keyring_path(self.dirs, self.folder))

    async def _rewrap_for_members(self) -> None:
        """Owner: every epoch's key wrapped to every member (new members need old epochs)."""
        m = self.membership
        assert m is not None
        keyring = self.syncer.keyring
        state = (tuple(sorted(m.members)), tuple(keyring.epochs))
        if self._keyed == state:
            return
        for epoch in keyring.epochs:
            await self.client.put_keys(self.folder, epoch, {
                u: keyring.wrap(epoch, x.keys.box_pk, self.account_keys) for u, x in m.members.items()})
        self._keyed = state

    # -- what the syncer asks ------------------------------------------------------------------

    async def device(self, device_id: str) -> DeviceInfo | None:
        found = self.devices.get(device_id)
        if found is None and device_id not in self._missed:
            self._missed.add(device_id)
            await self._reload()
            found = self.devices.get(device_id)
        return found[0] if found else None

    def check_writer(self, device_id: str, seq: int) -> None:
        """Raise :class:`RefusedEntry` unless the device belongs to a member who may write."""
        found = self.devices.get(device_id)
        m = self.membership
        if found is None or m is None:
            raise RefusedEntry(f"entry {seq} of {device_id[:7]}: not a current member's device; ignored")
        if not m.can_write(found[1]):
            raise RefusedEntry(
                f"entry {seq} of {device_id[:7]}: {found[1]} is a viewer of this folder and cannot change it; ignored")

    def can_publish(self) -> bool:
        """False while this user is a viewer (local edits stay local) or lacks the newest epoch's key."""
        m = self.membership
        if m is None:
            return True
        if not m.can_write(self.username):
            return False
        return self.syncer.keyring.current_epoch >= m.epoch


def install(engine: Engine, runner: Any) -> MemberAuthority | None:
    """Give a relay folder's syncer its membership authority (called where the engine attaches it)."""
    syncer = runner.syncer
    if syncer is None or engine.config.relay is None:
        return None
    keys = load_account_keys(engine.dirs)
    if keys is None:
        return None
    authority = MemberAuthority(syncer, engine.dirs, engine.config.relay.username, keys)
    syncer.authority = authority
    return authority


# --- operations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberView:
    username: str
    role: str
    fingerprint: str
    me: bool


@dataclass(frozen=True)
class ShareInfo:
    folder: str
    my_role: str | None
    members: list[MemberView]
    pending: list[Invitation] = field(default_factory=list)
    epoch: int = 0
    refused: tuple[str, ...] = ()


@dataclass(frozen=True)
class InviteResult:
    invitation: Invitation
    invitee_fingerprint: str
    link: str


@dataclass(frozen=True)
class InvitationView:
    invitation: Invitation
    inviter_fingerprint: str | None
    problem: str | None = None  # why it cannot be trusted (the change does not verify...)

    @property
    def id(self) -> str:
        return self.invitation.id


def invite_link(relay_url: str, invitation: Invitation, inviter_fp: str) -> str:
    query = urllib.parse.urlencode({"relay": relay_url, "id": invitation.id, "from": invitation.inviter,
                                    "fp": inviter_fp.replace(" ", "")})
    return f"{INVITE_SCHEME}://invite?{query}"


def parse_invite(text: str) -> tuple[str, str | None]:
    """An invitation ID or link → (ID, expected inviter fingerprint or None)."""
    text = text.strip()
    if text.startswith(f"{INVITE_SCHEME}://"):
        parts = urllib.parse.urlsplit(text)
        q = urllib.parse.parse_qs(parts.query)
        if parts.netloc != "invite" or "id" not in q:
            raise SharingError("this is not a Cove invitation link")
        fp = q.get("fp", [None])[0]
        return q["id"][0], fp
    if not text or len(text) > 64 or not all(c.isalnum() or c in "-_" for c in text):
        raise SharingError("an invitation is its ID (see `cove invites`) or a cove://invite link")
    return text, None


def _norm_fp(fp: str) -> str:
    return "".join(fp.split()).upper()


class Sharing:
    """Sharing operations of one engine (``Engine.sharing``)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @property
    def dirs(self) -> Dirs:
        return self.engine.dirs

    def _me(self) -> str:
        if self.engine.config.relay is None:
            raise SharingError("this device is not signed in to a relay: run `cove login RELAY_URL`")
        return self.engine.config.relay.username

    def _keys(self) -> AccountKeys:
        keys = load_account_keys(self.dirs)
        if keys is None:
            raise SharingError("this device has no account keys yet: sign in or link it first")
        return keys

    def fingerprint(self) -> str:
        return self._keys().fingerprint()

    @asynccontextmanager
    async def _client(self):  # type: ignore[no-untyped-def]
        async with self.engine.relay_client() as client:
            client.username = self._me()
            yield client

    def _folder_id(self, folder: str | Path) -> str:
        if isinstance(folder, Path):
            return self.engine.folder_for(folder).id
        try:
            return self.engine.folder(folder).id
        except CoveError:
            return folder  # a relay folder not on this device

    async def _verified(self, client: RelayClient, folder: str) -> VerifiedMembership:
        try:
            return await fetch_membership(client, self.dirs, folder, self._me(), self._keys())
        except MembershipError as e:
            raise SharingError(str(e)) from e

    def _keyring(self, folder: str) -> FolderKeyring:
        runner = self.engine._runners.get(folder)
        if runner is not None and runner.syncer is not None:
            return runner.syncer.keyring
        keyring = load_keyring(self.dirs, folder)
        if keyring is None:
            raise SharingError(f"this device has no key of folder {folder}")
        return keyring

    def _sign(self, folder: str, op: str, member: str, role: str | None, epoch: int) -> MembershipChange:
        return MembershipChange.signed(self._keys().signing_key, folder=folder, id=secrets.token_urlsafe(16), op=op,
                                       member=member, role=role, signer=self._me(), epoch=epoch,
                                       issued_at=int(time.time()))

    def _require_owner(self, m: VerifiedMembership) -> None:
        if m.role(self._me()) != "owner":
            raise SharingError(f"only an owner can do this (you are {m.role(self._me()) or 'not a member'})")

    # -- owners ------------------------------------------------------------------------------------

    async def invite(self, folder: str | Path, username: str, role: str = "editor",
                     ttl: float | None = None) -> InviteResult:
        if role not in ROLES:
            raise SharingError(f"a role is one of {', '.join(ROLES)}")
        folder_id = self._folder_id(folder)
        async with self._client() as client:
            m = await self._verified(client, folder_id)
            self._require_owner(m)
            if username in m.members:
                raise SharingError(f"{username} is already a member ({m.role(username)})")
            try:
                invitee = UserKeys(*await client.user_keys(username))
            except NotFound:
                raise SharingError(f"{username} is not a user of this relay (or has not signed in yet)") from None
            KnownUsers.open(self.dirs).pin(username, invitee)
            keyring = self._keyring(folder_id)
            epoch = keyring.current_epoch
            change = self._sign(folder_id, "add", username, role, epoch)
            wrapped = keyring.wrap(epoch, invitee.box_pk, self._keys())
            inv = await client.create_invitation(folder_id, change, wrapped, ttl or DEFAULT_INVITE_TTL)
            assert self.engine.config.relay is not None
            return InviteResult(inv, invitee.fingerprint, invite_link(self.engine.config.relay.url, inv, self.fingerprint()))

    async def info(self, folder: str | Path) -> ShareInfo:
        folder_id = self._folder_id(folder)
        me = self._me()
        async with self._client() as client:
            m = await self._verified(client, folder_id)
            pending = await client.folder_invitations(folder_id) if m.role(me) == "owner" else []
        members = [MemberView(u, x.role, x.keys.fingerprint, u == me) for u, x in sorted(m.members.items())]
        return ShareInfo(folder_id, m.role(me), members, pending, m.epoch, m.refused)

    async def set_role(self, folder: str | Path, username: str, role: str) -> None:
        if role not in ROLES:
            raise SharingError(f"a role is one of {', '.join(ROLES)}")
        folder_id = self._folder_id(folder)
        async with self._client() as client:
            m = await self._verified(client, folder_id)
            self._require_owner(m)
            if username not in m.members:
                raise SharingError(f"{username} is not a member")
            await client.change_membership(folder_id, self._sign(folder_id, "set_role", username, role, m.epoch))

    async def transfer(self, folder: str | Path, username: str) -> None:
        """Make ``username`` an owner, then step down to editor."""
        await self.set_role(folder, username, "owner")
        await self.set_role(folder, self._me(), "editor")

    async def withdraw(self, folder: str | Path, invitation_id: str) -> None:
        async with self._client() as client:
            await client.revoke_invitation(self._folder_id(folder), invitation_id)

    async def remove(self, folder: str | Path, username: str) -> int:
        """Remove a member and start a new key epoch that only the remaining members get; returns it."""
        folder_id = self._folder_id(folder)
        me = self._me()
        if username == me:
            await self.leave(folder_id)
            return -1
        async with self._client() as client:
            m = await self._verified(client, folder_id)
            self._require_owner(m)
            if username not in m.members:
                raise SharingError(f"{username} is not a member")
            keyring = self._keyring(folder_id)
            # keys of epochs another owner started first, so the new epoch is really the newest
            for w in await client.get_keys(folder_id):
                if w.epoch not in keyring:
                    keyring.add_wrapped(w.epoch, w.wrapped_key, self._keys(),
                                        trusted_signers=[self._keys().sign_pk, *m.key_signers()])
            new = FolderKeyring(folder_id, {e: keyring.key(e) for e in keyring.epochs})
            epoch = new.new_epoch()
            await client.change_membership(folder_id, self._sign(folder_id, "remove", username, None, epoch))
            remaining = {u: x for u, x in m.members.items() if u != username}
            await client.put_keys(folder_id, epoch, {u: new.wrap(epoch, x.keys.box_pk, self._keys())
                                                     for u, x in remaining.items()})
            keyring.add_key(epoch, new.key(epoch))
            keyring.save(keyring_path(self.dirs, folder_id))
            await self._verified(client, folder_id)  # refresh the cache
            return epoch

    async def leave(self, folder: str | Path) -> None:
        folder_id = self._folder_id(folder)
        async with self._client() as client:
            m = await self._verified(client, folder_id)
            if self._me() not in m.members:
                raise SharingError("you are not a member of this folder")
            await client.change_membership(folder_id, self._sign(folder_id, "remove", self._me(), None, m.epoch))

    def local_only(self, folder: str) -> list[str]:
        """Local changes not published (a viewer's edits stay on this device): paths."""
        runner = self.engine.runner(folder)
        published = int(runner.index.get_meta(META_PUBLISHED, "0") or 0)
        return sorted({r.path for r in runner.index.changes_since(published, limit=10_000, publish_only=True)})

    def is_shared(self, folder: str) -> bool:
        cached = cached_membership(self.dirs, folder)
        return bool(cached and len(cached.get("members", {})) > 1)

    def my_role(self, folder: str) -> str | None:
        cached = cached_membership(self.dirs, folder)
        return cached.get("my_role") if cached else None

    # -- invitees ----------------------------------------------------------------------------------

    async def _view(self, client: RelayClient, inv: Invitation) -> InvitationView:
        try:
            k = UserKeys(*await client.user_keys(inv.inviter))
        except NotFound:
            return InvitationView(inv, None, f"{inv.inviter} has no account keys")
        c = inv.change
        if (c.op != "add" or c.signer != inv.inviter or c.member != self._me() or c.folder != inv.folder
                or not c.verify(k.sign_pk)):
            return InvitationView(inv, k.fingerprint, "the invitation is not signed by the inviter's account key")
        known = KnownUsers.open(self.dirs).get(inv.inviter)
        if known is not None and known != k:
            return InvitationView(inv, k.fingerprint, f"{inv.inviter}'s key differs from the one this device trusts")
        return InvitationView(inv, k.fingerprint)

    async def invitations(self) -> list[InvitationView]:
        async with self._client() as client:
            return [await self._view(client, inv) for inv in await client.invitations()]

    async def accept(self, invitation: str, path: Path, label: str = "") -> FolderConfig:
        """Accept an invitation (ID or link), then sync the folder at ``path``."""
        inv_id, expected_fp = parse_invite(invitation)
        async with self._client() as client:
            views = {v.id: v for v in [await self._view(client, i) for i in await client.invitations()]}
            view = views.get(inv_id)
            if view is None:
                raise SharingError(f"no pending invitation {inv_id} (expired, withdrawn or already answered)")
            if view.problem:
                raise SharingError(f"refusing invitation {inv_id}: {view.problem}")
            if expected_fp is not None and _norm_fp(expected_fp) != _norm_fp(view.inviter_fingerprint or ""):
                raise SharingError(
                    f"the inviter's key on the relay ({view.inviter_fingerprint}) does not match the fingerprint "
                    "in the invitation link; not accepting")
            inviter = view.invitation.inviter
            inviter_keys = UserKeys(*await client.user_keys(inviter))
            KnownUsers.open(self.dirs).pin(inviter, inviter_keys)
            folder_id, _ = await client.accept_invitation(inv_id)
            await self.join_keys(client, folder_id, trust={inviter: inviter_keys})
        return self.engine.add_folder(path, label, folder_id=folder_id, relay=True)

    async def decline(self, invitation: str) -> None:
        inv_id, _ = parse_invite(invitation)
        async with self._client() as client:
            await client.decline_invitation(inv_id)

    async def join_keys(self, client: RelayClient, folder_id: str, trust: dict[str, UserKeys] | None = None) -> FolderKeyring:
        try:
            m = await fetch_membership(client, self.dirs, folder_id, self._me(), self._keys(), trust=trust)
        except MembershipError as e:
            raise SharingError(str(e)) from e
        keys = self._keys()
        keyring = load_keyring(self.dirs, folder_id) or FolderKeyring(folder_id)
        signers = [keys.sign_pk, *m.key_signers()]
        for w in await client.get_keys(folder_id):
            if w.epoch not in keyring:
                try:
                    keyring.add_wrapped(w.epoch, w.wrapped_key, keys, trusted_signers=signers)
                except KeyringError:
                    continue
        if not len(keyring):
            raise SharingError(f"no key of folder {folder_id} wrapped for this account by an owner")
        path = keyring_path(self.dirs, folder_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        keyring.save(path)
        return keyring

    async def join(self, path: Path, folder_id: str, label: str = "") -> FolderConfig:
        """This user's other devices: sync a shared folder they already belong to."""
        async with self._client() as client:
            await self.join_keys(client, folder_id)
        return self.engine.add_folder(path, label, folder_id=folder_id, relay=True)


__all__ = ["KnownUsers", "MemberAuthority", "Sharing", "SharingError", "install", "invite_link", "parse_invite"]
