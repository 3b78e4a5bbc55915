"""eventsourcing's own recorder test cases, run against DynamoDB and S3 on MiniStack."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Event, Thread
from time import sleep
from typing import Any, ClassVar
from uuid import uuid4

import pytest
from eventsourcing.persistence import InfrastructureFactory, StoredEvent
from eventsourcing.tests import persistence as library
from eventsourcing.utils import Environment

from chalicelib.eventstore.dynamodb import (
    DynamoDBAggregateRecorder,
    DynamoDBApplicationRecorder,
    DynamoDBFactory,
    DynamoDBProcessRecorder,
    DynamoDBTrackingRecorder,
)
from chalicelib.eventstore.s3snapshots import S3SnapshotRecorder
from tests.contract._support import MiniStackResources

pytestmark = pytest.mark.contract


class TestDynamoDBAggregateRecorder(MiniStackResources, library.AggregateRecorderTestCase):
    def create_recorder(self) -> DynamoDBAggregateRecorder:
        return DynamoDBAggregateRecorder(self.create_datastore())


class TestDynamoDBSnapshotRecorder(MiniStackResources, library.AggregateRecorderTestCase):
    """Snapshots kept in the table (no SNAPSHOTS_BUCKET), in their own key space."""

    def create_recorder(self) -> DynamoDBAggregateRecorder:
        return DynamoDBAggregateRecorder(self.create_datastore(), purpose="snapshots")


class TestS3SnapshotRecorder(MiniStackResources, library.AggregateRecorderTestCase):
    def create_recorder(self) -> S3SnapshotRecorder:
        return S3SnapshotRecorder(*self.create_bucket())


class TestDynamoDBApplicationRecorder(
    MiniStackResources, library.ApplicationRecorderTestCase[DynamoDBApplicationRecorder]
):
    def create_recorder(self) -> DynamoDBApplicationRecorder:
        return DynamoDBApplicationRecorder(self.create_datastore(), log_name="app")

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()

    def test_concurrent_no_conflicts(self, initial_position: int = 0) -> None:
        """The library's test with 99 instead of 100 events per commit.

        A commit is one TransactWriteItems of at most 100 items: 99 events and the
        counter. Same shape otherwise: 10 writers, 100 commits, 2 readers tailing.
        """
        recorder = self.create_recorder()
        errors: list[Exception] = []
        stop_reading = Event()

        def insert_events() -> None:
            originator_id = uuid4()
            recorder.insert_events([StoredEvent(originator_id, i, "topic", b"state") for i in range(99)])

        def read_continuously() -> None:
            while not stop_reading.is_set():
                try:
                    recorder.select_notifications(start=initial_position, limit=10, inclusive_of_start=False)
                except Exception as e:  # pragma: no cover
                    errors.append(e)
                    return
                sleep(0.0001)

        readers = [Thread(target=read_continuously) for _ in range(2)]
        for reader in readers:
            reader.start()
        with ThreadPoolExecutor(max_workers=10) as executor:
            futures = [executor.submit(insert_events) for _ in range(100)]
            for future in futures:
                try:
                    future.result()
                except Exception as e:  # pragma: no cover
                    errors.append(e)
        stop_reading.set()
        for reader in readers:
            reader.join()
        if errors:  # pragma: no cover
            raise errors[0]
        self.assertEqual(recorder.max_notification_id(), 100 * 99)


class TestDynamoDBTrackingRecorder(MiniStackResources, library.TrackingRecorderTestCase):
    def create_recorder(self) -> DynamoDBTrackingRecorder:
        return DynamoDBTrackingRecorder(self.create_datastore(), tracking_name="app")


class TestDynamoDBProcessRecorder(MiniStackResources, library.ProcessRecorderTestCase):
    def create_recorder(self) -> DynamoDBProcessRecorder:
        return DynamoDBProcessRecorder(self.create_datastore(), name="app")


class TestDynamoDBNonInterleavingNotificationIDs(MiniStackResources, library.NonInterleavingNotificationIDsBaseCase):
    # The library inserts 1000 events per commit. A commit is one TransactWriteItems,
    # which holds at most 100 items: 99 events and the counter. Larger commits are
    # refused (not split, which would let other commits interleave).
    insert_num = 99

    def create_recorder(self) -> DynamoDBApplicationRecorder:
        return DynamoDBApplicationRecorder(self.create_datastore(), log_name="app")


class TrackingRecorderSubclass(DynamoDBTrackingRecorder):
    """Resolved by topic in test_create_tracking_recorder, so it must be module-level."""


class TestDynamoDBInfrastructureFactory(MiniStackResources, library.InfrastructureFactoryTestCase[DynamoDBFactory]):
    env: ClassVar[Environment]

    def setUp(self) -> None:
        datastore = self.create_datastore()
        self.env = Environment(
            "TestCase",
            {
                InfrastructureFactory.PERSISTENCE_MODULE: DynamoDBFactory.__module__,
                DynamoDBFactory.DYNAMODB_TABLE: datastore.table_name,
                DynamoDBFactory.DYNAMODB_CREATE_TABLE: "y",
                DynamoDBFactory.AWS_ENDPOINT_URL: self.endpoint_url,
            },
        )
        super().setUp()

    def expected_factory_class(self) -> type[DynamoDBFactory]:
        return DynamoDBFactory

    def expected_aggregate_recorder_class(self) -> type[Any]:
        return DynamoDBAggregateRecorder

    def expected_application_recorder_class(self) -> type[Any]:
        return DynamoDBApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[Any]:
        return DynamoDBTrackingRecorder

    def tracking_recorder_subclass(self) -> type[Any]:
        return TrackingRecorderSubclass

    def expected_process_recorder_class(self) -> type[Any]:
        return DynamoDBProcessRecorder
