"""``python -m chalicelib.cli view-failures replay [--local-stack FILE] [--queue-url URL]``

The view follower's stream mapping gives up on a batch after bounded retries (or when its
records are older than the template's MaximumRecordAgeInSeconds) and sends a record of it
to the view-failures queue (infra/template.py `view_failures`). That record is AWS's
on-failure destination record for stream sources: it names the stream, the shard, the
first and last sequence numbers and the batch size, not the records themselves:

    {"requestContext": {"condition": "RetryAttemptsExhausted", ...}, "version": "1.0",
     "DDBStreamBatchInfo": {"shardId": "...", "startSequenceNumber": "...",
        "endSequenceNumber": "...", "batchSize": 3, "streamArn": "...", ...}}

Replay reads the batch back from the shard (GetShardIterator AT_SEQUENCE_NUMBER, then
GetRecords up to the last sequence number) to learn which transactions it touched, and
re-folds each from the event store (`follower.refresh`). When the shard no longer has
those records (the stream keeps them 24 hours), it rebuilds the whole view instead
(`follower.rebuild` with apply). A failure message is deleted only once its replay
succeeded; one that cannot be replayed yet (the poison is still there) stays in the queue.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

log = logging.getLogger(__name__)

# The records are gone: trimmed after 24 h, or the shard (or the whole stream) no longer exists.
GONE = frozenset({"TrimmedDataAccessException", "ResourceNotFoundException", "ExpiredIteratorException"})
MAX_BODY_BYTES = 64 * 1024  # a failure record is well under 1 KB; anything larger is not one
MAX_BATCH = 10_000  # the stream mapping's largest batch size
MAX_PAGES = 1_000  # GetRecords calls per failure record before giving up on the shard
VISIBILITY_S = 300  # a message being replayed stays hidden from another replay this long


@dataclass
class ReplayReport:
    replayed: int = 0  # failure records replayed, then deleted
    refreshed: list[str] = field(default_factory=list)  # transactions re-folded
    rebuilt: bool = False  # the whole view was rebuilt (some records had expired)
    failed: int = 0  # kept: the replay failed (the poison is still there)
    unrecognised: int = 0  # kept: not an on-failure record of a DynamoDB stream

    @property
    def ok(self) -> bool:
        return not (self.failed or self.unrecognised)


@dataclass(frozen=True)
class BatchInfo:
    stream_arn: str
    shard_id: str
    start: str
    end: str
    size: int


def batch_info(body: str) -> BatchInfo | None:
    """The batch an on-failure record names, or None if `body` is not such a record."""
    if len(body.encode("utf-8")) > MAX_BODY_BYTES:
        return None
    try:
        info = json.loads(body)["DDBStreamBatchInfo"]
        start, end = str(info["startSequenceNumber"]), str(info["endSequenceNumber"])
        size = int(info["batchSize"])
        if not (start.isdigit() and end.isdigit() and int(start) <= int(end) and 0 < size <= MAX_BATCH):
            return None
        return BatchInfo(str(info["streamArn"]), str(info["shardId"]), start, end, size)
    except (ValueError, KeyError, TypeError):
        return None


def transactions_of(streams: Any, batch: BatchInfo) -> list[str] | None:
    """The transaction ids of the batch's records, read back from its shard, in order; None
    when the shard no longer has them all (trimmed, expired, or never reached)."""
    end = int(batch.end)
    ids: list[str] = []
    seen = 0
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=batch.stream_arn,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=batch.start,
        ).get("ShardIterator")
        for _ in range(MAX_PAGES):
            if not iterator:
                return None  # the shard closed before the batch's last record
            page = streams.get_records(ShardIterator=iterator, Limit=min(1000, batch.size))
            for record in page.get("Records", []):
                change = record["dynamodb"]
                sequence = int(change["SequenceNumber"])
                if sequence > end:
                    return ids
                seen += 1
                pk = change["Keys"]["pk"]["S"]
                if not pk.startswith("$") and pk not in ids:  # $claim#... items are not transactions
                    ids.append(pk)
                if sequence == end or seen >= batch.size:
                    return ids
            iterator = page.get("NextShardIterator")
        return None
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in GONE:
            return None
        raise


def replay(
    sqs: Any,
    streams: Any,
    queue_url: str,
    refresh: Callable[[str], object],
    rebuild_all: Callable[[], bool],
    max_messages: int = 10_000,
) -> ReplayReport:
    """Replay every failure record in the queue; delete each one whose replay succeeded."""
    report = ReplayReport()
    handled = 0
    while handled < max_messages:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=VISIBILITY_S
        ).get("Messages", [])
        if not messages:
            break  # long polling asks every server: the queue has nothing visible left
        for message in messages:
            handled += 1
            batch = batch_info(message.get("Body", ""))
            if batch is None:
                log.warning("not an on-failure record of a stream batch; left in the queue")
                report.unrecognised += 1
                continue
            try:
                ids = transactions_of(streams, batch)
                if ids is None:
                    if not report.rebuilt:
                        log.warning("the failed batch's records are gone from the stream: rebuilding the view")
                        if not rebuild_all():
                            raise RuntimeError("the rebuild left differences it cannot repair")
                        report.rebuilt = True
                else:
                    for transaction_id in ids:
                        refresh(transaction_id)
                        report.refreshed.append(transaction_id)
            except Exception:
                log.exception("replay failed; the failure record stays in the queue")
                report.failed += 1
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            report.replayed += 1
    return report


def cmd_view_failures(args: argparse.Namespace) -> int:
    """The operator's command: wire the replay to the Region's queue, stream, store and view."""
    from chalicelib.adapters import aws
    from chalicelib.adapters.dynamodb import TransactionView, aggregate_ids
    from chalicelib.adapters.settings import Settings
    from chalicelib.bootstrap import payments_env
    from chalicelib.cli import settings_of_local_stack
    from chalicelib.pipeline.payments import Payments
    from chalicelib.projections import follower

    queue_url = args.queue_url or os.environ.get("PACSFLOW_VIEW_FAILURES_QUEUE_URL", "")
    if args.local_stack:
        stack = json.loads(Path(args.local_stack).read_text())
        s = settings_of_local_stack(stack)
        queue_url = queue_url or stack["outputs"].get("ViewFailuresQueueUrl", "")
    else:
        s = Settings()
    if not queue_url:
        print(
            "no queue: give --queue-url, PACSFLOW_VIEW_FAILURES_QUEUE_URL or --local-stack (output ViewFailuresQueueUrl)"
        )
        return 2
    payments = Payments(env=payments_env(s))
    view = TransactionView(s.transactions_table)

    def rebuild_all() -> bool:
        rebuilt = follower.rebuild(payments, view, aggregate_ids(s.events_table), apply=True)
        return not (rebuilt.orphaned or rebuilt.unfoldable)

    report = replay(
        aws.client("sqs"),
        aws.streams(),
        queue_url,
        lambda tid: follower.refresh(payments, view, tid),
        rebuild_all,
    )
    print(
        f"replayed {report.replayed} failed batches: {len(set(report.refreshed))} transactions refreshed"
        + ("; the view was rebuilt (records had expired)" if report.rebuilt else "")
        + f"; {report.failed} failed and {report.unrecognised} unrecognised left in the queue"
    )
    return 0 if report.ok else 1


def add_parser(sub: Any) -> None:
    p = sub.add_parser("view-failures", help="the view follower's failed stream batches")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    r = actions.add_parser("replay", help="re-fold the transactions of each failed batch; delete what succeeded")
    r.add_argument("--local-stack", metavar="FILE", help="the local-stack.json that `make run` wrote")
    r.add_argument("--queue-url", metavar="URL", help="the view-failures queue (stack output ViewFailuresQueueUrl)")
    r.set_defaults(func=cmd_view_failures)
