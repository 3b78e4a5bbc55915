"""POST /outbox's pacs.002 comes from the payment's events, not from S3 (chalicelib/pipeline/
status_report.py): byte for byte the archived report on every path to a release, whatever was
recorded after it; the archive answers only when the rebuilt report is not the recorded one."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from uuid import UUID

import pytest
from lxml import etree

from chalicelib import bootstrap
from chalicelib.iso20022 import validate_pacs002
from chalicelib.pipeline import reports
from chalicelib.pipeline.messages import StepMessage
from chalicelib.pipeline.ports import MissingObject
from tests.messages import EVENTS, fresh, redated
from tests.unit.fakes import drain, memory_service

OWNER = "client-a"
UNLIMITED = '{"*": "1000000000"}'
PACS002 = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}


def submitted(p: bootstrap.Service, body: bytes) -> UUID:
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", body, OWNER)
    return tx


def deliver(p: bootstrap.Service, queue: str) -> None:
    tx, _, body = getattr(p.adapters, queue).sent.pop(0)
    getattr(p, queue)(StepMessage(UUID(tx), body))


def settled(p: bootstrap.Service) -> UUID:
    tx = submitted(p, fresh("pacs008_bare.xml"))
    drain(p)
    return tx


def returned(p: bootstrap.Service) -> UUID:
    """Settled, returned (pacs.004), then a second cancellation refused: two events after Released."""
    tx = settled(p)
    assert p.cancel(tx, OWNER, "DUPL").resolution == "CNCL"
    assert p.cancel(tx, OWNER, "DUPL", case_id="second").resolution == "RJCR"
    return tx


def taken_over_and_redriven(p: bootstrap.Service) -> UUID:
    tx = settled(p)
    payment = p.payments.get_payment(tx)
    payment.take_over(by="eu-west-1", from_region=payment.region_id, reason="drill")
    payment.redrive(redrive_id="r-1", who="operator", why="drill", from_step="releasing")
    p.payments.save(payment)
    return tx


def part(p: bootstrap.Service) -> UUID:
    """Two transactions, the second rejected (CH20): group status PART."""
    tx = submitted(p, fresh("pacs008_two_txs.xml").replace(b">99.5<", b">99.555<"))
    drain(p)
    return tx


def rejected_group(p: bootstrap.Service) -> UUID:
    """Two transactions, both rejected with AM19 (NbOfTxs does not count them)."""
    tx = submitted(p, fresh("pacs008_two_txs.xml").replace(b"<NbOfTxs>2</NbOfTxs>", b"<NbOfTxs>3</NbOfTxs>"))
    drain(p)
    return tx


def schema_invalid(p: bootstrap.Service) -> UUID:
    tx = submitted(p, fresh("pacs008_invalid_schema.xml"))
    drain(p)
    return tx


def timed_out(p: bootstrap.Service) -> UUID:
    """Received, then past its SLA (0 s) before processing: RJCT AB06."""
    tx = submitted(p, fresh("pacs008_bare.xml"))
    deliver(p, "incoming")
    assert p.time_out(tx) == 0
    drain(p)
    return tx


def cancelled(p: bootstrap.Service) -> UUID:
    """Accepted, cancelled before its release: CANC."""
    tx = submitted(p, redated((EVENTS / "pacs008_bare.xml").read_bytes()))
    deliver(p, "incoming")
    deliver(p, "processing")
    assert p.cancel(tx, OWNER, "DUPL").resolution == "CNCL"
    drain(p)
    return tx


PATHS: list[tuple[Callable[[bootstrap.Service], UUID], dict[str, str], set[str], set[str]]] = [
    # (how the payment got there, the service's settings, its report's statuses, its reason codes)
    (settled, {}, {"ACSC"}, set()),
    (returned, {"limits": UNLIMITED}, {"ACSC"}, set()),
    (taken_over_and_redriven, {}, {"ACSC"}, set()),
    (part, {"limits": '{"DEUTDEFFXXX:EUR": "100000"}'}, {"PART", "ACSC", "RJCT"}, {"CH20"}),
    (rejected_group, {}, {"RJCT"}, {"AM19"}),
    (schema_invalid, {}, {"RJCT"}, {"FF01"}),
    (timed_out, {"sla_seconds": "0", "step_handoff": "queue"}, {"RJCT"}, {"AB06"}),
    (cancelled, {"limits": UNLIMITED, "step_handoff": "queue"}, {"CANC"}, set()),
]


def statuses_and_reasons(report: bytes) -> tuple[set[str], set[str]]:
    doc = etree.fromstring(report)
    statuses = doc.xpath(".//p:TxSts/text() | .//p:GrpSts/text()", namespaces=PACS002)
    return set(statuses), set(doc.xpath(".//p:StsRsnInf/p:Rsn/p:Cd/text()", namespaces=PACS002))


def fetch(p: bootstrap.Service, tx: UUID, message_type: str | None = None) -> tuple[bytes, list[str]]:
    """The report /outbox answers, and the archive keys read to answer it."""
    archive = p.adapters.archive
    before = len(archive.gets)
    report = p.status_report(tx, OWNER, message_type)
    return report, archive.gets[before:]


def recorded_sha256(p: bootstrap.Service, tx: UUID) -> str:
    return p.adapters.retrievals.of(str(tx))[-1].sha256


@pytest.mark.parametrize(("path", "settings", "statuses", "reasons"), PATHS, ids=[p[0].__name__ for p in PATHS])
def test_the_pacs002_is_rebuilt_from_the_events_byte_for_byte_without_an_archive_get(path, settings, statuses, reasons):
    p = memory_service(**settings)
    tx = path(p)
    payment = p.payments.get_payment(tx)
    report, gets = fetch(p, tx)
    assert gets == []
    assert report == p.adapters.archive.objects[payment.report_key]
    validate_pacs002(report)
    assert statuses_and_reasons(report) == (statuses, reasons)
    assert recorded_sha256(p, tx) == hashlib.sha256(report).hexdigest() == payment.report_sha256


def test_an_archived_answer_missing_in_a_single_region_is_a_server_error_not_a_wait():
    """Nothing replicates into a Region without peers: the object is lost, not late."""
    p = memory_service(limits=UNLIMITED)
    tx = returned(p)
    del p.adapters.archive.objects[p.payments.get_payment(tx).return_key]
    with pytest.raises(MissingObject):
        p.status_report(tx, OWNER, "pacs.004")


def test_the_answers_to_a_cancellation_are_still_read_from_the_archive():
    p = memory_service(limits=UNLIMITED)
    tx = returned(p)
    payment = p.payments.get_payment(tx)
    pacs004, gets = fetch(p, tx, "pacs.004")
    assert gets == [payment.return_key] and recorded_sha256(p, tx) == hashlib.sha256(pacs004).hexdigest()
    camt029, gets = fetch(p, tx, "camt.029")
    assert gets == [list(payment.cancellations.values())[-1].answer_key]
    assert recorded_sha256(p, tx) == hashlib.sha256(camt029).hexdigest()


def test_a_report_an_older_builder_wrote_is_served_from_the_archive(monkeypatch):
    p = memory_service()
    tx = settled(p)
    archived = p.adapters.archive.objects[p.payments.get_payment(tx).report_key]
    build = reports.pacs002_released
    monkeypatch.setattr(reports, "pacs002_released", lambda payment: build(payment).replace(b"<GrpHdr>", b"<GrpHdr >"))
    report, gets = fetch(p, tx)
    assert report == archived and gets == [p.payments.get_payment(tx).report_key]
    assert recorded_sha256(p, tx) == hashlib.sha256(archived).hexdigest()
