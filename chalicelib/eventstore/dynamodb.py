"""DynamoDB persistence module for eventsourcing 9.5.

Select it with ``PERSISTENCE_MODULE=chalicelib.eventstore.dynamodb``. It mirrors the
library's SQLite and PostgreSQL modules: a datastore, aggregate / application / tracking /
process recorders, and an infrastructure factory that reads its settings through
eventsourcing's Environment (so ``<APPNAME>_DYNAMODB_TABLE`` overrides ``DYNAMODB_TABLE``):

    DYNAMODB_TABLE         table name (required)
    DYNAMODB_CREATE_TABLE  y/n, default n: create the table if it is missing
    AWS_ENDPOINT_URL       optional endpoint (the local stack); region comes from boto3
    SNAPSHOTS_BUCKET       optional: store snapshots as S3 objects (see s3snapshots)
    ORIGINATOR_ID_TYPE     "uuid" (default) or "text", as in the library's SQL modules

Table layout: one table holds everything of one application. KeySchema ``pk`` (S, HASH),
``sk`` (N, RANGE); global secondary index ``notifications``: ``log`` (S, HASH), ``nid``
(N, RANGE), projection ALL. The CloudFormation template declares exactly this.

    item                    pk                                sk       other attributes
    stored event            <originator id>                   version  topic, state, cid,
                                                                       [log, nid]
    snapshot (no bucket)    $snapshots#<originator id>        version  topic, state
    notification counter    $log#<log name>                   0        last_nid
    tracking position       $tracking#<name>#<upstream name>  0        notification_id

Only events written by an application or process recorder carry ``log`` (the name of
the recorder's notification sequence, by default the application name) and ``nid``
(the notification id), so only they appear in the index. Every bookkeeping item's pk
starts with ``$``, which no originator id may start with: they never collide with an
aggregate, and a stream consumer skips them by that prefix (snapshots kept in the
table too: they are not events).

``cid`` is the commit's id (16 random bytes, the same for every event of one commit).
Event writes are conditional and return the recorded item when the condition fails
(ReturnValuesOnConditionCheckFailure=ALL_OLD, no read capacity): if its ``cid`` is the
commit's own, an earlier attempt of this very commit landed and its answer was lost
(botocore retries timeouts and 5xx with the same request), and the commit has succeeded;
any other item is a conflict (IntegrityError).

Notification ids are gap-free: the events of a commit and the update of the log's
counter item go into one TransactWriteItems, conditional on the counter's value when it
was read (optimistic concurrency). Because the counter is read strongly consistently
while the index is only eventually consistent, ``select_notifications`` returns just the
contiguous run of ids from its start: a missing id below the counter is index lag, and
stopping there is what keeps a follower from skipping it.

Costs per commit of n events (items ≤ 1 KB): aggregate recorder, n = 1: one PutItem,
1 WCU; otherwise 2 WCU per item of the transaction. Application recorder: 2n + 2 WCU
(events and counter, transactional) + n for the index, + 2 with a tracking item; a
commit that loses the counter to another writer is cancelled and tried again, and
cancelled transactions consume capacity as well.
"""

from __future__ import annotations

import logging
import random
from base64 import b64decode
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from threading import Event, Lock, Thread
from time import sleep
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast
from uuid import UUID, uuid4

from botocore.exceptions import ClientError
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DataError,
    InfrastructureFactory,
    IntegrityError,
    ListenNotifySubscription,
    Notification,
    NotSupportedError,
    OperationalError,
    ProcessRecorder,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.utils import Environment, EnvType, resolve_topic, strtobool

from chalicelib.eventstore.aws import (
    check_unique,
    error_code,
    new_client,
    translated_errors,
)
from chalicelib.eventstore.chain import (
    GENESIS,
    ChainHeads,
    ChainingMapper,
    hash_attribute,
    links,
    stored_hash,
)
from chalicelib.eventstore.s3snapshots import S3SnapshotRecorder

if TYPE_CHECKING:  # boto3-stubs (requirements-dev.txt); not in the Lambda package
    from chalicelib.aws_types import S3Client, TransactWriteItemTypeDef

logger = logging.getLogger(__name__)

_Recorder = TypeVar("_Recorder", bound="DynamoDBRecorder")

NOTIFICATIONS_INDEX = "notifications"
RESERVED_PREFIX = "$"
BOOKKEEPING_SK = 0
# DynamoDB's limit on the number of items in one TransactWriteItems.
MAX_TRANSACTION_ITEMS = 100

# What the CloudFormation template declares (it also enables a NEW_IMAGE stream).
TABLE_DEFINITION: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"},
        {"AttributeName": "log", "AttributeType": "S"},
        {"AttributeName": "nid", "AttributeType": "N"},
    ],
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": NOTIFICATIONS_INDEX,
            "KeySchema": [
                {"AttributeName": "log", "KeyType": "HASH"},
                {"AttributeName": "nid", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}

# "log" and "state" are DynamoDB reserved words, so expressions name every attribute
# through these placeholders.
NAMES = {
    "#pk": "pk",
    "#sk": "sk",
    "#log": "log",
    "#nid": "nid",
    "#last": "last_nid",
    "#tracked": "notification_id",
}

# Roles of the items of a commit, to interpret a transaction's CancellationReasons.
EVENT, COUNTER, TRACKING = "event", "counter", "tracking"
# Cancellation reason codes after which the same commit may succeed when retried.
RETRYABLE_REASONS = frozenset(
    {
        "None",
        "ConditionalCheckFailed",  # only ever the counter's: others raise first
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
    }
)


# Every event item carries the id of the commit that wrote it (16 random bytes, made once
# per commit), so that a repeated attempt recognises its own item (see is_own_item).
COMMIT_ID = "cid"
# What one TransactWriteItems attempt came to, with the cancellation reasons.
COMMITTED, LANDED, RETRY = "committed", "landed", "retry"
TransactionOutcome = tuple[str, Sequence[Mapping[str, Any]]]


def stored_event_of(item: Mapping[str, Any], originator_id: UUID | str) -> StoredEvent:
    """The stored event of an event item in DynamoDB's attribute-value form: a Query's item
    (binary state as bytes) or a stream record's image as a Lambda event carries it (binary
    state as base64 text). KeyError when the item has no topic or state."""
    state = item["state"]["B"]
    return StoredEvent(
        originator_id=originator_id,
        originator_version=int(item["sk"]["N"]),
        topic=item["topic"]["S"],
        state=b64decode(state, validate=True) if isinstance(state, str) else state,
    )


class DynamoDBDatastore:
    """One application's table, the client that reaches it, and the key encoding."""

    def __init__(
        self,
        table_name: str,
        *,
        endpoint_url: str | None = None,
        originator_id_type: Literal["uuid", "text"] = "uuid",
    ) -> None:
        self.table_name = table_name
        self.endpoint_url = endpoint_url
        self.originator_id_type = originator_id_type
        self.client = new_client("dynamodb", endpoint_url)

    def create_table(self) -> None:
        """Create the table unless it exists, and wait until it is active."""
        with translated_errors("CreateTable"):
            try:
                self.client.create_table(TableName=self.table_name, **TABLE_DEFINITION)
            except ClientError as error:
                # The table exists, or another process is creating it right now.
                if error_code(error) != "ResourceInUseException":
                    raise
            waiter = self.client.get_waiter("table_exists")
            waiter.wait(
                TableName=self.table_name,
                WaiterConfig={"Delay": 1, "MaxAttempts": 120},
            )
        logger.debug("Table %s is active", self.table_name)

    def encode_originator_id(self, originator_id: UUID | str) -> str:
        """The partition key of an aggregate: its id in canonical text form.

        Rejects ids that could collide with the ``$`` bookkeeping items.
        """
        text = str(originator_id)
        if self.originator_id_type == "uuid":
            try:
                return str(UUID(text))
            except ValueError:
                msg = f"Originator ID is not a UUID: {text!r}"
                raise DataError(msg) from None
        if text.startswith(RESERVED_PREFIX):
            msg = f"Originator ID must not start with {RESERVED_PREFIX!r}: {text!r}"
            raise DataError(msg)
        return text

    def decode_originator_id(self, text: str) -> UUID | str:
        return UUID(text) if self.originator_id_type == "uuid" else text

    def query(self, **params: Any) -> Iterator[dict[str, Any]]:
        """Yield the items of a Query, following pagination (pages stop at 1 MB)."""
        with translated_errors("Query"):
            while True:
                page = self.client.query(TableName=self.table_name, **params)
                yield from page["Items"]
                if "LastEvaluatedKey" not in page:
                    return
                params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get_item(self, pk: str, attribute: str) -> dict[str, Any] | None:
        """Strongly consistent read of one attribute of a bookkeeping item."""
        with translated_errors("GetItem"):
            response = self.client.get_item(
                TableName=self.table_name,
                Key=bookkeeping_key(pk),
                ConsistentRead=True,
                ProjectionExpression="#a",
                ExpressionAttributeNames={"#a": attribute},
            )
        return response.get("Item")

    def close(self) -> None:
        self.client.close()


@dataclass
class CommitStats:
    """Commits made by a recorder and the extra attempts they needed.

    Retries come from contention on the notification counter (or, rarely, conflicting
    transactions); the benchmark reports them per commit, since each costs WCU.
    """

    commits: int = 0
    retries: int = 0
    _lock: Lock = field(default_factory=Lock, repr=False, compare=False)

    def record(self, retries: int) -> None:
        with self._lock:
            self.commits += 1
            self.retries += retries


class DynamoDBRecorder:
    """Base class of the recorders: the datastore and the transaction retry loop."""

    MAX_ATTEMPTS = 100
    BACKOFF_BASE = 0.005
    BACKOFF_CAP = 0.2

    def __init__(self, datastore: DynamoDBDatastore) -> None:
        self.datastore = datastore
        self.stats = CommitStats()

    def create_table(self) -> None:
        self.datastore.create_table()

    def _attempts(self) -> Iterator[int]:
        """Yield attempt numbers, sleeping with full jitter before each retry."""
        for attempt in range(self.MAX_ATTEMPTS):
            if attempt:
                cap = min(self.BACKOFF_CAP, self.BACKOFF_BASE * 2**attempt)
                sleep(random.uniform(0, cap))  # jitter, not crypto
            yield attempt

    def _contended(self) -> OperationalError:
        msg = f"Commit still contended after {self.MAX_ATTEMPTS} attempts"
        return OperationalError(msg)

    def _try_transaction(self, ops: Sequence[tuple[str, dict[str, Any]]]) -> TransactionOutcome:
        """Run one TransactWriteItems of (role, item) pairs.

        Returns COMMITTED when this call committed, or LANDED with the cancellation
        reasons when an event's condition failed on the very item this commit writes
        (an earlier attempt of the same commit landed, and its answer was lost: see
        `is_own_item`), or RETRY with the reasons when the same commit may succeed if
        retried. Raises IntegrityError when an event or tracking condition failed on
        another writer's record, whatever else failed. botocore's idempotency token
        makes its own retries of this call safe within DynamoDB's 10-minute window;
        the LANDED check covers any other repeat of a commit that had landed.
        """
        with translated_errors("TransactWriteItems"):
            try:
                self.datastore.client.transact_write_items(
                    # the items are built by this module's helpers as plain dicts
                    TransactItems=cast("list[TransactWriteItemTypeDef]", [item for _, item in ops])
                )
            except ClientError as error:
                if error_code(error) != "TransactionCanceledException":
                    raise
                reasons = error.response.get("CancellationReasons", [])
            else:
                return COMMITTED, ()
        codes = [reason.get("Code", "None") for reason in reasons]
        if len(codes) != len(ops):
            msg = f"Transaction cancelled with {len(codes)} reasons for {len(ops)} items"
            raise OperationalError(msg)
        # A transaction is atomic: if one of its event items is there as this commit
        # wrote it, the whole commit landed before.
        for (role, op), reason in zip(ops, reasons, strict=True):
            if role == EVENT and reason.get("Code") == "ConditionalCheckFailed" and is_own_item(op["Put"], reason):
                return LANDED, reasons
        for (role, _), code in zip(ops, codes, strict=True):
            if code == "ConditionalCheckFailed" and role != COUNTER:
                msg = f"Commit conflicts with a recorded {role}"
                raise IntegrityError(msg)
        if not RETRYABLE_REASONS.issuperset(codes):
            msg = f"Transaction cancelled: {', '.join(codes)}"
            raise OperationalError(msg)
        return RETRY, reasons


class DynamoDBAggregateRecorder(DynamoDBRecorder, AggregateRecorder):
    """Stores events of aggregates: pk = originator id, sk = version.

    Recorders for other purposes than "events" (snapshots) prefix the partition key
    with ``$<purpose>#``, giving them their own key space in the same table.
    """

    def __init__(self, datastore: DynamoDBDatastore, *, purpose: str = "events") -> None:
        super().__init__(datastore)
        self.purpose = purpose
        self.heads = ChainHeads()  # the last hash of each stream read or written (chain.py)
        self.head_misses = 0  # appends whose predecessor's hash had to be read (bench, tests)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """One event: a conditional PutItem (1 WCU, half a transaction's cost).
        Several: one TransactWriteItems, so that the commit is atomic.
        """
        check_unique(stored_events)
        check_transaction_size(len(stored_events))
        links = self._links(stored_events)
        if len(stored_events) == 1:
            self._put_event(stored_events[0], links[0])
        elif stored_events:
            commit_id = new_commit_id()
            ops = [
                (EVENT, {"Put": self._event_put(e, commit_id, link)})
                for e, link in zip(stored_events, links, strict=True)
            ]
            self._transact(ops)
        self._remember(links)
        return None

    def _links(self, stored_events: Sequence[StoredEvent]) -> list[dict[str, Any]]:
        """The chain attributes of each event (prev, hash, who): see chain.py. The
        predecessor's hash comes from the events read before the command (`heads`), else
        from the event before it in this commit, else one GetItem."""
        if self.purpose != "events":
            return [{} for _ in stored_events]
        return [
            {
                "prev": hash_attribute(k.prev),
                "hash": hash_attribute(k.hash),
                "who": {"S": k.who},
                "_key": (k.stream, k.version),
            }
            for k in links(stored_events, self.datastore.encode_originator_id, self._hash_at)
        ]

    def _hash_at(self, stream: str, version: int) -> str:
        if version < 1:
            return GENESIS
        known = self.heads.hash_at(stream, version)
        if known is not None:
            return known
        with translated_errors("GetItem"):
            item = self.datastore.client.get_item(
                TableName=self.datastore.table_name,
                Key={"pk": {"S": stream}, "sk": number(version)},
                ConsistentRead=True,
                ProjectionExpression="#h",
                ExpressionAttributeNames={"#h": "hash"},
            ).get("Item")
        self.head_misses += 1
        return (stored_hash(item.get("hash")) if item else None) or ""  # "": a predecessor without a chain

    def _remember(self, links: Sequence[Mapping[str, Any]]) -> None:
        for link in links:
            if link:
                stream, version = link["_key"]
                self.heads.remember(stream, version, stored_hash(link["hash"]) or "")

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        text_id = self.datastore.encode_originator_id(originator_id)
        if (limit is not None and limit < 1) or (gt is not None and lte is not None and gt >= lte):
            return []  # DynamoDB rejects Limit 0 and BETWEEN with reversed bounds
        condition, names = "#pk = :pk", pick(NAMES, "#pk")
        values = {":pk": {"S": self._partition_key(text_id)}}
        version_condition, version_values = versions_between(gt, lte)
        if version_condition:
            condition += f" AND {version_condition}"
            names |= pick(NAMES, "#sk")
            values |= version_values
        params: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not desc,
            "ConsistentRead": True,  # an aggregate is read to decide its next version
        }
        if limit is not None:
            params["Limit"] = limit
        decoded_id = self.datastore.decode_originator_id(text_id)
        events = []
        for item in islice(self.datastore.query(**params), limit):
            if "hash" in item:
                self.heads.remember(text_id, int(item["sk"]["N"]), stored_hash(item["hash"]) or "")
            events.append(stored_event_of(item, decoded_id))
        return events

    def _transact(self, ops: list[tuple[str, dict[str, Any]]]) -> None:
        for attempt in self._attempts():
            outcome, _ = self._try_transaction(ops)
            if outcome != RETRY:
                self.stats.record(retries=attempt)
                return
        raise self._contended()

    def _partition_key(self, text_id: str) -> str:
        if self.purpose == "events":
            return text_id
        return f"{RESERVED_PREFIX}{self.purpose}#{text_id}"

    def _event_put(
        self, stored_event: StoredEvent, commit_id: bytes, link: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A conditional Put of one event: it fails if the version is recorded, and then
        returns the recorded item (ALL_OLD: no read capacity), whose commit id tells our
        own earlier attempt from another commit's event (`is_own_item`)."""
        text_id = self.datastore.encode_originator_id(stored_event.originator_id)
        return {
            "TableName": self.datastore.table_name,
            "Item": {
                "pk": {"S": self._partition_key(text_id)},
                "sk": number(stored_event.originator_version),
                "topic": {"S": stored_event.topic},
                "state": {"B": stored_event.state},
                COMMIT_ID: {"B": commit_id},
                **{k: v for k, v in (link or {}).items() if not k.startswith("_")},
            },
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": "pk"},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _put_event(self, stored_event: StoredEvent, link: Mapping[str, Any] | None = None) -> None:
        """botocore retries a timeout or a 5xx with the same request: if the first
        attempt had landed, the retry's condition fails on our own item, which is
        success, not a conflict."""
        put = self._event_put(stored_event, new_commit_id(), link)
        with translated_errors("PutItem"):
            try:
                self.datastore.client.put_item(**put)
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
                if not is_own_item(put, error.response):
                    msg = (
                        f"Stored event already recorded: {stored_event.originator_id}"
                        f" version {stored_event.originator_version}"
                    )
                    raise IntegrityError(msg) from None
                logger.debug("PutItem of %s v%d had landed before its retry", *put_key(put))
        self.stats.record(retries=0)


class DynamoDBApplicationRecorder(DynamoDBAggregateRecorder, ApplicationRecorder):
    """Stores events and numbers them in one gap-free notification sequence (the log).

    The counter item ``$log#<log name>`` holds the last notification id issued. A
    commit reads it (strongly consistent), then writes its events with the next ids
    and moves the counter on, all in one transaction conditional on the counter still
    holding the value read. If another writer moved it first, only the counter's
    condition fails: the commit is retried with the counter's new value (returned by
    the failed condition itself), after a jittered backoff. If an event's version is
    already recorded, the commit raises IntegrityError.
    """

    def __init__(self, datastore: DynamoDBDatastore, *, log_name: str = "default") -> None:
        super().__init__(datastore)
        self.log_name = log_name
        self.counter_pk = f"{RESERVED_PREFIX}log#{log_name}"
        self._listeners: set[Event] = set()

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        check_unique(stored_events)
        check_transaction_size(len(stored_events) + 1 + len(self._other_ops(**kwargs)))
        if not stored_events:
            return []
        links = self._links(stored_events)
        notification_ids = self._commit(stored_events, links=links, **kwargs)
        self._remember(links)
        self._notify_listeners()
        return notification_ids

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """Notifications from `start` up to `stop` (both inclusive unless
        inclusive_of_start is false), at most `limit`, optionally only of `topics`.

        Reads the counter first: every id up to it is committed, so any id missing
        from the index below it is lag, and the result ends before it.
        """
        if limit < 1:
            return []
        first = 1 if start is None else start + (0 if inclusive_of_start else 1)
        first = max(first, 1)
        last = self._read_counter()
        if stop is not None:
            last = min(last, stop)
        if first > last:
            return []
        return self._contiguous_notifications(first, last, limit, frozenset(topics))

    def max_notification_id(self) -> int | None:
        return self._read_counter() or None

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription[ApplicationRecorder]:
        return DynamoDBSubscription(recorder=self, gt=gt, topics=topics)

    def listen(self, event: Event) -> None:
        self._listeners.add(event)

    def unlisten(self, event: Event) -> None:
        self._listeners.discard(event)

    def _commit(
        self, stored_events: Sequence[StoredEvent], *, links: Sequence[Mapping[str, Any]], **kwargs: Any
    ) -> list[int]:
        last_nid = self._read_counter()
        commit_id = new_commit_id()
        for attempt in self._attempts():
            ops = self._commit_ops(stored_events, last_nid, commit_id, links=links, **kwargs)
            outcome, reasons = self._try_transaction(ops)
            if outcome == COMMITTED:
                self.stats.record(retries=attempt)
                return list(range(last_nid + 1, last_nid + 1 + len(stored_events)))
            if outcome == LANDED:
                self.stats.record(retries=attempt)
                return landed_notification_ids(ops, reasons)
            last_nid = self._counter_after(reasons, ops)
            logger.debug(
                "Log %s: commit attempt %d lost the counter; now at %d",
                self.log_name,
                attempt + 1,
                last_nid,
            )
        raise self._contended()

    def _commit_ops(
        self,
        stored_events: Sequence[StoredEvent],
        last_nid: int,
        commit_id: bytes,
        *,
        links: Sequence[Mapping[str, Any]],
        **kwargs: Any,
    ) -> list[tuple[str, dict[str, Any]]]:
        events = [
            (EVENT, {"Put": self._notified_event_put(stored_event, nid, commit_id, link)})
            for nid, (stored_event, link) in enumerate(zip(stored_events, links, strict=True), start=last_nid + 1)
        ]
        counter = (COUNTER, {"Update": self._counter_update(last_nid, len(stored_events))})
        return [*events, counter, *self._other_ops(**kwargs)]

    def _other_ops(self, **kwargs: Any) -> list[tuple[str, dict[str, Any]]]:
        """Further items to write atomically with the events (the process recorder's
        tracking position)."""
        return []

    def _notified_event_put(
        self, stored_event: StoredEvent, nid: int, commit_id: bytes, link: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        put = self._event_put(stored_event, commit_id, link)
        put["Item"] |= {"log": {"S": self.log_name}, "nid": number(nid)}
        return put

    def _counter_update(self, last_nid: int, count: int) -> dict[str, Any]:
        """Move the counter from `last_nid` on by `count`, only if it still holds it.

        ALL_OLD makes a failed condition report the counter's current value, which
        saves the retry a read.
        """
        update: dict[str, Any] = {
            "TableName": self.datastore.table_name,
            "Key": bookkeeping_key(self.counter_pk),
            "UpdateExpression": "SET #last = :next",
            "ExpressionAttributeNames": pick(NAMES, "#last"),
            "ExpressionAttributeValues": {":next": number(last_nid + count)},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if last_nid == 0:
            update["ConditionExpression"] = "attribute_not_exists(#pk)"
            update["ExpressionAttributeNames"]["#pk"] = "pk"
        else:
            update["ConditionExpression"] = "#last = :last"
            update["ExpressionAttributeValues"][":last"] = number(last_nid)
        return update

    def _counter_after(self, reasons: Sequence[Mapping[str, Any]], ops: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """The counter's value after a cancelled commit: from the failed condition
        if it reported one, else read again (e.g. after a TransactionConflict)."""
        roles = [role for role, _ in ops]
        counter_item = reasons[roles.index(COUNTER)].get("Item")
        if counter_item and "last_nid" in counter_item:
            return int(counter_item["last_nid"]["N"])
        return self._read_counter()

    def _read_counter(self) -> int:
        item = self.datastore.get_item(self.counter_pk, "last_nid")
        return int(item["last_nid"]["N"]) if item else 0

    def _contiguous_notifications(
        self, first: int, last: int, limit: int, topics: frozenset[str]
    ) -> list[Notification]:
        """Query the index for ids first..last and keep the leading contiguous run.

        Topics are filtered here rather than by a FilterExpression, because skipped
        ids must still be seen to tell a filtered id from a missing one; a filter
        would not save read capacity anyway.
        """
        page_size = limit if not topics else max(limit, 100)
        items = self.datastore.query(
            IndexName=NOTIFICATIONS_INDEX,
            KeyConditionExpression="#log = :log AND #nid BETWEEN :first AND :last",
            ExpressionAttributeNames=pick(NAMES, "#log", "#nid"),
            ExpressionAttributeValues={
                ":log": {"S": self.log_name},
                ":first": number(first),
                ":last": number(last),
            },
            Limit=min(page_size, last - first + 1),
        )
        notifications: list[Notification] = []
        for expected_nid, item in enumerate(items, start=first):
            if int(item["nid"]["N"]) != expected_nid:
                break  # not yet in the index: never hand out the ids after it
            if not topics or item["topic"]["S"] in topics:
                notifications.append(self._notification(item))
                if len(notifications) == limit:
                    break
        return notifications

    def _notification(self, item: dict[str, Any]) -> Notification:
        return Notification(
            id=int(item["nid"]["N"]),
            originator_id=self.datastore.decode_originator_id(item["pk"]["S"]),
            originator_version=int(item["sk"]["N"]),
            topic=item["topic"]["S"],
            state=item["state"]["B"],
        )

    def _notify_listeners(self) -> None:
        for listener in list(self._listeners):
            listener.set()


class DynamoDBSubscription(ListenNotifySubscription[DynamoDBApplicationRecorder]):
    """Follows the log: woken at once by commits of this process's recorder, and
    otherwise by polling, since DynamoDB has no LISTEN/NOTIFY. A poll that finds
    nothing new costs one consistent GetItem of the counter."""

    POLL_INTERVAL = 0.5

    def __init__(
        self,
        recorder: DynamoDBApplicationRecorder,
        gt: int | None = None,
        topics: Sequence[str] = (),
    ) -> None:
        # Before the base class starts pulling, which calls stop() if it fails.
        self._stopped = Event()
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._recorder.listen(self._has_been_notified)
        self._poll_thread = Thread(target=self._poll, daemon=True)
        self._poll_thread.start()

    def stop(self) -> None:
        super().stop()
        self._recorder.unlisten(self._has_been_notified)
        self._stopped.set()

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._poll_thread.join()

    def _poll(self) -> None:
        while not self._stopped.wait(self.POLL_INTERVAL):
            self._has_been_notified.set()


class DynamoDBTrackingRecorder(DynamoDBRecorder, TrackingRecorder):
    """Records the position of a follower in each upstream log: one item per upstream
    application, ``$tracking#<name>#<upstream name>``, whose notification_id only ever
    increases (a repeated or lower position raises IntegrityError)."""

    def __init__(self, datastore: DynamoDBDatastore, *, tracking_name: str = "default", **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.tracking_name = tracking_name

    def insert_tracking(self, tracking: Tracking) -> None:
        with translated_errors("UpdateItem"):
            try:
                self.datastore.client.update_item(**self._tracking_update(tracking))
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    msg = (
                        f"Tracking position {tracking.notification_id} of "
                        f"{tracking.application_name!r} is not after the recorded one"
                    )
                    raise IntegrityError(msg) from None
                raise

    def max_tracking_id(self, application_name: str) -> int | None:
        pk = self._tracking_pk(application_name)
        item = self.datastore.get_item(pk, "notification_id")
        return int(item["notification_id"]["N"]) if item else None

    def _tracking_pk(self, application_name: str) -> str:
        return f"{RESERVED_PREFIX}tracking#{self.tracking_name}#{application_name}"

    def _tracking_update(self, tracking: Tracking) -> dict[str, Any]:
        """Set the position, only if it moves forward."""
        return {
            "TableName": self.datastore.table_name,
            "Key": bookkeeping_key(self._tracking_pk(tracking.application_name)),
            "UpdateExpression": "SET #tracked = :n",
            "ConditionExpression": "attribute_not_exists(#pk) OR #tracked < :n",
            "ExpressionAttributeNames": pick(NAMES, "#pk", "#tracked"),
            "ExpressionAttributeValues": {":n": number(tracking.notification_id)},
        }


class DynamoDBProcessRecorder(DynamoDBTrackingRecorder, DynamoDBApplicationRecorder, ProcessRecorder):
    """An application recorder whose commits also move a tracking position, in the
    same transaction (so an event is processed exactly once)."""

    def __init__(self, datastore: DynamoDBDatastore, *, name: str = "default") -> None:
        super().__init__(datastore, tracking_name=name, log_name=name)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        tracking: Tracking | None = kwargs.get("tracking")
        if not stored_events and tracking is not None:
            self.insert_tracking(tracking)  # a plain conditional update: no counter
            return []
        return super().insert_events(stored_events, **kwargs)

    def _other_ops(self, **kwargs: Any) -> list[tuple[str, dict[str, Any]]]:
        tracking: Tracking | None = kwargs.get("tracking")
        if tracking is None:
            return []
        return [(TRACKING, {"Update": self._tracking_update(tracking)})]


class DynamoDBFactory(InfrastructureFactory[DynamoDBTrackingRecorder]):
    """Constructs the recorders of one application, all on the table DYNAMODB_TABLE."""

    DYNAMODB_TABLE = "DYNAMODB_TABLE"
    DYNAMODB_CREATE_TABLE = "DYNAMODB_CREATE_TABLE"
    AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"
    SNAPSHOTS_BUCKET = "SNAPSHOTS_BUCKET"
    ORIGINATOR_ID_TYPE = "ORIGINATOR_ID_TYPE"

    aggregate_recorder_class = DynamoDBAggregateRecorder
    application_recorder_class = DynamoDBApplicationRecorder
    tracking_recorder_class = DynamoDBTrackingRecorder
    process_recorder_class = DynamoDBProcessRecorder

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        table_name = self.env.get(self.DYNAMODB_TABLE)
        if not table_name:
            msg = (
                "DynamoDB table name not found in environment with keys: "
                f"{', '.join(self.env.create_keys(self.DYNAMODB_TABLE))}"
            )
            raise OSError(msg)
        originator_id_type = self.env.get(self.ORIGINATOR_ID_TYPE, "uuid").lower()
        if originator_id_type not in ("uuid", "text"):
            msg = f"Invalid {self.ORIGINATOR_ID_TYPE} '{originator_id_type}', must be 'uuid' or 'text'"
            raise OSError(msg)
        self.endpoint_url = self.env.get(self.AWS_ENDPOINT_URL) or None
        self.datastore = DynamoDBDatastore(
            table_name,
            endpoint_url=self.endpoint_url,
            originator_id_type=cast(Literal["uuid", "text"], originator_id_type),
        )
        self._s3_client: S3Client | None = None

    @property
    def recorder_name(self) -> str:
        """Names the application's log and tracking items: the application name."""
        return self.env.name or "default"

    def mapper(self, transcoder: Any = None, mapper_class: Any = None) -> Any:
        """The chaining mapper (chain.py) unless MAPPER_TOPIC or the caller names another."""
        if mapper_class is None and not self.env.get(self.MAPPER_TOPIC):
            mapper_class = ChainingMapper
        return super().mapper(transcoder=transcoder, mapper_class=mapper_class)

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        bucket = self.env.get(self.SNAPSHOTS_BUCKET)
        if purpose == "snapshots" and bucket:
            return S3SnapshotRecorder(self._s3(), bucket)
        return self._created(self.aggregate_recorder_class(self.datastore, purpose=purpose))

    def application_recorder(self) -> ApplicationRecorder:
        recorder_class = self._topic_or(self.APPLICATION_RECORDER_TOPIC, self.application_recorder_class)
        return self._created(recorder_class(self.datastore, log_name=self.recorder_name))

    def tracking_recorder(
        self, tracking_recorder_class: type[DynamoDBTrackingRecorder] | None = None
    ) -> DynamoDBTrackingRecorder:
        recorder_class = tracking_recorder_class or self._topic_or(
            self.TRACKING_RECORDER_TOPIC, self.tracking_recorder_class
        )
        recorder = recorder_class(self.datastore, tracking_name=self.recorder_name)
        return self._created(recorder)

    def process_recorder(self) -> ProcessRecorder:
        recorder_class = self._topic_or(self.PROCESS_RECORDER_TOPIC, self.process_recorder_class)
        return self._created(recorder_class(self.datastore, name=self.recorder_name))

    def env_create_table(self) -> bool:
        return bool(strtobool(self.env.get(self.DYNAMODB_CREATE_TABLE) or "no"))

    def close(self) -> None:
        self.datastore.close()
        if self._s3_client is not None:
            self._s3_client.close()

    def _topic_or(self, key: str, default: type[_Recorder]) -> type[_Recorder]:
        """The recorder class named by environment variable `key`, else `default`."""
        topic = self.env.get(key)
        recorder_class: type[_Recorder] = resolve_topic(topic) if topic else default
        assert issubclass(recorder_class, default), recorder_class
        return recorder_class

    def _created(self, recorder: _Recorder) -> _Recorder:
        if self.env_create_table():
            recorder.create_table()
        return recorder

    def _s3(self) -> S3Client:
        if self._s3_client is None:
            self._s3_client = new_client("s3", self.endpoint_url)
        return self._s3_client


Factory = DynamoDBFactory


def new_commit_id() -> bytes:
    """The id of one commit, made once before its first attempt."""
    return uuid4().bytes


def is_own_item(put: Mapping[str, Any], answer: Mapping[str, Any]) -> bool:
    """Whether the item a failed ``attribute_not_exists`` condition returned (ALL_OLD:
    ``Item`` of a ConditionalCheckFailedException, or of a transaction's cancellation
    reason) was written by the very commit `put` belongs to: the same commit id.

    The id is made once per commit, before its first attempt, so every repeat of the
    commit carries it: botocore's retry of the same request, and our own retry of a
    cancelled transaction. The event's state cannot serve: a second commit of the same
    stored event (a caller's retry) must still conflict. An answer without ``Item`` (an
    emulator ignoring ReturnValuesOnConditionCheckFailure) is not ours: the conflict
    stands.
    """
    item = answer.get("Item") or {}
    theirs = item.get(COMMIT_ID, {}).get("B")
    return theirs is not None and bytes(theirs) == put["Item"][COMMIT_ID]["B"]


def put_key(put: Mapping[str, Any]) -> tuple[str, int]:
    return put["Item"]["pk"]["S"], int(put["Item"]["sk"]["N"])


def landed_notification_ids(
    ops: Sequence[tuple[str, dict[str, Any]]], reasons: Sequence[Mapping[str, Any]]
) -> list[int]:
    """The notification ids an earlier attempt of this commit took: its events' ids are
    consecutive, so one returned event item tells all of them."""
    events = [(op, reason) for (role, op), reason in zip(ops, reasons, strict=True) if role == EVENT]
    for index, (op, reason) in enumerate(events):
        if reason.get("Code") == "ConditionalCheckFailed" and is_own_item(op["Put"], reason):
            first = int(reason["Item"]["nid"]["N"]) - index
            return list(range(first, first + len(events)))
    msg = "No event of the commit was returned"  # _try_transaction said LANDED: unreachable
    raise OperationalError(msg)


def bookkeeping_key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": number(BOOKKEEPING_SK)}


def number(value: int) -> dict[str, str]:
    """A DynamoDB number attribute value."""
    return {"N": str(value)}


def pick(mapping: dict[str, str], *keys: str) -> dict[str, str]:
    """The expression attribute names an expression uses (DynamoDB rejects unused ones)."""
    return {key: mapping[key] for key in keys}


def versions_between(gt: int | None, lte: int | None) -> tuple[str, dict[str, Any]]:
    """The sort key condition for versions in (gt, lte], if bounded: a Query takes a
    single sort key condition, so both bounds make one BETWEEN."""
    if gt is not None and lte is not None:
        return "#sk BETWEEN :gt1 AND :lte", {":gt1": number(gt + 1), ":lte": number(lte)}
    if gt is not None:
        return "#sk > :gt", {":gt": number(gt)}
    if lte is not None:
        return "#sk <= :lte", {":lte": number(lte)}
    return "", {}


def check_transaction_size(num_items: int) -> None:
    """Refuse commits one TransactWriteItems cannot hold, instead of splitting them,
    which would give up atomicity and let other commits interleave in the log."""
    if num_items > MAX_TRANSACTION_ITEMS:
        msg = (
            f"A commit needs {num_items} items, more than a DynamoDB transaction "
            f"holds ({MAX_TRANSACTION_ITEMS}); commit fewer events at a time"
        )
        raise NotSupportedError(msg)
