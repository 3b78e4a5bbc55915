"""Liquidity and velocity: reserve a payment's amounts on its instructing agent's positions.

A position is its own event-sourced aggregate (chalicelib/domain/position.py) in its own
application and table. Many payments of one agent race for the same position: each tries
to record its reservation on the version it read, and a loser reads again and decides
again, so the position is never overdrawn and no reservation is counted twice.
"""
from __future__ import annotations

import functools
import json
import random
import time
from datetime import datetime, timezone
from decimal import Decimal
from collections.abc import Callable
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import AggregateRecorder, IntegrityError, JSONTranscoder

from chalicelib.domain import transcodings
from chalicelib.domain.models import Transaction, Verdict
from chalicelib.domain.payment import Payment, PaymentError
from chalicelib.domain.position import InsufficientLiquidity, Position, VelocityExceeded, position_id


class Positions(Application[UUID]):
    name = "Positions"
    snapshotting_intervals = {Position: 50}  # a busy agent's position has many events

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcodings.register(transcoder)

    def construct_recorder(self) -> AggregateRecorder:  # type: ignore[override]  # no notification log: see doc
        """One conditional PutItem per reservation; nothing follows positions' notifications."""
        return self.factory.aggregate_recorder()


def parse_limits(text: str) -> dict[str, Decimal]:
    """'{"DEUTDEFFXXX:EUR": "5000000", "DEUTDEFFXXX": "1e7", "*": "1e9"}' -> Decimals."""
    return {k: Decimal(str(v)) for k, v in json.loads(text or "{}").items()}


class Liquidity:
    def __init__(
        self,
        positions: Positions,
        limits: dict[str, Decimal],
        velocity_window_s: int = 60,
        velocity_max: int = 0,
        attempts: int = 50,
    ) -> None:
        self.positions = positions
        self.limits = limits
        self.velocity_window_s = velocity_window_s
        self.velocity_max = velocity_max
        self.attempts = attempts

    def limit_for(self, agent: str, currency: str) -> Decimal | None:
        for key in (f"{agent}:{currency}", agent, "*"):
            if key in self.limits:
                return self.limits[key]
        return None

    def reserve(self, transaction_id: str, agent: str, amounts: dict[str, Decimal], at: datetime) -> list[Verdict]:
        """Reserve every currency's amount, or none: a verdict per currency."""
        verdicts: list[Verdict] = []
        reserved: dict[str, Decimal] = {}
        for currency, amount in sorted(amounts.items()):
            v = self._reserve_one(transaction_id, agent, currency, amount, at)
            verdicts.append(v)
            if not v.passed:
                break
            reserved[currency] = amount
        if not all(v.passed for v in verdicts):
            self.free(transaction_id, agent, reserved, at)
        return verdicts

    def free(self, transaction_id: str, agent: str, amounts: dict[str, Decimal], at: datetime | None = None,
             reserved: bool = False) -> None:
        """Give back `amounts` reserved by `transaction_id` (idempotent). The position itself
        knows recent reservations; `reserved` says the payment's record shows an older one."""
        at = at or datetime.now(timezone.utc)

        def give_back(p: Position, amount: Decimal) -> None:
            if not p.has_freed(transaction_id) and (p.holds(transaction_id) or reserved):
                p.free(transaction_id=transaction_id, amount=amount, at=at)

        for currency, amount in amounts.items():
            if self.limit_for(agent, currency) is not None:
                self._retrying(agent, currency, functools.partial(give_back, amount=amount))

    def _reserve_one(self, tx: str, agent: str, currency: str, amount: Decimal, at: datetime) -> Verdict:
        if self.limit_for(agent, currency) is None:
            return Verdict("liquidity", True, narrative=f"no liquidity limit configured for {agent} {currency}")
        try:
            self._retrying(agent, currency, lambda p: None if p.holds(tx) else p.reserve(
                transaction_id=tx, amount=amount, at=at,
                window_s=self.velocity_window_s, max_in_window=self.velocity_max,
            ))
        except InsufficientLiquidity as e:
            return Verdict("liquidity", False, "AM04", str(e))
        except VelocityExceeded as e:
            return Verdict("velocity", False, "FRAD", str(e))
        return Verdict("liquidity", True, narrative=f"{currency} reserved on the position of {agent}", reserved=True)

    def free_payment(self, payment: Payment) -> None:
        """Give back what each of the payment's transactions reserved (idempotent)."""
        txs = payment.credit_transfer.transactions if payment.credit_transfer else ()
        for i, (tx, outcome) in enumerate(zip(txs, payment.transactions)):
            self.free(reservation_of(payment.id, i, len(txs)), tx.instructing_agent or "",
                      amounts_by_currency(tx), reserved=outcome.reserved)

    def _retrying(self, agent: str, currency: str, command: Callable[[Position], None]) -> None:
        """Run `command` on the current position and save it; on a lost race, read and decide again."""
        for attempt in range(self.attempts):
            position = self._position(agent, currency)
            command(position)
            try:
                self.positions.save(position)
                return
            except IntegrityError:
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise PaymentError(f"position of {agent} {currency} stayed contended")

    def _position(self, agent: str, currency: str) -> Position:
        try:
            return self.positions.repository.get(position_id(agent, currency))
        except AggregateNotFoundError:
            limit = self.limit_for(agent, currency)
            assert limit is not None  # only a limited agent keeps a position
            return Position(agent=agent, currency=currency, limit=limit)


def reservation_of(transaction_id: UUID, index: int, count: int) -> str:
    """The reservation (and claim) key of one transaction of a payment's message."""
    return str(transaction_id) if count == 1 else f"{transaction_id}#{index + 1}"


def amounts_by_currency(tx: Transaction) -> dict[str, Decimal]:
    """A transaction's interbank settlement amount, by currency."""
    if not (tx.amount and tx.currency):
        return {}
    return {tx.currency: Decimal(tx.amount)}
