"""Saturation of the local stack: the highest steady rate it holds with p99 <= 1 s.

The open-loop load of bench/e2e.py is stepped up (5, 10, 20, 30, 40, 60, 80 payments/s by
default), each step on the same stack, and stops after the first step that does not hold:
past saturation every step only measures a queue, and a longer one takes the machine
(shared) for nothing. The curve, rate -> p50/p99, is plotted to a PNG.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RATES = (5.0, 10.0, 20.0, 30.0, 40.0, 60.0, 80.0)  # 5: a loaded 2-core machine may not hold 10
P99_LIMIT_S = 1.0


def holds(step: dict[str, Any], p99_limit_s: float = P99_LIMIT_S) -> bool:
    """A step holds its rate when every payment it started completed without error, the load
    was not cut short for falling behind, and its p99 is within the limit."""
    return (
        step.get("aborted_after") is None
        and not step.get("error_count")
        and not step.get("never_completed")
        and step.get("e2e_p99_s") is not None
        and step["e2e_p99_s"] <= p99_limit_s
    )


def climb(
    run: Callable[[float], dict[str, Any]], rates: Sequence[float], p99_limit_s: float = P99_LIMIT_S
) -> dict[str, Any]:
    """Run `run(rate)` for each rate in increasing order, up to and including the first step
    that does not hold; the highest rate held before it (None if the first one fails)."""
    steps: list[dict[str, Any]] = []
    max_rate = None
    for rate in sorted(rates):
        step = run(rate)
        ok = holds(step, p99_limit_s)
        steps.append({**step, "holds": ok})
        if not ok:
            break
        max_rate = rate
    return {"e2e_max_rate_per_s": max_rate, "p99_limit_s": p99_limit_s, "steps": steps}


def curve(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The plotted points, one per step (the figures results.json keeps apart from the detail)."""
    return [
        {
            "rate_per_s": s["rate_target_per_s"],
            "p50_s": s["e2e_p50_s"],
            "p99_s": s["e2e_p99_s"],
            "completion_rate_per_s": s["completion_rate_per_s"],
            "holds": s["holds"],
        }
        for s in result["steps"]
    ]


def plot(points: list[dict[str, Any]], limit_s: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    rates = [p["rate_per_s"] for p in points]
    for key, label in (("p50_s", "p50"), ("p99_s", "p99")):
        ax.plot(rates, [p[key] for p in points], marker="o", label=label)
    ax.axhline(limit_s, color="grey", linestyle="--", label=f"p99 limit {limit_s:g} s")
    ax.set_yscale("log")
    ax.set_xlabel("offered load, payments/s")
    ax.set_ylabel("POST /inbox -> release notified, s")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
