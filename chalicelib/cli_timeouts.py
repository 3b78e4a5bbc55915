"""``timeouts`` and ``stuck``: the sweep of chalicelib/pipeline/timeouts.py from a shell.

- ``timeouts [--run] [--local-stack FILE]``: the payments past their SLA (per the view);
  with ``--run``, each is timed out (RJCT AB06, released by the releasing step) exactly as
  the scheduled sweep does. Exit 0.
- ``stuck [--local-stack FILE]``: the same payments counted by step (status) and by how long
  they are past their SLA. Exit 0 when there are none, 1 otherwise.

The SLA is the deployed one's: PACSFLOW_SLA_SECONDS and PACSFLOW_SLA_SECONDS_BY_TYPE (as
`make run` passes them to the stack). The Region comes from the PACSFLOW_* environment of a
deployed stage, or from ``local-stack.json`` for the stack `make run` started.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from chalicelib.pipeline.timeouts import Sweep, stuck_summary


def sweep_of(local_stack: str | None) -> Sweep:
    from chalicelib import bootstrap
    from chalicelib.adapters.settings import Settings

    s = Settings()
    if local_stack:
        from chalicelib.cli import settings_of_local_stack

        stack = json.loads(Path(local_stack).read_text())
        outputs = stack["outputs"]
        s = settings_of_local_stack(stack).model_copy(
            update={
                "releasing_queue_url": outputs["ReleasingQueueUrl"],
                "deadlines_queue_url": outputs.get("SlaDeadlinesUrl", ""),
                "sla_seconds": s.sla_seconds,
                "sla_seconds_by_type": s.sla_seconds_by_type,
            }
        )
    return bootstrap.build(s).sweep


def cmd_timeouts(args: argparse.Namespace) -> int:
    sweep = sweep_of(args.local_stack)
    found = sweep() if args.run else sweep.overdue()
    for o in found:
        print(f"{o.transaction_id} {o.status} {o.overdue_s:.0f}s past its SLA")
    print(f"{len(found)} past their SLA" + ("; timed out (their RJCT reports are being released)" if args.run else ""))
    return 0


def cmd_stuck(args: argparse.Namespace) -> int:
    found = sweep_of(args.local_stack).overdue()
    for (status, age), count in sorted(stuck_summary(found).items()):
        print(f"{status:5} {age:>10}  {count}")
    print(f"{len(found)} payments past their SLA")
    return 1 if found else 0


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("timeouts", help="payments past their SLA; --run times them out (as the sweep does)")
    p.add_argument("--run", action="store_true", help="time them out")
    p.add_argument("--local-stack", metavar="FILE", help="the local-stack.json that `make run` wrote")
    p.set_defaults(func=cmd_timeouts)
    p = sub.add_parser("stuck", help="payments past their SLA, by step and age")
    p.add_argument("--local-stack", metavar="FILE", help="the local-stack.json that `make run` wrote")
    p.set_defaults(func=cmd_stuck)
