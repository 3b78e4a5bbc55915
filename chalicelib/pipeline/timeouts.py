"""No payment stays stuck: a payment not released within its SLA is rejected (DESIGN.md §12).

**Reason code: AB06 TimeoutInstructedAgent** ("transaction stopped due to timeout at the
Instructed Agent"). pacsflow is the agent the pacs.008's instructing agent instructs
(InstdAgt), and the payment stopped here, in our pipeline; AB05 TimeoutCreditorAgent names
a timeout at the creditor's agent, which is further down the chain and not where it stopped.

**The SLA** runs from the payment's creation (ACCP, when `/uuid` issued its id: the first
status its client sees, and `request_timestamp` of that answer) for `sla_seconds`, or the
seconds `sla_seconds_by_type` gives its message type. The deadline is a function of the
payment alone, so every deadline message of one payment carries the same one, and the sweep
computes the same from the view.

**Close to the SLA: a delayed message per payment.** `/uuid` sends one to the deadlines
queue (SQS standard: FIFO takes no per-message delay), delayed until the
deadline (at most 900 s; a message that arrives early, because of that cap or clock skew,
sends itself again with what remains). Its handler, `DeadlineReached`, times the payment
out if it is still not released. Messages come at least once and the handler is idempotent.

**Race-free against a late step.** `TimeOut` is a step of the unit of work: it records
`TimedOut` only on a payment that can still time out (not released, not rejected or
cancelled) and saves with optimistic concurrency, so of "the pipeline decided or released"
and "timed out" exactly one is recorded; the loser re-reads and finds nothing to do. After a
timeout, processing finds the payment decided (RJCT), incoming records the late message as
a refused submission, and releasing releases the RJCT report (and frees the liquidity
accepted payments had reserved). The timeout hands the release to the releasing queue with
the step's own deduplication id, so a release already queued by processing is not doubled.

**Safety net: the sweep** (`Sweep`, every minute and `python -m chalicelib.cli timeouts
--run`) lists the view's unreleased records created before the shortest SLA ago and runs
`TimeOut` on each whose own deadline has passed; `TimeOut` decides on the aggregate, never on
the (possibly lagging) view. It also re-queues the release of a payment decided but never
released (e.g. its release message dead-lettered). `stuck` reports the same list by status and age.

**An id issued and never used** is timed out like any payment, at the same deadline, with
an RJCT report (AB06, original message NOTPROVIDED), not silently expired: `/inbox` records
nothing on the aggregate, so at the deadline we cannot know that no message was posted (one
may sit in the incoming queue); a report answers whoever holds the id either way, and the
release notification tells its owner the id is dead.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol
from uuid import UUID

from chalicelib import observability
from chalicelib.domain import Payment, TxSts
from chalicelib.pipeline.errors import NotHomeRegion
from chalicelib.pipeline.messages import StepMessage, next_step
from chalicelib.pipeline.ports import DeadlineQueue, StepQueue
from chalicelib.pipeline.unit_of_work import UnitOfWork

TIMEOUT_REASON = "AB06"  # TimeoutInstructedAgent (see the module docstring)
MAX_DELAY_S = 900  # SQS DelaySeconds
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Unreleased(NamedTuple):
    """What the sweep reads of a view record."""

    transaction_id: str
    status: str
    message_type: str
    created_at: str  # ISO 8601


class OverdueFinder(Protocol):
    def unreleased(self, created_before: str) -> Iterable[Unreleased]: ...


@dataclass(frozen=True)
class Sla:
    seconds: int = 30
    by_type: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, seconds: int, by_type: str) -> Sla:
        return cls(seconds, {str(k): int(v) for k, v in json.loads(by_type or "{}").items()})

    def seconds_for(self, message_type: str) -> int:
        return self.by_type.get(message_type, self.seconds)

    def deadline(self, created: datetime, message_type: str) -> datetime:
        return created + timedelta(seconds=self.seconds_for(message_type))

    def deadline_of(self, payment: Payment) -> datetime:
        return self.deadline(payment.created_on, payment.message_type)

    @property
    def shortest(self) -> int:
        return min([self.seconds, *self.by_type.values()])


def delay_until(deadline: datetime, now: datetime) -> int:
    """Whole seconds to wait (rounded up, so the message never comes before its time)."""
    return max(0, math.ceil((deadline - now).total_seconds()))


@dataclass(frozen=True)
class ScheduleDeadline:
    """Send the payment's deadline message (from `/uuid` and `/inbox`; repeating it is harmless)."""

    deadlines: DeadlineQueue
    sla: Sla
    clock: Clock = utc_now

    def __call__(self, payment: Payment) -> None:
        deadline = self.sla.deadline_of(payment)
        body = {"transaction_id": str(payment.id), "deadline": deadline.isoformat()}
        self.deadlines.send_later(body, min(MAX_DELAY_S, delay_until(deadline, self.clock())))


@dataclass(frozen=True)
class TimeOut:
    """Reject the payment with AB06 if its deadline has passed and it can still time out;
    hand an unreleased decided payment to releasing. Returns the seconds still to wait when
    the deadline is not reached (0 otherwise)."""

    uow: UnitOfWork
    releasing: StepQueue
    sla: Sla
    clock: Clock = utc_now

    def __call__(self, transaction_id: UUID) -> int:
        now = self.clock()
        remaining = 0

        def step(payment: Payment) -> bool:
            nonlocal remaining
            deadline = self.sla.deadline_of(payment)
            remaining = delay_until(deadline, now)
            if remaining or not payment.can_time_out:
                return False
            narrative = f"not released within its SLA ({self.sla.seconds_for(payment.message_type)} s)"
            payment.time_out(TIMEOUT_REASON, narrative, deadline=deadline.isoformat())
            return True

        try:
            payment, recorded = self.uow.record(transaction_id, step)
        except NotHomeRegion:
            return 0  # fenced: the Region that took it over times it out
        if recorded:
            observability.timed_out(TIMEOUT_REASON)  # counted once: by the delivery that recorded it
        if not remaining and not payment.is_released and payment.tx_sts in (TxSts.RJCT, TxSts.CANC):
            self.releasing.send(str(transaction_id), "releasing", next_step(transaction_id))
        return remaining


@dataclass(frozen=True)
class DeadlineReached:
    """The deadlines queue's handler: early (skew, or a deadline beyond 900 s) -> wait again.
    The queue also carries a return's check (`"mend": "return"`, chalicelib/pipeline/cancel.py)."""

    time_out: TimeOut
    deadlines: DeadlineQueue
    mend_return: Callable[[UUID], None] = lambda _: None

    def __call__(self, msg: StepMessage) -> None:
        if msg.body.get("mend") == "return":
            self.mend_return(msg.transaction_id)
            return
        remaining = self.time_out(msg.transaction_id)
        if remaining:
            body = {"transaction_id": str(msg.transaction_id), "deadline": msg.body.get("deadline", "")}
            self.deadlines.send_later(body, min(MAX_DELAY_S, remaining))


class Overdue(NamedTuple):
    transaction_id: str
    status: str
    overdue_s: float  # seconds past its deadline


@dataclass(frozen=True)
class Sweep:
    """The safety net: every unreleased payment past its deadline (per the view), timed out."""

    finder: OverdueFinder
    time_out: TimeOut
    sla: Sla
    clock: Clock = utc_now

    def overdue(self) -> list[Overdue]:
        now = self.clock()
        before = (now - timedelta(seconds=self.sla.shortest)).isoformat()
        found = []
        for u in self.finder.unreleased(before):
            late = (now - self.sla.deadline(datetime.fromisoformat(u.created_at), u.message_type)).total_seconds()
            if late >= 0:
                found.append(Overdue(u.transaction_id, u.status, late))
        return found

    def __call__(self) -> list[Overdue]:
        """Time out (or re-release) each overdue payment; those it found."""
        found = self.overdue()
        for o in found:
            self.time_out(UUID(o.transaction_id))
        return found


AGE_BUCKETS = ((60, "< 1 min"), (600, "1-10 min"), (3600, "10-60 min"), (86400, "1-24 h"))


def age_bucket(overdue_s: float) -> str:
    return next((label for limit, label in AGE_BUCKETS if overdue_s < limit), ">= 1 day")


def stuck_summary(found: Iterable[Overdue]) -> Counter[tuple[str, str]]:
    """Overdue payments counted by (status, how long past the SLA)."""
    return Counter((o.status, age_bucket(o.overdue_s)) for o in found)
