"""The engine facade and the one place that wires the engine's objects together.

:class:`Engine` owns the per-user config, this device's identity and one :class:`FolderRunner`
per folder, and offers the operations the CLI and the app need (add a folder, scan, status,
history, restore, run until stopped). It decides nothing itself: scanning is
:mod:`sync.scanner`, the rules of local change are :mod:`sync.index`, history is
:mod:`sync.history`, watching is :mod:`sync.watcher`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sync.changes import ChangeKind
from sync.config import (
    AppConfig,
    ConfigError,
    Dirs,
    FolderConfig,
    load_app_config,
    new_folder_id,
    read_marker,
    save_app_config,
    write_marker,
)
from sync.errors import CoveError, FolderError, FolderNotFound, NeedsConfirmation
from sync.folder import FolderRunner
from sync.identity import DeviceIdentity, IdentityError, load_or_create_identity
from sync.index import HistoryEntry, IndexError_, StoredError


@dataclass(frozen=True)
class ScanSummary:
    folder_path: Path
    added: int = 0
    modified: int = 0
    deleted: int = 0
    moved: int = 0
    errors: int = 0
    files: int = 0
    seconds: float = 0.0
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class FolderStatus:
    folder_id: str
    path: Path
    state: str
    files: int
    directories: int
    bytes: int
    last_scan_ns: int | None
    history_versions: int
    errors: list[StoredError] = field(default_factory=list)


def summarize(folder: FolderConfig, changes: list, errors: list, files: int, seconds: float) -> ScanSummary:
    counts = {k: 0 for k in ChangeKind}
    for c in changes:
        counts[c.kind] += 1
    return ScanSummary(
        folder_path=folder.path,
        added=counts[ChangeKind.ADDED],
        modified=counts[ChangeKind.MODIFIED] + counts[ChangeKind.TYPE_CHANGED],
        deleted=counts[ChangeKind.DELETED],
        moved=counts[ChangeKind.MOVED],
        errors=len(errors),
        files=files,
        seconds=seconds,
        messages=tuple(str(e) for e in errors[:20]),
    )


class Engine:
    def __init__(
        self,
        dirs: Dirs,
        config: AppConfig,
        identity: DeviceIdentity,
        clock: Callable[[], int] = time.time_ns,
    ):
        self.dirs = dirs
        self.config = config
        self.identity = identity
        self.clock = clock
        self._runners: dict[str, FolderRunner] = {}

    @classmethod
    def create(cls, dirs: Dirs) -> Engine:
        try:
            config = load_app_config(dirs)
            identity = load_or_create_identity(dirs.data)
        except (ConfigError, IdentityError) as e:
            raise CoveError(str(e)) from e
        return cls(dirs, config, identity)

    def close(self) -> None:
        for runner in self._runners.values():
            runner.close()
        self._runners.clear()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- folders -----------------------------------------------------------------------------

    def folders(self) -> Iterator[FolderConfig]:
        return iter(self.config.folders)

    def folder(self, folder_id: str) -> FolderConfig:
        for f in self.config.folders:
            if f.id == folder_id:
                return f
        raise FolderNotFound(f"no folder with id {folder_id}")

    def folder_for(self, path: Path) -> FolderConfig:
        folder = self.config.folder_for(path.expanduser())
        if folder is None:
            raise FolderNotFound(f"{path} is not inside a folder Cove syncs (see `cove status`)", path)
        return folder

    def add_folder(self, path: Path, label: str = "") -> FolderConfig:
        """Start syncing ``path``: create it if missing, mark it, register it in the config."""
        root = path.expanduser().absolute()
        if root.exists() and not root.is_dir():
            raise FolderError(f"{root} is not a directory", root)
        if not root.parent.is_dir():
            raise FolderError(f"{root.parent} does not exist; create it first", root)
        existing = self.config.folder_for(root)
        if existing is not None:
            if existing.path.resolve() == root.resolve():
                return existing
            raise FolderError(f"{root} is inside {existing.path}, which Cove already syncs", root)
        for f in self.config.folders:
            if root.resolve() in f.path.resolve().parents:
                raise FolderError(f"{root} contains {f.path}, which Cove already syncs", root)
        try:
            folder_id = read_marker(root) or new_folder_id()
        except ConfigError as e:
            raise FolderError(str(e), root) from e
        root.mkdir(exist_ok=True)
        write_marker(root, folder_id)
        folder = FolderConfig(id=folder_id, path=root, label=label or root.name)
        self.config = self.config.with_folder(folder)
        save_app_config(self.dirs, self.config)
        return folder

    def runner(self, folder_id: str) -> FolderRunner:
        runner = self._runners.get(folder_id)
        if runner is None:
            folder = self.folder(folder_id)
            try:
                runner = FolderRunner.open(folder, self.dirs, self.identity.short_id, self.clock)
            except IndexError_ as e:
                raise CoveError(str(e), folder.path) from e
            self._runners[folder_id] = runner
        return runner

    # -- operations --------------------------------------------------------------------------

    def scan(self, folder_id: str, confirm_mass_delete: bool = False) -> ScanSummary:
        folder = self.folder(folder_id)
        started = time.perf_counter()
        result = self.runner(folder_id).scan(confirm_mass_delete=confirm_mass_delete)
        return summarize(
            folder, result.changes, result.errors, result.stats.entries, time.perf_counter() - started
        )

    def status(self, folder_id: str) -> FolderStatus:
        folder = self.folder(folder_id)
        runner = self.runner(folder_id)
        index = runner.index
        files = dirs = total = 0
        for r in index.records():
            if r.type.value == "dir":
                dirs += 1
            else:
                files += 1
                total += r.size
        last = index.get_meta("last_scan_ns")
        return FolderStatus(
            folder_id=folder.id,
            path=folder.path,
            state=runner.state(),
            files=files,
            directories=dirs,
            bytes=total,
            last_scan_ns=int(last) if last else None,
            history_versions=len(index.history()),
            errors=index.errors(),
        )

    def _locate(self, path: Path) -> tuple[FolderRunner, str]:
        folder = self.folder_for(path)
        absolute = path.expanduser().absolute()
        rel = absolute.relative_to(folder.path.absolute()).as_posix()
        return self.runner(folder.id), rel

    def history(self, path: Path) -> list[HistoryEntry]:
        runner, rel = self._locate(path)
        return runner.index.history(rel)

    def restore(self, path: Path, version_no: int, to: Path | None = None) -> Path:
        runner, rel = self._locate(path)
        return runner.restore(rel, version_no, to.expanduser().absolute() if to else None)

    async def run(self, stop: asyncio.Event, report: Callable[[str], None] = lambda line: None) -> None:
        """Watch every folder and keep its index current until ``stop`` is set."""
        runners = []
        for folder in self.config.folders:
            try:
                runners.append(self.runner(folder.id))
            except CoveError as e:
                report(f"{folder.path}: {e}")
        tasks = [asyncio.create_task(r.run(stop, report)) for r in runners]
        try:
            await stop.wait()
        finally:
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t


__all__ = ["Engine", "FolderStatus", "ScanSummary", "NeedsConfirmation"]
