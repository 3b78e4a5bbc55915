"""POST /inbox: take a pacs.008 for a transaction and queue it for the incoming step.

The message is archived first (content-addressed), then recorded on the payment
(`Submitted`: the fact survives the loss of the queue message with its Region), then
queued; the queue's deduplication id is its hash, so a retried POST queues nothing new.
The queue message carries the message (when small) and the payment as just saved
(`Payments.seal`), so the incoming step reads neither: it decides on that payment, and
reads it only if its save conflicts (it was stale). The same message again is answered
as taken; a different message for a transaction that has one is refused (409). The
payment's SLA deadline was scheduled by `/uuid`; if that message is lost, the sweep times
the payment out (chalicelib/pipeline/timeouts.py). A camt.056 posted to /inbox is a
cancellation request (chalicelib/pipeline/cancel.py).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import NamedTuple
from uuid import UUID

from chalicelib.adapters.s3 import sha256
from chalicelib.domain import Payment, TxSts
from chalicelib.pipeline.cancel import SubmitCancellation
from chalicelib.pipeline.consistency import inbound_key
from chalicelib.pipeline.intake import PAYMENT_MESSAGE_TYPES, check_body, family_of
from chalicelib.pipeline.payments import Payments
from chalicelib.pipeline.ports import Archive, StepQueue
from chalicelib.pipeline.unit_of_work import UnitOfWork

INLINE_MESSAGE_BYTES = 180 * 1024  # base64 of it stays under SQS's 256 KiB message limit
SQS_MESSAGE_BYTES = 256 * 1024  # the payment is left out of a message it would take over


class Taken(NamedTuple):
    """What /inbox recorded, as saved, and the archive objects the write stands for: what a
    strong answer confirms in every peer (the message; for a camt.056 also its case's camt.029
    and pacs.004, which a peer's /outbox serves: `Answered.archive_keys`, as the cancel route)."""

    payment: Payment
    archive_keys: tuple[str, ...]


@dataclass(frozen=True)
class Submit:
    payments: Payments
    archive: Archive
    incoming: StepQueue
    cancellation: SubmitCancellation
    max_message_bytes: int
    region_id: str = ""  # only the payment's home Region takes its message (NotHomeRegion)

    def __call__(self, transaction_id: UUID, message_type: str | None, body: bytes, owner: str) -> Taken:
        message = inbound_key(body)  # where the message is archived (content-addressed)
        if family_of(message_type, "pacs.008", PAYMENT_MESSAGE_TYPES) == "camt.056":
            answered = self.cancellation(transaction_id, body, owner)
            return Taken(answered.payment, (message, *answered.archive_keys))
        return Taken(self._payment(transaction_id, body, owner), (message,))

    def _payment(self, transaction_id: UUID, body: bytes, owner: str) -> Payment:
        check_body(body, self.max_message_bytes)
        payment = self.payments.get_payment(transaction_id, owner)
        if payment.has_received(sha256(body)):  # MessageMismatch for a different one
            return payment  # the same message again: already taken, nothing to do
        key, digest = self.archive.put("inbound", body)

        def submitted(p: Payment) -> bool:  # recorded before queueing: the queue is no fact
            if p.tx_sts is not TxSts.ACCP or p.has_submitted(digest):  # MessageMismatch for another
                return False
            p.submit(sha256=digest, message_key=key)
            return True

        uow = UnitOfWork(self.payments, region_id=self.region_id)
        payment, _ = uow.record(transaction_id, submitted, owner=owner, payment=payment)
        step = {"transaction_id": str(transaction_id), "sha256": digest, "key": key}
        if len(body) <= INLINE_MESSAGE_BYTES:  # carried in the queue message: no S3 read in the step
            step["message"] = base64.b64encode(body).decode("ascii")
        carried = {**step, "payment": self.payments.seal(payment)}  # as saved: no read in the step
        self.incoming.send(str(transaction_id), "incoming", carried if fits(carried) else step, dedup=digest)
        return payment


def fits(body: dict[str, str]) -> bool:
    """Whether `body` fits an SQS message, measured as `json.dumps` writes it by default: with
    spaces, so never shorter than the adapter's compact form of these ASCII strings."""
    return len(json.dumps(body).encode()) <= SQS_MESSAGE_BYTES
