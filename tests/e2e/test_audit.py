"""Audits on the session's local stack: the chain stored at append, the digests the
Digester writes to the Object Lock bucket (from the stream's records), `audit verify`
catching each kind of tampering (through the CLI entry point, on real DynamoDB),
point-in-time state at each step of a payment, and the auditor's export with the
ReportRetrieved records of /outbox.

The tampering is done on a copy of the payments' items in a scratch table of the same
MiniStack, checked against the stack's own digests: tampering with the live table would send
the changes down its stream to the view follower, which rightly fails on an event it cannot
decrypt, and the session's other tests require the view-failures queue to stay empty.
"""

from __future__ import annotations

import csv
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from chalicelib import cli
from chalicelib.eventstore.chain import event_hash, hash_attribute, stored_hash
from chalicelib.eventstore.dynamodb import TABLE_DEFINITION
from tests.messages import fresh
from tests.waiting import poll

# A settled payment: Initiated, Submitted, Received, Accepted, Released
LAST = 5
CASES = ("one byte", "delete", "swap", "delete last", "delete stream", "forged insert")


@pytest.fixture(scope="module")
def local(stack, tmp_path_factory, monkeypatch_module) -> Path:
    monkeypatch_module.setenv("AWS_ENDPOINT_URL", stack["endpoint_url"])
    path = tmp_path_factory.mktemp("audit") / "local-stack.json"
    path.write_text(json.dumps(stack))
    return path


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def paid(stack, api, parallel, boto_session) -> list[str]:
    """Settled payments, each vouched for by a digest of its last event."""
    txs = list(parallel.map(lambda _: api.pay(fresh("pacs008_bare.xml")), range(len(CASES) + 1)))
    for tx in txs:
        assert api.report(tx).status_code == 200
        api.view(tx, version=LAST)
    s3 = boto_session.client("s3", endpoint_url=stack["endpoint_url"])
    bucket = stack["outputs"]["DigestsBucketName"]
    poll(
        lambda: vouched(s3, bucket),
        lambda found: all((tx, LAST) in found for tx in txs),
        60,
        "digests of every payment's last event in the digests bucket",
        show=lambda found: f"{len(found)} stream heads",
    )
    return txs


def vouched(s3: Any, bucket: str) -> set[tuple[str, int]]:
    found = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="digests/"):
        for obj in page.get("Contents", []):
            body = json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            found |= {(stream, version) for stream, version, _ in body["streams"]}
    return found


def verify(local: Path, tx: str, capsys) -> tuple[int, str]:
    code = cli.main(["audit", "verify", "--local-stack", str(local), "--transaction", tx])
    return code, capsys.readouterr().out


def test_each_payment_verifies_against_its_chain_and_the_digests(paid, local, capsys):
    # (the bucket's Object Lock is the template's, tests/unit/test_template.py: MiniStack's
    # CloudFormation does not apply a bucket's ObjectLockConfiguration)
    for tx in paid:
        code, out = verify(local, tx, capsys)
        assert code == 0 and "all sound" in out, out


def test_each_kind_of_tampering_is_caught_and_the_transaction_named(stack, boto_session, paid, local, capsys):
    ddb = boto_session.client("dynamodb", endpoint_url=stack["endpoint_url"])
    scratch = f"audit-scratch-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=scratch, **{k: v for k, v in TABLE_DEFINITION.items() if k != "StreamSpecification"})
    ddb.get_waiter("table_exists").wait(TableName=scratch)
    events_table = stack["outputs"]["EventsTableName"]

    def items(table: str, tx: str) -> list[dict[str, Any]]:
        return ddb.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": tx}},
            ConsistentRead=True,
        )["Items"]

    for tx in paid:
        for item in items(events_table, tx):
            ddb.put_item(TableName=scratch, Item=item)
    copy = local.with_name("scratch-stack.json")
    copy.write_text(
        json.dumps(json.loads(local.read_text()) | {"outputs": stack["outputs"] | {"EventsTableName": scratch}})
    )

    def delete(tx: str, version: int) -> None:
        ddb.delete_item(TableName=scratch, Key={"pk": {"S": tx}, "sk": {"N": str(version)}})

    def put(item: dict[str, Any]) -> None:
        ddb.put_item(TableName=scratch, Item=item)

    clean, *tampered = paid
    cases = dict(zip(CASES, tampered, strict=True))
    # one byte of an event's stored state
    item = items(scratch, cases["one byte"])[1]
    state = bytearray(item["state"]["B"])
    state[-1] ^= 0x01
    put(item | {"state": {"B": bytes(state)}})
    # an event deleted; the last event deleted; the whole stream deleted
    delete(cases["delete"], 2)
    delete(cases["delete last"], LAST)
    for version in range(1, LAST + 1):
        delete(cases["delete stream"], version)
    # two events swapped
    two, three = items(scratch, cases["swap"])[1:3]
    put(three | {"sk": two["sk"]})
    put(two | {"sk": three["sk"]})
    # a forged event inserted at version 3 with a well-formed link (later ones shifted up)
    tx = cases["forged insert"]
    originals = items(scratch, tx)
    for item in reversed(originals[2:]):
        put(item | {"sk": {"N": str(int(item["sk"]["N"]) + 1)}})
    forged = b"forged state, not encrypted with the store's key"
    prev = stored_hash(originals[1]["hash"])

    forged_hash = event_hash(tx, 3, originals[2]["topic"]["S"], hashlib.sha256(forged).hexdigest(), prev, "")
    put(
        {
            "pk": {"S": tx},
            "sk": {"N": "3"},
            "topic": originals[2]["topic"],
            "state": {"B": forged},
            "prev": hash_attribute(prev),
            "hash": hash_attribute(forged_hash),
        }
    )

    expected = {
        "one byte": "changed",
        "delete": "removed",
        "swap": "reordered",
        "delete last": "removed",
        "delete stream": "missing stream",
        "forged insert": "inserted",
    }
    for case, tx in cases.items():
        code, out = verify(copy, tx, capsys)
        assert code == 1 and f"{tx}:" in out and f"  {expected[case]}:" in out, (case, out)
    code, out = verify(copy, clean, capsys)
    assert code == 0, out  # the untouched copy still checks
    ddb.delete_table(TableName=scratch)


def test_as_of_each_step_of_a_payment_over_http_and_the_cli(api, paid, local, capsys):
    tx = paid[0]
    events = api.call("GET", f"/transactions/{tx}/events").json()["events"]
    statuses = []
    for event in events:
        r = api.call("GET", f"/transactions/{tx}", params={"as_of": event["timestamp"]})
        assert r.status_code == 200, r.text
        assert r.json()["version"] == event["version"]
        statuses.append(r.json()["status"])
    assert statuses == ["ACCP", "ACCP", "ACTC", "ACSP", "ACSC"]  # Submitted keeps ACCP
    bad = api.call("GET", f"/transactions/{tx}", params={"as_of": "not-a-time"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_AS_OF"
    assert cli.main(["audit", "show", tx, "--as-of", events[2]["timestamp"], "--local-stack", str(local)]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "ACTC"


def test_the_export_has_the_events_and_every_outbox_fetch(api, paid, local, tmp_path, capsys):
    tx = paid[0]
    assert api.report(tx).status_code == 200  # one more fetch: a ReportRetrieved record
    events = api.call("GET", f"/transactions/{tx}/events").json()["events"]
    out = tmp_path / "export.csv"
    start = events[0]["timestamp"]
    period = ["--from", start, "--to", "2100-01-01T00:00:00Z"]
    code = cli.main(["audit", "export", *period, "--format", "csv", "--out", str(out), "--local-stack", str(local)])
    assert code == 0
    with out.open() as f:
        rows = [r for r in csv.DictReader(f) if r["transaction_id"] == tx]
    assert [r["type"] for r in rows if r["version"]] == ["Initiated", "Submitted", "Received", "Accepted", "Released"]
    fetches = [r for r in rows if r["type"] == "ReportRetrieved"]
    assert len(fetches) >= 2 and all(r["client"] and r["request_id"] and r["message_sha256"] for r in fetches)
    received = next(r for r in rows if r["type"] == "Received")
    assert received["archive_key"] and received["message_sha256"] and received["hash"]
    assert json.loads(received["data"])  # decoded, not ciphertext
    assert {r["client"] for r in rows if r["type"] == "Initiated"} == {api_client_id(rows)}


def api_client_id(rows: list[dict[str, str]]) -> str:
    """The client that issued the transaction, as the ReportRetrieved records name it."""
    return next(r["client"] for r in rows if r["type"] == "ReportRetrieved")
