"""Run MiniStack with a bounded garbage-collection pause, for a long-lived local stack.

MiniStack keeps every table item, stream record (with its image) and queue message of the
local stack as Python objects in its one process, and CPython's full collection walks all
of them: measured with `MINISTACK_GC_LOG`, a full collection paused MiniStack 45 ms before
any load and 350 ms after ~5,000 payments, and the p99 of three 10,000-payment runs grew
with the payments the stack held while the p50 stayed flat (README, "Figures"). AWS has no
such pause; it is the emulator's.

So every `MINISTACK_GC_FREEZE_SECONDS` (default 10; 0: CPython's own policy) a thread
collects what was allocated since the last round and freezes what survived (`gc.freeze`:
those objects are left out of every later collection). A full collection then walks one
round's allocations, not the whole data set. What is frozen stays until the process ends,
as the stack's data does anyway.

`MINISTACK_GC_LOG=<file>`: a line per full collection (epoch seconds, pause in ms).
Local stage only (infra/ministack.py starts MiniStack through this module).
"""

from __future__ import annotations

import gc
import os
import threading
import time
from typing import Any


def log_full_collections(path: str) -> None:
    out = open(path, "a", buffering=1)  # noqa: SIM115  # open for the process's life
    started = [0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return  # the young collections are many and short: only the full ones grow
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            out.write(f"{time.time():.3f} {(time.perf_counter() - started[0]) * 1000:.2f}\n")

    gc.callbacks.append(callback)


def freeze_every(seconds: float) -> None:
    def rounds() -> None:
        while True:
            time.sleep(seconds)
            gc.collect()
            gc.freeze()

    threading.Thread(target=rounds, name="gc-freeze", daemon=True).start()


def main() -> None:
    if os.environ.get("MINISTACK_GC_LOG"):
        log_full_collections(os.environ["MINISTACK_GC_LOG"])
    seconds = float(os.environ.get("MINISTACK_GC_FREEZE_SECONDS", "10"))
    if seconds > 0:
        freeze_every(seconds)
    from ministack.app import main as ministack  # type: ignore[import-untyped]

    ministack()


if __name__ == "__main__":
    main()
