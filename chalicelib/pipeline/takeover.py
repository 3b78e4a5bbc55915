"""Takeover: a Region completes a failed Region's in-flight payments (docs/multi-region.md §3).

For each payment of the failed home that is not released (the view's index of unreleased
payments, chalicelib/adapters/pending.py; the view is built from the local replica of the
replicated events table, and may lag: the controller repeats the takeover), append
`TakenOver(by, from_region, reason)` with optimistic concurrency (a concurrent write of the
failed Region makes us re-read) and send the step its recorded state calls for
(chalicelib/pipeline/redrive.py `step_to_run`): Initiated only -> nothing (its SLA deadline
rejects it, in this Region now); Submitted -> incoming from the archived message, or RJCT NARR
when it is not available; Received -> processing; decided -> releasing; Released -> nothing.

Idempotent: a payment already ours records nothing more; its step is only re-sent (the
queue deduplicates, the step recognises recorded work).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple, Protocol
from uuid import UUID

from chalicelib.domain import Payment, TxSts
from chalicelib.pipeline.redrive import Dispatch, lost_message
from chalicelib.pipeline.unit_of_work import UnitOfWork


class InFlightFinder(Protocol):
    def in_flight(self, home_region: str) -> Iterable[str]:
        """Ids of the unreleased payments whose home is `home_region`."""


class TakenOverPayment(NamedTuple):
    transaction_id: str
    status: str
    step: str | None  # the step sent


@dataclass(frozen=True)
class Takeover:
    uow: UnitOfWork
    finder: InFlightFinder
    dispatch: Dispatch
    region_id: str  # this Region: the new home

    def __call__(self, failed_region: str, reason: str) -> list[TakenOverPayment]:
        return [self.payment(UUID(tid), failed_region, reason) for tid in self.finder.in_flight(failed_region)]

    def payment(self, transaction_id: UUID, failed_region: str, reason: str) -> TakenOverPayment:
        def step(payment: Payment) -> bool:
            if payment.home_region not in (failed_region,) or payment.is_released:
                return False  # already ours (a second run), or fail-back moved it, or done
            payment.take_over(by=self.region_id, from_region=failed_region, reason=reason)
            needs_message = payment.tx_sts is TxSts.ACCP and payment.is_submitted and not payment.is_decided
            if needs_message and not self.dispatch.message_available(payment):
                lost_message(payment)
            return True

        payment, _ = self.uow.record(transaction_id, step, fence=False)
        sent = self.dispatch(payment) if payment.home_region == self.region_id else None
        return TakenOverPayment(str(transaction_id), payment.tx_sts.value, sent)
