"""Bounded property tests: arbitrary or mutated input yields success or MessageRejected only."""

from __future__ import annotations

from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.iso20022 import CreditTransfer, MessageRejected, read_credit_transfer
from tests.unit.mutations import EDIT, mutate

EVENTS = Path(__file__).resolve().parents[2] / "events"
SEEDS = [(EVENTS / n).read_bytes() for n in ("pacs008_bare.xml", "pacs008_bah_envelope.xml", "pacs008_two_txs.xml")]
SETTINGS = settings(
    max_examples=200, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _only_rejection_or_success(raw) -> None:
    try:
        result = read_credit_transfer(raw)
    except MessageRejected as exc:
        assert exc.reason_code == "FF01"
        assert 0 < len(exc.narrative) <= 200
    else:
        assert isinstance(result, CreditTransfer)
        assert result.message_type.startswith("pacs.008.001.0")


@SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes(raw):
    _only_rejection_or_success(raw)


@SETTINGS
@given(st.text(max_size=2048))
def test_random_text(text):
    _only_rejection_or_success(text)


@SETTINGS
@given(st.sampled_from(range(len(SEEDS))), st.lists(EDIT, min_size=1, max_size=4))
def test_mutated_valid_messages(seed, edits):
    raw = mutate(SEEDS[seed], edits)
    _only_rejection_or_success(raw)
