"""The transactions view table (DynamoDB): one item per transaction, version-guarded.

Writes are conditional on the stored version being older, so two followers (or a follower
and a rebuild) can never move a record backwards, and a replayed event is a no-op.

Lookups are keyed by owner and identifier: the item carries `owner_uetr` and
`owner_end_to_end_id` (owner + "#" + value, `TransactionRecord.to_item`) and each has a
global secondary index, so one client's query reads only its own rows. A multi-transaction
payment's later transactions have an index item each (`TransactionRecord.lookup_items`, keys
`<transaction id>#<n>`): `find` answers their keys too, `scan` skips them. Every Query and Scan
follows LastEvaluatedKey, until the `most` items a caller wants when it says so; `page_size`
(a Limit on each request) exists so that tests can force many pages.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.aws import client
from chalicelib.pipeline.errors import StepContended
from chalicelib.pipeline.ports import ReportRetrieved
from chalicelib.projections.records import LOOKUP_ATTRIBUTES, TransactionRecord, is_lookup_item, lookup_key

if TYPE_CHECKING:
    from chalicelib.aws_types import DynamoDBClient

# query field -> (index, its partition key)
LOOKUP_INDEXES = {field: f"by_{attribute}" for field, attribute in LOOKUP_ATTRIBUTES.items()}
SCAN_SEGMENTS = 4  # parallel Scan of `rebuild`: segments, each read by a thread of its own
BATCH_WRITE_MAX = 25  # items a BatchWriteItem request takes at most
BATCH_ATTEMPTS, BATCH_BACKOFF_S, BATCH_BACKOFF_MAX_S = 8, 0.05, 2.0  # unprocessed items: sent again


class ViewWriteIncomplete(RuntimeError):
    """Index items DynamoDB left unprocessed however often they were sent again (throttling)."""


def _pages(
    call: Any, page_size: int | None = None, most: int | None = None, **request: Any
) -> Iterator[list[dict[str, Any]]]:
    """Every page of a Query or Scan (`call` with `request`), following LastEvaluatedKey; with
    `most`, only until that many items came, no request asking for more than is still wanted
    (a capped lookup reads, and pays for, no more than its cap)."""
    got = 0
    while most is None or got < most:
        limits = [n for n in (page_size, None if most is None else most - got) if n]
        if limits:
            request["Limit"] = min(limits)
        resp = call(**request)
        items = resp.get("Items", [])
        got += len(items)
        yield items
        last = resp.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last


def parallel_scan(
    dynamodb: DynamoDBClient, segments: int = SCAN_SEGMENTS, page_size: int | None = None, **request: Any
) -> Iterator[dict[str, Any]]:
    """Every item of a Scan, read as `segments` parallel segments (Segment/TotalSegments),
    one thread each; each segment follows LastEvaluatedKey. Items come segment by segment."""

    def segment(n: int) -> list[dict[str, Any]]:
        scan = dynamodb.scan
        req = {**request, "Segment": n, "TotalSegments": segments} if segments > 1 else dict(request)
        return [item for page in _pages(scan, page_size, **req) for item in page]

    with ThreadPoolExecutor(max_workers=segments, thread_name_prefix="scan") as pool:
        for items in pool.map(segment, range(segments)):
            yield from items


class TransactionView:
    """The view table, read and written as TransactionRecords."""

    def __init__(
        self,
        table: str,
        dynamodb: DynamoDBClient | None = None,
        page_size: int | None = None,
        scan_segments: int = SCAN_SEGMENTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table = table
        self.dynamodb = dynamodb or client("dynamodb")
        self.page_size = page_size
        self.scan_segments = scan_segments
        self.sleep = sleep  # between BatchWriteItem retries (tests: no real wait)

    def get(self, transaction_id: str) -> TransactionRecord | None:
        item = self.get_item(transaction_id)
        return TransactionRecord.from_item(item) if item else None

    def get_item(self, transaction_id: str) -> dict[str, Any] | None:
        """The stored item as it is (rebuild compares items: lookup attributes included)."""
        return self.dynamodb.get_item(
            TableName=self.table, Key={"transaction_id": {"S": transaction_id}}, ConsistentRead=True
        ).get("Item")

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

    def put_unless_newer(self, record: TransactionRecord) -> bool:
        """Write `record` unless the stored one is newer (rebuild --apply); say whether written.

        Equal versions are overwritten on purpose: a record folded from the same events is
        the same payment at the same point, so rewriting it cannot move it backwards, and it
        is how a rebuild repairs a record written by an older fold or without the lookup
        attributes. A newer stored version (a follower got there first) is left alone."""
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item=record.to_item(),
                ConditionExpression="attribute_not_exists(transaction_id) OR version <= :v",
                ExpressionAttributeValues={":v": {"N": str(record.version)}},
            )
            return True
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False

    def put_lookup_items(self, record: TransactionRecord) -> None:
        """Write the index items of the record's later transactions with BatchWriteItem (25 a
        request). A batch takes no condition, and needs none: the items are copies of what
        the message says, which never changes, so writing one again, or late, or twice at
        once, leaves the same item. What DynamoDB leaves unprocessed (throttled) is sent again
        after an exponential backoff with full jitter, as AWS advises for BatchWriteItem;
        still unprocessed after `BATCH_ATTEMPTS`, it raises ViewWriteIncomplete (the caller's
        batch fails and is retried whole, as for any failed write)."""
        items = list(record.lookup_items().values())
        for start in range(0, len(items), BATCH_WRITE_MAX):
            self._batch_put(items[start : start + BATCH_WRITE_MAX])

    def _batch_put(self, items: list[dict[str, Any]]) -> None:
        requests: list[Any] = [{"PutRequest": {"Item": item}} for item in items]
        for attempt in range(BATCH_ATTEMPTS):
            if attempt:
                self.sleep(random.uniform(0, min(BATCH_BACKOFF_MAX_S, BATCH_BACKOFF_S * 2**attempt)))
            left = self.dynamodb.batch_write_item(RequestItems={self.table: requests}).get("UnprocessedItems", {})
            requests = list(left.get(self.table, []))
            if not requests:
                return
        raise ViewWriteIncomplete(f"{len(requests)} index items left unprocessed by BatchWriteItem into {self.table}")

    def put_unconditionally(self, record: TransactionRecord) -> None:
        """Overwrite a record (tests only: to plant a stale record)."""
        self.dynamodb.put_item(TableName=self.table, Item=record.to_item())

    def find(
        self, owner: str, field: str, value: str, most: int | None = None, page: int | None = None
    ) -> Iterator[str]:
        """Keys of `owner`'s transactions whose `field` (uetr or end_to_end_id) is `value`: a
        payment's id for its first transaction, `lookup_item_key` for a later one (read them
        with `indexed_transaction`). A Query of the (owner, identifier) index, read lazily: a
        page is requested only when the keys before it have been taken, each page asks for at
        most `page` keys, and no more than `most` keys are read in all (None: every page).
        So a caller that stops taking keys reads, and pays for, no page beyond them."""
        attribute = LOOKUP_ATTRIBUTES[field]
        sizes = [n for n in (self.page_size, page) if n]
        pages = _pages(
            self.dynamodb.query,
            min(sizes) if sizes else None,
            most,
            TableName=self.table,
            IndexName=LOOKUP_INDEXES[field],
            KeyConditionExpression="#k = :v",
            ExpressionAttributeNames={"#k": attribute},
            ExpressionAttributeValues={":v": {"S": lookup_key(owner, value)}},
        )
        for items in pages:
            for item in items:
                yield item["transaction_id"]["S"]

    def scan_items(self) -> Iterator[dict[str, Any]]:
        """Every stored item, index items included, by a parallel Scan (for `rebuild` only)."""
        return parallel_scan(
            self.dynamodb, self.scan_segments, self.page_size, TableName=self.table, ConsistentRead=True
        )

    def scan(self) -> Iterator[TransactionRecord]:
        """Every record, not the index items (for `rebuild` only)."""
        for item in self.scan_items():
            if not is_lookup_item(item):
                yield TransactionRecord.from_item(item)

    def is_reachable(self) -> bool:
        self.dynamodb.describe_table(TableName=self.table)
        return True


def aggregate_ids(
    events_table: str,
    dynamodb: DynamoDBClient | None = None,
    segments: int = SCAN_SEGMENTS,
    page_size: int | None = None,
) -> Iterator[str]:
    """Ids of every aggregate in the events table: the items at version 1 (for `rebuild`).

    A Scan is right for a full rebuild and wrong anywhere else (a parallel one, every
    page); bookkeeping items ($...) are skipped.
    """
    items = parallel_scan(
        dynamodb or client("dynamodb"),
        segments,
        page_size,
        TableName=events_table,
        ProjectionExpression="pk",
        FilterExpression="sk = :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
        ConsistentRead=True,
    )
    for item in items:
        if not item["pk"]["S"].startswith("$"):
            yield item["pk"]["S"]


class Retrievals:
    """`ReportRetrieved` records (chalicelib/pipeline/ports.py), items of the events table:
    pk ``$retrieved#<transaction id>``, sk the time in microseconds, written by a conditional
    PutItem (never overwritten; botocore's retry of a landed put fails its condition, which is
    success). Not a version of the payment's stream: a fetch never races the pipeline for the
    next version, and each transaction is its own partition, so /outbox is no write hot spot.
    As durable as the events themselves: same table, backups, replication."""

    PREFIX = "$retrieved#"

    def __init__(self, table: str, dynamodb: DynamoDBClient | None = None) -> None:
        self.table = table
        self.dynamodb = dynamodb or client("dynamodb")

    def retrieved(self, record: ReportRetrieved) -> None:
        """One item per fetch, keyed by the time in µs. A failed condition is either this very
        put landing before its retry (the stored item has our request id: done) or another
        fetch of the same microsecond (another request id): then the next microsecond."""
        at = datetime.fromisoformat(record.retrieved_at)
        sk = int(at.timestamp()) * 1_000_000 + at.microsecond
        item = {f: {"S": str(v)} for f, v in asdict(record).items()}
        pk = {"S": self.PREFIX + record.transaction_id}
        for _ in range(5):
            try:
                self.dynamodb.put_item(
                    TableName=self.table,
                    Item={"pk": pk, "sk": {"N": str(sk)}, **item},
                    ConditionExpression="attribute_not_exists(pk)",
                )
                return
            except self.dynamodb.exceptions.ConditionalCheckFailedException:
                stored = self.dynamodb.get_item(
                    TableName=self.table, Key={"pk": pk, "sk": {"N": str(sk)}}, ConsistentRead=True
                ).get("Item", {})
                if stored.get("request_id") == item["request_id"]:
                    return
                sk += 1
        raise StepContended(f"{record.transaction_id}: no free instant for its ReportRetrieved record")

    def of(self, transaction_id: str) -> list[ReportRetrieved]:
        found: list[ReportRetrieved] = []
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": self.PREFIX + transaction_id}},
        }
        while True:
            page = self.dynamodb.query(**params)
            for item in page["Items"]:
                found.append(ReportRetrieved(**{f.name: item[f.name]["S"] for f in fields(ReportRetrieved)}))
            if "LastEvaluatedKey" not in page:
                return found
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


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


class Leases:
    """Heartbeats and probe counts: one item per Region in the events table (`pk`
    "$lease#<region>", as claims are "$claim#..."), replicated with it. A Region writes only
    its own item, so no two Regions write one item."""

    def __init__(self, table: str, dynamodb: DynamoDBClient | None = None) -> None:
        self.table = table
        self.dynamodb = dynamodb or client("dynamodb")

    @staticmethod
    def _key(region: str) -> dict[str, Any]:
        return {"pk": {"S": f"$lease#{region}"}, "sk": {"N": "0"}}

    def _item(self, region: str) -> dict[str, Any]:
        return self.dynamodb.get_item(TableName=self.table, Key=self._key(region), ConsistentRead=True).get("Item", {})

    def heartbeat(self, region: str, now: float) -> None:
        self.dynamodb.update_item(
            TableName=self.table,
            Key=self._key(region),
            UpdateExpression="SET heartbeat_at = :t",
            ExpressionAttributeValues={":t": {"N": repr(now)}},
        )

    def last_heartbeat(self, region: str) -> float | None:
        value = self._item(region).get("heartbeat_at")
        return float(value["N"]) if value else None

    def failed_probes(self, region: str, peer: str) -> int:
        value = self._item(region).get(f"failed_probes_{peer}")
        return int(value["N"]) if value else 0

    def set_failed_probes(self, region: str, peer: str, count: int) -> None:
        self.dynamodb.update_item(
            TableName=self.table,
            Key=self._key(region),
            UpdateExpression="SET #p = :n",
            ExpressionAttributeNames={"#p": f"failed_probes_{peer}"},
            ExpressionAttributeValues={":n": {"N": str(count)}},
        )
