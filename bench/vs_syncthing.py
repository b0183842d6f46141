"""Cove (two devices, LAN path, no relay) against Syncthing (two instances), side by side, on
loopback, in one run (not a test).

    apt-get install -y syncthing      # Debian's package
    .venv/bin/python bench/vs_syncthing.py [--scale 1.0] [--only cove|syncthing] [--json out.json]

Scenarios, the same for both, timed from "the data is on A" (a single rename(2) of staged data
into A's folder, or an in-place write) to "every expected file on B has its size and B's files
are byte-identical (SHA-256)" — one completion check for both systems:

  S1  1 GiB in 16 files (initial sync)
  S2  10,000 files of 4 KiB in 100 directories
  S3  latency of a 100-byte append to a small synced file (median of 5, after >= 1.5 s quiet)
  S4  1 MiB overwritten in the middle of a synced 256 MiB file: time and bytes B received
  S5  rename of that 256 MiB file: time and bytes B received

Bytes received: Cove — the frames B's LAN channels received (``lan/status.json``: encrypted
payload plus 4-byte frame headers, i.e. the TCP payload); Syncthing — B's
``/rest/system/connections`` ``inBytesTotal`` (protocol bytes inside TLS). Sizes scale with
``--scale`` (S2's file count too; S3 and S4's 1 MiB are not scaled). Syncthing is driven with
``../shared/bench/syncthing_baseline.py``'s ``Syncthing`` class (loopback only, no discovery,
relays, NAT or usage reporting); its file-watcher delay is its minimum, 1 s. Cove runs
``python -m sync.lan.node`` (zeroconf on 127.0.0.1, watcher debounce 100 ms).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BASELINE = ROOT.parent / "shared" / "bench" / "syncthing_baseline.py"

KiB, MiB, GiB = 1024, 1024**2, 1024**3
TIMEOUT_S = 600.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def write_random(path: Path, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            b = os.urandom(min(left, 4 * MiB))
            f.write(b)
            h.update(b)
            left -= len(b)
    return h.hexdigest()


def sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def wait(cond: Callable[[], bool], what: str, poll: float, timeout: float = TIMEOUT_S) -> float:
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout} s")
        time.sleep(poll)


class Done:
    """Every expected file present with its size (cheap, incremental), then hashes verified."""

    def __init__(self, root: Path, manifest: dict[str, tuple[int, str]], gone: tuple[str, ...] = ()):
        self.root = root
        self.manifest = manifest
        self.pending = dict(manifest)
        self.gone = gone

    def __call__(self) -> bool:
        for rel, (size, _) in list(self.pending.items()):
            try:
                if os.stat(self.root / rel).st_size == size:
                    del self.pending[rel]
                    continue
            except FileNotFoundError:
                pass
            return False
        if any(os.path.lexists(self.root / g) for g in self.gone):
            return False
        bad = [rel for rel, (_, digest) in self.manifest.items() if sha256(self.root / rel) != digest]
        if bad:
            self.pending = {rel: self.manifest[rel] for rel in bad}
            return False
        return True


# -- the two systems ----------------------------------------------------------------------------


class CovePair:
    name = "Cove"

    def __init__(self, base: Path):
        from sync.keys import AccountKeys, FolderKeyring
        from sync.lan.discovery import enable_loopback_multicast
        from sync.lan.provision import provision_home

        if not enable_loopback_multicast():
            raise RuntimeError("multicast on lo is needed for zeroconf on loopback (run as root)")
        self.base = base
        folder = "benchfolder000000001"
        account, keyring = AccountKeys.generate(), FolderKeyring.create(folder)
        self.homes = {n: base / n / "home" for n in "AB"}
        self.roots = {n: base / n / "data" for n in "AB"}
        for n in "AB":
            provision_home(self.homes[n], self.roots[n], folder, account, keyring, n)
        self.procs: dict[str, subprocess.Popen] = {}

    @property
    def a(self) -> Path:
        return self.roots["A"]

    @property
    def b(self) -> Path:
        return self.roots["B"]

    def start(self) -> None:
        for n in "AB":
            logf = open(self.base / f"{n}.log", "w")  # noqa: SIM115
            self.procs[n] = subprocess.Popen(
                [sys.executable, "-m", "sync.lan.node", "--home", str(self.homes[n]), "--interfaces", "127.0.0.1",
                 "--listen", "127.0.0.1", "--quiet", "--log-level", os.environ.get("COVE_BENCH_LOG", "WARNING")],
                cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        wait(lambda: all(any(p.get("connected") and p.get("folders") for p in self._status(n).get("peers", []))
                         for n in "AB"), "Cove devices connected", 0.1, 60)

    def _status(self, n: str) -> dict:
        try:
            return json.loads((self.homes[n] / "data" / "lan" / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def rx_bytes(self) -> int:
        time.sleep(0.6)  # the status file is refreshed every 0.5 s
        return int(self._status("B").get("bytes_in", 0))

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


class SyncthingPair:
    name = "Syncthing"

    def __init__(self, base: Path):
        spec = importlib.util.spec_from_file_location("syncthing_baseline", BASELINE)
        assert spec is not None and spec.loader is not None
        self.mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.mod)
        binary = shutil.which("syncthing")
        if binary is None:
            raise RuntimeError("syncthing is not installed (apt-get install -y syncthing)")
        ports = self.mod.free_ports(4)
        self.A = self.mod.Syncthing("A", str(base), binary, ports[0], ports[1])
        self.B = self.mod.Syncthing("B", str(base), binary, ports[2], ports[3])
        for i in (self.A, self.B):
            i.generate()
        self.A.configure(self.B)
        self.B.configure(self.A)

    @property
    def a(self) -> Path:
        return Path(self.A.folder)

    @property
    def b(self) -> Path:
        return Path(self.B.folder)

    def start(self) -> None:
        self.A.start()
        self.A.wait_ready()
        time.sleep(1.0)  # see syncthing_baseline.start_syncthing: avoid a simultaneous open
        self.B.start()
        self.B.wait_ready()

        def connected() -> bool:
            try:
                ca = self.A.api("/rest/system/connections")["connections"].get(self.B.device_id, {})
                cb = self.B.api("/rest/system/connections")["connections"].get(self.A.device_id, {})
                return bool(ca.get("connected") and cb.get("connected"))
            except Exception:  # noqa: BLE001
                return False

        wait(connected, "Syncthing devices connected", 0.25, 120)

    def rx_bytes(self) -> int:
        time.sleep(0.6)
        return int(self.B.conn_totals()[0] or 0)

    def stop(self) -> None:
        for i in (self.A, self.B):
            try:
                i.stop()
            except Exception as e:  # noqa: BLE001
                log(f"stopping syncthing {i.name}: {e}")


# -- scenarios ----------------------------------------------------------------------------------


def run_scenarios(pair, stage: Path, data: dict, s3_reps: int) -> dict:
    out: dict = {}
    pair.start()
    a, b = pair.a, pair.b
    # S1
    t0 = time.monotonic()
    os.rename(stage / "s1", a / "s1")
    t = wait(Done(b, {f"s1/{k}": v for k, v in data["s1"].items()}), "S1", 0.05)
    out["S1"] = {"seconds": t - t0}
    log(f"{pair.name} S1 {out['S1']['seconds']:.2f} s")
    # S2
    t0 = time.monotonic()
    os.rename(stage / "s2", a / "s2")
    t = wait(Done(b, {f"s2/{k}": v for k, v in data["s2"].items()}), "S2", 0.1)
    out["S2"] = {"seconds": t - t0}
    log(f"{pair.name} S2 {out['S2']['seconds']:.2f} s")
    # S3
    small = a / "s3.txt"
    content = os.urandom(2000)
    small.write_bytes(content)
    wait(Done(b, {"s3.txt": (len(content), hashlib.sha256(content).hexdigest())}), "S3 setup", 0.02)
    samples = []
    for _ in range(s3_reps):
        time.sleep(1.5)
        extra = os.urandom(50).hex().encode()  # 100 bytes
        content += extra
        t0 = time.monotonic()
        with open(small, "ab") as f:
            f.write(extra)
        t = wait(Done(b, {"s3.txt": (len(content), hashlib.sha256(content).hexdigest())}), "S3", 0.005)
        samples.append(t - t0)
    out["S3"] = {"seconds": statistics.median(samples), "samples": samples}
    log(f"{pair.name} S3 {out['S3']['seconds'] * 1000:.0f} ms (samples {[round(s * 1000) for s in samples]})")
    # S4 setup: the big file
    t0 = time.monotonic()
    os.rename(stage / "big.bin", a / "big.bin")
    big = data["big"]
    t = wait(Done(b, {"big.bin": big}), "S4 setup", 0.05)
    out["S4setup"] = {"seconds": t - t0}
    time.sleep(2.0)
    rx0 = pair.rx_bytes()
    t0 = time.monotonic()
    with open(a / "big.bin", "r+b") as f:
        f.seek(data["patch_off"])
        f.write(data["patch"])
    t = wait(Done(b, {"big.bin": (big[0], data["patched_sha"])}), "S4", 0.02)
    out["S4"] = {"seconds": t - t0, "rx_bytes": pair.rx_bytes() - rx0}
    log(f"{pair.name} S4 {out['S4']['seconds']:.2f} s, {out['S4']['rx_bytes'] / MiB:.3f} MiB received")
    time.sleep(2.0)
    rx0 = pair.rx_bytes()
    t0 = time.monotonic()
    os.rename(a / "big.bin", a / "big_renamed.bin")
    t = wait(Done(b, {"big_renamed.bin": (big[0], data["patched_sha"])}, gone=("big.bin",)), "S5", 0.02)
    out["S5"] = {"seconds": t - t0, "rx_bytes": pair.rx_bytes() - rx0}
    log(f"{pair.name} S5 {out['S5']['seconds']:.2f} s, {out['S5']['rx_bytes'] / KiB:.1f} KiB received")
    return out


def make_data(stage: Path, scale: float) -> dict:
    s1_size = max(64 * KiB, int(64 * MiB * scale))
    s2_count = max(100, int(10_000 * scale))
    big_size = max(4 * MiB, int(256 * MiB * scale))
    data: dict = {"s1": {}, "s2": {}}
    (stage / "s1").mkdir(parents=True)
    for i in range(16):
        name = f"file_{i:02d}.bin"
        data["s1"][name] = (s1_size, write_random(stage / "s1" / name, s1_size))
    for j in range(100):
        (stage / "s2" / f"d{j:03d}").mkdir(parents=True)
    for i in range(s2_count):
        rel = f"d{i % 100:03d}/f{i:05d}.bin"
        data["s2"][rel] = (4 * KiB, write_random(stage / "s2" / rel, 4 * KiB))
    data["big"] = (big_size, write_random(stage / "big.bin", big_size))
    data["patch"] = os.urandom(MiB)
    data["patch_off"] = (big_size // 2) // (128 * KiB) * (128 * KiB)
    h = hashlib.sha256()
    with open(stage / "big.bin", "rb") as f:
        h.update(f.read(data["patch_off"]))
        f.seek(MiB, os.SEEK_CUR)
        h.update(data["patch"])
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    data["patched_sha"] = h.hexdigest()
    return data


def table(results: dict, scale: float) -> str:
    c, s = results.get("Cove", {}), results.get("Syncthing", {})
    suffix = "" if scale == 1 else f" (x{scale:g})"

    def secs(r: dict, k: str) -> float | None:
        return r.get(k, {}).get("seconds")

    def fmt_t(v: float | None, ms: bool = False) -> str:
        return "-" if v is None else (f"{v * 1000:.0f} ms" if ms else f"{v:.2f} s")

    def fmt_b(v: int | None) -> str:
        return "-" if v is None else (f"{v / MiB:.2f} MiB" if v >= MiB else f"{v / KiB:.1f} KiB")

    rows = [("scenario", "Cove", "Syncthing", "Syncthing / Cove")]
    for k, label, ms in (("S1", "S1 1 GiB in 16 files", False), ("S2", "S2 10,000 x 4 KiB in 100 dirs", False),
                         ("S3", "S3 100-byte append, latency (median of 5)", True),
                         ("S4setup", "S4 setup: 256 MiB initial", False),
                         ("S4", "S4 1 MiB overwrite in 256 MiB: time", False), ("S5", "S5 rename 256 MiB: time", False)):
        cv, sv = secs(c, k), secs(s, k)
        ratio = f"{sv / cv:.1f}x" if cv and sv else "-"
        rows.append((label + suffix, fmt_t(cv, ms), fmt_t(sv, ms), ratio))
        if k in ("S4", "S5"):
            cb, sb = c.get(k, {}).get("rx_bytes"), s.get(k, {}).get("rx_bytes")
            ratio = f"{sb / cb:.1f}x" if cb and sb else "-"
            rows.append((f"{k} bytes received by B", fmt_b(cb), fmt_b(sb), ratio))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["| " + " | ".join(r[i].ljust(widths[i]) for i in range(4)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--s3-reps", type=int, default=5)
    ap.add_argument("--only", choices=["cove", "syncthing"])
    ap.add_argument("--syncthing-first", action="store_true",
                    help="run Syncthing before Cove (the VM's memory and disk state drift during a run: "
                         "compare runs in both orders)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep each system's folders and logs (A.log, B.log) after the run")
    args = ap.parse_args()
    results: dict = {}
    systems = [("Cove", CovePair), ("Syncthing", SyncthingPair)]
    if args.only:
        systems = [x for x in systems if x[0].lower() == args.only]
    if args.syncthing_first:
        systems.reverse()
    bases: list[Path] = []
    for name, cls in systems:
        base = Path(tempfile.mkdtemp(prefix=f"vs-{name.lower()}-", dir=args.tmpdir))
        bases.append(base)
        pair = None
        try:
            log(f"=== {name}: generating data (scale {args.scale:g})")
            data = make_data(base / "stage", args.scale)
            os.sync()
            pair = cls(base / "run")
            results[name] = run_scenarios(pair, base / "stage", data, args.s3_reps)
        except Exception as e:  # noqa: BLE001
            log(f"{name} FAILED: {e!r}")
            results[name] = {"error": repr(e)}
        finally:
            if pair is not None:
                pair.stop()
    # Deleted only at the end: ext4 does not reuse the inodes of files deleted in the last
    # 60-360 s, and with tens of thousands of them every new file's inode takes a long search
    # (ialloc.c recently_deleted) -- deleting one system's files would slow the next one down.
    for base in bases:
        if args.keep:
            log(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    text = table(results, args.scale)
    print()
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"scale": args.scale, "results": results, "table": text}, indent=1))
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
