"""The transactions view table (DynamoDB): one item per transaction, version-guarded.

Writes are conditional on the stored version being older, so two followers (or a follower
and a rebuild) can never move a record backwards, and a replayed event is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.aws import client
from chalicelib.projections.records import TransactionRecord

if TYPE_CHECKING:
    from chalicelib.aws_types import DynamoDBClient

LOOKUP_INDEXES = {"uetr": "by_uetr", "end_to_end_id": "by_end_to_end_id"}


class TransactionView:
    """The view table, read and written as TransactionRecords."""

    def __init__(self, table: str, dynamodb: DynamoDBClient | None = None) -> None:
        self.table = table
        self.dynamodb = dynamodb or client("dynamodb")

    def get(self, transaction_id: str) -> TransactionRecord | None:
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"transaction_id": {"S": transaction_id}}, ConsistentRead=True
        ).get("Item")
        return TransactionRecord.from_item(item) if item else None

    def put_if_newer(self, record: TransactionRecord) -> bool:
        """Write `record` unless the stored one has its version or a later one; say whether written."""
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item=record.to_item(),
                ConditionExpression="attribute_not_exists(transaction_id) OR version < :v",
                ExpressionAttributeValues={":v": {"N": str(record.version)}},
            )
            return True
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False

    def put_unconditionally(self, record: TransactionRecord) -> None:
        """Overwrite a record (rebuild --apply only)."""
        self.dynamodb.put_item(TableName=self.table, Item=record.to_item())

    def find(self, field: str, value: str) -> list[str]:
        """Transaction ids whose `field` (uetr or end_to_end_id) equals `value`."""
        resp = self.dynamodb.query(
            TableName=self.table,
            IndexName=LOOKUP_INDEXES[field],
            KeyConditionExpression="#f = :v",
            ExpressionAttributeNames={"#f": field},
            ExpressionAttributeValues={":v": {"S": value}},
        )
        return [item["transaction_id"]["S"] for item in resp.get("Items", [])]

    def scan(self) -> Iterator[TransactionRecord]:
        """Every record (for `rebuild` only)."""
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True):
            for item in page.get("Items", []):
                yield TransactionRecord.from_item(item)

    def is_reachable(self) -> bool:
        self.dynamodb.describe_table(TableName=self.table)
        return True


def aggregate_ids(events_table: str, dynamodb: DynamoDBClient | None = None) -> Iterator[str]:
    """Ids of every aggregate in the events table: the items at version 1 (for `rebuild`).

    A Scan is right for a full rebuild and wrong anywhere else; bookkeeping items ($...)
    are skipped.
    """
    dynamodb = dynamodb or client("dynamodb")
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=events_table,
        ProjectionExpression="pk",
        FilterExpression="sk = :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
        ConsistentRead=True,
    )
    for page in pages:
        for item in page.get("Items", []):
            if not item["pk"]["S"].startswith("$"):
                yield item["pk"]["S"]


class Claims:
    """First come, first served: who first used a business identifier (MsgId, UETR, ...).

    A claim is an item of the events table (`pk` "$claim#<kind>#<value>", never an
    aggregate id) written with a condition: absent, or already ours (a retried step), or
    older than the duplicate window. So of any number of concurrent claimants exactly one
    wins, and a retry of the winner wins again.
    """

    def __init__(self, table: str, dynamodb: DynamoDBClient | None = None) -> None:
        self.table = table
        self.dynamodb = dynamodb or client("dynamodb")

    def claim(self, kind: str, value: str, transaction_id: str, now: float, window_s: int) -> str | None:
        """None when `transaction_id` holds the claim; else the transaction that does."""
        key = {"pk": {"S": f"$claim#{kind}#{value}"}, "sk": {"N": "0"}}
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    **key,
                    "transaction_id": {"S": transaction_id},
                    "seen_at": {"N": str(int(now))},
                    "expires_at": {"N": str(int(now + window_s))},
                },
                ConditionExpression="attribute_not_exists(pk) OR transaction_id = :tx OR seen_at < :cutoff",
                ExpressionAttributeValues={":tx": {"S": transaction_id}, ":cutoff": {"N": str(int(now - window_s))}},
            )
            return None
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            item = self.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
            return item["transaction_id"]["S"] if item else None
