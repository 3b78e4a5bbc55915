"""The view record through the DynamoDB view table (moto), the follower's reads and `rebuild`."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from unittest import mock
from uuid import UUID

import boto3
import pytest
from eventsourcing.persistence import StoredEvent
from moto import mock_aws

from chalicelib.adapters.dynamodb import TransactionView
from chalicelib.pipeline.payments import PaymentNotFound, Payments
from chalicelib.projections import follower
from chalicelib.projections.errors import InvalidQuery
from chalicelib.projections.records import CancellationAnswer, RefusedSubmission, TransactionRecord
from tests.messages import fresh
from tests.unit.fakes import drain, memory_service
from tests.unit.test_view_lookups import create_view_table

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "events_v1.json").read_text())
PATHS = FIXTURE["paths"]


@pytest.fixture
def view() -> Iterator[TransactionView]:
    environ = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    with mock.patch.dict(os.environ, environ, clear=True), mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_view_table(dynamodb, "transactions")
        yield TransactionView("transactions", dynamodb)


@pytest.fixture
def payments() -> Payments:
    """The v1 fixture's payments, stored as the previous version wrote them."""
    app = Payments(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=UUID(s["originator_id"]),
                originator_version=s["originator_version"],
                topic=s["topic"],
                state=s["state"].encode(),
            )
            for s in FIXTURE["payments"]
        ]
    )
    return app


def full_record() -> TransactionRecord:
    return TransactionRecord(
        transaction_id="t-1",
        owner="client-a",
        status="ACSC",
        message_type="pacs.008",
        region_id="eu-west-1",
        created_at="2026-11-30T09:00:00+00:00",
        updated_at="2026-11-30T09:00:05+00:00",
        version=7,
        message_sha256="a" * 64,
        msg_id="M",
        end_to_end_id="E",
        uetr="U",
        amount="1.10",
        currency="EUR",
        reason_codes=(),
        tx_statuses=("ACSC", "RJCT"),
        group_status="PART",
        cancellation_status="CNCL",
        cancellations=(
            CancellationAnswer("C1", "CNCL", "FRAD", "2026-11-30T09:00:03+00:00"),
            CancellationAnswer("C2", "RJCR", "DUPL", "2026-11-30T09:00:04+00:00", "ARDT"),
        ),
        returned=True,
        return_reason="FRAD",
        returned_at="2026-11-30T09:00:03+00:00",
        refused_submissions=(RefusedSubmission("f" * 64, "TRANSACTION_ALREADY_RECEIVED", "2026-11-30T09:00:05+00:00"),),
    )


def test_a_record_round_trips_through_its_item_and_its_json():
    record = full_record()
    assert TransactionRecord.from_item(record.to_item()) == record
    assert TransactionRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert "reason_codes" not in record.to_dict() and "narrative" not in record.to_item()  # absent, not null


def test_an_item_written_before_the_typed_record_still_reads():
    legacy = {
        "transaction_id": {"S": "t-0"},
        "owner": {"S": "client-a"},
        "status": {"S": "RJCT"},
        "message_type": {"S": "pacs.008"},
        "region_id": {"S": "eu-west-1"},
        "created_at": {"S": "x"},
        "updated_at": {"S": "y"},
        "version": {"N": "3"},
        "reason_code": {"S": "FF01"},
        "reason_codes": {"L": [{"S": "FF01"}]},
    }
    record = TransactionRecord.from_item(legacy)
    assert (record.version, record.reason_codes, record.returned, record.cancellations) == (3, ("FF01",), False, ())


def test_the_view_table_keeps_the_newest_version(view):
    record = full_record()
    assert view.put_if_newer(record) and view.get("t-1") == record
    older = TransactionRecord.from_dict({**record.to_dict(), "version": 6, "status": "ACSP"})
    assert not view.put_if_newer(older) and view.get("t-1") == record
    assert list(view.find(record.owner, "uetr", "U")) == ["t-1"] and list(view.scan()) == [record]


def test_the_follower_writes_the_fold_and_answers_from_the_view(view, payments):
    tid = PATHS["returned"]
    written = follower.refresh(payments, view, tid)
    assert written is not None and view.get(tid) == written and written.returned
    shown = follower.current_state(payments, view, UUID(tid), written.owner)
    assert shown == written.to_dict() and shown["returned"] is True
    with pytest.raises(PaymentNotFound):
        follower.current_state(payments, view, UUID(tid), "someone-else")
    assert follower.find(view, written.owner, {"uetr": written.uetr}) == ([shown], False)
    assert follower.find(view, "someone-else", {"uetr": written.uetr}) == ([], False)


def test_before_the_follower_the_state_is_the_fold_of_the_events(view, payments):
    tid = PATHS["cancelled"]
    assert view.get(tid) is None
    assert follower.current_state(payments, view, UUID(tid), "client-a")["status"] == "CANC"


@pytest.mark.parametrize(
    "query",
    [
        None,
        {},
        {"uetr": "u", "end_to_end_id": "e"},
        {"uetr": "u", "page": "2"},
        {"msg_id": "m"},
        {"uetr": ""},
        {"uetr": "x" * 65},
        {"limit": "5"},
        {"uetr": "u", "limit": "0"},
    ],
)
def test_a_lookup_without_exactly_one_good_key_is_an_invalid_query(view, query):
    with pytest.raises(InvalidQuery) as raised:
        follower.find(view, "client-a", query)
    assert raised.value.error_code == "INVALID_QUERY" and not hasattr(raised.value, "status")


def test_rebuild_reports_and_repairs_what_differs(view, payments):
    ids = sorted({s["originator_id"] for s in FIXTURE["payments"]})
    report = follower.rebuild(payments, view, ids)
    assert (report.checked, len(report.missing), report.ok) == (len(ids), len(ids), False)

    report = follower.rebuild(payments, view, ids, apply=True)
    assert report.written == len(ids)
    assert follower.rebuild(payments, view, ids).ok

    # a record written by the previous view code: cancelled after acceptance shown as ACSC
    cancelled = view.get(PATHS["cancelled"])
    stale = TransactionRecord.from_dict({**cancelled.to_dict(), "status": "ACSC", "cancellations": []})
    view.put_unconditionally(stale)
    view.put_unconditionally(TransactionRecord.from_dict({**cancelled.to_dict(), "transaction_id": "orphan"}))
    report = follower.rebuild(payments, view, ids, apply=True)
    assert report.mismatched == [PATHS["cancelled"]] and report.orphaned == ["orphan"]
    assert view.get(PATHS["cancelled"]).status == "CANC"


def two_transaction_payment() -> tuple[Payments, str]:
    """A settled pacs.008 of two transactions (the memory fakes' pipeline), and its id."""
    p = memory_service()
    tid = p.issue_transaction("pacs.008", "r", "client-a").id
    p.submit(tid, "pacs.008", fresh("pacs008_two_txs.xml"), "client-a")
    drain(p)
    return p.payments, str(tid)


def test_a_later_transaction_is_found_by_its_index_item_and_rebuild_checks_and_repairs_it(view):
    payments, tid = two_transaction_payment()
    record = follower.refresh(payments, view, tid)
    assert record is not None and len(record.later_transactions) == 1
    first, second = record.transaction_ids(1), record.later_transactions[0]
    for ids in (first, second):
        for field in ("uetr", "end_to_end_id"):
            query = {field: getattr(ids, field)}
            assert [r["transaction_id"] for r in follower.find(view, "client-a", query).transactions] == [tid]
            assert follower.find(view, "client-b", query).transactions == []  # another tenant's index rows
    assert [r.transaction_id for r in view.scan()] == [tid]  # an index item is no record
    assert follower.rebuild(payments, view, [tid]).ok

    # a view the previous code wrote: the record without its later transactions, no index item
    view.dynamodb.delete_item(TableName=view.table, Key={"transaction_id": {"S": f"{tid}#2"}})
    view.put_unconditionally(dataclasses.replace(record, later_transactions=()))
    assert [r["transaction_id"] for r in follower.find(view, "client-a", {"uetr": first.uetr}).transactions] == [tid]
    assert follower.find(view, "client-a", {"uetr": second.uetr}).transactions == []
    report = follower.rebuild(payments, view, [tid], apply=True)
    assert (report.mismatched, report.written) == ([tid], 1)
    assert [r["transaction_id"] for r in follower.find(view, "client-a", {"uetr": second.uetr}).transactions] == [tid]
    assert follower.rebuild(payments, view, [tid]).ok

    # the index items alone missing (the record as it should be) is a difference too
    view.dynamodb.delete_item(TableName=view.table, Key={"transaction_id": {"S": f"{tid}#2"}})
    assert follower.rebuild(payments, view, [tid]).mismatched == [tid]
    follower.rebuild(payments, view, [tid], apply=True)
    # an index item of no transaction of the payment's message, or of no payment, is orphaned
    index_item = view.get_item(f"{tid}#2")
    for key in (f"{tid}#3", "no-payment#2"):
        view.dynamodb.put_item(TableName=view.table, Item={**index_item, "transaction_id": {"S": key}})
    assert sorted(follower.rebuild(payments, view, [tid]).orphaned) == sorted([f"{tid}#3", "no-payment#2"])
