"""Failure detection and the failover decision (docs/multi-region.md §3).

Every minute the controller (`FailoverController`, app.py `failover_controller`) writes this
Region's heartbeat (`$lease#<region>` in the replicated events table) and probes each peer:
its heartbeat in the local replica must be fresh (younger than `lease_heartbeats` heartbeats)
and its `GET /` must answer 200 within `probe_timeout_s`. Consecutive failed probes are
counted per peer, durably (on this Region's lease item); at `failover_after_probes` the
controller decides the takeover and runs it when `automatic` (MRSC), else proposes it (the
log, and `failover_proposed` at GET /) for an operator to decide. An operator decides the same through
`POST /regions/{region}/failover` or the CLI.

The decision is an event of the failed Region's aggregate (chalicelib/domain/region.py),
recorded with optimistic concurrency: of two peers deciding at once, one records
`TakenOver`; the other finds it decided and does nothing more. Fail-back is an operator's
action only (`FailedBack`); the payments taken over stay with the Region that took them.

An operator's action is recorded with its id (the `Idempotency-Key` namespaced by the tenant,
the same in every Region; else the request's id; the CLI's run). An id the Region already
recorded is a retry: answered as the first time, nothing decided again, whatever happened
since (a failback retried after a newer takeover must not end it; a takeover retried after a
failback must not take over again). An action with a key that decides nothing (a failback
answered 409, a failover that found the Region taken over) records its answer (`Answered`),
else its retry would decide afresh against a state changed since; without a key it records
nothing (no retry can carry a request's own id). The same id with another action or reason
is `IdempotencyKeyReused`. The controller's decisions carry no id.

Simplified from the design: the takeover does not wait out the failed Region's lease plus a
margin, and there are no lanes. Fencing is the payment's `home_region` (every step checks
it: a payment's events are one sequence in the replicated table, so a late write of the
failed Region conflicts with the takeover's and one of them is re-read) plus self-fencing:
a Region whose aggregate says it is taken over records no release.
"""

from __future__ import annotations

import logging
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from chalicelib.domain.action_ids import is_keyed
from chalicelib.domain.region import Region, region_aggregate_id
from chalicelib.pipeline.errors import IdempotencyKeyReused, RegionNotTakenOver, StepContended, UnknownRegion
from chalicelib.pipeline.payments import Payments
from chalicelib.pipeline.takeover import TakenOverPayment, Takeover

log = logging.getLogger(__name__)

CONTROLLER = "failover-controller"


class Leases(Protocol):
    """Heartbeats and probe counts (items `$lease#<region>` of the events table)."""

    def heartbeat(self, region: str, now: float) -> None: ...

    def last_heartbeat(self, region: str) -> float | None: ...

    def failed_probes(self, region: str, peer: str) -> int: ...

    def set_failed_probes(self, region: str, peer: str, count: int) -> None: ...


class PeerProbe(Protocol):
    def healthy(self, base_url: str, timeout_s: float) -> bool:
        """True when the peer's `GET /` answers 200 in time."""


class HttpPeerProbe:
    """`GET <base_url>/` with urllib (no extra dependency)."""

    def healthy(self, base_url: str, timeout_s: float) -> bool:
        try:
            with urllib.request.urlopen(base_url.rstrip("/") + "/", timeout=timeout_s) as r:
                return int(r.status) == 200
        except Exception as e:  # any failure is a failed probe
            log.info("peer probe failed", extra={"error_type": type(e).__name__})
            return False


class Decision(NamedTuple):
    region: str
    decided: bool  # False: the Region was already taken over (another peer, or an earlier run)
    taken_over_by: str | None
    payments: list[TakenOverPayment]


@dataclass(frozen=True)
class Regions:
    """The Regions' aggregates, in the replicated event store."""

    payments: Payments
    attempts: int = 3

    def get(self, name: str) -> Region | None:
        try:
            region: object = self.payments.repository.get(region_aggregate_id(name))
        except AggregateNotFoundError:
            return None
        return region if isinstance(region, Region) else None

    def is_taken_over(self, name: str) -> bool:
        region = self.get(name)
        return region is not None and region.is_taken_over

    def take_over(self, name: str, by: str, reason: str, who: str, now: datetime, action_id: str = "") -> bool:
        """Record the takeover; False when it is already decided (we lost the race), recorded
        as this action's answer when it carries an Idempotency-Key. For a retry of a recorded
        action, its first answer, recording nothing."""
        for _ in range(self.attempts):
            region: Region = self.get(name) or Region(name=name)
            if _is_retry(region, action_id, "TakenOver", reason):
                return region.answer(action_id) is None
            if region.is_taken_over:
                if not is_keyed(action_id):
                    return False
                region.answer_undecided(
                    action_id=action_id, action="TakenOver", reason=reason, taken_over_by=region.taken_over_by or ""
                )
                decided = False
            else:
                region.take_over(
                    by=by, reason=reason, who=who, at=now.isoformat(), epoch=region.epoch + 1, action_id=action_id
                )
                decided = True
            try:
                self.payments.save(region)
                return decided
            except IntegrityError:
                continue  # a peer wrote it meanwhile: read it again
        raise StepContended(f"the record of Region {name}: {self.attempts} conflicts in a row")

    def fail_back(self, name: str, who: str, reason: str, now: datetime, action_id: str = "") -> None:
        """Record the fail-back; RegionNotTakenOver when there is nothing to fail back, recorded
        as this action's answer when it carries an Idempotency-Key. For a retry of a recorded
        action, its first answer, recording nothing."""
        for _ in range(self.attempts):
            region = self.get(name)
            if region is not None and _is_retry(region, action_id, "FailedBack", reason):
                if region.answer(action_id) is not None:
                    raise RegionNotTakenOver(name)
                return
            failed_back = region is not None and region.is_taken_over
            if not failed_back and not is_keyed(action_id):
                raise RegionNotTakenOver(name)
            region = region or Region(name=name)
            if failed_back:
                region.fail_back(who=who, reason=reason, at=now.isoformat(), action_id=action_id)
            else:
                region.answer_undecided(action_id=action_id, action="FailedBack", reason=reason, taken_over_by="")
            try:
                self.payments.save(region)
            except IntegrityError:
                continue
            if not failed_back:
                raise RegionNotTakenOver(name)
            return
        raise StepContended(f"the record of Region {name}: {self.attempts} conflicts in a row")


def _is_retry(region: Region, action_id: str, decision: str, reason: str) -> bool:
    """Whether `action_id` already recorded this action (decided, or answered without deciding);
    IdempotencyKeyReused when it recorded another one, or the same with another reason (not a
    retry of that request)."""
    recorded = region.action(action_id)
    if recorded is None:
        return False
    if recorded != (decision, reason):
        other = "another" if recorded[0] != decision else "the same"
        raise IdempotencyKeyReused(f"a {recorded[0]} action of Region {region.name} ({other} action, its own reason)")
    return True


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Failover:
    """The takeover of a peer: decide (once), then take its in-flight payments. Re-running
    a decided takeover takes over what is still the peer's (idempotent)."""

    regions: Regions
    takeover: Takeover
    region_id: str
    peers: frozenset[str]

    def __call__(
        self, region: str, reason: str, who: str, now: datetime | None = None, action_id: str = ""
    ) -> Decision:
        """`action_id`: see the module's docstring; a retry answers `decided` as the first
        time, and takes over (again) only what is still the peer's while the takeover is ours."""
        if region not in self.peers:
            raise UnknownRegion(region)
        decided = self.regions.take_over(region, self.region_id, reason, who, now or utc_now(), action_id)
        current = self.regions.get(region)
        holder = current.taken_over_by if current else None
        answered = current.answer(action_id) if current else None  # decided nothing: who held it then
        by = holder if answered is None else answered or None
        if holder != self.region_id:
            return Decision(region, decided, by, [])
        return Decision(region, decided, by, self.takeover(region, reason))

    def fail_back(self, region: str, reason: str, who: str, now: datetime | None = None, action_id: str = "") -> None:
        if region not in self.peers and region != self.region_id:
            raise UnknownRegion(region)
        self.regions.fail_back(region, who, reason, now or utc_now(), action_id)


class PeerView(NamedTuple):
    region: str
    heartbeat_age_s: float | None
    failed_probes: int
    taken_over: bool
    failover_proposed: bool  # failed `after_probes` probes; an operator decides (not automatic)


@dataclass(frozen=True)
class FailoverController:
    leases: Leases
    probe: PeerProbe
    failover: Failover
    peers: dict[str, str]  # Region -> API base URL
    after_probes: int = 3
    heartbeat_s: int = 60
    lease_heartbeats: int = 3
    probe_timeout_s: float = 2.0
    automatic: bool = True  # decide at `after_probes`; else propose (Settings.automatic_failover)

    @property
    def region_id(self) -> str:
        return self.failover.region_id

    def __call__(self, now: datetime | None = None) -> list[Decision]:
        now = now or utc_now()
        self.leases.heartbeat(self.region_id, now.timestamp())
        decisions = []
        for peer, url in sorted(self.peers.items()):
            region = self.failover.regions.get(peer)
            if region is not None and region.is_taken_over:  # decided: fail-back is an operator's action
                if region.taken_over_by == self.region_id:  # ours: take what the view listed late
                    self.failover.takeover(peer, "takeover repeated by the controller")
                continue
            fresh = self._fresh(peer, now)
            ok = fresh and self.probe.healthy(url, self.probe_timeout_s)
            count = 0 if ok else self.leases.failed_probes(self.region_id, peer) + 1
            self.leases.set_failed_probes(self.region_id, peer, count)
            if count >= self.after_probes:
                why = f"{count} consecutive failed probes (heartbeat {'fresh' if fresh else 'stale'})"
                if self.automatic:
                    decisions.append(self.failover(peer, why, CONTROLLER, now))
                else:  # an operator decides: POST /regions/{peer}/failover, or the CLI
                    log.warning("failover proposed", extra={"peer": peer, "reason": why})
        return decisions

    def _fresh(self, peer: str, now: datetime) -> bool:
        """A heartbeat too old is a failed probe. None yet (a peer deployed after us, whose
        controller has not run) is not: its `GET /` decides, or a healthy Region being
        deployed would be taken over."""
        last = self.leases.last_heartbeat(peer)
        return last is None or now.timestamp() - last <= self.heartbeat_s * self.lease_heartbeats

    def view(self, now: datetime | None = None) -> list[PeerView]:
        """This Region's view of each peer (GET /)."""
        t = (now or utc_now()).timestamp()
        out = []
        for peer in sorted(self.peers):
            last = self.leases.last_heartbeat(peer)
            failed = self.leases.failed_probes(self.region_id, peer)
            taken_over = self.failover.regions.is_taken_over(peer)
            proposed = failed >= self.after_probes and not taken_over and not self.automatic
            out.append(PeerView(peer, None if last is None else round(t - last, 1), failed, taken_over, proposed))
        return out
