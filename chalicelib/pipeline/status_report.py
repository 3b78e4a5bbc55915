"""POST /outbox: the released pacs.002, or the camt.029 / pacs.004 answering a cancellation
(X-Message-Type), byte for byte as archived; ReportNotReady while there is none."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from chalicelib.eventstore.chain import current_actor
from chalicelib.pipeline.errors import ReportNotReady
from chalicelib.pipeline.intake import REPORT_MESSAGE_TYPES, family_of
from chalicelib.pipeline.payments import Payments
from chalicelib.pipeline.ports import Archive, ReportRetrieved, RetrievalLog


@dataclass(frozen=True)
class StatusReport:
    payments: Payments
    archive: Archive
    retrievals: RetrievalLog | None = None  # ReportRetrieved: who fetched it (audit)

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
        report = self.archive.get(key)
        if self.retrievals is not None:  # recorded before the answer: no fetch goes unrecorded
            actor = current_actor()
            self.retrievals.retrieved(
                ReportRetrieved(
                    transaction_id=str(transaction_id),
                    client_id=owner,
                    message_type=kind,
                    archive_key=key,
                    sha256=hashlib.sha256(report).hexdigest(),
                    request_id=actor.request_id,
                    region=actor.region,
                    retrieved_at=datetime.now(UTC).isoformat(timespec="microseconds"),
                )
            )
        return report
