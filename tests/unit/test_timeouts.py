"""No payment stays stuck: SLA deadlines, the sweep, and their races with the pipeline
(chalicelib/pipeline/timeouts.py), in memory."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from lxml import etree

from chalicelib import bootstrap
from chalicelib.adapters.settings import Settings
from chalicelib.domain import IllegalTransition, TxSts
from chalicelib.domain.position import position_id
from chalicelib.iso20022 import validate_pacs002
from chalicelib.pipeline.errors import ReportNotReady
from chalicelib.pipeline.messages import StepMessage
from chalicelib.pipeline.timeouts import MAX_DELAY_S, TIMEOUT_REASON, stuck_summary
from chalicelib.projections import follower
from chalicelib.projections.transactions import fold
from tests.messages import EVENTS, redated, unique_ids
from tests.unit.fakes import MemoryPending, MemoryView, drain, memory_adapters, two_region_local_stack

OWNER = "client-a"
LIMITS = '{"DEUTDEFFXXX:EUR": "5000"}'  # the sample's instructing agent: a position is kept
PACS002 = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}


def service(sla_seconds: int = 0, **settings) -> bootstrap.Service:
    """SLA 0 by default: every payment is past its deadline as soon as it exists. Steps hand
    over by queue, so that a payment can be held at a step (chalicelib/pipeline/handoff.py)."""
    settings.setdefault("step_handoff", "queue")
    view = MemoryView()
    adapters = {**memory_adapters(), "view": view, "pending": MemoryPending(view)}
    return bootstrap.build(Settings(liquidity_limits=LIMITS, sla_seconds=sla_seconds, **settings), **adapters)


def step(p, queue: str, tx: UUID) -> None:
    """Deliver the one message `queue` holds for the payment to its handler."""
    sent = getattr(p.adapters, queue).sent
    _, _, body = sent.pop(next(i for i, m in enumerate(sent) if m[0] == str(tx)))
    getattr(p, queue)(StepMessage(tx, body))


def stopped_at(p, status: TxSts) -> UUID:
    """A payment whose message was taken and that stopped at `status` (the next step's
    message is still queued)."""
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", unique_ids(redated((EVENTS / "pacs008_bare.xml").read_bytes())), OWNER)
    if status in (TxSts.ACTC, TxSts.ACSP):
        step(p, "incoming", tx)
    if status is TxSts.ACSP:
        step(p, "processing", tx)
    assert p.payments.get_payment(tx).tx_sts is status
    return tx


def used(p) -> Decimal:
    return p.liquidity.positions.repository.get(position_id("DEUTDEFFXXX", "EUR")).used


def reported(p, tx: UUID) -> tuple[str | None, list[str]]:
    report = p.status_report(tx, OWNER)
    validate_pacs002(report)
    doc = etree.fromstring(report)
    if doc.find(".//p:TxInfAndSts", namespaces=PACS002) is None:  # no message read: the group's status
        return doc.findtext(".//p:GrpSts", namespaces=PACS002), doc.xpath(
            ".//p:OrgnlGrpInfAndSts/p:StsRsnInf/p:Rsn/p:Cd/text()", namespaces=PACS002
        )
    return doc.findtext(".//p:TxInfAndSts/p:TxSts", namespaces=PACS002), doc.xpath(
        ".//p:TxInfAndSts/p:StsRsnInf/p:Rsn/p:Cd/text()", namespaces=PACS002
    )


def deliver_deadline(p, tx: UUID) -> None:
    """The deadline message `/uuid` sent for `tx`, as the queue delivers it."""
    body = next(b for b, _ in p.adapters.deadlines.sent if b["transaction_id"] == str(tx))
    p.deadline_reached(StepMessage(tx, body))


@pytest.mark.parametrize("status", [TxSts.ACCP, TxSts.ACTC, TxSts.ACSP])
def test_a_payment_stopped_at_a_step_times_out_rejected_released_notified_once_liquidity_back(status):
    p = service()
    tx = stopped_at(p, status)
    if status is TxSts.ACSP:
        assert used(p) == Decimal("1234.56")
    deliver_deadline(p, tx)
    payment = p.payments.get_payment(tx)
    assert payment.tx_sts is TxSts.RJCT and payment.reason_code == TIMEOUT_REASON == "AB06"
    assert payment.timed_out_at == status.value
    drain(p)  # the release the timeout queued, and the stopped step's late message
    payment = p.payments.get_payment(tx)
    assert payment.is_released and payment.tx_sts is TxSts.RJCT
    assert reported(p, tx) == ("RJCT", ["AB06"])
    assert [(n[1], n[3]["reason_code"]) for n in p.adapters.notifier.published] == [("RJCT", "AB06")]
    if status is TxSts.ACSP:
        assert used(p) == 0
    types = [type(e).__name__ for e in p.payments.history(tx)]
    assert (
        types.count("TimedOut") == 1 and types[-1] == "Released" and "Accepted" not in types[types.index("TimedOut") :]
    )
    if status is TxSts.ACCP:  # the message that came too late is recorded as refused, not read
        assert "Received" not in types and "SubmissionRefused" in types


def test_the_view_shows_the_timeout_as_rjct_with_its_reason():
    p = service()
    tx = stopped_at(p, TxSts.ACSP)
    deliver_deadline(p, tx)
    drain(p)
    record = fold(p.payments.history(tx))
    assert record is not None
    assert (record.status, record.reason_code, record.rejected_at_step) == ("RJCT", "AB06", "timeout")
    assert record.released_at is not None


def test_timeout_first_then_the_late_steps_change_nothing_but_release_the_rjct():
    p = service()
    tx = stopped_at(p, TxSts.ACTC)  # processing's message still queued
    assert p.time_out(tx) == 0
    version = p.payments.get_payment(tx).version
    step(p, "processing", tx)  # processing must not accept a timed-out payment
    assert p.payments.get_payment(tx).version == version
    drain(p)
    payment = p.payments.get_payment(tx)
    assert payment.is_released and payment.tx_sts is TxSts.RJCT and payment.version == version + 1
    assert reported(p, tx) == ("RJCT", ["AB06"])


def test_release_first_then_timeout_does_nothing():
    p = service()
    tx = stopped_at(p, TxSts.ACSP)
    drain(p)
    payment = p.payments.get_payment(tx)
    assert payment.tx_sts is TxSts.ACSC
    released = len(p.adapters.releasing.sent) + len(p.adapters.releasing.deduplicated)
    deliver_deadline(p, tx)
    after = p.payments.get_payment(tx)
    assert after.version == payment.version and after.tx_sts is TxSts.ACSC
    assert len(p.adapters.releasing.sent) + len(p.adapters.releasing.deduplicated) == released
    assert reported(p, tx) == ("ACSC", [])


def test_a_concurrent_release_and_timeout_record_exactly_one():
    """The timeout reads the accepted payment, then the release saves first: the timeout's
    save conflicts, it reads again, finds the payment released, and records nothing."""
    p = service()
    tx = stopped_at(p, TxSts.ACSP)
    payments = p.payments
    real_get = payments.get_payment
    raced = []

    def get_then_release(transaction_id, owner=None):
        payment = real_get(transaction_id, owner)
        if not raced:
            raced.append(1)
            drain(p)  # the release lands between the timeout's read and its save
        return payment

    payments.get_payment = get_then_release  # type: ignore[method-assign]
    try:
        p.time_out(tx)
    finally:
        del payments.get_payment
    types = [type(e).__name__ for e in payments.history(tx)]
    assert types[-1] == "Released" and "TimedOut" not in types
    assert real_get(tx).tx_sts is TxSts.ACSC


def test_the_domain_refuses_to_time_out_a_rejected_cancelled_or_released_payment():
    p = service()
    tx = stopped_at(p, TxSts.ACSP)
    drain(p)
    payment = p.payments.get_payment(tx)
    with pytest.raises(IllegalTransition):
        payment.time_out("AB06", "late", deadline="2026-01-01T00:00:00+00:00")
    p.cancel(tx, OWNER, "CUST")  # refused after release: nothing changes
    timed = p.payments.get_payment(stopped_at(p, TxSts.ACTC))
    timed.time_out("AB06", "late", deadline="2026-01-01T00:00:00+00:00")
    with pytest.raises(IllegalTransition):
        timed.time_out("AB06", "again", deadline="2026-01-01T00:00:00+00:00")


def test_before_its_deadline_nothing_happens_and_an_early_message_waits_again():
    p = service(sla_seconds=120)
    tx = stopped_at(p, TxSts.ACTC)
    (body, delay), *_ = p.adapters.deadlines.sent
    assert 110 <= delay <= 120 and datetime.fromisoformat(body["deadline"]) > datetime.now(UTC)
    before = len(p.adapters.deadlines.sent)
    p.deadline_reached(StepMessage(tx, body))  # came early (clock skew)
    assert p.payments.get_payment(tx).tx_sts is TxSts.ACTC
    (again, delay), *_ = p.adapters.deadlines.sent[before:]
    assert again == body and 0 < delay <= 120


def test_a_deadline_beyond_the_sqs_delay_limit_is_sent_at_the_limit():
    p = service(sla_seconds=3600)
    p.issue_transaction("pacs.008", "r", OWNER)
    assert [d for _, d in p.adapters.deadlines.sent] == [MAX_DELAY_S]


def test_the_sla_can_be_set_per_message_type():
    p = service(sla_seconds=3600, sla_seconds_by_type='{"pacs.008": 0}')
    tx = stopped_at(p, TxSts.ACTC)
    assert [d for _, d in p.adapters.deadlines.sent] == [0]  # /uuid (a lost one: the sweep's)
    p.time_out(tx)
    assert p.payments.get_payment(tx).tx_sts is TxSts.RJCT


def test_an_issued_id_never_used_times_out_with_an_rjct_report_and_a_late_message_is_refused():
    p = service()
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    with pytest.raises(ReportNotReady):
        p.status_report(tx, OWNER)
    deliver_deadline(p, tx)
    drain(p)
    assert reported(p, tx) == ("RJCT", ["AB06"])
    assert [n[1] for n in p.adapters.notifier.published] == ["RJCT"]
    p.submit(tx, "pacs.008", redated((EVENTS / "pacs008_bare.xml").read_bytes()), OWNER)
    drain(p)
    payment = p.payments.get_payment(tx)
    assert payment.tx_sts is TxSts.RJCT and not payment.is_received and len(payment.refused_submissions) == 1


def test_the_sweep_times_out_what_is_past_its_sla_and_reports_it_by_status():
    p = service()
    done = stopped_at(p, TxSts.ACSP)
    drain(p)
    stuck = {s: stopped_at(p, s) for s in (TxSts.ACCP, TxSts.ACTC, TxSts.ACSP)}
    for tx in (*stuck.values(), done):
        follower.refresh(p.payments, p.adapters.view, str(tx))
    found = p.sweep.overdue()
    assert {o.transaction_id for o in found} == {str(t) for t in stuck.values()}
    assert stuck_summary(found) == {(s.value, "< 1 min"): 1 for s in stuck}
    assert used(p) == 2 * Decimal("1234.56")
    p.sweep()
    drain(p)
    for tx in stuck.values():
        assert reported(p, tx) == ("RJCT", ["AB06"])
    assert reported(p, done) == ("ACSC", [])
    assert used(p) == Decimal("1234.56")  # the settled one keeps its reservation


def test_the_sweep_leaves_what_is_within_its_sla():
    p = service(sla_seconds=300)
    tx = stopped_at(p, TxSts.ACTC)
    follower.refresh(p.payments, p.adapters.view, str(tx))
    assert p.sweep() == []
    assert p.payments.get_payment(tx).tx_sts is TxSts.ACTC


def test_the_sweep_releases_a_decided_payment_whose_release_was_lost():
    p = service()
    tx = stopped_at(p, TxSts.ACSP)
    p.adapters.releasing.sent.clear()  # its release message dead-lettered
    p.adapters.releasing._sent_at.clear()  # long ago: no longer deduplicated
    payment = p.payments.get_payment(tx)
    payment.time_out("AB06", "late", deadline=(datetime.now(UTC) - timedelta(seconds=1)).isoformat())
    p.payments.save(payment)  # timed out, and that release lost too
    follower.refresh(p.payments, p.adapters.view, str(tx))
    p.sweep()
    drain(p)
    assert reported(p, tx) == ("RJCT", ["AB06"])


def test_the_cli_lists_counts_and_times_out_what_the_sweep_finds(monkeypatch, capsys):
    from chalicelib import cli, cli_timeouts

    p = service()
    tx = stopped_at(p, TxSts.ACTC)
    follower.refresh(p.payments, p.adapters.view, str(tx))
    monkeypatch.setattr(cli_timeouts, "sweep_of", lambda local_stack: p.sweep)
    assert cli.main(["stuck"]) == 1
    assert capsys.readouterr().out.split() == ["ACTC", "<", "1", "min", "1", "1", "payments", "past", "their", "SLA"]
    assert cli.main(["timeouts"]) == 0 and p.payments.get_payment(tx).tx_sts is TxSts.ACTC  # a dry run
    assert f"{tx} ACTC" in capsys.readouterr().out
    assert cli.main(["timeouts", "--run"]) == 0
    assert p.payments.get_payment(tx).tx_sts is TxSts.RJCT


def test_the_cli_sweeps_as_the_region_of_its_local_stack(monkeypatch, tmp_path):
    """From eu-west-1's local-stack.json the sweep is eu-west-1's: as the default us-east-1 it
    would fence eu-west-1's own payments and time out us-east-1's from the wrong Region."""
    from chalicelib.cli_timeouts import sweep_of

    aws = {"ENDPOINT_URL": "http://127.0.0.1:9", "DEFAULT_REGION": "eu-west-1", "ACCESS_KEY_ID": "test"}
    for k, v in {**aws, "SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(f"AWS_{k}", v)  # settings_of_local_stack() sets them when unset: restored here
    monkeypatch.delenv("PACSFLOW_REGION_ID", raising=False)
    sweep = sweep_of(str(two_region_local_stack(tmp_path / "local-stack.json", "eu-west-1", "us-east-1")))
    assert sweep.time_out.uow.region_id == "eu-west-1"


def test_a_timeout_is_counted_once_for_the_alarm(capsys):
    """PaymentsTimedOut (the alarm's metric) is emitted by the delivery that recorded the
    timeout, not again by a repeated deadline message."""
    p = service()
    tx = stopped_at(p, TxSts.ACTC)
    capsys.readouterr()
    deliver_deadline(p, tx)
    deliver_deadline(p, tx)  # the same deadline again (SQS redelivers): already timed out
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert sum("PaymentsTimedOut" in line for line in lines) == 1
