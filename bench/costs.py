"""Requests and DynamoDB write units of one settled payment, counted in-process.

The use-case code runs in this process against a MiniStack, on tables, queues, a bucket
and a topic of its own (no Lambda consumes them, so nothing races the steps). Every
botocore client the pipeline holds gets two hooks: `before-send` counts the HTTP requests
actually sent (retries included) per service and per step; `before-parameter-build` and
`after-call` capture each DynamoDB write's parameters and outcome, priced by bench.wcu.

A step's message is taken from its queue as the Lambda service would (ReceiveMessage of a
batch of one, DeleteMessage after the handler), with a separate client whose requests are
reported apart: the Lambda service pays them, not our code.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import boto3
import botocore.client

from bench import wcu

EVENTS = Path(__file__).resolve().parent.parent / "events"
STEPS = (
    "issue (GET /uuid)",
    "submit (POST /inbox)",
    "incoming",
    "processing",
    "releasing",
    "view follower",
    "digester",
    "outbox (POST /outbox)",
)


class Meter:
    """Counts requests per (step, service, operation) and prices DynamoDB writes."""

    def __init__(self, model: wcu.TableModel) -> None:
        self.step = "setup"
        self.requests: Counter = Counter()
        self.charges: list[tuple[str, wcu.Charge]] = []
        self.model = model
        self._hooked: dict[int, Any] = {}
        self.usage = UsageMeter(self)

    def attach(self, client: Any) -> None:
        if id(client) in self._hooked:
            return
        self._hooked[id(client)] = client
        events = client.meta.events
        events.register("before-send", self._before_send)
        events.register("before-parameter-build.dynamodb", self._capture)
        events.register("after-call.dynamodb", self._after_call)
        self.usage.attach(events)

    def attach_all(self, root: Any, depth: int = 7) -> int:
        """Hook every botocore client reachable from `root`'s attributes."""
        seen: set[int] = set()

        def walk(obj: Any, d: int) -> None:
            if id(obj) in seen or d < 0:
                return
            seen.add(id(obj))
            if isinstance(obj, botocore.client.BaseClient):
                self.attach(obj)
                return
            if isinstance(obj, (str, bytes, int, float, bool, type(None))):
                return
            values = obj.values() if isinstance(obj, dict) else getattr(obj, "__dict__", {}).values()
            for v in list(values):
                walk(v, d - 1)

        walk(root, depth)
        return len(self._hooked)

    def _before_send(self, request: Any, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.requests[(self.step, service, operation)] += 1

    def _capture(self, params: dict, model: Any, context: dict, **_: Any) -> None:
        if model.name in wcu.WRITE_OPERATIONS:
            context["bench_write"] = (model.name, copy.deepcopy(params))

    def _after_call(self, http_response: Any, parsed: dict, model: Any, context: dict, **_: Any) -> None:
        captured = context.pop("bench_write", None)
        if captured is None:
            return
        failed = http_response.status_code != 200
        for charge in self.model.request(captured[0], captured[1], failed=failed):
            self.charges.append((self.step, charge))

    def detach(self) -> None:
        """Unhook every client (boto3 clients are cached per process and outlive a run)."""
        for client in self._hooked.values():
            events = client.meta.events
            events.unregister("before-send", self._before_send)
            events.unregister("before-parameter-build.dynamodb", self._capture)
            events.unregister("after-call.dynamodb", self._after_call)
            self.usage.detach(events)
        self._hooked.clear()

    def reset(self) -> None:
        self.requests.clear()
        self.charges.clear()
        self.usage.reset()


class UsageMeter:
    """What bench/dollars.py prices beyond requests and write units, for the Meter's steps:
    DynamoDB read units (Query and GetItem), SQS requests billed by queue kind (FIFO or
    standard, in 64 KB chunks, Lambda's polling included) and bytes put to S3 per bucket.

    MiniStack's ConsumedCapacity for reads is flat (1 or 0.5 whatever the size), so read
    units are computed from the items by wcu.read_units, with the full item from the Meter's
    table model where the run wrote it (a projection is billed on the whole item)."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.rcu: Counter = Counter()
        self.sqs: Counter = Counter()
        self.s3_bytes: Counter = Counter()

    def attach(self, events: Any) -> None:
        events.register("before-parameter-build", self._before)
        events.register("after-call.dynamodb", self._after_read)

    def detach(self, events: Any) -> None:
        events.unregister("before-parameter-build", self._before)
        events.unregister("after-call.dynamodb", self._after_read)

    def reset(self) -> None:
        self.rcu.clear()
        self.sqs.clear()
        self.s3_bytes.clear()

    def _counted(self) -> bool:
        return not self.meter.step.startswith("bench")

    def _before(self, params: dict, model: Any, context: dict, event_name: str, **_: Any) -> None:
        service = event_name.split(".")[1]
        if service == "dynamodb" and model.name in wcu.READ_OPERATIONS:
            context["bench_read"] = (params.get("TableName"), bool(params.get("ConsistentRead")))
        elif service == "sqs" and "QueueUrl" in params and self._counted():
            kind = "fifo" if params["QueueUrl"].endswith(".fifo") else "standard"
            body = params.get("MessageBody", "")
            self.sqs[kind] += max(1, -(-len(body.encode("utf-8")) // SQS_CHUNK))
        elif service == "s3" and model.name == "PutObject" and self._counted():
            self.s3_bytes[params["Bucket"].split("-", 2)[-1]] += _body_size(params.get("Body", b""))

    def _after_read(self, parsed: dict, context: dict, **_: Any) -> None:
        captured = context.pop("bench_read", None)
        if captured is None or not self._counted():
            return
        table, consistent = captured
        returned = [parsed["Item"]] if "Item" in parsed else parsed.get("Items", [])
        size = sum(wcu.item_size(self._whole(table, item)) for item in returned)
        self.rcu[self.meter.step] += wcu.read_units(size, consistent)

    def _whole(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        """The item as stored, if the run wrote it (a read is billed on it, not the projection)."""
        spec = self.meter.model.specs.get(table)
        if spec is None or not all(k in item for k in spec.keys):
            return item
        return self.meter.model.items.get((table, spec.key_of(item)), item)

    def summary(self, payments: int) -> dict[str, Any]:
        per = lambda n: round(n / payments, 2)  # noqa: E731
        return {
            "rcu_per_payment": per(sum(self.rcu.values())),
            "rcu_by_step": {k: per(v) for k, v in self.rcu.items()},
            "sqs_billed_requests_per_payment": {k: per(v) for k, v in sorted(self.sqs.items())},
            "s3_bytes_put_per_payment": {k: per(v) for k, v in sorted(self.s3_bytes.items())},
        }


SQS_CHUNK = 64 * 1024  # SQS bills each 64 KB chunk of a payload as one request


def _body_size(body: Any) -> int:
    """Bytes of a PutObject Body: bytes, text, or a seekable file left where it was."""
    if isinstance(body, str):
        return len(body.encode("utf-8"))
    if isinstance(body, (bytes, bytearray)):
        return len(body)
    position = body.tell()
    end = body.seek(0, os.SEEK_END)
    body.seek(position)
    return end - position


def _snake(logical_id: str) -> str:
    """'PositionsTable' -> 'positions_table' (the Settings field that names it)."""
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", "_", logical_id).lower()


def time_to_live(prefix: str) -> dict[str, str]:
    """Each table's time-to-live attribute (infra/template.py), by the names of
    `table_definitions` (CreateTable takes no TTL: it is set on the table afterwards)."""
    from infra.template import choose, evaluate_conditions, storage

    return {
        f"{prefix}-{_snake(logical)}": r["Properties"]["TimeToLiveSpecification"]["AttributeName"]
        for logical, r in choose(storage(), evaluate_conditions()).items()
        if r.get("Type") == "AWS::DynamoDB::Table" and "TimeToLiveSpecification" in r["Properties"]
    }


def table_definitions(prefix: str) -> dict[str, dict[str, Any]]:
    """Every DynamoDB table of the stack (infra/template.py), as CreateTable arguments,
    named <prefix>-<field> after the Settings field that names it."""
    from infra.template import choose, evaluate_conditions, storage

    definitions = {}  # the single-Region stack's: its conditions resolved (Fn::If)
    for logical, resource in choose(storage(), evaluate_conditions()).items():
        if resource.get("Type") != "AWS::DynamoDB::Table":
            continue
        p = resource["Properties"]
        d = {k: p[k] for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode") if k in p}
        if "StreamSpecification" in p:
            d["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
        definitions[f"{prefix}-{_snake(logical)}"] = d
    return definitions


def create_resources(endpoint: str, prefix: str) -> dict[str, str]:
    session = boto3.session.Session()
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    tables = {}
    for name, d in table_definitions(prefix).items():
        ddb.create_table(TableName=name, **d)
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        tables[name[len(prefix) + 1 :]] = name
    s3 = session.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=f"{prefix}-archive")
    sqs = session.client("sqs", endpoint_url=endpoint)
    urls = {}
    for step in ("incoming", "processing", "releasing"):
        urls[step] = sqs.create_queue(
            QueueName=f"{prefix}-{step}.fifo",
            Attributes={"FifoQueue": "true", "VisibilityTimeout": "30"},
        )["QueueUrl"]
    # the SLA deadlines (a standard queue) and the digests the Digester writes
    deadlines = sqs.create_queue(QueueName=f"{prefix}-deadlines")["QueueUrl"]
    s3.create_bucket(Bucket=f"{prefix}-digests", ObjectLockEnabledForBucket=True)
    topic = session.client("sns", endpoint_url=endpoint).create_topic(Name=f"{prefix}-released")["TopicArn"]
    return {
        "deadlines_queue_url": deadlines,
        "digests_bucket": f"{prefix}-digests",
        **tables,
        "archive_bucket": f"{prefix}-archive",
        "incoming_queue_url": urls["incoming"],
        "processing_queue_url": urls["processing"],
        "releasing_queue_url": urls["releasing"],
        "released_topic_arn": topic,
    }


OWNER = "bench-client"


def build_pipeline(resources: dict[str, str], extra_env: dict[str, str], settings: dict[str, str] | None = None):
    from chalicelib import bootstrap
    from chalicelib.adapters.settings import Settings
    from chalicelib.pipeline.payments import Payments

    s = Settings(**{k: v for k, v in resources.items() if k in Settings.model_fields}, **(settings or {}))
    env = bootstrap.payments_env(s)
    env.update(extra_env)
    service = bootstrap.build(s, payments=Payments(env=env))
    return service, service.adapters.view


class LambdaPoller:
    """What the Lambda service does per step message: receive a batch (of one), delete it."""

    def __init__(self, endpoint: str, meter: Meter) -> None:
        self.sqs = boto3.session.Session().client("sqs", endpoint_url=endpoint)
        meter.attach(self.sqs)
        self.meter = meter

    def take(self, url: str):
        import json

        from chalicelib.pipeline.messages import StepMessage

        previous, self.meter.step = self.meter.step, "lambda sqs polling"
        try:
            for _ in range(20):
                msgs = self.sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1, AttributeNames=["All"]
                ).get("Messages", [])
                if msgs:
                    break
            else:
                raise RuntimeError(f"no message arrived on {url}")
        finally:
            self.meter.step = previous
        m = msgs[0]
        body = json.loads(m["Body"])
        return StepMessage(UUID(body["transaction_id"]), body, 1), m["ReceiptHandle"]

    def done(self, url: str, receipt: str) -> None:
        previous, self.meter.step = self.meter.step, "lambda sqs polling"
        try:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt)
        finally:
            self.meter.step = previous

    def polled(self, messages: int) -> None:
        """What the Lambda service pays for `messages` delayed messages of the standard
        deadlines queue (a ReceiveMessage and a DeleteMessage each), counted without taking
        them: they arrive after the SLA, which the bench does not wait for."""
        for op in ("ReceiveMessage", "DeleteMessage"):
            self.meter.requests[("lambda sqs polling", "sqs", op)] += messages
        self.meter.usage.sqs["standard"] += 2 * messages


class _StreamRecord:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def to_dict(self) -> dict[str, Any]:
        return self.raw


# The Digester (chalicelib/eventstore/digests.py) writes one digest per batch, and its batches
# wait DigestWindowSeconds: at the rate of the e2e bench, one PutObject covers this many payments.
PAYMENTS_PER_S = 20


@functools.lru_cache(maxsize=1)
def digest_window_s() -> int:
    from infra.template import merge_template

    return int(merge_template()["Parameters"]["DigestWindowSeconds"]["Default"])


class StreamTail:
    """The events table's stream, read as the Lambda service reads it for the stream's
    consumers (its GetRecords are free: this client is not metered), from the trim horizon on.
    Records come back as a Lambda event carries them (binary attributes as base64 text)."""

    def __init__(self, table: str) -> None:
        session = boto3.session.Session()
        self.streams = session.client("dynamodbstreams")
        stream = session.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
        (shard,) = self.streams.describe_stream(StreamArn=stream)["StreamDescription"]["Shards"]
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        self.digested: set[str] = set()

    def read(self, meter: Meter) -> list[_StreamRecord]:
        """The records since the last read; each new payment's share of a Digester's batch is
        counted to the step "digester" (1 / (PAYMENTS_PER_S x DigestWindowSeconds) PutObject)."""
        import base64

        records = []
        while True:
            page = self.streams.get_records(ShardIterator=self.iterator)
            records += page["Records"]
            self.iterator = page["NextShardIterator"]
            if not page["Records"]:
                break
        for record in records:
            change = record["dynamodb"]
            for image in (change.get("NewImage"), change.get("OldImage")):
                for value in (image or {}).values():
                    if "B" in value:
                        value["B"] = base64.b64encode(value["B"]).decode()
            pk = change["Keys"]["pk"]["S"]
            if not pk.startswith("$") and pk not in self.digested:
                self.digested.add(pk)
                meter.requests[("digester", "s3", "PutObject")] += 1 / (PAYMENTS_PER_S * digest_window_s())
        return [_StreamRecord(r) for r in records]


_TAILS: dict[str, StreamTail] = {}


def stream_of(pipeline) -> StreamTail:
    table = pipeline.adapters.settings.events_table
    if table not in _TAILS:
        _TAILS[table] = StreamTail(table)
    return _TAILS[table]


VIEW_MODES = {
    # one stream batch (one follower invocation) after every commit: the worst case, low traffic
    "view_per_commit": "commit",
    # one batch per client request or step invocation: what the follower's one-second batching
    # window gives when a payment's commits of one invocation come within milliseconds
    "view_per_invocation": "invocation",
    # one batch for the whole payment: the best case, high traffic
    "view_once": "payment",
}


def settle_one(pipeline, view, poller: LambdaPoller, meter: Meter, body: bytes, view_mode: str) -> str:
    """One payment through every step, as the Lambda service runs them: the incoming
    message (inline, the chain through releasing; by queue, each step's own message); the
    view follower per commit, per invocation or once (VIEW_MODES); the SLA deadline
    message `/uuid` sent, delivered after the payment settled; one POST /outbox."""
    from chalicelib import observability
    from chalicelib.pipeline.messages import StepMessage
    from chalicelib.pipeline.timeouts import DeadlineReached, utc_now
    from chalicelib.projections import follower

    each = VIEW_MODES[view_mode]
    tx = ""

    def follow() -> None:  # one stream batch: what the events table's stream has since the last
        records = stream_of(pipeline).read(meter)
        previous, meter.step = meter.step, "view follower"
        try:
            follower.follow(pipeline.payments, view, records)
        finally:
            meter.step = previous

    def invoked() -> None:
        if each == "invocation":
            follow()

    save = pipeline.payments.save
    inline_step = observability.inline_step

    def saved(*args: Any, **kwargs: Any) -> Any:
        result = save(*args, **kwargs)
        if each == "commit":
            follow()
        return result

    @contextmanager
    def named(step: str) -> Iterator[None]:  # a step run inline counts as itself
        previous, meter.step = meter.step, step
        try:
            with inline_step(step):
                yield
        finally:
            meter.step = previous

    pipeline.payments.save = saved
    observability.inline_step = named
    try:
        meter.step = "issue (GET /uuid)"
        payment = pipeline.issue_transaction("pacs.008", "bench-request", OWNER)
        tx = str(payment.id)
        invoked()
        meter.step = "submit (POST /inbox)"
        pipeline.submit(payment.id, "pacs.008", body, OWNER)
        invoked()
        a = pipeline.adapters
        steps = [("incoming", a.incoming.url, pipeline.incoming)]
        if a.settings.step_handoff == "queue":
            steps += [("processing", a.processing.url, pipeline.processing)]
            steps += [("releasing", a.releasing.url, pipeline.releasing)]
        for step, url, handler in steps:
            msg, receipt = poller.take(url)
            meter.step = step
            handler(msg)
            poller.done(url, receipt)
            invoked()
        if each == "payment":
            follow()
        # the SLA deadline message of /uuid comes after the payment settled: a read, nothing to do
        # (delivered here without its delay; its polling counted as a step message's)
        meter.step = "deadline (after the SLA)"
        poller.polled(1)
        after_sla = dataclasses.replace(pipeline.time_out, clock=lambda: utc_now() + timedelta(days=1))
        deadline = {"transaction_id": tx, "deadline": ""}
        DeadlineReached(after_sla, a.deadlines)(StepMessage(payment.id, deadline))
        meter.step = "outbox (POST /outbox)"
        report = pipeline.status_report(payment.id, OWNER)
    finally:
        pipeline.payments.save = save
        observability.inline_step = inline_step
    meter.step = "bench check (not counted)"
    status = pipeline.payments.get_payment(payment.id).tx_sts.value
    assert status == "ACSC", f"the payment did not settle: {status}"
    assert report.startswith(b"<?xml") or b"FIToFIPmtStsRpt" in report, report[:200]
    meter.step = "idle"
    return tx


def summarise(meter: Meter, payments: int) -> dict[str, Any]:
    ours = {k: v for k, v in meter.requests.items() if k[0] != "lambda sqs polling" and not k[0].startswith("bench")}
    polling = {k: v for k, v in meter.requests.items() if k[0] == "lambda sqs polling"}
    by_service: Counter = Counter()
    by_step: dict[str, Counter] = defaultdict(Counter)
    for (step, service, op), n in ours.items():
        by_service[service] += n
        by_step[step][f"{service}:{op}"] += n
    wcu_by_step: Counter = Counter()
    wcu_by_table: Counter = Counter()
    writes = []
    for step, c in meter.charges:
        wcu_by_step[step] += c.total
        wcu_by_table[c.table.split("-", 2)[-1]] += c.base
        for index, units in c.index.items():
            wcu_by_table[f"{c.table.split('-', 2)[-1]}/{index}"] += units
        writes.append(
            {
                "step": step,
                "table": c.table.split("-", 2)[-1],
                "op": c.operation,
                "size_bytes": c.size,
                "base_wcu": c.base,
                "index_wcu": dict(c.index),
                "failed": c.failed,
                "stored_bytes": c.stored,
                "index_stored_bytes": dict(c.index_stored),
                "lives_s": None if c.lives_s is None else round(c.lives_s),
            }
        )
    per = lambda n: round(n / payments, 2 if n >= payments / 100 else 6)  # noqa: E731  # the digester's share
    return {
        "requests_per_payment": per(sum(by_service.values())),
        "requests_by_service": {k: per(v) for k, v in sorted(by_service.items())},
        "requests_by_step": {step: {k: per(v) for k, v in sorted(c.items())} for step, c in by_step.items()},
        "lambda_sqs_polling_per_payment": per(sum(polling.values())),
        "lambda_sqs_polling_detail": {op: per(n) for (_, _, op), n in polling.items()},
        "wcu_per_payment": per(sum(c.total for _, c in meter.charges)),
        "wcu_by_step": {k: per(v) for k, v in wcu_by_step.items()},
        "wcu_by_table_and_index": {k: per(v) for k, v in sorted(wcu_by_table.items())},
        "failed_writes_per_payment": per(sum(1 for _, c in meter.charges if c.failed)),
        "writes_of_last_payment": writes[-len(writes) // payments :] if writes else [],
        **meter.usage.summary(payments),
    }


CONFIGURATIONS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    # label: (the Payments application's env, Settings)
    "aggregate_recorder": ({}, {}),  # the deployed default
    "notification_log": ({"NOTIFICATION_LOG": "y"}, {}),
    # What compressing event state (eventsourcing's own option) would save.
    "aggregate_recorder_zlib": ({"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"}, {}),
    # The three-queue contract: each step hands over through the next step's queue.
    "queue_handoff": ({}, {"step_handoff": "queue"}),
}


def measure(endpoint: str, payments: int = 3) -> dict[str, Any]:
    """Both recorder configurations, view followed after each commit and once per payment."""
    for k, v in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(k, v)
    os.environ["AWS_ENDPOINT_URL"] = endpoint  # the pipeline's own boto3 clients read it
    from bench.messages import fresh

    results: dict[str, Any] = {}
    for label, (extra_env, settings) in CONFIGURATIONS.items():
        prefix = f"bench-{uuid.uuid4().hex[:6]}"
        resources = create_resources(endpoint, prefix)
        model = wcu.TableModel(wcu.specs_from_definitions(table_definitions(prefix), time_to_live(prefix)))
        meter = Meter(model)
        pipeline, view = build_pipeline(resources, extra_env, settings)
        poller = LambdaPoller(endpoint, meter)
        # Warm-up payment: the clients exist (and are hooked) once it has run.
        settle_one(pipeline, view, poller, meter, fresh(0), "view_per_commit")
        meter.attach_all(pipeline)
        meter.attach_all(view)
        settle_one(pipeline, view, poller, meter, fresh(0), "view_per_commit")
        for mode in VIEW_MODES:
            meter.reset()
            for i in range(payments):
                settle_one(pipeline, view, poller, meter, fresh(i), mode)
            results[f"{label}/{mode}"] = summarise(meter, payments)
        meter.detach()
        stats = getattr(getattr(pipeline.payments, "recorder", None), "stats", None)
        if stats is not None:
            results[f"{label}/commit_stats"] = {"commits": stats.commits, "retries": stats.retries}
    return results
