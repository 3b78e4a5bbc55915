"""POST /outbox: the released pacs.002, or the camt.029 / pacs.004 answering a cancellation
(X-Message-Type), byte for byte as archived; ReportNotReady while there is none."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from chalicelib.pipeline.errors import ReportNotReady
from chalicelib.pipeline.intake import REPORT_MESSAGE_TYPES, family_of
from chalicelib.pipeline.payments import Payments
from chalicelib.pipeline.ports import Archive


@dataclass(frozen=True)
class StatusReport:
    payments: Payments
    archive: Archive

    def __call__(self, transaction_id: UUID, owner: str, message_type: str | None = None) -> bytes:
        payment = self.payments.get_payment(transaction_id, owner)
        kind = family_of(message_type, "pacs.002", REPORT_MESSAGE_TYPES)
        if kind == "camt.029":
            answers = list(payment.cancellations.values())
            key = answers[-1].answer_key if answers else None
        elif kind == "pacs.004":
            key = payment.return_key
        else:
            key = payment.report_key
        if key is None:
            raise ReportNotReady(payment.tx_sts.value)
        return self.archive.get(key)
