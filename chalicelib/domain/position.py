"""An instructing agent's liquidity position in one currency, event-sourced like a payment.

Accepting a payment reserves its amount; rejecting or cancelling it after that frees the
reservation. The position can never be overdrawn: every reservation is checked against the
state it was decided on, and optimistic concurrency makes a writer that raced another one
decide again on the newer state. The same aggregate counts recent reservations, so a
velocity limit (payments per window) is enforced with the same guarantee.

State stays small: which transactions reserved or freed is remembered only for
`MEMORY` (long enough to recognise any retried step); the amounts are in `used`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from chalicelib.domain.payment import PaymentError


class InsufficientLiquidity(PaymentError):
    error_code = "AM04"


class VelocityExceeded(PaymentError):
    error_code = "VELOCITY"


MEMORY = timedelta(hours=1)


class Position(Aggregate):
    @staticmethod
    def create_id(agent: str, currency: str, limit: Decimal) -> UUID:
        return position_id(agent, currency)

    @event("Opened")
    def __init__(self, agent: str, currency: str, limit: Decimal) -> None:
        self.agent = agent
        self.currency = currency
        self.limit = limit
        self.used = Decimal(0)
        self.reserved: dict[str, datetime] = {}  # transaction -> when, within MEMORY
        self.freed: dict[str, datetime] = {}

    @property
    def available(self) -> Decimal:
        return self.limit - self.used

    def holds(self, transaction_id: str) -> bool:
        return transaction_id in self.reserved

    def has_freed(self, transaction_id: str) -> bool:
        return transaction_id in self.freed

    def recent_count(self, now: datetime, window: timedelta) -> int:
        return sum(1 for t in self.reserved.values() if t > now - window)

    @event("Reserved")
    def reserve(self, transaction_id: str, amount: Decimal, at: datetime, window_s: int, max_in_window: int) -> None:
        self.check_not_reserved(transaction_id)
        self.check_sufficient(amount)
        self.check_velocity(at, timedelta(seconds=window_s), max_in_window)
        self.forget_before(at - max(MEMORY, timedelta(seconds=window_s)))
        self.reserved[transaction_id] = at
        self.used += amount

    @event("Freed")
    def free(self, transaction_id: str, amount: Decimal, at: datetime) -> None:
        self.check_not_freed(transaction_id)
        self.forget_before(at - MEMORY)
        self.reserved.pop(transaction_id, None)
        self.freed[transaction_id] = at
        self.used -= amount

    def forget_before(self, cutoff: datetime) -> None:
        self.reserved = {t: at for t, at in self.reserved.items() if at > cutoff}
        self.freed = {t: at for t, at in self.freed.items() if at > cutoff}

    @event("LimitChanged")
    def change_limit(self, limit: Decimal) -> None:
        self.limit = limit

    # -- invariants --------------------------------------------------------------------

    def check_not_reserved(self, transaction_id: str) -> None:
        if transaction_id in self.reserved:
            raise PaymentError("already reserved for this transaction")

    def check_not_freed(self, transaction_id: str) -> None:
        if transaction_id in self.freed:
            raise PaymentError("already freed for this transaction")

    def check_sufficient(self, amount: Decimal) -> None:
        if amount > self.available:
            raise InsufficientLiquidity(f"{self.currency} position of {self.agent} has insufficient liquidity")

    def check_velocity(self, at: datetime, window: timedelta, max_in_window: int) -> None:
        if max_in_window and self.recent_count(at, window) >= max_in_window:
            raise VelocityExceeded(
                f"more than {max_in_window} payments of {self.agent} in {int(window.total_seconds())} s"
            )


def position_id(agent: str, currency: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"pacsflow:position:{agent}:{currency}")
