"""POST /status-requests: a pacs.028 answered with a pacs.002 of the payment's state now."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from chalicelib import iso20022
from chalicelib.pipeline import reports
from chalicelib.pipeline.errors import InvalidStatusRequest
from chalicelib.pipeline.intake import check_body
from chalicelib.pipeline.payments import Payments

# The owner's transaction a status request names (the view's lookups by UETR/EndToEndId).
Finder = Callable[[str, iso20022.StatusRequest], str]


@dataclass(frozen=True)
class AnswerStatusRequest:
    payments: Payments
    find: Finder
    max_message_bytes: int

    def __call__(self, body: bytes, owner: str) -> bytes:
        check_body(body, self.max_message_bytes)
        try:
            request = iso20022.read_message(body, expect="pacs.028")
        except iso20022.MessageRejected as r:
            raise InvalidStatusRequest(f"{r.reason_code}: {r.narrative}") from None
        if not isinstance(request, iso20022.StatusRequest) or not request.transactions:
            raise InvalidStatusRequest("the pacs.028 names no transaction")
        payment = self.payments.get_payment(UUID(self.find(owner, request)), owner)
        return reports.pacs002_now(payment, request.msg_id)
