"""Keeps the transaction view up to date, and rebuilds it from the events.

The events table's change stream tells the follower *which* transactions changed; the
follower then reads their events from the event store (one strongly consistent query),
folds them, and writes the record only if it is newer than the stored one. Reading the
events rather than decoding stream images means a lost, repeated or reordered stream
record cannot corrupt the view, and the version guard makes every write idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import MapperDeserialisationError

from chalicelib.adapters.dynamodb import LOOKUP_INDEXES, TransactionView
from chalicelib.domain import Payment
from chalicelib.eventstore.digests import Digest, DigestStore, StreamHead
from chalicelib.pipeline.batch import stream_batch
from chalicelib.pipeline.payments import PaymentNotFound, Payments
from chalicelib.projections.errors import FoldError, InvalidAsOf, InvalidQuery
from chalicelib.projections.records import TransactionRecord
from chalicelib.projections.transactions import fold

log = logging.getLogger(__name__)


def refresh(payments: Payments, view: TransactionView, transaction_id: str) -> TransactionRecord | None:
    """Write the fold of the transaction's events, unless the view already has that version."""
    events = list(payments.events.get(UUID(transaction_id)))
    if events and not isinstance(events[0], Payment.Event):
        return None  # a Region's aggregate (chalicelib/domain/region.py) shares the table
    record = fold(events)
    if record is not None:
        view.put_if_newer(record)
    return record


def refresh_and_digest(
    payments: Payments, view: TransactionView, digests: DigestStore | None, records: Iterable[Any]
) -> dict[str, Any]:
    """The view follower's batch: refresh each changed transaction, then write one digest of
    the streams refreshed (eventstore/digests.py), from the hashes the refresh has just read
    (strongly consistent): no read of its own. A digest that cannot be written fails the
    batch, which is retried whole (refreshes are idempotent). Event items are insert-only: a
    stream record that modifies or removes one is logged as an error and its stream is left
    out of this digest (earlier digests keep vouching for what was inserted)."""
    heads: list[StreamHead] = []
    records = list(records)
    rewritten = {  # events are only ever inserted: a change or removal is not digested, but told
        raw["dynamodb"]["Keys"]["pk"]["S"]
        for raw in (r.to_dict() for r in records)
        if raw.get("eventName", "INSERT") != "INSERT" and not raw["dynamodb"]["Keys"]["pk"]["S"].startswith("$")
    }
    for transaction_id in sorted(rewritten):
        log.error("an event item was modified or removed", extra={"transaction_id": transaction_id})

    def one(transaction_id: str) -> None:
        refresh(payments, view, transaction_id)
        chain = getattr(payments.recorder, "heads", None)  # the DynamoDB recorder's (chain.py)
        head = chain.head(transaction_id) if chain is not None else None
        if head is not None and transaction_id not in rewritten:
            heads.append(StreamHead(transaction_id, *head))

    result = stream_batch(records, one)
    if digests is not None and heads:
        digests.put(Digest.of(heads))
    return result


def parse_as_of(text: str) -> datetime:
    """An ISO 8601 date-time; without an offset it is UTC."""
    try:
        at = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise InvalidAsOf("as_of must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def state_as_of(payments: Payments, transaction_id: UUID, owner: str | None, as_of: datetime) -> dict[str, Any]:
    """The transaction as it was at `as_of`: the fold of its events recorded until then."""
    record = fold(e for e in payments.history(transaction_id, owner) if e.timestamp <= as_of)
    if record is None:
        raise PaymentNotFound(f"{transaction_id} did not exist at {as_of.isoformat()}")
    return record.to_dict() | {"as_of": as_of.isoformat()}


def current_state(
    payments: Payments, view: TransactionView, transaction_id: UUID, owner: str, *, fold_events: bool = False
) -> dict[str, Any]:
    """The owner's view record as the API shows it (JSON), or — if the follower has not
    caught up yet, or `fold_events` (X-Consistency: strong) — the fold of the events, read
    with strongly consistent reads of this Region's replica."""
    record = None if fold_events else view.get(str(transaction_id))
    if record is None:
        record = fold(payments.history(transaction_id, owner))
    if record is None or record.owner != owner:
        raise PaymentNotFound(str(transaction_id))
    return record.to_dict()


def find(view: TransactionView, owner: str, query: dict[str, str] | None) -> list[dict[str, Any]]:
    """The owner's transactions (as the API shows them) with a given UETR or EndToEndId
    (`?uetr=` / `?end_to_end_id=`); InvalidQuery for anything else."""
    return [r.to_dict() for r in _find(view, owner, query)]


def _find(view: TransactionView, owner: str, query: dict[str, str] | None) -> list[TransactionRecord]:
    given = {k: v for k, v in (query or {}).items() if k in LOOKUP_INDEXES}
    if len(given) != 1 or set(query or {}) - set(LOOKUP_INDEXES):
        raise InvalidQuery("give exactly one of: " + ", ".join(sorted(LOOKUP_INDEXES)))
    ((key, value),) = given.items()
    if not 0 < len(value) <= 64:
        raise InvalidQuery(f"{key} must be 1 to 64 characters")
    records = (view.get(tid) for tid in view.find(owner, key, value))
    return [r for r in records if r is not None and r.owner == owner]  # the index is the owner's: belt and braces


def find_for_status_request(view: TransactionView, owner: str, request: Any) -> str:
    """The owner's transaction a pacs.028 names (by OrgnlUETR, else OrgnlEndToEndId)."""
    wanted = request.transactions[0]
    for key, value in (("uetr", wanted.original_uetr), ("end_to_end_id", wanted.original_end_to_end_id)):
        if value:
            found = _find(view, owner, {key: value})
            if found:
                return found[0].transaction_id
    raise PaymentNotFound("no transaction of yours matches the status request")


@dataclass
class RebuildReport:
    checked: int = 0
    matching: int = 0
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    unfoldable: list[str] = field(default_factory=list)  # events the fold refuses (FoldError)
    written: int = 0
    newer_in_view: list[str] = field(default_factory=list)  # not written: the view moved on meanwhile

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing or self.orphaned or self.unreadable or self.unfoldable)


def rebuild(
    payments: Payments, view: TransactionView, aggregate_ids: Iterable[str], apply: bool = False
) -> RebuildReport:
    """Recompute every record from the events; report (and with `apply`, repair) differences.

    A record matches when its stored item is the recomputed one's, lookup attributes
    included: so a record written before the view had them (or by an older fold) is
    reported and, with `apply`, rewritten. That is the migration: `rebuild --apply`.
    Writes never move a record backwards (`put_unless_newer`): one the follower has
    meanwhile advanced is left alone and listed in `newer_in_view`."""
    report = RebuildReport()
    expected_ids: set[str] = set()
    for tid in aggregate_ids:
        expected_ids.add(tid)
        report.checked += 1
        try:
            expected = fold(payments.history(UUID(tid)))
        except PaymentNotFound:
            continue
        except MapperDeserialisationError:  # written under another cipher key or codec
            report.unreadable.append(tid)
            continue
        except FoldError as e:  # an event class the view has no rule for, or a gap
            log.error("cannot fold %s: %s", tid, e)
            report.unfoldable.append(tid)
            continue
        if expected is None:
            continue
        actual = view.get_item(tid)
        if actual == expected.to_item():
            report.matching += 1
            continue
        (report.missing if actual is None else report.mismatched).append(tid)
        if apply:
            if view.put_unless_newer(expected):
                report.written += 1
            else:
                report.newer_in_view.append(tid)
    for record in view.scan():
        if record.transaction_id not in expected_ids:
            report.orphaned.append(record.transaction_id)
    return report
