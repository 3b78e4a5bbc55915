"""The composition root: builds a Region's adapters and use cases once per process.

`build(settings, **overrides)` is the only place that wires anything: every adapter can be
replaced by passing it by name (tests pass in-memory fakes, the bench metered clients), and
each use case receives exactly the collaborators it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, Protocol

from chalicelib import checks
from chalicelib.adapters.deadlines import DeadlineQueue
from chalicelib.adapters.dynamodb import Claims, Leases, Retrievals, TransactionView
from chalicelib.adapters.pending import PendingIndex
from chalicelib.adapters.replication import PeerReplicas
from chalicelib.adapters.s3 import Archive
from chalicelib.adapters.secretsmanager import cipher_key
from chalicelib.adapters.settings import Settings, settings
from chalicelib.adapters.sns import Notifier
from chalicelib.adapters.sqs import Queue
from chalicelib.auth import TokenPolicy, jwks_url_for
from chalicelib.checks.sanctions import Screening, load_screening
from chalicelib.eventstore.digests import DigestStore
from chalicelib.pipeline import ports
from chalicelib.pipeline.cancel import Cancel, MendReturn, SubmitCancellation
from chalicelib.pipeline.consistency import Confirm
from chalicelib.pipeline.decision import Decide
from chalicelib.pipeline.failover import Failover, FailoverController, HttpPeerProbe, PeerProbe, Regions
from chalicelib.pipeline.failover import Leases as LeasesPort
from chalicelib.pipeline.handoff import handoff
from chalicelib.pipeline.incoming import Incoming
from chalicelib.pipeline.issue_transaction import IssueTransaction
from chalicelib.pipeline.liquidity import Liquidity, Positions, parse_limits
from chalicelib.pipeline.payments import Payments
from chalicelib.pipeline.processing import Processing
from chalicelib.pipeline.redrive import Dispatch, Redrive
from chalicelib.pipeline.releasing import Releasing
from chalicelib.pipeline.status_report import StatusReport
from chalicelib.pipeline.status_request import AnswerStatusRequest
from chalicelib.pipeline.submit import Submit
from chalicelib.pipeline.takeover import InFlightFinder, Takeover
from chalicelib.pipeline.timeouts import DeadlineReached, OverdueFinder, ScheduleDeadline, Sla, Sweep, TimeOut
from chalicelib.pipeline.unit_of_work import UnitOfWork
from chalicelib.projections import follower


def payments_env(s: Settings, table: str | None = None) -> dict[str, str]:
    """eventsourcing's configuration: our DynamoDB persistence module on the events table,
    event state compressed (fewer write units) and encrypted with AES-GCM."""
    env = {
        "PERSISTENCE_MODULE": "chalicelib.eventstore.dynamodb",
        "DYNAMODB_TABLE": table or s.events_table,
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
    }
    if s.cipher_secret_arn:
        env["CIPHER_TOPIC"] = "eventsourcing.cryptography:AESCipher"
        env["CIPHER_KEY"] = cipher_key(s.cipher_secret_arn)
    return env


def positions_env(s: Settings) -> dict[str, str]:
    """The positions' configuration: as the payments', on the positions table; their
    snapshots in S3 when a snapshots bucket is set (README "Recovery": what it costs)."""
    env = payments_env(s, s.positions_table)
    env[Positions.SNAPSHOTTING_INTERVAL] = str(s.position_snapshot_interval)
    if s.snapshots_bucket:
        env["SNAPSHOTS_BUCKET"] = s.snapshots_bucket
    return env


class PendingFinder(OverdueFinder, InFlightFinder, Protocol):
    """The payments not yet released: for the sweep and for takeovers."""


@dataclass(frozen=True)
class Adapters:
    """Everything the use cases talk to, one of each per Region."""

    settings: Settings
    payments: Payments
    positions: Positions
    archive: ports.Archive
    incoming: ports.StepQueue
    processing: ports.StepQueue
    releasing: ports.StepQueue
    deadlines: ports.DeadlineQueue
    pending: PendingFinder  # the view's index of unreleased payments
    notifier: ports.Notifier
    claims: ports.ClaimStore
    view: TransactionView
    screening: Screening
    check_settings: checks.CheckSettings
    replication: ports.Replication
    leases: LeasesPort
    peer_probe: PeerProbe
    retrievals: ports.RetrievalLog | None = None  # ReportRetrieved records (who fetched /outbox)


@dataclass(frozen=True)
class Service:
    """The use cases, by the name a route or handler calls them."""

    adapters: Adapters
    liquidity: Liquidity
    issue_transaction: IssueTransaction
    submit: Submit
    cancel: Cancel
    status_report: StatusReport
    status_request: AnswerStatusRequest
    incoming: Incoming
    processing: Processing
    releasing: Releasing
    time_out: TimeOut
    deadline_reached: DeadlineReached
    sweep: Sweep
    confirm: Confirm
    regions: Regions
    redrive: Redrive
    takeover: Takeover
    failover: Failover
    failover_controller: FailoverController

    @property
    def payments(self) -> Payments:
        return self.adapters.payments


def adapters(s: Settings, **overrides: Any) -> Adapters:
    """The Region's AWS adapters, each replaced by `overrides[name]` when given."""
    unknown = set(overrides) - {f.name for f in fields(Adapters)}
    if unknown:
        raise TypeError(f"no such adapter: {', '.join(sorted(unknown))}")
    factories: dict[str, Callable[[], Any]] = {
        "payments": lambda: Payments(env=payments_env(s)),
        "positions": lambda: Positions(env=positions_env(s)),
        "archive": lambda: Archive(s.archive_bucket),
        "incoming": lambda: Queue(s.incoming_queue_url),
        "processing": lambda: Queue(s.processing_queue_url),
        "releasing": lambda: Queue(s.releasing_queue_url),
        "deadlines": lambda: DeadlineQueue(s.deadlines_queue_url),
        "pending": lambda: PendingIndex(s.transactions_table),
        "notifier": lambda: Notifier(s.released_topic_arn),
        "claims": lambda: Claims(s.events_table),
        "view": lambda: TransactionView(s.transactions_table),
        "screening": load_screening,
        "check_settings": checks.default_settings,
        "replication": lambda: PeerReplicas(
            s.events_table, [p for p in s.peers if p != s.region_id], s.peer_archive_buckets
        ),
        "leases": lambda: Leases(s.events_table),
        "peer_probe": HttpPeerProbe,
        "retrievals": lambda: Retrievals(s.events_table),
    }
    built = {name: overrides[name] if name in overrides else make() for name, make in factories.items()}
    return Adapters(settings=s, **built)


def build(s: Settings, **overrides: Any) -> Service:
    """The Region's service: its adapters (see `adapters`) wired into every use case."""
    a = adapters(s, **overrides)
    regions = Regions(a.payments)
    # Only a Region with peers can be taken over: a single Region reads no Region record.
    taken_over = (lambda: regions.is_taken_over(s.region_id)) if s.peers else (lambda: False)
    uow = UnitOfWork(a.payments, s.fault_injection, region_id=s.region_id, taken_over=taken_over)
    dispatch = Dispatch(a.archive, a.incoming, a.processing, a.releasing)
    takeover = Takeover(uow, a.pending, dispatch, s.region_id)
    failover = Failover(regions, takeover, s.region_id, frozenset(s.peers))
    liquidity = Liquidity(
        a.positions,
        parse_limits(s.liquidity_limits),
        velocity_window_s=s.velocity_window_s,
        velocity_max=s.velocity_max,
    )
    cancel = Cancel(uow, a.archive, a.releasing, liquidity, a.deadlines)
    sla = Sla.parse(s.sla_seconds, s.sla_seconds_by_type)
    schedule_deadline = ScheduleDeadline(a.deadlines, sla)
    time_out = TimeOut(uow, a.releasing, sla)
    # the steps, last first: each hands its payment to the next (pipeline/handoff.py)
    releasing = Releasing(uow, a.archive, a.notifier, liquidity)
    to_releasing = handoff(s.step_handoff, a.releasing, "releasing", releasing)
    decide = Decide(
        a.check_settings,
        a.screening,
        a.claims,
        liquidity,
        s.duplicate_window_s,
        tenant_agents={tenant: frozenset(bics) for tenant, bics in s.tenant_agents.items()},
    )
    processing = Processing(uow, decide, to_releasing)
    to_processing = handoff(s.step_handoff, a.processing, "processing", processing)
    incoming = Incoming(uow, a.archive, to_processing, to_releasing)
    return Service(
        adapters=a,
        liquidity=liquidity,
        issue_transaction=IssueTransaction(a.payments, s.region_id, schedule_deadline, taken_over),
        submit=Submit(
            a.payments,
            a.archive,
            a.incoming,
            SubmitCancellation(cancel, s.max_message_bytes),
            s.max_message_bytes,
            s.region_id,
        ),
        cancel=cancel,
        status_report=StatusReport(a.payments, a.archive, s.region_id, a.retrievals, replicated=bool(s.peers)),
        status_request=AnswerStatusRequest(
            a.payments,
            lambda owner, request: follower.find_for_status_request(a.view, owner, request),
            s.max_message_bytes,
        ),
        incoming=incoming,
        processing=processing,
        releasing=releasing,
        time_out=time_out,
        deadline_reached=DeadlineReached(time_out, a.deadlines, MendReturn(a.payments, liquidity)),
        sweep=Sweep(a.pending, time_out, sla),
        confirm=Confirm(a.replication, s.region_id, s.default_consistency, s.strong_wait_seconds),
        regions=regions,
        redrive=Redrive(uow, dispatch),
        takeover=takeover,
        failover=failover,
        failover_controller=FailoverController(
            a.leases,
            a.peer_probe,
            failover,
            dict(s.peers),
            s.failover_after_probes,
            s.heartbeat_seconds,
            s.lease_heartbeats,
            s.probe_timeout_s,
            s.automatic_failover,
        ),
    )


@lru_cache(maxsize=1)
def service() -> Service:
    """This process's service, built at first use (a Lambda container's cold start)."""
    return build(settings())


@lru_cache(maxsize=1)
def digests() -> DigestStore:
    """The Digester's one adapter: it decodes no event state, so it reads no cipher key."""
    return DigestStore(settings().digests_bucket)


@lru_cache(maxsize=1)
def token_policy() -> TokenPolicy:
    s = settings()
    return TokenPolicy(
        issuer=s.token_issuer,
        jwks_url=s.jwks_url or jwks_url_for(s.token_issuer, s.user_pool_id),
        scope_prefix=s.scope_prefix,
        allowed_client_ids=frozenset(c for c in s.allowed_client_ids.split(",") if c),
        tenants=dict(s.tenants),
    )
