"""infra/ministack_gc.py: the local MiniStack's collection policy (bounded full-collection
pauses), each case in a fresh interpreter, so that no freeze reaches this test process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={"PATH": "", **env}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_each_round_collects_then_freezes_what_survived() -> None:
    out = run(
        """
import gc, time
from infra.ministack_gc import freeze_every
kept = [{"item": [i]} for i in range(50_000)]  # the stack's data (tracked: it holds lists)
garbage = []
garbage.append(garbage)  # a cycle nobody holds: the round collects it before freezing
del garbage
freeze_every(0.05)
deadline = time.monotonic() + 60
while gc.get_freeze_count() < 50_000 and time.monotonic() < deadline:
    time.sleep(0.01)
print(gc.get_freeze_count(), sum(1 for o in gc.get_objects() if isinstance(o, list) and o and o[0] is o))
"""
    )
    frozen, cycles_left = map(int, out.split())
    assert frozen >= 50_000 and cycles_left == 0


def test_a_full_collection_after_a_freeze_walks_only_what_came_since() -> None:
    """The point of the policy: a collection walks the generations' lists, and the frozen
    objects are in none of them, so its pause no longer grows with the data."""
    out = run(
        """
import gc
data = [{"item": i, "attrs": [str(i)]} for i in range(200_000)]
before = len(gc.get_objects())
gc.collect(); gc.freeze()
fresh = [[i] for i in range(1_000)]  # tracked: lists
print(before, len(gc.get_objects()), gc.get_freeze_count())
"""
    )
    before, walked, frozen = map(int, out.split())
    assert before > 400_000 and frozen > 400_000
    assert 1_000 <= walked < 5_000  # the new objects, and the interpreter's few since the freeze


def test_the_log_has_a_line_per_full_collection_only() -> None:
    out = run(
        """
import gc, os, tempfile
from infra.ministack_gc import log_full_collections
path = os.path.join(tempfile.mkdtemp(), "gc.log")
log_full_collections(path)
gc.collect(0); gc.collect(1); gc.collect(); gc.collect()
print(open(path).read())
"""
    )
    lines = [line.split() for line in out.splitlines() if line]
    assert len(lines) == 2
    assert all(float(epoch) > 1e9 and float(ms) >= 0 for epoch, ms in lines)


def test_zero_seconds_leaves_cpythons_own_policy() -> None:
    out = run(
        """
import gc, threading
import ministack.app
ministack.app.main = lambda: None  # the policy only, not the server
from infra.ministack_gc import main
main()
print(gc.get_freeze_count(), " ".join(t.name for t in threading.enumerate()))
""",
        MINISTACK_GC_FREEZE_SECONDS="0",
    )
    assert out.split()[0] == "0" and "gc-freeze" not in out
