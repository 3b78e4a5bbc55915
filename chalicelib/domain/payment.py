"""The payment aggregate: one per transaction id, one event per step of its life.

    ACCP Initiated -> ACTC Received -> ACSP Accepted -> ACSC Released
                  \\-> RJCT Rejected ---------------> (RJCT) Released

Each command method *is* the event it records (eventsourcing's `@event`); invariants are
small `check_*` methods that raise named errors before anything is recorded. The pipeline
retries steps (SQS redelivers), so the aggregate also answers "is this step already
recorded?" — a retried step is recognised by the caller, never recorded twice.
"""
from __future__ import annotations

from enum import Enum
from typing import Any

from eventsourcing.domain import Aggregate, event


class TxSts(str, Enum):
    """ISO 20022 ExternalPaymentTransactionStatus1Code values a payment passes through."""

    ACCP = "ACCP"  # AcceptedCustomerProfile: transaction id issued, nothing received yet
    ACTC = "ACTC"  # AcceptedTechnicalValidation: archived, schema-valid
    ACSP = "ACSP"  # AcceptedSettlementInProcess: business checks passed
    ACSC = "ACSC"  # AcceptedSettlementCompleted: status report released
    RJCT = "RJCT"  # Rejected, with a reason code


class PaymentError(Exception):
    """A command that the payment's current state does not allow."""

    error_code = "PAYMENT_ERROR"


class IllegalTransition(PaymentError):
    error_code = "ILLEGAL_TRANSITION"


class MessageMismatch(PaymentError):
    """A second, different message was submitted for a transaction that has one."""

    error_code = "TRANSACTION_ALREADY_RECEIVED"


class Payment(Aggregate):
    @event("Initiated")
    def __init__(self, message_type: str, region_id: str, request_id: str, owner: str) -> None:
        """`owner`: the OAuth2 client that asked for the transaction id (its tenant)."""
        self.owner = owner
        self.message_type = message_type
        self.region_id = region_id
        self.request_id = request_id
        self.tx_sts = TxSts.ACCP
        self.message_sha256: str | None = None
        self.message_key: str | None = None
        self.credit_transfer: dict[str, Any] | None = None
        self.original: dict[str, Any] = {}
        self.reasons: list[dict[str, str]] = []
        self.reason_code: str | None = None
        self.narrative: str | None = None
        self.rejected_at_step: str | None = None
        self.checks: list[dict[str, Any]] = []
        self.report_key: str | None = None
        self.report_sha256: str | None = None
        self.report_msg_id: str | None = None
        self.refused_submissions: list[str] = []

    # -- questions the pipeline asks before it retries a step -------------------------

    @property
    def is_received(self) -> bool:
        return self.message_sha256 is not None

    @property
    def is_decided(self) -> bool:
        return self.tx_sts in (TxSts.ACSP, TxSts.RJCT, TxSts.ACSC)

    @property
    def is_released(self) -> bool:
        return self.report_key is not None

    def has_received(self, sha256: str) -> bool:
        """True when this very message is already recorded; MessageMismatch for another."""
        if self.message_sha256 is None:
            return False
        if self.message_sha256 != sha256:
            raise MessageMismatch("the transaction already has a different message")
        return True

    # -- commands: each records the event it is named after --------------------------

    @event("Received")
    def receive(self, sha256: str, message_key: str, credit_transfer: dict[str, Any]) -> None:
        self.check_status(TxSts.ACCP, "receive")
        self.message_sha256 = sha256
        self.message_key = message_key
        self.credit_transfer = credit_transfer
        self.tx_sts = TxSts.ACTC

    @event("Rejected")
    def reject(
        self,
        reasons: list[dict[str, str]],
        step: str,
        sha256: str | None = None,
        message_key: str | None = None,
        original: dict[str, Any] | None = None,
        checks: list[dict[str, Any]] | None = None,
    ) -> None:
        """`reasons`: every {code, narrative} (ISO ExternalStatusReason1Code), the first decisive.
        `original`: what could be read of a refused message (e.g. its MsgId), for the report.
        `checks`: every business check's verdict, passed or not, for the audit trail."""
        self.check_not_decided("reject")
        self.check_has_reasons(reasons)
        if sha256 is not None:
            self.check_status(TxSts.ACCP, "reject an inbound message")
            self.message_sha256 = sha256
            self.message_key = message_key
            self.original = original or {}
        self.reasons = reasons
        self.reason_code = reasons[0]["code"]
        self.narrative = reasons[0].get("narrative")
        self.rejected_at_step = step
        self.checks = checks or []
        self.tx_sts = TxSts.RJCT

    @event("Accepted")
    def accept(self, checks: list[dict[str, Any]]) -> None:
        self.check_status(TxSts.ACTC, "accept")
        self.checks = checks
        self.tx_sts = TxSts.ACSP

    @event("Released")
    def release(self, report_key: str, report_sha256: str, report_msg_id: str) -> None:
        self.check_releasable()
        self.report_key = report_key
        self.report_sha256 = report_sha256
        self.report_msg_id = report_msg_id
        if self.tx_sts is TxSts.ACSP:
            self.tx_sts = TxSts.ACSC

    @event("SubmissionRefused")
    def refuse_submission(self, sha256: str, reason: str) -> None:
        """Record, for the audit trail, a second message that was not processed."""
        self.refused_submissions.append(sha256)

    # -- invariants --------------------------------------------------------------------

    def check_status(self, expected: TxSts, action: str) -> None:
        if self.tx_sts is not expected:
            raise IllegalTransition(f"cannot {action} a payment in status {self.tx_sts.value}")

    def check_not_decided(self, action: str) -> None:
        if self.is_decided:
            raise IllegalTransition(f"cannot {action} a payment in status {self.tx_sts.value}")

    @staticmethod
    def check_has_reasons(reasons: list[dict[str, str]]) -> None:
        if not reasons or not all(r.get("code") for r in reasons):
            raise PaymentError("a rejection needs at least one reason code")

    def check_releasable(self) -> None:
        if self.is_released:
            raise IllegalTransition("the status report is already released")
        if self.tx_sts not in (TxSts.ACSP, TxSts.RJCT):
            raise IllegalTransition(f"cannot release a payment in status {self.tx_sts.value}")
