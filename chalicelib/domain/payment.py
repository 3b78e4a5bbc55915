"""The payment aggregate: one per transaction id, one event per step of its life.

    ACCP Initiated -> ACTC Received -> ACSP Accepted -> ACSC Released -> Returned (pacs.004)
                  \\-> RJCT Rejected ---------------> (RJCT) Released
    before release, a cancellation request -> CANC Cancelled -> (CANC) Released
    not released within its SLA (ACCP, ACTC or ACSP) -> RJCT TimedOut -> (RJCT) Released

Each command method *is* the event it records (eventsourcing's `@event`); invariants are
small `check_*` methods that raise named errors before anything is recorded. The pipeline
retries steps (SQS redelivers), so the aggregate also answers "is this step already
recorded?" — a retried step is recognised by the caller, never recorded twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any, cast

from eventsourcing.domain import Aggregate, event
from eventsourcing.domain import Snapshot as AggregateSnapshot

from chalicelib.domain.models import CancellationCase, CreditTransfer, Original, Reason, TxOutcome, Verdict


class TxSts(str, Enum):  # noqa: UP042  (str() of a StrEnum member differs; stored and compared as str)
    """ISO 20022 ExternalPaymentTransactionStatus1Code values a payment passes through."""

    ACCP = "ACCP"  # AcceptedCustomerProfile: transaction id issued, nothing received yet
    ACTC = "ACTC"  # AcceptedTechnicalValidation: archived, schema-valid
    ACSP = "ACSP"  # AcceptedSettlementInProcess: business checks passed
    ACSC = "ACSC"  # AcceptedSettlementCompleted: status report released
    RJCT = "RJCT"  # Rejected, with a reason code
    CANC = "CANC"  # Cancelled at the sender's request before it was released


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
        self.credit_transfer: CreditTransfer | None = None
        self.original = Original()
        self.reasons: tuple[Reason, ...] = ()
        self.reason_code: str | None = None
        self.narrative: str | None = None
        self.rejected_at_step: str | None = None
        self.checks: tuple[Verdict, ...] = ()
        self.transactions: tuple[TxOutcome, ...] = ()  # each transaction's decision
        self.report_key: str | None = None
        self.report_sha256: str | None = None
        self.report_msg_id: str | None = None
        self.refused_submissions: list[str] = []
        self.cancellations: dict[str, CancellationCase] = {}  # by case id
        self.return_key: str | None = None
        self.timed_out_at: str | None = None  # the status the payment was stopped at by its SLA
        # multi-Region (docs/multi-region.md): the Region that runs the steps, and what /inbox took
        self.home_region = region_id
        self.submitted_sha256: str | None = None
        self.submitted_key: str | None = None
        self.redrives: list[str] = []  # redrive ids recorded (one Redriven per id)

    # -- questions the pipeline asks before it retries a step -------------------------

    @property
    def is_received(self) -> bool:
        return self.message_sha256 is not None

    @property
    def is_decided(self) -> bool:
        return self.tx_sts in (TxSts.ACSP, TxSts.RJCT, TxSts.ACSC, TxSts.CANC)

    @property
    def is_timed_out(self) -> bool:
        return self.timed_out_at is not None

    @property
    def frees_liquidity(self) -> bool:
        """Cancelled or timed out: whatever its transactions reserved is given back."""
        return self.tx_sts is TxSts.CANC or self.is_timed_out

    @property
    def can_time_out(self) -> bool:
        return not self.is_released and self.tx_sts not in (TxSts.RJCT, TxSts.CANC)

    @property
    def is_returned(self) -> bool:
        return self.return_key is not None

    def cancellation_outcome(self, return_reasons: frozenset[str], reason_code: str) -> tuple[str, str | None, str]:
        """What a cancellation request gets now: (resolution, rejection code, narrative).

        Before release the payment is cancelled (CNCL). After release (ACSC) it is returned
        with a pacs.004 when the reason is one the operator returns for (RTRN), otherwise
        the request is refused (RJCR CUST: the beneficiary's bank keeps the funds).
        """
        if self.tx_sts is TxSts.CANC:
            return "RJCR", "NARR", "the payment is already cancelled"
        if self.is_returned:
            return "RJCR", "ARDT", "the payment is already returned"
        if self.tx_sts is TxSts.RJCT:
            return "RJCR", "NARR", "the payment was rejected; there is nothing to cancel"
        if not self.is_released:
            return "CNCL", None, "cancelled before release"
        if reason_code in return_reasons:
            return "RTRN", None, "returned after release (pacs.004)"
        return "RJCR", "CUST", "settled; the cancellation reason does not allow a return"

    @property
    def is_released(self) -> bool:
        return self.report_key is not None

    @property
    def is_submitted(self) -> bool:
        return self.submitted_sha256 is not None

    def has_submitted(self, sha256: str) -> bool:
        """True when /inbox already recorded this very message; MessageMismatch for another."""
        if self.submitted_sha256 is None:
            return False
        if self.submitted_sha256 != sha256:
            raise MessageMismatch("the transaction already has a different message")
        return True

    def has_received(self, sha256: str) -> bool:
        """True when this very message is already recorded; MessageMismatch for another."""
        if self.message_sha256 is None:
            return False
        if self.message_sha256 != sha256:
            raise MessageMismatch("the transaction already has a different message")
        return True

    # -- events whose stored shape changed: upcast what earlier versions recorded --------

    class Received(Aggregate.Event):
        """v2: the credit transfer is a typed CreditTransfer (v1: a dict repeating its first
        transaction's fields at the top)."""

        sha256: str
        message_key: str
        credit_transfer: CreditTransfer
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["credit_transfer"] = CreditTransfer.from_stored(state["credit_transfer"])

    class Rejected(Aggregate.Event):
        """v2: reasons, verdicts, outcomes and the refused message's identifiers are typed."""

        reasons: Sequence[Reason]
        step: str
        sha256: str | None
        message_key: str | None
        original: Original | None
        checks: Sequence[Verdict]
        transactions: Sequence[TxOutcome]
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["reasons"] = [Reason.from_dict(r) for r in state["reasons"]]
            state["original"] = Original.from_dict(state.get("original") or {})
            _upcast_decision(state)

    class Accepted(Aggregate.Event):
        """v2: verdicts and outcomes are typed."""

        checks: Sequence[Verdict]
        transactions: Sequence[TxOutcome]
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            _upcast_decision(state)

    class Snapshot(AggregateSnapshot):
        """The payment's state as one stored event, for a queue message that carries it to
        the next step (`Payments.seal`). JSON keeps the `TxSts` member as a plain str and a
        tuple as a list; both are restored here, or `tx_sts is TxSts.ACCP` would be False."""

        def mutate(self, _: None) -> Payment:
            payment = cast(Payment, super().mutate(None))
            payment.tx_sts = TxSts(payment.tx_sts)
            payment.reasons, payment.checks = tuple(payment.reasons), tuple(payment.checks)
            payment.transactions = tuple(payment.transactions)
            return payment

    # -- commands: each records the event it is named after --------------------------

    @event(Received)
    def receive(self, sha256: str, message_key: str, credit_transfer: CreditTransfer) -> None:
        self.check_status(TxSts.ACCP, "receive")
        self.message_sha256 = sha256
        self.message_key = message_key
        self.credit_transfer = credit_transfer
        self.tx_sts = TxSts.ACTC

    @event(Rejected)
    def reject(
        self,
        reasons: Sequence[Reason],
        step: str,
        sha256: str | None = None,
        message_key: str | None = None,
        original: Original | None = None,
        checks: Sequence[Verdict] = (),
        transactions: Sequence[TxOutcome] = (),
    ) -> None:
        """`reasons`: every StsRsnInf (ISO ExternalStatusReason1Code), the first decisive.
        `original`: what could be read of a refused message (e.g. its MsgId), for the report.
        `checks`: every business check's verdict, passed or not, for the audit trail."""
        self.check_not_decided("reject")
        self.check_has_reasons(reasons)
        if sha256 is not None:
            self.check_status(TxSts.ACCP, "reject an inbound message")
            self.message_sha256 = sha256
            self.message_key = message_key
            self.original = original or Original()
        self.reasons = tuple(reasons)
        self.reason_code = reasons[0].code
        self.narrative = reasons[0].narrative
        self.rejected_at_step = step
        self.checks = tuple(checks)
        self.transactions = tuple(transactions)
        self.tx_sts = TxSts.RJCT

    @event(Accepted)
    def accept(self, checks: Sequence[Verdict], transactions: Sequence[TxOutcome] = ()) -> None:
        """`transactions`: each transaction's outcome; some may be rejected (group status PART)."""
        self.check_status(TxSts.ACTC, "accept")
        self.checks = tuple(checks)
        self.transactions = tuple(transactions)
        self.tx_sts = TxSts.ACSP

    @event("Released")
    def release(self, report_key: str, report_sha256: str, report_msg_id: str) -> None:
        self.check_releasable()
        self.report_key = report_key
        self.report_sha256 = report_sha256
        self.report_msg_id = report_msg_id
        if self.tx_sts is TxSts.ACSP:
            self.tx_sts = TxSts.ACSC

    @event("Cancelled")
    def cancel(self, case_id: str, reason_code: str, answer_key: str, request_sha256: str | None = None) -> None:
        self.check_cancellable()
        self.tx_sts = TxSts.CANC
        self.cancellations[case_id] = CancellationCase(answer_key, "CNCL", request_sha256)

    @event("Returned")
    def record_return(
        self, case_id: str, reason_code: str, answer_key: str, return_key: str, request_sha256: str | None = None
    ) -> None:
        self.check_returnable()
        self.return_key = return_key
        self.cancellations[case_id] = CancellationCase(answer_key, "CNCL", request_sha256)

    @event("CancellationRefused")
    def refuse_cancellation(
        self, case_id: str, reason_code: str, rejection_code: str, answer_key: str, request_sha256: str | None = None
    ) -> None:
        self.cancellations[case_id] = CancellationCase(answer_key, "RJCR", request_sha256)

    @event("TimedOut")
    def time_out(self, reason_code: str, narrative: str, deadline: str) -> None:
        """Not released within its SLA (`deadline`, ISO 8601): rejected with `reason_code`
        (chalicelib/pipeline/timeouts.py says which), then released as any rejection.
        Every transaction still undecided or accepted is rejected with it; one already
        rejected keeps its own reasons (the rules' CH20 says more than the timeout)."""
        self.check_can_time_out()
        reason = Reason(reason_code, narrative)
        self.timed_out_at = self.tx_sts.value
        self.reasons = (reason,)
        self.reason_code = reason_code
        self.narrative = narrative
        self.rejected_at_step = "timeout"
        self.transactions = tuple(
            o if o.status == TxSts.RJCT.value else TxOutcome("RJCT", (reason,), o.reserved) for o in self.transactions
        )
        self.tx_sts = TxSts.RJCT

    @event("Submitted")
    def submit(self, sha256: str, message_key: str) -> None:
        """/inbox took and archived this message (before queueing it): a fact that survives
        the loss of the queue message with its Region."""
        self.check_status(TxSts.ACCP, "submit a message to")
        self.submitted_sha256 = sha256
        self.submitted_key = message_key

    @event("TakenOver")
    def take_over(self, by: str, from_region: str, reason: str) -> None:
        """Region `by` runs this payment's steps from now on (its home failed over)."""
        self.home_region = by

    @event("Redriven")
    def redrive(self, redrive_id: str, who: str, why: str, from_step: str) -> None:
        """An operator (or the DLQ redrive) re-sent the step the recorded state calls for."""
        self.redrives.append(redrive_id)

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
    def check_has_reasons(reasons: Sequence[Reason]) -> None:
        if not reasons or not all(r.code for r in reasons):
            raise PaymentError("a rejection needs at least one reason code")

    def check_cancellable(self) -> None:
        if self.is_released or self.tx_sts in (TxSts.RJCT, TxSts.CANC):
            raise IllegalTransition(f"cannot cancel a payment in status {self.tx_sts.value}")

    def check_can_time_out(self) -> None:
        if not self.can_time_out:
            raise IllegalTransition(f"cannot time out a payment in status {self.tx_sts.value}")

    def check_returnable(self) -> None:
        if self.tx_sts is not TxSts.ACSC or self.is_returned:
            raise IllegalTransition("only a settled payment that is not yet returned can be returned")

    def check_releasable(self) -> None:
        if self.is_released:
            raise IllegalTransition("the status report is already released")
        if self.tx_sts not in (TxSts.ACSP, TxSts.RJCT, TxSts.CANC):
            raise IllegalTransition(f"cannot release a payment in status {self.tx_sts.value}")


def event_class(name: str) -> type:
    """The Payment event class `name`. Most are made by eventsourcing's `@event("Name")` when
    the class is created, so a type checker cannot see `Payment.Released`; a name that is not
    an event class of Payment fails here, at import of the module that asks."""
    found = getattr(Payment, name, None)
    if not (isinstance(found, type) and issubclass(found, Payment.Event)):
        raise TypeError(f"Payment has no event class {name}")
    return found


def is_payment_stream(events: Sequence[object]) -> bool:
    """Whether `events`, read from one stream of the events table, are a Payment's (a stream
    holds one aggregate's events: its first tells). The table holds other aggregates too, each
    Region's failover decisions (chalicelib/domain/region.py): whatever reads payments from it
    (the view's follower, `recover view`, `Payments.history`) skips those streams by this."""
    return bool(events) and isinstance(events[0], Payment.Event)


def _upcast_decision(state: dict[str, Any]) -> None:
    """v1 verdicts and per-transaction outcomes were dicts."""
    state["checks"] = [Verdict.from_stored(v) for v in state.get("checks") or ()]
    state["transactions"] = [TxOutcome.from_dict(t) for t in state.get("transactions") or ()]
