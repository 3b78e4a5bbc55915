"""The incoming step: parse, validate and extract the archived message -> Received (ACTC),
or Rejected FF01 straight to release. A second, different message for a transaction that
has one is recorded as refused and goes no further.

The payment comes with the message, as /inbox saved it (`Payments.seal`), so the step
reads it only when its save conflicts: the payment moved on since (a timeout, a
cancellation, a takeover, a redelivery after the steps ran) and the step decides again on
what is recorded. What it finds already recorded on the carried state is recorded on the
newer state too (a step's facts are only ever added), so a stale payment never skips work.
Without it (an older message, a redrive, one that does not decode) the step reads first."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, replace
from typing import Any

from chalicelib import iso20022, observability
from chalicelib.adapters.s3 import sha256
from chalicelib.domain import MessageMismatch, Payment, TxSts
from chalicelib.domain.models import Original, Reason
from chalicelib.pipeline.handoff import Handoff
from chalicelib.pipeline.messages import StepMessage
from chalicelib.pipeline.ports import Archive
from chalicelib.pipeline.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class ArchiveMismatch(RuntimeError):
    """The message to process is not the one archived under its hash."""


@dataclass(frozen=True)
class Incoming:
    uow: UnitOfWork
    archive: Archive
    processing: Handoff
    releasing: Handoff  # a message rejected here (FF01) goes straight to release

    @observability.traced
    def __call__(self, msg: StepMessage) -> None:
        sha, key = msg.body["sha256"], msg.body["key"]
        if msg.payment is None and "payment" in msg.body:
            msg = replace(msg, payment=self.uow.payments.unseal(msg.body["payment"], msg.transaction_id))

        def step(payment: Payment) -> bool:
            if payment.is_decided and not payment.is_received:  # RJCT without it: the report stands
                if sha in payment.refused_submissions:
                    return False
                why = "timed out" if payment.is_timed_out else "was rejected"  # e.g. its message lost in a failover
                payment.refuse_submission(sha256=sha, reason=f"the payment {why} before its message was read")
                return True
            try:
                if payment.has_received(sha):
                    return False
            except MessageMismatch:
                if sha in payment.refused_submissions:
                    return False
                payment.refuse_submission(sha256=sha, reason="the transaction already has a different message")
                return True
            try:
                credit_transfer = iso20022.read_credit_transfer(self.message(msg.body))
            except iso20022.MessageRejected as r:
                payment.reject(
                    [Reason(r.reason_code, r.narrative)],
                    step="incoming",
                    sha256=sha,
                    message_key=key,
                    original=Original(r.msg_id, r.message_type),
                )
            else:
                payment.receive(sha256=sha, message_key=key, credit_transfer=credit_transfer)
            return True

        result = self.uow.step("incoming", msg, step)
        if result is None:
            return  # fenced: another Region runs it now
        payment, _ = result
        if payment.message_sha256 != sha:
            log.warning("refused a second message for a transaction", extra={"transaction_id": str(msg.transaction_id)})
            return
        rejected = payment.tx_sts is TxSts.RJCT and payment.rejected_at_step == "incoming"
        (self.releasing if rejected else self.processing)(msg, payment)

    def message(self, body: dict[str, Any]) -> bytes:
        """The archived message, from the queue message when it travelled there (checked
        against its hash: what is processed is exactly what was archived)."""
        raw = base64.b64decode(body["message"]) if "message" in body else self.archive.get(body["key"])
        if sha256(raw) != body["sha256"]:
            raise ArchiveMismatch("inbound message does not match its archived hash")
        return raw
