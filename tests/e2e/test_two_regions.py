"""Two Regions on one MiniStack (`make run REGIONS="us-east-1 eu-west-1"`): the replicated
events table, archive replication, a payment settled in each Region, and a Region taken down
and brought back (infra/regions.py)."""

from __future__ import annotations

import time

import boto3
import pytest
import requests

from infra import ministack
from infra.regions import region_down, region_up
from tests.e2e.conftest import Api, fetch_token
from tests.e2e.test_flow import statuses
from tests.messages import fresh
from tests.waiting import poll

pytestmark = pytest.mark.e2e


def session(region: str) -> boto3.session.Session:
    return boto3.session.Session(
        region_name=region,
        aws_access_key_id=ministack.CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=ministack.CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def api_of(region: dict, client: int = 0) -> Api:
    return Api(region["api_url"], fetch_token(region, region["clients"][client]))


def events_of(region: dict, tx: str) -> list[dict]:
    ddb = session(region["region"]).client("dynamodb", endpoint_url=region["endpoint_url"])
    return ddb.query(
        TableName=region["outputs"]["EventsTableName"],
        KeyConditionExpression="pk = :tx",
        ExpressionAttributeValues={":tx": {"S": tx}},
        ConsistentRead=True,
    )["Items"]


def test_local_stack_lists_each_region_with_its_own_api_and_clients(two_regions):
    a, b = two_regions["regions"]
    assert [a["region"], b["region"]] == ["us-east-1", "eu-west-1"]
    assert two_regions["api_url"] == a["api_url"] and two_regions["region"] == "us-east-1"
    for each in (a, b):
        assert {"region", "api_url", "token_url", "clients", "outputs"} <= set(each)
        assert len(each["clients"]) == 3  # tenant-a, tenant-b and the demo operator (admin)
    assert a["api_url"] != b["api_url"]
    assert {c["client_id"] for c in a["clients"]}.isdisjoint(c["client_id"] for c in b["clients"])
    # one table name in both Regions (the same stack name): B's stack created no table of its own
    assert a["outputs"]["EventsTableName"] == b["outputs"]["EventsTableName"] == "pacsflow-regions-events"


def test_a_payment_made_in_each_region_settles_there(two_regions):
    for region in two_regions["regions"]:
        api = api_of(region)
        tx = api.pay(fresh("pacs008_bare.xml"))
        assert statuses(api.report(tx).content) == ("ACSC", []), region["region"]


def test_an_event_written_in_a_is_read_in_bs_replica_and_the_archive_reaches_bs_bucket(two_regions):
    a, b = two_regions["regions"]
    tx = api_of(a).pay(fresh("pacs008_bare.xml"))
    written = poll(lambda: events_of(a, tx), lambda items: len(items) >= 2, 30, f"events of {tx} in A")
    replicated = poll(lambda: events_of(b, tx), lambda items: len(items) >= len(written), 30, f"events of {tx} in B")
    assert {(i["pk"]["S"], i["sk"]["N"]) for i in written} <= {(i["pk"]["S"], i["sk"]["N"]) for i in replicated}
    s3_a = session("us-east-1").client("s3", endpoint_url=a["endpoint_url"])
    s3_b = session("eu-west-1").client("s3", endpoint_url=b["endpoint_url"])
    keys = [o["Key"] for o in s3_a.list_objects_v2(Bucket=a["outputs"]["ArchiveBucketName"])["Contents"]]
    assert keys
    for key in keys:
        original = s3_a.get_object(Bucket=a["outputs"]["ArchiveBucketName"], Key=key)
        replica = s3_b.get_object(Bucket=b["outputs"]["ArchiveBucketName"], Key=key)
        assert replica["Body"].read() == original["Body"].read()
        # both ways: an object written in A is a REPLICA in B, one written in B a REPLICA in A
        assert {original.get("ReplicationStatus"), replica.get("ReplicationStatus")} == {"COMPLETED", "REPLICA"}


def test_region_down_stops_bs_api_and_pipeline_keeping_its_messages_and_region_up_completes_them(two_regions):
    b = two_regions["regions"][1]
    api = api_of(b)
    lam = session("eu-west-1").client("lambda", endpoint_url=b["endpoint_url"])
    sqs = session("eu-west-1").client("sqs", endpoint_url=b["endpoint_url"])
    sweep = b["outputs"]["SweepTimeoutsName"]
    lam.put_function_concurrency(FunctionName=sweep, ReservedConcurrentExecutions=3)  # to be restored as it was
    outage = region_down(session("eu-west-1"), b["endpoint_url"], b["stack_name"])
    try:
        assert outage.mappings and outage.rules and outage.concurrency[sweep] == 3
        assert all(
            m["State"] in ("Disabled", "Disabling")
            for m in lam.list_event_source_mappings()["EventSourceMappings"]
            if m["UUID"] in outage.mappings
        )
        r = requests.get(
            api.url + "/uuid",
            headers={"Authorization": f"Bearer {api.token}", "X-Message-Type": "pacs.008"},
            timeout=30,
        )
        assert not 200 <= r.status_code < 300, r.status_code
        # queue work while the Region is down: the API alone is let through for one payment
        handler = b["outputs"]["APIHandlerName"]
        lam.delete_function_concurrency(FunctionName=handler)
        tx = api.pay(fresh("pacs008_bare.xml"))
        lam.put_function_concurrency(FunctionName=handler, ReservedConcurrentExecutions=0)
        recorded = len(events_of(b, tx))  # what /inbox recorded
        queue = b["outputs"]["IncomingQueueUrl"]
        deadline = time.monotonic() + 3  # a window to see that nothing runs
        while time.monotonic() < deadline:
            attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
            assert int(attrs["Attributes"]["ApproximateNumberOfMessages"]) >= 1  # still there, not received
            assert len(events_of(b, tx)) == recorded  # incoming never ran
            time.sleep(0.5)
    finally:
        region_up(session("eu-west-1"), b["endpoint_url"], outage)
    assert (
        lam.get_function_concurrency(FunctionName=b["outputs"]["ProcessingName"]).get("ReservedConcurrentExecutions")
        == outage.concurrency[b["outputs"]["ProcessingName"]]
    )
    assert statuses(api.report(tx).content) == ("ACSC", [])
