"""Cancellation (camt.056, POST /transactions/{id}/cancel) and return (pacs.004).

Before release a payment is cancelled (CANC; its report is then released and its
liquidity freed); after release it is returned with a pacs.004 when the reason is one the
operator returns for, otherwise the request is refused. Every case is answered with a
camt.029, archived before the event that names it, and recorded once per case id: a
repeated request gets the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from chalicelib import iso20022
from chalicelib.domain import Payment, TxSts
from chalicelib.pipeline import reports
from chalicelib.pipeline.errors import CancellationDoesNotMatch, InvalidCancellationRequest, NothingToCancel
from chalicelib.pipeline.intake import check_body
from chalicelib.pipeline.liquidity import Liquidity
from chalicelib.pipeline.messages import next_step
from chalicelib.pipeline.payments import Payments
from chalicelib.pipeline.ports import Archive, DeadlineQueue, StepQueue
from chalicelib.pipeline.unit_of_work import UnitOfWork

RETURN_REASONS = frozenset({"DUPL", "FRAD", "TECH"})  # cancellation reasons answered with a return
# The return's check on the deadlines queue (MendReturn): after the request has normally freed
# the liquidity itself, long before any Lambda timeout ends a request that died.
MEND_RETURN_DELAY_S = 120


@dataclass(frozen=True)
class Answered:
    """A case's answer: the route serves this case's camt.029, not the newest case's (a retried
    case gets its own answer), and a strong request confirms its archive objects in the peers."""

    case_id: str
    resolution: str  # CNCL or RJCR
    answer_key: str  # the camt.029
    return_key: str | None  # the pacs.004, when this case returned the payment
    payment: Payment = field(compare=False, repr=False)  # as recorded: what a strong answer confirms

    @property
    def archive_keys(self) -> tuple[str, ...]:
        """What a client may fetch at /outbox for this case, in any Region that reads the event."""
        return (self.answer_key,) if self.return_key is None else (self.answer_key, self.return_key)


@dataclass(frozen=True)
class Cancel:
    uow: UnitOfWork
    archive: Archive
    releasing: StepQueue
    liquidity: Liquidity
    deadlines: DeadlineQueue  # a return's check that its liquidity was given back (MendReturn)

    def __call__(
        self,
        transaction_id: UUID,
        owner: str,
        reason_code: str,
        request: iso20022.CancellationRequest | None = None,
        request_sha256: str | None = None,
        case_id: str | None = None,
    ) -> Answered:
        """Cancel, return or refuse; the case's answer. Idempotent per case id."""
        case = ""

        def answer(payment: Payment) -> bool:
            nonlocal case
            if payment.credit_transfer is None:  # no message read: none yet, or rejected unreadable (FF01)
                raise NothingToCancel()
            req = request or reports.synthetic_request(payment, reason_code, case_id)
            case = req.case_id or req.assignment_id
            if case in payment.cancellations:
                return False
            self._answer(payment, req, case, reason_code, request_sha256)
            return True

        payment, _ = self.uow.record(transaction_id, answer, owner=owner)
        self._consequences(payment)  # repeatable: a crash before them is mended by the retry
        answered = payment.cancellations[case]
        # after release, the one case answered CNCL is the return (any later case is refused ARDT)
        returned = payment.return_key if answered.resolution == "CNCL" else None
        return Answered(case, answered.resolution, answered.answer_key, returned, payment)

    def _answer(
        self,
        payment: Payment,
        request: iso20022.CancellationRequest,
        case: str,
        reason_code: str,
        request_sha256: str | None,
    ) -> None:
        resolution, rejection, narrative = payment.cancellation_outcome(RETURN_REASONS, reason_code)
        now = datetime.now(UTC)
        answer_key, _ = self.archive.put(
            "outbound", reports.camt029(payment, request, case, now, resolution, rejection, narrative)
        )
        if resolution == "CNCL":
            payment.cancel(case_id=case, reason_code=reason_code, answer_key=answer_key, request_sha256=request_sha256)
        elif resolution == "RTRN":
            # sent before `Returned` is saved: a request that dies after the save and before
            # `_consequences` frees nothing, and no retry may come (a step repeated on a
            # conflict sends it again: the check is idempotent)
            self.deadlines.send_later(mend_return(payment.id), MEND_RETURN_DELAY_S)
            return_key, _ = self.archive.put("outbound", reports.pacs004(payment, case, now))
            payment.record_return(
                case_id=case,
                reason_code=reason_code,
                answer_key=answer_key,
                return_key=return_key,
                request_sha256=request_sha256,
            )
        else:
            payment.refuse_cancellation(
                case_id=case,
                reason_code=reason_code,
                rejection_code=rejection or "NARR",
                answer_key=answer_key,
                request_sha256=request_sha256,
            )

    def _consequences(self, payment: Payment) -> None:
        """A cancelled payment is released (its CANC report, its liquidity); a returned one
        gives its liquidity back."""
        if payment.tx_sts is TxSts.CANC and not payment.is_released:
            self.releasing.send(str(payment.id), "releasing", next_step(payment.id))
        if payment.is_returned:
            self.liquidity.free_payment(payment)


def mend_return(transaction_id: UUID) -> dict[str, str]:
    """The body of a return's check on the deadlines queue (DeadlineReached hands it to MendReturn)."""
    return {"transaction_id": str(transaction_id), "mend": "return"}


@dataclass(frozen=True)
class MendReturn:
    """A returned payment gives its liquidity back (idempotent): the check `Cancel` queues
    before it records a return, for a request that died between the two."""

    payments: Payments
    liquidity: Liquidity

    def __call__(self, transaction_id: UUID) -> None:
        payment = self.payments.get_payment(transaction_id)
        if payment.is_returned:
            self.liquidity.free_payment(payment)


@dataclass(frozen=True)
class SubmitCancellation:
    """POST /inbox with a camt.056: answered at once; the camt.029 is then at /outbox. Entries
    naming other transactions are answered RJCR NOOR (`reports.camt029`), never cancelled."""

    cancel: Cancel
    max_message_bytes: int

    def __call__(self, transaction_id: UUID, body: bytes, owner: str) -> Answered:
        check_body(body, self.max_message_bytes)
        try:
            request = iso20022.read_message(body, expect="camt.056")
        except iso20022.MessageRejected as r:
            raise InvalidCancellationRequest(f"{r.reason_code}: {r.narrative}") from None
        assert isinstance(request, iso20022.CancellationRequest)
        payment = self.cancel.uow.payments.get_payment(transaction_id, owner)
        ours = [t for t in request.transactions if reports.names(t, payment)]
        if not ours:
            raise CancellationDoesNotMatch()
        # the reason of an entry naming this payment (another entry's is not its own)
        reason = next((t.reason_code for t in ours if t.reason_code), None) or "CUST"
        _, digest = self.cancel.archive.put("inbound", body)  # content-addressed: the event's hash finds it
        return self.cancel(transaction_id, owner, reason, request=request, request_sha256=digest)
