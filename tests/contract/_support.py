"""Helpers of the contract tests: a fresh table (or bucket) per test, dropped afterwards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import uuid4

from chalicelib.eventstore.aws import new_client
from chalicelib.eventstore.dynamodb import DynamoDBDatastore

if TYPE_CHECKING:
    from unittest import TestCase

    _Base = TestCase
else:
    _Base = object


class MiniStackResources(_Base):
    """Mixin for unittest cases: new tables and buckets on the session's MiniStack.

    Not a TestCase itself, so that pytest does not collect it wherever it is imported.
    """

    endpoint_url = ""  # set per test by the autouse fixture in conftest.py

    def create_datastore(self, **kwargs: Any) -> DynamoDBDatastore:
        datastore = DynamoDBDatastore(f"test-{uuid4().hex}", endpoint_url=self.endpoint_url, **kwargs)
        datastore.create_table()
        self.addCleanup(drop_table, datastore)
        return datastore

    def create_bucket(self) -> tuple[Any, str]:
        """A new S3 client and bucket; the bucket is emptied and deleted afterwards."""
        client = new_client("s3", self.endpoint_url)
        bucket = f"test-{uuid4().hex}"
        client.create_bucket(Bucket=bucket)
        self.addCleanup(drop_bucket, client, bucket)
        return client, bucket


def drop_table(datastore: DynamoDBDatastore) -> None:
    datastore.client.delete_table(TableName=datastore.table_name)
    datastore.close()


def drop_bucket(client: Any, bucket: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", ()):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
    client.delete_bucket(Bucket=bucket)
    client.close()
