"""Two Regions sharing one replicated event store (one memory Payments), each with its own
queues, view and notifier: takeover, fencing, the race to decide, redrive, the controller."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock
from uuid import UUID

import pytest

from chalicelib import auth, bootstrap
from chalicelib.adapters.settings import Settings
from chalicelib.domain import Payment, TxSts
from chalicelib.domain.action_ids import keyed
from chalicelib.domain.region import Region
from chalicelib.pipeline.errors import IdempotencyKeyReused, NotHomeRegion, RegionNotTakenOver, UnknownRegion
from chalicelib.pipeline.failover import CONTROLLER
from chalicelib.pipeline.messages import StepMessage
from chalicelib.projections import follower
from tests.messages import fresh
from tests.unit.fakes import (
    MemoryLeases,
    MemoryPending,
    MemoryProbe,
    MemoryQueue,
    MemoryView,
    drain,
    memory_adapters,
    two_region_local_stack,
)

A, B = "eu-west-1", "eu-central-1"
URL = {A: "https://a.invalid", B: "https://b.invalid"}
TENANT = "acme-bank"


def two_regions(automatic: bool = True) -> tuple[bootstrap.Service, bootstrap.Service]:
    """Two Regions on one (replicated) event store; `automatic`: the controller decides (MRSC)."""
    shared = memory_adapters()
    leases, probe = MemoryLeases(), MemoryProbe()
    regions = []
    for me, other, client in ((A, B, "client-in-a"), (B, A, "client-in-b")):
        own = memory_adapters()
        view = MemoryView()
        own.update(payments=shared["payments"], positions=shared["positions"], archive=shared["archive"])
        own.update(claims=shared["claims"], view=view, pending=MemoryPending(view), leases=leases, peer_probe=probe)
        s = Settings(
            region_id=me,
            peers={other: URL[other]},
            tenants={client: TENANT},
            sla_seconds=3600,
            automatic_failover=automatic,
            step_handoff="queue",  # payments held at each step when a Region fails
        )
        regions.append(bootstrap.build(s, **own))
    return regions[0], regions[1]


def follow(svc: bootstrap.Service, tx: UUID) -> None:
    follower.refresh(svc.payments, svc.adapters.view, str(tx))


def paid_in_a(a: bootstrap.Service, up_to: str | None) -> UUID:
    """A payment of A driven up to (not including) the step `up_to` (None: all the way)."""
    tx = a.issue_transaction("pacs.008", "r", TENANT).id
    if up_to == "submit":
        return tx
    a.submit(tx, "pacs.008", fresh("pacs008_bare.xml"), TENANT)
    for name in ("incoming", "processing", "releasing"):
        if name == up_to:
            break
        queue = getattr(a.adapters, name)
        tx_, _, body = queue.sent.pop(0)
        getattr(a, name)(StepMessage(UUID(tx_), body))
    return tx


def stale_messages(a: bootstrap.Service) -> list[tuple[str, Callable[[StepMessage], None], StepMessage]]:
    out = []
    for name in ("incoming", "processing", "releasing"):
        queue = getattr(a.adapters, name)
        assert isinstance(queue, MemoryQueue)
        out += [(name, getattr(a, name), StepMessage(UUID(t), body, 2)) for t, _, body in queue.sent]
        queue.sent.clear()
    return out


def events(svc: bootstrap.Service, tx: UUID) -> list[str]:
    return [type(e).__name__ for e in svc.payments.history(tx)]


@pytest.mark.parametrize(
    "up_to, final",
    [
        ("submit", "ACCP"),  # Initiated only: nothing to run; its SLA deadline rejects it (in B now)
        ("incoming", "ACSC"),  # Submitted
        ("processing", "ACSC"),  # Received
        ("releasing", "ACSC"),  # Accepted
        (None, "ACSC"),  # Released: nothing to do
    ],
)
def test_a_payment_at_each_step_taken_over_completes_exactly_once(up_to, final):
    a, b = two_regions()
    tx = paid_in_a(a, up_to)
    stale = stale_messages(a)  # what A's queues still hold when A fails
    follow(b, tx)
    decision = b.failover(A, "A is down", "ops")
    assert decision.decided and decision.taken_over_by == B
    drain(b)
    for _, handler, msg in stale:  # A comes back: its stale messages do nothing
        handler(msg)
    drain(a)
    payment = b.payments.get_payment(tx)
    assert payment.tx_sts.value == final
    assert events(b, tx).count("Released") == (0 if up_to == "submit" else 1)
    notified = a.adapters.notifier.published + b.adapters.notifier.published
    assert len(notified) == (0 if up_to == "submit" else 1)
    if up_to is not None:
        assert payment.home_region == B and events(b, tx).count("TakenOver") == 1
        assert not a.adapters.notifier.published
    again = b.failover(A, "again", "ops")  # idempotent: decided once, nothing more recorded
    assert not again.decided
    assert events(b, tx).count("TakenOver") == (1 if up_to is not None else 0)


def test_a_rejected_payment_taken_over_is_released_rjct_once():
    a, b = two_regions()
    tx = a.issue_transaction("pacs.008", "r", TENANT).id
    a.submit(tx, "pacs.008", b"<not-xml", TENANT)
    a.incoming(StepMessage(tx, a.adapters.incoming.sent.pop(0)[2]))  # Rejected FF01, release queued in A
    stale = stale_messages(a)
    follow(b, tx)
    b.failover(A, "A is down", "ops")
    drain(b)
    for _, handler, msg in stale:
        handler(msg)
    assert b.payments.get_payment(tx).tx_sts is TxSts.RJCT
    assert events(b, tx).count("Released") == 1 and len(b.adapters.notifier.published) == 1
    assert not a.adapters.notifier.published


def test_a_submitted_message_lost_with_its_region_is_rejected_narr():
    a, b = two_regions()
    tx = paid_in_a(a, "incoming")
    payment = a.payments.get_payment(tx)
    del b.adapters.archive.objects[payment.submitted_key]  # not replicated (CRR lag)
    follow(b, tx)
    b.failover(A, "A is down", "ops")
    drain(b)
    payment = b.payments.get_payment(tx)
    assert payment.tx_sts is TxSts.RJCT and payment.reason_code == "NARR" and payment.is_released
    assert "resend under a new transaction id" in (payment.narrative or "")


def test_the_clients_retry_at_the_new_home_after_a_lost_message_rejection_is_refused_and_the_report_stands():
    """The client's POST /inbox to A timed out with A; B rejected the payment NARR (its
    archive lacked the message). The same POST retried at B is accepted (202) and its message
    recorded as refused: the RJCT NARR report stands (it was an IllegalTransition on every
    delivery, to the dead-letter queue)."""
    a, b = two_regions()
    tx = paid_in_a(a, "incoming")
    payment = a.payments.get_payment(tx)
    message = a.adapters.archive.objects.pop(payment.submitted_key)  # not replicated (CRR lag)
    follow(b, tx)
    b.failover(A, "A is down", "ops")
    drain(b)
    b.submit(tx, "pacs.008", message, TENANT)
    drain(b)
    payment = b.payments.get_payment(tx)
    assert payment.tx_sts is TxSts.RJCT and payment.reason_code == "NARR" and not payment.is_received
    assert list(payment.refused_submissions) == [payment.submitted_sha256]
    assert events(b, tx).count("Released") == 1


def test_a_transient_archive_failure_during_a_takeover_rejects_nothing():
    """Only a missing message is a lost one: a throttled or failing S3 raises, and the
    takeover (repeated by the controller) completes the payment once S3 answers."""
    a, b = two_regions()
    tx = paid_in_a(a, "incoming")
    follow(b, tx)
    archive: Any = b.adapters.archive
    with mock.patch.object(archive, "exists", side_effect=RuntimeError("SlowDown")), pytest.raises(RuntimeError):
        b.failover(A, "A is down", "ops")
    assert b.payments.get_payment(tx).tx_sts is TxSts.ACCP  # nothing recorded, not rejected
    b.failover_controller()  # decided: the controller repeats the takeover it holds
    drain(b)
    assert b.payments.get_payment(tx).tx_sts is TxSts.ACSC


def test_a_release_recorded_before_its_region_was_taken_over_still_notifies_on_redelivery():
    """A recorded Released, then failed before publishing; the takeover skips a released
    payment; A's redelivered release message must still publish (once), not be fenced."""
    a, b = two_regions()
    tx = paid_in_a(a, "releasing")
    [(_, handler, msg)] = [m for m in stale_messages(a) if m[0] == "releasing"]
    published = a.adapters.notifier.published
    handler(msg)
    published.clear()  # as if A crashed between recording Released and publishing
    follow(b, tx)
    assert not b.failover(A, "A is down", "ops").payments  # released: nothing to take over
    handler(msg)  # SQS redelivers A's release message
    assert len(published) == 1 and not b.adapters.notifier.published
    assert events(a, tx).count("Released") == 1


def test_two_regions_racing_to_take_over_decide_once():
    a, b = two_regions()
    c = bootstrap.build(
        Settings(region_id="us-east-1", peers={A: URL[A]}),
        **{**memory_adapters(), "payments": b.payments, "view": MemoryView()},
    )
    first, second = b.failover(A, "down", "ops"), c.failover(A, "down", "ops")
    assert first.decided and not second.decided and second.taken_over_by == B
    region = b.regions.get(A)
    assert region is not None and [d[0] for d in region.decisions] == ["TakenOver"]


def test_a_region_records_each_action_id_with_its_decision():
    region = Region(name=A)
    region.take_over(by=B, reason="down", who="ops", at="t1", epoch=1, action_id="k1")
    region.fail_back(who="ops", reason="back", at="t2", action_id="k2")
    region.take_over(by=B, reason="down again", who=CONTROLLER, at="t3", epoch=2)  # the controller: no id
    assert region.action("k1") == ("TakenOver", "down") and region.action("k2") == ("FailedBack", "back")
    assert region.action("") is None and region.action("k3") is None
    _, b = two_regions()
    b.payments.save(region)
    replayed = b.regions.get(A)
    assert replayed is not None and replayed.action("k2") == ("FailedBack", "back") and replayed.is_taken_over


def test_a_recorded_failback_is_a_retry_even_after_a_newer_takeover():
    _, b = two_regions()
    now = datetime.now(UTC)
    assert b.regions.take_over(A, B, "incident 7", "ops", now, action_id="k1")
    b.regions.fail_back(A, "ops", "incident 7 over", now, action_id="k2")
    assert b.regions.take_over(A, B, "incident 8", "ops", now, action_id="k3")
    b.regions.fail_back(A, "ops", "incident 7 over", now, action_id="k2")  # the late retry
    assert b.regions.take_over(A, B, "incident 7", "ops", now, action_id="k1")  # the first answer
    region = b.regions.get(A)
    assert region is not None and region.is_taken_over and region.epoch == 2
    assert [d[0] for d in region.decisions] == ["TakenOver", "FailedBack", "TakenOver"]
    with pytest.raises(IdempotencyKeyReused):
        b.regions.fail_back(A, "ops", "incident 8 over", now, action_id="k2")
    with pytest.raises(IdempotencyKeyReused):
        b.regions.fail_back(A, "ops", "incident 8", now, action_id="k3")  # a takeover's id
    assert b.regions.is_taken_over(A)


def test_a_keyed_failback_answered_409_answers_409_again_and_leaves_a_newer_takeover_in_force():
    """A failback with key K reaches a Region not taken over (failed back by a colleague, or
    the operator was early): 409, and the answer is lost. The controller then takes the Region
    over for a new incident. The retry of K is the same request: it answers 409 again and
    does not fail back the newer takeover (a Region still down would be handed its payments
    back and issue ids again)."""
    _, b = two_regions()
    now = datetime.now(UTC)
    key = keyed("ops", "inc-6-back")
    with pytest.raises(RegionNotTakenOver):
        b.failover.fail_back(A, "incident 6 over", "ops", now, action_id=key)
    assert b.failover(A, "3 consecutive failed probes", CONTROLLER, now).decided  # a new incident
    with pytest.raises(RegionNotTakenOver):  # the retry answers as the first time
        b.failover.fail_back(A, "incident 6 over", "ops", now, action_id=key)
    region = b.regions.get(A)
    assert region is not None and region.is_taken_over, [d[0] for d in region.decisions]
    assert [d[0] for d in region.decisions] == ["TakenOver"]  # the answer is no decision
    with pytest.raises(IdempotencyKeyReused):  # another reason with the key: not a retry
        b.failover.fail_back(A, "incident 7 over", "ops", now, action_id=key)
    with pytest.raises(IdempotencyKeyReused):  # nor another action
        b.failover(A, "incident 6 over", "ops", now, action_id=key)
    assert b.regions.is_taken_over(A)


def test_a_keyed_failover_that_lost_to_the_controller_answers_the_same_and_takes_over_nothing_failed_back_since():
    """The controller and an operator decide at once: the controller records TakenOver; the
    operator's failover with key K finds it decided (`decided: false`, taken over by B), and
    its answer is lost. The incident ends and the Region is failed back. The late retry of K
    answers as the first time and does not take the healthy Region over again (it would stop
    issuing ids and have its in-flight payments moved, for an incident that is over)."""
    _, b = two_regions()
    now = datetime.now(UTC)
    assert b.failover(A, "3 consecutive failed probes", CONTROLLER, now).decided
    first = b.failover(A, "A down", "ops", now, action_id=keyed("ops", "inc-7-over"))
    assert not first.decided and first.taken_over_by == B
    b.failover.fail_back(A, "incident 7 over", "ops", now, action_id=keyed("ops", "inc-7-back"))
    again = b.failover(A, "A down", "ops", now, action_id=keyed("ops", "inc-7-over"))  # the late retry
    region = b.regions.get(A)
    assert region is not None
    assert [d[0] for d in region.decisions] == ["TakenOver", "FailedBack"], "the retry took the Region over again"
    assert (again.decided, again.taken_over_by, again.payments) == (False, B, [])


def test_requests_without_a_key_and_the_controller_record_nothing_when_they_decide_nothing():
    """Only a client's Idempotency-Key can come again: a request's own id (or a CLI run's)
    and the controller's decisions leave no answer behind, so their write cost is as before."""
    _, b = two_regions()
    now = datetime.now(UTC)
    with pytest.raises(RegionNotTakenOver):
        b.failover.fail_back(A, "early", "ops", now, action_id="req-1")
    assert b.regions.get(A) is None  # not even the Region's aggregate
    assert b.failover(A, "down", CONTROLLER, now).decided
    region = b.regions.get(A)
    assert region is not None
    version = region.version
    assert not b.failover(A, "down", "ops", now, action_id="req-2").decided
    assert not b.failover(A, "down", CONTROLLER, now).decided
    region = b.regions.get(A)
    assert region is not None and region.version == version and region.answers == {}


def test_a_taken_over_region_settles_nothing_even_before_its_payments_move():
    a, b = two_regions()
    tx = paid_in_a(a, "releasing")
    b.regions.take_over(A, B, "decided", "ops", datetime.now(UTC))  # decided; the payment not moved yet
    drain(a)
    assert not a.payments.get_payment(tx).is_released and not a.adapters.notifier.published
    b.failover.fail_back(A, "A is back", "ops")
    a.releasing(StepMessage(tx, {"transaction_id": str(tx)}))
    assert a.payments.get_payment(tx).is_released


def test_a_cancel_or_timeout_in_the_old_region_is_fenced():
    a, b = two_regions()
    tx = paid_in_a(a, "processing")
    follow(b, tx)
    b.failover(A, "down", "ops")
    with pytest.raises(NotHomeRegion):
        a.cancel(tx, TENANT, "CUST")
    assert a.time_out(tx) == 0 and "TimedOut" not in events(a, tx)


def test_the_tenant_passes_the_owner_check_in_both_regions():
    a, b = two_regions()
    tx = paid_in_a(a, None)
    policy_a = auth.TokenPolicy("i", "u", tenants=a.adapters.settings.tenants)
    policy_b = auth.TokenPolicy("i", "u", tenants=b.adapters.settings.tenants)
    assert auth.tenant_of("client-in-a", policy_a) == auth.tenant_of("client-in-b", policy_b) == TENANT
    assert auth.tenant_of("unmapped", policy_a) == "unmapped"
    assert b.status_report(tx, auth.tenant_of("client-in-b", policy_b), None)  # the pacs.002 from B


def test_redrive_is_recorded_once_per_redrive_id_and_resends_the_step():
    a, _ = two_regions()
    tx = paid_in_a(a, "processing")
    a.adapters.processing.sent.clear()  # the message was lost (e.g. dead-lettered)
    assert a.redrive(tx, "req-1", "ops", "lost message") == "processing"
    assert a.redrive(tx, "req-1", "ops", "lost message") == "processing"  # a retried request
    assert events(a, tx).count("Redriven") == 1
    drain(a)
    assert a.payments.get_payment(tx).is_released and len(a.adapters.notifier.published) == 1
    assert a.redrive(tx, "req-2", "ops", "again") is None  # released: nothing to run
    drain(a)
    assert len(a.adapters.notifier.published) == 1


def test_the_controller_counts_failed_probes_and_decides_after_n():
    a, b = two_regions()
    tx = paid_in_a(a, "processing")
    follow(b, tx)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    a.failover_controller(t0)
    b.failover_controller(t0)
    probe: Any = b.adapters.peer_probe
    assert isinstance(probe, MemoryProbe)
    probe.down.add(URL[A])
    minute = timedelta(minutes=1)
    assert b.failover_controller(t0 + minute) == []
    assert b.failover_controller(t0 + 2 * minute) == []
    [decision] = b.failover_controller(t0 + 3 * minute)
    assert decision.decided and [p.transaction_id for p in decision.payments] == [str(tx)]
    view = {p.region: p for p in b.failover_controller.view(t0 + 3 * minute)}
    assert view[A].failed_probes == 3 and view[A].taken_over
    region = b.regions.get(A)
    assert region is not None and region.decisions[0][1] == "failover-controller"
    assert b.failover_controller(t0 + 4 * minute) == []  # decided: no second decision


def test_without_automatic_failover_the_controller_proposes_and_an_operator_decides():
    """MREC: a partitioned Region still writes, so N failed probes only propose the takeover."""
    a, b = two_regions(automatic=False)
    tx = paid_in_a(a, "processing")
    follow(b, tx)
    probe: Any = b.adapters.peer_probe
    probe.down.add(URL[A])
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for minute in range(5):
        assert b.failover_controller(t0 + timedelta(minutes=minute)) == []
    [peer] = b.failover_controller.view(t0 + timedelta(minutes=5))
    assert peer.failed_probes == 5 and peer.failover_proposed and not peer.taken_over
    assert not b.regions.is_taken_over(A) and b.payments.get_payment(tx).home_region == A
    decision = b.failover(A, "confirmed down by the operator", "ops")
    assert decision.decided and [p.transaction_id for p in decision.payments] == [str(tx)]
    [peer] = b.failover_controller.view(t0 + timedelta(minutes=6))
    assert peer.taken_over and not peer.failover_proposed


def test_a_peer_without_a_heartbeat_yet_is_judged_by_its_get_only():
    """A peer deployed after us has no heartbeat until its controller first runs: healthy by
    its `GET /`, it is not counted (else a Region being deployed would be taken over); a
    heartbeat that grew old is counted even when the GET answers."""
    _, b = two_regions()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for minute in range(4):
        assert b.failover_controller(t0 + timedelta(minutes=minute)) == []
    assert b.adapters.leases.failed_probes(B, A) == 0
    b.adapters.leases.heartbeat(A, t0.timestamp())
    b.failover_controller(t0 + timedelta(hours=1))
    assert b.adapters.leases.failed_probes(B, A) == 1


def test_a_recovered_probe_resets_the_count():
    a, b = two_regions()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    probe: Any = b.adapters.peer_probe
    probe.down.add(URL[A])
    a.failover_controller(t0)
    b.failover_controller(t0)
    b.failover_controller(t0)
    probe.down.clear()
    b.failover_controller(t0)
    assert b.adapters.leases.failed_probes(B, A) == 0


def test_an_unknown_region_is_refused():
    _, b = two_regions()
    with pytest.raises(UnknownRegion):
        b.failover("mars-1", "?", "ops")


def test_a_region_aggregate_is_not_a_payment():
    a, b = two_regions()
    b.failover(A, "down", "ops")
    region = b.regions.get(A)
    assert region is not None and not isinstance(region, Payment)
    assert follower.refresh(b.payments, b.adapters.view, str(region.id)) is None


# -- the DLQ redrive and the CLI (moto) -----------------------------------------------------


def test_a_dlq_redrive_moves_each_message_back_once_and_records_it_once(monkeypatch):
    import json

    import boto3
    from moto import mock_aws

    from chalicelib.cli_failover import redrive_dlq
    from chalicelib.pipeline.redrive import Redriven

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    a, _ = two_regions()
    tx = paid_in_a(a, "processing")
    with mock_aws():
        sqs = boto3.client("sqs", region_name="eu-west-1")
        fifo = {"FifoQueue": "true"}
        dlq = sqs.create_queue(QueueName="processing-dlq.fifo", Attributes=fifo)["QueueUrl"]
        source = sqs.create_queue(QueueName="processing.fifo", Attributes=fifo)["QueueUrl"]
        body = json.dumps({"transaction_id": str(tx)})
        sqs.send_message(QueueUrl=dlq, MessageBody=body, MessageGroupId=str(tx), MessageDeduplicationId="d1")

        def record(t: UUID, message_id: str) -> None:
            Redriven(a.redrive.uow).record(t, f"dlq:{message_id}", "cli:ops", "dead-lettered", "processing")

        sqs.send_message(QueueUrl=dlq, MessageBody="not json", MessageGroupId="x", MessageDeduplicationId="d2")
        skipped: list[str] = []
        assert redrive_dlq(sqs, dlq, source, record, skipped) == 1  # the bad one does not stop it
        assert len(skipped) == 1 and "not a step message" in skipped[0]
        assert redrive_dlq(sqs, dlq, source, record) == 0  # nothing left: nothing recorded again
        [moved] = sqs.receive_message(QueueUrl=source, AttributeNames=["All"])["Messages"]
        assert json.loads(moved["Body"]) == {"transaction_id": str(tx)}
        assert moved["Attributes"]["MessageGroupId"] == str(tx)
    assert events(a, tx).count("Redriven") == 1
    a.processing(StepMessage(tx, {"transaction_id": str(tx)}))
    drain(a)
    assert a.payments.get_payment(tx).is_released and len(a.adapters.notifier.published) == 1


def test_the_cli_redrives_a_dead_letter_queue_of_a_deployed_stage(monkeypatch, capsys):
    """No --local-stack (a deployed stage: the PACSFLOW_* environment, no stack outputs): the
    dead-letter queue is the one the step queue's redrive policy names."""
    import json

    import boto3
    from moto import mock_aws

    from chalicelib import cli

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    a, _ = two_regions()
    tx = paid_in_a(a, "processing")
    monkeypatch.setattr(bootstrap, "build", lambda s, **_: a)
    with mock_aws():
        sqs = boto3.client("sqs", region_name="eu-west-1")
        fifo = {"FifoQueue": "true"}
        dlq = sqs.create_queue(QueueName="s-processing-dlq.fifo", Attributes=fifo)["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
        source = sqs.create_queue(QueueName="s-processing.fifo", Attributes={**fifo, "RedrivePolicy": policy})
        monkeypatch.setenv("PACSFLOW_PROCESSING_QUEUE_URL", source["QueueUrl"])
        body = json.dumps({"transaction_id": str(tx)})
        sqs.send_message(QueueUrl=dlq, MessageBody=body, MessageGroupId=str(tx), MessageDeduplicationId="d1")
        assert cli.main(["redrive", "--dlq", "processing", "--reason", "fixed"]) == 0
        assert "1 messages moved from the processing dead-letter queue" in capsys.readouterr().out
        [moved] = sqs.receive_message(QueueUrl=source["QueueUrl"])["Messages"]
        assert json.loads(moved["Body"]) == {"transaction_id": str(tx)}
        assert "Messages" not in sqs.receive_message(QueueUrl=dlq)
    assert events(a, tx).count("Redriven") == 1


def test_the_cli_redrives_a_transaction_and_fails_a_region_over_and_back(monkeypatch, capsys):
    from chalicelib import cli

    a, b = two_regions()
    tx = paid_in_a(a, "processing")
    follow(b, tx)
    monkeypatch.setattr(bootstrap, "build", lambda s, **_: b)
    assert cli.main(["failover", A, "--reason", "A is down"]) == 0
    assert f"{A}: decided now; 1 payments taken over" in capsys.readouterr().out
    assert cli.main(["redrive", str(tx), "--reason", "again"]) == 0
    assert "sent to processing" in capsys.readouterr().out
    assert cli.main(["failback", A, "--reason", "A is back"]) == 0
    region = b.regions.get(A)
    assert region is not None and [d[0] for d in region.decisions] == ["TakenOver", "FailedBack"]
    assert region.decisions[0][1].startswith("cli")


@pytest.fixture
def local_env(monkeypatch):
    """settings_of_local_stack() sets the AWS_* variables it lacks: set (and restore) them here."""
    for k, v in {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("PACSFLOW_PEERS", raising=False)


def test_the_cli_knows_the_peers_of_a_two_region_local_stack(local_env, tmp_path):
    """README: `cli failover eu-west-1 --reason ... --local-stack local-stack.json`: the peers
    are the file's other Regions, as the deploy passes them to each stack."""
    from chalicelib.cli_failover import settings_of

    s, _ = settings_of(str(two_region_local_stack(tmp_path / "local-stack.json", "us-east-1", "eu-west-1")))
    assert (s.region_id, s.peers) == ("us-east-1", {"eu-west-1": "http://b.invalid"})


@pytest.mark.parametrize("command", ["failover", "failback"])
def test_the_cli_refuses_a_region_that_is_no_peer_with_a_message(command, monkeypatch, capsys):
    from chalicelib import cli

    _, b = two_regions()
    monkeypatch.setattr(bootstrap, "build", lambda s, **_: b)
    assert cli.main([command, "ap-south-1", "--reason", "a typo"]) == 2
    assert "ap-south-1 is not a peer of this Region" in capsys.readouterr().out
    assert b.regions.get("ap-south-1") is None


def test_the_dynamodb_leases_and_the_in_flight_payments_from_the_pending_index(monkeypatch):
    import os
    from unittest import mock

    import boto3
    from moto import mock_aws

    from chalicelib.adapters.dynamodb import Leases, TransactionView
    from chalicelib.adapters.pending import PendingIndex
    from chalicelib.projections.records import TransactionRecord
    from tests.unit.test_view_lookups import create_view_table

    environ = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    with mock.patch.dict(os.environ, environ, clear=True), mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="events", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        )  # fmt: skip
        leases = Leases("events", ddb)
        assert leases.last_heartbeat(A) is None and leases.failed_probes(B, A) == 0
        leases.heartbeat(A, 1000.5)
        leases.set_failed_probes(B, A, 2)
        leases.heartbeat(B, 1001.0)  # its heartbeat keeps its probe counts
        assert leases.last_heartbeat(A) == 1000.5 and leases.failed_probes(B, A) == 2
        assert ddb.get_item(TableName="events", Key={"pk": {"S": f"$lease#{A}"}, "sk": {"N": "0"}})["Item"]

        create_view_table(ddb, "transactions")
        view = TransactionView("transactions", ddb)
        at = "2026-01-01T00:00:00+00:00"
        for n, (home, released) in enumerate([(A, None), (A, at), (B, None), (A, None), (A, None), (A, None)]):
            rec = TransactionRecord(
                f"t{n}", "o", "ACSP", "pacs.008", A, at, at, 3, home_region=home, released_at=released
            )
            view.put_if_newer(rec)
        # a stale index entry: t5 released since (the follower's write that removes `pending` is late)
        item = ddb.get_item(TableName="transactions", Key={"transaction_id": {"S": "t5"}})["Item"]
        ddb.put_item(TableName="transactions", Item={**item, "released_at": {"S": at}})
        pending = PendingIndex("transactions", ddb, page_size=1)  # one entry a page: every page is followed
        assert sorted(pending.in_flight(A)) == ["t0", "t3", "t4"]
        assert sorted(pending.in_flight(B)) == ["t2"]
        scans = []
        monkeypatch.setattr(ddb, "scan", lambda **kw: scans.append(kw))
        list(pending.in_flight(A))
        assert scans == []  # the takeover reads what is pending, never the whole view


def test_a_tenant_name_cannot_break_the_views_lookup_keys():
    with pytest.raises(ValueError, match="tenant names"):
        Settings(tenants={"client": "acme#bank"})
    assert Settings(tenants={"client": "acme-bank"}).tenants == {"client": "acme-bank"}


def test_the_cli_redrives_a_dead_letter_queue_of_the_stack(monkeypatch, capsys):
    import json
    import os
    from unittest import mock

    import boto3
    from moto import mock_aws

    from chalicelib import cli, cli_failover

    a, _ = two_regions()
    tx = paid_in_a(a, "processing")
    environ = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    with mock.patch.dict(os.environ, environ, clear=True), mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        fifo = {"FifoQueue": "true"}
        outputs = {
            "ProcessingQueueDLQUrl": sqs.create_queue(QueueName="p-dlq.fifo", Attributes=fifo)["QueueUrl"],
            "ProcessingQueueUrl": sqs.create_queue(QueueName="p.fifo", Attributes=fifo)["QueueUrl"],
        }
        body = json.dumps({"transaction_id": str(tx)})
        sqs.send_message(
            QueueUrl=outputs["ProcessingQueueDLQUrl"],
            MessageBody=body,
            MessageGroupId=str(tx),
            MessageDeduplicationId="x",
        )
        monkeypatch.setattr(cli_failover, "settings_of", lambda _: (a.adapters.settings, outputs))
        monkeypatch.setattr(bootstrap, "build", lambda s, **_: a)
        assert cli.main(["redrive", "--dlq", "processing", "--reason", "fixed the bug"]) == 0
        assert "1 messages moved" in capsys.readouterr().out
        assert len(sqs.receive_message(QueueUrl=outputs["ProcessingQueueUrl"]).get("Messages", [])) == 1
    [redriven] = [e for e in a.payments.history(tx) if type(e).__name__ == "Redriven"]
    assert (redriven.why, redriven.from_step) == ("fixed the bug", "processing")
    assert redriven.redrive_id.startswith("dlq:")
