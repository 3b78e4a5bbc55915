"""Release notifications on SNS.

Always sets a Subject and message attributes: subscribers filter on them, and MiniStack
drops both from the delivered event unless the publisher sets them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.aws import client

if TYPE_CHECKING:
    from chalicelib.aws_types import SNSClient


class Notifier:
    def __init__(self, topic_arn: str, sns: SNSClient | None = None) -> None:
        self.topic_arn = topic_arn
        self.sns = sns or client("sns")

    def released(self, transaction_id: str, tx_sts: str, client_id: str, body: dict[str, Any]) -> None:
        """`client_id` (the owning tenant) is an attribute, so subscribers filter on it."""
        self.sns.publish(
            TopicArn=self.topic_arn,
            Subject=f"pacs.002 {tx_sts}",
            Message=json.dumps(body, separators=(",", ":")),
            MessageAttributes={
                "transaction_id": {"DataType": "String", "StringValue": transaction_id},
                "tx_sts": {"DataType": "String", "StringValue": tx_sts},
                "client_id": {"DataType": "String", "StringValue": client_id},
                "event": {"DataType": "String", "StringValue": "Released"},
            },
        )
