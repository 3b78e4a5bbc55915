"""Liquidity and velocity: reserve a payment's amounts on its instructing agent's positions.

A position is its own event-sourced aggregate (chalicelib/domain/position.py) in its own
application and table. Many payments of one agent race for the same position: each tries
to record its reservation on the version it read, and a loser reads again and decides
again, so the position is never overdrawn. Each transaction's `Reservation` (held or
freed) is saved in the same commit as the position's event, so a reservation or a free
repeated after any delay (a redriven message, a repeated cancellation case) finds it and
does nothing. The limit is today's setting, applied to an existing position on its next
reservation (recorded as LimitChanged).

Cost: a reservation or a free writes two items in one TransactWriteItems (2 WCU each, 4
in all, against 1 for the single conditional PutItem that relied on the position's
one-hour memory) and reads the reservation (one consistent read), for agents with a limit.
"""

from __future__ import annotations

import functools
import json
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import AggregateRecorder, IntegrityError, JSONTranscoder

from chalicelib.domain import transcodings
from chalicelib.domain.bic import BIC
from chalicelib.domain.models import Transaction, Verdict
from chalicelib.domain.payment import Payment, PaymentError
from chalicelib.domain.position import (
    InsufficientLiquidity,
    Position,
    Reservation,
    VelocityExceeded,
    position_id,
    reservation_id,
)
from chalicelib.pipeline.application import AggregateApplication

# What a liquidity command changed, to be saved in one commit (nothing: already done).
Command = Callable[[Position, Reservation | None], Sequence[Aggregate]]


class Positions(AggregateApplication):
    name = "Positions"
    # A position is a hot aggregate: every reservation and free of its agent is one more
    # version, and every load replays the events after its latest snapshot. The interval is
    # POSITION_SNAPSHOTTING_INTERVAL of the env when set (Settings.position_snapshot_interval).
    snapshotting_intervals = {Position: 50}  # noqa: RUF012  (the library reads it as is)
    SNAPSHOTTING_INTERVAL = "POSITION_SNAPSHOTTING_INTERVAL"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        interval = self.env.get(self.SNAPSHOTTING_INTERVAL)
        if interval:
            # the library reads the attribute from the instance: this one its own interval
            self.snapshotting_intervals = {Position: int(interval)}  # type: ignore[misc]

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcodings.register(transcoder)

    def construct_recorder(self) -> AggregateRecorder:  # type: ignore[override]  # no notification log: see doc
        """One conditional PutItem per reservation; nothing follows positions' notifications."""
        return self.factory.aggregate_recorder()


LIMITS_VARIABLE = "PACSFLOW_LIQUIDITY_LIMITS"
CURRENCY = re.compile(r"[A-Z]{3}")  # every message's currency (the XSD's ActiveOrHistoricCurrencyCode)
AGENT_ID_MAX = 35  # the longest agent identifier a message gives (Othr/Id, ClrSysMmbId/MmbId: Max35Text)


def parse_limits(text: str) -> dict[str, Decimal]:
    """'{"DEUTDEFFXXX:EUR": "5000000", "DEUTDEFFXXX": "1e7", "*": "1e9"}' -> Decimals.

    A key is "*", an agent, or an agent and a currency after its last ":", the agent as
    messages spell it (`limit_for` looks it up as written; positions are keyed by the
    identifier as extracted: the BICFI, else ClrSysMmbId/MmbId, LEI or Othr/Id, stripped).
    A key that binds no message is refused, not kept: a missed limit is no limit, so it
    fails open, unnoticed. So is a key given twice (json keeps the last silently, and which
    the operator meant is a guess), and an amount that is not a finite, non-negative number.
    Refused as binding no message: a currency that is not three upper-case letters, "*" with
    a currency (`limit_for` reads "*" alone), an agent padded with spaces or longer than any
    identifier, and a BIC not in upper case (the XSD's BICFI is; it is refused even though an
    Othr/Id could be spelt so, since a mistyped BIC is the likelier reading).
    """
    pairs = json.loads(text or "{}", object_pairs_hook=_Pairs)
    if not isinstance(pairs, _Pairs):  # an array of pairs is no object of limits
        raise ValueError(f'{LIMITS_VARIABLE}: not a JSON object of limits, e.g. {{"DEUTDEFFXXX:EUR": "5000000"}}')
    limits: dict[str, Decimal] = {}
    for key, value in pairs:
        if key in limits:
            raise ValueError(f"{LIMITS_VARIABLE}: {key!r} is given twice: which limit binds would be a guess")
        _check_limit_key(key)
        try:
            limit = Decimal(str(value))
        except ArithmeticError:
            limit = Decimal("NaN")
        if not limit.is_finite() or limit < 0:
            raise ValueError(f"{LIMITS_VARIABLE}: {key!r}: {value!r} is not a finite, non-negative amount")
        limits[key] = limit
    return limits


class _Pairs(list[tuple[str, object]]):
    """A JSON object's (key, value) pairs, in order, duplicates kept (json's dict would keep the last)."""


def limit_key_parts(key: str) -> tuple[str, str]:
    """A limit key's agent and currency ("" when the key names none): "BIC:CCY", "BIC" or "*"."""
    agent, colon, currency = key.rpartition(":")
    return (agent, currency) if colon else (key, "")


def _check_limit_key(key: str) -> None:
    agent, currency = limit_key_parts(key)
    colon = ":" in key
    if colon and not CURRENCY.fullmatch(currency):
        problem = f"{currency!r} is not a currency as messages write it (three upper-case letters)"
    elif agent == "*" and colon:
        problem = '"*" binds every agent in every currency and takes no currency'
    elif agent != agent.strip() or len(agent) > AGENT_ID_MAX:
        problem = f"no message spells an agent {agent!r} (identifiers are stripped, at most {AGENT_ID_MAX} characters)"
    elif agent != agent.upper() and BIC.fullmatch(agent.upper()):
        problem = f"a BIC is upper case in every message: {agent.upper()!r}"
    else:
        return
    raise ValueError(f"{LIMITS_VARIABLE}: the limit {key!r} would bind no message: {problem}")


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

    def free(
        self,
        transaction_id: str,
        agent: str,
        amounts: dict[str, Decimal],
        at: datetime | None = None,
        reserved: bool = False,
    ) -> None:
        """Give back `amounts` reserved by `transaction_id` (idempotent, after any delay: its
        Reservation records that it was freed). `reserved`: the payment's record shows a
        reservation made before reservations were recorded on their own (then there is no
        Reservation to consult, and one is recorded as freed)."""
        at = at or datetime.now(UTC)

        def give_back(p: Position, r: Reservation | None, amount: Decimal) -> Sequence[Aggregate]:
            if r is None and not reserved:
                return ()
            if r is None:
                r = Reservation(agent=agent, currency=p.currency, transaction_id=transaction_id, amount=amount)
            elif not r.held:
                return ()
            p.free(transaction_id=transaction_id, amount=r.amount, at=at)
            r.free()
            return (p, r)

        for currency, amount in amounts.items():
            if self.limit_for(agent, currency) is None:
                continue
            if not reserved and not self.holds(transaction_id, agent, currency):
                continue  # nothing held (a rejected transaction, a repeat): the position is not loaded
            self._retrying(agent, currency, transaction_id, functools.partial(give_back, amount=amount))

    def holds(self, transaction_id: str, agent: str, currency: str) -> bool:
        """Whether `transaction_id` holds a reservation on the agent's position."""
        reservation = self._reservation(agent, currency, transaction_id)
        return reservation is not None and reservation.held

    def _reserve_one(self, tx: str, agent: str, currency: str, amount: Decimal, at: datetime) -> Verdict:
        limit = self.limit_for(agent, currency)
        if limit is None:
            return Verdict("liquidity", True, narrative=f"no liquidity limit configured for {agent} {currency}")

        def hold(p: Position, r: Reservation | None) -> Sequence[Aggregate]:
            if r is not None and r.held:
                return ()  # reserved before: by a delivery that died, or a redriven message
            p.reserve(
                transaction_id=tx,
                amount=amount,
                at=at,
                window_s=self.velocity_window_s,
                max_in_window=self.velocity_max,
                limit=limit,
            )
            if r is None:
                r = Reservation(agent=agent, currency=currency, transaction_id=tx, amount=amount)
            else:
                r.renew(amount)
            return (p, r)

        try:
            self._retrying(agent, currency, tx, hold)
        except InsufficientLiquidity as e:
            return Verdict("liquidity", False, "AM04", str(e))
        except VelocityExceeded as e:
            return Verdict("velocity", False, "FRAD", str(e))
        return Verdict("liquidity", True, narrative=f"{currency} reserved on the position of {agent}", reserved=True)

    def free_payment(self, payment: Payment) -> None:
        """Give back what each of the payment's transactions reserved (idempotent)."""
        # Every transaction, decided or not: a processing step that reserved and then lost
        # the race to a cancellation recorded no outcome, but its Reservation is held.
        self._free_transactions(payment, keep_recorded=False)

    def free_unrecorded(self, payment: Payment) -> None:
        """Give back what the decided payment's record does not hold (idempotent): all of a
        cancelled or timed-out payment's reservations; of any other, those of the transactions
        not recorded as reserved. A processing step that lost its save may have reserved what
        the state that won does not hold: a cancellation or timeout released meanwhile, a
        concurrent run that rejected (AM04 before liquidity came back), or its own retry that
        decided differently (the clock crossed into another settlement day)."""
        # recorded as held: the release settles it, a cancellation or return frees it
        self._free_transactions(payment, keep_recorded=not payment.frees_liquidity)

    def _free_transactions(self, payment: Payment, keep_recorded: bool) -> None:
        txs = payment.credit_transfer.transactions if payment.credit_transfer else ()
        outcomes = payment.transactions
        for i, tx in enumerate(txs):
            reserved = outcomes[i].reserved if i < len(outcomes) else False
            if reserved and keep_recorded:
                continue
            self.free(
                reservation_of(payment.id, i, len(txs)),
                tx.instructing_agent or "",
                amounts_by_currency(tx),
                reserved=reserved,
            )

    def _retrying(self, agent: str, currency: str, transaction_id: str, command: Command) -> None:
        """Run `command` on the current position and the transaction's reservation and
        save what it changed in one commit; on a lost race, read and decide again."""
        for attempt in range(self.attempts):
            position = self._position(agent, currency)
            changed = command(position, self._reservation(agent, currency, transaction_id))
            if not changed:
                return
            try:
                self.positions.save(*changed)
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

    def _reservation(self, agent: str, currency: str, transaction_id: str) -> Reservation | None:
        try:
            reservation: Aggregate = self.positions.repository.get(reservation_id(agent, currency, transaction_id))
        except AggregateNotFoundError:
            return None
        assert isinstance(reservation, Reservation)
        return reservation


def reservation_of(transaction_id: UUID, index: int, count: int) -> str:
    """The reservation (and claim) key of one transaction of a payment's message."""
    return str(transaction_id) if count == 1 else f"{transaction_id}#{index + 1}"


def amounts_by_currency(tx: Transaction) -> dict[str, Decimal]:
    """A transaction's interbank settlement amount, by currency."""
    if not (tx.amount and tx.currency):
        return {}
    return {tx.currency: Decimal(tx.amount)}
