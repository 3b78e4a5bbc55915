"""The releasing step: build and archive the pacs.002, record Released, notify subscribers.

A cancelled or timed-out payment's liquidity is freed here too (idempotent: the
cancellation or timeout may have died before doing it).

When to notify is decided from the recorded state alone: every delivery that finds the
payment released publishes its notification, whether this delivery recorded the release
or an earlier one did. The rule never loses a notification: a delivery that recorded the
release and died before publishing is redelivered, finds it released and publishes; so
does a delivery whose own save came back as a conflict (its retried write had landed),
or whose concurrent twin recorded first and then died. What it costs is a repeated
notification per repeated delivery, and those are rare (the queue deduplicates the step's
message on transaction id and step for five minutes; a redelivery follows a crash or a
timeout). Subscribers must deduplicate anyway, because SNS itself delivers at least once:
a notification is identified by transaction id and report_msg_id, both in the body.
Recording a `Notified` event instead would cost one more write per payment (and one more
view update) without closing the window between publishing and recording it, and the
previous heuristic (stay silent on a first delivery that recorded nothing) lost the
notification whenever the release had been recorded by our own retried write.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib import observability
from chalicelib.domain import Payment
from chalicelib.pipeline import reports
from chalicelib.pipeline.liquidity import Liquidity
from chalicelib.pipeline.messages import StepMessage
from chalicelib.pipeline.ports import Archive, Notifier
from chalicelib.pipeline.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Releasing:
    uow: UnitOfWork
    archive: Archive
    notifier: Notifier
    liquidity: Liquidity

    @observability.traced
    def __call__(self, msg: StepMessage) -> None:
        def step(payment: Payment) -> bool:
            if payment.is_released:
                return False
            if payment.frees_liquidity:
                self.liquidity.free_payment(payment)
            key, digest = self.archive.put("outbound", reports.pacs002_released(payment))
            payment.release(report_key=key, report_sha256=digest, report_msg_id=reports.report_msg_id(payment.id))
            return True

        result = self.uow.step("releasing", msg, step, settles=True)
        if result is None:
            return  # fenced (docs/multi-region.md §4): no release, no notification
        payment, recorded = result
        if recorded:
            observability.released(
                payment.tx_sts.value, [r.code for r in payment.reasons], payment.created_on, payment.modified_on
            )
        self.notifier.released(
            str(payment.id),
            payment.tx_sts.value,
            payment.owner,
            {
                "transaction_id": str(payment.id),
                "region_id": payment.region_id,
                "tx_sts": payment.tx_sts.value,
                "reason_code": payment.reason_code,
                "report_msg_id": payment.report_msg_id,
            },
        )
