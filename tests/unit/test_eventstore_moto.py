"""Fast checks of the DynamoDB recorders against moto (no local stack needed).

moto validates KeyConditionExpression grammar roughly as DynamoDB does. Its
TransactWriteItems is not safe under threads, so the library's concurrent test cases
run only in tests/contract, against MiniStack.
"""

from __future__ import annotations

import os
from typing import Any
from unittest import mock
from uuid import uuid4

from eventsourcing.tests import persistence as library
from moto import mock_aws

from chalicelib.eventstore.dynamodb import (
    DynamoDBAggregateRecorder,
    DynamoDBApplicationRecorder,
    DynamoDBDatastore,
    DynamoDBProcessRecorder,
    DynamoDBTrackingRecorder,
)

THREADED = "moto's TransactWriteItems is not thread-safe; covered by tests/contract"


class MotoTables:
    """Mixin for unittest cases: a moto-mocked AWS and a fresh table per test."""

    def setUp(self) -> None:
        # Leave the developer's local-stack endpoint out: moto intercepts AWS hosts only.
        environ = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
        environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        patch_env = mock.patch.dict(os.environ, environ, clear=True)
        patch_env.start()
        self.addCleanup(patch_env.stop)  # type: ignore[attr-defined]
        aws = mock_aws()
        aws.start()
        self.addCleanup(aws.stop)  # type: ignore[attr-defined]
        super().setUp()  # type: ignore[misc]

    def create_datastore(self) -> DynamoDBDatastore:
        datastore = DynamoDBDatastore(f"test-{uuid4().hex}")
        datastore.create_table()
        return datastore


class TestAggregateRecorder(MotoTables, library.AggregateRecorderTestCase):
    def create_recorder(self) -> DynamoDBAggregateRecorder:
        return DynamoDBAggregateRecorder(self.create_datastore())


class TestSnapshotRecorder(MotoTables, library.AggregateRecorderTestCase):
    def create_recorder(self) -> DynamoDBAggregateRecorder:
        return DynamoDBAggregateRecorder(self.create_datastore(), purpose="snapshots")


class TestApplicationRecorder(MotoTables, library.ApplicationRecorderTestCase[DynamoDBApplicationRecorder]):
    def create_recorder(self) -> DynamoDBApplicationRecorder:
        return DynamoDBApplicationRecorder(self.create_datastore(), log_name="app")

    def test_concurrent_no_conflicts(self, *args: Any) -> None:
        self.skipTest(THREADED)

    def test_concurrent_throughput(self) -> None:
        self.skipTest(THREADED)


class TestTrackingRecorder(MotoTables, library.TrackingRecorderTestCase):
    def create_recorder(self) -> DynamoDBTrackingRecorder:
        return DynamoDBTrackingRecorder(self.create_datastore(), tracking_name="app")


class TestProcessRecorder(MotoTables, library.ProcessRecorderTestCase):
    def create_recorder(self) -> DynamoDBProcessRecorder:
        return DynamoDBProcessRecorder(self.create_datastore(), name="app")
