"""The PyInstaller bundle (build.spec) builds and runs: `cove --version`, and the headless daemon
once against a temp home with a folder. Slow (about a minute and a half here); CI runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    pyinstaller = Path(sys.executable).with_name("pyinstaller")
    if not pyinstaller.exists() and shutil.which("pyinstaller") is None:
        pytest.skip("pyinstaller is not installed (pip install .[bundle])")
    work = tmp_path_factory.mktemp("bundle")
    started = time.perf_counter()
    subprocess.run(
        [str(pyinstaller) if pyinstaller.exists() else "pyinstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(work / "dist"), "--workpath", str(work / "build"), str(ROOT / "build.spec")],
        cwd=ROOT, check=True, timeout=900,
    )
    print(f"bundle built in {time.perf_counter() - started:.0f} s")
    exe = work / "dist" / "cove" / "cove"
    assert exe.exists()
    return exe


def run(exe: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    return subprocess.run([str(exe), *args], check=False, capture_output=True, text=True, timeout=120, env={**clean, **(env or {})})


def test_version(bundle: Path) -> None:
    out = run(bundle, "--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("cove ")


def test_headless_daemon_once(bundle: Path, tmp_path: Path) -> None:
    home, folder = tmp_path / "home", tmp_path / "Cove"
    assert run(bundle, "--home", str(home), "init", str(folder)).returncode == 0
    (folder / "hello.txt").write_text("hello from the bundle")
    out = run(bundle, "--home", str(home), "daemon", "--once")  # one scan-and-sync pass
    assert out.returncode == 0, out.stderr
    assert "Cove daemon stopped" in out.stdout
    (folder / "second.txt").write_text("found by a scan")
    scan = run(bundle, "--home", str(home), "scan")  # hashing (blake3, pyfastcdc) and the index
    assert scan.returncode == 0 and "1 added" in scan.stdout, scan.stdout + scan.stderr
    status = run(bundle, "--home", str(home), "status")
    assert "files      2" in status.stdout, status.stdout


def test_resources_and_qt_load_in_the_bundle(bundle: Path, tmp_path: Path) -> None:
    """`cove gui` offscreen with no folder opens the first-run wizard; a timer quits it. This
    proves Qt, its plugins (SVG icons) and resources.path() work from the bundle."""
    out = run(bundle, "--home", str(tmp_path / "home"), "gui",
              env={"QT_QPA_PLATFORM": "offscreen", "COVE_QUIT_AFTER_MS": "1500"})
    assert out.returncode == 0, out.stderr
