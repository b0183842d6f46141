"""Measurements of the desktop app (not a test: run by hand, prints a table).

  startup   process start → main window shown and the event loop turning (a 0 ms timer after show
            fires), with a 100,000-file folder configured; median of 3 cold processes
  memory    peak RSS of that process once the Folders counts and the Files view's top level are
            loaded, and after expanding one directory of 1,000 files
  stall     the longest GUI-thread stall (app.lag_monitor, 10 ms timer) of the real app on device A
            while SIZE syncs through a `cove-relay serve` subprocess on loopback with device B
            (`cove daemon` in its own process): A uploads SIZE to B, then B uploads SIZE to A

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/app/measure_app.py [--mib 1024] [--files 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
MiB = 1 << 20
PASSWORD = "measure password 123"


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- child: the app on a folder, reporting when responsive and its memory ----------------------------


def child(home: Path, t_spawn: float) -> None:
    import qasync
    from PySide6.QtCore import QModelIndex, QTimer
    from PySide6.QtWidgets import QApplication

    from app.application import CoveApp
    from sync.config import Dirs

    qapp = QApplication([])
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    out: dict[str, float] = {}
    done = loop.create_future()
    app = CoveApp(Dirs.under(home), tray=False)

    def responsive() -> None:
        out["startup_s"] = time.time() - t_spawn
        out["rss_at_start_mib"] = rss_mib()
        QTimer.singleShot(0, wait_loaded)

    def wait_loaded() -> None:
        w = app.window
        infos = app.host.infos
        if not infos or infos[0].counts is None or w.files.model.rowCount() == 0:
            QTimer.singleShot(20, wait_loaded)
            return
        out["files_counted"] = infos[0].counts.files
        out["rss_loaded_mib"] = rss_mib()
        model = w.files.model
        first = model.index(0, 0, QModelIndex())
        model.fetchMore(first)

        def expanded() -> None:
            if model.rowCount(first) < 1000:
                QTimer.singleShot(20, expanded)
                return
            out["rss_expanded_mib"] = rss_mib()
            out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            app.quit_done.connect(lambda: done.done() or done.set_result(0))
            app.request_quit()

        expanded()

    def start() -> None:
        app.start()
        app.window.files.show_folder(app.host.engine.config.folders[0].id)
        QTimer.singleShot(0, responsive)

    loop.call_soon(start)
    with loop:
        loop.run_until_complete(done)
    print("RESULT " + json.dumps(out), flush=True)


def make_100k(home: Path, n: int) -> Path:
    from sync.config import Dirs
    from sync.engine import Engine

    root = home / "Big"
    per = 1000
    for d in range(max(1, n // per)):
        sub = root / f"dir{d:03d}"
        sub.mkdir(parents=True)
        for i in range(per):
            (sub / f"file{i:04d}.txt").write_bytes(b"x" * 64)
    t = time.perf_counter()
    with Engine.create(Dirs.under(home)) as engine:
        f = engine.add_folder(root)
        engine.scan(f.id)
    print(f"  (made and indexed {n:,} files; first scan {time.perf_counter() - t:.1f} s)", flush=True)
    return root


def measure_startup(work: Path, n: int) -> dict[str, float]:
    home = work / "big-home"
    make_100k(home, n)
    runs = []
    for _ in range(3):
        t = time.time()
        p = subprocess.run([sys.executable, __file__, "--child", str(home), str(t)], capture_output=True, text=True, check=False,
                           timeout=600)
        line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(p.stdout + p.stderr)
        runs.append(json.loads(line[len("RESULT "):]))
    runs.sort(key=lambda r: r["startup_s"])
    return runs[1]


# -- the stall while a folder syncs ------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(staging: Path, total: int, files: int = 16) -> None:
    staging.mkdir(parents=True)
    size = total // files
    chunk = os.urandom(MiB)
    for i in range(files):
        with open(staging / f"big{i:02d}.bin", "wb") as f:
            f.writelines(chunk[j % 7:] + chunk[: j % 7] for j in range(size // MiB))


def same(a: Path, b: Path, names: list[str]) -> bool:
    for n in names:
        try:
            if (b / n).stat().st_size != (a / n).stat().st_size:
                return False
        except FileNotFoundError:
            return False
    return True


def measure_stall(work: Path, total: int) -> dict[str, float]:
    import urllib.request

    import qasync
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.application import CoveApp
    from app.lag_monitor import LagMonitor
    from sync.account import account_key_path
    from sync.config import Dirs
    from sync.engine import Engine

    data = work / "relay"
    subprocess.run([sys.executable, "-m", "relay.cli", "user", "add", "measure", "--data", str(data), "--password-stdin"],
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True, cwd=ROOT)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    relay = subprocess.Popen([sys.executable, "-m", "relay.cli", "serve", "--data", str(data), "--port", str(port),
                              "--log-level", "WARNING"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    for _ in range(400):
        try:
            urllib.request.urlopen(base + "/healthz")
            break
        except OSError:
            time.sleep(0.05)
    qapp = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    da, db = Dirs.under(work / "a"), Dirs.under(work / "b")
    ra, rb = work / "a" / "Cove", work / "b" / "Cove"

    async def setup() -> None:
        a, b = Engine.create(da), Engine.create(db)
        await a.login(base, "measure", PASSWORD)
        account_key_path(db).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(account_key_path(da), account_key_path(db))
        await b.login(base, "measure", PASSWORD)
        folder = await a.add_relay_folder(ra)
        await b.add_relay_folder(rb, folder.id)
        a.close()
        b.close()

    loop.run_until_complete(setup())
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    daemon = subprocess.Popen([sys.executable, "-m", "app.main", "--home", str(work / "b"), "daemon"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    out: dict[str, float] = {}
    try:
        fill(work / "stage-a", total)
        fill(work / "stage-b", total)
        names_a = sorted(p.name for p in (work / "stage-a").iterdir())
        names_b = sorted("b-" + p.name for p in (work / "stage-b").iterdir())
        for p in (work / "stage-b").iterdir():
            p.rename(p.with_name("b-" + p.name))
        app = CoveApp(da, tray=False)
        app.start()
        app.window.show()
        lag = LagMonitor()
        finished = loop.create_future()
        phases: list[tuple[str, float, float]] = []

        def phase(name: str, stage: Path, src: Path, dst: Path, names: list[str], then) -> None:
            lag.start()
            t0 = time.perf_counter()
            for p in stage.iterdir():
                p.rename(src / p.name)

            def check() -> None:
                if same(src, dst, names):
                    phases.append((name, time.perf_counter() - t0, lag.max_stall_ms))
                    lag.stop()
                    then()
                else:
                    QTimer.singleShot(100, check)

            QTimer.singleShot(100, check)

        def upload() -> None:
            phase("A uploads to B", work / "stage-a", ra, rb, names_a, download)

        def download() -> None:
            phase("B uploads to A", work / "stage-b", rb, ra, names_b,
                  lambda: finished.done() or finished.set_result(0))

        def when_idle() -> None:
            if app.host.running and app.host.infos and app.host.infos[0].state == "up to date":
                upload()
            else:
                QTimer.singleShot(50, when_idle)

        QTimer.singleShot(0, when_idle)
        loop.run_until_complete(finished)
        for name, seconds, stall in phases:
            out[f"{name}: seconds"] = round(seconds, 2)
            out[f"{name}: max GUI stall ms"] = round(stall, 1)
        stop = loop.create_future()
        app.quit_done.connect(lambda: stop.done() or stop.set_result(0))
        app.request_quit()
        loop.run_until_complete(stop)
    finally:
        daemon.terminate()
        daemon.wait()
        relay.terminate()
        relay.wait()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--skip-startup", action="store_true")
    ap.add_argument("--skip-stall", action="store_true")
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.child:
        child(Path(args.child[0]), float(args.child[1]))
        return
    work = Path(tempfile.mkdtemp(prefix="cove-measure-"))
    try:
        results = {}
        if not args.skip_startup:
            results.update(measure_startup(work, args.files))
        if not args.skip_stall:
            results.update(measure_stall(work, args.mib * MiB))
        for k, v in results.items():
            print(f"{k:40} {v}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
