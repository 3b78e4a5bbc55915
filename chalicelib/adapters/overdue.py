"""Unreleased payments created before a time, from the transaction view (the sweep's input).

A Scan of the view bounded by page size, filtered on the server (created before the
cut-off, not settled) and projected to four attributes; the released flag is checked here
because the view stores an absent `released_at` as NULL. The view may lag the events:
the sweep decides on the aggregate, never on what this says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from chalicelib.adapters.aws import client
from chalicelib.pipeline.timeouts import Unreleased

if TYPE_CHECKING:
    from chalicelib.aws_types import DynamoDBClient


class OverdueScan:
    def __init__(self, table: str, dynamodb: DynamoDBClient | None = None, page_size: int = 500) -> None:
        self.table = table
        self.dynamodb = dynamodb or client("dynamodb")
        self.page_size = page_size

    def unreleased(self, created_before: str) -> Iterator[Unreleased]:
        start: dict[str, object] = {}
        while True:
            page = self.dynamodb.scan(
                TableName=self.table,
                Limit=self.page_size,
                FilterExpression="created_at < :before AND #s <> :settled",
                ProjectionExpression="transaction_id, #s, message_type, created_at, released_at",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":before": {"S": created_before}, ":settled": {"S": "ACSC"}},
                **start,  # type: ignore[arg-type]
            )
            for item in page.get("Items", []):
                if "S" in item.get("released_at", {}):
                    continue
                yield Unreleased(
                    item["transaction_id"]["S"],
                    item["status"]["S"],
                    item.get("message_type", {}).get("S", ""),
                    item["created_at"]["S"],
                )
            if "LastEvaluatedKey" not in page:
                return
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
