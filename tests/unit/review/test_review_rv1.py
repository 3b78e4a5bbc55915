"""Review rv1: defects in the index items of later transactions, the capped lookup and view
recovery (each test fails on the code as reviewed; see its docstring)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any
from unittest import mock
from uuid import UUID

import boto3

from chalicelib import bootstrap, cli
from chalicelib.adapters.dynamodb import TransactionView
from chalicelib.eventstore.backup import stream_heads
from chalicelib.projections import follower
from chalicelib.projections.records import TransactionIds
from chalicelib.projections.recovery import ViewSnapshot, full_replay, object_key, recover
from tests import messages
from tests.unit.fakes import MemoryView, drain
from tests.unit.test_recovery import BUCKET, OWNER, aws, svc  # noqa: F401 (fixtures)
from tests.unit.test_routes import JSON, admin, http, keys, redriven_events  # noqa: F401 (fixtures)
from tests.unit.test_view_lookups import dynamodb, record  # noqa: F401 (fixture)

NOTPROVIDED = "NOTPROVIDED"


def later(*end_to_end_ids: str) -> tuple[TransactionIds, ...]:
    return tuple(
        TransactionIds(end_to_end_id=e, uetr=f"00000000-0000-4000-8000-{i:012}") for i, e in enumerate(end_to_end_ids)
    )


def put(view: Any, rec: Any) -> None:
    """As the follower writes a record: its index items first, then the record."""
    view.put_lookup_items(rec)
    view.put_if_newer(rec)


def test_a_capped_lookup_says_truncated_when_every_matching_payment_is_listed(dynamodb):  # noqa: F811
    """`find` reads `limit + 1` index KEYS and says `truncated` when more than `limit` keys came
    (follower.py `find`: `truncated=len(keys) > limit`). A payment whose later transaction shares
    the looked-up EndToEndId (NOTPROVIDED is the usual one, and every transaction of a message
    may carry it) has two keys, so two payments matching a `limit=2` lookup are answered with
    `truncated: true`: the client is told, falsely, that more payments matched than it was given
    (openapi: "More transactions matched than `limit`"), and, having no next page, narrows or
    gives up on an answer that was complete. The cap must count payments, not index keys."""
    view = TransactionView("transactions", dynamodb)
    put(view, record("pay-two", "client-a", later_transactions=later(NOTPROVIDED)))
    put(view, record("pay-one", "client-a"))
    found = follower.find(view, "client-a", {"end_to_end_id": NOTPROVIDED, "limit": "2"})
    assert sorted(r["transaction_id"] for r in found.transactions) == ["pay-one", "pay-two"]
    assert found.truncated is False  # two payments matched, two were asked for, two were answered


def test_a_capped_lookup_is_crowded_out_by_one_payments_later_transactions():
    """The cap is applied to index keys before they are grouped into payments (`keys[:limit]`),
    so one multi-transaction payment whose transactions all carry the EndToEndId asked for
    (NOTPROVIDED) fills the whole answer: `?end_to_end_id=NOTPROVIDED&limit=2` over two matching
    payments answers ONE payment (and `truncated`). With a message of 100 such transactions
    (max_transactions has no upper bound), every other payment of the tenant with that
    EndToEndId is unreachable by the lookup at any `limit`: there is no next page. The index
    order here is the MemoryView's (newest first), one DynamoDB may return."""
    view = MemoryView()
    put(view, record("pay-one", "client-a", created_at="2026-11-30T08:00:00+00:00"))
    put(view, record("pay-many", "client-a", later_transactions=later(NOTPROVIDED, NOTPROVIDED, NOTPROVIDED)))
    found = follower.find(view, "client-a", {"end_to_end_id": NOTPROVIDED, "limit": "2"})
    assert sorted(r["transaction_id"] for r in found.transactions) == ["pay-many", "pay-one"]


def two_transaction_payment(svc: bootstrap.Service) -> str:  # noqa: F811
    tid = str(svc.issue_transaction("pacs.008", "test", OWNER).id)
    svc.submit(UUID(tid), "pacs.008", messages.fresh("pacs008_two_txs.xml"), OWNER)
    drain(svc)
    follower.refresh(svc.payments, svc.adapters.view, tid)
    return tid


def snapshot_before_later_transactions(svc: bootstrap.Service, tid: str) -> ViewSnapshot:  # noqa: F811
    """A view snapshot taken before this change (same FORMAT, pacsflow-view-snapshot/1): the
    record at the stream's head version, as the previous follower wrote it (no
    `later_transactions`, so no index item derived from it)."""
    current = svc.adapters.view.get(tid)
    assert current is not None and current.later_transactions
    old = dataclasses.replace(current, later_transactions=())
    return ViewSnapshot(taken_at="20261129T000000000000Z", items={tid: old.to_item()})


def test_recovery_from_a_snapshot_older_than_later_transactions_is_not_the_fold(svc, aws):  # noqa: F811
    """recovery.py `recover` takes a snapshot record whose version is the stream's head "as
    stored", and derives index items only `if "later_transactions" in base`. Snapshots taken
    before this change (the same FORMAT, so accepted) hold multi-transaction records without
    `later_transactions`: the recovered view lacks them and their index items, although the
    module promises `fold(all events)` for every transaction "whatever the snapshot's age".
    Fix: bump FORMAT (or mark the record shape) and fold such records from their events."""
    tid = two_transaction_payment(svc)
    heads = stream_heads(aws, "events")
    report = recover(
        snapshot_before_later_transactions(svc, tid), heads.items(), lambda t, gt: svc.payments.events.get(t, gt=gt)
    )
    assert report.items == full_replay(heads.items(), lambda t, gt: svc.payments.events.get(t, gt=gt))


def test_recover_view_apply_from_an_older_snapshot_breaks_lookups_of_later_transactions(svc, aws, capsys):  # noqa: F811
    """`recover view --apply` after the migration (`rebuild --apply`, README) with the latest
    snapshot older than this change: the live record (later_transactions, version V) differs
    from the snapshot's (none, version V), and `put_unless_newer` overwrites equal versions, so
    the repair tool strips `later_transactions` from every multi-transaction record. The index
    item `<id>#2` stays but `_indexed` finds no transaction 2 on the record, so a lookup or a
    pacs.028 by the second transaction's UETR answers nothing until the next `rebuild --apply`
    (a released payment gets no further event to heal it)."""
    tid = two_transaction_payment(svc)
    second = svc.adapters.view.get(tid).later_transactions[0]
    assert [
        r["transaction_id"] for r in follower.find(svc.adapters.view, OWNER, {"uetr": second.uetr}).transactions
    ] == [tid]
    snapshot = snapshot_before_later_transactions(svc, tid)
    boto3.client("s3").put_object(Bucket=BUCKET, Key=object_key("snaps", snapshot.taken_at), Body=snapshot.to_bytes())
    env = {
        "PACSFLOW_EVENTS_TABLE": "events",
        "PACSFLOW_TRANSACTIONS_TABLE": "transactions",
        "PACSFLOW_CIPHER_SECRET_ARN": "",
    }
    with mock.patch.dict(os.environ, env):
        cli.main(["recover", "view", "--from", f"s3://{BUCKET}/snaps", "--apply"])
    capsys.readouterr()
    found = follower.find(svc.adapters.view, OWNER, {"uetr": second.uetr})
    assert [r["transaction_id"] for r in found.transactions] == [tid]


def test_a_message_rejected_for_too_many_transactions_costs_the_follower_no_more_than_the_cap():
    """decision.py: `max_transactions` "is the cap that keeps a step within the function's
    timeout", and a message over it is rejected whole before any claim or reservation. The view
    follower applies no cap: `later_transactions` is folded from every transaction of the
    message at Received, and `put_lookup_items` writes one PutItem per transaction, one after the
    other, in the follower's invocation (and again whenever it folds from the events). One 1 MiB
    pacs.008 of a couple of thousand transactions, which the pipeline rejects cheaply (NARR),
    makes the follower write thousands of items in one batch: past its timeout the whole
    stream batch is retried (other payments of the shard wait) and ends in the failures queue.
    The follower's work for a payment should be bounded by the cap (index at most
    `max_transactions` transactions, or none for a message rejected as too many; batch the
    writes)."""
    from bench.large_messages import many_transactions
    from tests.unit.fakes import MemoryClaims
    from tests.unit.test_large_messages import pay, service

    cap = 3
    p = service(MemoryClaims(), max_transactions=cap)
    tid = str(pay(p, many_transactions(40)))
    assert p.payments.get_payment(UUID(tid)).tx_sts.value == "RJCT"  # rejected whole: over the cap
    view, written = MemoryView(), []
    real = view.put_lookup_items
    view.put_lookup_items = lambda rec: written.extend(rec.lookup_items()) or real(rec)  # type: ignore[method-assign]
    follower.refresh(p.payments, view, tid)
    assert len(written) <= cap - 1


def test_an_idempotency_key_reused_for_another_redrive_is_not_silently_taken_as_a_retry(http):  # noqa: F811
    """api.py `action_id` cites draft-ietf-httpapi-idempotency-key-header, which says a key
    reused with a different request payload SHOULD be answered 422: it is not a retry. Here the
    key alone decides: an operator who reuses an incident key (README's example is
    `inc-4711-1`) for a second redrive of the same payment with another reason gets 202
    "redriven", the step is sent, and no `Redriven` records the second request's reason: the
    audit trail of who redrove a payment and why silently loses it. Fix: keep the request's
    fingerprint (the reason) with the redrive id and answer 422 when it differs."""
    tx, _ = http.pay()
    http.steps("incoming")
    key = {**JSON, "Idempotency-Key": "inc-4711-1"}
    path = f"/transactions/{tx}/redrive"
    assert http.call("POST", path, auth_as=admin(), headers=key, body='{"reason": "lost"}').status_code == 202
    r = http.call("POST", path, auth_as=admin(), headers=key, body='{"reason": "second incident: stuck again"}')
    whys = [e.why for e in redriven_events(http, tx)]
    assert r.status_code == 422 or whys == ["lost", "second incident: stuck again"], (r.status_code, whys)
