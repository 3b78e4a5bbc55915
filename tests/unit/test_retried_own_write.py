"""A write whose first attempt landed and whose answer was lost is retried by botocore with
the same request; the retry's condition then fails on our own item. That is success, not a
conflict (issue 8 item 6).

botocore's retry is real here: a `needs-retry` hook asks for one more attempt after the
first one reached (moto's) DynamoDB, as botocore does after a timeout or a 5xx.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from unittest import mock
from uuid import uuid4

import pytest
from eventsourcing.cipher import AESCipher
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import Environment
from moto import mock_aws

from chalicelib import bootstrap
from chalicelib.adapters.settings import Settings
from chalicelib.domain import TxSts
from chalicelib.eventstore.dynamodb import (
    DynamoDBAggregateRecorder,
    DynamoDBApplicationRecorder,
    DynamoDBDatastore,
)
from chalicelib.pipeline.messages import StepMessage
from chalicelib.pipeline.payments import Payments
from tests.messages import fresh
from tests.unit.fakes import memory_adapters, memory_service

OWNER = "client-a"


@pytest.fixture
def aws() -> Iterator[None]:
    environ = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with mock.patch.dict(os.environ, environ, clear=True), mock_aws():
        yield


@pytest.fixture
def datastore(aws: None) -> DynamoDBDatastore:
    store = DynamoDBDatastore(f"test-{uuid4().hex}")
    store.create_table()
    return store


class LostAnswer:
    """Make botocore retry the next `operation` once after its first attempt was sent."""

    def __init__(self, client: Any, operation: str) -> None:
        self.armed = False
        self.retried = 0
        client.meta.events.register_first(f"needs-retry.dynamodb.{operation}", self)

    def __call__(self, attempts: int, **_: Any) -> float | None:
        if self.armed and attempts == 1:
            self.armed = False
            self.retried += 1
            return 0.0  # retry now, as after a lost answer
        return None


def event(originator_id: Any, version: int, state: bytes) -> StoredEvent:
    return StoredEvent(originator_id, version, "topic", state)


def test_a_retried_put_that_finds_its_own_item_has_recorded(datastore: DynamoDBDatastore) -> None:
    recorder = DynamoDBAggregateRecorder(datastore)
    lost = LostAnswer(datastore.client, "PutItem")
    originator_id = uuid4()
    lost.armed = True
    recorder.insert_events(
        [
            event(
                originator_id, 1, AESCipher(Environment(env={"CIPHER_KEY": AESCipher.create_key(16)})).encrypt(b"state")
            )
        ]
    )
    assert lost.retried == 1
    assert [e.originator_version for e in recorder.select_events(originator_id)] == [1]


def test_another_writers_item_still_conflicts(datastore: DynamoDBDatastore) -> None:
    recorder = DynamoDBAggregateRecorder(datastore)
    originator_id = uuid4()
    recorder.insert_events([event(originator_id, 1, b"theirs")])
    with pytest.raises(IntegrityError):
        recorder.insert_events([event(originator_id, 1, b"ours")])
    with pytest.raises(IntegrityError):  # the same in a transaction
        recorder.insert_events([event(originator_id, 1, b"ours"), event(originator_id, 2, b"ours")])
    application_recorder = DynamoDBApplicationRecorder(datastore, log_name="app")
    with pytest.raises(IntegrityError):
        application_recorder.insert_events([event(originator_id, 1, b"ours")])


@pytest.mark.parametrize("recorder_class", [DynamoDBAggregateRecorder, DynamoDBApplicationRecorder])
def test_a_repeated_transaction_that_finds_its_own_items_has_recorded(
    datastore: DynamoDBDatastore, recorder_class: type[DynamoDBAggregateRecorder]
) -> None:
    """On AWS, botocore's ClientRequestToken makes DynamoDB answer a repeated transaction
    with success for ten minutes; beyond that (or where tokens are ignored, as by moto) the
    repeat is cancelled with ConditionalCheckFailed and ALL_OLD items: ours, so recorded."""
    recorder = recorder_class(datastore)
    lost = LostAnswer(datastore.client, "TransactWriteItems")
    other, originator_id = uuid4(), uuid4()
    recorder.insert_events([event(other, 1, b"x"), event(other, 2, b"y")])  # the log's ids 1, 2
    lost.armed = True
    ids = recorder.insert_events([event(originator_id, 1, b"a"), event(originator_id, 2, b"b")])
    assert lost.retried == 1
    assert [e.state for e in recorder.select_events(originator_id)] == [b"a", b"b"]
    if isinstance(recorder, DynamoDBApplicationRecorder):
        assert ids == [3, 4]
        assert [n.id for n in recorder.select_notifications(1, 10)] == [1, 2, 3, 4]


def test_a_release_whose_save_was_a_retried_own_write_is_notified_once(aws: None) -> None:
    """The whole pipeline on the DynamoDB store: the Released event's commit lands, its
    answer is lost, botocore retries; the step records once and notifies once."""
    adapters = memory_adapters()
    table = f"events-{uuid4().hex}"
    adapters["payments"] = Payments(
        env={
            "PERSISTENCE_MODULE": "chalicelib.eventstore.dynamodb",
            "DYNAMODB_TABLE": table,
            "DYNAMODB_CREATE_TABLE": "y",
        }
    )
    p = bootstrap.build(Settings(step_handoff="queue"), **adapters)  # the release's message lost
    client = p.payments.recorder.datastore.client  # type: ignore[attr-defined]
    lost = {op: LostAnswer(client, op) for op in ("PutItem", "TransactWriteItems")}
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", fresh("pacs008_bare.xml"), OWNER)
    for queue, handler in ((p.adapters.incoming, p.incoming), (p.adapters.processing, p.processing)):
        _, _, body = queue.sent.pop(0)
        handler(StepMessage(tx, body, 1))
    _, _, body = p.adapters.releasing.sent.pop(0)
    for hook in lost.values():
        hook.armed = True
    p.releasing(StepMessage(tx, body, 1))
    assert sum(hook.retried for hook in lost.values()) == 1
    assert [type(e).__name__ for e in p.payments.history(tx)] == [
        "Initiated",
        "Submitted",
        "Received",
        "Accepted",
        "Released",
    ]
    assert [n[1] for n in p.adapters.notifier.published] == ["ACSC"]


def test_releasing_notifies_from_the_recorded_state_not_the_save_outcome() -> None:
    """Whatever the store says about its save: a first delivery that finds the payment
    released (here, the save landed and still raised IntegrityError) announces it."""
    p = memory_service(step_handoff="queue")
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", fresh("pacs008_bare.xml"), OWNER)
    for queue, handler in ((p.adapters.incoming, p.incoming), (p.adapters.processing, p.processing)):
        _, _, body = queue.sent.pop(0)
        handler(StepMessage(tx, body, 1))
    _, _, body = p.adapters.releasing.sent.pop(0)
    save = p.payments.save

    def landed_but_conflicted(*aggregates: Any, **kwargs: Any) -> Any:
        save(*aggregates, **kwargs)
        raise IntegrityError("our own retried write, taken for someone else's")

    with mock.patch.object(p.payments, "save", landed_but_conflicted):
        p.releasing(StepMessage(tx, body, 1))
    assert p.payments.get_payment(tx).tx_sts is TxSts.ACSC
    assert [n[1] for n in p.adapters.notifier.published] == ["ACSC"]
