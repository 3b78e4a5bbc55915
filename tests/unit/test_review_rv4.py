"""Review rv4: claims, positions and limits keyed by BIC11; view snapshot format 2.

Each test fails on the code as reviewed and says what goes wrong, and why it matters.
"""

from __future__ import annotations

import dataclasses
import os
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from unittest import mock
from uuid import UUID

import boto3
import pytest
from lxml import etree

from chalicelib import bootstrap, cli
from chalicelib.adapters.dynamodb import TransactionView
from chalicelib.adapters.settings import Settings
from chalicelib.domain import Payment, TxSts
from chalicelib.domain.position import Position, position_id
from chalicelib.eventstore.backup import stream_heads
from chalicelib.pipeline.liquidity import parse_limits
from chalicelib.pipeline.messages import StepMessage
from chalicelib.pipeline.payments import Payments
from chalicelib.projections import follower
from chalicelib.projections.recovery import FORMAT, ViewSnapshot, full_replay, object_key, recover
from tests.messages import EVENTS, fresh, redated
from tests.unit.fakes import drain, memory_adapters, memory_service
from tests.unit.test_recovery import BUCKET, aws, events_env, multi_transaction_payment, svc  # noqa: F401  (fixtures)
from tests.unit.test_recovery import OWNER as VIEW_OWNER

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}
OWNER = "client-a"


def pay(p: bootstrap.Service, body: bytes) -> UUID:
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", body, OWNER)
    drain(p)
    return tx


def outcome(p: bootstrap.Service, tx: UUID) -> tuple[str | None, list[str]]:
    doc = etree.fromstring(p.status_report(tx, OWNER))
    status = doc.findtext(".//p:TxInfAndSts/p:TxSts", namespaces=NS) or doc.findtext(".//p:GrpSts", namespaces=NS)
    return status, doc.xpath(".//p:StsRsnInf/p:Rsn/p:Cd/text()", namespaces=NS)


def bic8_without_uetr() -> bytes:
    """pacs008_bare.xml with fresh ids, its InstgAgt spelt DEUTDEFF and no UETR (optional in
    ISO 20022 and on every stage that does not set uetr_required)."""
    body = re.sub(rb"(<InstgAgt>\s*<FinInstnId>\s*<BICFI>)DEUTDEFFXXX", rb"\1DEUTDEFF", fresh("pacs008_bare.xml"))
    body = re.sub(rb"\s*<UETR>[^<]*</UETR>", b"", body)
    assert b"<BICFI>DEUTDEFF</BICFI>" in body and b"UETR" not in body
    return body


def test_a_bic8_message_received_before_the_bic11_keying_and_sent_again_after_it_settles_twice() -> None:
    """Claims were keyed "DEUTDEFF|<MsgId>" and "DEUTDEFF|<EndToEndId>" for a message spelling
    its instructing agent DEUTDEFF; they are now keyed "DEUTDEFFXXX|...". So for the whole
    duplicate window after the deploy (30 days by default), the very same message resent by
    the same bank, spelt the same way, passes the MsgId and EndToEndId checks: without a UETR
    (optional unless uetr_required) nothing else catches it, and the bank's customer is
    paid twice. The module docstring accepts this ("a second claim under the old key would cost
    a write on every BIC8 message for ever"), but the cost is bounded: the old key needs
    checking only for BIC8-spelt messages and only until the deploy time plus the window
    (e.g. a setting naming when the keying changed), after which it can be dropped."""
    p = memory_service()
    body = bic8_without_uetr()
    with mock.patch("chalicelib.pipeline.duplicates.agent_key", lambda agent, scheme: agent or ""):
        assert outcome(p, pay(p, body)) == ("ACSC", [])  # received before the change
    assert outcome(p, pay(p, body)) == ("RJCT", ["DUPL"])  # the same message again, after it


def test_a_limit_given_twice_under_the_same_key_is_refused_not_the_last_one_taken() -> None:
    """`parse_limits` now refuses one agent and currency limited under two keys, because
    "which one binds would be a guess". The same key written twice is that same conflict, but
    json.loads keeps the last value silently: an operator who appends a lower limit for a bank
    above an older, higher one (or the reverse) gets whichever came last, with no error, where
    the two-spelling case stops the deploy. (object_pairs_hook sees every pair.)"""
    with pytest.raises(ValueError):
        parse_limits('{"DEUTDEFFXXX:EUR": "1000000", "DEUTDEFFXXX:EUR": "1000000000"}')


def test_a_limit_that_can_bind_no_message_is_refused() -> None:
    """A currency is three upper-case letters in every message (the XSD's
    ActiveOrHistoricCurrencyCode), and `limit_for` looks the key up as written. So a limit
    "DEUTDEFF:eur" is accepted, normalised to "DEUTDEFFXXX:eur" and never applies: the bank's
    EUR payments fall through to its all-currency or "*" limit, or to none (unlimited), with no
    error. Settings refuse such BICs in tenant_agents ("would match no message and fail closed
    unnoticed"); a limit fails open, which is worse. parse_limits should refuse a currency
    part that is not [A-Z]{3}, and a BIC-shaped agent that is not upper case."""
    for text in ('{"DEUTDEFF:eur": "10"}', '{"deutdeff": "10"}', '{" DEUTDEFF": "10"}'):
        with pytest.raises(ValueError):
            parse_limits(text)


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


UNLIMITED = '{"*": "1000000000"}'
AMOUNT = Decimal("1234.56")  # pacs008_bare.xml's


def bic8(body: bytes) -> bytes:
    spelt = re.sub(rb"(<InstgAgt>\s*<FinInstnId>\s*<BICFI>)DEUTDEFFXXX", rb"\1DEUTDEFF", body)
    assert spelt != body
    return spelt


def used_on(p: bootstrap.Service, agent: str) -> Decimal:
    return p.liquidity.positions.repository.get(position_id(agent, "EUR")).used


def test_a_decision_retried_across_the_bic11_keying_leaves_its_bic8_reservation_held_for_ever() -> None:
    """A processing delivery before the deploy reserves 1234.56 on "DEUTDEFF" and dies before
    its save (a Lambda timeout). Redelivered after the deploy, the decision reserves again, now
    on "DEUTDEFFXXX" (a new Reservation: another key), and the payment records it. From then
    on every free (`_reserved_on`) finds the BIC11 Reservation and gives back only that one;
    `free_unrecorded` skips the transaction (recorded as reserved). The BIC8 reservation is
    held for ever: the position "DEUTDEFF" stays over-reserved by the payment's amount after
    the payment is cancelled (here), returned or timed out. Before the change the redelivery
    found its own Reservation held and reserved nothing twice. It costs the bank no room on
    its live BIC11 position (nothing reserves on "DEUTDEFF" any more), but the positions table
    no longer adds up (a reconciliation or a roll-back of the deploy sees money held for a
    cancelled payment). Fix: when `spelt` differs from the key, `free` (and `free_unrecorded`)
    should give back a held Reservation under the spelling too, not only when none is under
    the key."""
    p = memory_service(limits=UNLIMITED, step_handoff="queue")
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", bic8(redated((EVENTS / "pacs008_bare.xml").read_bytes())), OWNER)
    _, _, body = p.adapters.incoming.sent.pop(0)
    p.incoming(StepMessage(tx, body))
    _, _, body = p.adapters.processing.sent.pop(0)
    before = mock.patch("chalicelib.pipeline.decision.agent_key", lambda agent, scheme: agent or "")
    dies = mock.patch.object(Payment, "accept", side_effect=RuntimeError("the delivery died before its save"))
    with before, dies, pytest.raises(RuntimeError):
        p.processing(StepMessage(tx, body))
    assert used_on(p, "DEUTDEFF") == AMOUNT
    p.processing(StepMessage(tx, body))  # redelivered after the deploy
    assert p.payments.get_payment(tx).tx_sts is TxSts.ACSP
    p.submit(tx, "camt.056", redated((EVENTS / "camt056_cancel.xml").read_bytes()), OWNER)
    drain(p)
    assert p.payments.get_payment(tx).tx_sts is TxSts.CANC
    assert used_on(p, "DEUTDEFFXXX") == 0
    assert used_on(p, "DEUTDEFF") == 0  # fails: 1234.56 held for a cancelled payment


def test_two_frees_at_once_of_a_reservation_recorded_before_reservations_were_kept_do_not_fail() -> None:
    """A payment recorded as reserved before each transaction's Reservation was kept (the
    `reserved` path of `free`), spelt DEUTDEFF: its amount is on the position "DEUTDEFF" with no
    Reservation. `free` gives it back there but records the freed Reservation under the BIC11
    key (`give_back` builds it with `agent`, the key, not the position it frees). A second free
    racing it (a cancellation and the release, a timeout and a return) loses the position's
    version, reads again — the Reservation under "DEUTDEFF", still none — and builds the same
    BIC11 Reservation again: every attempt conflicts with the one saved, until `attempts` is
    spent and it raises PaymentError "stayed contended". Nothing is freed twice (the commit is
    atomic), but the request or step fails, spinning `attempts` times with sleeps, and is
    retried. `holds` and `free` disagree about where that Reservation is: `holds(tx,
    "DEUTDEFF")` is False while the amount was held on "DEUTDEFF". Fix: build the Reservation
    with the key of the position it frees (`on`), or read it in `_retrying` under the key it
    is saved under."""
    p = memory_service(limits=UNLIMITED)
    liquidity = p.liquidity
    liquidity.attempts = 5
    tid = "00000000-0000-4000-8000-000000000001"
    legacy = Position(agent="DEUTDEFF", currency="EUR", limit=Decimal(10**9))
    legacy.reserve(transaction_id=tid, amount=AMOUNT, at=datetime.now(UTC), window_s=60, max_in_window=0)
    liquidity.positions.save(legacy)  # as reserved before Reservations were kept: none
    save = liquidity.positions.save
    raced: list[bool] = []

    def racing(*aggregates: Any) -> Any:
        if not raced:  # the other free runs to its end between this one's read and its save
            raced.append(True)
            liquidity.free(tid, "DEUTDEFFXXX", {"EUR": AMOUNT}, reserved=True, spelt="DEUTDEFF")
        return save(*aggregates)

    with mock.patch.object(liquidity.positions, "save", racing):
        liquidity.free(tid, "DEUTDEFFXXX", {"EUR": AMOUNT}, reserved=True, spelt="DEUTDEFF")
    assert used_on(p, "DEUTDEFF") == 0


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


def test_a_bank_limited_by_its_bic8_is_not_limited_when_it_sends_as_one_of_its_branches() -> None:
    """A tenant allowed "DEUTDEFF" may act for DEUTDEFF and every branch of it (`acts_for`:
    "an 8-character entry is a business party ... covers it and every branch"), and the XSD
    accepts any three-character branch code. A limit configured as "DEUTDEFF" is read as
    DEUTDEFFXXX's only (`parse_limits`), and each branch spelling is a position of its own,
    bound by "*" or by nothing. So the bank whose exposure the operator capped at 2,000 EUR
    (one 1,234.56 payment; the second is AM04 as DEUTDEFFXXX) sends the second as DEUTDEFF500
    and it settles, and so on for every branch code: the limit caps nothing. The module
    docstring chooses "a bank-level limit does not bind its branches", but the same BIC8 means
    the whole bank to the agent rule that lets the tenant send for those branches. Fix: a limit
    keyed by a BIC8 binds one position for the bank and all its branches (key a branch's
    reservations by the BIC8 when a BIC8 limit applies), or refuse settings in which a tenant
    may act for branches that no limit binds while their bank is limited."""
    p = memory_service(limits='{"DEUTDEFF:EUR": "2000"}', tenant_agents={OWNER: ["DEUTDEFF"]})
    assert outcome(p, pay(p, fresh("pacs008_bare.xml"))) == ("ACSC", [])  # 1,234.56 of 2,000
    assert outcome(p, pay(p, fresh("pacs008_bare.xml"))) == ("RJCT", ["AM04"])
    branch = re.sub(rb"(<InstgAgt>\s*<FinInstnId>\s*<BICFI>)DEUTDEFFXXX", rb"\1DEUTDEFF500", fresh("pacs008_bare.xml"))
    assert b"DEUTDEFF500" in branch
    assert outcome(p, pay(p, branch)) == ("RJCT", ["AM04"])  # fails: ACSC, over the bank's limit
