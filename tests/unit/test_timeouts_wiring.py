"""Timeouts wired: the deadlines queue and the sweep in the template, their roles, the
handlers of app.py, the SLA stack parameters, and the two adapters on moto."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from unittest import mock

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.deadlines import DeadlineQueue
from chalicelib.adapters.pending import PendingIndex
from chalicelib.pipeline.timeouts import Unreleased
from chalicelib.projections.records import pending_shard
from infra import deploy
from infra.least_privilege import denied
from infra.template import environment, merge_template
from tests.unit.test_least_privilege import REGION, STACK, call, policies, queue_arn, table_arn

__all__ = ["policies"]  # the module fixture, shared

DEADLINES = f"arn:aws:sqs:{REGION}:123456789012:{STACK}-deadlines"


def test_the_deadlines_queue_is_standard_encrypted_with_a_dead_letter_queue_and_bound_to_its_handler():
    resources = merge_template()["Resources"]
    queue = resources["DeadlinesQueue"]["Properties"]
    assert "FifoQueue" not in queue  # FIFO queues take no per-message DelaySeconds
    assert queue["KmsMasterKeyId"] == {"Ref": "DataKey"}
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadlinesQueueDLQ", "Arn"]}
    assert resources["DeadlinesQueueDLQ"]["Properties"]["KmsMasterKeyId"] == {"Ref": "DataKey"}
    source = resources["Deadlines"]["Properties"]["Events"]["DeadlinesSqsEventSource"]["Properties"]
    assert source == {
        "Queue": {"Fn::GetAtt": ["DeadlinesQueue", "Arn"]},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }
    env = environment()
    assert env["PACSFLOW_DEADLINES_QUEUE_URL"] == {"Ref": "DeadlinesQueue"}
    assert env["PACSFLOW_SLA_SECONDS"] == {"Ref": "SlaSeconds"}
    assert merge_template()["Parameters"]["SlaSeconds"]["Default"] == 30


def test_app_binds_the_deadlines_handler_and_schedules_the_sweep_every_minute():
    import app

    handlers = {h.name: h for h in app.app.event_sources}
    assert handlers["deadlines"].queue_arn.endswith(":deadlines")
    assert handlers["sweep_timeouts"].schedule_expression.to_string() == "rate(1 minute)"


def test_the_roles_allow_exactly_the_calls_of_the_timeouts(policies):
    events = table_arn("events")
    allowed = [
        call("APIHandler", "sqs:SendMessage", DEADLINES),
        *(call("Deadlines", f"dynamodb:{a}", events) for a in ("GetItem", "PutItem", "Query")),
        call("Deadlines", "sqs:SendMessage", DEADLINES),  # early: waits again
        call("Deadlines", "sqs:SendMessage", queue_arn("ReleasingQueue")),
        call("Deadlines", "sqs:ReceiveMessage", DEADLINES),
        call("SweepTimeouts", "dynamodb:Query", table_arn("transactions") + "/index/by_pending"),
        call("SweepTimeouts", "dynamodb:GetItem", table_arn("transactions")),
        *(call("SweepTimeouts", f"dynamodb:{a}", events) for a in ("GetItem", "PutItem", "Query")),
        call("SweepTimeouts", "sqs:SendMessage", queue_arn("ReleasingQueue")),
    ]
    refused = [
        call("Deadlines", "sns:Publish", f"arn:aws:sns:{REGION}:123456789012:{STACK}-released"),  # releasing does
        call("Deadlines", "dynamodb:Scan", table_arn("transactions")),
        call("SweepTimeouts", "dynamodb:Scan", table_arn("transactions")),  # the index, not the view
        call("SweepTimeouts", "dynamodb:Query", table_arn("transactions") + "/index/by_owner_uetr"),
        call("SweepTimeouts", "sqs:SendMessage", DEADLINES),
        call("Incoming", "sqs:SendMessage", DEADLINES),
    ]
    assert denied(allowed, policies) == []
    assert denied(refused, policies) == sorted(refused, key=str)


def test_make_run_passes_the_sla_from_the_environment(monkeypatch):
    monkeypatch.delenv("PACSFLOW_SLA_SECONDS", raising=False)
    monkeypatch.delenv("PACSFLOW_SLA_SECONDS_BY_TYPE", raising=False)
    assert deploy.sla_parameters() == {}
    monkeypatch.setenv("PACSFLOW_SLA_SECONDS", "5")
    monkeypatch.setenv("PACSFLOW_SLA_SECONDS_BY_TYPE", '{"pacs.008": 7}')
    assert deploy.sla_parameters() == {"SlaSeconds": "5", "SlaSecondsByType": '{"pacs.008": 7}'}


@pytest.fixture
def aws():
    environ = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "PACSFLOW_CALL_LOG")}
    environ.update(AWS_DEFAULT_REGION=REGION, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    with mock.patch.dict(os.environ, environ, clear=True), mock_aws():
        yield boto3.session.Session(region_name=REGION)


def test_a_deadline_is_delayed_and_capped_at_the_sqs_limit(aws):
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="deadlines")["QueueUrl"]
    DeadlineQueue(url, sqs).send_later({"transaction_id": "t", "deadline": "d"}, 5000)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesDelayed"] == "1"
    with pytest.raises(Exception):  # noqa: B017  (what the cap prevents: moto refuses > 900 like SQS)
        sqs.send_message(QueueUrl=url, MessageBody="{}", DelaySeconds=901)


def test_the_pending_index_lists_unreleased_records_created_before_the_cut_off_every_page(aws):
    """The view as the stack defines it (its by_pending index), rows as the follower writes
    them: `pending` only while not released (records.py), and one a Scan would have found."""
    view = merge_template()["Resources"]["TransactionsTable"]["Properties"]
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(
        TableName="view",
        KeySchema=view["KeySchema"],
        AttributeDefinitions=view["AttributeDefinitions"],
        GlobalSecondaryIndexes=view["GlobalSecondaryIndexes"],
        BillingMode="PAY_PER_REQUEST",
    )
    now = datetime.now(UTC)
    old, new = (now - timedelta(minutes=5)).isoformat(), now.isoformat()
    rows = [
        ("a", "ACTC", old, {"NULL": True}),
        ("b", "ACSP", old, None),
        ("c", "ACSC", old, {"S": old}),  # settled
        ("d", "RJCT", old, {"S": old}),  # rejected and released
        ("e", "RJCT", old, {"NULL": True}),  # rejected, its release lost
        ("f", "ACCP", new, {"NULL": True}),  # too young
    ]
    for tid, status, created, released in rows:
        item = {
            "transaction_id": {"S": tid},
            "status": {"S": status},
            "message_type": {"S": "pacs.008"},
            "created_at": {"S": created},
            **({"released_at": released} if released else {}),
            **({} if released and "S" in released else {"pending": {"S": pending_shard(tid)}}),
        }
        dynamodb.put_item(TableName="view", Item=item)
    # a stale index entry: released since (the follower's write that removes `pending` is late)
    late = {"transaction_id": {"S": "g"}, "status": {"S": "ACSC"}, "created_at": {"S": old}}
    dynamodb.put_item(TableName="view", Item={**late, "released_at": {"S": old}, "pending": {"S": pending_shard("g")}})
    cut_off = (now - timedelta(minutes=1)).isoformat()
    found = sorted(PendingIndex("view", dynamodb, page_size=2).unreleased(cut_off))
    assert found == [Unreleased(t, s, "pacs.008", old) for t, s in (("a", "ACTC"), ("b", "ACSP"), ("e", "RJCT"))]
