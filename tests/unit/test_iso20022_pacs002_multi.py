"""pacs.002.001.10: a status per transaction, group status, several reasons, pacs.028 answers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from chalicelib.iso20022 import (
    CreditTransfer,
    StatusReason,
    Transaction,
    TxStatus,
    build_pacs002,
    group_status_of,
    read_credit_transfer,
    read_message,
    validate_pacs002,
)

EVENTS = Path(__file__).resolve().parents[2] / "events"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}
AT = datetime(2026, 4, 15, 7, 31, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def two() -> CreditTransfer:
    return read_credit_transfer((EVENTS / "pacs008_two_txs.xml").read_bytes())


@pytest.fixture(scope="module")
def one() -> CreditTransfer:
    return read_credit_transfer((EVENTS / "pacs008_bah_envelope.xml").read_bytes())


def _x(data: bytes, path: str) -> list[str]:
    return etree.fromstring(data).xpath(path + "/text()", namespaces=NS)


def test_one_rejected_one_accepted_is_part(two):
    data = build_pacs002(
        two,
        msg_id="S",
        created_at=AT,
        tx_statuses=[
            TxStatus("ACSP", accepted_at=AT),
            TxStatus("RJCT", (StatusReason("AM04"), StatusReason("RR04", "sanctions screening hit"))),
        ],
    )
    validate_pacs002(data)
    assert _x(data, "//p:OrgnlGrpInfAndSts/p:GrpSts") == ["PART"]
    assert _x(data, "//p:NbOfTxsPerSts/p:DtldSts") == ["ACSP", "RJCT"]
    assert _x(data, "//p:NbOfTxsPerSts/p:DtldNbOfTxs") == ["1", "1"]
    assert _x(data, "//p:TxInfAndSts/p:TxSts") == ["ACSP", "RJCT"]
    assert _x(data, "//p:TxInfAndSts/p:OrgnlEndToEndId") == ["INV-2026-0415-001", "INV-2026-0415-002"]
    assert _x(data, "//p:TxInfAndSts[2]/p:StsRsnInf/p:Rsn/p:Cd") == ["AM04", "RR04"]
    assert _x(data, "//p:TxInfAndSts[2]/p:StsRsnInf[2]/p:AddtlInf") == ["sanctions screening hit"]
    assert _x(data, "//p:TxInfAndSts[1]/p:AccptncDtTm") == ["2026-04-15T07:31:05+00:00"]
    assert not _x(data, "//p:TxInfAndSts[1]/p:StsRsnInf//p:Cd")


@pytest.mark.parametrize(
    "statuses, group", [(["ACSC", "ACSC"], "ACSC"), (["ACSP", "ACSC"], "ACSP"), (["RJCT", "RJCT"], "RJCT")]
)
def test_group_status_when_all_share_an_outcome(two, statuses, group):
    txs = [TxStatus(s, (StatusReason("DUPL"),) if s == "RJCT" else ()) for s in statuses]
    data = build_pacs002(two, msg_id="S", created_at=AT, tx_statuses=txs)
    validate_pacs002(data)
    assert _x(data, "//p:GrpSts") == [group] and not _x(data, "//p:NbOfTxsPerSts")


@pytest.mark.parametrize(
    "statuses, expected",
    [
        (["ACSC"], "ACSC"),
        (["ACTC", "ACSC", "ACSP"], "ACTC"),
        (["RJCT", "ACSC"], "PART"),
        (["PDNG", "ACSP"], "PART"),
        (["PDNG", "RJCT"], "PDNG"),
        (["RJCT", "RJCT"], "RJCT"),
        (["CANC", "RJCT"], "CANC"),  # cancelled, one transaction rejected before
    ],
)
def test_group_status_of(statuses, expected):
    assert group_status_of(statuses) == expected


def test_statuses_can_name_their_transaction_and_the_group_status_can_be_forced(two):
    second = two.transactions[1]
    data = build_pacs002(
        two,
        msg_id="S",
        created_at=AT,
        group_status="PDNG",
        tx_statuses=[TxStatus("PDNG", (StatusReason(narrative="awaiting funds"),), ids=second)],
    )
    validate_pacs002(data)
    assert _x(data, "//p:GrpSts") == ["PDNG"]
    assert _x(data, "//p:OrgnlEndToEndId") == ["INV-2026-0415-002"]
    assert _x(data, "//p:StsRsnInf/p:AddtlInf") == ["awaiting funds"] and not _x(data, "//p:StsRsnInf//p:Cd")


def test_single_transaction_rejection_with_several_reasons(one):
    data = build_pacs002(
        one,
        msg_id="S",
        created_at=AT,
        tx_status="RJCT",
        reason_code="AM04",
        narrative="limit",
        reasons=[StatusReason("RR04", "sanctions"), StatusReason("DUPL")],
    )
    validate_pacs002(data)
    assert _x(data, "//p:TxInfAndSts/p:StsRsnInf/p:Rsn/p:Cd") == ["AM04", "RR04", "DUPL"]
    assert _x(data, "//p:TxInfAndSts/p:StsRsnInf/p:AddtlInf") == ["limit", "sanctions"]
    only_list = build_pacs002(
        one, msg_id="S", created_at=AT, tx_status="RJCT", reasons=[StatusReason("AM04"), StatusReason("RR04")]
    )
    validate_pacs002(only_list)
    assert _x(only_list, "//p:StsRsnInf/p:Rsn/p:Cd") == ["AM04", "RR04"]


def test_legacy_call_is_unchanged_for_one_transaction(one):
    data = build_pacs002(one, msg_id="S", created_at=AT, tx_status="ACSC")
    assert _x(data, "//p:GrpSts") == ["ACSC"] and _x(data, "//p:TxSts") == ["ACSC"]
    per_tx = build_pacs002(one, msg_id="S", created_at=AT, tx_statuses=[TxStatus("ACSC")])
    assert per_tx == data  # same bytes either way


def test_answer_to_a_status_request_for_a_known_payment(one):
    request = read_message((EVENTS / "pacs028_status_request.xml").read_bytes())
    (asked,) = request.transactions
    ids = next(t for t in one.transactions if t.uetr == asked.original_uetr)
    data = build_pacs002(
        one, msg_id="PFW-STS-9", created_at=AT, tx_statuses=[TxStatus("ACSC", ids=ids, accepted_at=AT)]
    )
    validate_pacs002(data)
    assert _x(data, "//p:OrgnlMsgId") == [asked.original_msg_id]
    assert _x(data, "//p:OrgnlMsgNmId") == ["pacs.008.001.08"]  # the original's, not pacs.028
    assert _x(data, "//p:OrgnlUETR") == [asked.original_uetr]
    assert _x(data, "//p:GrpHdr/p:InstdAgt//p:BICFI") == ["DEUTDEFFXXX"]


def test_answer_to_a_status_request_for_an_unknown_payment():
    request = read_message((EVENTS / "pacs028_status_request.xml").read_bytes())
    data = build_pacs002(
        request.as_original(),
        msg_id="S",
        created_at=AT,
        tx_status="RJCT",
        reason_code="NARR",
        narrative="payment not found",
        instructing_agent_bic="BNPAFRPPXXX",
    )
    validate_pacs002(data)
    assert _x(data, "//p:OrgnlMsgId") == ["PFW-20260415-000123"]
    assert _x(data, "//p:OrgnlMsgNmId") == ["pacs.008.001.08"]
    assert _x(data, "//p:OrgnlEndToEndId") == ["INV-2026-0415-001"]
    assert _x(data, "//p:GrpHdr/p:InstgAgt//p:BICFI") == ["BNPAFRPPXXX"]
    assert _x(data, "//p:GrpHdr/p:InstdAgt//p:BICFI") == ["DEUTDEFFXXX"]
    assert not _x(data, "//p:OrgnlNbOfTxs")
    (asked,) = request.as_original().transactions  # the requester's agents, as a transaction's
    assert (asked.end_to_end_id, asked.instructing_agent) == ("INV-2026-0415-001", "DEUTDEFFXXX")


def test_answer_to_the_fedwire_status_request(samples_dir):
    request = read_message((samples_dir / "valid/fedwire_pacs028_status_request.xml").read_bytes())
    data = build_pacs002(request.as_original(), msg_id="S", created_at=AT, tx_status="ACSC")
    validate_pacs002(data)
    assert _x(data, "//p:OrgnlMsgId") == ["20250310B1QDRCQR000001"]
    assert _x(data, "//p:GrpHdr/p:InstgAgt//p:MmbId") == ["021151080"]


def test_per_transaction_output_is_deterministic_and_survives_a_dict_round_trip(two):
    kw = dict(msg_id="S", created_at=AT, tx_statuses=[TxStatus("ACSC"), TxStatus("RJCT", (StatusReason("AM04"),))])
    assert build_pacs002(two, **kw) == build_pacs002(CreditTransfer.from_dict(two.to_dict()), **kw)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(tx_statuses=[TxStatus("RJCT")]), "needs a reason code"),
        (dict(tx_statuses=[TxStatus("acsc")]), "status"),
        (dict(tx_statuses=[TxStatus("ACSC")] * 3), "has no ids"),
        (dict(tx_statuses=[]), "empty"),
        (dict(tx_statuses=[TxStatus("ACSC", ids=Transaction())]), "names no transaction"),
        (dict(tx_statuses=[TxStatus("RJCT", (StatusReason("TOOLONG"),))]), "reason code"),
        (dict(tx_statuses=[TxStatus("RJCT", (StatusReason(),))]), "code or a narrative"),
        (dict(tx_statuses=[TxStatus("ACSC")], tx_status="ACSC"), "own statuses"),
        (dict(tx_statuses=[TxStatus("ACSC")], group_status="part"), "group_status"),
        (dict(tx_status="RJCT", reasons=[StatusReason(narrative="no code")]), "needs a reason_code"),
        (dict(), "tx_status or tx_statuses"),
    ],
)
def test_invalid_arguments_raise_value_error(two, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_pacs002(two, msg_id="S", created_at=AT, **kwargs)


def test_per_transaction_statuses_need_an_original():
    with pytest.raises(ValueError, match="need the original"):
        build_pacs002(None, msg_id="S", created_at=AT, tx_statuses=[TxStatus("RJCT", (StatusReason("FF01"),))])


def test_group_level_rejection_with_several_reasons():
    data = build_pacs002(
        None,
        msg_id="S",
        created_at=AT,
        tx_status="RJCT",
        reasons=[StatusReason("FF01", "schema"), StatusReason("NARR", "and more")],
    )
    validate_pacs002(data)
    assert _x(data, "//p:OrgnlGrpInfAndSts/p:StsRsnInf/p:Rsn/p:Cd") == ["FF01", "NARR"]
