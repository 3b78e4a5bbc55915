"""X-Consistency (docs/multi-region.md §5), on moto: two Regions' events tables (the same name,
two Regions, as a global table has) and archive buckets, joined by a replicator the test drives.

The local Region writes through the real event store and archive adapters; the peer's
replica only has what the test copies into it. The strong wait is short (0.3 s) so a
write the peer never reads times out quickly.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock
from uuid import UUID

import boto3
import pytest
from moto import mock_aws

from chalicelib import bootstrap
from chalicelib.adapters import aws
from chalicelib.adapters.replication import PeerReplicas
from chalicelib.adapters.s3 import Archive
from chalicelib.adapters.settings import Settings
from chalicelib.eventstore.dynamodb import TABLE_DEFINITION
from chalicelib.pipeline.consistency import inbound_key
from chalicelib.pipeline.payments import Payments
from chalicelib.pipeline.ports import MissingObject
from tests.messages import fresh
from tests.unit.fakes import MemoryView, drain, memory_adapters
from tests.unit.test_openapi import conforms
from tests.unit.test_routes import (  # noqa: F401  (keys: the fixture)
    JSON,
    POOL,
    XML,
    Api,
    assert_error,
    assert_json,
    camt056_naming,
    header,
    keys,
)

pytestmark = pytest.mark.filterwarnings("ignore:CognitoUserPoolAuthorizer:UserWarning")

HOME, PEER = "us-east-1", "eu-west-1"
TABLE = "pacsflow-test-events"  # the same name in both Regions
BUCKETS = {HOME: "pacsflow-test-archive-use1", PEER: "pacsflow-test-archive-euw1"}
WAIT_S = 0.3
# For the tests where the peer does replicate: a bound, not a sleep (they answer as soon as
# the peer reads the write), generous so that a busy machine cannot turn them into a 503.
REPLICATING_WAIT_S = 10.0


class Replicator:
    """The global table's and CRR's replication, done when the test says (`copy`), or on
    every poll of the strong wait once `running`."""

    def __init__(self) -> None:
        self.ddb = {r: boto3.client("dynamodb", region_name=r) for r in (HOME, PEER)}
        self.s3 = {r: boto3.client("s3", region_name=r) for r in (HOME, PEER)}
        self.running = False
        self.peer_reads = 0

    def copy(self, events: bool = True, objects: bool = True) -> None:
        if events:
            for item in self.ddb[HOME].scan(TableName=TABLE)["Items"]:
                self.ddb[PEER].put_item(TableName=TABLE, Item=item)
        if objects:
            for obj in self.s3[HOME].list_objects_v2(Bucket=BUCKETS[HOME]).get("Contents", []):
                body = self.s3[HOME].get_object(Bucket=BUCKETS[HOME], Key=obj["Key"])["Body"].read()
                self.s3[PEER].put_object(Bucket=BUCKETS[PEER], Key=obj["Key"], Body=body)

    def sleep(self, seconds: float) -> None:  # PeerReplicas' sleep between polls
        time.sleep(seconds)
        if self.running:
            self.copy()

    def events_of(self, region: str, tx: str) -> list[int]:
        items = self.ddb[region].query(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": tx}},
            ConsistentRead=True,
        )["Items"]
        return [int(i["sk"]["N"]) for i in items]

    def transactions(self, region: str) -> set[str]:
        return {i["pk"]["S"] for i in self.ddb[region].scan(TableName=TABLE)["Items"]}


@pytest.fixture
def aws_regions() -> Iterator[Replicator]:
    environ = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environ.update(
        AWS_DEFAULT_REGION=HOME, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"
    )  # moto's; never real
    with mock.patch.dict(os.environ, environ, clear=True), mock_aws():
        aws._peer_client.cache_clear()  # clients of an earlier mock would not be intercepted
        for region in (HOME, PEER):
            boto3.client("dynamodb", region_name=region).create_table(TableName=TABLE, **TABLE_DEFINITION)
            s3 = boto3.client("s3", region_name=region)
            extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            s3.create_bucket(Bucket=BUCKETS[region], **extra)
        yield Replicator()
        aws._peer_client.cache_clear()


def region_api(monkeypatch, replicator: Replicator, peers: bool = True, **settings: Any) -> Api:
    s = Settings(
        region_id=HOME,
        events_table=TABLE,
        archive_bucket=BUCKETS[HOME],
        peers={PEER: "https://api.eu-west-1.invalid"} if peers else {},
        peer_archive_buckets={PEER: BUCKETS[PEER]} if peers else {},
        **{"strong_wait_seconds": WAIT_S, **POOL, **settings},
    )
    view = MemoryView()
    replication = PeerReplicas(TABLE, list(s.peers), s.peer_archive_buckets, sleep=replicator.sleep)
    svc = bootstrap.build(
        s,
        **{
            **memory_adapters(),
            "payments": Payments(env=bootstrap.payments_env(s)),
            "archive": Archive(BUCKETS[HOME]),
            "view": view,
            "replication": replication,
        },
    )
    import app as app_module

    monkeypatch.setattr(app_module, "service", lambda: svc)
    return Api(svc, view)


STRONG = {"X-Consistency": "strong"}
EVENTUAL = {"X-Consistency": "eventual"}


# -- writes ------------------------------------------------------------------------------


def test_strong_uuid_answers_once_the_peer_reads_the_event(monkeypatch, aws_regions):
    http = region_api(monkeypatch, aws_regions, strong_wait_seconds=REPLICATING_WAIT_S)
    aws_regions.running = True  # replicates on the first poll that finds it missing
    body = assert_json(http.call("GET", "/uuid", headers=STRONG))
    assert body["consistency"] == "strong" and body["replicated_to"] == [HOME, PEER]
    assert aws_regions.events_of(PEER, body["transaction_id"]) == [1]


def test_strong_uuid_never_replicated_is_503_then_its_retry_confirms_the_same_id(monkeypatch, aws_regions):
    http = region_api(monkeypatch, aws_regions)
    started = time.monotonic()
    r = http.call("GET", "/uuid", headers=STRONG)
    elapsed = time.monotonic() - started
    body = assert_error(r, 503, "NOT_YET_REPLICATED")
    conforms(r, "/uuid", "GET")
    assert WAIT_S <= elapsed < WAIT_S + 2, elapsed  # bounded
    tx = header(r, "X-Transaction-Id")
    assert tx is not None and UUID(tx)
    assert header(r, "Retry-After") == "1"
    assert (
        f"recorded in {HOME}" in body["message"] and PEER in body["message"] and "retrying is safe" in body["message"]
    )
    assert aws_regions.events_of(HOME, tx) == [1] and aws_regions.events_of(PEER, tx) == []

    aws_regions.copy()
    r = http.call("GET", "/uuid", headers={**STRONG, "X-Transaction-Id": tx})
    conforms(r, "/uuid", "GET")
    again = assert_json(r)
    assert again["transaction_id"] == tx and again["replicated_to"] == [HOME, PEER]
    assert aws_regions.transactions(HOME) == {tx}  # no second transaction
    assert aws_regions.events_of(HOME, tx) == [1]  # no second event


def test_strong_uuid_retry_names_only_the_callers_own_id(monkeypatch, aws_regions):
    http = region_api(monkeypatch, aws_regions, strong_wait_seconds=REPLICATING_WAIT_S)
    aws_regions.running = True
    tx = assert_json(http.call("GET", "/uuid", headers=STRONG))["transaction_id"]
    from tests.unit.test_routes import OTHER, token

    r = http.call("GET", "/uuid", headers={**STRONG, "X-Transaction-Id": tx}, auth_as=token(client_id=OTHER))
    assert_error(r, 404, "TRANSACTION_NOT_FOUND")
    conforms(r, "/uuid", "GET")
    r = http.call("POST", "/transactions", headers={**XML, **STRONG, "X-Transaction-Id": "nope"})
    assert_error(r, 400, "INVALID_TRANSACTION_ID")
    conforms(r, "/transactions", "POST")
    r = http.call("GET", "/uuid", headers={**STRONG, "X-Transaction-Id": tx, "X-Message-Type": "camt.056"})
    assert_error(r, 400, "UNSUPPORTED_MESSAGE_TYPE")  # issued for pacs.008


def test_strong_inbox_waits_for_the_archived_message_too_and_its_retry_sends_nothing_new(monkeypatch, aws_regions):
    http = region_api(monkeypatch, aws_regions)
    tx = assert_json(http.call("GET", "/uuid", headers=EVENTUAL))["transaction_id"]
    aws_regions.copy(objects=False)  # the event replicated; the message (archived next) will not be
    message = fresh("pacs008_bare.xml")
    headers = {**XML, **STRONG, "X-Transaction-Id": tx, "X-Message-Type": "pacs.008"}
    r = http.call("POST", "/inbox", body=message, headers=headers)
    assert_error(r, 503, "NOT_YET_REPLICATED")
    conforms(r, "/inbox", "POST")
    assert header(r, "X-Transaction-Id") == tx
    events_before = aws_regions.events_of(HOME, tx)

    aws_regions.copy()
    body = assert_json(http.call("POST", "/inbox", body=message, headers=headers), 202)
    assert body["consistency"] == "strong" and body["replicated_to"] == [HOME, PEER]
    assert aws_regions.events_of(HOME, tx) == events_before  # the retry recorded nothing more
    assert len(http.svc.adapters.incoming.sent) == 1  # and queued nothing more (FIFO dedup by hash)
    aws_regions.s3[PEER].head_object(Bucket=BUCKETS[PEER], Key=inbound_key(message))


def test_eventual_answers_on_the_local_commit_while_the_peer_lags(monkeypatch, aws_regions):
    http = region_api(monkeypatch, aws_regions)
    reads: list[str] = []
    real = http.svc.adapters.replication.dynamodb
    http.svc.adapters.replication.dynamodb = lambda region: reads.append(region) or real(region)
    started = time.monotonic()
    body = assert_json(http.call("GET", "/uuid", headers=EVENTUAL))
    tx = body["transaction_id"]
    inbox = http.call(
        "POST",
        "/inbox",
        body=fresh("pacs008_bare.xml"),
        headers={**XML, "X-Transaction-Id": tx, "X-Message-Type": "pacs.008"},  # the stage's default: eventual
    )
    assert time.monotonic() - started < WAIT_S
    assert body["consistency"] == "eventual" and body["replicated_to"] == [HOME]
    assert assert_json(inbox, 202)["replicated_to"] == [HOME]
    assert reads == [] and aws_regions.events_of(PEER, tx) == []  # the peer was not even asked


def test_the_stage_default_applies_when_the_request_names_no_level(monkeypatch, aws_regions):
    http = region_api(monkeypatch, aws_regions, default_consistency="strong")
    assert_error(http.call("GET", "/uuid"), 503, "NOT_YET_REPLICATED")
    assert assert_json(http.call("GET", "/uuid", headers=EVENTUAL))["consistency"] == "eventual"


def test_strong_without_peers_is_the_local_commit(monkeypatch, aws_regions):
    http = region_api(monkeypatch, aws_regions, peers=False)
    body = assert_json(http.call("GET", "/uuid", headers={"x-consistency": "STRONG"}))  # case-insensitive
    assert body["consistency"] == "strong" and body["replicated_to"] == [HOME]


def test_strong_cancel_says_what_it_achieved_in_headers(monkeypatch, aws_regions):
    http = region_api(monkeypatch, aws_regions, strong_wait_seconds=REPLICATING_WAIT_S)
    aws_regions.running = True
    tx, _ = http.pay()
    drain(http.svc)
    body = json.dumps({"reason": "CUST", "case_id": "C-1"})
    r = http.call("POST", f"/transactions/{tx}/cancel", body=body, headers={**JSON, **STRONG})
    assert r.status_code == 200, r.body
    conforms(r, "/transactions/{transaction_id}/cancel", "POST")
    assert header(r, "X-Consistency") == "strong" and header(r, "X-Replicated-To") == f"{HOME},{PEER}"
    newest = max(aws_regions.events_of(HOME, tx))
    assert newest in aws_regions.events_of(PEER, tx)


def test_cancel_never_replicated_is_503_and_its_retry_answers_the_same_case(monkeypatch, aws_regions):
    http = region_api(monkeypatch, aws_regions)
    tx, _ = http.pay()
    drain(http.svc)
    body = json.dumps({"reason": "CUST", "case_id": "C-1"})
    headers = {**JSON, **STRONG}
    assert_error(http.call("POST", f"/transactions/{tx}/cancel", body=body, headers=headers), 503, "NOT_YET_REPLICATED")
    recorded = aws_regions.events_of(HOME, tx)
    aws_regions.copy()
    r = http.call("POST", f"/transactions/{tx}/cancel", body=body, headers=headers)
    assert r.status_code == 200, r.body
    assert aws_regions.events_of(HOME, tx) == recorded  # the same case: answered again, not recorded again


def test_strong_cancel_waits_for_its_camt029_and_pacs004_too(monkeypatch, aws_regions):
    http = region_api(monkeypatch, aws_regions)
    tx, _ = http.pay()
    drain(http.svc)
    body = json.dumps({"reason": "DUPL", "case_id": "C-1"})  # settled: returned (pacs.004)
    headers = {**JSON, **STRONG}
    assert_error(http.call("POST", f"/transactions/{tx}/cancel", body=body, headers=headers), 503, "NOT_YET_REPLICATED")
    aws_regions.copy(objects=False)  # the peer reads the event, not yet the camt.029 and pacs.004
    not_yet = http.call("POST", f"/transactions/{tx}/cancel", body=body, headers=headers)
    assert_error(not_yet, 503, "NOT_YET_REPLICATED")
    payment = http.svc.payments.get_payment(UUID(tx))
    outbound = (payment.cancellations["C-1"].answer_key, payment.return_key)
    peer_archive = Archive(BUCKETS[PEER], s3=aws_regions.s3[PEER])
    with pytest.raises(MissingObject):  # what the peer's /outbox would have read
        peer_archive.get(outbound[0])

    aws_regions.copy()
    r = http.call("POST", f"/transactions/{tx}/cancel", body=body, headers=headers)
    assert r.status_code == 200 and header(r, "X-Replicated-To") == f"{HOME},{PEER}"
    assert [peer_archive.get(k) for k in outbound] == [http.svc.adapters.archive.get(k) for k in outbound]


def test_a_strong_inbox_camt056_waits_for_its_camt029_and_pacs004_too(monkeypatch, aws_regions):
    """The same confirmation as the cancel route's: a peer's /outbox serves the answer once it
    answers 202."""
    http = region_api(monkeypatch, aws_regions)
    tx, message = http.pay()
    drain(http.svc)  # settled: the DUPL request returns it (camt.029 CNCL and a pacs.004)
    headers = {**XML, **STRONG, "X-Transaction-Id": tx, "X-Message-Type": "camt.056"}
    request = camt056_naming(message)
    assert_error(http.call("POST", "/inbox", body=request, headers=headers), 503, "NOT_YET_REPLICATED")
    aws_regions.copy()  # the peer reads the event and all three objects: the camt.056 read by the retry
    payment = http.svc.payments.get_payment(UUID(tx))
    [case] = payment.cancellations.values()
    outbound = (case.answer_key, payment.return_key)
    peer_s3 = aws_regions.s3[PEER]
    peer_s3.delete_object(Bucket=BUCKETS[PEER], Key=outbound[0])  # ... but not yet the camt.029
    not_yet = http.call("POST", "/inbox", body=request, headers=headers)
    assert_error(not_yet, 503, "NOT_YET_REPLICATED")
    conforms(not_yet, "/inbox", "POST")
    aws_regions.copy()
    peer_s3.delete_object(Bucket=BUCKETS[PEER], Key=outbound[1])  # nor the pacs.004
    assert_error(http.call("POST", "/inbox", body=request, headers=headers), 503, "NOT_YET_REPLICATED")

    aws_regions.copy()
    body = assert_json(http.call("POST", "/inbox", body=request, headers=headers), 202)
    assert body["consistency"] == "strong" and body["replicated_to"] == [HOME, PEER]
    peer_archive = Archive(BUCKETS[PEER], s3=peer_s3)
    assert [peer_archive.get(k) for k in outbound] == [http.svc.adapters.archive.get(k) for k in outbound]
    assert http.svc.payments.get_payment(UUID(tx)).version == payment.version  # retries recorded nothing


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/uuid"), ("POST", "/transactions"), ("POST", "/inbox"), ("POST", "/cancel"), ("GET", "/tx")],
)
def test_an_unknown_level_is_400_and_writes_nothing(monkeypatch, aws_regions, method, path):
    http = region_api(monkeypatch, aws_regions)
    tx = assert_json(http.call("GET", "/uuid", headers=EVENTUAL))["transaction_id"]
    path = {"/cancel": f"/transactions/{tx}/cancel", "/tx": f"/transactions/{tx}"}.get(path, path)
    content = {"POST": JSON if path.endswith("/cancel") else XML}.get(method, {})
    headers = {**content, "X-Consistency": "linearizable", "X-Transaction-Id": tx, "X-Message-Type": "pacs.008"}
    body = fresh("pacs008_bare.xml") if path == "/inbox" else b""
    assert_error(http.call(method, path, body=body, headers=headers), 400, "INVALID_CONSISTENCY")
    assert aws_regions.transactions(HOME) == {tx} and aws_regions.events_of(HOME, tx) == [1]
    assert http.svc.adapters.incoming.sent == []


# -- reads -------------------------------------------------------------------------------


def test_a_strong_read_folds_the_events_while_the_view_lags(monkeypatch, aws_regions):
    http = region_api(monkeypatch, aws_regions)
    tx = http.issue()
    http.follow(tx)  # the view has ACCP ...
    http.submit(tx, fresh("pacs008_bare.xml"))
    drain(http.svc)  # ... and the events have moved on to ACSC
    lagging = assert_json(http.call("GET", f"/transactions/{tx}", headers=EVENTUAL))
    assert lagging["consistency"] == "eventual" and lagging["status"] == "ACCP"
    r = http.call("GET", f"/transactions/{tx}", headers=STRONG)
    conforms(r, "/transactions/{transaction_id}", "GET")
    folded = assert_json(r)
    assert folded["consistency"] == "strong" and folded["status"] == "ACSC"
    assert folded["version"] == max(aws_regions.events_of(HOME, tx))


# -- the adapter and the settings --------------------------------------------------------


def test_a_peer_that_errors_is_missing_not_an_exception_and_is_said_once(aws_regions, caplog):
    replicas = PeerReplicas("no-such-table", [PEER], {})
    result = replicas.confirm([("8c4f1a52-0d37-4a43-9d8e-2f5b0b7d9e11", 1)], ["inbound/x"], time.monotonic() + 0.3)
    assert result.replicated_to == () and result.missing == (PEER,)
    said = sorted(r.getMessage() for r in caplog.records if r.name == "chalicelib.adapters.replication")
    assert said == [
        f"peer Region {PEER}: ResourceNotFoundException on event",
        f"peer Region {PEER}: no archive bucket configured",
    ]


def test_the_adapter_reads_every_peer_and_names_each_one(aws_regions):
    aws_regions.copy()
    tx = "8c4f1a52-0d37-4a43-9d8e-2f5b0b7d9e11"
    item = {"pk": {"S": tx}, "sk": {"N": "1"}, "topic": {"S": "t"}}
    aws_regions.ddb[PEER].put_item(TableName=TABLE, Item=item)
    replicas = PeerReplicas(TABLE, [PEER], {PEER: BUCKETS[PEER]})
    assert replicas.confirm([(tx, 1)], [], time.monotonic() + 0.1).replicated_to == (PEER,)
    assert replicas.confirm([(tx, 2)], [], time.monotonic() + 0.1).missing == (PEER,)  # not that version


def test_settings_read_the_peers_and_the_default_from_the_environment(monkeypatch):
    monkeypatch.setenv("PACSFLOW_PEERS", json.dumps({PEER: "https://eu.example"}))
    monkeypatch.setenv("PACSFLOW_PEER_ARCHIVE_BUCKETS", json.dumps({PEER: BUCKETS[PEER]}))
    monkeypatch.setenv("PACSFLOW_DEFAULT_CONSISTENCY", "strong")
    s = Settings()
    assert s.peers == {PEER: "https://eu.example"} and s.peer_archive_buckets == {PEER: BUCKETS[PEER]}
    assert s.default_consistency == "strong" and s.strong_wait_seconds == 2.0
    monkeypatch.setenv("PACSFLOW_DEFAULT_CONSISTENCY", "sometimes")
    with pytest.raises(ValueError):
        Settings()
