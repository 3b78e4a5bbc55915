"""The processing step: business checks, duplicates and liquidity -> Accepted (ACSP; some
transactions may be rejected: group status PART) or Rejected with every failing reason."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib import observability
from chalicelib.domain import Payment
from chalicelib.pipeline.decision import Decide
from chalicelib.pipeline.handoff import Handoff
from chalicelib.pipeline.messages import StepMessage
from chalicelib.pipeline.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Processing:
    uow: UnitOfWork
    decide: Decide
    releasing: Handoff

    @observability.traced
    def __call__(self, msg: StepMessage) -> None:
        def step(payment: Payment) -> bool:
            if payment.is_decided:
                return False
            decision = self.decide(payment)
            if decision.accepts_any:
                payment.accept(checks=decision.verdicts, transactions=decision.outcomes)
            else:
                payment.reject(
                    decision.reasons, step="processing", checks=decision.verdicts, transactions=decision.outcomes
                )
            return True

        result = self.uow.step("processing", msg, step)
        if result is None:
            return  # fenced: another Region runs it now
        payment, _ = result
        # A decision whose save lost may have reserved what the recorded state does not hold
        # (Liquidity.free_unrecorded): given back here, by every delivery (idempotent), since
        # the release may be done already and not run again.
        self.decide.liquidity.free_unrecorded(payment)
        self.releasing(msg, payment)
