"""Lookups keyed by owner, every page followed, and a rebuild that never moves a record
backwards and scans in parallel (the view table as the template defines it, in moto)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.dynamodb import (
    BATCH_ATTEMPTS,
    TransactionView,
    ViewWriteIncomplete,
    aggregate_ids,
    parallel_scan,
)
from chalicelib.projections import follower
from chalicelib.projections.records import TransactionIds, TransactionRecord
from infra.template import storage
from tests.unit.fakes import MemoryView

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "events_v1.json").read_text())


def create_view_table(dynamodb: Any, name: str) -> None:
    """The transactions table of infra/template.py (keys and indexes), named `name`."""
    props = storage()["TransactionsTable"]["Properties"]
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    environ = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    with mock.patch.dict(os.environ, environ, clear=True), mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_view_table(client, "transactions")
        yield client


def record(tid: str, owner: str, version: int = 3, **fields: Any) -> TransactionRecord:
    base = TransactionRecord(
        transaction_id=tid, owner=owner, status="ACSC", message_type="pacs.008", region_id="us-east-1",
        created_at="2026-11-30T09:00:00+00:00", updated_at="2026-11-30T09:00:05+00:00", version=version,
        uetr="8a562c67-ca16-48ba-b074-65581be6f011", end_to_end_id="NOTPROVIDED",
    )  # fmt: skip
    return dataclasses.replace(base, **fields)


def later(*end_to_end_ids: str) -> tuple[TransactionIds, ...]:
    return tuple(
        TransactionIds(end_to_end_id=e, uetr=f"00000000-0000-4000-8000-{i:012}") for i, e in enumerate(end_to_end_ids)
    )


def put(view: Any, rec: TransactionRecord) -> None:
    """As the follower writes a record: its index items first, then the record."""
    view.put_lookup_items(rec)
    view.put_if_newer(rec)


def test_a_capped_lookup_reads_no_page_beyond_its_cap(dynamodb):
    view = TransactionView("transactions", dynamodb, page_size=2)
    for i in range(9):
        view.put_if_newer(record(f"tx-{i}", "client-a"))
    limits: list[int] = []
    query = dynamodb.query
    with mock.patch.object(dynamodb, "query", lambda **r: limits.append(r.get("Limit")) or query(**r)):
        found = list(view.find("client-a", "end_to_end_id", "NOTPROVIDED", most=3))
    assert len(found) == 3 and set(found) < {f"tx-{i}" for i in range(9)}
    assert limits == [2, 1]  # pages of 2, the last one only as large as what is still wanted
    assert len(list(view.find("client-a", "end_to_end_id", "NOTPROVIDED"))) == 9  # uncapped: every page


def test_a_clients_lookup_reads_only_its_own_rows_across_pages(dynamodb):
    view = TransactionView("transactions", dynamodb, page_size=2)
    for i in range(30):  # everyone's NOTPROVIDED payments, and the same UETR
        view.put_if_newer(record(f"other-{i:02}", f"client-{i % 3}"))
    mine = [f"mine-{i}" for i in range(5)]  # more than two pages of mine
    for tid in mine:
        view.put_if_newer(record(tid, "client-a"))
    queries = []
    real_query = dynamodb.query
    with mock.patch.object(dynamodb, "query", side_effect=lambda **kw: queries.append(kw) or real_query(**kw)):
        for field in ("end_to_end_id", "uetr"):
            queries.clear()
            found = follower.find(view, "client-a", {field: getattr(record("x", "y"), field)})
            assert sorted(r["transaction_id"] for r in found.transactions) == mine and not found.truncated
            # every page read was the owner's: 5 rows at 2 a page is 3 pages (and no more)
            assert len(queries) == 3 and all("client-a#" in json.dumps(q) for q in queries)
    assert list(view.find("client-b", "end_to_end_id", "NOTPROVIDED")) == []


def test_a_lookup_reads_entries_page_by_page_until_one_payment_more_than_its_limit(dynamodb):
    """Pages of `limit + 1` entries, no further page once `limit + 1` payments came; a
    payment's record is read once however many of its transactions match; and no more than
    `max_transactions` pages, after which the answer says more may have matched."""
    view = TransactionView("transactions", dynamodb)
    ids = tuple(TransactionIds(end_to_end_id="NOTPROVIDED") for _ in range(4))
    for tid in ("pay-a", "pay-b"):  # five entries each
        view.put_lookup_items(record(tid, "client-a", later_transactions=ids))
        view.put_if_newer(record(tid, "client-a", later_transactions=ids))
    view.put_if_newer(record("pay-c", "client-a"))
    limits: list[int] = []
    gets: list[str] = []
    query, get = dynamodb.query, view.get
    with (
        mock.patch.object(dynamodb, "query", lambda **r: limits.append(r["Limit"]) or query(**r)),
        mock.patch.object(view, "get", lambda tid: gets.append(tid) or get(tid)),
    ):
        found = follower.find(view, "client-a", {"end_to_end_id": "NOTPROVIDED", "limit": "2"}, max_transactions=5)
        assert len(found.transactions) == 2 and found.truncated  # three payments matched
        assert sorted(gets) == sorted(set(gets)) and len(gets) == 3  # each record once
        assert set(limits) == {3} and len(limits) <= 5
        limits.clear()
        capped = follower.find(view, "client-a", {"end_to_end_id": "NOTPROVIDED", "limit": "2"}, max_transactions=1)
    assert limits == [3] and capped.truncated  # one page: more may have matched


def test_a_capped_lookup_listing_every_matching_payment_is_not_truncated(dynamodb):
    """The cap counts payments, not index keys. A payment whose later transaction shares the
    looked-up EndToEndId (NOTPROVIDED is the usual one, and every transaction of a message
    may carry it) has two keys but is one payment, so two payments matching a `limit=2`
    lookup are the whole answer and it is not `truncated`: told that more payments matched
    than it was given (openapi: "More transactions matched than `limit`"), a client, having
    no next page, would narrow or give up on an answer that was complete."""
    view = TransactionView("transactions", dynamodb)
    put(view, record("pay-two", "client-a", later_transactions=later("NOTPROVIDED")))
    put(view, record("pay-one", "client-a"))
    found = follower.find(view, "client-a", {"end_to_end_id": "NOTPROVIDED", "limit": "2"})
    assert sorted(r["transaction_id"] for r in found.transactions) == ["pay-one", "pay-two"]
    assert found.truncated is False  # two payments matched, two were asked for, two were answered


def test_one_payments_later_transactions_crowd_no_other_payment_out_of_a_capped_lookup():
    """One multi-transaction payment whose transactions all carry the EndToEndId asked for
    (NOTPROVIDED) counts once against `limit`: `?end_to_end_id=NOTPROVIDED&limit=2` over two
    matching payments answers both. Were the cap applied to index keys before they are grouped
    into payments, one message of 100 such transactions (max_transactions has no upper bound)
    would fill every answer, and every other payment of the tenant with that EndToEndId would
    be unreachable by the lookup at any `limit`: there is no next page. The index order here
    is the MemoryView's (newest first), one DynamoDB may return."""
    view = MemoryView()
    put(view, record("pay-one", "client-a", created_at="2026-11-30T08:00:00+00:00"))
    put(view, record("pay-many", "client-a", later_transactions=later("NOTPROVIDED", "NOTPROVIDED", "NOTPROVIDED")))
    found = follower.find(view, "client-a", {"end_to_end_id": "NOTPROVIDED", "limit": "2"})
    assert sorted(r["transaction_id"] for r in found.transactions) == ["pay-many", "pay-one"]


def test_index_items_are_batched_and_what_dynamodb_leaves_unprocessed_is_sent_again(dynamodb):
    waits: list[float] = []
    view = TransactionView("transactions", dynamodb, sleep=waits.append)
    rec = record("pay-a", "client-a", later_transactions=tuple(TransactionIds(uetr=f"u-{n}") for n in range(30)))
    sizes: list[int] = []
    write = dynamodb.batch_write_item

    def throttled(**request: Any) -> Any:
        wanted = request["RequestItems"]["transactions"]
        sizes.append(len(wanted))
        if len(sizes) == 1:  # the first request: DynamoDB takes one item, leaves the rest
            write(RequestItems={"transactions": wanted[:1]})
            return {"UnprocessedItems": {"transactions": wanted[1:]}}
        return write(**request)

    with mock.patch.object(dynamodb, "batch_write_item", throttled):
        view.put_lookup_items(rec)
    assert sizes == [25, 24, 5] and len(waits) == 1 and 0 <= waits[0] <= 0.1
    assert set(rec.lookup_items()) == {
        item["transaction_id"]["S"] for item in dynamodb.scan(TableName="transactions")["Items"]
    }
    never = {"UnprocessedItems": {"transactions": [{"PutRequest": {"Item": {}}}]}}
    with mock.patch.object(dynamodb, "batch_write_item", lambda **r: never), pytest.raises(ViewWriteIncomplete):
        view.put_lookup_items(rec)
    assert len(waits) == 1 + BATCH_ATTEMPTS - 1


def test_every_scan_follows_last_evaluated_key(dynamodb):
    view = TransactionView("transactions", dynamodb, page_size=3, scan_segments=1)
    for i in range(10):
        view.put_if_newer(record(f"t-{i}", "client-a"))
    assert sorted(r.transaction_id for r in view.scan()) == [f"t-{i}" for i in range(10)]


def test_a_parallel_scan_covers_every_item_exactly_once(dynamodb):
    for i in range(200):
        dynamodb.put_item(TableName="transactions", Item=record(f"t-{i:03}", "c").to_item())
    segments_seen = []
    real_scan = dynamodb.scan
    with mock.patch.object(
        dynamodb, "scan", side_effect=lambda **kw: segments_seen.append(kw["Segment"]) or real_scan(**kw)
    ):
        items = list(parallel_scan(dynamodb, segments=4, page_size=7, TableName="transactions"))
    ids = [item["transaction_id"]["S"] for item in items]
    assert len(ids) == 200 and set(ids) == {f"t-{i:03}" for i in range(200)}
    assert set(segments_seen) == {0, 1, 2, 3} and len(segments_seen) > 4  # every segment, many pages


def test_aggregate_ids_scan_the_events_table_in_parallel_pages(dynamodb):
    dynamodb.create_table(
        TableName="events", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
    )  # fmt: skip
    for i in range(40):
        for version in (1, 2):
            dynamodb.put_item(TableName="events", Item={"pk": {"S": f"a-{i:02}"}, "sk": {"N": str(version)}})
    dynamodb.put_item(TableName="events", Item={"pk": {"S": "$claim#uetr#x"}, "sk": {"N": "1"}})
    ids = list(aggregate_ids("events", dynamodb, segments=3, page_size=5))
    assert sorted(ids) == [f"a-{i:02}" for i in range(40)]


class StubPayments:
    """Payments whose history folds to a given record (rebuild's only use of them)."""

    def __init__(self, records: dict[str, TransactionRecord]) -> None:
        self.records = records

    def history(self, tid: Any) -> str:
        return str(tid)


def test_rebuild_apply_leaves_a_newer_record_and_migrates_an_old_one(dynamodb, monkeypatch):
    view = TransactionView("transactions", dynamodb)
    a, b = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
    folded = {
        a: record(a, "client-a", version=3),
        b: record(b, "client-a", version=4, uetr="0c3a1b7e-7c1f-4d51-9d55-6a4a55d2f7b2"),
    }
    monkeypatch.setattr(follower, "fold", lambda tid: folded[tid])
    newer = record(a, "client-a", version=5, status="RJCT")
    view.put_unconditionally(newer)  # the follower got there first
    legacy = {k: v for k, v in folded[b].to_item().items() if not k.startswith("owner_")}
    dynamodb.put_item(TableName="transactions", Item=legacy)  # written before the lookup attributes
    assert list(view.find("client-a", "uetr", folded[b].uetr or "")) == []  # not indexed yet

    report = follower.rebuild(StubPayments(folded), view, [a, b], apply=True)  # type: ignore[arg-type]

    assert view.get(a) == newer and report.newer_in_view == [a]  # never moved backwards
    assert report.mismatched == [a, b] and report.written == 1
    assert sorted(view.find("client-a", "uetr", folded[b].uetr or "")) == [b]  # found after the rebuild
    again = follower.rebuild(StubPayments(folded), view, [b])
    assert again.matching == 1 and not (again.mismatched or again.missing)


def test_rebuild_apply_rewrites_an_equal_version(dynamodb, monkeypatch):
    view = TransactionView("transactions", dynamodb)
    tid = "00000000-0000-4000-8000-00000000000c"
    expected = record(tid, "client-a", version=4)
    monkeypatch.setattr(follower, "fold", lambda _: expected)
    view.put_unconditionally(dataclasses.replace(expected, status="ACSP"))  # an older fold's, same version
    report = follower.rebuild(StubPayments({}), view, [tid], apply=True)  # type: ignore[arg-type]
    assert report.written == 1 and view.get(tid) == expected


def test_rebuild_takes_its_scan_segments_from_the_command_line():
    from chalicelib.cli import build_parser

    assert build_parser().parse_args(["rebuild", "--segments", "8"]).segments == 8
    assert build_parser().parse_args(["rebuild"]).segments == 4
    with pytest.raises(SystemExit):
        build_parser().parse_args(["rebuild", "--segments", "0"])
