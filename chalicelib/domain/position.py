"""An instructing agent's liquidity position in one currency, event-sourced like a payment.

Accepting a payment reserves its amount; rejecting or cancelling it after that frees the
reservation. The position can never be overdrawn: every reservation is checked against the
state it was decided on, and optimistic concurrency makes a writer that raced another one
decide again on the newer state. The same aggregate counts recent reservations, so a
velocity limit (payments per window) is enforced with the same guarantee.

Which transactions reserved or freed is not the position's to remember: each transaction's
`Reservation` is an aggregate of its own, saved in the same commit as the position's event
(one atomic write), so reserving twice or freeing twice is recognised after any delay. The
position's state is bounded: the amount in use, the limit last applied, and reservation
counts in at most `MAX_BUCKETS` time buckets over the velocity window.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from chalicelib.domain.payment import PaymentError


class InsufficientLiquidity(PaymentError):
    error_code = "AM04"


class VelocityExceeded(PaymentError):
    error_code = "VELOCITY"


MAX_BUCKETS = 60  # velocity buckets kept per position, whatever the window


def bucket_width(window_s: int) -> int:
    """Seconds per velocity bucket: one second, or coarser for windows over a minute."""
    return max(1, -(-window_s // MAX_BUCKETS))


class Position(Aggregate):
    # v2 keeps velocity buckets instead of v1's per-transaction `reserved` / `freed` dicts
    # (snapshots of v1 are upcast; the events themselves did not change shape).
    class_version = 2

    @staticmethod
    def create_id(agent: str, currency: str, limit: Decimal) -> UUID:
        return position_id(agent, currency)

    @event("Opened")
    def __init__(self, agent: str, currency: str, limit: Decimal) -> None:
        self.agent = agent
        self.currency = currency
        self.limit = limit
        self.used = Decimal(0)
        self.recent: dict[str, int] = {}  # bucket start (epoch second, as text) -> reservations

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        reserved: dict[str, datetime] = state.pop("reserved", {}) or {}
        state.pop("freed", None)
        recent: dict[str, int] = {}
        for at in reserved.values():
            key = str(int(at.timestamp()))
            recent[key] = recent.get(key, 0) + 1
        state["recent"] = recent

    @property
    def available(self) -> Decimal:
        return self.limit - self.used

    def recent_count(self, now: datetime, window: timedelta) -> int:
        """Reservations in the window before `now`; a bucket that overlaps the window
        counts whole (the limit errs on the safe side, by less than one bucket)."""
        width = bucket_width(int(window.total_seconds()))
        since = (now - window).timestamp()
        return sum(n for start, n in self.recent.items() if int(start) + width > since)

    def reserve(
        self,
        transaction_id: str,
        amount: Decimal,
        at: datetime,
        window_s: int,
        max_in_window: int,
        limit: Decimal | None = None,
    ) -> None:
        """Reserve `amount` against `limit` (today's setting; the recorded one if None).
        Whether this transaction reserved already is its Reservation's to say."""
        if limit is not None and limit != self.limit:
            self.change_limit(limit)
        self.check_sufficient(amount)
        self.check_velocity(at, timedelta(seconds=window_s), max_in_window)
        self._reserved(
            transaction_id=transaction_id, amount=amount, at=at, window_s=window_s, max_in_window=max_in_window
        )

    @event("Reserved")
    def _reserved(self, transaction_id: str, amount: Decimal, at: datetime, window_s: int, max_in_window: int) -> None:
        width = bucket_width(window_s)
        since = (at - timedelta(seconds=window_s)).timestamp()
        recent = {start: n for start, n in self.recent.items() if int(start) + width > since}
        key = str(int(at.timestamp()) // width * width)
        recent[key] = recent.get(key, 0) + 1
        while len(recent) > MAX_BUCKETS:  # a shrunk bucket width: drop the oldest
            del recent[min(recent, key=int)]
        self.recent = recent
        self.used += amount

    def free(self, transaction_id: str, amount: Decimal, at: datetime) -> None:
        """Give `amount` back. Whether this transaction's reservation is still held is
        its Reservation's to say."""
        self._freed(transaction_id=transaction_id, amount=amount, at=at)

    @event("Freed")
    def _freed(self, transaction_id: str, amount: Decimal, at: datetime) -> None:
        self.used -= amount

    @event("LimitChanged")
    def change_limit(self, limit: Decimal) -> None:
        self.limit = limit

    # -- invariants --------------------------------------------------------------------

    def check_sufficient(self, amount: Decimal) -> None:
        if amount > self.available:
            raise InsufficientLiquidity(f"{self.currency} position of {self.agent} has insufficient liquidity")

    def check_velocity(self, at: datetime, window: timedelta, max_in_window: int) -> None:
        if max_in_window and self.recent_count(at, window) >= max_in_window:
            raise VelocityExceeded(
                f"more than {max_in_window} payments of {self.agent} in {int(window.total_seconds())} s"
            )


class Reservation(Aggregate):
    """One transaction's reservation on one position: held or freed. Saved in the same
    commit as the position's Reserved or Freed event, it is the durable record that makes
    a repeated reservation or a repeated free a no-op, after any delay."""

    @staticmethod
    def create_id(agent: str, currency: str, transaction_id: str, amount: Decimal) -> UUID:
        return reservation_id(agent, currency, transaction_id)

    @event("Made")
    def __init__(self, agent: str, currency: str, transaction_id: str, amount: Decimal) -> None:
        self.agent = agent
        self.currency = currency
        self.transaction_id = transaction_id
        self.amount = amount
        self.held = True

    @event("Freed")
    def free(self) -> None:
        self.check_held()
        self.held = False

    @event("Renewed")
    def renew(self, amount: Decimal) -> None:
        """Held again after it was freed (a decision taken again after a partial failure)."""
        self.check_freed()
        self.amount = amount
        self.held = True

    def check_held(self) -> None:
        if not self.held:
            raise PaymentError("the reservation is already freed")

    def check_freed(self) -> None:
        if self.held:
            raise PaymentError("the reservation is already held")


def position_id(agent: str, currency: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"pacsflow:position:{agent}:{currency}")


def reservation_id(agent: str, currency: str, transaction_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"pacsflow:reservation:{agent}:{currency}:{transaction_id}")
