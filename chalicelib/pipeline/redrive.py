"""Redrive: re-run a payment from its last recorded step (docs/multi-region.md §6).

`POST /transactions/{id}/redrive` (admin), `python -m chalicelib.cli redrive TX` and the DLQ
redrive record `Redriven(who, why, from_step)` once per redrive id (the client's
`Idempotency-Key` namespaced by the tenant, the same in every Region; else the API's request id; the dead-letter
message's id: a retried request or a re-run CLI records nothing twice), then send
the step message the recorded state calls for. Re-sending is safe: each step recognises work
that is already recorded, and a released payment gets nothing.

A request's redrive id recorded with another reason is not a retry (the same Idempotency-Key
reused for another request): `IdempotencyKeyReused`, nothing sent. The reason is the request's
fingerprint, compared with what the recorded `Redriven` holds, read only then (a retry is
rare), so the payment keeps no state for it. A dead-letter message's id is not checked: moving
the same message again after an interrupted run is a retry whatever `--reason` it is given.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from chalicelib.domain import Payment, TxSts, event_class
from chalicelib.domain.models import Reason
from chalicelib.pipeline.errors import IdempotencyKeyReused
from chalicelib.pipeline.messages import next_step
from chalicelib.pipeline.ports import Archive, StepQueue
from chalicelib.pipeline.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

_REDRIVEN: Any = event_class("Redriven")  # made by @event: a type checker knows none of its fields

MESSAGE_LOST = Reason("NARR", "message not available after Region failover; resend under a new transaction id")


def step_to_run(payment: Payment) -> str | None:
    """The step the recorded state calls for: None when there is nothing to run (released,
    or only Initiated: its SLA deadline rejects it)."""
    if payment.is_released:
        return None
    if payment.is_decided:
        return "releasing"
    if payment.tx_sts is TxSts.ACTC:
        return "processing"
    if payment.is_submitted:
        return "incoming"
    return None


def _hashed(base: str, extra: str) -> str:
    """A deduplication id part within SQS's 128 characters (the queue adds id and step)."""
    return hashlib.sha256(f"{base}:{extra}".encode()).hexdigest() if extra else base


@dataclass(frozen=True)
class Dispatch:
    """Send the step the payment's recorded state calls for (no event recorded)."""

    archive: Archive
    incoming: StepQueue
    processing: StepQueue
    releasing: StepQueue

    def message_available(self, payment: Payment) -> bool:
        """Whether the archive (this Region's replica) has the submitted message. Only a
        missing object says no; a transient failure raises, and the takeover is run again
        (the controller repeats it), rather than rejecting a payment whose message exists."""
        available = bool(payment.submitted_key) and self.archive.exists(payment.submitted_key or "")
        if not available:
            log.warning("archived message not available", extra={"transaction_id": str(payment.id)})
        return available

    def __call__(self, payment: Payment, dedup: str = "") -> str | None:
        """`dedup`: a redrive's own deduplication id. SQS FIFO drops a message whose
        deduplication id was sent in the last five minutes, so a redrive soon after the
        original send would otherwise be silently dropped."""
        step = step_to_run(payment)
        tx = str(payment.id)
        if step == "incoming":
            body = {"transaction_id": tx, "sha256": payment.submitted_sha256, "key": payment.submitted_key}
            self.incoming.send(tx, "incoming", body, dedup=_hashed(payment.submitted_sha256 or "", dedup))
        elif step is not None:
            queue = self.processing if step == "processing" else self.releasing
            queue.send(tx, step, next_step(payment.id), dedup=dedup)
        return step


@dataclass(frozen=True)
class Redriven:
    """Record `Redriven` once per `redrive_id` (at the payment's home only)."""

    uow: UnitOfWork

    def record(
        self, transaction_id: UUID, redrive_id: str, who: str, why: str, from_step: str | None = None
    ) -> tuple[Payment, bool]:
        """The payment, and whether this call recorded the redrive (False: it was already recorded)."""

        def step(payment: Payment) -> bool:
            if redrive_id in payment.redrives:
                return False
            payment.redrive(
                redrive_id=redrive_id, who=who, why=why, from_step=from_step or step_to_run(payment) or "none"
            )
            return True

        return self.uow.record(transaction_id, step)

    def check_retry(self, transaction_id: UUID, redrive_id: str, why: str) -> None:
        """IdempotencyKeyReused unless the recorded redrive `redrive_id` has the reason `why`."""
        redrives = {e.redrive_id: e.why for e in self.uow.payments.history(transaction_id) if isinstance(e, _REDRIVEN)}
        if redrives.get(redrive_id, why) != why:
            raise IdempotencyKeyReused()


@dataclass(frozen=True)
class Redrive:
    uow: UnitOfWork
    dispatch: Dispatch

    def __call__(self, transaction_id: UUID, redrive_id: str, who: str, why: str) -> str | None:
        """Record the redrive (once per `redrive_id`) and send its step; the step sent, if any."""
        redriven = Redriven(self.uow)
        payment, recorded = redriven.record(transaction_id, redrive_id, who, why)
        if not recorded:  # a retry of the same request, or the same key reused for another one
            redriven.check_retry(transaction_id, redrive_id, why)
        return self.dispatch(payment, dedup=_hashed("redrive", redrive_id))


def lost_message(payment: Payment) -> None:
    """A submitted message that cannot be read after a failover: a clean RJCT, never a guess."""
    payment.reject([MESSAGE_LOST], step="takeover")
