"""A processing step whose save loses to another decision gives back what it reserved and
the recorded state does not hold (Liquidity.free_unrecorded)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import chalicelib.checks.rules as rules
from chalicelib.domain import TxSts
from chalicelib.domain.position import position_id
from chalicelib.pipeline.messages import StepMessage
from tests.messages import EVENTS, redated, unique_ids
from tests.unit.fakes import drain, memory_service

OWNER = "client-a"
AGENT = "DEUTDEFFXXX"  # the instructing agent of pacs008_bare.xml (1234.56 EUR)


def used(p) -> Decimal:
    return p.liquidity.positions.repository.get(position_id(AGENT, "EUR")).used


def received(p, settlement_day=None) -> tuple[UUID, dict]:
    """A payment received (ACTC), and its processing message."""
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    body = unique_ids(redated((EVENTS / "pacs008_bare.xml").read_bytes(), settlement_day))
    p.submit(tx, "pacs.008", body, OWNER)
    _, _, incoming = p.adapters.incoming.sent.pop(0)
    p.incoming(StepMessage(tx, incoming))
    _, _, processing = p.adapters.processing.sent.pop(0)
    return tx, processing


def test_a_run_that_reserved_after_a_concurrent_run_rejected_am04_gives_it_back():
    """Two processing runs of one payment (a redrive's message while the incoming message is
    retried; SQS delivering twice). The first rejects AM04: the position is full. The second
    read the payment before that save, decides after the other payment's liquidity came back,
    reserves, and loses its save to the rejection."""
    p = memory_service(limits=f'{{"{AGENT}": "2000"}}', step_handoff="queue")
    other, other_body = received(p)
    p.processing(StepMessage(other, other_body))  # holds 1234.56 of 2000
    tx, body = received(p)
    stale = p.payments.get_payment(tx)  # what the second run read
    p.processing(StepMessage(tx, body))  # the first run: AM04
    assert p.payments.get_payment(tx).reason_code == "AM04"
    assert p.cancel(other, OWNER, "DUPL").resolution == "CNCL"
    drain(p)  # the other payment released as cancelled: 2000 free again
    assert used(p) == 0
    p.processing(StepMessage(tx, body, payment=stale))  # the second run decides on what it read
    drain(p)
    payment = p.payments.get_payment(tx)
    assert payment.tx_sts is TxSts.RJCT and payment.reason_code == "AM04" and payment.is_released
    assert used(p) == 0


def test_a_retry_that_decides_otherwise_gives_back_what_the_first_attempt_reserved(monkeypatch):
    """Processing accepts and reserves; its save conflicts with an event that decides nothing
    (an operator's redrive), and its retry rejects: the settlement date was the window's first
    day, and the clock crossed midnight UTC meanwhile (DT01)."""
    p = memory_service(limits='{"*": "1000000000"}', step_handoff="queue")
    tx, body = received(p, settlement_day=datetime.now(UTC).date() - timedelta(days=5))
    save, raced = p.payments.save, []

    def redriven_meanwhile(*aggregates, **kwargs):
        pending = [type(e).__name__ for a in aggregates for e in getattr(a, "pending_events", [])]
        if "Accepted" in pending and not raced:
            raced.append(tx)
            p.redrive(tx, "redrive-1", "ops", "a concurrent redrive")

            class Tomorrow(datetime):
                @classmethod
                def now(cls, tz=None):
                    return datetime.now(tz) + timedelta(days=1)

            monkeypatch.setattr(rules, "datetime", Tomorrow)
        return save(*aggregates, **kwargs)

    monkeypatch.setattr(p.payments, "save", redriven_meanwhile)
    p.processing(StepMessage(tx, body))
    drain(p)
    payment = p.payments.get_payment(tx)
    assert raced == [tx] and payment.tx_sts is TxSts.RJCT and payment.is_released
    assert [r.code for r in payment.reasons] == ["DT01"]
    assert not p.liquidity.holds(str(tx), AGENT, "EUR")
