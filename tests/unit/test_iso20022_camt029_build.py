"""camt.029.001.09 answering a camt.056: schema-valid, deterministic, codes checked."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from chalicelib.iso20022 import (
    REJECTION_REASONS,
    CancellationOutcome,
    CancellationRequest,
    MessageRejected,
    build_camt029,
    read_message,
    resolution_of,
    validate_camt029,
)

EVENTS = Path(__file__).resolve().parents[2] / "events"
NS = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.029.001.09"}
AT = datetime(2026, 4, 15, 8, 15, tzinfo=UTC)
UETR = "32e0a499-6667-431e-ae98-1e0782016094"


@pytest.fixture(scope="module")
def request_() -> CancellationRequest:
    return read_message((EVENTS / "camt056_cancel.xml").read_bytes())


@pytest.fixture(scope="module")
def group_request() -> CancellationRequest:
    return read_message((EVENTS / "camt056_group_cancel.xml").read_bytes())


def _x(data: bytes, path: str) -> list[str]:
    return etree.fromstring(data).xpath(path + "/text()", namespaces=NS)


def test_cancelled_as_requested(request_):
    data = build_camt029(request_, assignment_id="PFW-RSL-1", created_at=AT, status="CNCL")
    validate_camt029(data)
    assert _x(data, "//c:Assgnmt/c:Id") == ["PFW-RSL-1"]
    assert _x(data, "//c:Assgnmt/c:Assgnr//c:BICFI") == ["BNPAFRPPXXX"]  # we answer: roles swap
    assert _x(data, "//c:Assgnmt/c:Assgne//c:BICFI") == ["DEUTDEFFXXX"]
    assert _x(data, "//c:Assgnmt/c:CreDtTm") == ["2026-04-15T08:15:00+00:00"]
    assert _x(data, "//c:RslvdCase/c:Id") == ["CASE-DEUT-20260415-0007"]
    assert _x(data, "//c:RslvdCase/c:Cretr//c:BICFI") == ["DEUTDEFFXXX"]
    assert _x(data, "//c:Sts/c:Conf") == ["CNCL"]
    assert _x(data, "//c:TxInfAndSts/c:TxCxlSts") == ["ACCR"]
    assert _x(data, "//c:OrgnlGrpInf/c:OrgnlMsgId") == ["PFW-20260415-000123"]
    assert _x(data, "//c:OrgnlGrpInf/c:OrgnlMsgNmId") == ["pacs.008.001.08"]
    assert _x(data, "//c:OrgnlEndToEndId") == ["INV-2026-0415-001"]
    assert _x(data, "//c:OrgnlTxId") == ["PFW-TX-001"]
    assert _x(data, "//c:OrgnlUETR") == [UETR]
    assert _x(data, "//c:OrgnlIntrBkSttlmAmt") == ["1234.56"]
    assert not _x(data, "//c:CxlStsRsnInf//c:Cd")


def test_an_original_credttm_with_many_fraction_digits_is_echoed_whole_and_valid():
    """The camt.056's OrgnlCreDtTm is read whole: clipped, its echo would be schema-invalid."""
    long = b"2026-04-15T09:30:00.123456789012+02:00"
    raw = (EVENTS / "camt056_cancel.xml").read_bytes().replace(b">2026-04-15T09:30:00+02:00<", b">" + long + b"<")
    data = build_camt029(read_message(raw), assignment_id="PFW-RSL-1", created_at=AT, status="CNCL")
    validate_camt029(data)
    assert _x(data, "//c:OrgnlGrpInf/c:OrgnlCreDtTm") == [long.decode()]


@pytest.mark.parametrize("code", sorted(REJECTION_REASONS))
def test_rejected_cancellation_with_each_reason(request_, code):
    data = build_camt029(
        request_,
        assignment_id="PFW-RSL-2",
        created_at=AT,
        status="RJCR",
        reason_code=code,
        narrative="Funds already returned with pacs.004 PFW-RTR-1",
    )
    validate_camt029(data)
    assert _x(data, "//c:Sts/c:Conf") == ["RJCR"] and _x(data, "//c:TxCxlSts") == ["RJCR"]
    assert _x(data, "//c:CxlStsRsnInf/c:Rsn/c:Cd") == [code]
    assert _x(data, "//c:CxlStsRsnInf/c:AddtlInf") == ["Funds already returned with pacs.004 PFW-RTR-1"]


def test_pending_without_reason(request_):
    data = build_camt029(request_, assignment_id="R", created_at=AT, status="PDCR")
    validate_camt029(data)
    assert _x(data, "//c:Conf") == ["PDCR"] and _x(data, "//c:TxCxlSts") == ["PDCR"]


def test_mixed_outcomes_give_a_partially_executed_resolution(group_request):
    data = build_camt029(
        group_request,
        assignment_id="R",
        created_at=AT,
        outcomes=[CancellationOutcome("ACCR"), CancellationOutcome("RJCR", "ARDT", "returned on 15 April")],
    )
    validate_camt029(data)
    assert _x(data, "//c:Conf") == ["PECR"]
    assert _x(data, "//c:TxCxlSts") == ["ACCR", "RJCR"]
    assert _x(data, "//c:OrgnlEndToEndId") == ["INV-2026-0415-001", "INV-2026-0415-002"]
    assert _x(data, "//c:TxInfAndSts[2]/c:CxlStsRsnInf/c:Rsn/c:Cd") == ["ARDT"]
    # no Case in the request: the case is its assignment, created by its assigner
    assert _x(data, "//c:RslvdCase/c:Id") == ["PFW-CXL-20260415-0008"]
    assert _x(data, "//c:RslvdCase/c:Cretr//c:BICFI") == ["DEUTDEFFXXX"]


def test_whole_group_entries_are_answered_at_group_level(group_request):
    group_only = CancellationRequest.from_dict(
        {
            **group_request.to_dict(),
            "transactions": [
                {
                    "original_msg_id": "PFW-20260415-000123",
                    "original_msg_nm_id": "pacs.008.001.08",
                    "group_cancellation": "true",
                    "reason_code": "TECH",
                }
            ],
        }
    )
    data = build_camt029(group_only, assignment_id="R", created_at=AT, status="RJCR", reason_code="NOOR")
    validate_camt029(data)
    assert _x(data, "//c:OrgnlGrpInfAndSts/c:GrpCxlSts") == ["RJCR"]
    assert _x(data, "//c:OrgnlGrpInfAndSts/c:CxlStsRsnInf/c:Rsn/c:Cd") == ["NOOR"]
    assert not _x(data, "//c:TxInfAndSts/c:TxCxlSts")


def test_deterministic_and_accepts_the_dict_form(request_):
    kw = dict(assignment_id="R", created_at=AT, status="RJCR", reason_code="LEGL")
    first = build_camt029(request_, **kw)
    assert first == build_camt029(request_, **kw) == build_camt029(request_.to_dict(), **kw)
    assert first.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")


def test_our_bic_can_be_given(request_):
    data = build_camt029(request_, assignment_id="R", created_at=AT, status="CNCL", assigner_bic="PFLWGB2LXXX")
    validate_camt029(data)
    assert _x(data, "//c:Assgnmt/c:Assgnr//c:BICFI") == ["PFLWGB2LXXX"]


def _with_assigner(assgnr: str) -> CancellationRequest:
    raw = (EVENTS / "camt056_cancel.xml").read_text()
    start, end = raw.index("<Assgnr>"), raw.index("</Assgnr>") + len("</Assgnr>")
    return read_message((raw[:start] + f"<Assgnr>{assgnr}</Assgnr>" + raw[end:]).encode())


def test_an_assigner_known_by_its_lei_is_answered_by_its_lei():
    """Assgnr/Pty/Id/OrgId/LEI (PartyIdentification135) is schema-valid: read, and named back."""
    req = _with_assigner("<Pty><Id><OrgId><LEI>529900T8BM49AURSDO55</LEI></OrgId></Id></Pty>")
    assert (req.assigner, req.assigner_scheme) == ("529900T8BM49AURSDO55", "Pty:LEI")
    data = build_camt029(req, assignment_id="R", created_at=AT, status="CNCL")
    validate_camt029(data)
    assert _x(data, "//c:Assgnmt/c:Assgne/c:Pty/c:Id/c:OrgId/c:LEI") == ["529900T8BM49AURSDO55"]


@pytest.mark.parametrize("assgnr", ["<Pty/>", "<Pty><CtryOfRes>DE</CtryOfRes></Pty>"])
def test_an_assigner_the_request_does_not_identify_is_answered_as_an_unnamed_party(assgnr):
    """Every element of PartyIdentification135 is optional: such a request is answered (an
    empty Pty), not refused on every retry."""
    req = _with_assigner(assgnr)
    assert req.assigner is None
    data = build_camt029(req, assignment_id="R", created_at=AT, status="CNCL")
    validate_camt029(data)
    doc = etree.fromstring(data)
    assert [len(e) for e in doc.xpath("//c:Assgnmt/c:Assgne/c:Pty", namespaces=NS)] == [0]
    assert _x(data, "//c:Assgnmt/c:Assgnr//c:BICFI") == ["BNPAFRPPXXX"]


def test_answer_to_a_fedwire_request_keeps_clearing_member_ids(samples_dir):
    raw = (samples_dir / "valid/fedwire_camt056_returnscn1.xml").read_bytes()
    req = read_message(raw.replace(b"camt.056.001.08", b"camt.056.001.09"))
    data = build_camt029(req, assignment_id="20250310B1QDRCQR000402", created_at=AT, status="CNCL")
    validate_camt029(data)
    assert _x(data, "//c:Assgnmt/c:Assgnr//c:MmbId") == ["021040078"]
    assert _x(data, "//c:Assgnmt/c:Assgne//c:ClrSysId/c:Cd") == ["USABA"]
    assert _x(data, "//c:RslvdCase/c:Id") == ["20250310011104238Sc01Step1MsgIdDUPL"]


@pytest.mark.parametrize(
    "statuses, expected",
    [(["ACCR"], "CNCL"), (["RJCR", "RJCR"], "RJCR"), (["ACCR", "PDCR"], "PDCR"), (["ACCR", "RJCR"], "PECR")],
)
def test_resolution_of(statuses, expected):
    assert resolution_of(statuses) == expected


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(status="RJCR"), "needs a reason_code"),
        (dict(status="CNCL", reason_code="ARDT"), "carries no rejection reason"),
        (dict(status="RJCR", reason_code="AC01"), "reason_code 'AC01' is not valid"),
        (dict(status="RJCR", reason_code="NARR"), "NARR needs a narrative"),
        (dict(status="ACCR"), "status 'ACCR' is not valid"),
        (dict(status=None), "status None is not valid"),
        (dict(status="CNCL", assignment_id=" "), "assignment_id"),
        (dict(status="CNCL", assignment_id="X" * 36), "assignment_id"),
        (dict(status="CNCL", created_at=datetime(2026, 4, 15)), "timezone-aware"),
        (dict(status="CNCL", assigner_bic="nope"), "assigner_bic"),
        (dict(outcomes=[CancellationOutcome("ACCR")] * 2), "2 outcomes for 1 transactions"),
        (dict(outcomes=[CancellationOutcome("CNCL")]), "ACCR, RJCR or PDCR"),
        (dict(outcomes=[CancellationOutcome("ACCR")], reason_code="ARDT"), "per outcome"),
    ],
)
def test_invalid_arguments_raise_value_error(request_, kwargs, message):
    args = dict(assignment_id="R", created_at=AT) | kwargs
    with pytest.raises(ValueError, match=message):
        build_camt029(request_, **args)


def test_validate_camt029_rejects_a_broken_document(request_):
    data = build_camt029(request_, assignment_id="R", created_at=AT, status="CNCL")
    with pytest.raises(MessageRejected, match="camt.029.001.09 schema violation"):
        validate_camt029(data.replace(b"<Conf>CNCL</Conf>", b"<Conf>CANCELLED</Conf>"))
