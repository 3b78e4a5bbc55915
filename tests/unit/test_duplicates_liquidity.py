"""Duplicates and liquidity in the processing step (in memory; the same code runs on DynamoDB)."""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from lxml import etree

from chalicelib.adapters.settings import Settings
from chalicelib.domain import TxSts
from chalicelib.domain.position import position_id
from chalicelib.pipeline.liquidity import parse_limits
from tests.messages import fresh
from tests.unit.fakes import drain, memory_service

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}
OWNER = "client-a"


def pay(p, body: bytes, owner: str = OWNER):
    tx = p.issue_transaction("pacs.008", "r", owner).id
    p.submit(tx, "pacs.008", body, owner)
    drain(p)
    return tx


def outcome(p, tx, owner: str = OWNER) -> tuple[str, list[str]]:
    doc = etree.fromstring(p.status_report(tx, owner))
    status = doc.findtext(".//p:TxInfAndSts/p:TxSts", namespaces=NS) or doc.findtext(".//p:GrpSts", namespaces=NS)
    return status, doc.xpath(".//p:StsRsnInf/p:Rsn/p:Cd/text()", namespaces=NS)


def replace(body: bytes, tag: str, value: str) -> bytes:
    return re.sub(rf"<{tag}>[^<]*</{tag}>".encode(), f"<{tag}>{value}</{tag}>".encode(), body, count=1)


def test_the_same_message_under_another_transaction_is_a_duplicate():
    p = memory_service()
    body = fresh("pacs008_bare.xml")
    first, second = pay(p, body), pay(p, body)
    assert outcome(p, first) == ("ACSC", [])
    status, reasons = outcome(p, second)
    assert (status, reasons) == ("RJCT", ["DUPL"])


def test_a_duplicate_of_another_tenants_payment_does_not_learn_its_transaction_id():
    """Claims are shared by every tenant (a UETR is unique worldwide): another tenant's copy is
    a duplicate, and what it is told (its report, its events) names no transaction of ours."""
    p = memory_service()
    body = fresh("pacs008_bare.xml")
    ours, theirs = pay(p, body), pay(p, body, owner="client-b")
    assert outcome(p, theirs, "client-b") == ("RJCT", ["DUPL"])
    told = p.status_report(theirs, "client-b").decode() + repr(p.payments.history(theirs, "client-b"))
    assert "already received" in told and str(ours) not in told


def test_a_reused_msgid_uetr_or_end_to_end_id_is_a_duplicate_with_its_own_reason():
    p = memory_service()
    body = fresh("pacs008_bare.xml")
    assert outcome(p, pay(p, body))[0] == "ACSC"
    other = fresh("pacs008_bare.xml")
    msg_id = re.search(rb"<MsgId>([^<]*)</MsgId>", body)[1].decode()
    uetr = re.search(rb"<UETR>([^<]*)</UETR>", body)[1].decode()
    e2e = re.search(rb"<EndToEndId>([^<]*)</EndToEndId>", body)[1].decode()
    assert outcome(p, pay(p, replace(other, "MsgId", msg_id))) == ("RJCT", ["DUPL"])
    assert outcome(p, pay(p, replace(fresh("pacs008_bare.xml"), "UETR", uetr))) == ("RJCT", ["DUPL"])
    assert outcome(p, pay(p, replace(fresh("pacs008_bare.xml"), "EndToEndId", e2e))) == ("RJCT", ["AM05"])
    assert outcome(p, pay(p, fresh("pacs008_bare.xml"))) == ("ACSC", [])


def test_a_message_failing_a_rule_does_not_take_its_identifiers():
    p = memory_service()
    body = fresh("pacs008_bare.xml")
    wrong = body.replace(b">1234.56<", b">1234.567<")  # three decimals in EUR: CH20
    assert outcome(p, pay(p, wrong)) == ("RJCT", ["CH20"])
    assert outcome(p, pay(p, body)) == ("ACSC", [])  # the corrected message keeps its MsgId, UETR...


def test_insufficient_liquidity_holds_nothing():
    p = memory_service(limits='{"*": "100"}')
    assert outcome(p, pay(p, fresh("pacs008_bare.xml"))) == ("RJCT", ["AM04"])
    # the whole limit is still there for the next payment
    assert p.liquidity.reserve("another", "DEUTDEFFXXX", {"EUR": Decimal("100")}, datetime.now(UTC))[0].passed


def test_fifty_concurrent_copies_of_one_payment_settle_exactly_once():
    p = memory_service()
    body = fresh("pacs008_bare.xml")
    txs = [p.issue_transaction("pacs.008", "r", OWNER).id for _ in range(50)]
    for tx in txs:
        p.submit(tx, "pacs.008", body, OWNER)
    drain_incoming_then_parallel_processing(p)
    outcomes = [outcome(p, tx)[0] for tx in txs]
    assert outcomes.count("ACSC") == 1 and outcomes.count("RJCT") == 49


def drain_incoming_then_parallel_processing(p) -> None:
    from chalicelib.pipeline.messages import StepMessage

    while p.adapters.incoming.sent:
        tx, _, body = p.adapters.incoming.sent.pop(0)
        p.incoming(StepMessage(uuid.UUID(tx), body))
    messages = [StepMessage(uuid.UUID(tx), body) for tx, _, body in p.adapters.processing.sent]
    p.adapters.processing.sent.clear()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(p.processing, messages))
    drain(p)


def test_fifty_concurrent_payments_never_overdraw_the_position():
    limit = Decimal("1234.56") * 10
    p = memory_service(limits=f'{{"DEUTDEFFXXX:EUR": "{limit}"}}')
    txs = []
    for _ in range(50):
        tx = p.issue_transaction("pacs.008", "r", OWNER).id
        p.submit(tx, "pacs.008", fresh("pacs008_bare.xml"), OWNER)
        txs.append(tx)
    drain_incoming_then_parallel_processing(p)
    outcomes = [outcome(p, tx) for tx in txs]
    assert outcomes.count(("ACSC", [])) == 10 and outcomes.count(("RJCT", ["AM04"])) == 40
    position = p.liquidity.positions.repository.get(position_id("DEUTDEFFXXX", "EUR"))
    assert (
        position.used == limit
        and position.available == 0
        and sum(p.liquidity.holds(str(tx), "DEUTDEFFXXX", "EUR") for tx in txs) == 10
    )


def test_velocity_limits_payments_per_window():
    p = memory_service(limits='{"*": "1000000000"}', velocity_max=3, velocity_window_s=60)
    results = [outcome(p, pay(p, fresh("pacs008_bare.xml"))) for _ in range(4)]
    assert results == [("ACSC", [])] * 3 + [("RJCT", ["FRAD"])]


def test_a_retried_processing_step_reserves_once():
    p = memory_service(limits='{"*": "1000000000"}', step_handoff="queue")
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", fresh("pacs008_bare.xml"), OWNER)
    from chalicelib.pipeline.messages import StepMessage

    _, _, body = p.adapters.incoming.sent.pop(0)
    p.incoming(StepMessage(tx, body))
    _, _, body = p.adapters.processing.sent.pop(0)
    payment = p.payments.get_payment(tx)
    p.processing.decide(payment)  # a first attempt that died before saving its decision
    p.processing(StepMessage(tx, body, receive_count=2))
    position = p.liquidity.positions.repository.get(position_id("DEUTDEFFXXX", "EUR"))
    assert (
        p.liquidity.holds(str(tx), "DEUTDEFFXXX", "EUR")
        and position.used == Decimal("1234.56")
        and p.payments.get_payment(tx).tx_sts is TxSts.ACSP
    )


def test_an_agent_without_a_configured_limit_keeps_no_position():
    p = memory_service()
    assert outcome(p, pay(p, fresh("pacs008_bare.xml"))) == ("ACSC", [])
    assert list(p.liquidity.positions.events.get(position_id("DEUTDEFFXXX", "EUR"))) == []


def test_a_limit_given_twice_under_the_same_key_is_refused():
    """json.loads keeps the last of a repeated key silently: an operator who appends a lower
    limit for a bank below an older, higher one (or the reverse) would get whichever came
    last, with no error. Which one was meant is a guess, so the settings are refused."""
    with pytest.raises(ValueError, match=r"PACSFLOW_LIQUIDITY_LIMITS: 'DEUTDEFFXXX:EUR' is given twice"):
        parse_limits('{"DEUTDEFFXXX:EUR": "1000000", "DEUTDEFFXXX:EUR": "1000000000"}')


@pytest.mark.parametrize(
    "key",
    ["DEUTDEFFXXX:eur", "DEUTDEFFXXX:EURO", "*:EUR", "deutdeffxxx", "DeutDEFF:EUR", " DEUTDEFFXXX", "X" * 36],
)
def test_a_limit_that_can_bind_no_message_is_refused(key):
    """`limit_for` looks a key up as written, and a message spells its currency in three
    upper-case letters (the XSD's ActiveOrHistoricCurrencyCode), a BICFI in upper case, and
    every agent identifier stripped and at most 35 characters; "*" is read alone. A key
    spelt otherwise binds no message, and a missed limit is no limit: the agent's payments
    fall through to a wider limit or to none, unnoticed. So it is refused, naming the key."""
    with pytest.raises(ValueError, match=re.escape(f"PACSFLOW_LIQUIDITY_LIMITS: the limit {key!r}")):
        parse_limits(f'{{"{key}": "10"}}')
    with pytest.raises(ValueError, match=re.escape(f"PACSFLOW_LIQUIDITY_LIMITS: the limit {key!r}")):
        Settings(liquidity_limits=f'{{"{key}": "10"}}')  # as it is read, before any function runs


@pytest.mark.parametrize("text", ['[["DEUTDEFFXXX", "5"]]', "[1]", '"DEUTDEFFXXX"', "5"])
def test_limits_that_are_not_a_json_object_are_refused_naming_the_variable(text):
    with pytest.raises(ValueError, match="PACSFLOW_LIQUIDITY_LIMITS: not a JSON object"):
        parse_limits(text)


@pytest.mark.parametrize("amount", ['"-1"', '"NaN"', "NaN", "Infinity", '"ten"', "true"])
def test_a_limit_that_is_not_a_finite_non_negative_amount_is_refused(amount):
    with pytest.raises(ValueError, match="PACSFLOW_LIQUIDITY_LIMITS: 'DEUTDEFFXXX'"):
        parse_limits(f'{{"DEUTDEFFXXX": {amount}}}')


def test_limits_under_any_key_a_message_can_match_are_read():
    """Every spelling of a BIC is its own key, and an agent identified otherwise (a clearing
    system member id, an LEI, an Othr id) is keyed as the message gives it, whatever its case."""
    text = (
        '{"*": "1e9", "DEUTDEFF": "10", "DEUTDEFFXXX:EUR": "5000000", "DEUTDEFF500:USD": 0,'
        ' "12345678:GBP": "7.5", "5299000J2N45DDNE4Y28": 1, "member-0042": "2"}'
    )
    assert parse_limits(text) == {
        "*": Decimal("1e9"),
        "DEUTDEFF": Decimal(10),
        "DEUTDEFFXXX:EUR": Decimal(5000000),
        "DEUTDEFF500:USD": Decimal(0),
        "12345678:GBP": Decimal("7.5"),
        "5299000J2N45DDNE4Y28": Decimal(1),
        "member-0042": Decimal(2),
    }
