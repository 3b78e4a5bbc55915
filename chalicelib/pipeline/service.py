"""The use cases behind each route and queue handler.

Every step follows one rule (DESIGN.md §4): look whether the step is already recorded;
if not, do it and append its event (optimistic concurrency); then send the next message.
A crash anywhere leaves the message unacknowledged, SQS redelivers it, and the retry
finds the event recorded and only re-sends. No outbox table, no dual write that can
diverge: the event store is the single source of truth and every send is repeatable.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from chalicelib import checks, iso20022
from chalicelib.adapters.s3 import Archive, sha256
from chalicelib.adapters.settings import Settings
from chalicelib.adapters.sns import Notifier
from chalicelib.adapters.sqs import Queue
from chalicelib.domain import MessageMismatch, Payment, TxSts
from chalicelib.pipeline import duplicates, faults
from chalicelib.pipeline.liquidity import Liquidity, amounts_by_currency
from chalicelib.pipeline.payments import Payments

log = logging.getLogger(__name__)

SUPPORTED_MESSAGE_TYPES = {"pacs.008", "camt.056"}
INLINE_MESSAGE_BYTES = 180 * 1024  # base64 of it stays under SQS's 256 KiB message limit
RETURN_REASONS = frozenset({"DUPL", "FRAD", "TECH"})  # cancellation reasons answered with a return
OUTBOUND = {"pacs.002": "report_key", "camt.029": None, "pacs.004": "return_key"}


class RequestError(Exception):
    """A client error, answered with a 4xx and an `error_code`."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class ReportNotReady(RequestError):
    def __init__(self, tx_sts: str) -> None:
        super().__init__(409, "STATUS_REPORT_NOT_READY", f"no status report yet (status {tx_sts})")
        self.tx_sts = tx_sts


@dataclass(frozen=True)
class StepMessage:
    """The body of a pipeline queue message, with its SQS delivery count."""

    transaction_id: UUID
    body: dict[str, Any]
    receive_count: int = 1


def message_type_of(header: str | None) -> str:
    """'pacs.008' from 'pacs.008' or 'pacs.008.001.08'; 400 for anything unsupported."""
    value = (header or "pacs.008").strip()
    family = ".".join(value.split(".")[:2])
    if family not in SUPPORTED_MESSAGE_TYPES:
        raise RequestError(400, "UNSUPPORTED_MESSAGE_TYPE", "X-Message-Type must be pacs.008")
    return family


def answer_id(prefix: str, transaction_id: UUID, case_id: str) -> str:
    """A stable Max35Text id for an answer to one cancellation case (retries rebuild the same)."""
    return f"{prefix}{hashlib.sha256(f'{transaction_id}|{case_id}'.encode()).hexdigest()}"[:35]


def reservation_of(transaction_id: UUID, index: int, count: int) -> str:
    """The liquidity reservation of one transaction of a payment's message."""
    return str(transaction_id) if count == 1 else f"{transaction_id}#{index + 1}"


def released_status(payment_status: TxSts, tx_status: TxSts) -> str:
    """What the released report says of a transaction: accepted ones are settled (ACSC);
    a cancelled payment's are cancelled; rejected ones stay rejected."""
    if payment_status is TxSts.CANC:
        return TxSts.CANC.value
    return TxSts.ACSC.value if tx_status is TxSts.ACSP else tx_status.value


def report_msg_id(transaction_id: UUID) -> str:
    """The pacs.002 MsgId: stable per transaction (Max35Text), so a retry rebuilds the same report."""
    return f"PF{transaction_id.hex}"[:35]


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        payments: Payments,
        archive: Archive,
        incoming: Queue,
        processing: Queue,
        releasing: Queue,
        notifier: Notifier,
        claims: duplicates.ClaimStore,
        liquidity: Liquidity,
        check_settings: checks.CheckSettings | None = None,
    ) -> None:
        self.settings = settings
        self.claims = claims
        self.liquidity = liquidity
        self.check_settings = check_settings or checks.default_settings()
        self.payments = payments
        self.archive = archive
        self.incoming = incoming
        self.processing = processing
        self.releasing = releasing
        self.notifier = notifier

    # -- routes ------------------------------------------------------------------------

    def issue_transaction(self, message_type_header: str | None, request_id: str, owner: str) -> Payment:
        message_type = message_type_of(message_type_header)
        return self.payments.initiate(message_type, self.settings.region_id, request_id, owner)

    def submit(self, transaction_id: UUID, message_type_header: str | None, body: bytes, owner: str) -> Payment:
        """POST /inbox: archive the message and queue it for the incoming step."""
        if message_type_of(message_type_header) == "camt.056":
            self.submit_cancellation(transaction_id, body, owner)
            return self.payments.get_payment(transaction_id, owner)
        self.check_body(body)
        payment = self.payments.get_payment(transaction_id, owner)
        digest = sha256(body)
        try:
            if payment.has_received(digest):
                return payment  # the same message again: already taken, nothing to do
        except MessageMismatch as e:
            raise RequestError(409, e.error_code, str(e)) from None
        key, digest = self.archive.put("inbound", body)
        step = {"transaction_id": str(transaction_id), "sha256": digest, "key": key}
        if len(body) <= INLINE_MESSAGE_BYTES:  # carried in the queue message: no S3 read in the step
            step["message"] = base64.b64encode(body).decode("ascii")
        self.incoming.send(str(transaction_id), "incoming", step, dedup=digest)
        return payment

    def check_body(self, body: bytes) -> None:
        if not body:
            raise RequestError(400, "EMPTY_BODY", "the request body must be an ISO 20022 message")
        if len(body) > self.settings.max_message_bytes:
            raise RequestError(413, "MESSAGE_TOO_LARGE", f"messages are limited to {self.settings.max_message_bytes} bytes")

    def status_report(self, transaction_id: UUID, owner: str, message_type: str | None = None) -> bytes:
        """POST /outbox: the released pacs.002 (or the camt.029 / pacs.004 answering a
        cancellation: X-Message-Type), byte for byte as archived."""
        payment = self.payments.get_payment(transaction_id, owner)
        kind = ".".join((message_type or "pacs.002").strip().split(".")[:2])
        if kind not in OUTBOUND:
            raise RequestError(400, "UNSUPPORTED_MESSAGE_TYPE", "X-Message-Type must be pacs.002, camt.029 or pacs.004")
        if kind == "camt.029":
            answers = list(payment.cancellations.values())
            key = answers[-1]["answer_key"] if answers else None
        else:
            key = getattr(payment, OUTBOUND[kind])
        if key is None:
            raise ReportNotReady(payment.tx_sts.value)
        return self.archive.get(key)

    # -- status request (pacs.028) -----------------------------------------------------

    def read_status_request(self, body: bytes):
        self.check_body(body)
        try:
            request = iso20022.read_message(body, expect="pacs.028")
        except iso20022.MessageRejected as r:
            raise RequestError(400, "INVALID_STATUS_REQUEST", f"{r.reason_code}: {r.narrative}") from None
        if not request.transactions:
            raise RequestError(400, "INVALID_STATUS_REQUEST", "the pacs.028 names no transaction")
        return request

    def status_now(self, transaction_id: UUID, owner: str, request) -> bytes:
        """A pacs.002 of the payment's current state, answering a pacs.028 (never archived:
        it is a snapshot of a moment, the events are the record)."""
        payment = self.payments.get_payment(transaction_id, owner)
        status = payment.tx_sts.value
        if payment.tx_sts is TxSts.ACSP and payment.is_released:
            status = TxSts.ACSC.value
        return iso20022.build_pacs002(
            iso20022.CreditTransfer.from_dict(payment.credit_transfer) if payment.credit_transfer else None,
            msg_id=answer_id("PFS", payment.id, request.msg_id),
            created_at=datetime.now(timezone.utc),
            tx_status=status,
            reasons=[iso20022.StatusReason(r["code"], r.get("narrative")) for r in payment.reasons],
            original_message_id_fallback=payment.original.get("msg_id") or "NOTPROVIDED",
            original_message_name_fallback=payment.original.get("message_type") or "pacs.008",
        )

    # -- cancellation and return -------------------------------------------------------

    def submit_cancellation(self, transaction_id: UUID, body: bytes, owner: str) -> str:
        """POST /inbox with a camt.056: answer it now; the camt.029 is then at /outbox."""
        self.check_body(body)
        try:
            request = iso20022.read_message(body, expect="camt.056")
        except iso20022.MessageRejected as r:
            raise RequestError(400, "INVALID_CANCELLATION_REQUEST", f"{r.reason_code}: {r.narrative}") from None
        payment = self.payments.get_payment(transaction_id, owner)
        if not refers_to(request, payment.credit_transfer or {}):
            raise RequestError(409, "CANCELLATION_DOES_NOT_MATCH", "the camt.056 does not name this payment's MsgId, EndToEndId or UETR")
        reason = next((t.reason_code for t in request.transactions if t.reason_code), None) or "CUST"
        _, digest = self.archive.put("inbound", body)  # content-addressed: the event's hash finds it
        return self.cancel(transaction_id, owner, reason, request=request, request_sha256=digest)

    def cancel(self, transaction_id: UUID, owner: str, reason_code: str, request=None, request_sha256: str | None = None,
               case_id: str | None = None) -> str:
        """Cancel before release, return after release, or refuse; idempotent per case id.
        Returns the resolution (CNCL or RJCR); the camt.029 (and a pacs.004) are archived."""
        for _ in range(3):
            payment = self.payments.get_payment(transaction_id, owner)
            if not payment.is_received:
                raise RequestError(409, "NOTHING_TO_CANCEL", "no message was received for this transaction")
            request = request or synthetic_request(payment, reason_code, case_id)
            case = request.case_id or request.assignment_id
            if case not in payment.cancellations:
                self._answer(payment, request, case, reason_code, request_sha256)
                try:
                    self.payments.save(payment)
                except IntegrityError:
                    continue
            answer = payment.cancellations[case]
            self._after_cancellation(payment)
            return answer["resolution"]
        raise RuntimeError("could not record the cancellation after repeated conflicts")

    def _answer(self, payment: Payment, request, case: str, reason_code: str, request_sha256: str | None) -> None:
        resolution, rejection, narrative = payment.cancellation_outcome(RETURN_REASONS, reason_code)
        created_at = datetime.now(timezone.utc)
        camt029 = iso20022.build_camt029(
            request,
            assignment_id=answer_id("PFC", payment.id, case),
            created_at=created_at,
            status="RJCR" if resolution == "RJCR" else "CNCL",
            reason_code=rejection,
            narrative=narrative if rejection == "NARR" else None,
        )
        answer_key, _ = self.archive.put("outbound", camt029)
        if resolution == "CNCL":
            payment.cancel(case_id=case, reason_code=reason_code, answer_key=answer_key, request_sha256=request_sha256)
        elif resolution == "RTRN":
            pacs004 = iso20022.build_pacs004(
                payment.credit_transfer,
                msg_id=answer_id("PFR", payment.id, case),
                return_id=answer_id("RTR", payment.id, case),
                created_at=created_at,
                settlement_date=created_at.date(),
                reason_code="FOCR",
            )
            return_key, _ = self.archive.put("outbound", pacs004)
            payment.record_return(case_id=case, reason_code=reason_code, answer_key=answer_key, return_key=return_key,
                                  request_sha256=request_sha256)
        else:
            payment.refuse_cancellation(case_id=case, reason_code=reason_code, rejection_code=rejection,
                                        answer_key=answer_key, request_sha256=request_sha256)

    def _after_cancellation(self, payment: Payment) -> None:
        """Repeatable consequences: a cancelled payment is released (its CANC report, its
        liquidity); a returned one gives its liquidity back."""
        if payment.tx_sts is TxSts.CANC and not payment.is_released:
            self.releasing.send(str(payment.id), "releasing", {"transaction_id": str(payment.id)})
        if payment.is_returned:
            self.free_liquidity(payment)

    def free_liquidity(self, payment: Payment) -> None:
        """Give back what the payment's transactions reserved (idempotent)."""
        txs = checks.transactions_of(payment.credit_transfer or {})
        for i, (tx, outcome) in enumerate(zip(txs, payment.transactions)):
            self.liquidity.free(reservation_of(payment.id, i, len(txs)), tx.get("instructing_agent") or "",
                                amounts_by_currency(tx), reserved=outcome.get("reserved", False))

    # -- queue handlers ----------------------------------------------------------------

    def on_incoming(self, msg: StepMessage) -> None:
        """Archive already done by /inbox: parse, validate, extract -> Received or Rejected FF01."""
        sha, key = msg.body["sha256"], msg.body["key"]

        def step(payment: Payment) -> bool:
            try:
                if payment.has_received(sha):
                    return False
            except MessageMismatch:
                if sha in payment.refused_submissions:
                    return False
                payment.refuse_submission(sha256=sha, reason="the transaction already has a different message")
                return True
            try:
                credit_transfer = iso20022.read_credit_transfer(self.inbound_message(msg.body))
            except iso20022.MessageRejected as r:
                original = {"msg_id": r.msg_id, "message_type": r.message_type}
                reasons = [{"code": r.reason_code, "narrative": r.narrative}]
                payment.reject(reasons, step="incoming", sha256=sha, message_key=key, original=original)
            else:
                payment.receive(sha256=sha, message_key=key, credit_transfer=credit_transfer.to_dict())
            return True

        payment, _ = self._record(msg, "incoming", step)
        if payment.message_sha256 != sha:
            log.warning("refused a second message for a transaction", extra={"transaction_id": str(msg.transaction_id)})
            return
        if payment.tx_sts is TxSts.RJCT and payment.rejected_at_step == "incoming":
            self.releasing.send(str(msg.transaction_id), "releasing", {"transaction_id": str(msg.transaction_id)})
        else:
            self.processing.send(str(msg.transaction_id), "processing", {"transaction_id": str(msg.transaction_id)})

    def inbound_message(self, body: dict[str, Any]) -> bytes:
        """The archived message, from the queue message when it travelled there (checked
        against its hash: what is processed is exactly what was archived)."""
        raw = base64.b64decode(body["message"]) if "message" in body else self.archive.get(body["key"])
        if sha256(raw) != body["sha256"]:
            raise RuntimeError("inbound message does not match its archived hash")
        return raw

    def on_processing(self, msg: StepMessage) -> None:
        """Business checks -> Accepted (ACSP) or Rejected with the failing checks' reasons.

        Stateless rules first; then duplicates (which take the message's identifiers) and
        liquidity (which reserves its amounts) only for a message that is otherwise valid,
        so a rejected message neither burns identifiers nor holds liquidity. Claims and
        reservations are idempotent per transaction, so a retried step decides the same.
        """

        def step(payment: Payment) -> bool:
            if payment.is_decided:
                return False
            verdicts, outcomes = self.decide(payment)
            if any(o["status"] == TxSts.ACSP.value for o in outcomes):
                payment.accept(checks=verdicts, transactions=outcomes)
            else:
                reasons = list({(r["code"], r["narrative"]): r for o in outcomes for r in o["reasons"]}.values())
                payment.reject(reasons, step="processing", checks=verdicts, transactions=outcomes)
            return True

        self._record(msg, "processing", step)
        self.releasing.send(str(msg.transaction_id), "releasing", {"transaction_id": str(msg.transaction_id)})

    def on_releasing(self, msg: StepMessage) -> None:
        """Build and archive the pacs.002, record Released, notify subscribers."""

        def step(payment: Payment) -> bool:
            if payment.is_released:
                return False
            if payment.tx_sts is TxSts.CANC:
                self.free_liquidity(payment)  # idempotent; the cancellation may have died before
            report = self.build_report(payment)
            key, digest = self.archive.put("outbound", report)
            payment.release(report_key=key, report_sha256=digest, report_msg_id=report_msg_id(payment.id))
            return True

        payment, recorded = self._record(msg, "releasing", step)
        if not recorded and msg.receive_count == 1:
            return  # a redundant trigger of a release another delivery made (and announces)
        self.notifier.released(
            str(payment.id),
            payment.tx_sts.value,
            payment.owner,
            {
                "transaction_id": str(payment.id),
                "region_id": payment.region_id,
                "tx_sts": payment.tx_sts.value,
                "reason_code": payment.reason_code,
                "report_msg_id": payment.report_msg_id,
            },
        )

    def decide(self, payment: Payment) -> tuple[list[checks.Verdict], list[dict[str, Any]]]:
        """Every verdict, and each transaction's outcome {status, reasons, reserved}.

        The message-level rules and the MsgId first (the MsgId only if some transaction
        passes its rules): if they fail, every transaction is rejected with their reasons.
        Then each transaction on its own: its rules, its UETR and EndToEndId, its amount on
        its instructing agent's position (reserved last, only for a transaction that passed
        everything else)."""
        ct, now, window = payment.credit_transfer or {}, time.time(), self.settings.duplicate_window_s
        group, per_tx = checks.run_by_transaction(ct, self.check_settings)
        if not checks.failed(group) and any(not checks.failed(vs) for vs in per_tx):
            # a message with nothing to accept takes no identifier: its correction may reuse them
            group.append(duplicates.check_message(self.claims, str(payment.id), ct, now, window))
        txs = checks.transactions_of(ct)
        outcomes = []
        for i, (tx, verdicts) in enumerate(zip(txs, per_tx)):
            reserved = False
            own = reservation_of(payment.id, i, len(txs))  # claims, too: a message cannot repeat a UETR
            if not checks.failed(group + verdicts):
                verdicts.append(duplicates.check_transaction(self.claims, own, tx, now, window))
            if not checks.failed(group + verdicts):
                held = self.liquidity.reserve(own, tx.get("instructing_agent") or "", amounts_by_currency(tx),
                                              datetime.now(timezone.utc))
                verdicts += held
                reserved = any(v.get("reserved") for v in held) and not checks.failed(held)
            failed = checks.failed(group + verdicts)
            outcomes.append({
                "status": (TxSts.RJCT if failed else TxSts.ACSP).value,
                "reasons": [{"code": v["reason_code"], "narrative": v["narrative"]} for v in failed],
                "reserved": reserved,
            })
        tagged = [{**v, "tx": i + 1} for i, vs in enumerate(per_tx) for v in vs] if len(txs) > 1 else [
            v for vs in per_tx for v in vs]
        return group + tagged, outcomes

    def build_report(self, payment: Payment) -> bytes:
        """The pacs.002 for a decided payment; deterministic, so a retry archives the same bytes."""
        original = iso20022.CreditTransfer.from_dict(payment.credit_transfer) if payment.credit_transfer else None
        if len(payment.transactions) > 1:  # a status per transaction; the group status follows (PART...)
            return iso20022.build_pacs002(
                original,
                msg_id=report_msg_id(payment.id),
                created_at=payment.modified_on,
                tx_statuses=[iso20022.TxStatus(
                    status=released_status(payment.tx_sts, TxSts(o["status"])),
                    reasons=tuple(iso20022.StatusReason(r["code"], r.get("narrative")) for r in o["reasons"]),
                ) for o in payment.transactions],
            )
        return iso20022.build_pacs002(
            original,
            msg_id=report_msg_id(payment.id),
            created_at=payment.modified_on,
            tx_status=released_status(payment.tx_sts, payment.tx_sts),
            reasons=[iso20022.StatusReason(r["code"], r.get("narrative")) for r in payment.reasons],
            original_message_id_fallback=payment.original.get("msg_id") or "NOTPROVIDED",
            original_message_name_fallback=payment.original.get("message_type") or "pacs.008",
        )

    # -- the one rule ------------------------------------------------------------------

    def _record(self, msg: StepMessage, name: str, step: Callable[[Payment], bool]) -> tuple[Payment, bool]:
        """Run `step` on the payment and save what it recorded, exactly once; say whether
        this delivery recorded it.

        `step` returns False when the work is already recorded (a redelivery). A concurrent
        delivery that saved first makes our save conflict; we then read again and let `step`
        recognise the recorded work.
        """
        for _ in range(3):
            payment = self.payments.get_payment(msg.transaction_id)
            if not step(payment):
                return payment, False
            try:
                self.payments.save(payment)
            except IntegrityError:
                continue
            faults.check(self.settings.fault_injection, f"{name}.after_append", msg.receive_count)
            return payment, True
        raise RuntimeError(f"{name}: could not record the step after repeated conflicts")


def refers_to(request, credit_transfer: dict[str, Any]) -> bool:
    """Whether a camt.056 names this payment (by UETR, EndToEndId or MsgId)."""
    ids = {credit_transfer.get("uetr"), credit_transfer.get("end_to_end_id"), credit_transfer.get("msg_id")} - {None, ""}
    return any(
        {t.original_uetr, t.original_end_to_end_id, t.original_msg_id} & ids for t in request.transactions
    )


def synthetic_request(payment: Payment, reason_code: str, case_id: str | None):
    """The camt.056 a POST /transactions/{id}/cancel stands for, so the answer is a camt.029."""
    ct = payment.credit_transfer or {}
    case = case_id or f"CXL{payment.id.hex}"[:35]
    return iso20022.CancellationRequest(
        message_type="camt.056.001.09",
        assignment_id=case,
        creation_date_time=datetime.now(timezone.utc).isoformat(),
        assigner=ct.get("instructing_agent"),
        assigner_scheme=ct.get("instructing_agent_scheme"),
        assignee=ct.get("instructed_agent"),
        assignee_scheme=ct.get("instructed_agent_scheme"),
        case_id=case,
        transactions=(iso20022.CancelledTransaction(
            original_msg_id=ct.get("msg_id"),
            original_msg_nm_id=ct.get("message_type"),
            original_creation_date_time=ct.get("creation_date_time"),
            original_instr_id=ct.get("instr_id"),
            original_end_to_end_id=ct.get("end_to_end_id"),
            original_tx_id=ct.get("tx_id"),
            original_uetr=ct.get("uetr"),
            original_amount=ct.get("amount"),
            original_currency=ct.get("currency"),
            original_settlement_date=ct.get("interbank_settlement_date"),
            reason_code=reason_code,
        ),),
    )
