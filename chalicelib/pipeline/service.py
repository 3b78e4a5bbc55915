"""The use cases behind each route and queue handler.

Every step follows one rule (DESIGN.md §4): look whether the step is already recorded;
if not, do it and append its event (optimistic concurrency); then send the next message.
A crash anywhere leaves the message unacknowledged, SQS redelivers it, and the retry
finds the event recorded and only re-sends. No outbox table, no dual write that can
diverge: the event store is the single source of truth and every send is repeatable.
"""
from __future__ import annotations

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

SUPPORTED_MESSAGE_TYPES = {"pacs.008"}


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
        message_type_of(message_type_header)
        if not body:
            raise RequestError(400, "EMPTY_BODY", "the request body must be an ISO 20022 message")
        if len(body) > self.settings.max_message_bytes:
            raise RequestError(413, "MESSAGE_TOO_LARGE", f"messages are limited to {self.settings.max_message_bytes} bytes")
        payment = self.payments.get_payment(transaction_id, owner)
        digest = sha256(body)
        try:
            if payment.has_received(digest):
                return payment  # the same message again: already taken, nothing to do
        except MessageMismatch as e:
            raise RequestError(409, e.error_code, str(e)) from None
        key, digest = self.archive.put("inbound", body)
        self.incoming.send(
            str(transaction_id), "incoming", {"transaction_id": str(transaction_id), "sha256": digest, "key": key}, dedup=digest
        )
        return payment

    def status_report(self, transaction_id: UUID, owner: str) -> bytes:
        """POST /outbox: the released pacs.002, byte for byte as archived."""
        payment = self.payments.get_payment(transaction_id, owner)
        if not payment.is_released:
            raise ReportNotReady(payment.tx_sts.value)
        return self.archive.get(payment.report_key)

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
                credit_transfer = iso20022.read_credit_transfer(self.archive.get(key))
            except iso20022.MessageRejected as r:
                original = {"msg_id": r.msg_id, "message_type": r.message_type}
                reasons = [{"code": r.reason_code, "narrative": r.narrative}]
                payment.reject(reasons, step="incoming", sha256=sha, message_key=key, original=original)
            else:
                payment.receive(sha256=sha, message_key=key, credit_transfer=credit_transfer.to_dict())
            return True

        payment = self._record(msg, "incoming", step)
        if payment.message_sha256 != sha:
            log.warning("refused a second message for a transaction", extra={"transaction_id": str(msg.transaction_id)})
            return
        if payment.tx_sts is TxSts.RJCT and payment.rejected_at_step == "incoming":
            self.releasing.send(str(msg.transaction_id), "releasing", {"transaction_id": str(msg.transaction_id)})
        else:
            self.processing.send(str(msg.transaction_id), "processing", {"transaction_id": str(msg.transaction_id)})

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
            verdicts = self.checks(payment)
            failed = checks.failed(verdicts)
            if failed:
                reasons = [{"code": v["reason_code"], "narrative": v["narrative"]} for v in failed]
                payment.reject(reasons, step="processing", checks=verdicts)
            else:
                payment.accept(checks=verdicts)
            return True

        self._record(msg, "processing", step)
        self.releasing.send(str(msg.transaction_id), "releasing", {"transaction_id": str(msg.transaction_id)})

    def on_releasing(self, msg: StepMessage) -> None:
        """Build and archive the pacs.002, record Released, notify subscribers."""

        def step(payment: Payment) -> bool:
            if payment.is_released:
                return False
            report = self.build_report(payment)
            key, digest = self.archive.put("outbound", report)
            payment.release(report_key=key, report_sha256=digest, report_msg_id=report_msg_id(payment.id))
            return True

        payment = self._record(msg, "releasing", step)
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

    def checks(self, payment: Payment) -> list[checks.Verdict]:
        ct, tx = payment.credit_transfer or {}, str(payment.id)
        verdicts = checks.run(ct, self.check_settings)
        if not checks.failed(verdicts):
            window = self.settings.duplicate_window_s
            verdicts.append(duplicates.check(self.claims, tx, ct, payment.message_sha256, time.time(), window))
        if not checks.failed(verdicts):
            agent = ct.get("instructing_agent") or ""
            verdicts += self.liquidity.reserve(tx, agent, amounts_by_currency(ct), datetime.now(timezone.utc))
        return verdicts

    def build_report(self, payment: Payment) -> bytes:
        """The pacs.002 for a decided payment; deterministic, so a retry archives the same bytes."""
        original = iso20022.CreditTransfer.from_dict(payment.credit_transfer) if payment.credit_transfer else None
        return iso20022.build_pacs002(
            original,
            msg_id=report_msg_id(payment.id),
            created_at=payment.modified_on,
            tx_status=TxSts.ACSC.value if payment.tx_sts is TxSts.ACSP else payment.tx_sts.value,
            reasons=[iso20022.StatusReason(r["code"], r.get("narrative")) for r in payment.reasons],
            original_message_id_fallback=payment.original.get("msg_id") or "NOTPROVIDED",
            original_message_name_fallback=payment.original.get("message_type") or "pacs.008",
        )

    # -- the one rule ------------------------------------------------------------------

    def _record(self, msg: StepMessage, name: str, step: Callable[[Payment], bool]) -> Payment:
        """Run `step` on the payment and save what it recorded, exactly once.

        `step` returns False when the work is already recorded (a redelivery). A concurrent
        delivery that saved first makes our save conflict; we then read again and let `step`
        recognise the recorded work.
        """
        for _ in range(3):
            payment = self.payments.get_payment(msg.transaction_id)
            if not step(payment):
                return payment
            try:
                self.payments.save(payment)
            except IntegrityError:
                continue
            faults.check(self.settings.fault_injection, f"{name}.after_append", msg.receive_count)
            return payment
        raise RuntimeError(f"{name}: could not record the step after repeated conflicts")
