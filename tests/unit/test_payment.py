"""The payment aggregate: its statuses, its named errors, its replay."""

import pytest

from chalicelib.domain import IllegalTransition, MessageMismatch, Payment, PaymentError, TxSts
from chalicelib.domain.models import CreditTransfer, Reason, Transaction, TxOutcome, Verdict

CT = CreditTransfer(
    message_type="pacs.008.001.08",
    msg_id="M1",
    creation_date_time="2026-11-29T09:00:00Z",
    nb_of_txs="1",
    transactions=(Transaction(end_to_end_id="E1", amount="1.00", currency="EUR"),),
)


def new_payment() -> Payment:
    return Payment(message_type="pacs.008", region_id="eu-west-1", request_id="r-1", owner="client-a")


def received() -> Payment:
    p = new_payment()
    p.receive(sha256="a" * 64, message_key="inbound/a", credit_transfer=CT)
    return p


def test_happy_path_walks_the_iso_statuses():
    p = received()
    assert p.tx_sts is TxSts.ACTC
    p.accept(checks=[Verdict("x", True)])
    assert p.tx_sts is TxSts.ACSP
    p.release(report_key="outbound/b", report_sha256="b" * 64, report_msg_id="PF1")
    assert p.tx_sts is TxSts.ACSC and p.is_released
    assert [type(e).__name__ for e in p.collect_events()] == ["Initiated", "Received", "Accepted", "Released"]


def test_a_rejection_keeps_rjct_when_released():
    p = new_payment()
    p.reject([Reason("FF01", "schema")], step="incoming", sha256="c" * 64, message_key="inbound/c")
    p.release(report_key="outbound/d", report_sha256="d" * 64, report_msg_id="PF2")
    assert p.tx_sts is TxSts.RJCT and p.reason_code == "FF01" and p.rejected_at_step == "incoming"


@pytest.mark.parametrize(
    "command",
    [
        lambda p: p.accept(checks=[]),  # nothing received yet
        lambda p: p.release(report_key="k", report_sha256="s", report_msg_id="m"),  # not decided
    ],
)
def test_illegal_transitions_are_named_errors_and_record_nothing(command):
    p = new_payment()
    with pytest.raises(IllegalTransition):
        command(p)
    assert p.version == 1


def test_cannot_release_twice_or_reject_after_acceptance():
    p = received()
    p.accept(checks=[])
    with pytest.raises(IllegalTransition):
        p.reject([Reason("NARR", "late")], step="processing")
    p.release(report_key="k", report_sha256="s", report_msg_id="m")
    with pytest.raises(IllegalTransition):
        p.release(report_key="k", report_sha256="s", report_msg_id="m")


def test_a_retried_receipt_is_recognised_and_a_different_message_refused():
    p = received()
    assert p.has_received("a" * 64) is True
    with pytest.raises(MessageMismatch):
        p.has_received("f" * 64)
    assert new_payment().has_received("a" * 64) is False


def test_replaying_the_events_rebuilds_the_same_state():
    p = received()
    p.accept(checks=[])
    events = p.collect_events()
    copy = None
    for e in events:
        copy = e.mutate(copy)
    assert copy.tx_sts is TxSts.ACSP and copy.credit_transfer == CT and copy.version == 3


def test_a_rejection_needs_reason_codes_and_keeps_them_all():
    p = received()
    with pytest.raises(PaymentError):
        p.reject([], step="processing")
    with pytest.raises(PaymentError):
        p.reject([Reason("", "x")], step="processing")
    p.reject([Reason("AGNT", "a"), Reason("AC01", "b")], step="processing", checks=[Verdict("r", True)])
    assert (
        p.reason_code == "AGNT"
        and [r.code for r in p.reasons] == ["AGNT", "AC01"]
        and p.checks == (Verdict("r", True),)
    )


def test_a_timeout_rejects_the_accepted_transactions_and_keeps_the_reasons_of_the_rejected_ones():
    p = received()
    ch20 = Reason("CH20", "too many decimals")
    p.accept(checks=[], transactions=[TxOutcome("ACSP", (), reserved=True), TxOutcome("RJCT", (ch20,))])
    p.time_out("AB06", "SLA", deadline="2026-01-01T00:00:00+00:00")
    ab06 = Reason("AB06", "SLA")
    assert p.tx_sts is TxSts.RJCT and p.transactions == (TxOutcome("RJCT", (ab06,), True), TxOutcome("RJCT", (ch20,)))
