"""pacs.004.001.09 PaymentReturn built from a stored CreditTransfer: schema-valid, deterministic."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from lxml import etree

from chalicelib.iso20022 import (
    RETURN_REASONS,
    CreditTransfer,
    MessageRejected,
    Transaction,
    build_pacs004,
    read_credit_transfer,
    validate_pacs004,
)

EVENTS = Path(__file__).resolve().parents[2] / "events"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.004.001.09"}
AT = datetime(2026, 4, 16, 8, 0, tzinfo=UTC)
UETR = "32e0a499-6667-431e-ae98-1e0782016094"


@pytest.fixture(scope="module")
def original() -> CreditTransfer:
    return read_credit_transfer((EVENTS / "pacs008_bah_envelope.xml").read_bytes())


def _x(data: bytes, path: str) -> list[str]:
    return etree.fromstring(data).xpath(path + "/text()", namespaces=NS)


def _build(original: CreditTransfer, **kw) -> bytes:
    args = dict(msg_id="PFW-RTR-1", return_id="PFW-RTRID-1", created_at=AT, settlement_date="2026-04-16") | kw
    return build_pacs004(original, **args)


def test_return_following_a_cancellation_request(original):
    data = _build(original, narrative="camt.056 PFW-CXL-20260415-0007")
    validate_pacs004(data)
    assert _x(data, "//p:GrpHdr/p:MsgId") == ["PFW-RTR-1"]
    assert _x(data, "//p:GrpHdr/p:NbOfTxs") == ["1"]
    assert _x(data, "//p:GrpHdr/p:SttlmInf/p:SttlmMtd") == ["INDA"]
    assert _x(data, "//p:TxInf/p:RtrId") == ["PFW-RTRID-1"]
    assert _x(data, "//p:OrgnlGrpInf/p:OrgnlMsgId") == ["PFW-20260415-000123"]
    assert _x(data, "//p:OrgnlGrpInf/p:OrgnlMsgNmId") == ["pacs.008.001.08"]
    assert _x(data, "//p:OrgnlEndToEndId") == ["INV-2026-0415-001"]
    assert _x(data, "//p:OrgnlTxId") == ["PFW-TX-001"]
    assert _x(data, "//p:OrgnlUETR") == [UETR]
    assert _x(data, "//p:RtrdIntrBkSttlmAmt") == ["1234.56"]
    assert etree.fromstring(data).xpath("//p:RtrdIntrBkSttlmAmt/@Ccy", namespaces=NS) == ["EUR"]
    assert _x(data, "//p:TxInf/p:IntrBkSttlmDt") == ["2026-04-16"]
    assert _x(data, "//p:ChrgBr") == ["SHAR"]
    assert _x(data, "//p:TxInf/p:InstgAgt//p:BICFI") == ["BNPAFRPPXXX"]  # flows back
    assert _x(data, "//p:TxInf/p:InstdAgt//p:BICFI") == ["DEUTDEFFXXX"]
    assert _x(data, "//p:RtrRsnInf/p:Rsn/p:Cd") == ["FOCR"]
    assert _x(data, "//p:RtrRsnInf/p:AddtlInf") == ["camt.056 PFW-CXL-20260415-0007"]
    assert _x(data, "//p:OrgnlTxRef/p:IntrBkSttlmAmt") == ["1234.56"]
    assert _x(data, "//p:OrgnlTxRef/p:IntrBkSttlmDt") == ["2026-04-15"]


@pytest.mark.parametrize("code", sorted(RETURN_REASONS))
def test_each_listed_return_reason_is_valid(original, code):
    data = _build(original, reason_code=code, narrative="see case 7")
    validate_pacs004(data)
    assert _x(data, "//p:RtrRsnInf/p:Rsn/p:Cd") == [code]


def test_partial_amount_other_charge_bearer_our_bic_and_a_date_object(original):
    data = _build(
        original,
        returned_amount="1200",
        charge_bearer="CRED",
        instructing_agent_bic="PFLWGB2LXXX",
        settlement_date=date(2026, 4, 17),
    )
    validate_pacs004(data)
    assert _x(data, "//p:RtrdIntrBkSttlmAmt") == ["1200"]
    assert _x(data, "//p:ChrgBr") == ["CRED"]
    assert _x(data, "//p:TxInf/p:InstgAgt//p:BICFI") == ["PFLWGB2LXXX"]
    assert _x(data, "//p:TxInf/p:IntrBkSttlmDt") == ["2026-04-17"]


@pytest.mark.parametrize(
    ("sent", "written"),
    [
        ("+1234.56", "1234.56"),
        ("01234.56", "1234.56"),
        ("1234.560000", "1234.56"),
        ("0" * 36 + "1234.56", "1234.56"),
        ("1234.50", "1234.50"),
        ("123456789012345678.000000", "123456789012345678"),
    ],
)
def test_a_schema_valid_amount_in_any_form_is_returned_in_canonical_form(original, sent, written):
    """The XSD bounds an amount's value (18 digits, 5 after the point), not its text: every
    form that passed it is returned, written canonical."""
    tx = dataclasses.replace(original.transactions[0], amount=sent)
    data = _build(dataclasses.replace(original, transactions=(tx,)))
    validate_pacs004(data)
    assert _x(data, "//p:RtrdIntrBkSttlmAmt") == [written]
    assert _x(data, "//p:OrgnlTxRef/p:IntrBkSttlmAmt") == [written]


def test_return_chain_swaps_the_parties_when_both_names_are_given(original):
    data = _build(
        original, return_debtor_name="Exemple Distribution SARL", return_creditor_name="Muster Maschinenbau GmbH"
    )
    validate_pacs004(data)
    assert _x(data, "//p:RtrChain/p:Dbtr/p:Pty/p:Nm") == ["Exemple Distribution SARL"]
    assert _x(data, "//p:RtrChain/p:Cdtr/p:Pty/p:Nm") == ["Muster Maschinenbau GmbH"]


def test_works_from_the_committed_minimal_dict_shape(original):
    """Only the fields CreditTransfer had before per-transaction details were added (the
    first transaction's repeated at the top level), read back with from_stored."""
    first = original.transactions[0].to_dict()
    keys = (
        "message_type",
        "msg_id",
        "creation_date_time",
        "nb_of_txs",
        "settlement_method",
        "interbank_settlement_date",
        "instr_id",
        "end_to_end_id",
        "tx_id",
        "uetr",
        "amount",
        "currency",
        "instructing_agent",
        "instructing_agent_scheme",
        "instructed_agent",
        "instructed_agent_scheme",
        "charge_bearer",
    )
    old_top = {**original.to_dict(), **first}  # the first transaction's values won
    minimal = {k: old_top.get(k) for k in keys}
    minimal["transactions"] = [
        {k: t.to_dict()[k] for k in ("instr_id", "end_to_end_id", "tx_id", "uetr")} for t in original.transactions
    ]
    data = _build(CreditTransfer.from_stored(minimal))
    validate_pacs004(data)
    assert _x(data, "//p:RtrdIntrBkSttlmAmt") == ["1234.56"] and not _x(data, "//p:RtrChain//p:Nm")


def test_second_transaction_of_a_multi_transaction_original():
    two = read_credit_transfer((EVENTS / "pacs008_two_txs.xml").read_bytes())
    second = two.transactions[1]
    kw = {} if getattr(second, "amount", None) else {"returned_amount": "99.5", "currency": "EUR"}
    data = _build(two, transaction="INV-2026-0415-002", **kw)
    validate_pacs004(data)
    assert _x(data, "//p:OrgnlEndToEndId") == ["INV-2026-0415-002"]
    assert _x(data, "//p:RtrdIntrBkSttlmAmt") == ["99.5"]
    by_uetr = _build(two, transaction=second.uetr, **kw)
    assert by_uetr == data


def test_every_transaction_is_returned_one_txinf_each():
    two = read_credit_transfer((EVENTS / "pacs008_two_txs.xml").read_bytes())
    data = _build(two, every_transaction=True)
    validate_pacs004(data)
    assert _x(data, "//p:GrpHdr/p:NbOfTxs") == ["2"]
    assert _x(data, "//p:TxInf/p:OrgnlEndToEndId") == ["INV-2026-0415-001", "INV-2026-0415-002"]
    assert _x(data, "//p:TxInf/p:RtrdIntrBkSttlmAmt") == ["1234.56", "99.5"]
    assert _x(data, "//p:TxInf/p:RtrId") == ["PFW-RTRID-1", "PFW-RTRID-1-2"]
    with pytest.raises(ValueError, match="one transaction"):
        _build(two, every_transaction=True, returned_amount="1")


def test_clearing_settlement_and_clearing_member_agents(original):
    """A group-header InstgAgt (a clearing member) and a transaction without its own."""
    fedwire_like = dataclasses.replace(
        original,
        settlement_method="CLRG",
        clearing_system="FDW",
        instructing_agent="011104238",
        instructing_agent_scheme="ClrSysMmbId:USABA",
        transactions=tuple(
            dataclasses.replace(t, instructing_agent=None, instructing_agent_scheme=None) for t in original.transactions
        ),
    )
    data = _build(fedwire_like)
    validate_pacs004(data)
    assert _x(data, "//p:SttlmInf/p:ClrSys/p:Cd") == ["FDW"]
    assert _x(data, "//p:TxInf/p:InstdAgt//p:MmbId") == ["011104238"]


def test_the_transactions_own_agents_come_before_the_group_headers(original):
    with_group = dataclasses.replace(
        original, instructing_agent="011104238", instructing_agent_scheme="ClrSysMmbId:USABA"
    )
    data = _build(with_group)
    assert _x(data, "//p:TxInf/p:InstdAgt//p:BICFI") == ["DEUTDEFFXXX"]
    assert not _x(data, "//p:TxInf/p:InstdAgt//p:MmbId")


def test_deterministic_and_the_same_after_a_dict_round_trip(original):
    ct = CreditTransfer.from_dict(original.to_dict())
    assert _build(original) == _build(original) == _build(ct)


def test_a_dict_is_refused(original):
    with pytest.raises(TypeError, match="CreditTransfer"):
        _build(original.to_dict())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(reason_code="focr"), "reason_code"),
        (dict(reason_code="NARR"), "NARR needs a narrative"),
        (dict(settlement_date="16/04/2026"), "settlement_date"),
        (dict(returned_amount="12.345678"), "amount"),
        (dict(returned_amount="-1"), "amount"),
        (dict(returned_amount="12345678901234567.12"), "amount"),
        (dict(currency="eur"), "currency"),
        (dict(charge_bearer="OUR"), "charge_bearer"),
        (dict(transaction="NO-SUCH-E2E"), "no transaction"),
        (dict(msg_id=""), "msg_id"),
        (dict(return_id="R" * 36), "return_id"),
        (dict(instructing_agent_bic="bad"), "instructing_agent_bic"),
        (dict(created_at=datetime(2026, 4, 16)), "timezone-aware"),
    ],
)
def test_invalid_arguments_raise_value_error(original, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _build(original, **kwargs)


def test_original_without_an_amount_needs_one(original):
    no_amount = dataclasses.replace(
        original, transactions=tuple(dataclasses.replace(t, amount=None, currency=None) for t in original.transactions)
    )
    with pytest.raises(ValueError, match="needs an amount"):
        _build(no_amount)


def test_original_without_a_transaction_is_refused(original):
    with pytest.raises(ValueError, match="no transaction"):
        _build(dataclasses.replace(original, transactions=()))


def test_a_hand_built_original_with_one_transaction():
    ct = CreditTransfer(
        message_type="pacs.008.001.08",
        msg_id="M-1",
        creation_date_time="2026-04-15T09:30:00Z",
        nb_of_txs="1",
        instructing_agent="DEUTDEFFXXX",
        instructing_agent_scheme="BICFI",
        instructed_agent="BNPAFRPPXXX",
        instructed_agent_scheme="BICFI",
        transactions=(Transaction(end_to_end_id="E2E-1", uetr=UETR, amount="10", currency="EUR"),),
    )
    data = _build(ct)
    validate_pacs004(data)
    assert _x(data, "//p:OrgnlEndToEndId") == ["E2E-1"]
    assert _x(data, "//p:TxInf/p:InstgAgt//p:BICFI") == ["BNPAFRPPXXX"]
    assert _x(data, "//p:TxInf/p:InstdAgt//p:BICFI") == ["DEUTDEFFXXX"]


def test_validate_pacs004_rejects_a_broken_document(original):
    with pytest.raises(MessageRejected, match="pacs.004.001.09 schema violation"):
        validate_pacs004(_build(original).replace(b"<NbOfTxs>1</NbOfTxs>", b""))


def test_return_of_a_real_world_pacs008(samples_dir):
    ct = read_credit_transfer((samples_dir / "valid/cbprur_pacs008_sample_2025.xml").read_bytes())
    data = build_pacs004(ct, msg_id="R", return_id="R", created_at=AT, settlement_date="2026-04-16")
    validate_pacs004(data)
    assert _x(data, "//p:OrgnlUETR") == [ct.transactions[0].uetr]
