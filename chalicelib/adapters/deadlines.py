"""The deadlines queue: an SQS standard queue whose messages are delayed (DelaySeconds).

FIFO queues take no per-message delay, so a payment's SLA deadline travels on a standard
queue: at least once, in no order. Its consumer is idempotent (chalicelib/pipeline/timeouts.py).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.aws import client

if TYPE_CHECKING:
    from chalicelib.aws_types import SQSClient

MAX_DELAY_S = 900  # SQS's limit on DelaySeconds


class DeadlineQueue:
    def __init__(self, url: str, sqs: SQSClient | None = None) -> None:
        self.url = url
        self.sqs = sqs or client("sqs")

    def send_later(self, body: dict[str, Any], delay_seconds: int) -> None:
        self.sqs.send_message(
            QueueUrl=self.url,
            MessageBody=json.dumps(body, separators=(",", ":")),
            DelaySeconds=max(0, min(MAX_DELAY_S, delay_seconds)),
        )
