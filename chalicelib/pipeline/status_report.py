"""POST /outbox: the released pacs.002, or the camt.029 / pacs.004 answering a cancellation
(X-Message-Type), byte for byte as archived; ReportNotReady while there is none.

The pacs.002 is answered from the payment's events, with no S3 GET: the releasing step built
it with `reports.pacs002_released` from the payment as it was just before `Released`, a
function of that state alone, and `Released` records its sha256. So the one Query that reads
the payment also rebuilds the report, folded from the events strictly before `Released`
(a return, a refused cancellation or a takeover recorded later changes nothing of it), and
the rebuilt bytes are served only when their sha256 is the recorded one. Anything else (a
report written by an older builder, an upcast event) is fetched from the archive, as the
camt.029 (built from a camt.056 the events keep only the hash of) and the pacs.004 still are.
An archived report this Region does not hold yet (S3 replication lags the events) is a 503
NOT_YET_REPLICATED (ReportNotYetReplicated), not a 500: retrying is safe. Without peers
nothing copies objects in, and a missing one is lost: that stays a server error.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from chalicelib.domain import Payment, event_class
from chalicelib.eventstore.chain import current_actor
from chalicelib.pipeline import reports
from chalicelib.pipeline.errors import ReportNotReady, ReportNotYetReplicated
from chalicelib.pipeline.intake import REPORT_MESSAGE_TYPES, family_of
from chalicelib.pipeline.payments import Payments, replay
from chalicelib.pipeline.ports import Archive, MissingObject, ReportRetrieved, RetrievalLog

_RELEASED = event_class("Released")


# S3 replication copies most objects within seconds (without Replication Time Control there is
# no bound): a client asked to retry polls at this pace, the events are already here.
REPLICATION_RETRY_AFTER_S = 5


@dataclass(frozen=True)
class StatusReport:
    payments: Payments
    archive: Archive
    region_id: str  # this Region: the one a ReportNotYetReplicated names
    retrievals: RetrievalLog | None = None  # ReportRetrieved: who fetched it (audit)
    replicated: bool = False  # peers replicate their archives into this one (multi-Region)

    def __call__(
        self, transaction_id: UUID, owner: str, message_type: str | None = None, case_id: str | None = None
    ) -> bytes:
        """The report; a camt.029 of the case `case_id`, else of the newest case (/outbox names none)."""
        events = self.payments.history(transaction_id, owner)
        kind = family_of(message_type, "pacs.002", REPORT_MESSAGE_TYPES)
        payment, rebuilt = _replay(events, rebuild_report=kind == "pacs.002")
        if kind == "camt.029":
            if case_id is None:  # /outbox: the newest case's
                case = next(reversed(payment.cancellations.values()), None)
            else:
                case = payment.cancellations.get(case_id)
            key = case.answer_key if case else None
        elif kind == "pacs.004":
            key = payment.return_key
        else:
            key = payment.report_key
        if key is None:
            raise ReportNotReady(payment.tx_sts.value)
        report = rebuilt if rebuilt is not None else self._archived(key, transaction_id, kind)
        if self.retrievals is not None:  # recorded before the answer: no fetch goes unrecorded
            actor = current_actor()  # who asked: the authenticated client, not its tenant (the owner)
            self.retrievals.retrieved(
                ReportRetrieved(
                    transaction_id=str(transaction_id),
                    client_id=actor.client,
                    message_type=kind,
                    archive_key=key,
                    sha256=hashlib.sha256(report).hexdigest(),
                    request_id=actor.request_id,
                    region=actor.region,
                    retrieved_at=datetime.now(UTC).isoformat(timespec="microseconds"),
                )
            )
        return report

    def _archived(self, key: str, transaction_id: UUID, kind: str) -> bytes:
        try:
            return self.archive.get(key)
        except MissingObject:  # recorded in the Region that wrote it, not yet copied here
            if not self.replicated:
                raise  # a single Region's archive lost an object it wrote: a server error, not a wait
            raise ReportNotYetReplicated(self.region_id, str(transaction_id), kind, REPLICATION_RETRY_AFTER_S) from None


def _replay(events: list[Any], rebuild_report: bool) -> tuple[Payment, bytes | None]:
    """The payment, and (when asked and released) its pacs.002 rebuilt from the state just
    before `Released` if its sha256 is the one `Released` recorded, else None. The events are
    folded up to `Released`, the report built, then the rest folded (the fold mutates the
    aggregate in place, so the report is built before it goes on)."""
    cut = next((i for i, e in enumerate(events) if isinstance(e, _RELEASED)), len(events))
    payment: Payment = replay(None, events[:cut])
    rebuilt = None
    if rebuild_report and cut < len(events):
        rebuilt = reports.pacs002_released(payment)
        if hashlib.sha256(rebuilt).hexdigest() != events[cut].report_sha256:
            rebuilt = None  # another builder wrote the archived one: it is read from S3
    return replay(payment, events[cut:]), rebuilt
