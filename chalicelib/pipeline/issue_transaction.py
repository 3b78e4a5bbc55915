"""GET /uuid (POST /transactions): issue a transaction id, recorded as ACCP; its SLA
deadline is scheduled (chalicelib/pipeline/timeouts.py).

`again`: a strong GET /uuid answered 503 NOT_YET_REPLICATED recorded an id; its retry names
that id (X-Transaction-Id) and is answered with it, issuing none (docs/multi-region.md §5).

A Region that a peer took over issues no id until an operator fails it back: it would settle
none of them (self-fencing), so the client is told to use a peer (409 REGION_TAKEN_OVER)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from chalicelib.domain import Payment
from chalicelib.pipeline.errors import RegionTakenOver, UnsupportedMessageType
from chalicelib.pipeline.intake import PAYMENT_MESSAGE_TYPES, family_of
from chalicelib.pipeline.payments import Payments


@dataclass(frozen=True)
class IssueTransaction:
    payments: Payments
    region_id: str
    schedule_deadline: Callable[[Payment], None] = lambda _: None
    taken_over: Callable[[], bool] = lambda: False  # this Region was taken over (until fail-back)

    def __call__(self, message_type: str | None, request_id: str, owner: str) -> Payment:
        family = family_of(message_type, "pacs.008", PAYMENT_MESSAGE_TYPES)
        if self.taken_over():  # its payments would never settle here: send the client to a peer
            raise RegionTakenOver(self.region_id)
        payment = self.payments.initiate(family, self.region_id, request_id, owner)
        self.schedule_deadline(payment)
        return payment

    def again(self, transaction_id: UUID, message_type: str | None, owner: str) -> Payment:
        """The owner's transaction `transaction_id`, issued earlier for this message type."""
        family = family_of(message_type, "pacs.008", PAYMENT_MESSAGE_TYPES)
        payment = self.payments.get_payment(transaction_id, owner)
        if payment.message_type != family:
            raise UnsupportedMessageType(f"transaction {transaction_id} was issued for {payment.message_type}")
        return payment
