"""Bounded property tests: arbitrary or mutated input yields success or MessageRejected only."""
from __future__ import annotations

from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from chalicelib.iso20022 import CreditTransfer, MessageRejected, read_credit_transfer  # noqa: E402

EVENTS = Path(__file__).resolve().parents[2] / "events"
SEEDS = [(EVENTS / n).read_bytes() for n in
         ("pacs008_bare.xml", "pacs008_bah_envelope.xml", "pacs008_two_txs.xml")]
SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


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


_edit = st.tuples(st.sampled_from(["flip", "delete", "insert", "truncate", "swap_tag"]),
                  st.integers(min_value=0), st.binary(min_size=1, max_size=12))


@SETTINGS
@given(st.sampled_from(range(len(SEEDS))), st.lists(_edit, min_size=1, max_size=4))
def test_mutated_valid_messages(seed, edits):
    raw = bytearray(SEEDS[seed])
    for kind, pos, data in edits:
        pos %= len(raw) or 1
        if kind == "flip":
            raw[pos] ^= data[0] or 1
        elif kind == "delete":
            del raw[pos:pos + len(data)]
        elif kind == "insert":
            raw[pos:pos] = data
        elif kind == "truncate":
            del raw[pos:]
        else:  # rename the element that starts nearest after pos
            start = raw.find(b"<", pos)
            if start >= 0:
                raw[start + 1:start + 1] = b"X"
    _only_rejection_or_success(bytes(raw))
