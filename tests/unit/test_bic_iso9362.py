"""BICs follow ISO 9362:2014: a 4-character alphanumeric business party prefix, a 2-letter
country code, a 2-character alphanumeric party suffix and an optional 3-character branch."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from chalicelib import checks
from chalicelib.checks import CheckSettings, rules
from chalicelib.checks.sanctions import Screening
from chalicelib.iso20022 import _build, read_credit_transfer

EVENTS = Path(__file__).resolve().parents[2] / "events"
RAW = (EVENTS / "pacs008_bah_envelope.xml").read_bytes()
DEMO = Screening.load()
DAY = date(2026, 4, 15)


@pytest.mark.parametrize("bic", ["1BCDDEFFXXX", "AB1DDEFF", "1234DEFF", "12A4FR2P500", "A1B2DE3F"])
def test_alphanumeric_party_prefixes_are_well_formed(bic):
    ct = read_credit_transfer(RAW)
    ct = replace(ct, transactions=(replace(ct.transactions[0], creditor_agent=bic),))
    v = rules.bic_structure(ct, rules.Context(ct, CheckSettings(), DAY, DEMO))
    assert v.passed, v.narrative
    assert _build.BIC.match(bic)


@pytest.mark.parametrize("bic", ["ABCD1EFF", "ABCDD1FF", "ABC_DEFF", "ABCDDEF", "ABCDDEFFXX", "abcdDEFF"])
def test_country_suffix_and_branch_keep_their_shape(bic):
    ct = read_credit_transfer(RAW)
    ct = replace(ct, transactions=(replace(ct.transactions[0], creditor_agent=bic),))
    v = rules.bic_structure(ct, rules.Context(ct, CheckSettings(), DAY, DEMO))
    assert not v.passed and v.reason_code == "RC01"
    assert not _build.BIC.match(bic)


def test_a_whole_message_with_alphanumeric_bics_passes_every_rule():
    """BAH Fr and InstgAgt 1BCDDEFFXXX, BAH To and InstdAgt AB1DFRPP: schema-valid, and the
    BIC and BAH agent rules accept them (8 and 11 characters of one BIC match)."""
    raw = RAW.replace(b"DEUTDEFFXXX", b"1BCDDEFFXXX").replace(b"BNPAFRPPXXX", b"AB1DFRPP")
    assert re.search(rb"1BCDDEFFXXX", raw)
    ct = read_credit_transfer(raw)
    failed = checks.failed(checks.run(ct, CheckSettings(), screening=DEMO, today=DAY))
    assert [(v.rule, v.reason_code) for v in failed] == []
