"""The pipeline's use cases, end to end in memory: happy path, rejections, retries, crashes."""

from uuid import UUID, uuid4

import pytest
from lxml import etree

from chalicelib.api import status_of
from chalicelib.domain import TxSts
from chalicelib.iso20022 import validate_pacs002
from chalicelib.pipeline.errors import ApplicationError, MessageMismatch, ReportNotReady
from chalicelib.pipeline.faults import InjectedFault
from chalicelib.pipeline.messages import StepMessage
from chalicelib.pipeline.payments import PaymentNotFound
from tests.messages import fresh
from tests.unit.fakes import drain, memory_service

BARE = fresh("pacs008_bare.xml")
BAH = fresh("pacs008_bah_envelope.xml")
INVALID = fresh("pacs008_invalid_schema.xml")
OWNER = "client-a"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}


def tx_status(report: bytes) -> tuple[str, list[str]]:
    doc = etree.fromstring(report)
    status = doc.findtext(".//p:TxInfAndSts/p:TxSts", namespaces=NS) or doc.findtext(".//p:GrpSts", namespaces=NS)
    return status, doc.xpath(".//p:StsRsnInf/p:Rsn/p:Cd/text()", namespaces=NS)


def submit(pipeline, body: bytes) -> UUID:
    tx = pipeline.issue_transaction("pacs.008", "req-1", OWNER).id
    pipeline.submit(tx, "pacs.008", body, OWNER)
    return tx


@pytest.mark.parametrize("body", [BARE, BAH], ids=["bare", "bah-envelope"])
def test_a_valid_credit_transfer_settles_with_an_acsc_report(body):
    p = memory_service()
    tx = submit(p, body)
    drain(p)
    report = p.status_report(tx, OWNER)
    validate_pacs002(report)
    assert tx_status(report) == ("ACSC", [])
    assert p.payments.get_payment(tx).tx_sts is TxSts.ACSC
    assert [n[1] for n in p.adapters.notifier.published] == ["ACSC"]


def test_a_schema_invalid_message_ends_rjct_ff01_with_a_fetchable_report():
    p = memory_service()
    tx = submit(p, INVALID)
    drain(p)
    report = p.status_report(tx, OWNER)
    validate_pacs002(report)
    assert tx_status(report) == ("RJCT", ["FF01"])
    assert b"<OrgnlMsgId>NOTPROVIDED<" not in report  # the report names the refused message


def test_the_report_is_not_ready_before_release_and_unknown_ids_are_not_found():
    p = memory_service()
    tx = submit(p, BARE)
    with pytest.raises(ReportNotReady) as e:
        p.status_report(tx, OWNER)
    assert status_of(e.value)[0] == 409 and e.value.tx_sts == "ACCP"
    with pytest.raises(PaymentNotFound):
        p.status_report(uuid4(), OWNER)


@pytest.mark.parametrize(
    "header, body, status, code",
    [
        ("pain.001", BARE, 400, "UNSUPPORTED_MESSAGE_TYPE"),
        ("camt.056", b"<not-a-camt056/>", 400, "INVALID_CANCELLATION_REQUEST"),
        ("pacs.008", b"", 400, "EMPTY_BODY"),
        ("pacs.008", b"<a/>" * 300_000, 413, "MESSAGE_TOO_LARGE"),
    ],
)
def test_bad_submissions_are_clear_client_errors(header, body, status, code):
    p = memory_service()
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    with pytest.raises(ApplicationError) as e:
        p.submit(tx, header, body, OWNER)
    assert status_of(e.value)[:2] == (status, code)


def test_resubmitting_the_same_message_is_idempotent_and_another_message_is_refused():
    p = memory_service()
    tx = submit(p, BARE)
    drain(p)
    p.submit(tx, "pacs.008", BARE, OWNER)  # same bytes: accepted again, nothing queued
    assert p.adapters.incoming.sent == []
    with pytest.raises(MessageMismatch) as e:
        p.submit(tx, "pacs.008", BAH, OWNER)
    assert status_of(e.value)[:2] == (409, "TRANSACTION_ALREADY_RECEIVED")
    assert p.payments.get_payment(tx).version == 5  # Initiated, Submitted, Received, Accepted, Released


def test_a_second_message_before_the_first_is_processed_is_refused_at_the_inbox():
    """/inbox records Submitted before queueing: a different second message is 409 at once
    (the one queued is the first), so incoming never sees it."""
    p = memory_service()
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", BARE, OWNER)
    with pytest.raises(MessageMismatch):
        p.submit(tx, "pacs.008", BAH, OWNER)
    assert len(p.adapters.incoming.sent) == 1
    drain(p)
    payment = p.payments.get_payment(tx)
    assert payment.tx_sts is TxSts.ACSC and payment.message_sha256 == payment.submitted_sha256


POINTS = ["incoming.after_append", "processing.after_append", "releasing.after_append"]
SETTLED = ["Initiated", "Submitted", "Received", "Accepted", "Released"]


@pytest.mark.parametrize("point", POINTS)
def test_a_crash_between_append_and_send_completes_exactly_once_on_redelivery(point):
    """Steps handing over by queue: the step that died gets its own message again."""
    p = memory_service(fault_injection=point, step_handoff="queue")
    tx = submit(p, BARE)
    step = point.split(".")[0]
    queues = {"incoming": p.adapters.incoming, "processing": p.adapters.processing, "releasing": p.adapters.releasing}
    handlers = {"incoming": p.incoming, "processing": p.processing, "releasing": p.releasing}
    for name in ("incoming", "processing", "releasing"):
        queue, handler = queues[name], handlers[name]
        _, _, body = queue.sent.pop(0)
        if name == step:
            with pytest.raises(InjectedFault):
                handler(StepMessage(tx, body, receive_count=1))  # appended, then died: nothing sent
            assert all(not q.sent for q in queues.values()) and not p.adapters.notifier.published
            handler(StepMessage(tx, body, receive_count=2))  # SQS redelivers the same message
        else:
            handler(StepMessage(tx, body, receive_count=1))
    assert [type(e).__name__ for e in p.payments.history(tx)] == SETTLED
    assert len(p.adapters.notifier.published) == 1 and p.payments.get_payment(tx).tx_sts is TxSts.ACSC


@pytest.mark.parametrize("point", POINTS)
def test_inline_a_crash_after_any_append_completes_exactly_once_when_the_first_message_comes_again(point):
    """Steps inline (the default): a crash anywhere in the chain fails the invocation, and the
    message that started it, redelivered, finds each step recorded and goes on from there."""
    p = memory_service(fault_injection=point)
    tx = submit(p, BARE)
    a = p.adapters
    _, _, body = a.incoming.sent.pop(0)
    with pytest.raises(InjectedFault):
        p.incoming(StepMessage(tx, body, receive_count=1))
    assert not (a.incoming.sent or a.processing.sent or a.releasing.sent or a.notifier.published)
    recorded = [type(e).__name__ for e in p.payments.history(tx)]
    assert (
        recorded
        == SETTLED[
            : SETTLED.index({"incoming": "Received", "processing": "Accepted"}.get(point.split(".")[0], "Released")) + 1
        ]
    )
    p.incoming(StepMessage(tx, body, receive_count=2))
    assert [type(e).__name__ for e in p.payments.history(tx)] == SETTLED
    assert len(a.notifier.published) == 1 and p.payments.get_payment(tx).tx_sts is TxSts.ACSC
    assert not (a.incoming.sent or a.processing.sent or a.releasing.sent)  # no hop: nothing queued


def test_every_step_is_safe_to_run_twice():
    p = memory_service(step_handoff="queue")
    tx = submit(p, BARE)
    a = p.adapters
    for queue, handler in ((a.incoming, p.incoming), (a.processing, p.processing), (a.releasing, p.releasing)):
        _, _, body = queue.sent.pop(0)
        handler(StepMessage(tx, body, 1))
        handler(StepMessage(tx, body, 2))
    assert [type(e).__name__ for e in p.payments.history(tx)] == SETTLED
    assert p.adapters.archive.objects[p.payments.get_payment(tx).report_key] == p.status_report(tx, OWNER)


def test_inline_the_chain_is_safe_to_run_twice_and_each_step_reads_only_what_it_did_not_write():
    p = memory_service()
    tx = submit(p, BARE)
    _, _, body = p.adapters.incoming.sent.pop(0)
    reads = []
    get = p.payments.repository.get
    p.payments.repository.get = lambda *args, **kwargs: reads.append(args[0]) or get(*args, **kwargs)  # type: ignore[method-assign]
    p.incoming(StepMessage(tx, body, 1))
    assert reads == [tx]  # incoming read the payment; processing and releasing took it as saved
    p.incoming(StepMessage(tx, body, 2))
    assert [type(e).__name__ for e in p.payments.history(tx)] == SETTLED
    assert [n[1] for n in p.adapters.notifier.published] == ["ACSC", "ACSC"]  # a redelivery notifies again
    assert p.adapters.archive.objects[p.payments.get_payment(tx).report_key] == p.status_report(tx, OWNER)


def test_another_client_cannot_see_or_touch_a_transaction():
    p = memory_service()
    tx = submit(p, BARE)
    drain(p)
    with pytest.raises(PaymentNotFound):
        p.status_report(tx, "client-b")
    with pytest.raises(PaymentNotFound):
        p.submit(tx, "pacs.008", BARE, "client-b")
    with pytest.raises(PaymentNotFound):
        p.payments.history(tx, "client-b")
    assert p.adapters.notifier.published[0][2] == OWNER  # SNS carries the owner for subscriber filters
