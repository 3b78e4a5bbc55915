"""The payment flow over HTTP against the deployed local stack (API Gateway, Lambda, SQS,
DynamoDB, S3, SNS on MiniStack)."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from lxml import etree

from chalicelib.iso20022 import validate_pacs002
from tests.hostile.support import lambda_log_groups, log_events
from tests.messages import fresh
from tests.waiting import poll, wait_until_idle

pytestmark = pytest.mark.e2e
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}


def statuses(report: bytes) -> tuple[str | None, list[str]]:
    doc = etree.fromstring(report)
    sts = doc.findtext(".//p:TxInfAndSts/p:TxSts", namespaces=NS) or doc.findtext(".//p:GrpSts", namespaces=NS)
    return sts, doc.xpath(".//p:StsRsnInf/p:Rsn/p:Cd/text()", namespaces=NS)


@pytest.mark.parametrize("sample", ["pacs008_bare.xml", "pacs008_bah_envelope.xml"])
def test_a_valid_pacs008_settles_and_the_client_fetches_an_acsc_pacs002(api, sample, notified):
    tx = api.pay(fresh(sample))
    r = api.report(tx)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/xml")
    validate_pacs002(r.content)
    assert statuses(r.content) == ("ACSC", [])
    assert api.report(tx).content == r.content  # repeatable
    view = api.view(tx, version=4)
    assert view["status"] == "ACSC" and view["transaction_id"] == tx and view["uetr"]
    history = api.call("GET", f"/transactions/{tx}/events").json()["events"]
    assert [e["type"] for e in history] == ["Initiated", "Submitted", "Received", "Accepted", "Released"]
    assert history[1]["previous_hash"] == history[0]["hash"]
    note = notified(tx)
    assert len(note) == 1 and note[0]["Subject"] == "pacs.002 ACSC"
    assert note[0]["MessageAttributes"]["tx_sts"]["Value"] == "ACSC"


def test_a_schema_invalid_message_ends_rjct_ff01(api):
    tx = api.pay(fresh("pacs008_invalid_schema.xml"))
    r = api.report(tx)
    assert r.status_code == 200
    validate_pacs002(r.content)
    assert statuses(r.content) == ("RJCT", ["FF01"])
    assert api.view(tx, version=3)["reason_code"] == "FF01"


@pytest.mark.parametrize("body", [b"not xml at all", b'{"json": true}', b"<Document/>"])
def test_an_unknown_message_ends_rjct_ff01(api, body):
    r = api.report(api.pay(body))
    assert r.status_code == 200 and statuses(r.content) == ("RJCT", ["FF01"])


def test_unknown_and_malformed_transaction_ids_are_4xx_json(api):
    unknown = str(uuid.uuid4())
    for method, path, headers in [
        ("POST", "/outbox", {"X-Transaction-Id": unknown}),
        (
            "POST",
            "/inbox",
            {"X-Transaction-Id": unknown, "X-Message-Type": "pacs.008", "Content-Type": "application/xml"},
        ),
        ("GET", f"/transactions/{unknown}", {}),
        ("GET", f"/transactions/{unknown}/events", {}),
    ]:
        r = api.call(method, path, headers=headers, data=b"<x/>" if path == "/inbox" else None)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error_code"] == "TRANSACTION_NOT_FOUND" and r.json()["request_id"]
    for bad in ["not-a-uuid", "1234", "' OR 1=1 --"]:
        r = api.call("POST", "/outbox", headers={"X-Transaction-Id": bad})
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_TRANSACTION_ID"
    r = api.call("POST", "/outbox")
    assert r.status_code == 400


def test_header_names_are_case_insensitive(api):
    tx = api.new_transaction()
    body = fresh("pacs008_bare.xml")
    r = api.call(
        "POST",
        "/inbox",
        data=body,
        headers={"x-transaction-id": tx, "X-MESSAGE-TYPE": "pacs.008", "content-type": "application/xml"},
    )
    assert r.status_code == 202
    assert api.call("POST", "/outbox", headers={"x-TRANSACTION-id": tx}).status_code in (200, 409)


def test_a_resubmitted_inbox_is_idempotent_and_a_different_message_conflicts(api, stack, boto_session):
    body = fresh("pacs008_bare.xml")
    tx = api.pay(body)
    assert api.report(tx).status_code == 200
    again = api.submit(tx, body)
    assert again.status_code == 202
    other = api.submit(tx, fresh("pacs008_bah_envelope.xml"))
    assert other.status_code == 409 and other.json()["error_code"] == "TRANSACTION_ALREADY_RECEIVED"
    # the history is final once the pipeline has handled whatever the two submissions queued
    wait_until_idle(boto_session.client("sqs", endpoint_url=stack["endpoint_url"]), stack["outputs"])
    history = api.call("GET", f"/transactions/{tx}/events").json()["events"]
    assert [e["type"] for e in history] == ["Initiated", "Submitted", "Received", "Accepted", "Released"]


def test_a_burst_of_50_parallel_uuid_requests(api, parallel):
    responses = list(
        parallel.map(lambda _: api.call("GET", "/uuid", headers={"X-Message-Type": "pacs.008"}), range(50))
    )
    assert [r.status_code for r in responses] == [200] * 50
    ids = {r.json()["transaction_id"] for r in responses}
    assert len(ids) == 50 and all(uuid.UUID(i).version == 4 for i in ids)


def test_health_reports_every_dependency(api):
    r = api.call("GET", "/")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and set(body["checks"].values()) == {"ok"}
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", json.dumps(body))  # never reveals transactions


def test_payments_are_found_by_uetr_and_end_to_end_id_for_their_owner_only(api, other_tenant):
    tx = api.pay(fresh("pacs008_bah_envelope.xml"))
    assert api.report(tx).status_code == 200
    view = api.view(tx, version=4)
    for field in ("uetr", "end_to_end_id"):
        found = api.call("GET", "/transactions", params={field: view[field]}).json()["transactions"]
        assert tx in [t["transaction_id"] for t in found]
        assert other_tenant.call("GET", "/transactions", params={field: view[field]}).json()["transactions"] == []
    for params in ({}, {"uetr": "x", "end_to_end_id": "y"}, {"msg": "x"}, {"uetr": "u" * 65}):
        r = api.call("GET", "/transactions", params=params)
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_QUERY"


def test_a_multi_transaction_message_gets_a_status_per_transaction(api):
    body = fresh("pacs008_two_txs.xml").replace(b">99.5<", b">99.555<")  # tx 2: three decimals in EUR
    tx = api.pay(body)
    r = api.report(tx)
    assert r.status_code == 200
    validate_pacs002(r.content)
    doc = etree.fromstring(r.content)
    assert doc.findtext(".//p:OrgnlGrpInfAndSts/p:GrpSts", namespaces=NS) == "PART"
    assert [t.findtext("p:TxSts", namespaces=NS) for t in doc.findall(".//p:TxInfAndSts", namespaces=NS)] == [
        "ACSC",
        "RJCT",
    ]
    view = api.view(tx, version=4)
    assert view["group_status"] == "PART" and view["tx_statuses"] == ["ACSC", "RJCT"]


def test_the_functions_log_json_lines_and_emf_metrics_with_tracing_off(api, stack, boto_session):
    """Powertools in the deployed package: the pipeline functions' lines are JSON objects with
    their keys, the releasing step writes the payment metrics as EMF (in the incoming function,
    which runs it inline: chalicelib/pipeline/handoff.py), and nothing crashed (X-Ray is off in
    the local stage: MiniStack runs no daemon)."""
    tx = api.pay(fresh("pacs008_bare.xml"))
    assert statuses(api.report(tx).content)[0] == "ACSC"
    logs = boto_session.client("logs", endpoint_url=stack["endpoint_url"])

    def releasing_records() -> list[dict]:
        group = next(g for g in lambda_log_groups(logs, stack["stack_name"]) if "incoming" in g.lower())
        return [json.loads(m) for e in log_events(logs, group) if (m := e["message"].strip()).startswith("{")]

    def released(records: list[dict]) -> list[dict]:
        return [r for r in records if r.get("message") == "payment released" and r.get("transaction_id") == tx]

    records = poll(releasing_records, lambda rs: bool(released(rs)), 30, "the releasing step's log line")
    line = released(records)[0]
    assert line["step"] == "releasing" and line["request_id"] and line["region"] and line["level"] == "INFO"
    assert any(r.get("TxSts") == "ACSC" and "Payments" in r for r in records if "_aws" in r)
    crash = re.compile(r"^Traceback|Task timed out|Runtime\.\w*Error|\"errorType\"")
    every = [e["message"] for g in lambda_log_groups(logs, stack["stack_name"]) for e in log_events(logs, g)]
    assert not [m[:200] for m in every if crash.search(m)]
