"""The one rule of every step (DESIGN.md §4): read, step, save, retry on conflict.

A step looks whether its work is already recorded; if not, it records its event and the
payment is saved with optimistic concurrency. A concurrent writer that saved first makes
the save conflict: the payment is read again and the step decides again on what is now
recorded. A retried delivery therefore finds its work done and records nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from chalicelib.domain import Payment
from chalicelib.pipeline import faults
from chalicelib.pipeline.errors import NotHomeRegion, StepContended
from chalicelib.pipeline.messages import StepMessage
from chalicelib.pipeline.payments import Payments

Step = Callable[[Payment], bool]  # records its event and says True, or False if already recorded


@dataclass(frozen=True)
class UnitOfWork:
    payments: Payments
    fault_injection: str = ""  # test-only fault points (chalicelib/pipeline/faults.py)
    attempts: int = 3
    region_id: str = ""  # this Region: a step runs only on a payment whose home it is ("" = any)
    taken_over: Callable[[], bool] = lambda: False  # this Region was taken over: it settles nothing

    def check_home(self, payment: Payment, settles: bool = False) -> None:
        """Fencing (docs/multi-region.md §4): NotHomeRegion unless this Region runs the payment
        (and, for a step that settles, is not itself taken over)."""
        if self.region_id and payment.home_region != self.region_id:
            raise NotHomeRegion(payment.home_region)
        if settles and self.taken_over():
            raise NotHomeRegion(f"other than {self.region_id} (taken over)")

    def record(
        self,
        transaction_id: UUID,
        step: Step,
        *,
        owner: str | None = None,
        fault_point: str | None = None,
        receive_count: int = 1,
        fence: bool = True,
        settles: bool = False,
        payment: Payment | None = None,
    ) -> tuple[Payment, bool]:
        """Run `step` on the payment and save what it recorded, exactly once; say whether
        this call recorded it. `owner`: only that client's payment exists. `fault_point`: the
        test-only crash between this append and the caller's send (first delivery only).
        `fence`: NotHomeRegion (nothing recorded) unless this Region is the payment's home;
        `settles`: nor when this Region is itself taken over (self-fencing). `payment`: the
        payment as this process read or saved it, decided on without a read (a conflict
        means it was not the latest: it is read then, as every later attempt is)."""
        for _ in range(self.attempts):
            if payment is None:
                payment = self.payments.get_payment(transaction_id, owner)
            if fence:  # a release recorded before this Region was taken over still publishes
                self.check_home(payment, settles and not payment.is_released)
            if not step(payment):
                return payment, False
            try:
                self.payments.save(payment)
            except IntegrityError:
                payment = None
                continue
            if fault_point is not None:
                faults.check(self.fault_injection, fault_point, receive_count)
            return payment, True
        raise StepContended(f"{transaction_id}: could not record the step after {self.attempts} conflicts")

    def step(self, name: str, msg: StepMessage, step: Step, *, settles: bool = False) -> tuple[Payment, bool] | None:
        """A pipeline step's `record` of its message: its fault point is `<name>.after_append`;
        None when the payment is fenced off here (another Region runs it, or this one was taken
        over): the message is then acknowledged, nothing recorded, nothing sent or published."""
        try:
            return self.record(
                msg.transaction_id,
                step,
                fault_point=f"{name}.after_append",
                receive_count=msg.receive_count,
                settles=settles,
                payment=msg.payment,
            )
        except NotHomeRegion:
            return None
