"""The transaction view's fold against the Payment aggregate: same status on every path.

Each path is built with the aggregate's own command methods (domain only), and after every
event the folded record is compared with the aggregate replayed from the same events.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
from eventsourcing.domain import Aggregate

from chalicelib.domain.models import CreditTransfer, Original, Reason, Transaction, TxOutcome, Verdict
from chalicelib.domain.payment import Payment
from chalicelib.projections.errors import HistoryGap, UnknownEvent
from chalicelib.projections.records import TransactionRecord
from chalicelib.projections.transactions import apply, fold, handled_event_classes

FIRST = Transaction(
    instr_id="INSTR-1",
    end_to_end_id="E2E-1",
    tx_id="TX-1",
    uetr="3632599e-243b-42b5-96c5-174c13d1cf7a",
    amount="1234.56",
    currency="EUR",
    interbank_settlement_date="2026-11-30",
    instructing_agent="DEUTDEFFXXX",
    instructing_agent_scheme="BICFI",
    instructed_agent="BNPAFRPPXXX",
    instructed_agent_scheme="BICFI",
)
SECOND = Transaction(instr_id="INSTR-2", end_to_end_id="E2E-2", tx_id="TX-2", uetr="u-2", amount="99.5", currency="EUR")


def credit_transfer(*transactions: Transaction) -> CreditTransfer:
    # the group header has no agents and no settlement date: they are the transactions'
    return CreditTransfer(
        message_type="pacs.008.001.08",
        msg_id="MSG-1",
        creation_date_time="2026-11-30T09:00:00+00:00",
        nb_of_txs=str(len(transactions)),
        transactions=transactions,
    )


def issued() -> Payment:
    return Payment(message_type="pacs.008", region_id="eu-west-1", request_id="req-1", owner="client-a")


def received(*transactions: Transaction) -> Payment:
    p = issued()
    p.receive(sha256="a" * 64, message_key="inbound/a", credit_transfer=credit_transfer(*(transactions or (FIRST,))))
    return p


def accepted(*outcomes: str) -> Payment:
    outcomes = outcomes or ("ACSP",)
    p = received(*(FIRST, SECOND)[: len(outcomes)])
    p.accept(
        checks=[Verdict(rule="amount", passed=True)],
        transactions=[
            TxOutcome(status=s, reasons=() if s == "ACSP" else (Reason("AM03", "currency"),), reserved=s == "ACSP")
            for s in outcomes
        ],
    )
    return p


def release(p: Payment) -> Payment:
    p.release(report_key="outbound/r", report_sha256="r" * 64, report_msg_id="PF-REPORT-1")
    return p


def submitted_taken_over_redriven() -> Payment:
    """Submitted at /inbox in eu-west-1, taken over by eu-central-1 and redriven there."""
    p = issued()
    p.submit(sha256="a" * 64, message_key="inbound/a")
    p.take_over(by="eu-central-1", from_region="eu-west-1", reason="3 failed probes")
    p.redrive(redrive_id="r1", who="ops", why="test", from_step="incoming")
    return p


def settled() -> Payment:
    return release(accepted())


def rejected_at_intake() -> Payment:
    p = issued()
    p.reject(
        reasons=[Reason("FF01", "not schema-valid")],
        step="incoming",
        sha256="c" * 64,
        message_key="inbound/c",
        original=Original(msg_id="MSG-BAD", message_type="pacs.008.001.08"),
    )
    return release(p)


def rejected_at_processing() -> Payment:
    p = received()
    p.reject(
        reasons=[Reason("AM03", "XAU is not a settlement currency"), Reason("DT01", "date")],
        step="processing",
        checks=[Verdict(rule="currency", passed=False, reason_code="AM03", narrative="XAU")],
        transactions=[TxOutcome(status="RJCT", reasons=(Reason("AM03", "XAU"),))],
    )
    return release(p)


def cancelled_before_release() -> Payment:
    p = accepted()
    p.cancel(case_id="CASE-1", reason_code="DUPL", answer_key="outbound/camt029-1")
    return release(p)


def returned_after_release() -> Payment:
    p = settled()
    p.record_return(
        case_id="CASE-2", reason_code="FRAD", answer_key="outbound/camt029-2", return_key="outbound/pacs004"
    )
    return p


def cancellation_refused() -> Payment:
    p = settled()
    p.refuse_cancellation(case_id="CASE-3", reason_code="CUST", rejection_code="CUST", answer_key="outbound/camt029-3")
    return p


def returned_then_refused_again() -> Payment:
    p = returned_after_release()
    p.refuse_cancellation(case_id="CASE-4", reason_code="DUPL", rejection_code="ARDT", answer_key="outbound/camt029-4")
    return p


def second_message_refused() -> Payment:
    p = settled()
    p.refuse_submission(sha256="f" * 64, reason="TRANSACTION_ALREADY_RECEIVED")
    return p


def multi_partly_rejected() -> Payment:
    return release(accepted("ACSP", "RJCT"))


def multi_cancelled() -> Payment:
    p = accepted("ACSP", "RJCT")
    p.cancel(case_id="CASE-5", reason_code="DUPL", answer_key="outbound/camt029-5")
    return release(p)


def timed_out_unused() -> Payment:
    p = issued()
    p.time_out("AB06", "not released within its SLA (30 s)", deadline="2026-11-30T10:00:30+00:00")
    return release(p)


def multi_timed_out_after_acceptance() -> Payment:
    p = accepted("ACSP", "RJCT")
    p.time_out("AB06", "not released within its SLA (30 s)", deadline="2026-11-30T10:00:30+00:00")
    return release(p)


PATHS: dict[str, Callable[[], Payment]] = {
    "issued": issued,
    "settled": settled,
    "rejected_at_intake": rejected_at_intake,
    "rejected_at_processing": rejected_at_processing,
    "cancelled_before_release": cancelled_before_release,
    "returned_after_release": returned_after_release,
    "cancellation_refused": cancellation_refused,
    "returned_then_refused_again": returned_then_refused_again,
    "second_message_refused": second_message_refused,
    "multi_partly_rejected": multi_partly_rejected,
    "multi_cancelled": multi_cancelled,
    "timed_out_unused": timed_out_unused,
    "multi_timed_out_after_acceptance": multi_timed_out_after_acceptance,
    "submitted_taken_over_redriven": lambda: submitted_taken_over_redriven(),
}

EXPECTED_STATUS = {
    "issued": "ACCP",
    "settled": "ACSC",
    "rejected_at_intake": "RJCT",
    "rejected_at_processing": "RJCT",
    "cancelled_before_release": "CANC",
    "returned_after_release": "ACSC",
    "cancellation_refused": "ACSC",
    "returned_then_refused_again": "ACSC",
    "second_message_refused": "ACSC",
    "multi_partly_rejected": "ACSC",
    "multi_cancelled": "CANC",
    "timed_out_unused": "RJCT",
    "multi_timed_out_after_acceptance": "RJCT",
    "submitted_taken_over_redriven": "ACCP",
}


def replay(events: list[Any]) -> Payment:
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)
    assert isinstance(aggregate, Payment)
    return aggregate


def assert_agrees(record: TransactionRecord, payment: Payment) -> None:
    """What the view must say of a payment, read from the aggregate."""
    assert record.transaction_id == str(payment.id) and record.owner == payment.owner
    assert record.version == payment.version
    assert record.status == payment.tx_sts.value
    assert record.returned is payment.is_returned
    assert {a.case_id: a.resolution for a in record.cancellations} == {
        case: c.resolution for case, c in payment.cancellations.items()
    }
    assert [s.sha256 for s in record.refused_submissions] == payment.refused_submissions
    assert record.report_msg_id == payment.report_msg_id
    assert record.reason_codes == tuple(r.code for r in payment.reasons)
    if payment.is_timed_out:  # every transaction rejected with the timeout, as the report says
        assert (
            record.tx_statuses == tuple(o.status for o in payment.transactions) == ("RJCT",) * len(record.tx_statuses)
        )
        assert (record.reason_code, record.rejected_at_step) == ("AB06", "timeout")
    ct = payment.credit_transfer
    if ct is not None:
        first = ct.transactions[0]
        assert (record.msg_id, record.nb_of_txs) == (ct.msg_id, ct.nb_of_txs)
        assert (record.end_to_end_id, record.tx_id, record.instr_id, record.uetr) == (
            first.end_to_end_id,
            first.tx_id,
            first.instr_id,
            first.uetr,
        )
        assert (record.amount, record.currency, record.interbank_settlement_date) == (
            first.amount,
            first.currency,
            first.interbank_settlement_date,
        )
        assert (record.instructing_agent, record.instructed_agent) == (first.instructing_agent, first.instructed_agent)


@pytest.mark.parametrize("path", PATHS)
def test_after_every_event_the_view_agrees_with_the_aggregate(path):
    events = PATHS[path]().collect_events()
    for n in range(1, len(events) + 1):
        record = fold(events[:n])
        assert record is not None
        assert_agrees(record, replay(events[:n]))
    assert record.status == EXPECTED_STATUS[path]


def test_a_settled_payment_shows_the_first_transaction_of_its_message():
    record = fold(settled().collect_events())
    assert record.to_dict() == {
        "transaction_id": record.transaction_id,
        "owner": "client-a",
        "status": "ACSC",
        "message_type": "pacs.008",
        "region_id": "eu-west-1",
        "home_region": "eu-west-1",
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "version": 4,
        "message_sha256": "a" * 64,
        "msg_id": "MSG-1",
        "end_to_end_id": "E2E-1",
        "tx_id": "TX-1",
        "instr_id": "INSTR-1",
        "uetr": "3632599e-243b-42b5-96c5-174c13d1cf7a",
        "amount": "1234.56",
        "currency": "EUR",
        "interbank_settlement_date": "2026-11-30",
        "instructing_agent": "DEUTDEFFXXX",  # the transaction's: the group header has none
        "instructed_agent": "BNPAFRPPXXX",
        "nb_of_txs": "1",
        "released_at": record.released_at,
        "report_msg_id": "PF-REPORT-1",
        "returned": False,
    }


def test_a_payment_cancelled_after_acceptance_is_canc_not_acsc():
    record = fold(cancelled_before_release().collect_events())
    assert record.status == "CANC" and record.cancellation_status == "CNCL" and record.released_at
    assert [(a.case_id, a.resolution, a.reason_code) for a in record.cancellations] == [("CASE-1", "CNCL", "DUPL")]


def test_a_return_is_shown():
    record = fold(returned_after_release().collect_events())
    assert (record.status, record.returned, record.return_reason) == ("ACSC", True, "FRAD")
    assert record.returned_at and record.cancellation_status == "CNCL"


def test_a_refused_cancellation_is_shown_with_its_rejection_code():
    record = fold(cancellation_refused().collect_events())
    assert record.status == "ACSC" and record.cancellation_status == "RJCR" and not record.returned
    assert [(a.resolution, a.rejection_code) for a in record.cancellations] == [("RJCR", "CUST")]


def test_a_request_refused_after_a_granted_one_keeps_the_summary_cncl():
    record = fold(returned_then_refused_again().collect_events())
    assert record.cancellation_status == "CNCL"
    assert [(a.case_id, a.resolution) for a in record.cancellations] == [("CASE-2", "CNCL"), ("CASE-4", "RJCR")]


def test_a_refused_second_message_is_shown():
    record = fold(second_message_refused().collect_events())
    assert record.status == "ACSC"
    assert [(s.sha256, s.reason) for s in record.refused_submissions] == [("f" * 64, "TRANSACTION_ALREADY_RECEIVED")]


def test_rejections_show_every_reason_and_what_could_be_read_of_a_refused_message():
    intake = fold(rejected_at_intake().collect_events())
    assert (intake.reason_code, intake.reason_codes, intake.rejected_at_step) == ("FF01", ("FF01",), "incoming")
    assert (intake.msg_id, intake.message_sha256, intake.end_to_end_id) == ("MSG-BAD", "c" * 64, None)
    processing = fold(rejected_at_processing().collect_events())
    assert (processing.reason_code, processing.reason_codes) == ("AM03", ("AM03", "DT01"))
    assert processing.narrative == "XAU is not a settlement currency" and processing.end_to_end_id == "E2E-1"


def test_a_multi_transaction_payment_shows_each_transaction_and_the_group():
    part = fold(multi_partly_rejected().collect_events())
    assert (part.status, part.group_status, part.tx_statuses) == ("ACSC", "PART", ("ACSC", "RJCT"))
    assert (part.nb_of_txs, part.end_to_end_id) == ("2", "E2E-1")
    cancelled = fold(multi_cancelled().collect_events())
    assert (cancelled.status, cancelled.group_status, cancelled.tx_statuses) == ("CANC", "CANC", ("CANC", "CANC"))


def test_the_group_headers_agents_and_date_stand_in_for_a_transaction_without_them():
    p = issued()
    ct = CreditTransfer(
        message_type="pacs.008.001.08",
        msg_id="M",
        creation_date_time="2026-11-30T09:00:00Z",
        nb_of_txs="1",
        interbank_settlement_date="2026-12-01",
        instructing_agent="GRPINSTG",
        instructed_agent="GRPINSTD",
        transactions=(Transaction(end_to_end_id="E"),),
    )
    p.receive(sha256="a" * 64, message_key="inbound/a", credit_transfer=ct)
    record = fold(p.collect_events())
    assert (record.instructing_agent, record.instructed_agent, record.interbank_settlement_date) == (
        "GRPINSTG",
        "GRPINSTD",
        "2026-12-01",
    )


# -- every event class, and only those ------------------------------------------------------


def recorded_event_classes() -> set[type]:
    """Every event class a Payment can record: its Payment.Event subclasses, less the
    creation classes it does not use (eventsourcing's default Created; it records Initiated)."""
    creation = type(issued().collect_events()[0])
    classes = {
        c
        for _, c in inspect.getmembers(Payment, inspect.isclass)
        if issubclass(c, Payment.Event) and c is not Payment.Event
    }
    return {c for c in classes if not issubclass(c, Aggregate.Created) or c is creation}


def test_the_fold_has_a_rule_for_every_event_class_of_the_payment():
    assert recorded_event_classes() - handled_event_classes() == set()


def test_the_paths_fold_every_event_class_of_the_payment():
    folded = {type(e) for build in PATHS.values() for e in build().collect_events()}
    assert folded == recorded_event_classes()  # a new event class needs a path here too


def test_an_event_class_the_fold_does_not_know_fails_loudly():
    class Audited(Payment.Event):
        pass

    events = settled().collect_events()
    stranger = Audited(originator_id=events[0].originator_id, originator_version=5, timestamp=events[-1].timestamp)
    with pytest.raises(UnknownEvent, match="Audited"):
        fold([*events, stranger])
    with pytest.raises(UnknownEvent):  # even as a replay of a version the record already has
        apply(
            fold(events),
            Audited(originator_id=events[0].originator_id, originator_version=2, timestamp=events[-1].timestamp),
        )


def test_events_that_do_not_continue_the_record_are_refused():
    events = settled().collect_events()
    with pytest.raises(HistoryGap):
        fold(events[1:])  # no creation event
    with pytest.raises(HistoryGap):
        fold([events[0], events[2]])  # version 3 after 1
    assert fold(events[:2]) == fold([*events[:2], events[1], events[0]])  # replays change nothing
