"""Worker for test_crash_consistency: commits numbered batches into an index until it is killed.

Usage: ``crash_worker.py INDEX_DB FIRST_BATCH LAST_BATCH SLOTS``. Batch ``n`` is one transaction
that, in two ``commit_local`` calls, sets every ``slot/NN`` path to content ``n``, creates ``batch/NNNNN``,
adds a history entry for it and sets meta ``last_batch`` to ``n``. It prints ``inside n`` once
the transaction is open and ``committed n`` after the commit returned. A consistent index therefore has every slot at the same batch number ``m``
(= ``last_batch``), exactly the batch paths and history entries ``1..m``, and ``m * (SLOTS + 1)``
sequences.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sync.index import Index, LocalUpdate
from sync.records import FileRecord, FileType


def content(n: int) -> bytes:
    return n.to_bytes(32, "big")


def record(path: str, n: int) -> FileRecord:
    return FileRecord(path, FileType.FILE, size=n, mtime_ns=n, mode=0o644, inode=n, content_hash=content(n))


def main() -> None:
    db, first, last, slots = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    index = Index.open(db, "WORKER", clock=lambda: 0)
    print("ready", flush=True)
    for n in range(first, last + 1):
        updates = [LocalUpdate(f"slot/{i:02}", record(f"slot/{i:02}", n)) for i in range(slots)]
        batch_path = f"batch/{n:05}"
        with index.transaction():
            print(f"inside {n}", flush=True)
            index.commit_local(updates[: slots // 2])
            index.commit_local(updates[slots // 2 :] + [LocalUpdate(batch_path, record(batch_path, n))])
            index.add_history(record(batch_path, n), f"h{n}", n, "replaced")
            index.set_meta("last_batch", str(n))
        print(f"committed {n}", flush=True)
    index.close()
    print("done", flush=True)


if __name__ == "__main__":
    main()
