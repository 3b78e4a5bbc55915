"""The payments in flight, from the transaction view's sparse index `by_pending`
(chalicelib/projections/records.py): a record carries its `pending` attribute only until its
release, so the index holds the unreleased payments and nothing else. Two readers:

- the timeout sweep (`unreleased`): those created before a cut-off;
- a takeover (`in_flight`): those whose home is the failed Region. The controller repeats it
  every minute while the Region stays taken over, to take what the view listed late.

Both read what is pending, not the whole view. (Each was a Scan of every record ever kept:
for the sweep, 1.8 s of the emulator at 20,000 records, which grew into the long runs'
latency; for a takeover, on AWS, a read of the whole history each minute for as long as a
Region stays down.) Each shard is queried, and each record found is read for what the index
does not project (few: a payment is pending for its SLA at most, unless it is stuck). The
view may lag the events, and the index the view: both readers decide on the aggregate,
never on what this says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.aws import client
from chalicelib.pipeline.timeouts import Unreleased
from chalicelib.projections.records import PENDING_ATTRIBUTE, PENDING_INDEX, PENDING_SHARDS

if TYPE_CHECKING:
    from chalicelib.aws_types import DynamoDBClient


class PendingIndex:
    def __init__(self, table: str, dynamodb: DynamoDBClient | None = None, page_size: int = 500) -> None:
        self.table = table
        self.dynamodb = dynamodb or client("dynamodb")
        self.page_size = page_size

    def unreleased(self, created_before: str) -> Iterator[Unreleased]:
        for item in self._records(created_before):
            yield Unreleased(
                item["transaction_id"]["S"],
                item["status"]["S"],
                item.get("message_type", {}).get("S", ""),
                item["created_at"]["S"],
            )

    def in_flight(self, home_region: str) -> Iterator[str]:
        """Ids of the unreleased payments whose home is `home_region`."""
        for item in self._records(None):
            if item.get("home_region", {}).get("S") == home_region:
                yield item["transaction_id"]["S"]

    def _records(self, created_before: str | None) -> Iterator[dict[str, Any]]:
        """The view records of the index's entries (created before `created_before`), still
        unreleased when read: what both readers need of them."""
        for shard in PENDING_SHARDS:
            for transaction_id in self._pending(shard, created_before):
                item = self.dynamodb.get_item(
                    TableName=self.table,
                    Key={"transaction_id": {"S": transaction_id}},
                    ProjectionExpression="transaction_id, #s, message_type, created_at, home_region, released_at",
                    ExpressionAttributeNames={"#s": "status"},
                ).get("Item")
                if item is None or "S" in item.get("released_at", {}):
                    continue  # released since the index was read
                yield item

    def _pending(self, shard: str, created_before: str | None) -> Iterator[str]:
        condition, values = "#p = :shard", {":shard": {"S": shard}}
        if created_before is not None:
            condition, values = f"{condition} AND created_at < :before", {**values, ":before": {"S": created_before}}
        start: dict[str, object] = {}
        while True:
            page = self.dynamodb.query(
                TableName=self.table,
                IndexName=PENDING_INDEX,
                Limit=self.page_size,
                KeyConditionExpression=condition,
                ExpressionAttributeNames={"#p": PENDING_ATTRIBUTE},
                ExpressionAttributeValues=values,
                **start,  # type: ignore[arg-type]
            )
            for item in page.get("Items", []):
                yield item["transaction_id"]["S"]
            if "LastEvaluatedKey" not in page:
                return
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
