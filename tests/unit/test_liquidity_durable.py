"""Reserving and freeing are recorded durably, not remembered for an hour; a position's
state stays bounded; a changed limit applies to an existing position (issue 8 item 7)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock
from uuid import uuid4

from eventsourcing.domain import Snapshot
from moto import mock_aws

from chalicelib.domain.position import Position, position_id
from chalicelib.pipeline.liquidity import Liquidity, Positions

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
AGENT, EUR = "DEUTDEFFXXX", "EUR"
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
LATER = timedelta(hours=2)  # beyond the hour the position used to remember transactions


def liquidity(limit: str = "1000", positions: Positions | None = None) -> Liquidity:
    return Liquidity(positions or Positions(env=POPO), {f"{AGENT}:{EUR}": Decimal(limit)})


def used(liq: Liquidity) -> Decimal:
    return liq.positions.repository.get(position_id(AGENT, EUR)).used


def test_a_free_repeated_after_any_delay_frees_nothing() -> None:
    liq = liquidity()
    liq.reserve("tx-1", AGENT, {EUR: Decimal(100)}, T0)
    liq.free("tx-1", AGENT, {EUR: Decimal(100)}, T0 + timedelta(minutes=1), reserved=True)
    liq.reserve("tx-2", AGENT, {EUR: Decimal(50)}, T0 + LATER)  # the position moves on
    liq.free("tx-1", AGENT, {EUR: Decimal(100)}, T0 + LATER, reserved=True)  # a cancellation case repeated
    liq.free("tx-1", AGENT, {EUR: Decimal(100)}, T0 + 10 * LATER, reserved=True)
    assert used(liq) == 50


def test_a_reservation_repeated_after_any_delay_reserves_once() -> None:
    liq = liquidity()
    assert liq.reserve("tx-1", AGENT, {EUR: Decimal(100)}, T0)[0].passed
    liq.reserve("tx-2", AGENT, {EUR: Decimal(50)}, T0 + LATER)
    verdicts = liq.reserve("tx-1", AGENT, {EUR: Decimal(100)}, T0 + LATER)  # a redriven message
    assert verdicts[0].passed and used(liq) == 150
    assert liq.holds("tx-1", AGENT, EUR) and not liq.holds("tx-3", AGENT, EUR)


def test_a_freed_reservation_decided_again_is_held_again_and_freed_once() -> None:
    liq = liquidity()
    liq.reserve("tx-1", AGENT, {EUR: Decimal(100)}, T0)
    liq.free("tx-1", AGENT, {EUR: Decimal(100)}, T0)
    liq.reserve("tx-1", AGENT, {EUR: Decimal(100)}, T0 + LATER)
    assert used(liq) == 100
    liq.free("tx-1", AGENT, {EUR: Decimal(100)}, T0 + LATER)
    liq.free("tx-1", AGENT, {EUR: Decimal(100)}, T0 + 2 * LATER)
    assert used(liq) == 0


def test_a_free_without_a_reservation_frees_nothing_unless_the_payment_recorded_one() -> None:
    liq = liquidity()
    liq.reserve("tx-2", AGENT, {EUR: Decimal(50)}, T0)
    loads = []
    with mock.patch.object(liq, "_position", side_effect=lambda *a: loads.append(a)):
        liq.free("tx-1", AGENT, {EUR: Decimal(100)}, T0)  # never reserved (rejected before)
    assert loads == []  # the reservation told: the position was not even loaded
    assert used(liq) == 50
    liq.free("tx-0", AGENT, {EUR: Decimal(20)}, T0, reserved=True)  # reserved before reservations were recorded
    liq.free("tx-0", AGENT, {EUR: Decimal(20)}, T0 + LATER, reserved=True)
    assert used(liq) == 30


def test_a_changed_limit_applies_to_an_existing_position() -> None:
    positions = Positions(env=POPO)
    assert liquidity("100", positions).reserve("tx-1", AGENT, {EUR: Decimal(80)}, T0)[0].passed
    raised = liquidity("200", positions)
    assert raised.reserve("tx-2", AGENT, {EUR: Decimal(80)}, T0)[0].passed
    assert raised.positions.repository.get(position_id(AGENT, EUR)).limit == 200
    lowered = liquidity("170", positions)
    assert lowered.reserve("tx-3", AGENT, {EUR: Decimal(20)}, T0)[0].reason_code == "AM04"
    assert used(lowered) == 160


def test_position_state_stays_bounded_after_ten_thousand_reservations() -> None:
    app = Positions(env=POPO)
    position = Position(agent=AGENT, currency=EUR, limit=Decimal("1e12"))
    for i in range(10_000):  # ten a second, as one busy agent
        position.reserve(
            transaction_id=str(uuid4()),
            amount=Decimal("1.5"),
            at=T0 + timedelta(milliseconds=100 * i),
            window_s=60,
            max_in_window=0,
        )
        position.collect_events()
    state = app.mapper.to_stored_event(Snapshot.take(position)).state
    assert position.used == 15_000 and len(state) < 4_000, len(state)


def test_velocity_counts_within_the_window_with_bounded_buckets() -> None:
    position = Position(agent=AGENT, currency=EUR, limit=Decimal("1e12"))
    for i in range(5):
        position.reserve(str(i), Decimal(1), T0 + timedelta(seconds=i), window_s=3600, max_in_window=0)
    assert position.recent_count(T0 + timedelta(seconds=10), timedelta(seconds=3600)) == 5
    assert position.recent_count(T0 + timedelta(hours=2), timedelta(seconds=3600)) == 0
    for i in range(5_000):
        position.reserve(str(i), Decimal(1), T0 + timedelta(seconds=i * 7), window_s=3600, max_in_window=0)
    assert len(position.recent) <= 60


def test_a_v1_snapshot_with_per_transaction_memory_still_loads() -> None:
    app = Positions(env=POPO)
    position = Position(agent=AGENT, currency=EUR, limit=Decimal(1000))
    position.reserve("tx-1", Decimal(10), T0, window_s=60, max_in_window=0)
    app.save(position)
    snapshot = Snapshot.take(position)
    del snapshot.state["recent"]  # as v1 took it
    snapshot.state.pop("class_version", None)
    snapshot.state["reserved"] = {"tx-1": T0}
    snapshot.state["freed"] = {}
    app.snapshots.put([snapshot])  # type: ignore[union-attr]
    loaded = app.repository.get(position.id)
    assert loaded.used == 10 and loaded.recent == {str(int(T0.timestamp())): 1}
    assert not hasattr(loaded, "reserved")


def test_on_dynamodb_the_position_and_the_reservation_commit_together() -> None:
    """The same on the DynamoDB store (moto): each reservation or free is one
    TransactWriteItems of the position's event and the reservation's."""
    environ = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with mock.patch.dict(os.environ, environ, clear=True), mock_aws():
        positions = Positions(
            env={
                "PERSISTENCE_MODULE": "chalicelib.eventstore.dynamodb",
                "DYNAMODB_TABLE": f"positions-{uuid4().hex}",
                "DYNAMODB_CREATE_TABLE": "y",
            }
        )
        calls: list[str] = []
        client = positions.recorder.datastore.client  # type: ignore[attr-defined]
        client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
        liq = liquidity(positions=positions)
        liq.reserve("tx-1", AGENT, {EUR: Decimal(100)}, T0)
        liq.reserve("tx-1", AGENT, {EUR: Decimal(100)}, T0 + LATER)
        liq.free("tx-1", AGENT, {EUR: Decimal(100)}, T0 + LATER, reserved=True)
        liq.free("tx-1", AGENT, {EUR: Decimal(100)}, T0 + 2 * LATER, reserved=True)
        assert used(liq) == 0 and not liq.holds("tx-1", AGENT, EUR)
        assert [c for c in calls if c != "Query"] == ["TransactWriteItems", "TransactWriteItems"]
