"""Recognition by namespace inside any envelope; AppHdr and Document validated apart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chalicelib.iso20022 import MessageRejected, parse_xml, read_credit_transfer, recognise, schemas

EVENTS = Path(__file__).resolve().parents[2] / "events"
BARE = (EVENTS / "pacs008_bare.xml").read_bytes()
BAH = (EVENTS / "pacs008_bah_envelope.xml").read_bytes()
ISO = "urn:iso:std:iso:20022:tech:xsd:"


def _body(raw: bytes) -> bytes:
    """The Document without its XML declaration, to embed in envelopes."""
    return raw.split(b"?>", 1)[1].strip()


def _app_hdr(raw: bytes = BAH) -> bytes:
    return re.search(rb"<AppHdr.*</AppHdr>", raw, re.S).group(0)


def _message_element(raw: bytes = BARE) -> bytes:
    """The bare FIToFICstmrCdtTrf with its namespace declared on itself (RTP style)."""
    inner = re.search(rb"<FIToFICstmrCdtTrf>.*</FIToFICstmrCdtTrf>", raw, re.S).group(0)
    return inner.replace(b"<FIToFICstmrCdtTrf>", b'<FIToFICstmrCdtTrf xmlns="' + ISO.encode() + b'pacs.008.001.08">', 1)


def test_bare_document_is_validated_in_place():
    rec = recognise(parse_xml(BARE))
    assert rec.message_type == "pacs.008.001.08"
    assert rec.envelope is None and rec.app_hdr is None and rec.notes == ()


@pytest.mark.parametrize("version", ["07", "08", "09"])
def test_each_supported_version_is_chosen_by_namespace(version):
    raw = BARE.replace(b"pacs.008.001.08", b"pacs.008.001." + version.encode())
    if version == "07":  # pacs.008.001.07 has no UETR
        raw = re.sub(rb"\s*<UETR>[^<]*</UETR>", b"", raw)
    assert read_credit_transfer(raw).message_type == f"pacs.008.001.{version}"


def test_cbpr_envelope_with_app_hdr_and_document():
    ct = read_credit_transfer(BAH)
    assert ct.envelope == "{urn:swift:xsd:envelope}Envelope"
    assert ct.app_hdr_type == "head.001.001.02"
    assert (ct.bah_from, ct.bah_to, ct.msg_def_idr, ct.biz_svc) == (
        "DEUTDEFFXXX",
        "BNPAFRPPXXX",
        "pacs.008.001.08",
        "swift.cbprplus.02",
    )


@pytest.mark.parametrize(
    "wrapper",
    [
        (b"<RequestPayload>", b"</RequestPayload>"),
        (b'<Request xmlns="SWIFTNetBusinessEnvelope">', b"</Request>"),
        (b'<a:Outer xmlns:a="urn:example:outer"><a:Inner>', b"</a:Inner></a:Outer>"),
    ],
)
def test_any_wrapper_element_is_accepted(wrapper):
    raw = wrapper[0] + _app_hdr() + _body(BARE) + wrapper[1]
    assert read_credit_transfer(raw).biz_msg_idr == "PFW-20260415-000123"


def test_prefixed_document_and_app_hdr():
    raw = (
        b'<Envelope xmlns="urn:swift:xsd:envelope"><h:AppHdr xmlns:h="'
        + ISO.encode()
        + b'head.001.001.02">'
        + re.sub(
            rb"<(/?)(\w)",
            rb"<\1h:\2",
            _app_hdr()[len(b'<AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02">') :],
        )
        + _body(BARE).replace(b"<", b"<p:").replace(b"<p:/", b"</p:").replace(b'xmlns="', b'xmlns:p="')
        + b"</Envelope>"
    )
    ct = read_credit_transfer(raw)
    assert ct.transactions[0].amount == "1234.56" and ct.bah_from == "DEUTDEFFXXX"


def test_rtp_style_wrapper_with_bare_message_element_and_empty_old_header():
    raw = (
        b'<Message xmlns="urn:tch" xmlns:head="' + ISO.encode() + b'head.001.001.01">'
        b"<AppHdr><head:Fr/><head:To/><head:BizMsgIdr/><head:MsgDefIdr/>"
        b"<head:CreDt>0001-01-01T00:00:00</head:CreDt></AppHdr>"
        b"<CreditTransfer>" + _message_element() + b"</CreditTransfer></Message>"
    )
    ct = read_credit_transfer(raw)
    assert ct.message_type == "pacs.008.001.08"
    assert ct.transactions[0].uetr == "32e0a499-6667-431e-ae98-1e0782016094"
    assert ct.app_hdr_type is None and ct.bah_from is None
    assert ct.notes == ("AppHdr head.001.001.01 ignored: header fields inside a non-ISO element",)


def test_bare_message_element_as_root_is_wrapped():
    assert read_credit_transfer(_message_element()).msg_id == "PFW-20260415-000123"


def test_app_hdr_of_a_version_without_schema_is_ignored_and_noted():
    hdr = _app_hdr().replace(b"head.001.001.02", b"head.001.001.03").replace(b"<BizMsgIdr>", b"<Bogus/><BizMsgIdr>")
    ct = read_credit_transfer(b"<Envelope>" + hdr + _body(BARE) + b"</Envelope>")
    assert ct.notes == ("AppHdr head.001.001.03 ignored: no schema for this version",)
    assert ct.biz_msg_idr is None


def test_invalid_app_hdr_is_rejected_separately():
    hdr = re.sub(rb"<BizMsgIdr>[^<]*</BizMsgIdr>", b"", _app_hdr())
    with pytest.raises(MessageRejected, match=r"AppHdr head.001.001.02 schema violation .* /AppHdr/MsgDefIdr"):
        read_credit_transfer(b"<Envelope>" + hdr + _body(BARE) + b"</Envelope>")


@pytest.mark.parametrize(
    "raw, narrative",
    [
        (b"<Document><FIToFICstmrCdtTrf/></Document>", "no ISO 20022 namespace"),
        (b'<Document xmlns="urn:example:not-iso"/>', "no ISO 20022 namespace"),
        (b'<Document xmlns="' + ISO.encode() + b'pacs.002.001.10"/>', "unsupported message type pacs.002.001.10"),
        (b'<Document xmlns="' + ISO.encode() + b'camt.056.001.10"/>', "unsupported message type camt.056.001.10"),
        (b'<Document xmlns="' + ISO.encode() + b'pain.001.001.09"/>', "unsupported message type pain.001.001.09"),
        (b'<Document xmlns="' + ISO.encode() + b'pacs.008.001.10"/>', "unsupported message type pacs.008.001.10"),
        (b'<Document xmlns="' + ISO.encode() + b'pacs.008.001.02"/>', "unsupported message type pacs.008.001.02"),
        (
            b'<E><Document xmlns="' + ISO.encode() + b'pacs.009.001.08"/></E>',
            "unsupported message type pacs.009.001.08",
        ),
        (b'<E><X xmlns="' + ISO.encode() + b'nonsense"/></E>', "unrecognised ISO 20022 namespace"),
        (b"<E>" + _app_hdr() + b"</E>", "AppHdr without an ISO 20022 Document"),
        (b"<E>" + _body(BARE) + _body(BARE) + b"</E>", "more than one pacs.008.001.08 Document"),
        (b"<E>" + _app_hdr() + _app_hdr() + _body(BARE) + b"</E>", "more than one AppHdr"),
        (
            b"<E>" + _body(BARE) + _body(BARE).replace(b".008.001.08", b".008.001.09") + b"</E>",
            "more than one ISO 20022 message: pacs.008.001.08, pacs.008.001.09",
        ),
        (
            b'<E xmlns:p="' + ISO.encode() + b'pacs.008.001.09"><M><p:GrpHdr/><p:CdtTrfTxInf/></M></E>',
            r"pacs.008.001.09 content outside a Document \(GrpHdr, CdtTrfTxInf\)",
        ),
        (b"<a><b><c><d><e>" + _body(BARE) + b"</e></d></c></b></a>", "no ISO 20022 namespace"),
    ],
)
def test_unrecognisable_messages_are_rejected_precisely(raw, narrative):
    with pytest.raises(MessageRejected, match=narrative) as caught:
        read_credit_transfer(raw)
    assert caught.value.reason_code == "FF01"


def test_schema_rejection_names_kind_line_and_path_but_not_the_value():
    raw = BARE.replace(b"DE89370400440532013000", b"de00-SECRETVALUE")
    with pytest.raises(MessageRejected) as caught:
        read_credit_transfer(raw)
    exc = caught.value
    assert "SECRETVALUE" not in exc.narrative
    assert "value does not match its pattern" in exc.narrative
    assert "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf/DbtrAcct/Id/IBAN" in exc.narrative
    assert (exc.message_type, exc.msg_id) == ("pacs.008.001.08", "PFW-20260415-000123")


def test_invalid_schema_event_file_is_rejected():
    with pytest.raises(MessageRejected, match="value not in the code list at .*/ChrgBr"):
        read_credit_transfer((EVENTS / "pacs008_invalid_schema.xml").read_bytes())


def test_schemas_are_compiled_once_and_only_ours_are_shipped():
    assert schemas.schema("pacs.008.001.08") is schemas.schema("pacs.008.001.08")
    assert {
        "pacs.008.001.07",
        "pacs.008.001.08",
        "pacs.008.001.09",
        "head.001.001.02",
        "pacs.002.001.10",
        "pacs.004.001.09",
        "pacs.028.001.03",
        "camt.029.001.09",
        "camt.056.001.08",
        "camt.056.001.09",
        "camt.056.001.12",
    } == schemas.AVAILABLE
    assert (schemas.SCHEMA_DIR / "NOTICE").is_file()
    with pytest.raises(KeyError):
        schemas.schema("camt.056.001.10")
