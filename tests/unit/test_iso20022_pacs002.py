"""pacs.002.001.10 builder: schema-valid, deterministic, works without an original."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from chalicelib.iso20022 import CreditTransfer, MessageRejected, build_pacs002, read_credit_transfer, validate_pacs002

EVENTS = Path(__file__).resolve().parents[2] / "events"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}
AT = datetime(2026, 4, 15, 7, 31, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def original() -> CreditTransfer:
    return read_credit_transfer((EVENTS / "pacs008_bah_envelope.xml").read_bytes())


def _x(data: bytes, path: str) -> list[str]:
    return etree.fromstring(data).xpath(path + "/text()", namespaces=NS)


@pytest.mark.parametrize("status", ["ACSC", "ACSP", "ACTC", "ACCP"])
def test_acceptance_reports_are_valid(original, status):
    data = build_pacs002(original, msg_id="PFW-STS-1", created_at=AT, tx_status=status, accepted_at=AT)
    validate_pacs002(data)
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert _x(data, "//p:GrpHdr/p:MsgId") == ["PFW-STS-1"]
    assert _x(data, "//p:GrpHdr/p:CreDtTm") == ["2026-04-15T07:31:05+00:00"]
    assert _x(data, "//p:OrgnlMsgId") == ["PFW-20260415-000123"]
    assert _x(data, "//p:OrgnlMsgNmId") == ["pacs.008.001.08"]
    assert _x(data, "//p:OrgnlCreDtTm") == ["2026-04-15T09:30:00+02:00"]
    assert _x(data, "//p:GrpSts") == [status] and _x(data, "//p:TxSts") == [status]
    assert _x(data, "//p:OrgnlInstrId") == ["PFW-INSTR-001"]
    assert _x(data, "//p:OrgnlEndToEndId") == ["INV-2026-0415-001"]
    assert _x(data, "//p:OrgnlTxId") == ["PFW-TX-001"]
    assert _x(data, "//p:OrgnlUETR") == ["32e0a499-6667-431e-ae98-1e0782016094"]
    assert _x(data, "//p:AccptncDtTm") == ["2026-04-15T07:31:05+00:00"]
    assert not _x(data, "//p:StsRsnInf//p:Cd")


def test_a_credttm_with_many_fraction_digits_is_echoed_whole_and_valid():
    """xs:dateTime bounds no fraction digits: '...T09:30:00.123456789012+02:00' (38 characters)
    is valid, and a clipped echo ('...012+02') would make the report schema-invalid."""
    long = b"2026-04-15T09:30:00.123456789012+02:00"
    raw = (EVENTS / "pacs008_bah_envelope.xml").read_bytes().replace(b">2026-04-15T09:30:00+02:00<", b">" + long + b"<")
    data = build_pacs002(read_credit_transfer(raw), msg_id="PFW-STS-1", created_at=AT, tx_status="ACSC", accepted_at=AT)
    validate_pacs002(data)
    assert _x(data, "//p:OrgnlCreDtTm") == [long.decode()]


def test_agents_are_swapped_from_the_original(original):
    data = build_pacs002(original, msg_id="S", created_at=AT, tx_status="ACSC")
    assert _x(data, "//p:GrpHdr/p:InstgAgt//p:BICFI") == ["BNPAFRPPXXX"]
    assert _x(data, "//p:GrpHdr/p:InstdAgt//p:BICFI") == ["DEUTDEFFXXX"]
    ours = build_pacs002(original, msg_id="S", created_at=AT, tx_status="ACSC", instructing_agent_bic="PFLWGB2LXXX")
    assert _x(ours, "//p:GrpHdr/p:InstgAgt//p:BICFI") == ["PFLWGB2LXXX"]
    validate_pacs002(ours)


def test_rejection_with_reason_and_long_narrative(original):
    narrative = "Insufficient funds on the debtor account; " * 8
    data = build_pacs002(original, msg_id="S", created_at=AT, tx_status="RJCT", reason_code="AM04", narrative=narrative)
    validate_pacs002(data)
    assert _x(data, "//p:TxInfAndSts/p:StsRsnInf/p:Rsn/p:Cd") == ["AM04"]
    infos = _x(data, "//p:TxInfAndSts/p:StsRsnInf/p:AddtlInf")
    assert 1 < len(infos) <= 3 and all(len(i) <= 105 for i in infos)
    assert infos[0].startswith("Insufficient funds")
    assert _x(data, "//p:TxSts") == ["RJCT"] and _x(data, "//p:GrpSts") == ["RJCT"]


def test_unreadable_original_gives_group_level_ff01_rejection():
    data = build_pacs002(
        None,
        msg_id="S",
        created_at=AT,
        tx_status="RJCT",
        narrative="not well-formed XML (ERR_TAG_NAME_MISMATCH) at line 3, column 7",
    )
    validate_pacs002(data)
    assert _x(data, "//p:OrgnlMsgId") == ["NOTPROVIDED"]
    assert _x(data, "//p:OrgnlMsgNmId") == ["pacs.008"]
    assert _x(data, "//p:OrgnlGrpInfAndSts/p:GrpSts") == ["RJCT"]
    assert _x(data, "//p:OrgnlGrpInfAndSts/p:StsRsnInf/p:Rsn/p:Cd") == ["FF01"]
    assert not _x(data, "//p:TxInfAndSts/p:TxSts")
    assert not _x(data, "//p:InstdAgt//p:BICFI")


def test_recognised_but_invalid_original_is_referred_to_by_its_hints():
    raw = (EVENTS / "pacs008_invalid_schema.xml").read_bytes()
    with pytest.raises(MessageRejected) as caught:
        read_credit_transfer(raw)
    exc = caught.value
    data = build_pacs002(
        None,
        msg_id="S",
        created_at=AT,
        tx_status="RJCT",
        reason_code=exc.reason_code,
        narrative=exc.narrative,
        original_message_id_fallback=exc.msg_id,
        original_message_name_fallback=exc.message_type,
    )
    validate_pacs002(data)
    assert _x(data, "//p:OrgnlMsgId") == ["PFW-20260415-000123"]
    assert _x(data, "//p:OrgnlMsgNmId") == ["pacs.008.001.08"]


def test_output_is_deterministic_and_survives_a_dict_round_trip(original):
    kw = dict(msg_id="S", created_at=AT, tx_status="RJCT", reason_code="DUPL", narrative="duplicate")
    first = build_pacs002(original, **kw)
    again = build_pacs002(CreditTransfer.from_dict(original.to_dict()), **kw)
    assert first == again
    other_zone = AT.astimezone(timezone(timedelta(hours=2)))
    assert b"09:31:05+02:00" in build_pacs002(original, **{**kw, "created_at": other_zone})


def test_multi_transaction_report_lists_every_transaction_without_group_status():
    original = read_credit_transfer((EVENTS / "pacs008_two_txs.xml").read_bytes())
    data = build_pacs002(original, msg_id="S", created_at=AT, tx_status="ACSP")
    validate_pacs002(data)
    assert _x(data, "//p:OrgnlEndToEndId") == ["INV-2026-0415-001", "INV-2026-0415-002"]
    assert not _x(data, "//p:GrpSts") and _x(data, "//p:OrgnlNbOfTxs") == ["2"]


def test_clearing_member_agents_are_rebuilt(original):
    fedwire_like = CreditTransfer.from_dict(
        {
            **original.to_dict(),
            "instructing_agent": "011104238",
            "instructing_agent_scheme": "ClrSysMmbId:USABA",
            "instructed_agent": "529900T8BM49AURSDO55",
            "instructed_agent_scheme": "LEI",
        }
    )
    data = build_pacs002(fedwire_like, msg_id="S", created_at=AT, tx_status="ACSC")
    validate_pacs002(data)
    assert _x(data, "//p:GrpHdr/p:InstdAgt//p:ClrSysId/p:Cd") == ["USABA"]
    assert _x(data, "//p:GrpHdr/p:InstdAgt//p:MmbId") == ["011104238"]
    assert _x(data, "//p:GrpHdr/p:InstgAgt//p:LEI") == ["529900T8BM49AURSDO55"]


def test_narrative_is_sanitised_and_utf8(original):
    data = build_pacs002(
        original,
        msg_id="S",
        created_at=AT,
        tx_status="RJCT",
        reason_code="NARR",
        narrative="Bénéficiaire\x00 inconnu\n\tligne 2 \x1b[31m",
    )
    validate_pacs002(data)
    assert _x(data, "//p:AddtlInf") == ["Bénéficiaire inconnu ligne 2 [31m"]
    assert "Bénéficiaire".encode() in data


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(tx_status="RJCT"), "needs a reason_code"),
        (dict(tx_status="acsc"), "tx_status"),
        (dict(tx_status="ACSC", reason_code="TOOLONG"), "reason_code"),
        (dict(tx_status="ACSC", created_at=datetime(2026, 4, 15, 7, 31)), "timezone-aware"),
        (dict(tx_status="ACSC", instructing_agent_bic="not a bic"), "instructing_agent_bic"),
        (dict(tx_status="ACSC", msg_id="  "), "msg_id"),
    ],
)
def test_invalid_arguments_raise_value_error(original, kwargs, message):
    args = dict(msg_id="S", created_at=AT) | kwargs
    with pytest.raises(ValueError, match=message):
        build_pacs002(original, **args)


def test_report_without_original_must_be_a_rejection():
    with pytest.raises(ValueError, match="only be RJCT"):
        build_pacs002(None, msg_id="S", created_at=AT, tx_status="ACSC")


def test_validate_pacs002_rejects_invalid_reports(original):
    data = build_pacs002(original, msg_id="S", created_at=AT, tx_status="ACSC")
    broken = re.sub(rb"<MsgId>S</MsgId>", b"", data)
    with pytest.raises(MessageRejected, match="pacs.002.001.10 schema violation"):
        validate_pacs002(broken)
