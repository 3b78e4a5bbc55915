"""Cancellation (camt.056 and POST /transactions/{id}/cancel) and return (pacs.004)."""

from __future__ import annotations

import re
from decimal import Decimal
from unittest import mock
from uuid import UUID

import pytest
from lxml import etree

from chalicelib.api import status_of
from chalicelib.domain import Payment, TxSts
from chalicelib.domain.position import position_id
from chalicelib.iso20022 import validate_camt029, validate_pacs002, validate_pacs004
from chalicelib.pipeline.cancel import MEND_RETURN_DELAY_S, Cancel
from chalicelib.pipeline.errors import ApplicationError
from chalicelib.pipeline.messages import StepMessage
from tests.messages import EVENTS, redated, unique_ids
from tests.unit.fakes import drain, memory_service

OWNER = "client-a"
UNLIMITED = '{"*": "1000000000"}'  # a position for every agent, large enough
CAMT029 = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.029.001.09"}
PACS002 = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}


def accepted_not_released(p, body: bytes | None = None):
    """A payment the processing step accepted; its release is still queued (the service's
    steps hand over by queue, so that a payment can be held at a step)."""
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", body or redated((EVENTS / "pacs008_bare.xml").read_bytes()), OWNER)
    _, _, body = p.adapters.incoming.sent.pop(0)
    p.incoming(StepMessage(tx, body))
    _, _, body = p.adapters.processing.sent.pop(0)
    p.processing(StepMessage(tx, body))
    assert p.payments.get_payment(tx).tx_sts is TxSts.ACSP
    return tx


def resolution(answer: bytes) -> tuple[str, list[str]]:
    doc = etree.fromstring(answer)
    return doc.findtext(".//c:Sts/c:Conf", namespaces=CAMT029), doc.xpath(
        ".//c:CxlStsRsnInf/c:Rsn/c:Cd/text()", namespaces=CAMT029
    )


def used(p) -> Decimal:
    return p.liquidity.positions.repository.get(position_id("DEUTDEFFXXX", "EUR")).used


def test_a_camt056_before_release_cancels_frees_liquidity_and_releases_a_canc_report():
    p = memory_service(limits=UNLIMITED, step_handoff="queue")
    tx = accepted_not_released(p)
    assert used(p) == Decimal("1234.56")
    camt056 = redated((EVENTS / "camt056_cancel.xml").read_bytes())
    p.submit(tx, "camt.056", camt056, OWNER)
    answer = p.status_report(tx, OWNER, "camt.029")
    assert resolution(answer) == ("CNCL", [])
    drain(p)  # the queued release, and the one the cancellation sent
    payment = p.payments.get_payment(tx)
    assert payment.tx_sts is TxSts.CANC and payment.is_released and used(p) == 0
    report = etree.fromstring(p.status_report(tx, OWNER))
    assert report.findtext(".//p:TxInfAndSts/p:TxSts", namespaces=PACS002) == "CANC"
    assert [n[1] for n in p.adapters.notifier.published] == ["CANC"]


def settled(p):
    tx = accepted_not_released(p)
    drain(p)
    assert p.payments.get_payment(tx).tx_sts is TxSts.ACSC
    return tx


def test_after_release_a_duplicate_is_returned_with_a_pacs004():
    p = memory_service(limits=UNLIMITED, step_handoff="queue")
    tx = settled(p)
    assert p.cancel(tx, OWNER, "DUPL").resolution == "CNCL"
    assert resolution(p.status_report(tx, OWNER, "camt.029")) == ("CNCL", [])
    pacs004 = p.status_report(tx, OWNER, "pacs.004")
    validate_pacs004(pacs004)
    assert b"<Cd>FOCR</Cd>" in pacs004 and used(p) == 0


@pytest.mark.parametrize("amount", [b"+1234.56", b"01234.56", b"1234.560000", b"0" * 36 + b"1234.56"])
def test_a_schema_valid_amount_in_any_form_settles_its_value_and_is_returned(amount):
    """The XSD bounds an amount's value, not its text: the payment reserves and settles
    1234.56, and its return (written canonical) gives back as much."""
    p = memory_service(limits=UNLIMITED)
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    body = redated((EVENTS / "pacs008_bare.xml").read_bytes()).replace(b">1234.56<", b">" + amount + b"<")
    p.submit(tx, "pacs.008", body, OWNER)
    drain(p)
    assert p.payments.get_payment(tx).tx_sts is TxSts.ACSC and used(p) == Decimal("1234.56")
    assert p.cancel(tx, OWNER, "DUPL").resolution == "CNCL"
    pacs004 = p.status_report(tx, OWNER, "pacs.004")
    validate_pacs004(pacs004)
    assert b">1234.56</RtrdIntrBkSttlmAmt>" in pacs004 and used(p) == 0


def test_the_return_of_a_part_payment_returns_what_settled_not_what_was_rejected():
    """A two-transaction message whose first transaction is rejected (CH20: 3 decimals in
    EUR): the return gives back the second, the only one settled, and only that."""
    p = memory_service(limits=UNLIMITED)
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(
        tx,
        "pacs.008",
        unique_ids(redated((EVENTS / "pacs008_two_txs.xml").read_bytes()).replace(b">1234.56<", b">1234.565<")),
        OWNER,
    )
    drain(p)
    payment = p.payments.get_payment(tx)
    assert [o.status for o in payment.transactions] == ["RJCT", "ACSP"]
    assert p.cancel(tx, OWNER, "DUPL").resolution == "CNCL"
    pacs004 = p.status_report(tx, OWNER, "pacs.004")
    validate_pacs004(pacs004)
    doc = etree.fromstring(pacs004)
    ns = {"r": "urn:iso:std:iso:20022:tech:xsd:pacs.004.001.09"}
    assert doc.xpath("//r:TxInf/r:OrgnlUETR/text()", namespaces=ns) == [payment.credit_transfer.transactions[1].uetr]
    assert doc.xpath("//r:TxInf/r:RtrdIntrBkSttlmAmt/text()", namespaces=ns) == ["99.5"]


def test_after_release_a_customer_request_is_refused():
    p = memory_service(limits=UNLIMITED, step_handoff="queue")
    tx = settled(p)
    assert p.cancel(tx, OWNER, "CUST").resolution == "RJCR"
    assert resolution(p.status_report(tx, OWNER, "camt.029")) == ("RJCR", ["CUST"])
    assert p.payments.get_payment(tx).tx_sts is TxSts.ACSC and used(p) == Decimal("1234.56")


def test_a_repeated_cancellation_case_is_answered_the_same_and_recorded_once():
    p = memory_service(limits=UNLIMITED, step_handoff="queue")
    tx = settled(p)
    p.cancel(tx, OWNER, "DUPL", case_id="CASE-1")
    first = p.status_report(tx, OWNER, "camt.029")
    versions = p.payments.get_payment(tx).version
    assert p.cancel(tx, OWNER, "DUPL", case_id="CASE-1").resolution == "CNCL"
    assert p.status_report(tx, OWNER, "camt.029") == first and p.payments.get_payment(tx).version == versions
    assert p.cancel(tx, OWNER, "DUPL", case_id="CASE-2").resolution == "RJCR"  # a new case: already returned (ARDT)
    assert resolution(p.status_report(tx, OWNER, "camt.029")) == ("RJCR", ["ARDT"])


def test_a_camt056_for_another_payment_or_nothing_to_cancel_is_a_clear_error():
    p = memory_service(limits=UNLIMITED, step_handoff="queue")
    tx = settled(p)
    other = (
        redated((EVENTS / "camt056_cancel.xml").read_bytes())
        .replace(b"32e0a499", b"42e0a499")
        .replace(b"INV-2026-0415-001", b"INV-OTHER")
        .replace(b"PFW-20260415-000123", b"PFW-OTHER")
    )
    with pytest.raises(ApplicationError) as e:
        p.submit(tx, "camt.056", other, OWNER)
    assert status_of(e.value)[:2] == (409, "CANCELLATION_DOES_NOT_MATCH")
    fresh_tx = p.issue_transaction("pacs.008", "r", OWNER).id
    with pytest.raises(ApplicationError) as e:
        p.cancel(fresh_tx, OWNER, "DUPL")
    assert e.value.error_code == "NOTHING_TO_CANCEL"


def test_a_camt056_for_another_uetr_sharing_an_end_to_end_id_such_as_notprovided_does_not_match():
    """Every identifier an entry gives must match: a camt.056 naming UETR u2 and EndToEndId
    NOTPROVIDED does not name (nor cancel) the payment of UETR u1 and EndToEndId NOTPROVIDED."""
    p = memory_service(limits=UNLIMITED, step_handoff="queue")
    body = redated((EVENTS / "pacs008_bare.xml").read_bytes()).decode()
    body = re.sub(r"<EndToEndId>[^<]*</EndToEndId>", "<EndToEndId>NOTPROVIDED</EndToEndId>", body)
    tx = accepted_not_released(p, body.encode())
    camt056 = redated((EVENTS / "camt056_cancel.xml").read_bytes()).decode()
    camt056 = re.sub(r"<OrgnlEndToEndId>[^<]*<", "<OrgnlEndToEndId>NOTPROVIDED<", camt056)
    other = camt056.replace("32e0a499-6667-431e-ae98-1e0782016094", "0b1f7d0e-1111-4222-8333-444455556666")
    with pytest.raises(ApplicationError) as e:
        p.submit(tx, "camt.056", other.encode(), OWNER)
    assert status_of(e.value)[:2] == (409, "CANCELLATION_DOES_NOT_MATCH")
    assert p.payments.get_payment(tx).tx_sts is TxSts.ACSP
    p.submit(tx, "camt.056", camt056.encode(), OWNER)  # the same entry with this payment's UETR names it
    assert p.payments.get_payment(tx).tx_sts is TxSts.CANC


def test_a_camt056_whose_assigner_is_known_by_its_lei_is_answered():
    p = memory_service(limits=UNLIMITED, step_handoff="queue")
    tx = accepted_not_released(p)
    camt056 = redated((EVENTS / "camt056_cancel.xml").read_bytes()).decode()
    lei = "<Assgnr><Pty><Id><OrgId><LEI>529900T8BM49AURSDO55</LEI></OrgId></Id></Pty></Assgnr>"
    camt056 = re.sub(r"<Assgnr>.*?</Assgnr>", lei, camt056, flags=re.S)
    p.submit(tx, "camt.056", camt056.encode(), OWNER)
    answer = p.status_report(tx, OWNER, "camt.029")
    validate_camt029(answer)
    assert resolution(answer) == ("CNCL", [])
    assert etree.fromstring(answer).xpath("//c:Assgne//c:LEI/text()", namespaces=CAMT029) == ["529900T8BM49AURSDO55"]


def test_cancelling_a_payment_without_instructing_agent_is_answered():
    """InstgAgt is optional in the pacs.008 XSD: the answer's Assgne is then an unnamed party."""
    p = memory_service(limits=UNLIMITED, step_handoff="queue")
    body = redated((EVENTS / "pacs008_bare.xml").read_bytes()).decode()
    tx = accepted_not_released(p, re.sub(r"<InstgAgt>.*?</InstgAgt>", "", body, flags=re.S).encode())
    assert p.cancel(tx, OWNER, "DUPL").resolution == "CNCL"
    answer = p.status_report(tx, OWNER, "camt.029")
    validate_camt029(answer)
    assert resolution(answer) == ("CNCL", [])


def test_a_camt056_entry_naming_another_transaction_is_rejected_noor_not_cancelled():
    """One camt.056, two entries: this payment's and another UETR/EndToEndId/MsgId. The payment
    is cancelled; the other entry is answered RJCR NOOR (this answer cancelled nothing of it),
    so the resolution is PECR (partially executed)."""
    p = memory_service(limits=UNLIMITED, step_handoff="queue")
    tx = accepted_not_released(p)
    camt056 = redated((EVENTS / "camt056_cancel.xml").read_bytes()).decode()
    ours = re.search(r"<TxInf>.*?</TxInf>", camt056, flags=re.S).group(0)
    other = (
        ours.replace("32e0a499-6667-431e-ae98-1e0782016094", "0b1f7d0e-1111-4222-8333-444455556666")
        .replace("INV-2026-0415-001", "SOMEONE-ELSES-E2E")
        .replace("PFW-20260415-000123", "OTHER-MSG")
    )
    p.submit(tx, "camt.056", camt056.replace(ours, ours + other).encode(), OWNER)
    assert p.payments.get_payment(tx).tx_sts is TxSts.CANC
    answer = p.status_report(tx, OWNER, "camt.029")
    validate_camt029(answer)
    entries = [
        (
            t.findtext("c:OrgnlUETR", namespaces=CAMT029),
            t.findtext("c:TxCxlSts", namespaces=CAMT029),
            t.xpath("c:CxlStsRsnInf/c:Rsn/c:Cd/text()", namespaces=CAMT029),
        )
        for t in etree.fromstring(answer).findall(".//c:TxInfAndSts", namespaces=CAMT029)
    ]
    assert entries == [
        ("32e0a499-6667-431e-ae98-1e0782016094", "ACCR", []),
        ("0b1f7d0e-1111-4222-8333-444455556666", "RJCR", ["NOOR"]),
    ]
    assert resolution(answer) == ("PECR", ["NOOR"])


def test_the_reason_of_a_camt056_entry_naming_another_transaction_is_not_this_payments():
    """After release, this payment's entry asks CUST (refused), another's DUPL: the payment is
    not returned for the other entry's reason."""
    p = memory_service(limits=UNLIMITED, step_handoff="queue")
    tx = settled(p)
    camt056 = redated((EVENTS / "camt056_cancel.xml").read_bytes()).decode()
    ours = re.search(r"<TxInf>.*?</TxInf>", camt056, flags=re.S).group(0)
    other = ours.replace("32e0a499-6667-431e-ae98-1e0782016094", "0b1f7d0e-1111-4222-8333-444455556666")
    p.submit(tx, "camt.056", camt056.replace(ours, other + ours.replace("DUPL", "CUST")).encode(), OWNER)
    assert not p.payments.get_payment(tx).is_returned
    assert resolution(p.status_report(tx, OWNER, "camt.029")) == ("RJCR", ["NOOR", "CUST"])


def test_a_cancelled_part_payment_reports_its_rejected_transaction_rejected_with_its_reason():
    p = memory_service(limits=UNLIMITED, step_handoff="queue")
    body = redated((EVENTS / "pacs008_two_txs.xml").read_bytes()).replace(b">99.5<", b">99.555<")  # tx 2: CH20
    tx = accepted_not_released(p, body)
    assert p.cancel(tx, OWNER, "DUPL").resolution == "CNCL"
    drain(p)
    report = p.status_report(tx, OWNER)
    validate_pacs002(report)
    entries = [
        (t.findtext("p:TxSts", namespaces=PACS002), t.xpath("p:StsRsnInf/p:Rsn/p:Cd/text()", namespaces=PACS002))
        for t in etree.fromstring(report).findall(".//p:TxInfAndSts", namespaces=PACS002)
    ]
    assert entries == [("CANC", []), ("RJCT", ["CH20"])]
    assert etree.fromstring(report).findtext(".//p:OrgnlGrpInfAndSts/p:GrpSts", namespaces=PACS002) == "CANC"


def mends(p) -> list[StepMessage]:
    """The return checks on the deadlines queue, as DeadlineReached receives them."""
    return [StepMessage(UUID(b["transaction_id"]), b) for b, _ in p.adapters.deadlines.sent if b.get("mend")]


def test_a_return_whose_request_died_before_freeing_is_mended_by_its_check_on_the_deadlines_queue():
    """POST cancel (DUPL) of a settled payment records `Returned`, then the request dies
    (a Lambda timeout) before it frees the liquidity, and no client retries: the check it
    queued before the save frees it, once, however often it is delivered."""
    p = memory_service(limits=UNLIMITED, step_handoff="queue")
    tx = settled(p)
    assert p.liquidity.holds(str(tx), "DEUTDEFFXXX", "EUR")
    returned_at_send = []
    send_later = p.adapters.deadlines.send_later

    def send_and_look(body, delay):
        returned_at_send.append(p.payments.get_payment(tx).is_returned)
        send_later(body, delay)

    p.adapters.deadlines.send_later = send_and_look
    died = mock.patch.object(Cancel, "_consequences", side_effect=TimeoutError("the request died"))
    with died, pytest.raises(TimeoutError):
        p.cancel(tx, OWNER, "DUPL")
    assert p.payments.get_payment(tx).is_returned and p.liquidity.holds(str(tx), "DEUTDEFFXXX", "EUR")
    (check,) = mends(p)
    assert returned_at_send == [False] and p.adapters.deadlines.sent[-1][1] == MEND_RETURN_DELAY_S
    for _ in range(2):  # at least once
        p.deadline_reached(check)
    assert not p.liquidity.holds(str(tx), "DEUTDEFFXXX", "EUR") and used(p) == 0


def test_a_return_check_of_a_payment_not_returned_changes_nothing():
    """The request died before `Returned` was saved: its check finds the payment settled."""
    p = memory_service(limits=UNLIMITED, step_handoff="queue")
    tx = settled(p)
    died = mock.patch.object(Payment, "record_return", side_effect=TimeoutError("the request died"))
    with died, pytest.raises(TimeoutError):
        p.cancel(tx, OWNER, "DUPL")
    (check,) = mends(p)
    p.deadline_reached(check)
    payment = p.payments.get_payment(tx)
    assert payment.tx_sts is TxSts.ACSC and not payment.is_returned and used(p) == Decimal("1234.56")


def test_cancelling_a_payment_whose_message_was_rejected_unreadable_is_nothing_to_cancel():
    """Rejected FF01 at incoming: its message is recorded, but no payment was read from it."""
    p = memory_service()
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", (EVENTS / "pacs008_invalid_schema.xml").read_bytes(), OWNER)
    drain(p)
    payment = p.payments.get_payment(tx)
    assert payment.reason_code == "FF01" and payment.is_received and payment.credit_transfer is None
    with pytest.raises(ApplicationError) as e:
        p.cancel(tx, OWNER, "DUPL")
    assert status_of(e.value)[:2] == (409, "NOTHING_TO_CANCEL")


def test_cancelling_a_payment_that_reserved_nothing_gives_nothing_back():
    p = memory_service(limits='{"DEUTDEFFXXX:EUR": "5000"}', step_handoff="queue")
    other = accepted_not_released(p)  # holds 1234.56 of the 5000
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", redated((EVENTS / "pacs008_bah_envelope.xml").read_bytes()), OWNER)
    _, _, body = p.adapters.incoming.sent.pop(0)
    p.incoming(StepMessage(tx, body))  # received, not yet decided: nothing reserved
    assert p.cancel(tx, OWNER, "DUPL").resolution == "CNCL"
    drain(p)
    assert used(p) == Decimal("1234.56")  # the other payment's reservation, untouched
    assert p.payments.get_payment(other).tx_sts is TxSts.ACSC


def test_a_cancellation_that_wins_the_race_against_processing_frees_what_processing_reserved():
    """Processing reserved, then lost its save to a cancellation (no outcome recorded): the
    reservation is still held, and the release of the cancelled payment gives it back."""
    p = memory_service(limits=UNLIMITED, step_handoff="queue")
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", redated((EVENTS / "pacs008_bare.xml").read_bytes()), OWNER)
    _, _, body = p.adapters.incoming.sent.pop(0)
    p.incoming(StepMessage(tx, body))
    p.adapters.processing.sent.pop(0)
    p.processing.decide(p.payments.get_payment(tx))  # reserved; the step then lost the race
    assert used(p) == Decimal("1234.56")
    assert p.cancel(tx, OWNER, "DUPL").resolution == "CNCL"
    drain(p)
    payment = p.payments.get_payment(tx)
    assert payment.tx_sts is TxSts.CANC and payment.is_released and payment.transactions == ()
    assert used(p) == 0


def released_while_processing_decides(p, end_it) -> UUID:
    """Processing has checked that the payment is undecided and is deciding when `end_it` (a
    cancellation or a timeout) is recorded and the releasing queue releases the payment,
    freeing nothing: nothing is reserved yet. Processing then reserves and its save
    conflicts. Returns the payment, after a redelivery of the step's message."""
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", unique_ids(redated((EVENTS / "pacs008_bare.xml").read_bytes())), OWNER)
    _, _, body = p.adapters.incoming.sent.pop(0)
    reserve, raced = p.liquidity.reserve, []

    def reserve_after_the_release(*args, **kwargs):
        if not raced:
            raced.append(tx)
            end_it(p, tx)
            drain(p)
            assert p.payments.get_payment(tx).is_released
        return reserve(*args, **kwargs)

    p.liquidity.reserve = reserve_after_the_release
    step = p.incoming
    if p.adapters.settings.step_handoff == "queue":
        p.incoming(StepMessage(tx, body, 1))
        _, _, body = p.adapters.processing.sent.pop(0)
        step = p.processing
    step(StepMessage(tx, body, 1))
    assert raced == [tx]
    step(StepMessage(tx, body, 2))
    drain(p)
    return tx


def cancel(p, tx) -> None:
    assert p.cancel(tx, OWNER, "DUPL").resolution == "CNCL"


def time_out(p, tx) -> None:
    assert p.time_out(tx) == 0


@pytest.mark.parametrize("handoff", ["inline", "queue"])
@pytest.mark.parametrize("end_it", [cancel, time_out], ids=["cancelled", "timed-out"])
def test_a_payment_released_before_processing_reserved_frees_that_reservation(end_it, handoff):
    p = memory_service(limits='{"DEUTDEFFXXX:EUR": "5000"}', sla_seconds=0, step_handoff=handoff)
    tx = released_while_processing_decides(p, end_it)
    payment = p.payments.get_payment(tx)
    assert payment.is_released and payment.tx_sts in (TxSts.CANC, TxSts.RJCT) and payment.transactions == ()
    assert used(p) == 0  # processing's reservation, given back by the release it handed over to
