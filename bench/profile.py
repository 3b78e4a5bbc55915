"""Where the in-process pipeline's time goes: each step (issue, submit, incoming,
processing, releasing) profiled apart with cProfile over the same payments as
bench/inprocess.py (chain, compression and encryption on, every rule).

    python -m bench.profile            # a table per step: its top functions by own time
    python -m bench.profile --json     # the same as JSON (`python -m bench` keeps it as inprocess_profile)

cProfile slows Python code several-fold, so these are shares of a step, not rates: the
rates are bench/inprocess.py's. The steps hand over by queue here, so that each is profiled
apart; inline, as deployed, processing and releasing skip the read of the payment (the
`to_domain_event` of its events) that they do here.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import sys
from collections.abc import Iterator
from typing import Any

from bench.inprocess import STEPS, memory_pipeline, messages, one_payment


def top_functions(profile: cProfile.Profile, payments: int, top: int) -> dict[str, Any]:
    """The step's total and its `top` functions by own time, in µs per payment."""
    stats = pstats.Stats(profile)
    entries = stats.stats  # type: ignore[attr-defined]  # {(file, line, name): (cc, nc, tt, ct, callers)}
    total = sum(tt for _, _, tt, _, _ in entries.values())
    rows = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    return {
        "total_us": round(total / payments * 1e6, 1),
        "top": [
            {
                "function": where(file, line, name),
                "own_us": round(tt / payments * 1e6, 1),
                "cumulative_us": round(ct / payments * 1e6, 1),
                "calls_per_payment": round(nc / payments, 2),
                "share": round(tt / total, 3) if total else 0.0,
            }
            for (file, line, name), (_, nc, tt, ct, _) in rows
        ],
    }


def where(file: str, line: int, name: str) -> str:
    """file:line(name), the file relative to site-packages, the repo or the stdlib."""
    for marker in ("site-packages/", "/lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    else:
        file = os.path.relpath(file) if file.startswith("/") else file
    return f"{file}:{line}({name})"


def measure(payments: int = 400, top: int = 12) -> dict[str, Any]:
    pipeline = memory_pipeline("queue")
    for body in messages(50):  # warm up: schemas compiled, caches filled
        one_payment(pipeline, body)
    pipeline = memory_pipeline("queue")
    bodies = messages(payments)
    profiles = {name: cProfile.Profile() for name in STEPS}
    with quiet():
        for body in bodies:
            one_payment(pipeline, body, profiles=profiles)
    steps = {name: top_functions(profiles[name], payments, top) for name in STEPS}
    total = sum(s["total_us"] for s in steps.values())
    return {
        "payments": payments,
        "profiled_us_per_payment": round(total, 1),
        "step_share": {name: round(s["total_us"] / total, 3) for name, s in steps.items()},
        "steps": steps,
    }


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Standard output to /dev/null at the descriptor: the pipeline's log lines and EMF
    metrics (their handlers hold the stream they were given at import) still cost their write."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def table(result: dict[str, Any]) -> str:
    lines = [f"profiled: {result['profiled_us_per_payment']} µs per payment (under cProfile)"]
    for name, step in result["steps"].items():
        lines.append(f"\n{name}: {step['total_us']} µs ({result['step_share'][name]:.0%})")
        lines.append(f"  {'own µs':>8} {'cum µs':>8} {'calls':>6}  function")
        for row in step["top"]:
            lines.append(
                f"  {row['own_us']:>8} {row['cumulative_us']:>8} {row['calls_per_payment']:>6}  {row['function']}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=400)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    result = measure(args.payments, args.top)
    print(json.dumps(result) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
