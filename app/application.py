"""The desktop app's one wiring place: QApplication + qasync loop, the embedded engine (run with
:meth:`Engine.run` on the same asyncio loop through :class:`app.engine_host.EngineHost`), the
main window, the tray (when the desktop has one), notifications and the first-run wizard.

:class:`CoveApp` takes everything it needs as arguments (directories, whether to use a tray,
where the autostart entry goes, desktop services), so tests build the real app on temp dirs.
:func:`run_gui` is what ``cove`` / ``cove gui`` calls.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, QUrl, Signal
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from app.account import RelayAccount
from app.conflicts_model import ConflictCopySource, ConflictSource, EngineConflictSource
from app.context import Context, SettingsStore
from app.engine_host import EngineHost
from app.icons import icon
from app.jobs import Jobs
from app.main_window import MainWindow, Page
from app.notify import Notification, Notifier
from app.settings import AppSettings, load_settings
from app.tray import Tray
from app.wizard import FirstRunWizard, WizardChoice
from sync.config import Dirs
from sync.engine import Engine


class CoveApp(QObject):
    quit_done = Signal()
    started = Signal()  # the engine task is running

    def __init__(
        self,
        dirs: Dirs,
        *,
        tray: bool | None = None,
        autostart_dir: Path | None = None,
        open_url: Callable[[QUrl], bool] | None = None,
        copy_text: Callable[[str], None] | None = None,
        conflict_source: ConflictSource | None = None,
        poll_ms: int = 30_000,
        default_folder: Path | None = None,
        lan: bool = True,
    ):
        super().__init__()
        self.dirs = dirs
        self.engine = Engine.create(dirs)
        settings: AppSettings = load_settings(dirs)
        self.jobs = Jobs(parent=self)
        self.host = EngineHost(self.engine, self.jobs, poll_ms=poll_ms, lan=lan, parent=self)
        self.store = SettingsStore(dirs, settings, self)
        self.relay = RelayAccount(self.host, self.store, self)
        ctx = Context(self.host, self.jobs, self.store, dirs, autostart_dir, relay=self.relay)
        if open_url is not None:
            ctx.open_url = open_url
        if copy_text is not None:
            ctx.copy_text = copy_text
        self.ctx = ctx
        copies = ConflictCopySource(self._conflict_folders, self.engine.identity.short_id)
        if conflict_source is None and hasattr(self.engine, "conflicts"):
            conflict_source = EngineConflictSource(self.engine, asyncio.get_event_loop(), copies)
        self.conflicts = conflict_source or copies
        use_tray = QSystemTrayIcon.isSystemTrayAvailable() if tray is None else tray
        self.tray: Tray | None = Tray(self) if use_tray else None
        self.window = MainWindow(ctx, self.conflicts)
        self.notifier = Notifier(self._show, enabled=settings.notifications, parent=self)
        self.wizard: FirstRunWizard | None = None
        self.default_folder = default_folder
        self._quitting = False
        self._wire()

    # -- wiring (the one place) -----------------------------------------------------------------

    def _wire(self) -> None:
        host, window = self.host, self.window
        host.events.connect(self.notifier.add)
        host.running_changed.connect(lambda running: running and self.started.emit())
        self.store.changed.connect(lambda s: setattr(self.notifier, "enabled", s.notifications))
        window.conflicts.resolved.connect(lambda _n: host.refresh())
        host.conflict_found.connect(lambda *_a: window.conflicts.reload_soon())
        window.history.restored.connect(lambda _p: host.refresh())
        window.closed.connect(self._window_closed)
        if self.tray is not None:
            t = self.tray
            host.state_changed.connect(t.set_state)
            host.folders_changed.connect(t.set_folders)
            t.open_window.connect(window.bring_up)
            t.open_folder.connect(self.ctx.open_path)
            t.toggle_pause.connect(host.toggle_pause)
            t.recent_changes.connect(lambda: (window.show_page(Page.ACTIVITY), window.bring_up()))
            t.quit_requested.connect(self.request_quit)

    def _conflict_folders(self) -> list[tuple[str, str, Path, object]]:
        return [(f.id, f.label or f.path.name, f.path, self.engine.runner(f.id)) for f in self.engine.folders()]

    def _show(self, n: Notification) -> None:
        if self.tray is not None:
            self.tray.notify(n)
        else:
            self.window.statusBar().showMessage(f"{n.title} — {n.body}", 10_000)

    # -- life cycle -----------------------------------------------------------------------------

    @property
    def needs_wizard(self) -> bool:
        return not list(self.engine.folders()) and not self.store.value.first_run_done

    def start(self, show_window: bool = True) -> None:
        if self.tray is not None:
            self.tray.show()
        if self.needs_wizard:
            self.wizard = FirstRunWizard(self.default_folder, relay=self.relay)
            self.wizard.accepted.connect(lambda: self.finish_wizard(self.wizard.choice))  # type: ignore[union-attr]
            self.wizard.rejected.connect(self._wizard_cancelled)
            self.wizard.show()
            return
        self.host.start()
        if show_window or self.tray is None:
            self.window.show()

    def finish_wizard(self, choice: WizardChoice) -> None:
        self.store.update(first_run_done=True, sync_mode=choice.sync_mode, relay_url=choice.relay_url,
                          relay_account=choice.relay_account)

        def added(_folder) -> None:
            self.host.start()
            self.window.show()

        def failed(message: str) -> None:
            self.window.statusBar().showMessage(f"Cannot sync {choice.folder}: {message}")
            self.host.start()
            self.window.show()

        if choice.link_code:
            # link first; the other device's folders are then offered on the Devices page
            self.host.start()
            self.window.show_page(Page.DEVICES)
            self.window.show()
            self.window.devices.join_code.setText(choice.link_code)
            self.window.devices.join()
            return
        if choice.signed_in:
            # a relay folder (new, or joined): added before Engine.run starts, so the run connects
            task = self.relay.add_folder(choice.folder, choice.relay_folder_id)
            task.add_done_callback(lambda t: added(t.result()) if t.result() is not None
                                   else failed(self.relay.last_error))
            return
        self.host.add_folder(choice.folder, on_done=added, on_error=failed)

    def _wizard_cancelled(self) -> None:
        if not list(self.engine.folders()):
            self.request_quit()

    def _window_closed(self) -> None:
        if self.tray is None:
            self.request_quit()

    def request_quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        asyncio.ensure_future(self.shutdown())

    async def shutdown(self) -> None:
        """Stop the engine, let jobs finish, close the indexes."""
        self.notifier.flush()
        await self.window.devices.close_down()  # stop serving a pairing code
        await self.host.stop()
        while not self.jobs.idle:
            await asyncio.sleep(0.02)  # pool results are delivered by the Qt loop we are running on
        self.jobs.close()
        self.jobs.wait()
        if self.tray is not None:
            self.tray.hide()
        self.window.hide()
        if self.wizard is not None:
            self.wizard.hide()
        self.engine.close()
        self.quit_done.emit()


def run_gui(dirs: Dirs, argv: list[str] | None = None) -> int:
    import qasync

    qapp = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    qapp.setApplicationName("Cove")
    qapp.setDesktopFileName("cove")
    qapp.setWindowIcon(icon("cove"))
    qapp.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    done: asyncio.Future[int] = loop.create_future()
    app = CoveApp(dirs)
    app.quit_done.connect(lambda: done.done() or done.set_result(0))
    loop.call_soon(app.start)
    quit_after = os.environ.get("COVE_QUIT_AFTER_MS")  # smoke tests of the bundle
    if quit_after:
        QTimer.singleShot(int(quit_after), app.request_quit)
    with loop:
        return loop.run_until_complete(done)
