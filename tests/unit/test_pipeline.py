"""The pipeline's use cases, end to end in memory: happy path, rejections, retries, crashes."""

import base64
import json
from uuid import UUID, uuid4

import pytest
from eventsourcing.cryptography import AESCipher
from lxml import etree

from chalicelib import bootstrap
from chalicelib.adapters.settings import Settings
from chalicelib.api import status_of
from chalicelib.domain import TxSts
from chalicelib.iso20022 import validate_pacs002
from chalicelib.pipeline import submit as submit_module
from chalicelib.pipeline.errors import ApplicationError, MessageMismatch, ReportNotReady
from chalicelib.pipeline.faults import InjectedFault
from chalicelib.pipeline.messages import StepMessage
from chalicelib.pipeline.payments import PaymentNotFound, Payments
from chalicelib.pipeline.submit import INLINE_MESSAGE_BYTES, SQS_MESSAGE_BYTES
from tests.messages import fresh
from tests.unit.fakes import POPO, drain, memory_adapters, memory_service

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


def reads_of(p) -> list[UUID]:
    """Every read of a payment's events from the store, from now on."""
    reads: list[UUID] = []
    select = p.payments.recorder.select_events
    p.payments.recorder.select_events = lambda originator_id, *a, **kw: (
        reads.append(originator_id) or select(originator_id, *a, **kw)
    )
    return reads


def test_inline_the_chain_is_safe_to_run_twice_and_each_step_reads_only_what_it_did_not_write():
    p = memory_service()
    tx = submit(p, BARE)
    _, _, body = p.adapters.incoming.sent.pop(0)
    reads = reads_of(p)
    p.incoming(StepMessage(tx, body, 1))
    assert reads == []  # incoming took the payment /inbox saved from its message; the others as saved
    p.incoming(StepMessage(tx, body, 2))  # the message's payment is stale now: its save conflicts, then it reads
    assert reads == [tx]
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


# -- the payment the incoming message carries (Payments.seal): no read, unless stale ------


def same_state(a, b) -> bool:
    """Every attribute equal and of the same type (a str for a TxSts, a list for a tuple differ)."""
    return (a.id, a.version) == (b.id, b.version) and {k: (type(v), v) for k, v in vars(a).items()} == {
        k: (type(v), v) for k, v in vars(b).items()
    }


def with_codec() -> bootstrap.Service:
    """The service with its events compressed and encrypted, as deployed (bootstrap.payments_env)."""
    codec = {
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": AESCipher.create_key(32),
    }
    return bootstrap.build(Settings(), **{**memory_adapters(), "payments": Payments(env={**POPO, **codec})})


@pytest.mark.parametrize("service", [memory_service, with_codec], ids=["plain", "zlib-aes"])
@pytest.mark.parametrize("body", [BARE, BAH, INVALID], ids=["bare", "envelope", "rejected"])
def test_a_sealed_payment_unseals_to_the_same_state(service, body):
    """At version 2 (Initiated, Submitted: what /inbox carries) and after the chain (typed
    credit transfer, verdicts, outcomes, reasons), with and without the deployed codec."""
    p = service()
    tx = submit(p, body)
    at_v2 = p.payments.get_payment(tx)
    assert at_v2.version == 2 and same_state(p.payments.unseal(p.payments.seal(at_v2), tx), at_v2)
    drain(p)
    after = p.payments.get_payment(tx)
    assert after.version > 2 and same_state(p.payments.unseal(p.payments.seal(after), tx), after)
    assert after.tx_sts in (TxSts.ACSC, TxSts.RJCT)


def test_incoming_decides_on_the_payment_its_message_carries_and_reads_nothing():
    p = memory_service(step_handoff="queue")  # processing's own read is then not the incoming step's
    tx = submit(p, BARE)
    _, _, body = p.adapters.incoming.sent.pop(0)
    assert "payment" in body and "message" in body
    reads = reads_of(p)
    p.incoming(StepMessage(tx, body, 1))
    assert reads == [] and [type(e).__name__ for e in p.payments.history(tx)] == SETTLED[:3]


def time_out(p, tx: UUID) -> None:
    assert p.time_out(tx) == 0  # the SLA (0 s here) is over: TimedOut, handed to releasing


def take_over(p, tx: UUID) -> None:
    payment = p.payments.get_payment(tx)
    payment.take_over(by="eu-west-1", from_region=payment.home_region, reason="3 failed probes")
    p.payments.save(payment)


def settle(p, tx: UUID) -> None:
    p.incoming(StepMessage(tx, p.adapters.incoming.sent[0][2], 1))  # the same message, delivered before


@pytest.mark.parametrize("meanwhile", [time_out, take_over, settle], ids=["timed-out", "taken-over", "settled"])
def test_a_stale_carried_payment_conflicts_then_the_step_reads_and_records_what_a_read_would(meanwhile):
    """The message is delivered (again) after the payment moved on: its carried payment is
    stale. The step ends with exactly the events it ends with when it reads first."""
    ended = {}
    for carried in (True, False):
        p = memory_service(sla_seconds=0)
        tx = submit(p, BARE)
        body = p.adapters.incoming.sent[0][2]
        if not carried:
            body = {k: v for k, v in body.items() if k != "payment"}
        meanwhile(p, tx)
        before = [type(e).__name__ for e in p.payments.history(tx)]
        reads = reads_of(p)
        p.incoming(StepMessage(tx, body, 2))
        ended[carried] = [type(e).__name__ for e in p.payments.history(tx)], len(p.adapters.notifier.published)
        assert tx in reads and ended[carried][0][: len(before)] == before
    assert ended[True] == ended[False]  # the same events, the same notifications (a redelivery notifies again)
    assert len(ended[True][0]) == len(set(ended[True][0]))  # nothing recorded twice


def another_transactions(p, text: str) -> str:
    return p.payments.seal(p.payments.get_payment(submit(p, BAH)))


def another_state_under_this_id(p, text: str) -> str:
    """Another payment's sealed state with this payment's id and version in the clear prefix."""
    return ":".join(text.split(":")[:2] + another_transactions(p, text).split(":")[2:])


def an_older_state_as_newer(p, text: str) -> str:
    """This payment's own sealed state, its clear version raised (a stale state passed as fresh)."""
    tx, version, state = text.split(":")
    return f"{tx}:{int(version) + 1}:{state}"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p, text: text[:-8],  # truncated
        lambda p, text: text.rsplit(":", 1)[0] + ":" + base64.b64encode(b'{"state": []}').decode(),
        lambda p, text: "not a payment",
        another_transactions,
        another_state_under_this_id,
        an_older_state_as_newer,
    ],
    ids=["truncated", "not-a-snapshot", "garbage", "another-transaction", "another-state", "older-state"],
)
def test_a_sealed_payment_that_does_not_decode_is_read_instead_and_the_payment_settles(tamper, caplog):
    p = memory_service()
    tx = submit(p, BARE)
    _, _, body = p.adapters.incoming.sent.pop(0)
    body = {**body, "payment": tamper(p, body["payment"])}
    reads = reads_of(p)
    p.incoming(StepMessage(tx, body, 1))
    assert reads == [tx] and [type(e).__name__ for e in p.payments.history(tx)] == SETTLED
    warned = [r for r in caplog.records if r.levelname == "WARNING" and "sealed payment" in r.getMessage()]
    assert len(warned) == 1 and "client-a" not in warned[0].getMessage()


def test_the_largest_inline_message_still_carries_its_payment_within_the_sqs_limit():
    p = memory_service()
    padding = INLINE_MESSAGE_BYTES - len(BARE) - len(b"<!---->")
    big = BARE + b"<!--" + b"x" * padding + b"-->"
    assert len(big) == INLINE_MESSAGE_BYTES
    submit(p, big)
    _, _, body = p.adapters.incoming.sent[0]
    assert "message" in body and "payment" in body
    assert len(json.dumps(body).encode()) <= SQS_MESSAGE_BYTES


@pytest.mark.parametrize("below", [0, 1], ids=["at-the-limit", "one-byte-over"])
def test_the_payment_is_left_out_of_a_message_it_would_take_over_the_sqs_limit(below, monkeypatch):
    """The limit set to the size the previous transaction's message had with its payment
    (or one byte less); whether the payment goes is decided on this message's own size."""
    p = memory_service()
    submit(p, BARE)
    limit = len(json.dumps(p.adapters.incoming.sent.pop(0)[2]).encode()) - below
    sealed: list[str] = []
    seal = p.payments.seal
    monkeypatch.setattr(p.payments, "seal", lambda payment: sealed.append(seal(payment)) or sealed[-1])
    monkeypatch.setattr(submit_module, "SQS_MESSAGE_BYTES", limit)
    tx = submit(p, BARE)
    _, _, body = p.adapters.incoming.sent.pop(0)
    with_payment = len(json.dumps({**body, "payment": sealed[0]}).encode())
    assert ("payment" in body) is (with_payment <= limit) and "message" in body
    assert len(json.dumps(body).encode()) <= limit
    reads = reads_of(p)
    p.incoming(StepMessage(tx, body, 1))
    assert reads == ([] if "payment" in body else [tx])
    assert [type(e).__name__ for e in p.payments.history(tx)] == SETTLED
