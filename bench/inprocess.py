"""The whole pipeline in one process on one core, with eventsourcing's in-memory (POPO)
persistence and in-memory S3/SQS/SNS: the ceiling our own code puts on a worker.

Run by `python -m bench` in a subprocess pinned to CPU 0 (`python -m bench.inprocess`
prints JSON). Beside it, the lxml limit: parse + XSD validation alone of the same
messages on the same core.
"""

from __future__ import annotations

import cProfile
import json
import os
import statistics
import sys
import time
from pathlib import Path
from uuid import UUID

EVENTS = Path(__file__).resolve().parent.parent / "events"
MESSAGES = ("pacs008_bare.xml", "pacs008_bah_envelope.xml")


def messages(n: int = 400) -> list[bytes]:
    """Current, unique messages (bench/messages.py), made before any timing starts."""
    from bench.messages import fresh

    return [fresh(i) for i in range(n)]


OWNER = "bench-client"


def memory_pipeline(step_handoff: str = "inline"):
    """The service from the composition root with tests/unit/fakes.py's in-memory adapters,
    this module's queues and notifier (which counts settled payments), and the payments and
    positions on bench/chained_popo.py: the audit chain linked, the state compressed and
    encrypted, as deployed. Every business rule runs (CheckSettings' defaults disable none),
    and the tenant's agents are checked (`tenant_agents`, which a stage other than local must
    set); liquidity limits are off, as the stack's LiquidityLimits parameter defaults to. Steps hand
    over inline as deployed (`step_handoff="queue"`: each step apart, for the profile)."""
    from bench import chained_popo
    from bench.fakes import MemoryNotifier, MemoryQueue
    from chalicelib import bootstrap
    from chalicelib.adapters.settings import Settings
    from chalicelib.pipeline.liquidity import Positions
    from chalicelib.pipeline.payments import Payments
    from tests.unit.fakes import memory_adapters

    return bootstrap.build(
        Settings(step_handoff=step_handoff, tenant_agents={OWNER: ["DEUTDEFFXXX"]}),  # the messages' InstgAgt
        **{
            **memory_adapters(),
            "payments": Payments(env=chained_popo.env()),
            "positions": Positions(env=chained_popo.env()),
            "incoming": MemoryQueue(),
            "processing": MemoryQueue(),
            "releasing": MemoryQueue(),
            "notifier": MemoryNotifier(),
        },
    )


STEPS = ("issue", "submit", "incoming", "processing", "releasing")


def one_payment(
    pipeline, body: bytes, clock: dict[str, float] | None = None, profiles: dict[str, cProfile.Profile] | None = None
) -> None:
    """GET /uuid, POST /inbox, then each step's queue drained: `clock` adds up each step's
    time, `profiles` (bench/profile.py) profiles each step apart."""
    from chalicelib.pipeline.messages import StepMessage

    a = pipeline.adapters
    ids: list[UUID] = []

    def drain(queue, handler) -> None:
        while queue.sent:
            tx, _, msg = queue.sent.popleft()
            handler(StepMessage(UUID(tx), msg, 1))

    runs = (
        lambda: ids.append(pipeline.issue_transaction("pacs.008", "bench", OWNER).id),
        lambda: pipeline.submit(ids[0], "pacs.008", body, OWNER),
        lambda: drain(a.incoming, pipeline.incoming),
        lambda: drain(a.processing, pipeline.processing),
        lambda: drain(a.releasing, pipeline.releasing),
    )
    t = time.perf_counter
    for name, run in zip(STEPS, runs, strict=True):
        profile = profiles[name] if profiles is not None else None
        s = t()
        if profile is not None:
            profile.enable()
        run()
        if profile is not None:
            profile.disable()
        if clock is not None:
            clock[name] = clock.get(name, 0.0) + t() - s


def pipeline_rate(seconds: float, batch: int = 100) -> dict:
    bodies = messages()
    pipeline = memory_pipeline()
    for i in range(50):  # warm up: schemas compiled, caches filled
        one_payment(pipeline, bodies[i % 2])
    rates, clock, done = [], {}, 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(rates) < 3:
        pipeline = memory_pipeline()  # a fresh store per round: see growing_store() for the other case
        bodies = messages(batch)  # unique per payment (duplicates would be rejected), made untimed
        start = time.perf_counter()
        for i in range(batch):
            one_payment(pipeline, bodies[i], clock)
        rates.append(batch / (time.perf_counter() - start))
        done += batch
        notifier = pipeline.adapters.notifier
        assert notifier.published == batch, "every payment must be released"
        assert notifier.by_status.get("ACSC") == batch, f"every payment must settle: {notifier.by_status}"
        fetch_reports(pipeline, clock)
    per_step_us = {k: round(v / done * 1e6, 1) for k, v in clock.items()}
    return {"median_per_s": statistics.median(rates), "rates": rates, "payments": done, "per_step_us": per_step_us}


def fetch_reports(pipeline, clock: dict[str, float]) -> None:
    """POST /outbox of each settled payment, timed as `outbox` (not part of the rate: the
    dollar model prices its invocation, bench/dollars.py)."""
    t = time.perf_counter
    for transaction_id in pipeline.adapters.notifier.ids:
        s = t()
        pipeline.status_report(UUID(transaction_id), OWNER)
        clock["outbox"] = clock.get("outbox", 0.0) + t() - s


def growing_store(blocks: int = 4, block: int = 250) -> list[float]:
    """Payments/s per block on ONE store that keeps growing (same debtor agent and
    currency throughout): flat if no step's cost grows with history."""
    pipeline = memory_pipeline()
    out = []
    for _ in range(blocks):
        bodies = messages(block)
        start = time.perf_counter()
        for body in bodies:
            one_payment(pipeline, body)
        out.append(round(block / (time.perf_counter() - start), 1))
    return out


def lxml_rate(seconds: float, batch: int = 200) -> dict:
    from chalicelib.iso20022 import parse_xml, recognise

    bodies = messages()
    for i in range(50):
        recognise(parse_xml(bodies[i % 2]))
    rates = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(rates) < 3:
        start = time.perf_counter()
        for i in range(batch):
            recognise(parse_xml(bodies[i % len(bodies)]))
        rates.append(batch / (time.perf_counter() - start))
    return {"median_per_s": statistics.median(rates), "rates": rates}


def measure(seconds: float = 6.0) -> dict:
    """Both figures, interleaved in halves so that machine noise hits both alike."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    p1 = pipeline_rate(seconds / 2)
    l1 = lxml_rate(seconds / 4)
    p2 = pipeline_rate(seconds / 2)
    l2 = lxml_rate(seconds / 4)
    growth = growing_store()
    p = statistics.median(p1["rates"] + p2["rates"])
    lim = statistics.median(l1["rates"] + l2["rates"])
    return {
        "inprocess_payments_per_s": round(p, 1),
        "lxml_limit_per_s": round(lim, 1),
        "inprocess_to_lxml_ratio": round(p / lim, 3),
        "inprocess_growing_store_per_s": growth,
        "inprocess_detail": {
            "cpu_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "pipeline_half_medians_per_s": [round(p1["median_per_s"], 1), round(p2["median_per_s"], 1)],
            "lxml_half_medians_per_s": [round(l1["median_per_s"], 1), round(l2["median_per_s"], 1)],
            "pipeline_rounds": len(p1["rates"]) + len(p2["rates"]),
            "pipeline_round_max_per_s": round(max(p1["rates"] + p2["rates"]), 1),
            "lxml_round_max_per_s": round(max(l1["rates"] + l2["rates"]), 1),
            "per_step_us": p2["per_step_us"],
            "messages": list(MESSAGES),
            "persistence": "eventsourcing.popo with the audit chain, zlib and AES-GCM (bench/chained_popo.py); S3/SQS/SNS in memory (bench/fakes.py)",
        },
    }


if __name__ == "__main__":
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 6.0
    print(json.dumps(measure(secs)))
