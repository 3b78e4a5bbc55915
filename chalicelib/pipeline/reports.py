"""The ISO 20022 messages pacsflow sends, assembled from a payment's recorded state.

Every builder is deterministic in the payment (ids derive from the transaction id and the
case, times from the events), so a retried step archives the very same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from uuid import UUID

from chalicelib import iso20022
from chalicelib.domain import Payment, TxSts
from chalicelib.domain.models import Reason, same_identifier


def answer_id(prefix: str, transaction_id: UUID, case_id: str) -> str:
    """A stable Max35Text id for an answer to one case (retries rebuild the same)."""
    return f"{prefix}{hashlib.sha256(f'{transaction_id}|{case_id}'.encode()).hexdigest()}"[:35]


def report_msg_id(transaction_id: UUID) -> str:
    """The pacs.002 MsgId: stable per transaction (Max35Text)."""
    return f"PF{transaction_id.hex}"[:35]


def released_status(payment_status: TxSts, tx_status: TxSts, settled: bool = True) -> str:
    """What a report says of a transaction: accepted ones are settled (ACSC) once released
    (`settled`), in process (ACSP) before; a cancelled payment's are cancelled; rejected ones
    stay rejected (with their own reasons), in a cancelled payment too."""
    if payment_status is TxSts.CANC and tx_status is not TxSts.RJCT:
        return TxSts.CANC.value
    return TxSts.ACSC.value if tx_status is TxSts.ACSP and settled else tx_status.value


def _reasons(reasons: tuple[Reason, ...]) -> list[iso20022.StatusReason]:
    return [iso20022.StatusReason(r.code, r.narrative) for r in reasons]


def pacs002_released(payment: Payment) -> bytes:
    """The pacs.002 of a decided payment: a status per transaction (group status ACSC, PART
    or RJCT follows) for a multi-transaction message, else one status."""
    return _pacs002_of(payment, report_msg_id(payment.id), payment.modified_on, settled=True)


def pacs002_now(payment: Payment, status_request_msg_id: str) -> bytes:
    """A pacs.002 of the payment's current state, answering a pacs.028 (never archived:
    a snapshot of a moment; the events are the record): each transaction's own status, as
    the released report gives them, its accepted ones settled only once released."""
    msg_id = answer_id("PFS", payment.id, status_request_msg_id)
    return _pacs002_of(payment, msg_id, datetime.now(UTC), settled=payment.is_released)


def _pacs002_of(payment: Payment, msg_id: str, created_at: datetime, settled: bool) -> bytes:
    if len(payment.transactions) > 1:
        return iso20022.build_pacs002(
            payment.credit_transfer,
            msg_id=msg_id,
            created_at=created_at,
            tx_statuses=[
                iso20022.TxStatus(
                    status=released_status(payment.tx_sts, TxSts(o.status), settled),
                    reasons=tuple(_reasons(o.reasons)),
                )
                for o in payment.transactions
            ],
        )
    return _pacs002(payment, released_status(payment.tx_sts, payment.tx_sts, settled), msg_id, created_at)


def _pacs002(payment: Payment, status: str, msg_id: str, created_at: datetime) -> bytes:
    return iso20022.build_pacs002(
        payment.credit_transfer,
        msg_id=msg_id,
        created_at=created_at,
        tx_status=status,
        reasons=_reasons(payment.reasons),
        original_message_id_fallback=payment.original.msg_id or "NOTPROVIDED",
        original_message_name_fallback=payment.original.message_type or "pacs.008",
    )


def camt029(
    payment: Payment,
    request: iso20022.CancellationRequest,
    case: str,
    created_at: datetime,
    resolution: str,
    rejection: str | None,
    narrative: str,
) -> bytes:
    """The resolution of investigation answering a cancellation case (CNCL or RJCR) for each
    entry naming this payment (`names`). An entry of the same camt.056 naming another
    transaction is rejected NOOR (original transaction never received, by this payment): this
    answer cancels nothing of its, so it is not reported ACCR; the resolution is then PECR."""
    ours = iso20022.CancellationOutcome(
        "RJCR" if resolution == "RJCR" else "ACCR", rejection, narrative if rejection == "NARR" else None
    )
    other = iso20022.CancellationOutcome("RJCR", "NOOR", None)
    return iso20022.build_camt029(
        request,
        assignment_id=answer_id("PFC", payment.id, case),
        created_at=created_at,
        outcomes=[ours if names(entry, payment) else other for entry in request.transactions],
    )


def pacs004(payment: Payment, case: str, created_at: datetime) -> bytes:
    """The return of a settled payment (reason FOCR: following a cancellation request): of
    every transaction it settled (a rejected one of a PART payment settled nothing)."""
    ct = payment.credit_transfer
    assert ct is not None  # only a settled payment is returned
    if payment.transactions:  # each transaction's outcome, in the message's order
        settled = (
            t for t, o in zip(ct.transactions, payment.transactions, strict=True) if o.status == TxSts.ACSP.value
        )
        ct = dataclasses.replace(ct, transactions=tuple(settled))
    return iso20022.build_pacs004(
        ct,
        every_transaction=True,
        msg_id=answer_id("PFR", payment.id, case),
        return_id=answer_id("RTR", payment.id, case),
        created_at=created_at,
        settlement_date=created_at.date(),
        reason_code="FOCR",
    )


def names(entry: iso20022.CancelledTransaction, payment: Payment) -> bool:
    """Whether one camt.056 entry names this payment: every identifier it gives matches (its
    OrgnlMsgId the message's, its UETR and EndToEndId one same transaction's), so that an
    entry for another UETR is not taken for this payment because both share an EndToEndId
    such as NOTPROVIDED (as `find_for_status_request` answers a pacs.028). InstrId and TxId
    are point to point (each agent may reassign them): not compared. An entry with
    neither names the message by its OrgnlMsgId alone."""
    ct = payment.credit_transfer
    if ct is None:
        return False
    if entry.original_msg_id and entry.original_msg_id != ct.msg_id:
        return False
    ids = {"end_to_end_id": entry.original_end_to_end_id, "uetr": entry.original_uetr}
    given = {k: v for k, v in ids.items() if v}
    if not given:
        return bool(entry.original_msg_id)
    return any(all(same_identifier(k, getattr(t, k), v) for k, v in given.items()) for t in ct.transactions)


def synthetic_request(payment: Payment, reason_code: str, case_id: str | None) -> iso20022.CancellationRequest:
    """The camt.056 a POST /transactions/{id}/cancel stands for, so the answer is a camt.029."""
    ct = payment.credit_transfer
    assert ct is not None  # a payment with nothing received has nothing to cancel
    case = case_id or f"CXL{payment.id.hex}"[:35]
    first = ct.transactions[0] if ct.transactions else iso20022.Transaction()
    return iso20022.CancellationRequest(
        message_type="camt.056.001.09",
        assignment_id=case,
        creation_date_time=datetime.now(UTC).isoformat(),
        assigner=first.instructing_agent,
        assigner_scheme=first.instructing_agent_scheme,
        assignee=first.instructed_agent,
        assignee_scheme=first.instructed_agent_scheme,
        case_id=case,
        transactions=tuple(
            iso20022.CancelledTransaction(
                original_msg_id=ct.msg_id,
                original_msg_nm_id=ct.message_type,
                original_creation_date_time=ct.creation_date_time,
                original_instr_id=tx.instr_id,
                original_end_to_end_id=tx.end_to_end_id,
                original_tx_id=tx.tx_id,
                original_uetr=tx.uetr,
                original_amount=tx.amount,
                original_currency=tx.currency,
                original_settlement_date=tx.interbank_settlement_date,
                reason_code=reason_code,
            )
            for tx in ct.transactions[:1]
        ),
    )
