"""GET /uuid (POST /transactions): issue a transaction id, recorded as ACCP; its SLA
deadline is scheduled (chalicelib/pipeline/timeouts.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.domain import Payment
from chalicelib.pipeline.intake import PAYMENT_MESSAGE_TYPES, family_of
from chalicelib.pipeline.payments import Payments


@dataclass(frozen=True)
class IssueTransaction:
    payments: Payments
    region_id: str
    schedule_deadline: Callable[[Payment], None] = lambda _: None

    def __call__(self, message_type: str | None, request_id: str, owner: str) -> Payment:
        family = family_of(message_type, "pacs.008", PAYMENT_MESSAGE_TYPES)
        payment = self.payments.initiate(family, self.region_id, request_id, owner)
        self.schedule_deadline(payment)
        return payment
