"""Behaviour the library's test cases do not pin down: the key layout the CloudFormation
template and stream consumers rely on, the write pattern we pay for, index lag, the
transaction size limit, and configuration through an application's environment."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import (
    DataError,
    InfrastructureFactory,
    IntegrityError,
    NotSupportedError,
    StoredEvent,
    Tracking,
)
from eventsourcing.utils import Environment

from chalicelib.eventstore.aws import new_client
from chalicelib.eventstore.dynamodb import (
    DynamoDBAggregateRecorder,
    DynamoDBApplicationRecorder,
    DynamoDBDatastore,
    DynamoDBFactory,
    DynamoDBProcessRecorder,
)
from chalicelib.eventstore.s3snapshots import S3SnapshotRecorder
from tests.contract._support import drop_bucket, drop_table

pytestmark = pytest.mark.contract


@pytest.fixture
def datastore(aws_endpoint: str) -> Any:
    datastore = DynamoDBDatastore(f"test-{uuid4().hex}", endpoint_url=aws_endpoint)
    datastore.create_table()
    yield datastore
    drop_table(datastore)


@pytest.fixture
def bucket(aws_endpoint: str) -> Any:
    client = new_client("s3", aws_endpoint)
    name = f"test-{uuid4().hex}"
    client.create_bucket(Bucket=name)
    yield name
    drop_bucket(client, name)


def raw_item(datastore: DynamoDBDatastore, pk: str, sk: int) -> dict[str, Any]:
    response = datastore.client.get_item(
        TableName=datastore.table_name,
        Key={"pk": {"S": pk}, "sk": {"N": str(sk)}},
        ConsistentRead=True,
    )
    return response["Item"]


def record_operations(datastore: DynamoDBDatastore) -> list[str]:
    """The names of the DynamoDB API calls the datastore's client makes from now on."""
    calls: list[str] = []
    datastore.client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    return calls


def events(originator_id: Any, versions: range) -> list[StoredEvent]:
    return [StoredEvent(originator_id, v, "topic", f"state{v}".encode()) for v in versions]


def test_key_layout(datastore: DynamoDBDatastore) -> None:
    recorder = DynamoDBProcessRecorder(datastore, name="Payments")
    originator_id = uuid4()
    recorder.insert_events(events(originator_id, range(1, 3)), tracking=Tracking("Up", 7))

    event_item = raw_item(datastore, str(originator_id), 2)
    commit_id = event_item.pop("cid")["B"]  # the commit's id, the same on its every event
    assert len(commit_id) == 16 and raw_item(datastore, str(originator_id), 1)["cid"]["B"] == commit_id
    # the hash chain, stored at append (chalicelib/eventstore/chain.py): each event names its
    # predecessor's hash, and who recorded it (no request context here: empty fields)
    first = raw_item(datastore, str(originator_id), 1)
    # the chain's hashes, 32 bytes each (chalicelib/eventstore/chain.py)
    assert event_item.pop("prev") == first["hash"] and len(event_item.pop("hash")["B"]) == 32
    assert event_item.pop("who") == {"S": '{"client":"","region":"","request_id":"","step":""}'}
    assert event_item == {
        "pk": {"S": str(originator_id)},
        "sk": {"N": "2"},
        "topic": {"S": "topic"},
        "state": {"B": b"state2"},
        "log": {"S": "Payments"},
        "nid": {"N": "2"},
    }
    assert raw_item(datastore, "$log#Payments", 0)["last_nid"] == {"N": "2"}
    assert raw_item(datastore, "$tracking#Payments#Up", 0)["notification_id"] == {"N": "7"}

    snapshots = DynamoDBAggregateRecorder(datastore, purpose="snapshots")
    snapshots.insert_events(events(originator_id, range(2, 3)))
    snapshot_item = raw_item(datastore, f"$snapshots#{originator_id}", 2)
    assert snapshot_item["state"] == {"B": b"state2"}
    # The key spaces are apart: events and snapshots of one aggregate do not mix.
    assert [e.originator_version for e in recorder.select_events(originator_id)] == [1, 2]
    assert [e.originator_version for e in snapshots.select_events(originator_id)] == [2]


def test_write_pattern(datastore: DynamoDBDatastore) -> None:
    aggregate_recorder = DynamoDBAggregateRecorder(datastore)
    calls = record_operations(datastore)
    aggregate_recorder.insert_events(events(uuid4(), range(1, 2)))
    assert calls == ["PutItem"]

    calls.clear()
    aggregate_recorder.insert_events(events(uuid4(), range(1, 3)))
    assert calls == ["TransactWriteItems"]

    calls.clear()
    DynamoDBApplicationRecorder(datastore).insert_events(events(uuid4(), range(1, 2)))
    assert calls == ["GetItem", "TransactWriteItems"]


def test_commits_beyond_one_transaction_are_refused(datastore: DynamoDBDatastore) -> None:
    aggregate_recorder = DynamoDBAggregateRecorder(datastore)
    aggregate_recorder.insert_events(events(uuid4(), range(100)))
    with pytest.raises(NotSupportedError):
        aggregate_recorder.insert_events(events(uuid4(), range(101)))

    application_recorder = DynamoDBApplicationRecorder(datastore)
    originator_id = uuid4()
    with pytest.raises(NotSupportedError):
        application_recorder.insert_events(events(originator_id, range(100)))
    assert application_recorder.select_events(originator_id) == []
    assert application_recorder.insert_events(events(originator_id, range(99))) == list(range(1, 100))


def test_select_notifications_stops_at_index_lag(datastore: DynamoDBDatastore) -> None:
    recorder = DynamoDBApplicationRecorder(datastore)
    originator_id = uuid4()
    recorder.insert_events(events(originator_id, range(1, 4)))

    # Index lag, simulated: the event with id 2 is committed but not yet in the index.
    key = {"pk": {"S": str(originator_id)}, "sk": {"N": "2"}}
    datastore.client.update_item(
        TableName=datastore.table_name,
        Key=key,
        UpdateExpression="REMOVE #log",
        ExpressionAttributeNames={"#log": "log"},
    )
    assert recorder.max_notification_id() == 3
    assert [n.id for n in recorder.select_notifications(1, 10)] == [1]
    assert recorder.select_notifications(1, 10, inclusive_of_start=False) == []
    assert [n.id for n in recorder.select_notifications(3, 10)] == [3]

    datastore.client.update_item(
        TableName=datastore.table_name,
        Key=key,
        UpdateExpression="SET #log = :log",
        ExpressionAttributeNames={"#log": "log"},
        ExpressionAttributeValues={":log": {"S": recorder.log_name}},
    )
    assert [n.id for n in recorder.select_notifications(1, 10)] == [1, 2, 3]


def test_failed_tracking_commits_nothing(datastore: DynamoDBDatastore) -> None:
    recorder = DynamoDBProcessRecorder(datastore)
    recorder.insert_events([], tracking=Tracking("Up", 5))
    originator_id = uuid4()
    with pytest.raises(IntegrityError):
        recorder.insert_events(events(originator_id, range(1, 2)), tracking=Tracking("Up", 5))
    assert recorder.select_events(originator_id) == []
    assert recorder.max_notification_id() is None


def test_originator_ids_cannot_reach_bookkeeping_keys(datastore: DynamoDBDatastore) -> None:
    by_uuid = DynamoDBAggregateRecorder(datastore)
    with pytest.raises(DataError):
        by_uuid.insert_events(events("$log#default", range(1, 2)))
    text_store = DynamoDBDatastore(datastore.table_name, endpoint_url=datastore.endpoint_url, originator_id_type="text")
    by_text = DynamoDBAggregateRecorder(text_store)
    with pytest.raises(DataError):
        by_text.insert_events(events("$log#default", range(1, 2)))
    by_text.insert_events(events("payment-1", range(1, 2)))
    assert by_text.select_events("payment-1")[0].originator_id == "payment-1"
    text_store.close()


def test_factory_reads_application_prefixed_environment(
    aws_endpoint: str, datastore: DynamoDBDatastore, bucket: str
) -> None:
    env = Environment(
        "Payments",
        {
            "PERSISTENCE_MODULE": "chalicelib.eventstore.dynamodb",
            "PAYMENTS_DYNAMODB_TABLE": datastore.table_name,
            "DYNAMODB_TABLE": "not-this-one",
            "AWS_ENDPOINT_URL": aws_endpoint,
        },
    )
    factory = InfrastructureFactory.construct(env)
    assert isinstance(factory, DynamoDBFactory)
    recorder = factory.application_recorder()
    assert isinstance(recorder, DynamoDBApplicationRecorder)
    assert recorder.datastore.table_name == datastore.table_name
    assert recorder.log_name == "Payments"
    assert isinstance(factory.aggregate_recorder("snapshots"), DynamoDBAggregateRecorder)

    env["PAYMENTS_SNAPSHOTS_BUCKET"] = bucket
    assert isinstance(factory.aggregate_recorder("snapshots"), S3SnapshotRecorder)
    factory.close()

    with pytest.raises(OSError, match="DYNAMODB_TABLE"):
        DynamoDBFactory(Environment("Payments", {}))


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = 0

    @event("Credited")
    def credit(self, amount: int) -> None:
        self.balance += amount


def test_application_with_snapshots_in_s3(aws_endpoint: str, bucket: str) -> None:
    table_name = f"test-{uuid4().hex}"
    app = Application[Any](
        env={
            "PERSISTENCE_MODULE": "chalicelib.eventstore.dynamodb",
            "DYNAMODB_TABLE": table_name,
            "DYNAMODB_CREATE_TABLE": "y",
            "AWS_ENDPOINT_URL": aws_endpoint,
            "SNAPSHOTS_BUCKET": bucket,
            "IS_SNAPSHOTTING_ENABLED": "y",
            "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        }
    )
    try:
        account = Account("alice")
        account.credit(5)
        app.save(account)
        app.take_snapshot(account.id)
        account = app.repository.get(account.id)
        account.credit(7)
        app.save(account)

        assert app.repository.get(account.id).balance == 12
        assert app.repository.get(account.id, version=2).balance == 5
        assert app.snapshots is not None
        assert isinstance(app.snapshots.recorder, S3SnapshotRecorder)
        assert [n.id for n in app.notification_log.select(start=1, limit=10)] == [1, 2, 3]
    finally:
        datastore = app.recorder.datastore  # type: ignore[attr-defined]
        app.close()
        drop_table(DynamoDBDatastore(table_name, endpoint_url=aws_endpoint))
        datastore.close()
