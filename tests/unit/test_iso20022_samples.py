"""Every real-world sample has the outcome its file name promises (samples README).

The files are read through the ``samples_dir`` fixture (skips when the shared folder is
absent); the names are listed at collection time from the same place.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.iso20022 import MessageRejected, build_pacs002, read_credit_transfer, validate_pacs002
from tests.conftest import SAMPLES

NAMES = sorted(f"{p.parent.name}/{p.name}" for p in SAMPLES.glob("*/*.xml")) if SAMPLES.is_dir() else []

# The file name says "INVALIDRULE" (XSD-valid, breaks a CBPR+ rule), but the Document
# puts InstdAmt after ChrgBr, which the official pacs.008.001.08 XSD refuses.
MISLABELLED_XSD_INVALID = {"invalid/cbprur_INVALIDRULE_pacs008_fixture.xml"}


def expected(name: str) -> str | None:
    """None: accepted; otherwise a regex the FF01 narrative must match."""
    folder, file = name.split("/")
    if file == "moov_INVALID_pain_v11.xml":
        return "no ISO 20022 namespace"
    if name in MISLABELLED_XSD_INVALID:
        return "schema violation"
    is_pacs008 = "pacs008" in file
    if folder == "valid" or "_INVALIDRULE_" in file:
        return None if is_pacs008 else "unsupported message type"
    return "."  # invalid/*INVALID_*, invalid/issettled_*: any FF01


def _params():
    if not NAMES:
        return [pytest.param(None, marks=pytest.mark.skip(reason="samples folder absent"))]
    return NAMES


@pytest.mark.parametrize("name", _params())
def test_sample_has_its_expected_outcome(samples_dir, name):
    raw = (samples_dir / name).read_bytes()
    outcome = expected(name)
    if outcome is None:
        ct = read_credit_transfer(raw)
        assert ct.message_type.startswith("pacs.008.001.0")
        assert ct.msg_id and ct.creation_date_time and ct.nb_of_txs
        assert ct.transactions
        first = ct.transactions[0]
        assert first.amount and first.currency and len(first.currency) == 3
        assert first.end_to_end_id
        report = build_pacs002(ct, msg_id="PFW-STS-1", created_at=datetime(2026, 1, 2, tzinfo=UTC), tx_status="ACSP")
        validate_pacs002(report)
    else:
        with pytest.raises(MessageRejected, match=outcome) as caught:
            read_credit_transfer(raw)
        assert caught.value.reason_code == "FF01"
        assert len(caught.value.narrative) <= 200


def test_known_samples_extract_as_expected(samples_dir):
    rtp = read_credit_transfer((samples_dir / "valid/rtp_pacs008.xml").read_bytes())
    rtp_tx = rtp.transactions[0]
    assert (rtp.message_type, rtp_tx.amount, rtp_tx.currency) == ("pacs.008.001.08", "46154.49", "USD")
    assert (rtp_tx.instructing_agent, rtp_tx.instructing_agent_scheme) == ("234567891", "ClrSysMmbId")
    assert rtp.instructing_agent is None  # the group header names no agent: only the transaction does
    assert rtp.envelope == "{urn:tch}Message" and rtp.notes
    fed = read_credit_transfer((samples_dir / "valid/fedwire_pacs008_ccts1.xml").read_bytes())
    assert (fed.transactions[0].instructing_agent_scheme, fed.clearing_system) == ("ClrSysMmbId:USABA", "FDW")
    cbpr = read_credit_transfer((samples_dir / "valid/cbprur_pacs008_sample_2025.xml").read_bytes())
    assert (cbpr.transactions[0].amount, cbpr.transactions[0].uetr, cbpr.biz_svc) == (
        "750000",
        "a1b2c3d4-e5f6-4890-abcd-ef1234567890",
        "swift.cbprplus.02",
    )
    old = read_credit_transfer((samples_dir / "valid/prowide_pacs008_001_07.xml").read_bytes())
    assert old.message_type == "pacs.008.001.07" and old.app_hdr_type is None
    assert old.notes == ("AppHdr head.001.001.01 ignored: no schema for this version",)
    with pytest.raises(MessageRejected, match="content outside a Document"):
        read_credit_transfer((samples_dir / "invalid/issettled_pacs008_payment.xml").read_bytes())
