"""Scanner benchmark (not a test): prints a table of scan throughput and peak memory.

Phases, each against the real SQLite index (:class:`sync.index.Index`):

* initial scan of N small files (default 100,000, 1-4 KiB each, 100 per directory);
* rescan of that tree unchanged (target: < 3 s for 100k files);
* targeted rescan of one dirty path in that tree (what the watcher triggers);
* initial scan of 2 GiB in large files (8 x 256 MiB), with 1 and with 2 hashing threads
  (target: >= 1 GB/s per machine).

Peak RSS is sampled every 5 ms during each phase (target: < 300 MB with 100k files indexed). Data
is generated under a temp directory in /tmp and deleted afterwards. The page cache is warm (the
files were just written): this measures the scanner, not the disk.

    .venv/bin/python bench/scan_bench.py [--files 100000] [--large-gib 2] [--keep]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sync.index import Index  # noqa: E402
from sync.scanner import Scanner  # noqa: E402

DEVICE = "BENCHBENCHBEN"


class PeakRSS:
    """Samples this process's RSS on a thread; ``peak`` is the maximum seen."""

    def __init__(self, interval: float = 0.005) -> None:
        self.proc = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self.peak = self.proc.memory_info().rss
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def make_root(base: Path, name: str) -> Path:
    root = base / name
    (root / ".cove").mkdir(parents=True)
    (root / ".cove" / "folder.json").write_text('{"folder_id": "bench"}')
    return root


def make_small_tree(root: Path, n: int) -> int:
    rnd = random.Random(1)
    total = 0
    per_dir = 100
    for d in range((n + per_dir - 1) // per_dir):
        dpath = root / f"d{d // 100:03}" / f"s{d % 100:02}"
        dpath.mkdir(parents=True, exist_ok=True)
        for i in range(min(per_dir, n - d * per_dir)):
            size = rnd.randint(1024, 4096)
            (dpath / f"file{i:03}.txt").write_bytes(rnd.randbytes(size))
            total += size
    return total


def make_large_files(root: Path, gib: float, count: int = 8) -> int:
    each = int(gib * (1 << 30)) // count
    chunk = os.urandom(16 << 20)
    for i in range(count):
        with open(root / f"large{i}.bin", "wb") as f:
            left = each
            while left > 0:
                # vary the content so blocks differ across files
                f.write(
                    chunk[: min(left, len(chunk))][::-1]
                    if (left // len(chunk) + i) % 2
                    else chunk[: min(left, len(chunk))]
                )
                left -= len(chunk)
    return each * count


class TimedIndex:
    """The real index, with the time spent committing scans (apply_scan) measured apart."""

    def __init__(self, index: Index) -> None:
        self._index = index
        self.apply_seconds = 0.0

    def __getattr__(self, name: str):
        return getattr(self._index, name)

    def apply_scan(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self._index.apply_scan(*args, **kwargs)
        finally:
            self.apply_seconds += time.perf_counter() - t0


def timed(fn: Callable[[], object]) -> tuple[object, float, int]:
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
    return out, dt, rss.peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--large-gib", type=float, default=2.0)
    ap.add_argument("--keep", action="store_true", help="do not delete the generated data")
    args = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="cove-bench-", dir="/tmp"))
    rows: list[tuple[str, str, str, str, str, str]] = []
    try:
        # -- many small files --
        small = make_root(base, "small")
        t0 = time.perf_counter()
        small_bytes = make_small_tree(small, args.files)
        print(
            f"generated {args.files} files ({small_bytes / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        index = TimedIndex(Index.open(base / "small.db", device=DEVICE, check=False))
        scanner = Scanner(small, index)  # type: ignore[arg-type]
        r, dt, peak = timed(scanner.scan)
        n = r.stats.hashed_files
        rows.append(
            (
                "initial scan, small files (incl. commit)",
                f"{args.files:,}",
                f"{dt:.2f}",
                f"{n / dt:,.0f}",
                f"{r.stats.hashed_bytes / dt / 1e6:,.0f}",
                f"{peak >> 20}",
            )
        )
        scan_only = dt - index.apply_seconds
        rows.append(
            (
                "  of which scan+hash / index commit",
                "",
                f"{scan_only:.2f} / {index.apply_seconds:.2f}",
                f"{n / scan_only:,.0f}",
                f"{r.stats.hashed_bytes / scan_only / 1e6:,.0f}",
                "",
            )
        )
        r, dt, peak = timed(scanner.scan)
        assert not r.changes, r.changes[:5]
        rows.append(
            (
                "rescan unchanged (racy rehash)",
                f"{args.files:,}",
                f"{dt:.2f}",
                f"{args.files / dt:,.0f}",
                f"{r.stats.hashed_bytes / dt / 1e6:,.0f}",
                f"{peak >> 20}",
            )
        )
        r, dt, peak = timed(scanner.scan)
        assert not r.changes and r.stats.hashed_files == 0
        rows.append(
            (
                "rescan unchanged",
                f"{args.files:,}",
                f"{dt:.2f}",
                f"{args.files / dt:,.0f}",
                "-",
                f"{peak >> 20}",
            )
        )
        one = next(p for p in small.rglob("*.txt"))
        one.write_bytes(b"changed")
        rel = one.relative_to(small).as_posix()
        r, dt, peak = timed(lambda: scanner.scan([rel]))
        assert [c.path for c in r.changes] == [rel]
        rows.append(("targeted rescan of 1 path", f"{args.files:,}", f"{dt:.3f}", "-", "-", f"{peak >> 20}"))
        index.close()
        shutil.rmtree(small)

        # -- large files --
        large = make_root(base, "large")
        t0 = time.perf_counter()
        large_bytes = make_large_files(large, args.large_gib)
        print(f"generated {large_bytes / (1 << 30):.1f} GiB in {time.perf_counter() - t0:.1f} s", flush=True)
        for workers in (1, 2):
            db = base / f"large{workers}.db"
            index = Index.open(db, device=DEVICE, check=False)
            scanner = Scanner(large, index, workers=workers)
            r, dt, peak = timed(scanner.scan)
            rows.append(
                (
                    f"initial scan, large files, {workers} thread{'s' if workers > 1 else ''}",
                    f"{r.stats.hashed_files}",
                    f"{dt:.2f}",
                    f"{r.stats.hashed_files / dt:,.1f}",
                    f"{r.stats.hashed_bytes / dt / 1e6:,.0f}",
                    f"{peak >> 20}",
                )
            )
            index.close()
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    head = ("phase", "files", "seconds", "files/s", "MB/s", "peak RSS MiB")
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
    print(f"cpu: {os.cpu_count()} cores, python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
