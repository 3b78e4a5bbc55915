"""The fields the business rules read, as extracted into CreditTransfer (per transaction too)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from lxml import etree

from chalicelib import checks
from chalicelib.checks import CheckSettings
from chalicelib.checks.sanctions import Screening
from chalicelib.domain.models import Transaction
from chalicelib.iso20022 import CreditTransfer, read_credit_transfer
from chalicelib.iso20022.extract import extract
from chalicelib.iso20022.recognise import Recognised

EVENTS = Path(__file__).resolve().parents[2] / "events"
BARE = (EVENTS / "pacs008_bare.xml").read_bytes()


def test_every_transaction_carries_its_details_and_the_top_level_only_the_group_header():
    ct = read_credit_transfer((EVENTS / "pacs008_two_txs.xml").read_bytes())
    first, second = ct.transactions
    assert (second.amount, second.currency, second.interbank_settlement_date, second.charge_bearer) == (
        "99.5",
        "EUR",
        "2026-04-15",
        "SHAR",
    )
    assert (second.instructing_agent, second.instructed_agent) == ("DEUTDEFFXXX", "BNPAFRPPXXX")
    assert (second.debtor_account, second.debtor_account_scheme, second.creditor_country) == (
        "DE89370400440532013000",
        "IBAN",
        "FR",
    )
    for name in ("amount", "currency", "charge_bearer", "debtor_name", "creditor_account", "debtor_agent"):
        assert not hasattr(ct, name), name
    # the events name their agents in the transactions, none in GrpHdr
    assert (ct.instructing_agent, ct.instructed_agent) == (None, None)
    assert all(type(tx) is Transaction for tx in ct.transactions)


def test_transactions_without_their_own_agents_take_the_group_headers():
    agent = re.search(rb"\s*<InstgAgt>.*?</InstgAgt>", BARE, re.S).group(0)
    raw = BARE.replace(agent, b"", 1).replace(b"</SttlmInf>", b"</SttlmInf>" + agent, 1)
    ct = read_credit_transfer(raw)
    assert (ct.instructing_agent, ct.instructing_agent_scheme) == ("DEUTDEFFXXX", "BICFI")
    assert (ct.transactions[0].instructing_agent, ct.transactions[0].instructing_agent_scheme) == (
        "DEUTDEFFXXX",
        "BICFI",
    )
    # so the rules judge the same agents wherever they were given
    same = dataclasses.replace(ct, instructing_agent=None, instructing_agent_scheme=None)
    settings, demo = CheckSettings(date_reference="creation"), Screening.load()
    assert checks.run(ct, settings, screening=demo) == checks.run(same, settings, screening=demo)


def test_group_totals_other_accounts_and_agents():
    raw = BARE.replace(
        b"<NbOfTxs>1</NbOfTxs>",
        b'<NbOfTxs>1</NbOfTxs><CtrlSum>1234.56</CtrlSum><TtlIntrBkSttlmAmt Ccy="EUR">1234.56</TtlIntrBkSttlmAmt>',
    )
    raw = raw.replace(
        b"<IBAN>FR7630006000011234567890189</IBAN>", b"<Othr><Id>12345678</Id><SchmeNm><Cd>BBAN</Cd></SchmeNm></Othr>"
    )
    raw = raw.replace(b"<IBAN>DE89370400440532013000</IBAN>", b"<Othr><Id>87654321</Id></Othr>")
    raw = raw.replace(
        b"</InstdAgt>", b"</InstdAgt><IntrmyAgt1><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></IntrmyAgt1>", 1
    )
    ct = read_credit_transfer(raw)
    assert (ct.ctrl_sum, ct.total_interbank_settlement_amount, ct.total_interbank_settlement_currency) == (
        "1234.56",
        "1234.56",
        "EUR",
    )
    tx = ct.transactions[0]
    assert (tx.creditor_account, tx.creditor_account_scheme) == ("12345678", "Othr:BBAN")
    assert (tx.debtor_account, tx.debtor_account_scheme) == ("87654321", "Othr")
    assert (tx.intermediary_agent1, tx.intermediary_agent1_scheme) == ("COBADEFFXXX", "BICFI")
    assert tx.previous_instructing_agent1 is None


def test_bah_parties_name_their_scheme():
    ct = read_credit_transfer((EVENTS / "pacs008_bah_envelope.xml").read_bytes())
    assert (ct.bah_from, ct.bah_from_scheme, ct.bah_to, ct.bah_to_scheme) == (
        "DEUTDEFFXXX",
        "BICFI",
        "BNPAFRPPXXX",
        "BICFI",
    )


def test_the_dict_is_json_safe_and_round_trips():
    for name in ("pacs008_bare.xml", "pacs008_bah_envelope.xml", "pacs008_two_txs.xml"):
        ct = read_credit_transfer((EVENTS / name).read_bytes())
        data = json.loads(json.dumps(ct.to_dict()))
        assert all(isinstance(v, (str, type(None))) for t in data["transactions"] for v in t.values())
        assert all(isinstance(v, (str, type(None))) for k, v in data.items() if k not in ("transactions", "notes"))
        assert CreditTransfer.from_dict(data) == ct


def test_dicts_recorded_before_the_details_and_after_later_additions_load():
    old = {
        "message_type": "pacs.008.001.08",
        "msg_id": "M",
        "creation_date_time": "2026-01-01T00:00:00Z",
        "nb_of_txs": "1",
        "transactions": [{"instr_id": "I", "end_to_end_id": "E", "tx_id": None, "uetr": None}],
    }
    ct = CreditTransfer.from_dict(old)
    assert ct.transactions[0].end_to_end_id == "E" and ct.transactions[0].amount is None
    newer = dict(old, transactions=[{"end_to_end_id": "E", "added_later": "x"}])
    assert CreditTransfer.from_dict(newer).transactions[0].end_to_end_id == "E"


def test_new_strings_are_clipped_even_unvalidated():
    long = b"X" * 500
    raw = (
        BARE.replace(b"Muster Maschinenbau GmbH", long)
        .replace(b"DE89370400440532013000", long)
        .replace(b"<Ctry>DE</Ctry>", b"<Ctry>" + long + b"</Ctry>")
    )
    ct = extract(Recognised("pacs.008.001.08", etree.fromstring(raw), None, None, None))
    tx = ct.transactions[0]
    assert len(tx.debtor_name) == 140 and len(tx.debtor_account) == 34 and len(tx.debtor_country) == 2
