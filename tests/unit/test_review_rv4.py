"""Review rv4: claims, positions and limits keyed by BIC11; view snapshot format 2.

Each test fails on the code as reviewed and says what goes wrong, and why it matters.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any
from unittest import mock

import boto3
import pytest

from chalicelib import bootstrap, cli
from chalicelib.adapters.dynamodb import TransactionView
from chalicelib.adapters.settings import Settings
from chalicelib.eventstore.backup import stream_heads
from chalicelib.pipeline.messages import StepMessage
from chalicelib.pipeline.payments import Payments
from chalicelib.projections import follower
from chalicelib.projections.recovery import FORMAT, ViewSnapshot, full_replay, object_key, recover
from tests.messages import fresh
from tests.unit.fakes import drain, memory_adapters
from tests.unit.test_recovery import BUCKET, aws, events_env, multi_transaction_payment, svc  # noqa: F401  (fixtures)
from tests.unit.test_recovery import OWNER as VIEW_OWNER


def test_a_format_2_snapshot_of_a_view_not_yet_migrated_recovers_a_view_without_later_transactions(
    svc: bootstrap.Service,  # noqa: F811
    aws: object,  # noqa: F811
) -> None:
    """Format 2 is meant to say "the records are folds, take them as stored". But `ViewSnapshot.of`
    labels whatever the live view holds FORMAT 2, and a view not yet migrated by
    `rebuild --apply` holds multi-transaction records without `later_transactions` (the
    `--apply` guard's own comment names this case). Recovered from such a snapshot, the record
    at its stream's head is taken as stored: the recovered view has no `<id>#2` index item and
    no transaction 2 on the record, so after a table loss (snapshot taken, then the migration,
    then the loss) `recover view --apply` restores a view in which a lookup or a pacs.028 by
    the second transaction finds nothing, and a released payment gets no event to heal it.
    `recover` promises the fold of all events whatever the snapshot. Fix: `of` (or `recover`)
    must not trust a record whose message has more transactions than it lists (e.g. refold
    records with no `later_transactions` whose status says several transactions), or
    `snapshot-view` should refuse until the view is migrated."""
    tid = multi_transaction_payment(svc)
    live = svc.adapters.view.get(tid)
    assert live is not None and live.later_transactions
    svc.adapters.view.put_unconditionally(dataclasses.replace(live, later_transactions=()))  # not migrated
    snapshot = ViewSnapshot.from_bytes(ViewSnapshot.of(svc.adapters.view.scan_items()).to_bytes())
    assert snapshot.format == FORMAT and snapshot.records_are_folds

    heads = stream_heads(aws, "events")
    report = recover(snapshot, heads.items(), lambda t, gt: svc.payments.events.get(t, gt=gt))

    folded = full_replay(heads.items(), lambda t, gt: svc.payments.events.get(t, gt=gt))
    assert f"{tid}#2" in folded
    assert report.items == folded


def test_recover_view_apply_strips_a_migrated_record_through_a_snapshot_records_newer_events(
    aws: Any,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The `--apply` guard refolds only records taken as stored (`as_stored`). A record of the
    snapshot whose stream has newer events is folded onto, tail only, and that fold keeps what
    the snapshot's record lacks: taken of a view not yet migrated (a multi-transaction payment
    received, its record written by a follower of before `later_transactions`), the snapshot's
    record has none, and neither has the fold onto it. After `rebuild --apply` migrated the live
    view, the payment settles; the live record (head version, later transactions, index item
    `<id>#2`) and the recovered one (head version, none) are the same version, so
    `put_unless_newer` overwrites the live record with the stripped one: a lookup or a pacs.028
    by the second transaction's UETR then answers nothing (the index item names a transaction
    2 the record no longer has), and a released payment gets no further event to heal it. Fix:
    a record the snapshot cannot vouch for is refolded from all its events, whether or not its
    stream moved on (or `--apply` writes over an equal version only the full fold, whatever
    the path that produced the recovered record)."""
    s = bootstrap.build(
        Settings(events_table="events", transactions_table="transactions", step_handoff="queue"),
        **{**memory_adapters(), "payments": Payments(env=events_env()), "view": TransactionView("transactions", aws)},
    )
    tid = s.issue_transaction("pacs.008", "test", VIEW_OWNER).id
    s.submit(tid, "pacs.008", fresh("pacs008_two_txs.xml"), VIEW_OWNER)
    _, _, body = s.adapters.incoming.sent.pop(0)
    s.incoming(StepMessage(tid, body))  # Received: the record has its later transactions
    follower.refresh(s.payments, s.adapters.view, str(tid))
    received = s.adapters.view.get(str(tid))
    assert received is not None and received.later_transactions
    s.adapters.view.put_unconditionally(dataclasses.replace(received, later_transactions=()))  # as followed before
    snapshot = ViewSnapshot.of(s.adapters.view.scan_items())
    boto3.client("s3").put_object(Bucket=BUCKET, Key=object_key("snaps", snapshot.taken_at), Body=snapshot.to_bytes())
    drain(s)
    follower.refresh(s.payments, s.adapters.view, str(tid))  # the migration (rebuild --apply), then settled
    live = s.adapters.view.get(str(tid))
    assert live is not None and live.later_transactions and live.version > received.version
    second = live.later_transactions[0].uetr
    assert [r["transaction_id"] for r in follower.find(s.adapters.view, VIEW_OWNER, {"uetr": second}).transactions] == [
        str(tid)
    ]
    env = {"PACSFLOW_EVENTS_TABLE": "events", "PACSFLOW_TRANSACTIONS_TABLE": "transactions"}
    with mock.patch.dict(os.environ, {**env, "PACSFLOW_CIPHER_SECRET_ARN": ""}):
        cli.main(["recover", "view", "--from", f"s3://{BUCKET}/snaps", "--apply"])
    capsys.readouterr()
    assert s.adapters.view.get(str(tid)) == live
    found = follower.find(s.adapters.view, VIEW_OWNER, {"uetr": second})
    assert [r["transaction_id"] for r in found.transactions] == [str(tid)]
