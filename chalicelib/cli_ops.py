"""``python -m chalicelib.cli dlq list|peek``: what the stack gave up on.

- ``dlq list [--local-stack FILE | --stack NAME]``: each dead-letter queue of the stack (every
  pipeline queue's DLQ and the view follower's failure queue, from the stack outputs ending in
  ``DLQUrl`` plus ``ViewFailuresQueueUrl``) with its approximate message count, the messages
  in flight, and the age of its oldest message. SQS gives that age only as the CloudWatch
  metric ApproximateAgeOfOldestMessage (not through GetQueueAttributes): it is the metric's
  latest value, or ``-`` when CloudWatch has none. Exit 1 when any queue holds messages.
- ``dlq peek QUEUE [--max N] [--local-stack FILE | --stack NAME]``: up to N messages of one of
  those queues (by short name, e.g. ``incoming``, ``view-failures``, or its URL), without
  consuming them: each is received, then made visible again at once (ChangeMessageVisibility
  0). Receiving is still a receive: each peek adds one to the message's ApproximateReceiveCount
  (a dead-letter queue has no redrive policy of its own, so nothing moves), and a FIFO message
  group is held for the moment of the peek. Only the transaction id, the step, the receive count
  and the sent time are printed: never the body, which may carry the message itself
  (``message``, base64), its digest or its archive key.

The stack's outputs come from ``local-stack.json`` (``make run``) or, for a deployed stage,
from CloudFormation (``--stack``, default ``pacsflow-<AWS Region>``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.cli_stream import batch_info

PEEK_HOLD_S = 30  # how long a peeked message would stay hidden if resetting it failed
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
STEP = re.compile(r"^[a-z][a-z-]{0,30}$")


def short_name(output: str) -> str:
    """``IncomingQueueDLQUrl`` -> ``incoming``, ``ViewFailuresQueueUrl`` -> ``view-failures``."""
    stem = output.removesuffix("Url").removesuffix("DLQ").removesuffix("Queue")
    return re.sub(r"(?<!^)(?=[A-Z])", "-", stem).lower()


def dead_letter_queues(outputs: dict[str, str]) -> dict[str, str]:
    """Short name -> URL of each dead-letter queue named by the stack outputs."""
    return {
        short_name(key): url
        for key, url in sorted(outputs.items())
        if key.endswith("DLQUrl") or key == "ViewFailuresQueueUrl"
    }


def stack_outputs(args: argparse.Namespace) -> dict[str, str]:
    if args.local_stack:
        stack = json.loads(Path(args.local_stack).read_text())
        for variable, key in (("AWS_ENDPOINT_URL", "endpoint_url"), ("AWS_DEFAULT_REGION", "region")):
            if stack.get(key):
                os.environ.setdefault(variable, stack[key])
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
        return dict(stack["outputs"])
    from chalicelib.adapters.aws import operator_client

    cfn = operator_client("cloudformation")
    name = args.stack or f"pacsflow-{cfn.meta.region_name}"
    (described,) = cfn.describe_stacks(StackName=name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def oldest_age_s(cloudwatch: Any, url: str, now: datetime | None = None) -> int | None:
    """The latest ApproximateAgeOfOldestMessage of the queue (seconds), if CloudWatch has one."""
    now = now or datetime.now(UTC)
    try:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": queue_name(url)}],
            StartTime=now - timedelta(minutes=15),
            EndTime=now,
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
    except (ClientError, BotoCoreError):
        return None
    if not points:
        return None
    return int(max(points, key=lambda p: p["Timestamp"])["Maximum"])


def list_queues(sqs: Any, cloudwatch: Any, queues: dict[str, str]) -> list[tuple[str, int, int, int | None]]:
    """(name, visible, in flight, age of the oldest message in seconds or None) per queue."""
    rows = []
    for name, url in queues.items():
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        rows.append(
            (
                name,
                int(attributes.get("ApproximateNumberOfMessages", 0)),
                int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                oldest_age_s(cloudwatch, url),
            )
        )
    return rows


def describe(message: dict[str, Any], queue: str) -> dict[str, str]:
    """What may be shown of a message: never its body, only identifiers and delivery facts."""
    attributes = message.get("Attributes", {})
    transaction = "-"
    step = queue
    try:
        body = json.loads(message.get("Body", ""))
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("transaction_id"), str) and UUID.match(body["transaction_id"]):
        transaction = body["transaction_id"]
    elif UUID.match(attributes.get("MessageGroupId", "")):
        transaction = attributes["MessageGroupId"]
    parts = attributes.get("MessageDeduplicationId", "").split(":")
    if len(parts) > 1 and STEP.match(parts[1]):  # transaction:step[:digest] (chalicelib/adapters/sqs.py)
        step = parts[1]
    info = batch_info(message.get("Body", ""))
    sent = attributes.get("SentTimestamp", "")
    return {
        "message_id": str(message.get("MessageId", "")),
        "transaction_id": transaction,
        "step": step if info is None else f"view (stream batch of {info.size} records, shard {info.shard_id})",
        "receive_count": str(attributes.get("ApproximateReceiveCount", "?")),
        "sent": datetime.fromtimestamp(int(sent) / 1000, UTC).isoformat(timespec="seconds") if sent.isdigit() else "?",
    }


def peek(sqs: Any, url: str, queue: str, most: int) -> list[dict[str, str]]:
    """Up to `most` messages of the queue, described, each made visible again before returning."""
    received: list[dict[str, Any]] = []
    try:
        while len(received) < most:
            got = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, most - len(received)),
                VisibilityTimeout=PEEK_HOLD_S,  # hidden while we look, so the next receive moves on
                WaitTimeSeconds=0,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break
            received.extend(got)
    finally:
        for message in received:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return [describe(m, queue) for m in received]


def cmd_dlq(args: argparse.Namespace) -> int:
    from chalicelib.adapters.aws import operator_client

    queues = dead_letter_queues(stack_outputs(args))
    sqs = operator_client("sqs")
    if args.action == "list":
        rows = list_queues(sqs, operator_client("cloudwatch"), queues)
        print(f"{'QUEUE':<16} {'MESSAGES':>8} {'IN FLIGHT':>9}  OLDEST")
        for name, visible, in_flight, age in rows:
            print(f"{name:<16} {visible:>8} {in_flight:>9}  {'-' if age is None else f'{age} s'}")
        return 1 if any(visible or in_flight for _, visible, in_flight, _ in rows) else 0
    url = queues.get(args.queue) or next((u for u in queues.values() if args.queue in (u, queue_name(u))), None)
    if url is None:
        print(f"not a dead-letter queue of the stack: {args.queue} (one of: {', '.join(queues)})")
        return 2
    name = next(n for n, u in queues.items() if u == url)
    shown = peek(sqs, url, name, args.max)
    for row in shown:
        print(
            f"{row['transaction_id']}  step={row['step']}  receives={row['receive_count']}  "
            f"sent={row['sent']}  id={row['message_id']}"
        )
    print(
        f"{len(shown)} message(s) of {name} shown, none consumed (made visible again; "
        "each peek counts as one receive in ApproximateReceiveCount)"
    )
    return 0


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1 (the CLI modules' counts and sizes)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_parser(sub: Any) -> None:
    p = sub.add_parser("dlq", help="the stack's dead-letter queues: list them, peek at their messages")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("list", "each dead-letter queue with its message count and oldest message's age"),
        ("peek", "show up to N messages of one queue without consuming them (no payment data)"),
    ):
        a = actions.add_parser(name, help=text)
        if name == "peek":
            a.add_argument("queue", metavar="QUEUE", help="short name (incoming, view-failures, ...), name or URL")
            a.add_argument("--max", type=positive_int, default=10, metavar="N", help="at most N messages (default 10)")
        where = a.add_mutually_exclusive_group()
        where.add_argument("--local-stack", metavar="FILE", help="the local-stack.json that `make run` wrote")
        where.add_argument("--stack", metavar="NAME", help="a deployed stack (default pacsflow-<AWS Region>)")
        a.set_defaults(func=cmd_dlq)
