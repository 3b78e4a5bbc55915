"""Replaying the view follower's failed stream batches (issue 8 item 5), in process on moto.

The failure records are AWS's documented on-failure destination records for stream sources
(they name the shard and the sequence numbers, not the records); moto's DynamoDB Streams
serves the shard, moto's SQS the queue. Records the stream no longer has are simulated the
way AWS reports them: GetShardIterator raises TrimmedDataAccessException.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib import cli
from chalicelib.cli_stream import batch_info, replay

REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch):
    for k, v in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName="events",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="view-failures")["QueueUrl"]
        yield {
            "ddb": ddb,
            "sqs": sqs,
            "streams": boto3.client("dynamodbstreams", region_name=REGION),
            "queue": queue,
        }


def write_events(ddb: Any, keys: list[str]) -> None:
    for n, pk in enumerate(keys):
        ddb.put_item(TableName="events", Item={"pk": {"S": pk}, "sk": {"N": str(n + 1)}})


def shard_records(streams: Any) -> tuple[str, str, list[dict[str, Any]]]:
    arn = streams.list_streams(TableName="events")["Streams"][0]["StreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return arn, shard, streams.get_records(ShardIterator=it)["Records"]


def failure_record(arn: str, shard: str, records: list[dict[str, Any]]) -> str:
    """AWS's on-failure destination record for a DynamoDB stream batch (Lambda docs,
    'Retaining records of asynchronous invocations' / stream sources)."""
    return json.dumps(
        {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{REGION}:123456789012:function:pacsflow-ViewFollower-x",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": 6,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": "2026-11-29T10:00:00.000Z",
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": "2026-11-29T09:59:00Z",
                "approximateArrivalOfLastRecord": "2026-11-29T09:59:01Z",
                "batchSize": len(records),
                "streamArn": arn,
            },
        }
    )


def left_in(sqs: Any, queue: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def no_rebuild() -> bool:
    raise AssertionError("the records are in the stream: no rebuild")


def test_a_failed_batch_is_read_back_from_its_shard_and_its_transactions_refolded(aws):
    a, b, c, d = (str(uuid.uuid4()) for _ in range(4))
    write_events(aws["ddb"], [a, b, "$claim#uetr#x", c, b, d])
    arn, shard, records = shard_records(aws["streams"])
    assert len(records) == 6
    # the mapping gave up on records 2..5 (b, the claim, c, b again)
    aws["sqs"].send_message(QueueUrl=aws["queue"], MessageBody=failure_record(arn, shard, records[1:5]))
    refreshed: list[str] = []

    report = replay(aws["sqs"], aws["streams"], aws["queue"], refreshed.append, no_rebuild)

    assert refreshed == [b, c]  # each transaction once, in stream order; not a, not d, not the claim
    assert report.replayed == 1 and report.ok and not report.rebuilt
    assert left_in(aws["sqs"], aws["queue"]) == 0  # deleted after the replay succeeded


def test_a_batch_whose_replay_fails_stays_in_the_queue(aws):
    poison, fine = str(uuid.uuid4()), str(uuid.uuid4())
    write_events(aws["ddb"], [fine, poison])
    arn, shard, records = shard_records(aws["streams"])
    aws["sqs"].send_message(QueueUrl=aws["queue"], MessageBody=failure_record(arn, shard, records))
    aws["sqs"].send_message(QueueUrl=aws["queue"], MessageBody='{"not": "a failure record"}')

    def refresh(tid: str) -> None:
        if tid == poison:
            raise ValueError("an event the fold cannot read")

    report = replay(aws["sqs"], aws["streams"], aws["queue"], refresh, no_rebuild)

    assert report.replayed == 0 and report.failed == 1 and report.unrecognised == 1 and not report.ok
    assert left_in(aws["sqs"], aws["queue"]) == 2  # both kept for the next replay


class TrimmedStream:
    """moto never trims a stream; AWS answers TrimmedDataAccessException for records past
    its 24 h retention (DynamoDB Streams API reference, GetShardIterator)."""

    def __init__(self, streams: Any) -> None:
        self.streams = streams

    def get_shard_iterator(self, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"}}, "GetShardIterator")

    def get_records(self, **kwargs: Any) -> Any:
        return self.streams.get_records(**kwargs)


def test_expired_records_fall_back_to_one_rebuild_of_the_view(aws):
    write_events(aws["ddb"], [str(uuid.uuid4()), str(uuid.uuid4())])
    arn, shard, records = shard_records(aws["streams"])
    for r in records:  # two failed batches, both expired
        aws["sqs"].send_message(QueueUrl=aws["queue"], MessageBody=failure_record(arn, shard, [r]))
    rebuilds: list[int] = []

    def rebuild() -> bool:
        rebuilds.append(1)
        return True

    report = replay(aws["sqs"], TrimmedStream(aws["streams"]), aws["queue"], lambda tid: None, rebuild)

    assert rebuilds == [1] and report.rebuilt and report.replayed == 2
    assert left_in(aws["sqs"], aws["queue"]) == 0


def test_a_rebuild_that_cannot_repair_keeps_the_failure_records(aws):
    write_events(aws["ddb"], [str(uuid.uuid4())])
    arn, shard, records = shard_records(aws["streams"])
    aws["sqs"].send_message(QueueUrl=aws["queue"], MessageBody=failure_record(arn, shard, records))

    report = replay(aws["sqs"], TrimmedStream(aws["streams"]), aws["queue"], lambda tid: None, lambda: False)

    assert report.failed == 1 and left_in(aws["sqs"], aws["queue"]) == 1


def test_only_well_formed_failure_records_are_read():
    ok = json.loads(failure_record("arn:s", "shardId-1", [{"dynamodb": {"SequenceNumber": "100"}}]))
    assert batch_info(json.dumps(ok)) is not None
    for broken in (
        "",
        "[]",
        json.dumps({"DDBStreamBatchInfo": {**ok["DDBStreamBatchInfo"], "startSequenceNumber": "x"}}),
        json.dumps({"DDBStreamBatchInfo": {**ok["DDBStreamBatchInfo"], "endSequenceNumber": "99"}}),  # end < start
        json.dumps({"DDBStreamBatchInfo": {**ok["DDBStreamBatchInfo"], "batchSize": 0}}),
        json.dumps({"KinesisBatchInfo": ok["DDBStreamBatchInfo"]}),
        json.dumps({**ok, "padding": "x" * 70_000}),  # size limit
    ):
        assert batch_info(broken) is None, broken[:80]


def test_the_command_is_wired():
    args = cli.build_parser().parse_args(["view-failures", "replay", "--queue-url", "https://q"])
    assert args.func.__name__ == "cmd_view_failures" and args.queue_url == "https://q"
