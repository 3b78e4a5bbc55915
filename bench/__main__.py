"""`make bench`: measure, print a table, write bench/results.json.

    python -m bench                 # everything: in-process, costs, 60 s e2e, 10,000-payment e2e
    python -m bench --quick         # smoke run: short in-process, costs, 10 s / 200-payment e2e
    python -m bench --skip-e2e      # no HTTP load (in-process figures and costs only)
    python -m bench --long 0        # skip the 10,000-payment runs
    python -m bench --only e2e --long 2000 --block 500 --runs 3   # shorter drift check
    python -m bench --only saturation  # step the rate up until p99 > 1 s; bench/saturation.png
    python -m bench --only inprocess,costs
    python -m bench --only export   # `audit export` events/s and peak memory (moto, in process)
    python -m bench --only recovery    # view replay and recovery: in process, and on a stack
    python -m bench --only coldstart   # import time and unzipped size of the deployment package

Timings on a shared machine are noisy: every figure is a median, and the in-process
figures are measured on one pinned core in a subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results.json"

RULES = {
    "requests": (
        "HTTP requests our code sends (botocore before-send hook, retries included) for one "
        "payment: GET /uuid, POST /inbox, the steps (inline, the default: the incoming message's "
        "invocation runs processing and releasing; 'queue_handoff': each step its own message), "
        "the view follower, the digester, the SLA deadline message of /uuid (delivered after the "
        "payment settled: one read), one POST /outbox. 'view_per_commit': the follower runs after "
        "every commit (one stream batch per event, the worst case at low traffic); "
        "'view_per_invocation': after each request or step invocation (a payment's commits of one "
        "invocation come within milliseconds, inside the follower's one-second batching window); "
        "'view_once': one batch per payment. The follower is fed the events table's real stream "
        "records (NEW_IMAGE). The digester writes one digest per batch of the stream, batched for "
        "DigestWindowSeconds (60): modelled as one PutObject per window at 20 payments/s, i.e. "
        "1/(20 x 60) per payment. Lambda's own SQS polling (ReceiveMessage + DeleteMessage per "
        "step or deadline message, batch of one) is listed apart; Lambda's DynamoDB Streams "
        "polling (GetRecords) is free of request charges and not counted."
    ),
    "wcu": "see bench/wcu.py docstring (item size, max(old, new), transactions x2, GSI per index)",
}


def run_inprocess(seconds: float) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.inprocess", str(seconds)],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_json(module: str, *args: str) -> dict[str, Any]:
    """`python -m module args` in a subprocess: its last line of output, as JSON."""
    out = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_recovery(rounds: int) -> dict[str, Any]:
    """bench/recovery.py in a subprocess pinned to one core, as run_inprocess."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.recovery", str(rounds)], cwd=REPO, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def save(results: dict[str, Any], output: str) -> None:
    Path(output).write_text(json.dumps(results, indent=1, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 s / 200-payment e2e, no long run")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated: inprocess,coldstart,costs,e2e,saturation,export,recovery "
        "(the output's figures of the other parts are kept)",
    )
    parser.add_argument("--rate", type=float, default=20.0, help="payments per second (e2e)")
    parser.add_argument(
        "--seconds", type=float, default=None, help="length of the steady e2e run (default 60; quick 10)"
    )
    parser.add_argument("--long", type=int, default=None, help="payments of the long run (default 10000; quick 0)")
    parser.add_argument("--runs", type=int, default=3, help="long runs in a row, on the same stack")
    parser.add_argument("--block", type=int, default=1000, help="p99 blocks of the long run (first vs last)")
    parser.add_argument("--warm-workers", type=int, default=8, help="API workers spawned before the load")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    every = {"inprocess", "coldstart", "costs", "e2e", "export", "recovery", "saturation"}
    parts = set(filter(None, args.only.split(","))) or every
    if args.skip_e2e:
        parts -= {"e2e", "saturation"}
    seconds = args.seconds if args.seconds is not None else (10 if args.quick else 60)
    long_count = args.long if args.long is not None else (0 if args.quick else 10_000)

    sys.path.insert(0, str(REPO))
    from bench import report

    results: dict[str, Any] = {}
    if args.only and Path(args.output).exists():  # the parts not run keep their figures
        results = json.loads(Path(args.output).read_text())
    results |= {"started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quick": args.quick, "rules": RULES}
    if "inprocess" in parts:
        print("in-process pipeline and lxml limit on one core ...", flush=True)
        results.update(run_inprocess(3.0 if args.quick else 8.0))
        results["inprocess_profile"] = run_json("bench.profile", "--json")  # where each step's time goes
        save(results, args.output)  # a later part may fail or be stopped
    if "coldstart" in parts:
        print("cold start: `import app` from the deployment package, 10 fresh interpreters ...", flush=True)
        results.update(run_json("bench.coldstart"))
        save(results, args.output)
    if "export" in parts:
        print("audit export over a growing table (moto, in process) ...", flush=True)
        out = subprocess.run(
            [sys.executable, "-m", "bench.export"], cwd=REPO, check=True, capture_output=True, text=True
        )
        detail = json.loads(out.stdout.strip().splitlines()[-1])
        results["export_events_per_s"] = detail["export_events_per_s"]
        results["export_peak_kib_growth"] = detail["export_peak_kib_growth"]
        results["export_detail"] = detail
        save(results, args.output)
    if "recovery" in parts:
        print("view replay and recovery at 100,000 events, in process ...", flush=True)
        results.update(run_recovery(1 if args.quick else 2))
        save(results, args.output)
    if parts & {"costs", "e2e", "recovery", "saturation"}:
        from bench import costs, dollars, e2e

        print("starting MiniStack and deploying the stack ...", flush=True)
        with e2e.ministack_stack() as stack:
            if "costs" in parts:
                print("counting requests and write units of a settled payment ...", flush=True)
                detail = costs.measure(stack["endpoint_url"], payments=3)
                results.update(report.cost_headlines(detail))
                results["costs_detail"] = detail
                results.update(dollars.figures(detail, results, RESULTS, report.HEADLINE))
                save(results, args.output)  # a later part may fail or be stopped
            if "e2e" in parts:
                print(f"warming up the API workers ({args.warm_workers}) ...", flush=True)
                results["e2e_warm_up"] = e2e.warm_up(stack, args.warm_workers)
                count = int(args.rate * seconds)
                print(f"e2e: {count} payments at {args.rate}/s ...", flush=True)
                steady = e2e.run_load(stack, args.rate, count)
                results["e2e_steady"] = steady
                for k in ("e2e_p50_s", "e2e_p99_s"):
                    results[k] = steady[k]
                    save(results, args.output)  # a later part may fail or be stopped
            if "saturation" in parts:
                from bench import saturation

                if "e2e" not in parts:  # the first step must not measure cold starts
                    results["e2e_warm_up"] = e2e.warm_up(stack, args.warm_workers)
                print("saturation: stepping the rate up until p99 > 1 s ...", flush=True)
                step_s = 15 if args.quick else 45
                rates = saturation.RATES[:3] if args.quick else saturation.RATES
                sat = saturation.climb(lambda rate: e2e.run_load(stack, rate, int(rate * step_s)), rates)
                results["e2e_max_rate_per_s"] = sat["e2e_max_rate_per_s"]
                results["e2e_saturation_curve"] = saturation.curve(sat)
                results["e2e_saturation_detail"] = sat
                saturation.plot(
                    results["e2e_saturation_curve"],
                    sat["p99_limit_s"],
                    HERE / "saturation.png",
                    f"local stack, {step_s} s per step, {os.cpu_count()} CPUs ({results['started_at']})",
                )
                save(results, args.output)
            # the long runs last: saturation steps on a stack of the steady run only, not of 30,000 payments
            if "e2e" in parts:
                runs: list[dict[str, Any]] = []
                for n in range(args.runs if long_count else 0):
                    print(f"e2e long run {n + 1}/{args.runs}: {long_count} payments at {args.rate}/s ...", flush=True)
                    runs.append(e2e.long_run_summary(e2e.run_load(stack, args.rate, long_count, block=args.block)))
                    results["e2e_long_runs"] = runs
                    results["e2e_p99_last_over_first"] = e2e.worst_ratio(runs)
                    save(results, args.output)
            if "recovery" in parts:  # after the load, if any: the stack's events are the e2e payments
                from bench import recovery

                print("view replay on the local stack ...", flush=True)
                # without the e2e load, the stack's events table is first seeded with payments
                results.update(recovery.replay_on_stack({**stack, **({} if "e2e" in parts else {"seed": True})}))
                save(results, args.output)
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    save(results, args.output)
    print()
    print(report.table(results))
    print(f"\nwritten to {os.path.relpath(args.output)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
