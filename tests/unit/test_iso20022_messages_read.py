"""read_message: camt.056 / pacs.028 / pacs.008 recognised by namespace and extracted."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from chalicelib.iso20022 import (
    CancellationRequest,
    CreditTransfer,
    MessageRejected,
    StatusRequest,
    read_credit_transfer,
    read_message,
)
from tests.unit.test_iso20022_parse import HOSTILE

EVENTS = Path(__file__).resolve().parents[2] / "events"
CXL = (EVENTS / "camt056_cancel.xml").read_bytes()
GROUP_CXL = (EVENTS / "camt056_group_cancel.xml").read_bytes()
STS_REQ = (EVENTS / "pacs028_status_request.xml").read_bytes()
ISO = "urn:iso:std:iso:20022:tech:xsd:"
UETR = "32e0a499-6667-431e-ae98-1e0782016094"


def _body(raw: bytes) -> bytes:
    return raw.split(b"?>", 1)[1].strip()


def test_camt056_in_a_cbpr_envelope_is_extracted():
    req = read_message(CXL)
    assert isinstance(req, CancellationRequest)
    assert (req.message_type, req.assignment_id, req.msg_id) == (
        "camt.056.001.09",
        "PFW-CXL-20260415-0007",
        "PFW-CXL-20260415-0007",
    )
    assert (req.assigner, req.assigner_scheme, req.assignee) == ("DEUTDEFFXXX", "BICFI", "BNPAFRPPXXX")
    assert (req.case_id, req.case_creator) == ("CASE-DEUT-20260415-0007", "DEUTDEFFXXX")
    assert (req.app_hdr_type, req.msg_def_idr, req.envelope) == (
        "head.001.001.02",
        "camt.056.001.09",
        "{urn:swift:xsd:envelope}Envelope",
    )
    (tx,) = req.transactions
    assert (tx.original_msg_id, tx.original_msg_nm_id) == ("PFW-20260415-000123", "pacs.008.001.08")
    assert (tx.original_end_to_end_id, tx.original_tx_id, tx.original_uetr) == ("INV-2026-0415-001", "PFW-TX-001", UETR)
    assert (tx.original_amount, tx.original_currency, tx.original_settlement_date) == ("1234.56", "EUR", "2026-04-15")
    assert (tx.reason_code, tx.cancellation_id) == ("DUPL", "PFW-CXL-0007-1")
    assert tx.narrative == "Duplicate of invoice payment INV-2026-0415-000 sent on 14 April"
    assert CancellationRequest.from_dict(req.to_dict()) == req


def test_camt056_v12_group_ids_and_reason_are_inherited_by_transactions():
    req = read_message(GROUP_CXL)
    assert req.message_type == "camt.056.001.12" and req.nb_of_txs == "2"
    first, second = req.transactions
    assert first.original_msg_id == second.original_msg_id == "PFW-20260415-000123"
    assert (first.reason_code, first.narrative) == ("TECH", "Batch sent twice by a technical fault")
    assert (second.reason_code, second.narrative) == ("FRAD", None)  # its own CxlRsnInf wins
    assert second.original_amount == "99.5"


def test_whole_group_cancellation_without_transactions():
    raw = re.sub(rb"\s*<TxInf>.*</TxInf>", b"", GROUP_CXL, flags=re.S).replace(
        b"<OrgnlCreDtTm>2026-04-15T09:30:00+02:00</OrgnlCreDtTm>",
        b"<OrgnlCreDtTm>2026-04-15T09:30:00+02:00</OrgnlCreDtTm><NbOfTxs>2</NbOfTxs><GrpCxl>true</GrpCxl>",
    )
    (entry,) = read_message(raw).transactions
    assert (entry.original_msg_id, entry.group_cancellation, entry.reason_code) == (
        "PFW-20260415-000123",
        "true",
        "TECH",
    )
    assert entry.original_end_to_end_id is None and entry.original_uetr is None


def test_pacs028_is_extracted_with_the_group_level_original():
    req = read_message(STS_REQ)
    assert isinstance(req, StatusRequest)
    assert (req.message_type, req.msg_id) == ("pacs.028.001.03", "PFW-STSREQ-20260415-0003")
    (tx,) = req.transactions
    assert (tx.original_msg_id, tx.original_msg_nm_id) == ("PFW-20260415-000123", "pacs.008.001.08")
    assert (tx.original_end_to_end_id, tx.original_tx_id, tx.original_uetr, tx.status_request_id) == (
        "INV-2026-0415-001",
        "PFW-TX-001",
        UETR,
        "PFW-STSREQ-0003-1",
    )
    assert (tx.instructing_agent, tx.instructed_agent) == ("DEUTDEFFXXX", "BNPAFRPPXXX")
    assert StatusRequest.from_dict(req.to_dict()) == req


def test_pacs008_still_comes_out_as_a_credit_transfer():
    raw = (EVENTS / "pacs008_bah_envelope.xml").read_bytes()
    ct = read_message(raw, expect="pacs.008")
    assert isinstance(ct, CreditTransfer) and ct == read_credit_transfer(raw)


@pytest.mark.parametrize(
    "raw, declared",
    [
        (CXL, "pacs.008"),
        (STS_REQ, "camt.056"),
        ((EVENTS / "pacs008_bare.xml").read_bytes(), "pacs.028"),
        (CXL, "camt.056.001.12"),
    ],
)
def test_a_message_other_than_declared_is_refused_naming_what_it_is(raw, declared):
    actual = read_message(raw).message_type
    with pytest.raises(MessageRejected, match=f"message is {actual}, declared {declared}") as caught:
        read_message(raw, expect=declared)
    assert (caught.value.reason_code, caught.value.message_type) == ("FF01", actual)


def test_expect_accepts_family_or_exact_type_and_refuses_unknown_families():
    assert read_message(CXL, expect="camt.056.001.09").message_type == "camt.056.001.09"
    with pytest.raises(ValueError, match="pain.001"):
        read_message(CXL, expect="pain.001")


@pytest.mark.parametrize("raw", [CXL, STS_REQ])
def test_the_pacs008_intake_keeps_refusing_other_types_but_says_what_they_are(raw):
    with pytest.raises(MessageRejected, match="unsupported message type") as caught:
        read_credit_transfer(raw)
    assert caught.value.message_type in ("camt.056.001.09", "pacs.028.001.03")


@pytest.mark.parametrize("version", ["07", "10", "11", "01"])
def test_camt056_versions_without_a_schema_are_refused_precisely(version):
    raw = _body(GROUP_CXL).replace(b"camt.056.001.12", b"camt.056.001." + version.encode())
    with pytest.raises(MessageRejected) as caught:
        read_message(b"<Envelope>" + raw + b"</Envelope>")
    exc = caught.value
    assert exc.narrative == (
        f"unsupported message type camt.056.001.{version}: camt.056 is accepted in versions 001.08, 001.09, 001.12"
    )
    assert (exc.reason_code, exc.message_type) == ("FF01", f"camt.056.001.{version}")


@pytest.mark.parametrize(
    "ident, narrative",
    [
        ("pacs.028.001.04", "pacs.028 is accepted in versions 001.03"),
        ("pacs.008.001.10", "pacs.008 is accepted in versions 001.07, 001.08, 001.09"),
        ("pacs.002.001.10", r"unsupported message type pacs.002.001.10$"),
        ("camt.029.001.09", r"unsupported message type camt.029.001.09$"),
    ],
)
def test_other_unsupported_types(ident, narrative):
    with pytest.raises(MessageRejected, match=narrative):
        read_message(b'<Document xmlns="' + (ISO + ident).encode() + b'"/>')


def test_schema_invalid_camt056_names_the_path_and_its_assignment_id():
    raw = CXL.replace(b"<Cd>DUPL</Cd>", b"<Cd>DUPLICATE</Cd>")
    with pytest.raises(MessageRejected, match=r"camt.056.001.09 schema violation .*CxlRsnInf/Rsn/Cd") as caught:
        read_message(raw)
    assert (caught.value.message_type, caught.value.msg_id) == ("camt.056.001.09", "PFW-CXL-20260415-0007")


def test_schema_invalid_pacs028_keeps_its_msg_id():
    raw = STS_REQ.replace(b"<OrgnlUETR>32e0a499", b"<OrgnlUETR>XXe0a499")
    with pytest.raises(MessageRejected, match="pacs.028.001.03 schema violation") as caught:
        read_message(raw)
    assert caught.value.msg_id == "PFW-STSREQ-20260415-0003"


def test_bare_cancellation_element_in_a_scheme_wrapper_is_accepted():
    inner = re.search(rb"<FIToFIPmtCxlReq>.*</FIToFIPmtCxlReq>", GROUP_CXL, re.S).group(0)
    inner = inner.replace(b"<FIToFIPmtCxlReq>", b'<FIToFIPmtCxlReq xmlns="' + ISO.encode() + b'camt.056.001.12">', 1)
    req = read_message(b'<Message xmlns="urn:tch"><ReturnOfFunds>' + inner + b"</ReturnOfFunds></Message>")
    assert req.envelope == "{urn:tch}Message" and len(req.transactions) == 2


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_rejected_by_read_message(name):
    started = time.perf_counter()
    with pytest.raises(MessageRejected) as caught:
        read_message(HOSTILE[name])
    assert caught.value.reason_code == "FF01"
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    "hostile",
    [
        b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + _body(CXL),
        CXL.replace(b"<Cd>DUPL</Cd>", b"<Cd>&x;</Cd>"),
        b"<E>" + b"<a>" * 120 + _body(STS_REQ) + b"</a>" * 120 + b"</E>",
    ],
)
def test_hostile_variants_of_the_new_types(hostile):
    with pytest.raises(MessageRejected):
        read_message(hostile)


# -- real-world samples (shared folder; skipped when absent) ---------------------------


@pytest.mark.parametrize("version", ["08", "09", "12"])
def test_fedwire_camt056_content_is_valid_as_08_09_and_12(samples_dir, version):
    raw = (samples_dir / "valid/fedwire_camt056_returnscn1.xml").read_bytes()
    req = read_message(raw.replace(b"camt.056.001.08", b"camt.056.001." + version.encode()))
    assert (req.assignment_id, req.case_id) == ("20250310B1QDRCQR000401", "20250310011104238Sc01Step1MsgIdDUPL")
    assert (req.assigner, req.assigner_scheme, req.assignee) == ("011104238", "ClrSysMmbId:USABA", "021040078")
    (tx,) = req.transactions
    assert (tx.original_msg_id, tx.original_msg_nm_id, tx.original_end_to_end_id, tx.original_uetr) == (
        "20250310B1QDRCQR000400",
        "pacs.008.001.08",
        "Scenario01EtoEId001",
        "8a562c67-ca16-48ba-b074-65581be6f011",
    )
    assert (tx.original_amount, tx.original_currency, tx.reason_code) == ("1510000.74", "USD", "DUPL")
    assert tx.narrative == "Order cancelled. Ref:20250310B1QDRCQR000400"


@pytest.mark.parametrize("version", ["08", "09", "12"])
def test_rtp_camt056_content_is_valid_as_08_09_and_12(samples_dir, version):
    raw = (samples_dir / "valid/rtp_camt056_refund.xml").read_bytes()
    req = read_message(raw.replace(b"camt.056.001.08", b"camt.056.001." + version.encode()))
    assert req.envelope == "{urn:tch}Message" and req.assignee == "000000032"
    (tx,) = req.transactions
    assert (tx.original_msg_id, tx.original_end_to_end_id, tx.original_tx_id) == (
        "M20230713234567891T1BOTS00694297350",
        "EOTS",
        "20230713234567891T1BLFFV00017549968",
    )
    assert (tx.original_amount, tx.reason_code, tx.original_uetr) == ("42389.38", "CUST", None)


def test_fedwire_pacs028_sample(samples_dir):
    req = read_message((samples_dir / "valid/fedwire_pacs028_status_request.xml").read_bytes(), expect="pacs.028")
    assert req.msg_id == "20250310Scenario03Step2MsgId001"
    (tx,) = req.transactions
    assert (tx.original_msg_id, tx.original_msg_nm_id, tx.original_end_to_end_id, tx.original_uetr) == (
        "20250310B1QDRCQR000001",
        "pacs.008.001.08",
        "Scenario01EtoEId001",
        "8a562c67-ca16-48ba-b074-65581be6f011",
    )
    assert (tx.instructing_agent, tx.instructing_agent_scheme) == ("011104238", "ClrSysMmbId:USABA")


@pytest.mark.parametrize(
    "name",
    [
        "issettled_camt056_cancel.xml",
        "issettled_camt029_cancel_rejected.xml",
        "issettled_pacs002_payment.xml",
        "issettled_pacs004_cancel_agreed.xml",
        "issettled_pacs008_payment.xml",
    ],
)
def test_issettled_scheme_extensions_are_refused(samples_dir, name):
    with pytest.raises(MessageRejected) as caught:
        read_message((samples_dir / "invalid" / name).read_bytes())
    assert caught.value.reason_code == "FF01" and len(caught.value.narrative) <= 200


def test_every_sample_gets_a_typed_result_or_an_ff01(samples_dir):
    for path in sorted(samples_dir.glob("*/*.xml")):
        try:
            msg = read_message(path.read_bytes())
        except MessageRejected as exc:
            assert exc.reason_code == "FF01", path.name
        else:
            assert msg.message_type[:8] in ("pacs.008", "camt.056", "pacs.028"), path.name
