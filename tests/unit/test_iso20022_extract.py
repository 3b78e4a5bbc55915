"""Extraction into CreditTransfer: ISO-named plain strings, JSON-safe, clipped."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from lxml import etree

from chalicelib.iso20022 import CreditTransfer, Transaction, read_credit_transfer
from chalicelib.iso20022.extract import extract
from chalicelib.iso20022.recognise import Recognised

EVENTS = Path(__file__).resolve().parents[2] / "events"
BARE = (EVENTS / "pacs008_bare.xml").read_bytes()


def test_bare_message_fields():
    ct = read_credit_transfer(BARE)
    first_tx = dict(
        amount="1234.56",
        currency="EUR",
        interbank_settlement_date="2026-04-15",
        charge_bearer="SHAR",
        instructing_agent="DEUTDEFFXXX",
        instructing_agent_scheme="BICFI",
        instructed_agent="BNPAFRPPXXX",
        instructed_agent_scheme="BICFI",
        debtor_agent="DEUTDEFFXXX",
        debtor_agent_scheme="BICFI",
        creditor_agent="BNPAFRPPXXX",
        creditor_agent_scheme="BICFI",
        debtor_name="Muster Maschinenbau GmbH",
        debtor_country="DE",
        debtor_account="DE89370400440532013000",
        debtor_account_scheme="IBAN",
        creditor_name="Exemple Distribution SARL",
        creditor_country="FR",
        creditor_account="FR7630006000011234567890189",
        creditor_account_scheme="IBAN",
    )
    assert ct == CreditTransfer(
        message_type="pacs.008.001.08",
        msg_id="PFW-20260415-000123",
        creation_date_time="2026-04-15T09:30:00+02:00",
        nb_of_txs="1",
        settlement_method="INDA",
        transactions=(
            Transaction(
                instr_id="PFW-INSTR-001",
                end_to_end_id="INV-2026-0415-001",
                tx_id="PFW-TX-001",
                uetr="32e0a499-6667-431e-ae98-1e0782016094",
                **first_tx,
            ),
        ),
    )
    # The group header names no agents and no settlement date: the top level has none.
    assert (ct.instructing_agent, ct.instructed_agent, ct.interbank_settlement_date) == (None, None, None)


def test_bah_fields():
    ct = read_credit_transfer((EVENTS / "pacs008_bah_envelope.xml").read_bytes())
    assert (ct.bah_from, ct.bah_to, ct.biz_msg_idr, ct.msg_def_idr, ct.biz_svc, ct.bah_cre_dt) == (
        "DEUTDEFFXXX",
        "BNPAFRPPXXX",
        "PFW-20260415-000123",
        "pacs.008.001.08",
        "swift.cbprplus.02",
        "2026-04-15T09:30:00+02:00",
    )


def test_all_transactions_are_listed_first_one_detailed():
    ct = read_credit_transfer((EVENTS / "pacs008_two_txs.xml").read_bytes())
    assert ct.nb_of_txs == "2"
    assert [t.end_to_end_id for t in ct.transactions] == ["INV-2026-0415-001", "INV-2026-0415-002"]
    assert ct.transactions[1].uetr == "a7218981-b6df-4ca2-a6df-b49bd0cb7ea8"
    first = ct.transactions[0]
    assert first.end_to_end_id == "INV-2026-0415-001" and first.amount == "1234.56"


def test_amount_is_the_decimal_text_as_sent():
    for text in (b"1234.5", b"0.01", b"1000000", b"7.00000"):
        assert read_credit_transfer(BARE.replace(b"1234.56", text)).transactions[0].amount == text.decode()


def test_amount_is_read_whole_however_long_its_schema_valid_text():
    """The XSD bounds an amount's digits, not its text: 36 leading zeros (43 characters) are
    valid, and clipping the text would read 1234 instead of 1234.56."""
    text = "0" * 36 + "1234.56"
    ct = read_credit_transfer(BARE.replace(b">1234.56<", b">" + text.encode() + b"<"))
    assert ct.transactions[0].amount == text


def test_agents_fall_back_to_group_header_and_other_identifiers():
    raw = re.sub(rb"<InstgAgt>.*?</InstgAgt>", b"", BARE, flags=re.S)  # none at tx level
    raw = raw.replace(
        b"</SttlmInf>",
        b"</SttlmInf><InstgAgt><FinInstnId><ClrSysMmbId><ClrSysId>"
        b"<Cd>DEBLZ</Cd></ClrSysId><MmbId>50070010</MmbId></ClrSysMmbId></FinInstnId></InstgAgt>",
    )
    raw = re.sub(
        rb"(<InstdAgt>\s*<FinInstnId>\s*)<BICFI>BNPAFRPPXXX</BICFI>", rb"\1<LEI>529900T8BM49AURSDO55</LEI>", raw
    )
    raw = re.sub(rb"(<CdtrAgt>\s*<FinInstnId>\s*)<BICFI>BNPAFRPPXXX</BICFI>", rb"\1<Othr><Id>BANK-42</Id></Othr>", raw)
    ct = read_credit_transfer(raw)
    tx = ct.transactions[0]
    assert (tx.instructing_agent, tx.instructing_agent_scheme) == ("50070010", "ClrSysMmbId:DEBLZ")
    assert (tx.instructed_agent, tx.instructed_agent_scheme) == ("529900T8BM49AURSDO55", "LEI")
    assert (tx.creditor_agent, tx.creditor_agent_scheme) == ("BANK-42", "Othr")
    assert (tx.debtor_agent, tx.debtor_agent_scheme) == ("DEUTDEFFXXX", "BICFI")
    # The top level holds the group header's agents only: its InstgAgt, and no InstdAgt.
    assert (ct.instructing_agent, ct.instructing_agent_scheme) == ("50070010", "ClrSysMmbId:DEBLZ")
    assert (ct.instructed_agent, ct.instructed_agent_scheme) == (None, None)


def test_to_dict_is_json_safe_and_round_trips():
    for name in ("pacs008_bare.xml", "pacs008_bah_envelope.xml", "pacs008_two_txs.xml"):
        ct = read_credit_transfer((EVENTS / name).read_bytes())
        data = ct.to_dict()
        assert json.loads(json.dumps(data)) == data
        for key, value in data.items():
            if key == "transactions":
                assert all(isinstance(v, (str, type(None))) for t in value for v in t.values())
            elif key == "notes":
                assert all(isinstance(v, str) for v in value)
            else:
                assert isinstance(value, (str, type(None))), key
        assert CreditTransfer.from_dict(json.loads(json.dumps(data))) == ct


def test_from_dict_tolerates_unknown_and_missing_optional_keys():
    ct = CreditTransfer.from_dict(
        {
            "message_type": "pacs.008.001.08",
            "msg_id": "M",
            "creation_date_time": "2026-01-01T00:00:00Z",
            "nb_of_txs": "1",
            "added_later": "x",
        }
    )
    assert ct.instructing_agent is None and ct.transactions == () and ct.notes == ()


def test_credit_transfer_is_frozen():
    ct = read_credit_transfer(BARE)
    try:
        ct.msg_id = "other"  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("CreditTransfer must be immutable")


def test_every_string_is_clipped_to_its_xsd_length_even_unvalidated():
    """Defence in depth: extract() clips even if handed an invalid (unvalidated) tree."""
    long = b"X" * 500
    raw = (
        BARE.replace(b"PFW-20260415-000123", long)
        .replace(b"INV-2026-0415-001", long)
        .replace(b"DEUTDEFFXXX", long)
        .replace(b'Ccy="EUR"', b'Ccy="' + long + b'"')
        .replace(b"1234.56", b"1" * 500)
        .replace(b"SHAR", long)
    )
    root = etree.fromstring(raw)
    ct = extract(Recognised("pacs.008.001.08", root, None, None, None))
    tx = ct.transactions[0]
    assert tx.end_to_end_id is not None and tx.instructing_agent is not None
    assert tx.currency is not None and tx.charge_bearer is not None and tx.amount is not None
    assert len(ct.msg_id) == 35 and len(tx.end_to_end_id) == 35
    assert len(tx.instructing_agent) == 11 and len(tx.currency) == 3
    assert len(tx.charge_bearer) == 4
    assert tx.amount == "1" * 500  # an amount is never clipped: that would change its value
