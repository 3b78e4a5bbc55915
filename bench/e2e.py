"""End to end: the deployed stack on a MiniStack of the bench's own, driven over HTTP.

Open-loop load: payment i starts at t0 + i/rate whatever happened to the earlier ones
(a thread pool does GET /uuid then POST /inbox). Latency of a payment = from sending its
POST /inbox to its release notification arriving on an SQS queue subscribed to the
stack's release topic (one thread long-polls it and stamps arrivals). A sample is
confirmed with POST /outbox = 200.

While it runs, the CPU time of every process of the MiniStack (the gateway and each
Lambda worker subprocess) is sampled from /proc, so a report says where the time went.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import requests

EVENTS = Path(__file__).resolve().parent.parent / "events"
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# -- the local stack -------------------------------------------------------------------


@contextmanager
def ministack_stack() -> Iterator[dict[str, Any]]:
    """Start a MiniStack on a free loopback port, deploy the app, yield the stack; stop it."""
    from infra import ministack
    from infra.deploy import deploy_local

    for k, v in ministack.CREDENTIALS.items():
        os.environ.setdefault(k, v)
    os.environ.setdefault("AWS_DEFAULT_REGION", ministack.REGION)
    with tempfile.TemporaryDirectory(prefix="pacsflow-bench-") as state:
        port = ministack.free_port()
        proc = ministack.start(port, Path(state) / "ministack.log", state_dir=Path(state))
        try:
            stack = deploy_local(ministack.endpoint(port))
            stack["ministack_pid"] = proc.pid
            stack["lambda_proxy_pid"] = ministack.LAMBDA_PROXIES.get(proc.pid)
            stack["state_dir"] = state
            yield stack
        finally:
            ministack.stop(proc.pid)


def session() -> boto3.session.Session:
    from infra import ministack

    return boto3.session.Session(
        region_name=ministack.REGION,
        aws_access_key_id=ministack.CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=ministack.CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def auth_headers(stack: dict[str, Any]) -> dict[str, str]:
    """A bearer token of the stack's first demo client (OAuth2 client credentials at the
    gateway's token endpoint, as tests/e2e does), or nothing if the stack has no clients."""
    clients = stack.get("clients") or []
    if not clients or not stack.get("token_url"):
        return {}
    client = clients[0]
    r = requests.post(
        stack["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


# -- release notifications -------------------------------------------------------------


class ReleaseWatcher:
    """An SQS queue subscribed to the release topic, long-polled by one thread."""

    def __init__(self, stack: dict[str, Any]) -> None:
        endpoint = stack["endpoint_url"]
        s = session()
        self.sqs = s.client("sqs", endpoint_url=endpoint)
        sns = s.client("sns", endpoint_url=endpoint)
        self.url = self.sqs.create_queue(QueueName=f"bench-released-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=stack["outputs"]["ReleasedTopicArn"], Protocol="sqs", Endpoint=arn)
        self.arrived: dict[str, float] = {}
        self.status: Counter = Counter()
        self.duplicates = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                msgs = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                    "Messages", []
                )
            except Exception:
                time.sleep(0.1)
                continue
            now = time.monotonic()
            for m in msgs:
                body = json.loads(m["Body"])
                attrs = body.get("MessageAttributes", {})
                tx = attrs.get("transaction_id", {}).get("Value")
                if tx is None:
                    tx = json.loads(body.get("Message", "{}")).get("transaction_id")
                if tx in self.arrived:
                    self.duplicates += 1
                else:
                    self.arrived[tx] = now
                    self.status[attrs.get("tx_sts", {}).get("Value", "?")] += 1
            if msgs:
                self.sqs.delete_message_batch(
                    QueueUrl=self.url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)],
                )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# -- CPU accounting from /proc ---------------------------------------------------------


def stack_cpu(stack: dict[str, Any]) -> dict[str, float]:
    """CPU seconds of the MiniStack's processes and of its Lambda proxy's, by role."""
    leaders = {stack.get("ministack_pid"): "gateway", stack.get("lambda_proxy_pid"): "lambda-proxy"}
    return process_group_cpu({pid: role for pid, role in leaders.items() if pid})


def process_group_cpu(leaders: dict[int, str]) -> dict[str, float]:
    """CPU seconds (user+system) of every live process in the process groups of `leaders`
    (pid -> the leader's role), by role."""
    out: Counter = Counter()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pgid = int(fields[2])  # field 5 (pgrp) of /proc/pid/stat
        if pgid not in leaders:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        role = leaders[pgid] if int(pid) == pgid else _worker_role(cmd, pid)
        out[role] += cpu
        out[f"#{role}"] += 1
    return dict(out)


def _worker_role(cmd: str, pid: str) -> str:
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = ""
    for name in ("APIHandler", "Incoming", "Processing", "Releasing", "ViewFollower", "Digester"):
        if name in cmd or name in cwd:
            return f"lambda:{name}"
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        env = b""
    for name in ("APIHandler", "Incoming", "Processing", "Releasing", "ViewFollower", "Digester"):
        if f"-{name}-".encode() in env:
            return f"lambda:{name}"
    return "other"


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


# Functions the load reaches only after a while: the SLA deadline messages of the first
# payments (delivered SlaSeconds after /uuid, default 30) and the two schedules (every
# minute: the sweep, the failover controller). The warm-up lasts until each has run once.
FIRST_RUN_S = 75.0  # the later of SlaSeconds (30) and the schedules (60 s), and 15 s more


def warm_up(
    stack: dict[str, Any], concurrency: int = 8, payments: int = 10, first_run_s: float = FIRST_RUN_S
) -> dict[str, Any]:
    """Spawn a pool of warm API workers (`concurrency` GET /uuid at once, a few rounds),
    then settle a few payments one by one so that every step's worker is warm, then wait
    until `first_run_s` after the start: by then the deadline function and the scheduled ones
    have run once. Without that wait the first minute of a load paid their cold workers
    (~1 s of CPU each, on a stack using 1.6 of 2 cores at 20/s): the steady run's p99 was
    1.2 to 4.4 s over six runs, against 0.28 s after it (2026-11-29).

    MiniStack starts one worker subprocess per *concurrent* invocation, unbounded, and a
    cold worker costs ~1 s of CPU (imports, JWKS): without this, an open-loop load on a
    2-core machine spawns dozens of workers at once and never recovers (see the README
    of bench results)."""
    api = stack["api_url"].rstrip("/")
    auth = auth_headers(stack)
    from bench.messages import fresh

    t0 = time.monotonic()

    def uuid_call(_: int) -> int:
        return requests.get(f"{api}/uuid", headers={"X-Message-Type": "pacs.008", **auth}, timeout=120).status_code

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        codes = Counter()
        for _ in range(3):
            codes.update(pool.map(uuid_call, range(concurrency)))
    watcher = ReleaseWatcher(stack)
    s = requests.Session()
    txs = []
    for _ in range(payments):
        tx = s.get(f"{api}/uuid", headers={"X-Message-Type": "pacs.008", **auth}, timeout=120).json()["transaction_id"]
        s.post(
            f"{api}/inbox",
            data=fresh(_),
            timeout=120,
            headers={"X-Transaction-Id": tx, "X-Message-Type": "pacs.008", "Content-Type": "application/xml", **auth},
        )
        txs.append(tx)
        time.sleep(0.2)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not set(txs) <= watcher.arrived.keys():
        time.sleep(0.2)
    watcher.stop()
    time.sleep(max(0.0, t0 + first_run_s - time.monotonic()))
    return {
        "api_concurrency": concurrency,
        "uuid_status": {str(k): v for k, v in codes.items()},
        "payments_settled": len(set(txs) & watcher.arrived.keys()),
        "seconds": round(time.monotonic() - t0, 1),
        "cpu_s_by_process": {k: round(v, 2) for k, v in stack_cpu(stack).items()},
    }


# -- the load --------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def latency_blocks(latencies: dict[int, float], count: int, block: int) -> list[dict[str, Any]]:
    """p50 and p99 of each run of `block` payments (by issue order; payments that never
    completed are left out of their block, and reported apart)."""
    blocks = []
    for b in range(0, count, block):
        vals = [latencies[i] for i in range(b, min(b + block, count)) if i in latencies]
        if vals:
            blocks.append(
                {
                    "from": b,
                    "n": len(vals),
                    "p50_s": round(percentile(vals, 50), 3),
                    "p99_s": round(percentile(vals, 99), 3),
                }
            )
    return blocks


def first_last(ordered: list[float], block: int) -> dict[str, float | None]:
    """p99 of the first and of the last `block` completed payments and their ratio: flat
    is a ratio near 1. None when the run has fewer than two blocks (they would overlap)."""
    if len(ordered) < 2 * block:
        return {"p99_first_s": None, "p99_last_s": None, "p99_last_over_first": None}
    first = percentile(ordered[:block], 99)
    last = percentile(ordered[-block:], 99)
    assert first is not None and last is not None
    return {
        "p99_first_s": round(first, 3),
        "p99_last_s": round(last, 3),
        "p99_last_over_first": round(last / first, 2) if first > 0 else None,
    }


def hop_breakdown(
    api: str, auth: dict, sample: dict[int, str], wall_sent: dict[int, float], arrived_wall: dict[str, float]
) -> dict[str, list]:
    """Where a payment's latency goes, from its events' timestamps (GET /transactions/{id}/events):
    POST /inbox sent -> Received -> Accepted -> Released -> notification polled."""
    from datetime import datetime

    gaps: dict[str, list[float]] = {
        "inbox->Received": [],
        "Received->Accepted": [],
        "Accepted->Released": [],
        "Released->notified": [],
    }
    s = requests.Session()
    for i, tx in sample.items():
        try:
            events = s.get(f"{api}/transactions/{tx}/events", headers=auth, timeout=30).json()["events"]
        except Exception:
            continue
        at = {e["type"]: datetime.fromisoformat(e["timestamp"]).timestamp() for e in events}
        if "Rejected" in at and "Accepted" not in at:
            at["Accepted"] = at["Rejected"]  # the processing step's decision either way
        if not {"Received", "Accepted", "Released"} <= at.keys() or tx not in arrived_wall:
            continue
        gaps["inbox->Received"].append(at["Received"] - wall_sent[i])
        gaps["Received->Accepted"].append(at["Accepted"] - at["Received"])
        gaps["Accepted->Released"].append(at["Released"] - at["Accepted"])
        gaps["Released->notified"].append(arrived_wall[tx] - at["Released"])
    return {k: [round(percentile(v, 50), 3), round(percentile(v, 99), 3)] for k, v in gaps.items() if v}


def run_load(
    stack: dict[str, Any],
    rate: float,
    count: int,
    drain_s: float = 60.0,
    workers: int = 64,
    max_backlog_s: float = 15.0,
    block: int = 1000,
) -> dict[str, Any]:
    """Open-loop load; stops issuing payments (aborted=True) once more than `max_backlog_s`
    seconds' worth of them are waiting for a client thread: the stack is not keeping up,
    and going on would only measure the queue. Latencies are summarised per `block`
    payments, in the order they were issued (a drift over a long run shows there)."""
    api = stack["api_url"].rstrip("/")
    from bench.messages import fresh

    auth = auth_headers(stack)
    watcher = ReleaseWatcher(stack)
    local = threading.local()
    sent_at: dict[int, float] = {}
    wall_sent: dict[int, float] = {}
    tx_of: dict[int, str] = {}
    started: dict[int, float] = {}
    http_ms: dict[str, list[float]] = {"uuid": [], "inbox": []}
    errors: Counter = Counter()
    lock = threading.Lock()

    def http() -> requests.Session:
        if not hasattr(local, "s"):
            local.s = requests.Session()
        return local.s

    finished = [0]

    def pay(i: int) -> None:
        started[i] = time.monotonic()
        try:
            _pay(i)
        finally:
            with lock:
                finished[0] += 1

    def _pay(i: int) -> None:
        try:
            t0 = time.monotonic()
            r = http().get(f"{api}/uuid", headers={"X-Message-Type": "pacs.008", **auth}, timeout=60)
            t1 = time.monotonic()
            if r.status_code // 100 != 2:
                with lock:
                    errors[f"uuid {r.status_code}"] += 1
                return
            tx = r.json()["transaction_id"]
            t2 = time.monotonic()
            wall_sent[i] = time.time()
            r = http().post(
                f"{api}/inbox",
                data=fresh(i),
                timeout=60,
                headers={
                    "X-Transaction-Id": tx,
                    "X-Message-Type": "pacs.008",
                    "Content-Type": "application/xml",
                    **auth,
                },
            )
            t3 = time.monotonic()
            with lock:
                http_ms["uuid"].append((t1 - t0) * 1e3)
                http_ms["inbox"].append((t3 - t2) * 1e3)
                if r.status_code // 100 != 2:
                    errors[f"inbox {r.status_code}"] += 1
                    return
                sent_at[i], tx_of[i] = t2, tx
        except Exception as e:
            with lock:
                errors[f"exception {type(e).__name__}"] += 1

    cpu_before = stack_cpu(stack)
    me_before = self_cpu()
    aborted_at = None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        t0 = time.monotonic() + 0.5
        for i in range(count):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if i - finished[0] > workers + rate * max_backlog_s:
                aborted_at = i
                break
            pool.submit(pay, i)
        load_end = time.monotonic()
    count = len(started)
    all_sent = time.monotonic()
    expected = set(tx_of.values())
    deadline, last_progress, last_n = time.monotonic() + drain_s, time.monotonic(), -1
    while time.monotonic() < deadline:
        n = len(expected & watcher.arrived.keys())
        if n == len(expected):
            break
        if n != last_n:
            last_n, last_progress = n, time.monotonic()
        elif time.monotonic() - last_progress > 20:
            break  # nothing has arrived for 20 s
        time.sleep(0.2)
    end = time.monotonic()
    cpu_after = stack_cpu(stack)
    me_after = self_cpu()
    watcher.stop()

    latencies = {i: watcher.arrived[tx] - sent_at[i] for i, tx in tx_of.items() if tx in watcher.arrived}
    ordered = [latencies[i] for i in sorted(latencies)]
    blocks = latency_blocks(latencies, count, block)
    sample = list(tx_of.values())[:: max(1, len(tx_of) // 20)][:20]
    outbox = Counter()
    s = requests.Session()
    for tx in sample:
        r = s.post(f"{api}/outbox", headers={"X-Transaction-Id": tx, **auth}, timeout=30)
        outbox[r.status_code] += 1
    hops = hop_breakdown(
        api,
        auth,
        {i: tx_of[i] for i in list(tx_of)[:: max(1, len(tx_of) // 50)]},
        wall_sent,
        {tx: watcher.arrived[tx] - (time.monotonic() - time.time()) for tx in tx_of.values() if tx in watcher.arrived},
    )
    lag = [started[i] - (t0 + i / rate) for i in started]
    starts = sorted(started.values())
    cpu = {k: round(cpu_after.get(k, 0) - cpu_before.get(k, 0), 2) for k in cpu_after if not k.startswith("#")}
    wall = end - t0
    drift = first_last(ordered, block)
    return {
        "rate_target_per_s": rate,
        "aborted_after": aborted_at,
        "payments": count,
        "achieved_start_rate_per_s": round((len(starts) - 1) / (starts[-1] - starts[0]), 2)
        if len(starts) > 1
        else None,
        "accepted_202": len(tx_of),
        "completed": len(latencies),
        "never_completed": len(tx_of) - len(latencies),
        "errors": dict(errors),
        "error_count": sum(errors.values()),
        "duplicate_notifications": watcher.duplicates,
        "released_status": dict(watcher.status),
        "e2e_p50_s": round(percentile(ordered, 50), 3) if ordered else None,
        "e2e_p90_s": round(percentile(ordered, 90), 3) if ordered else None,
        "e2e_p99_s": round(percentile(ordered, 99), 3) if ordered else None,
        "e2e_max_s": round(max(ordered), 3) if ordered else None,
        "block": block,
        **drift,
        "blocks": blocks,
        "completion_rate_per_s": round(
            len(latencies) / (max(watcher.arrived[t] for t in expected if t in watcher.arrived) - t0), 2
        )
        if latencies
        else None,
        "http_uuid_ms_p50_p99": [
            round(percentile(http_ms["uuid"], 50) or 0, 1),
            round(percentile(http_ms["uuid"], 99) or 0, 1),
        ],
        "http_inbox_ms_p50_p99": [
            round(percentile(http_ms["inbox"], 50) or 0, 1),
            round(percentile(http_ms["inbox"], 99) or 0, 1),
        ],
        "schedule_lag_s_p50_p99": [round(percentile(lag, 50) or 0, 3), round(percentile(lag, 99) or 0, 3)],
        "outbox_sample_status": {str(k): v for k, v in outbox.items()},
        "hops_s_p50_p99": hops,
        "load_s": round(load_end - t0, 1),
        "drain_s": round(end - all_sent, 1),
        "cpu_s_by_process": cpu,
        "cpu_ms_per_payment_by_process": {k: round(v / max(1, len(latencies)) * 1e3, 1) for k, v in cpu.items()},
        "processes": {k[1:]: v for k, v in cpu_after.items() if k.startswith("#")},
        "bench_client_cpu_s": round(me_after - me_before, 2),
        "wall_s": round(wall, 1),
        "machine_cpus": os.cpu_count(),
        "auth": bool(auth),
    }


def long_run_summary(run: dict[str, Any]) -> dict[str, Any]:
    """What a long run says about drift: p99 of its first and last block, their ratio, and
    whether every payment made it."""
    keys = ("payments", "completed", "error_count", "never_completed", "aborted_after", "e2e_p50_s", "e2e_p99_s")
    return {
        **{k: run[k] for k in keys},
        **{k: run[k] for k in ("block", "p99_first_s", "p99_last_s", "p99_last_over_first")},
        "p99_per_block": [b["p99_s"] for b in run["blocks"]],
    }


def worst_ratio(runs: list[dict[str, Any]]) -> float | None:
    """The largest last/first p99 ratio over the runs; None if any run has none (too short, or
    nothing completed): a run that cannot be judged must not pass as flat."""
    ratios = [r["p99_last_over_first"] for r in runs]
    if not ratios or any(x is None for x in ratios):
        return None
    return max(ratios)
