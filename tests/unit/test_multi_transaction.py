"""A pacs.008 with several transactions: a status per transaction, a group status, one pacs.002."""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from chalicelib.domain import TxSts
from chalicelib.domain.position import position_id
from chalicelib.iso20022 import validate_pacs002
from chalicelib.pipeline import reports
from chalicelib.pipeline.messages import StepMessage
from tests.messages import fresh
from tests.unit.fakes import drain, memory_service

OWNER = "client-a"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}


def pay(p, body: bytes):
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", body, OWNER)
    drain(p)
    return tx


def report(p, tx) -> tuple[str | None, list[tuple[str, list[str]]]]:
    return statuses(p.status_report(tx, OWNER))


def statuses(raw: bytes) -> tuple[str | None, list[tuple[str, list[str]]]]:
    validate_pacs002(raw)
    doc = etree.fromstring(raw)
    per_tx = [
        (t.findtext("p:TxSts", namespaces=NS), t.xpath("p:StsRsnInf/p:Rsn/p:Cd/text()", namespaces=NS))
        for t in doc.findall(".//p:TxInfAndSts", namespaces=NS)
    ]
    return doc.findtext(".//p:OrgnlGrpInfAndSts/p:GrpSts", namespaces=NS), per_tx


def test_every_transaction_accepted_settles_the_group():
    p = memory_service()
    tx = pay(p, fresh("pacs008_two_txs.xml"))
    assert report(p, tx) == ("ACSC", [("ACSC", []), ("ACSC", [])])
    view_statuses = [t.status for t in p.payments.get_payment(tx).transactions]
    assert view_statuses == ["ACSP", "ACSP"] and p.payments.get_payment(tx).tx_sts is TxSts.ACSC


def test_one_bad_transaction_is_rejected_alone_and_the_group_is_part():
    p = memory_service(limits='{"DEUTDEFFXXX:EUR": "100000"}')
    body = fresh("pacs008_two_txs.xml").replace(b">99.5<", b">99.555<")  # tx 2: three decimals in EUR
    tx = pay(p, body)
    group, per_tx = report(p, tx)
    assert group == "PART" and per_tx == [("ACSC", []), ("RJCT", ["CH20"])]
    position = p.liquidity.positions.repository.get(position_id("DEUTDEFFXXX", "EUR"))
    assert position.used == Decimal("1234.56")  # only the accepted transaction holds liquidity


def test_a_status_request_is_answered_with_each_transactions_own_status():
    """The pacs.002 answering a pacs.028 says what the released one says of each transaction
    (before release, the accepted one is still in process)."""
    p = memory_service(step_handoff="queue")
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", fresh("pacs008_two_txs.xml").replace(b">99.5<", b">99.555<"), OWNER)
    for step in ("incoming", "processing"):
        _, _, msg = getattr(p.adapters, step).sent.pop(0)
        getattr(p, step)(StepMessage(tx, msg))
    now = reports.pacs002_now(p.payments.get_payment(tx), "STSREQ-1")
    assert statuses(now) == ("PART", [("ACSP", []), ("RJCT", ["CH20"])])
    drain(p)
    assert report(p, tx) == ("PART", [("ACSC", []), ("RJCT", ["CH20"])])
    now = reports.pacs002_now(p.payments.get_payment(tx), "STSREQ-2")
    assert statuses(now) == ("PART", [("ACSC", []), ("RJCT", ["CH20"])])


def test_a_group_level_fault_rejects_every_transaction():
    p = memory_service()
    body = fresh("pacs008_two_txs.xml").replace(b"<NbOfTxs>2</NbOfTxs>", b"<NbOfTxs>3</NbOfTxs>")
    tx = pay(p, body)
    group, per_tx = report(p, tx)
    assert group == "RJCT" and [s for s, _ in per_tx] == ["RJCT", "RJCT"] and all("AM19" in r for _, r in per_tx)


def test_the_view_shows_each_transaction_and_the_group():
    from chalicelib.projections.transactions import fold

    p = memory_service()
    body = fresh("pacs008_two_txs.xml").replace(b">99.5<", b">99.555<")
    tx = pay(p, body)
    view = fold(p.payments.history(tx))
    assert view.status == "ACSC" and view.group_status == "PART" and view.tx_statuses == ("ACSC", "RJCT")


def test_a_transaction_repeating_another_of_the_same_message_is_a_duplicate():
    p = memory_service()
    body = fresh("pacs008_two_txs.xml")
    uetrs = etree.fromstring(body).xpath("//*[local-name()='UETR']/text()")
    tx = pay(p, body.replace(uetrs[1].encode(), uetrs[0].encode()))
    assert report(p, tx) == ("PART", [("ACSC", []), ("RJCT", ["DUPL"])])
