"""Batch plumbing for SQS and DynamoDB-stream handlers: partial batch failures.

A failed record is reported in `batchItemFailures` (the template enables
ReportBatchItemFailures), so only it is retried. On a FIFO queue a failed message also
fails the later messages of its group in the same batch — their order must hold.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable, Iterable
from uuid import UUID

from chalicelib.pipeline.service import StepMessage

log = logging.getLogger(__name__)


def sqs_batch(records: Iterable[Any], handle: Callable[[StepMessage], None]) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    failed_groups: set[str] = set()
    for record in records:
        raw = record.to_dict()
        attributes = raw.get("attributes", {})
        group = attributes.get("MessageGroupId", "")
        if group and group in failed_groups:
            failures.append({"itemIdentifier": raw["messageId"]})
            continue
        try:
            body = json.loads(record.body)
            msg = StepMessage(
                transaction_id=UUID(body["transaction_id"]),
                body=body,
                receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
            )
            handle(msg)
        except Exception:
            log.exception("step failed; the message will be retried (then dead-lettered)")
            failures.append({"itemIdentifier": raw["messageId"]})
            failed_groups.add(group)
    return {"batchItemFailures": failures}


def stream_batch(records: Iterable[Any], refresh: Callable[[str], Any]) -> dict[str, Any]:
    """Refresh each changed transaction once; on failure report its first sequence number."""
    first_seq: dict[str, str] = {}
    for record in records:
        raw = record.to_dict()
        pk = raw["dynamodb"]["Keys"]["pk"]["S"]
        if not pk.startswith("$"):
            first_seq.setdefault(pk, raw["dynamodb"]["SequenceNumber"])
    failures = []
    for transaction_id, seq in first_seq.items():
        try:
            refresh(transaction_id)
        except Exception:
            log.exception("view refresh failed; the stream batch will be retried from it")
            failures.append({"itemIdentifier": seq})
    return {"batchItemFailures": failures}
