"""Bounded property tests for read_message: mutated camt.056 / pacs.028 yield a typed result
or MessageRejected(FF01) only, and a typed result can always be answered."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.iso20022 import (
    CancellationRequest,
    CreditTransfer,
    MessageRejected,
    StatusRequest,
    build_camt029,
    read_message,
    validate_camt029,
)
from tests.unit.mutations import EDIT, mutate

EVENTS = Path(__file__).resolve().parents[2] / "events"
SEEDS = [
    (EVENTS / n).read_bytes() for n in ("camt056_cancel.xml", "camt056_group_cancel.xml", "pacs028_status_request.xml")
]
SETTINGS = settings(
    max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
AT = datetime(2026, 4, 15, tzinfo=UTC)


@SETTINGS
@given(st.sampled_from(range(len(SEEDS))), st.lists(EDIT, min_size=1, max_size=4))
def test_mutated_messages(seed, edits):
    raw = mutate(SEEDS[seed], edits)
    try:
        msg = read_message(raw)
    except MessageRejected as exc:
        assert exc.reason_code == "FF01" and 0 < len(exc.narrative) <= 200
        return
    assert isinstance(msg, (CancellationRequest, StatusRequest, CreditTransfer))
    if isinstance(msg, CancellationRequest) and msg.transactions and msg.assigner:
        try:
            data = build_camt029(msg, assignment_id="R", created_at=AT, status="RJCR", reason_code="LEGL")
        except ValueError:
            return  # e.g. no assignee to answer from: the caller must pass assigner_bic
        validate_camt029(data)
