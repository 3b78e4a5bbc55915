"""Pipeline queues: SQS FIFO, one message group per transaction.

Grouping by transaction id keeps each payment's steps in order while different payments
flow in parallel; the deduplication id names the transaction and the step, so a step that
is re-sent after a crash is dropped by SQS within its 5-minute window (and recognised as
done by the next handler after it).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.aws import client

if TYPE_CHECKING:
    from chalicelib.aws_types import SQSClient


class Queue:
    def __init__(self, url: str, sqs: SQSClient | None = None) -> None:
        self.url = url
        self.sqs = sqs or client("sqs")

    def send(self, transaction_id: str, step: str, body: dict[str, Any], dedup: str = "") -> None:
        self.sqs.send_message(
            QueueUrl=self.url,
            MessageBody=json.dumps(body, separators=(",", ":")),
            MessageGroupId=transaction_id,
            MessageDeduplicationId=f"{transaction_id}:{step}{':' + dedup if dedup else ''}",
        )

    def is_reachable(self) -> bool:
        self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])
        return True
