"""Dollars per million settled payments on AWS, from what bench/costs.py counted.

Why a model and not a bill: there is no AWS account here. What a payment uses is measured
(requests by step, service and operation; DynamoDB write and read units; SQS requests in
64 KB chunks by queue kind; bytes put to S3 and written to DynamoDB; in-process time per
step); what AWS charges for it is in bench/prices.json (dated, one Region, with sources);
what cannot be measured locally (how long a request keeps a function waiting, log bytes,
token reuse, X-Ray sampling, storage retention) is a stated assumption in the same file's
"model". The AWS guidance's figure goes through the same model from its request counts.

`breakdown` is pure: the costs detail, the per-step times and the prices in, dollars out.
A service or operation the prices do not cover raises UnpricedError rather than count as
free.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import wcu

HERE = Path(__file__).resolve().parent
PRICES = HERE / "prices.json"
CHALICE_CONFIG = HERE.parent / ".chalice" / "config.json"
GB = 1024**3
API_STEPS = ("issue (GET /uuid)", "submit (POST /inbox)", "outbox (POST /outbox)")
QUEUE_STEPS = ("incoming", "processing", "releasing")
FOLLOWER = "view follower"
# bench/inprocess.py's clock marks, by bench/costs.py's step names
INPROCESS_NAMES = {
    "issue (GET /uuid)": "issue",
    "submit (POST /inbox)": "submit",
    "incoming": "incoming",
    "processing": "processing",
    "releasing": "releasing",
    "outbox (POST /outbox)": "outbox",
}
# Microseconds per invocation when bench/inprocess.py has not measured a step: its last
# recorded run (bench/results.json at 76cfd94, one core), and for the view follower, which it
# does not time, a one-off in-process measure on 2026-11-29 (median of 250: the fold of a
# settled payment's events 168 us, rounded up for its digest).
DEFAULT_STEP_US = {
    "issue": 47.6,
    "submit": 37.5,
    "incoming": 274.1,
    "processing": 219.8,
    "releasing": 222.2,
    "outbox": 170.0,
    "view follower": 200.0,
}


class UnpricedError(KeyError):
    """A service or operation the payment uses has no price: it must not count as free."""


@dataclass(frozen=True)
class Usage:
    """What one settled payment uses, as AWS bills it."""

    requests: dict[str, dict[str, float]]  # service -> operation -> requests our code sends
    sqs_billed: dict[str, float]  # "fifo"/"standard" -> requests in 64 KB chunks, Lambda's polling included
    wcu: float
    rcu: float
    dynamodb_bytes: float  # stored, item overhead included
    s3_bytes: float  # stored
    invocations: float
    api_requests: float
    memory_mb: int
    cpu_s: float  # in-process time over all invocations, on one full core
    io_s: float  # stated wait for the requests


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    return json.loads(path.read_text())


def function_memory_mb(path: Path = CHALICE_CONFIG) -> int:
    """The functions' memory: chalice's lambda_memory_size (the template does not override it)."""
    return int(json.loads(path.read_text())["lambda_memory_size"])


def step_us(measured: dict[str, float] | None) -> dict[str, float]:
    """Time per invocation of each costs step: measured in process where it was, else stated."""
    measured = measured or {}
    times = {}
    for step in (*API_STEPS, *QUEUE_STEPS, FOLLOWER):
        name = INPROCESS_NAMES.get(step, step)
        times[step] = float(measured.get(name, DEFAULT_STEP_US[name]))
    return times


def io_class(service: str, operation: str, prices: dict[str, Any]) -> str:
    """The model's latency class of a request (prices.json model.io_ms)."""
    if service == "dynamodb":
        if operation in wcu.READ_OPERATIONS:
            return "dynamodb:read"
        if operation in wcu.WRITE_OPERATIONS:
            return "dynamodb:write"
    elif service == "s3":
        s3 = prices["services"]["s3"]
        if operation in s3["put_class_operations"]:
            return "s3:put"
        if operation in s3["get_class_operations"]:
            return "s3:get"
    elif service in ("sqs", "sns"):
        return service
    raise UnpricedError(f"no price or latency for {service}:{operation} (bench/prices.json)")


# DynamoDB deletes an expired item "within a few days" of its expiry (Developer Guide, "Time
# to Live"): an item with a time to live is billed for it plus this much.
TTL_DELETION_LAG_S = 2 * 86400


def dynamodb_stored_bytes(writes: list[dict[str, Any]], overhead: int, months: float) -> float:
    """Bytes one payment keeps in DynamoDB, averaged over `months` of storage: every
    events-table item (events, claims and retrieval records are put once, never overwritten),
    an item with a time to live (the duplicate claims) for the share of the months it lives;
    and the view's record as its last write left it, with the entry of each index it is still
    in (an index entry is its projection plus the item overhead, as DynamoDB bills it)."""
    period_s = months * 30.4375 * 86400
    events = 0.0
    for w in writes:
        if w["table"] == "events_table" and w["op"] == "Put" and not w["failed"]:
            share = 1.0 if w["lives_s"] is None else min(1.0, (w["lives_s"] + TTL_DELETION_LAG_S) / period_s)
            events += (w["stored_bytes"] + overhead) * share
    view = [w for w in writes if w["table"] == "transactions_table" and not w["failed"]]
    if not view:
        return events
    last = view[-1]
    return events + last["stored_bytes"] + overhead + sum(b + overhead for b in last["index_stored_bytes"].values())


def usage_of_mode(mode: dict[str, Any], times: dict[str, float], memory_mb: int, prices: dict[str, Any]) -> Usage:
    """One configuration of bench/costs.py's detail (e.g. aggregate_recorder/view_per_commit)."""
    by_step: dict[str, dict[str, float]] = mode["requests_by_step"]
    requests: dict[str, dict[str, float]] = {}
    io_ms = prices["model"]["io_ms"]
    io_s = 0.0
    for ops in by_step.values():
        for key, n in ops.items():
            service, operation = key.split(":", 1)
            requests.setdefault(service, {}).setdefault(operation, 0.0)
            requests[service][operation] += n
            io_s += n * io_ms[io_class(service, operation, prices)] / 1000
    # one invocation per API call and per step message (batch of one); one digest per follower batch
    invocations = {step: 1.0 for step in (*API_STEPS, *QUEUE_STEPS) if step in by_step}
    if FOLLOWER in by_step:
        invocations[FOLLOWER] = by_step[FOLLOWER].get("s3:PutObject", 1.0)
    overhead = prices["services"]["dynamodb"]["item_overhead_bytes"]
    return Usage(
        requests=requests,
        sqs_billed=dict(mode["sqs_billed_requests_per_payment"]),
        wcu=mode["wcu_per_payment"],
        rcu=mode["rcu_per_payment"],
        dynamodb_bytes=dynamodb_stored_bytes(
            mode["writes_of_last_payment"], overhead, prices["model"]["storage_months"]
        ),
        s3_bytes=float(sum(mode["s3_bytes_put_per_payment"].values())),
        invocations=sum(invocations.values()),
        api_requests=float(sum(1 for step in API_STEPS if step in by_step)),
        memory_mb=memory_mb,
        cpu_s=sum(times[step] * n for step, n in invocations.items()) / 1e6,
        io_s=io_s,
    )


def usage_of_guidance(mode: dict[str, Any], times: dict[str, float], prices: dict[str, Any]) -> Usage:
    """The AWS guidance's payment (prices.json model.aws_guidance), with our archive's bytes,
    our Lambda polling and our CPU time per API call and step."""
    g = prices["model"]["aws_guidance"]
    io_ms = prices["model"]["io_ms"]
    requests = {s: {op: float(n) for op, n in ops.items()} for s, ops in g["requests"].items()}
    io_s = sum(n * io_ms[io_class(s, op, prices)] / 1000 for s, ops in requests.items() for op, n in ops.items())
    polling = sum(mode["lambda_sqs_polling_detail"].values())
    kind = "fifo" if g["sqs_fifo"] else "standard"
    overhead = prices["services"]["dynamodb"]["item_overhead_bytes"]
    return Usage(
        requests=requests,
        sqs_billed={kind: sum(requests.get("sqs", {}).values()) + polling},
        wcu=float(g["wcu"]),
        rcu=float(g["rcu"]),
        dynamodb_bytes=float(g["dynamodb_stored_bytes"] + overhead),
        s3_bytes=float(mode["s3_bytes_put_per_payment"].get("archive", 0.0)),
        invocations=float(g["invocations"]["api"] + g["invocations"]["steps"]),
        api_requests=float(g["invocations"]["api"]),
        memory_mb=int(g["memory_mb"]),
        cpu_s=sum(times[step] for step in (*API_STEPS, *QUEUE_STEPS)) / 1e6,
        io_s=io_s,
    )


def price(usage: Usage, prices: dict[str, Any]) -> dict[str, Any]:
    """Dollars per million payments, per service and per line, and their total."""
    p, m = prices["services"], prices["model"]
    priced = {"dynamodb", "sqs", "sns", "s3"}
    for service in usage.requests:
        if service not in priced or service not in p:
            raise UnpricedError(f"no price for {service} (bench/prices.json)")
    if usage.requests.get("sqs") and not usage.sqs_billed:
        raise UnpricedError("SQS requests without their queue kind (sqs_billed_requests_per_payment)")
    for operation in usage.requests.get("sns", {}):
        if operation != "Publish":
            raise UnpricedError(f"no price for sns:{operation} (bench/prices.json)")
    storage = m["storage_months"]
    s3_ops = usage.requests.get("s3", {})
    s3 = p["s3"]
    puts = sum(n for op, n in s3_ops.items() if io_class("s3", op, prices) == "s3:put")
    gets = sum(n for op, n in s3_ops.items() if io_class("s3", op, prices) == "s3:get")
    memory_gb = usage.memory_mb / 1024
    stretch = max(1.0, m["cpu_full_vcpu_mb"] / usage.memory_mb)
    gb_s = memory_gb * (usage.cpu_s * stretch + usage.io_s)
    lam = p["lambda"]
    logs = m["log_bytes"]
    log_bytes = (
        usage.invocations * logs["per_invocation"]
        + usage.api_requests * logs["per_api_request"]
        + logs["app_per_payment"]
    )
    api_price = p["apigateway"][f"{p['apigateway']['api_type']}_requests_per_million"]
    lines = {
        "dynamodb writes": usage.wcu * p["dynamodb"]["write_request_unit_per_million"],
        "dynamodb reads": usage.rcu * p["dynamodb"]["read_request_unit_per_million"],
        "dynamodb storage": usage.dynamodb_bytes * 1e6 / GB * p["dynamodb"]["storage_gb_month"] * storage,
        "sqs requests": sum(n * p["sqs"][f"{kind}_requests_per_million"] for kind, n in usage.sqs_billed.items()),
        "sns publish": sum(usage.requests.get("sns", {}).values()) * p["sns"]["publish_per_million"],
        "s3 requests": (puts * s3["put_per_thousand"] + gets * s3["get_per_thousand"]) * 1000,
        "s3 storage": usage.s3_bytes * 1e6 / GB * s3["storage_gb_month"] * storage,
        "lambda requests": usage.invocations * lam["requests_per_million"],
        "lambda duration": gb_s * 1e6 * lam[f"gb_second_{lam['architecture']}"],
        "apigateway requests": usage.api_requests * api_price,
        "cognito tokens": 1e6 / m["payments_per_token"] * p["cognito"]["m2m_token_request"],
        "logs ingestion": log_bytes * 1e6 / GB * p["logs"]["ingestion_gb"],
        "xray traces": usage.invocations * m["xray_sampled_fraction"] * p["xray"]["traces_recorded_per_million"],
    }
    by_service: dict[str, float] = {}
    for line, usd in lines.items():
        service = line.split()[0]
        by_service[service] = by_service.get(service, 0.0) + usd
    return {
        "total": round(sum(lines.values()), 2),
        "by_service": {k: round(v, 2) for k, v in sorted(by_service.items(), key=lambda kv: -kv[1])},
        "by_line": {k: round(v, 3) for k, v in lines.items()},
        "usage_per_payment": {
            "requests": usage.requests,
            "sqs_billed": usage.sqs_billed,
            "wcu": usage.wcu,
            "rcu": usage.rcu,
            "dynamodb_bytes": round(usage.dynamodb_bytes),
            "s3_bytes": round(usage.s3_bytes),
            "lambda_invocations": usage.invocations,
            "lambda_memory_mb": usage.memory_mb,
            "lambda_gb_s": round(gb_s, 6),
            "cpu_ms": round(usage.cpu_s * 1000, 3),
            "cpu_ms_stretched": round(usage.cpu_s * stretch * 1000, 3),
            "io_ms": round(usage.io_s * 1000, 1),
            "api_requests": usage.api_requests,
            "log_bytes": round(log_bytes),
        },
    }


def breakdown(
    detail: dict[str, Any],
    measured_step_us: dict[str, float] | None,
    prices: dict[str, Any],
    memory_mb: int,
    headline: str,
) -> dict[str, Any]:
    """Every configuration bench/costs.py measured (any key with per-step requests), the
    headline one, and the AWS guidance's payment through the same model."""
    times = step_us(measured_step_us)
    modes = {
        key: price(usage_of_mode(mode, times, memory_mb, prices), prices)
        for key, mode in detail.items()
        if isinstance(mode, dict) and "requests_by_step" in mode
    }
    guidance = price(usage_of_guidance(detail[headline], times, prices), prices)
    return {
        "usd_per_million_payments": modes[headline]["total"],
        "usd_per_million_payments_aws_guidance": guidance["total"],
        "usd_breakdown": {
            "region": prices["region"],
            "prices_as_of": prices["as_of"],
            "headline": headline,
            "step_us": times,
            "step_us_source": "bench/inprocess.py" if measured_step_us else "stated defaults (bench/dollars.py)",
            "modes": modes,
            "aws_guidance": guidance,
        },
    }


def previous_step_us(results: dict[str, Any], path: Path) -> dict[str, float] | None:
    """The in-process times of this run, else of the last bench/results.json, else none."""
    for source in (results, json.loads(path.read_text()) if path.exists() else {}):
        measured = source.get("inprocess_detail", {}).get("per_step_us")
        if measured:
            return dict(measured)
    return None


def figures(detail: dict[str, Any], results: dict[str, Any], previous: Path, headline: str) -> dict[str, Any]:
    """`breakdown` with this repository's prices and function memory."""
    return breakdown(detail, previous_step_us(results, previous), load_prices(), function_memory_mb(), headline)
