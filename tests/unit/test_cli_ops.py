"""``dlq list`` and ``dlq peek`` (issue 10 item 4), in process on moto's SQS: counts, a peek
that consumes nothing, and no payment data on the screen."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib import cli
from chalicelib.cli_ops import dead_letter_queues, short_name

REGION = "eu-west-1"
SECRET = base64.b64encode(b"<Document><Dbtr><Nm>Jane Payer</Nm></Dbtr></Document>").decode()


@pytest.fixture
def stack(monkeypatch, tmp_path) -> Any:
    for k, v in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        fifo = {"FifoQueue": "true"}
        outputs = {
            "IncomingQueueUrl": sqs.create_queue(QueueName="s-incoming.fifo", Attributes=fifo)["QueueUrl"],
            **{
                f"{step.capitalize()}QueueDLQUrl": sqs.create_queue(QueueName=f"s-{step}-dlq.fifo", Attributes=fifo)[
                    "QueueUrl"
                ]
                for step in ("incoming", "processing", "releasing")
            },
            "ViewFailuresQueueUrl": sqs.create_queue(QueueName="s-view-failures")["QueueUrl"],
            "EventsTableName": "s-events",
        }
        path = tmp_path / "local-stack.json"
        path.write_text(json.dumps({"region": REGION, "outputs": outputs}))
        yield {"sqs": sqs, "outputs": outputs, "file": str(path)}


def dead_letter(stack: Any, step: str, transaction_id: str) -> None:
    """A step message as the pipeline sends it (adapters/sqs.py), with the fields a body may carry."""
    body = {"transaction_id": transaction_id, "message": SECRET, "sha256": "ab" * 32, "archive_key": "inbound/x"}
    stack["sqs"].send_message(
        QueueUrl=stack["outputs"][f"{step.capitalize()}QueueDLQUrl"],
        MessageBody=json.dumps(body),
        MessageGroupId=transaction_id,
        MessageDeduplicationId=f"{transaction_id}:{step}:{'cd' * 32}",
    )


def test_the_dead_letter_queues_are_those_the_outputs_name():
    assert short_name("IncomingQueueDLQUrl") == "incoming"
    assert short_name("ViewFailuresQueueUrl") == "view-failures"
    assert list(
        dead_letter_queues({"IncomingQueueUrl": "q", "ReleasingQueueDLQUrl": "r", "ViewFailuresQueueUrl": "v"})
    ) == [
        "releasing",
        "view-failures",
    ]


def test_list_counts_the_messages_of_each_dead_letter_queue(stack, capsys):
    assert cli.main(["dlq", "list", "--local-stack", stack["file"]]) == 0  # all empty
    for _ in range(2):
        dead_letter(stack, "processing", str(uuid.uuid4()))
    stack["sqs"].send_message(QueueUrl=stack["outputs"]["ViewFailuresQueueUrl"], MessageBody="{}")
    capsys.readouterr()
    assert cli.main(["dlq", "list", "--local-stack", stack["file"]]) == 1
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(rows) == {"incoming", "processing", "releasing", "view-failures"}  # the pipeline queue is not one
    assert rows["processing"][:2] == ["2", "0"] and rows["view-failures"][:2] == ["1", "0"]
    assert rows["incoming"][:2] == ["0", "0"]


def test_peek_shows_without_consuming_and_never_prints_the_message(stack, capsys):
    transactions = [str(uuid.uuid4()) for _ in range(3)]
    for tid in transactions:
        dead_letter(stack, "releasing", tid)
    url = stack["outputs"]["ReleasingQueueDLQUrl"]

    assert cli.main(["dlq", "peek", "releasing", "--max", "2", "--local-stack", stack["file"]]) == 0
    out = capsys.readouterr().out
    shown = [tid for tid in transactions if tid in out]
    assert len(shown) == 2 and "step=releasing" in out and "receives=1" in out
    assert SECRET not in out and "Jane" not in out and "ab" * 32 not in out and "cd" * 32 not in out
    assert "inbound/" not in out

    # still there, visible at once: all three can be received again, the peeked ones counted once more
    again = stack["sqs"].receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert sorted(json.loads(m["Body"])["transaction_id"] for m in again) == sorted(transactions)
    for m in again:
        stack["sqs"].change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)

    assert cli.main(["dlq", "peek", "releasing", "--local-stack", stack["file"]]) == 0
    out = capsys.readouterr().out
    assert all(tid in out for tid in transactions) and SECRET not in out
    attributes = stack["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "3"


def test_peek_of_a_view_failure_names_the_batch_not_its_records(stack, capsys):
    record = {
        "requestContext": {"condition": "RetryAttemptsExhausted"},
        "DDBStreamBatchInfo": {
            "shardId": "shardId-1",
            "startSequenceNumber": "100",
            "endSequenceNumber": "200",
            "batchSize": 3,
            "streamArn": "arn:aws:dynamodb:eu-west-1:1:table/s-events/stream/x",
        },
    }
    stack["sqs"].send_message(QueueUrl=stack["outputs"]["ViewFailuresQueueUrl"], MessageBody=json.dumps(record))
    assert cli.main(["dlq", "peek", "view-failures", "--local-stack", stack["file"]]) == 0
    assert "stream batch of 3 records, shard shardId-1" in capsys.readouterr().out


def test_peek_refuses_a_queue_that_is_not_a_dead_letter_queue(stack, capsys):
    assert cli.main(["dlq", "peek", "s-incoming.fifo", "--local-stack", stack["file"]]) == 2
    assert "not a dead-letter queue" in capsys.readouterr().out
