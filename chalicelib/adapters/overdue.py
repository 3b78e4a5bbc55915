"""Unreleased payments created before a time, from the transaction view (the sweep's input).

A Query of the view's sparse index `by_pending` (chalicelib/projections/records.py): a
record carries its `pending` attribute only until its release, so the index holds the
payments in flight and nothing else, and the sweep reads what is pending, not the whole
view. (It was a Scan of the whole view every minute: on AWS a read of every record ever
kept, each minute; on the local stack 1.8 s of the emulator at 20,000 records, which grew
into the long runs' latency.) Each shard is queried for the records created before the
cut-off, and each one found is read for its status and message type (few: a payment stays
pending past the shortest SLA only when it is stuck). The view may lag the events: the
sweep decides on the aggregate, never on what this says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from chalicelib.adapters.aws import client
from chalicelib.pipeline.timeouts import Unreleased
from chalicelib.projections.records import PENDING_ATTRIBUTE, PENDING_INDEX, PENDING_SHARDS

if TYPE_CHECKING:
    from chalicelib.aws_types import DynamoDBClient


class OverdueIndex:
    def __init__(self, table: str, dynamodb: DynamoDBClient | None = None, page_size: int = 500) -> None:
        self.table = table
        self.dynamodb = dynamodb or client("dynamodb")
        self.page_size = page_size

    def unreleased(self, created_before: str) -> Iterator[Unreleased]:
        for shard in PENDING_SHARDS:
            for transaction_id in self._pending(shard, created_before):
                item = self.dynamodb.get_item(
                    TableName=self.table,
                    Key={"transaction_id": {"S": transaction_id}},
                    ProjectionExpression="transaction_id, #s, message_type, created_at, released_at",
                    ExpressionAttributeNames={"#s": "status"},
                ).get("Item")
                if item is None or "S" in item.get("released_at", {}):
                    continue  # released since the index was read
                yield Unreleased(
                    item["transaction_id"]["S"],
                    item["status"]["S"],
                    item.get("message_type", {}).get("S", ""),
                    item["created_at"]["S"],
                )

    def _pending(self, shard: str, created_before: str) -> Iterator[str]:
        start: dict[str, object] = {}
        while True:
            page = self.dynamodb.query(
                TableName=self.table,
                IndexName=PENDING_INDEX,
                Limit=self.page_size,
                KeyConditionExpression="#p = :shard AND created_at < :before",
                ExpressionAttributeNames={"#p": PENDING_ATTRIBUTE},
                ExpressionAttributeValues={":shard": {"S": shard}, ":before": {"S": created_before}},
                **start,  # type: ignore[arg-type]
            )
            for item in page.get("Items", []):
                yield item["transaction_id"]["S"]
            if "LastEvaluatedKey" not in page:
                return
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
