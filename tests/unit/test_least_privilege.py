"""The IAM evaluator (infra/least_privilege.py) and the call recorder (call_log.py), in process.

The evaluator must deny what a role does not grant, or the end-to-end proof
(tests/e2e/test_least_privilege.py) proves nothing; the recorder must turn each call into
the IAM requests AWS would authorise. NOTIFICATION_LOG=y is not deployed by the e2e suite,
so what it calls is recorded here, on moto, and judged against the roles.
"""

from __future__ import annotations

import json
import os
from unittest import mock
from uuid import uuid4

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters import call_log
from chalicelib.domain import Payment
from chalicelib.eventstore.dynamodb import DynamoDBDatastore
from chalicelib.pipeline.payments import Payments
from infra.least_privilege import Call, Stack, denied, read_calls, role_policies
from infra.template import merge_template

REGION, ACCOUNT, STACK = "us-east-1", "123456789012", "pacsflow-test"
TABLES = {"EventsTable": "events", "PositionsTable": "positions", "TransactionsTable": "transactions"}
QUEUES = ("IncomingQueue", "ProcessingQueue", "ReleasingQueue")


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{STACK}-{name}"


def queue_arn(logical: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-{logical[: -len('Queue')].lower()}.fifo"


TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-released"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:cipher-AbCdEf"
BUCKET = f"{STACK}-archive-{ACCOUNT}-{REGION}"
DIGESTS = f"{STACK}-digests-{ACCOUNT}-{REGION}"
SNAPSHOTS = f"{STACK}-snapshotsbucket-abc123"

CONTEXT = Stack(
    pseudo={"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws", "AWS::StackName": STACK},
    refs={
        **{logical: f"{STACK}-{name}" for logical, name in TABLES.items()},
        **{q: f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue_arn(q).rsplit(':', 1)[1]}" for q in QUEUES},
        "ReleasedTopic": TOPIC,
        "EventCipherSecret": SECRET,
        "ArchiveBucket": BUCKET,
        "DigestsBucket": DIGESTS,
        "SnapshotsBucket": SNAPSHOTS,
    },
    attributes={
        **{f"{logical}.Arn": table_arn(name) for logical, name in TABLES.items()},
        "EventsTable.StreamArn": table_arn("events") + "/stream/2026-11-29T00:00:00.000",
        **{f"{q}.Arn": queue_arn(q) for q in QUEUES},
        "ArchiveBucket.Arn": f"arn:aws:s3:::{BUCKET}",
        "DigestsBucket.Arn": f"arn:aws:s3:::{DIGESTS}",
        "SnapshotsBucket.Arn": f"arn:aws:s3:::{SNAPSHOTS}",
        "DataKey.Arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b5f2a3e-0000-4000-8000-000000000001",
        "ViewFailuresQueue.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-view-failures",
        "DeadlinesQueue.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-deadlines",
    },
)


@pytest.fixture(scope="module")
def policies() -> dict:
    return role_policies(merge_template(), CONTEXT)


def call(function: str, action: str, resource: str) -> Call:
    return Call(function, action.split(":")[0], action.split(":")[1], action, resource)


def test_the_evaluator_allows_what_a_role_grants_and_denies_everything_else(policies):
    allowed = [
        call("Processing", "dynamodb:PutItem", table_arn("positions")),
        call("APIHandler", "dynamodb:Query", table_arn("transactions") + "/index/by_owner_uetr"),
        call("Releasing", "sns:Publish", TOPIC),
        call("Incoming", "s3:GetObject", f"arn:aws:s3:::{BUCKET}/inbound/abc"),
        call("ViewFollower", "secretsmanager:GetSecretValue", SECRET),
        call("Digester", "s3:PutObject", f"arn:aws:s3:::{DIGESTS}/digests/2026-11-29/13/abc.json"),
        call("Digester", "dynamodb:GetRecords", table_arn("events") + "/stream/2026-11-29T00:00:00.000"),
    ]
    refused = [
        call("ViewFollower", "dynamodb:PutItem", table_arn("events")),  # the follower never writes events
        call("Deadlines", "sns:Publish", TOPIC),  # only the steps that release publish
        call("APIHandler", "sqs:ReceiveMessage", queue_arn("IncomingQueue")),
        call("Incoming", "s3:PutObject", f"arn:aws:s3:::{BUCKET}/inbound/abc"),  # the wrong action
        call("Incoming", "s3:GetObject", "arn:aws:s3:::another-bucket/inbound/abc"),  # the wrong resource
        call("Releasing", "s3:GetObject", f"arn:aws:s3:::{BUCKET}/outbound/abc"),  # releasing only writes reports
        call("APIHandler", "dynamodb:DeleteItem", table_arn("events")),
        call("Processing", "dynamodb:Query", table_arn("transactions") + "/index/by_owner_uetr"),
        call("Nobody", "dynamodb:GetItem", table_arn("events")),  # no role: denied
        # only the Digester writes digests, and no one deletes them
        *(
            call(f, "s3:PutObject", f"arn:aws:s3:::{DIGESTS}/digests/x.json")
            for f in ("APIHandler", "Releasing", "ViewFollower")
        ),
        call("Digester", "s3:DeleteObject", f"arn:aws:s3:::{DIGESTS}/digests/x.json"),
        call("Digester", "s3:PutObject", f"arn:aws:s3:::{DIGESTS}/elsewhere.json"),
        # it takes the hashes from the stream: it reads no event, nor the cipher key
        call("Digester", "dynamodb:Query", table_arn("events")),
        call("Digester", "secretsmanager:GetSecretValue", SECRET),
    ]
    assert denied(allowed, policies) == []
    assert denied(refused, policies) == sorted(refused, key=str)


def test_the_calls_of_the_issue_are_allowed(policies):
    """The calls the roles used to deny (issue 8 item 2)."""
    calls = [
        # release of a cancelled payment whose agent has a liquidity limit frees its reservation
        *(call("Releasing", f"dynamodb:{a}", table_arn("positions")) for a in ("GetItem", "PutItem", "Query")),
        # every cancellation before release sends to releasing
        call("APIHandler", "sqs:SendMessage", queue_arn("ReleasingQueue")),
        # returns (and cancellations) free liquidity
        *(call("APIHandler", f"dynamodb:{a}", table_arn("positions")) for a in ("GetItem", "PutItem", "Query")),
    ]
    assert denied(calls, policies) == []


def test_the_recorder_turns_each_call_into_the_requests_iam_authorises(tmp_path):
    log = tmp_path / "calls.jsonl"
    environ = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environ.update(AWS_DEFAULT_REGION=REGION, AWS_LAMBDA_FUNCTION_NAME="fn-1", PACSFLOW_RELEASED_TOPIC_ARN=TOPIC)
    with mock.patch.dict(os.environ, environ, clear=True), mock_aws():
        session = boto3.session.Session(region_name=REGION)
        dynamodb = call_log.install(session.client("dynamodb"), str(log))
        s3 = call_log.install(session.client("s3"), str(log))
        sqs = call_log.install(session.client("sqs"), str(log))
        silent = call_log.install(session.client("sqs"), "")  # no path: nothing registered
        datastore = DynamoDBDatastore("t1")
        datastore.create_table()
        key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t1", "Item": key}},
                {
                    "Update": {
                        "TableName": "t1",
                        "Key": {"pk": {"S": "b"}, "sk": {"N": "0"}},
                        "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": {"N": "1"}},
                    }
                },
            ]
        )
        dynamodb.query(
            TableName="t1",
            IndexName="notifications",
            KeyConditionExpression="#l = :l",
            ExpressionAttributeNames={"#l": "log"},
            ExpressionAttributeValues={":l": {"S": "x"}},
        )
        s3.create_bucket(Bucket="bucket-one")
        s3.head_bucket(Bucket="bucket-one")
        s3.put_object(Bucket="bucket-one", Key="inbound/k", Body=b"x")
        url = sqs.create_queue(QueueName="q1")["QueueUrl"]
        silent.send_message(QueueUrl=url, MessageBody="x")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert {line["function"] for line in lines} == {"fn-1"}
    got = [(line["operation"], line["action"], line["resource"]) for line in lines]
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t1"
    assert ("TransactWriteItems", "dynamodb:PutItem", table) in got
    assert ("TransactWriteItems", "dynamodb:UpdateItem", table) in got
    assert ("Query", "dynamodb:Query", table + "/index/notifications") in got
    assert ("HeadBucket", "s3:ListBucket", "arn:aws:s3:::bucket-one") in got
    assert ("PutObject", "s3:PutObject", "arn:aws:s3:::bucket-one/inbound/k") in got
    assert ("CreateQueue", "sqs:CreateQueue", "*") in got
    assert not any(op == "SendMessage" for op, _, _ in got)  # the silent client recorded nothing


def test_the_roles_allow_what_the_notification_log_mode_calls(tmp_path, policies):
    """NOTIFICATION_LOG=y commits with TransactWriteItems (events + the counter's UpdateItem)
    and reads the counter (GetItem); every function that records payments must be allowed
    that."""
    log = tmp_path / "calls.jsonl"
    table = f"{STACK}-events"
    environ = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environ.update(
        AWS_DEFAULT_REGION=REGION,
        PACSFLOW_CALL_LOG=str(log),
        PACSFLOW_RELEASED_TOPIC_ARN=TOPIC,
        AWS_LAMBDA_FUNCTION_NAME="any",
        NOTIFICATION_LOG="y",
    )
    with mock.patch.dict(os.environ, environ, clear=True), mock_aws():
        payments = Payments(
            env={
                "PERSISTENCE_MODULE": "chalicelib.eventstore.dynamodb",
                "DYNAMODB_TABLE": table,
                "DYNAMODB_CREATE_TABLE": "y",
            }
        )
        log.write_text("")  # the table's creation is the test's, not the function's
        payment = Payment(message_type="pacs.008", region_id=REGION, request_id=str(uuid4()), owner="client")
        payments.save(payment)
        payments.get_payment(payment.id)
    lines = log.read_text().splitlines()
    actions = {json.loads(line)["action"] for line in lines}
    assert {"dynamodb:UpdateItem", "dynamodb:PutItem"} <= actions  # it did use the log
    # Recording never reads the log's index: only a follower of the log would (Query on
    # ${EventsTable.Arn}/index/notifications), and no function is one, so no role grants it.
    assert not any("/index/" in json.loads(line)["resource"] for line in lines)
    for function in ("APIHandler", "Incoming", "Processing", "Releasing"):
        calls = read_calls(lines, {"any": function})
        assert denied(calls, policies) == [], function


def test_releasing_a_payment_cancelled_after_its_reservation_is_allowed_to_free_it(tmp_path, policies):
    """The path the e2e suite can only hit by luck (a cancellation between Accepted and
    Released), in process: liquidity positions on moto with the recorder on, every other
    adapter in memory; each step's calls are judged against its own function's role."""
    from chalicelib import bootstrap
    from chalicelib.adapters.settings import Settings
    from chalicelib.pipeline.liquidity import Positions
    from chalicelib.pipeline.messages import StepMessage
    from tests.messages import EVENTS, redated
    from tests.unit.fakes import memory_adapters

    log = tmp_path / "calls.jsonl"
    environ = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environ.update(AWS_DEFAULT_REGION=REGION, PACSFLOW_CALL_LOG=str(log), PACSFLOW_RELEASED_TOPIC_ARN=TOPIC)
    with mock.patch.dict(os.environ, environ, clear=True), mock_aws():

        def as_function(name: str) -> None:
            os.environ["AWS_LAMBDA_FUNCTION_NAME"] = name

        as_function("setup")
        positions = Positions(
            env={
                "PERSISTENCE_MODULE": "chalicelib.eventstore.dynamodb",
                "DYNAMODB_TABLE": f"{STACK}-positions",
                "DYNAMODB_CREATE_TABLE": "y",
            }
        )
        p = bootstrap.build(
            Settings(liquidity_limits='{"*": "1000000000"}', step_handoff="queue"),
            **{**memory_adapters(), "positions": positions},
        )
        log.write_text("")
        as_function("APIHandler")
        tx = p.issue_transaction("pacs.008", "r", "client-a").id
        p.submit(tx, "pacs.008", redated((EVENTS / "pacs008_bare.xml").read_bytes()), "client-a")
        as_function("Incoming")
        p.incoming(StepMessage(tx, p.adapters.incoming.sent.pop(0)[2]))
        as_function("Processing")
        p.processing(StepMessage(tx, p.adapters.processing.sent.pop(0)[2]))  # reserves
        as_function("APIHandler")
        p.submit(tx, "camt.056", redated((EVENTS / "camt056_cancel.xml").read_bytes()), "client-a")
        as_function("Releasing")
        while p.adapters.releasing.sent:
            p.releasing(StepMessage(tx, p.adapters.releasing.sent.pop(0)[2]))  # frees
        assert p.payments.get_payment(tx).is_released
    lines = log.read_text().splitlines()
    calls = read_calls(lines, {f: f for f in ("APIHandler", "Incoming", "Processing", "Releasing")})
    assert {c.action for c in calls if c.function == "Releasing"} >= {"dynamodb:PutItem"}, calls
    assert denied(calls, policies) == []


def test_the_follower_may_write_a_multi_transaction_payments_index_items_and_nothing_else(tmp_path, policies):
    """The view follower writes a record with PutItem and its later transactions' index
    items with BatchWriteItem (an action of its own, on the table it names): recorded on
    moto, the calls are judged against its role; no other function's role allows them."""
    import dataclasses

    from chalicelib.adapters.dynamodb import TransactionView
    from chalicelib.projections.records import TransactionIds
    from tests.unit.test_view_lookups import create_view_table, record

    log = tmp_path / "calls.jsonl"
    environ = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environ.update(AWS_DEFAULT_REGION=REGION, AWS_LAMBDA_FUNCTION_NAME="ViewFollower", AWS_ACCOUNT_ID=ACCOUNT)
    with mock.patch.dict(os.environ, environ, clear=True), mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_view_table(dynamodb, f"{STACK}-transactions")
        view = TransactionView(f"{STACK}-transactions", call_log.install(dynamodb, str(log)))
        later = tuple(TransactionIds(end_to_end_id=f"E2E-{n}") for n in range(30))  # two batches
        rec = dataclasses.replace(record("t-1", "client-a"), later_transactions=later)
        view.put_lookup_items(rec)
        view.put_if_newer(rec)
        assert len(list(view.find("client-a", "end_to_end_id", "E2E-29"))) == 1
    calls = list(read_calls(log.read_text().splitlines(), {"ViewFollower": "ViewFollower"}))
    writes = [c for c in calls if c.action in ("dynamodb:BatchWriteItem", "dynamodb:PutItem")]
    assert [c.action for c in writes].count("dynamodb:BatchWriteItem") == 2, calls
    assert denied(writes, policies) == []
    batches = [c for c in writes if c.action == "dynamodb:BatchWriteItem"]
    others = {dataclasses.replace(c, function=f) for c in batches for f in policies if f != "ViewFollower"}
    assert others and set(denied(list(others), policies)) == others
