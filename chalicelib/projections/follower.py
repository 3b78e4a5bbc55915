"""Keeps the transaction view up to date, and rebuilds it from the events.

The events table's change stream carries each event item as written (NEW_IMAGE): the
follower decodes a changed transaction's new events from the records themselves and folds
them, from scratch when they begin at version 1, else onto the record it wrote last for
that transaction (`RecentRecords`, per container); it then writes the record only if it is
newer than the stored one. No read, in the common case: one PutItem per transaction.

That is as safe as reading the events, because the records of one key arrive in order
within a shard and Lambda hands a shard one batch at a time; and the fold is a pure
function of the events, which never change. What the images do not prove is not guessed:
a transaction's records are folded only if their versions are contiguous and follow what
is known (version 1, or the cached record's version), so a lost, repeated or reordered
record becomes a gap, and a gap — like a cache miss, a modified or removed item, an image
that does not decode, another aggregate's events — becomes one strongly consistent Query
of the whole stream and its fold, as before (`refresh`). The version guard makes every
write idempotent, and the cache only ever holds a record folded from the events up to its
version. Digests of the streams are another function's (eventstore/digests.py).

A multi-transaction payment's later transactions are indexed by items of their own
(`TransactionRecord.lookup_items`, see records.py), written before the record whose fold
brought them (the one with the message, Received): so a stored record that has them has its
index items too, and a redelivered or replayed batch, which finds the record written, need
not write them again. They are a function of the message, which never changes, so writing
them twice, or out of order, is harmless. Their cost, a multi-transaction payment's only:
one item per transaction after the first, written with BatchWriteItem (25 a request) when
the message is folded (and again when a gap or a cold cache makes the follower fold from the
events); a payment of one transaction has none, and costs what it did. It is bounded by the
stage's cap on a message's transactions (`max_transactions`, CheckSettings, given by the
composition root): a message over it, which the processing step rejects whole, gets none
(a 1 MiB pacs.008 may carry thousands of transactions, and the follower's batch would
otherwise write as many items within its timeout).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import MapperDeserialisationError
from eventsourcing.utils import TopicError

from chalicelib.adapters.dynamodb import LOOKUP_INDEXES, TransactionView
from chalicelib.checks.settings import MAX_TRANSACTIONS
from chalicelib.domain import is_payment_stream
from chalicelib.domain.models import same_identifier
from chalicelib.eventstore.dynamodb import stored_event_of
from chalicelib.eventstore.newest import Newest
from chalicelib.pipeline.batch import stream_batch
from chalicelib.pipeline.payments import PaymentNotFound, Payments
from chalicelib.projections.errors import AmbiguousStatusRequest, FoldError, InvalidAsOf, InvalidQuery
from chalicelib.projections.records import TransactionIds, TransactionRecord, indexed_transaction
from chalicelib.projections.transactions import fold

log = logging.getLogger(__name__)


def refresh(
    payments: Payments, view: TransactionView, transaction_id: str, max_transactions: int | None = None
) -> TransactionRecord | None:
    """Write the fold of the transaction's events, unless the view already has that version
    (`max_transactions`: the stage's cap, see `_write`)."""
    events = list(payments.events.get(UUID(transaction_id)))
    if not is_payment_stream(events):
        return None  # no event, or a Region's aggregate (chalicelib/domain/region.py): it shares the table
    record = fold(events)
    if record is not None:
        _write(view, record, None, max_transactions)
    return record


def _write(
    view: TransactionView, record: TransactionRecord, base: TransactionRecord | None, max_transactions: int | None
) -> None:
    """Write the record folded onto `base` (None: from scratch), after the index items of its
    later transactions if this fold brought them (see the module's docstring) — unless its
    message has more transactions than the stage's cap (`max_transactions`; None: not
    known): the processing step rejects such a message whole, and the fold then drops them
    (transactions.py `_rejected`), so they are never indexed."""
    later = record.later_transactions
    over_cap = max_transactions is not None and len(later) + 1 > max_transactions
    if later != (base.later_transactions if base is not None else ()) and not over_cap:
        view.put_lookup_items(record)
    view.put_if_newer(record)


class RecentRecords:
    """The last record this container folded for each transaction (least recently used
    out). An entry is the fold of the events up to its version, which never change: an
    old entry is only ever of a lower version, never wrong."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._records: Newest[TransactionRecord] = Newest(capacity)

    def get(self, transaction_id: str) -> TransactionRecord | None:
        known = self._records.newest(transaction_id)
        return known[1] if known is not None else None

    def remember(self, record: TransactionRecord) -> None:
        self._records.remember(record.transaction_id, record.version, record)


RECENT = RecentRecords()  # this container's (a Lambda container handles one batch at a time)


def follow(
    payments: Payments,
    view: TransactionView,
    records: Iterable[Any],
    recent: RecentRecords = RECENT,
    max_transactions: int | None = None,
) -> dict[str, Any]:
    """The view follower's batch: each changed transaction's record, folded from the
    records' images where they suffice, else from its events (see the module's docstring);
    `max_transactions` is the stage's cap on a message's transactions (see `_write`)."""
    records = list(records)
    by_transaction: dict[str, list[dict[str, Any]]] = {}
    for raw in (r.to_dict() for r in records):
        by_transaction.setdefault(raw["dynamodb"]["Keys"]["pk"]["S"], []).append(raw)

    def one(transaction_id: str) -> None:
        known = recent.get(transaction_id)
        found = new_events(payments, by_transaction[transaction_id], known)
        if found is None:
            record = refresh(payments, view, transaction_id, max_transactions)
        else:
            base, events = found
            if not events:
                return  # the view has these versions already: this container wrote them
            record = fold(events, base)
            if record is not None:
                _write(view, record, base, max_transactions)
        if record is not None:
            recent.remember(record)

    return stream_batch(records, one)


def new_events(
    payments: Payments, raws: list[dict[str, Any]], known: TransactionRecord | None
) -> tuple[TransactionRecord | None, list[Any]] | None:
    """The record to fold onto (`known`, or None: from scratch) and the Payment events of one
    transaction's stream records past it, in order — if the records prove them to be exactly
    the events that follow (contiguous versions from version 1 or from `known`'s next); None
    when only a read can tell."""
    images: dict[int, dict[str, Any]] = {}
    for raw in raws:
        image = raw["dynamodb"].get("NewImage")
        if raw.get("eventName") != "INSERT" or image is None or "state" not in image or "sk" not in image:
            return None  # a modified or removed item, a keys-only stream, not an event item
        version = int(image["sk"]["N"])
        if images.setdefault(version, image) != image:
            return None  # two different items of one version: removed and written again
    versions = sorted(images)
    if versions != list(range(versions[0], versions[-1] + 1)):
        return None  # a record lost, or not delivered yet
    base = known if known is not None and known.version >= versions[0] - 1 else None
    if base is None and versions[0] != 1:
        return None  # neither the stream's start nor a known record to fold onto
    transaction_id = raws[0]["dynamodb"]["Keys"]["pk"]["S"]
    try:
        events = [
            payments.mapper.to_domain_event(stored_event_of(images[v], UUID(transaction_id)))
            for v in versions
            if base is None or v > base.version
        ]
    except (MapperDeserialisationError, TopicError, KeyError, ValueError) as e:
        log.warning("a stream image does not decode: the events are read", extra={"error_type": type(e).__name__})
        return None
    if events and not is_payment_stream(events):
        return None  # a Region's aggregate shares the table: `refresh` tells
    return base, events


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


LOOKUP_LIMIT, LOOKUP_MAX = 50, 100  # transactions a lookup answers: by default, and at most (`?limit=`)
_LIMIT = re.compile(r"[0-9]{1,3}")  # ASCII digits: int() also reads " 5" and other scripts' digits


class Lookup(NamedTuple):
    transactions: list[dict[str, Any]]  # as the API shows them
    truncated: bool  # more matched than the limit


def find(
    view: TransactionView, owner: str, query: dict[str, str] | None, max_transactions: int = MAX_TRANSACTIONS
) -> Lookup:
    """The owner's transactions (as the API shows them) with a given UETR or EndToEndId
    (`?uetr=` / `?end_to_end_id=`), in any transaction of their message, each payment once,
    at most `?limit=` of them (1 to LOOKUP_MAX, LOOKUP_LIMIT by default: a lookup's cost is
    bounded, not sized by the data); InvalidQuery for anything else.

    The cap counts payments, not index entries: a payment has an entry for each transaction
    of its message that carries the identifier (NOTPROVIDED is often all of them). So the
    entries are read lazily, in pages of `limit + 1`, each new payment's record once (the
    owner's, with that transaction on it: an entry whose record is not written yet does not
    count), until `limit + 1` payments are found: the first `limit` are answered, and the
    one more says that more matched (`truncated`). A payment of single-transaction messages
    costs what it did: one page. The follower indexes no more than `max_transactions` (the
    stage's cap) transactions of a message, so `max_transactions` pages always hold
    `limit + 1` payments: no more are read. Should they not (entries of payments indexed
    under a higher cap, or of records not written yet), the answer says `truncated`: more
    may have matched."""
    query = dict(query or {})
    text = query.pop("limit", str(LOOKUP_LIMIT))
    if not _LIMIT.fullmatch(text) or not 0 < int(text) <= LOOKUP_MAX:
        raise InvalidQuery(f"limit must be a whole number from 1 to {LOOKUP_MAX}")
    limit = int(text)
    most = (limit + 1) * max_transactions
    entries = view.find(owner, *_lookup(query), most=most, page=limit + 1)
    read = 0

    def counted() -> Iterator[str]:
        nonlocal read
        for key in entries:
            read += 1
            yield key

    found: dict[str, TransactionRecord] = {}
    for record, _ in _indexed(view, owner, counted()):
        found.setdefault(record.transaction_id, record)
        if len(found) > limit:
            break
    answered = list(found.values())[:limit]
    return Lookup([r.to_dict() for r in answered], truncated=len(found) > limit or read >= most)


def _lookup(query: dict[str, str]) -> tuple[str, str]:
    """The (field, value) of a lookup: exactly one of LOOKUP_INDEXES, 1 to 64 characters."""
    given = {k: v for k, v in query.items() if k in LOOKUP_INDEXES}
    if len(given) != 1 or set(query) - set(LOOKUP_INDEXES):
        raise InvalidQuery("give exactly one of: " + ", ".join(sorted(LOOKUP_INDEXES)) + " (and limit)")
    ((key, value),) = given.items()
    if not 0 < len(value) <= 64:
        raise InvalidQuery(f"{key} must be 1 to 64 characters")
    return key, value


def _indexed(
    view: TransactionView, owner: str, keys: Iterable[str]
) -> Iterator[tuple[TransactionRecord, TransactionIds]]:
    """The owner's payments these index keys name, each with the identifiers of the
    transaction of its message the key stands for (a payment may be named by several), as
    the keys come: each payment's record is read once, when its first key comes."""
    records: dict[str, TransactionRecord | None] = {}
    for key in keys:
        transaction_id, number = indexed_transaction(key)
        if transaction_id not in records:
            records[transaction_id] = view.get(transaction_id)
        record = records[transaction_id]
        if record is None or record.owner != owner:  # the index is the owner's: belt and braces
            continue  # (or an index item written before its record: the record is not there yet)
        ids = record.transaction_ids(number)
        if ids is not None:
            yield record, ids


NOT_PROVIDED = "NOTPROVIDED"  # the EndToEndId of a payment whose debtor gave none (ISO 20022)


def find_for_status_request(view: TransactionView, owner: str, request: Any) -> str:
    """The owner's transaction a pacs.028 names: found by its OrgnlUETR when it gives one, else
    by its OrgnlEndToEndId, in any transaction of a message, and matching every identifier it
    gives in that same transaction (an unknown UETR is not answered with another payment that
    shares an EndToEndId such as NOTPROVIDED, nor with the first transaction's UETR and the
    second's EndToEndId). Of several (a payment sent again under a new transaction id,
    rejected as a duplicate), the first created: the payment itself, not its copy.

    A request that names no transaction is refused (AmbiguousStatusRequest), rather than
    answered with whichever payment came first: an EndToEndId of NOTPROVIDED alone, or one
    that more than LOOKUP_MAX of the owner's payments share. So an answer costs at most
    LOOKUP_MAX + 1 record reads, within the API's time, however many payments share it."""
    wanted = request.transactions[0]
    given = {"uetr": wanted.original_uetr, "end_to_end_id": wanted.original_end_to_end_id}
    given = {k: v for k, v in given.items() if v}
    if given == {"end_to_end_id": NOT_PROVIDED}:
        raise AmbiguousStatusRequest("an OrgnlEndToEndId of NOTPROVIDED names no transaction: give its OrgnlUETR")
    if given:
        key = "uetr" if "uetr" in given else "end_to_end_id"
        found: dict[str, TransactionRecord] = {}
        for record, ids in _indexed(view, owner, view.find(owner, *_lookup({key: given[key]}))):
            if all(same_identifier(k, getattr(ids, k), v) for k, v in given.items()):
                found[record.transaction_id] = record
                if len(found) > LOOKUP_MAX:
                    raise AmbiguousStatusRequest(
                        f"more than {LOOKUP_MAX} of your payments have this OrgnlEndToEndId: give its OrgnlUETR"
                    )
        if found:
            return min(found.values(), key=lambda r: (r.created_at, r.transaction_id)).transaction_id
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
    included, and so are the index items of its later transactions: so a record written
    before the view had them (or by an older fold) is reported and, with `apply`, rewritten.
    That is the migration: `rebuild --apply` (a multi-transaction payment the view followed
    before it indexed later transactions is found by its first one only until then).
    Writes never move a record backwards (`put_unless_newer`): one the follower has
    meanwhile advanced is left alone and listed in `newer_in_view`. An item of the view no
    payment's fold has (an index item included) is orphaned, listed by its key."""
    report = RebuildReport()
    expected_ids: set[str] = set()
    expected_keys: set[str] = set()  # the items of the payments folded: their records and index items
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
        items = {tid: expected.to_item(), **expected.lookup_items()}
        expected_keys.update(items)
        actual = {key: view.get_item(key) for key in items}
        if actual == items:
            report.matching += 1
            continue
        (report.missing if actual[tid] is None else report.mismatched).append(tid)
        if apply:
            view.put_lookup_items(expected)  # first, as the follower writes them
            if view.put_unless_newer(expected):
                report.written += 1
            else:
                report.newer_in_view.append(tid)
    for item in view.scan_items():
        key = item["transaction_id"]["S"]
        transaction_id, _ = indexed_transaction(key)
        if key not in expected_keys and (transaction_id not in expected_ids or transaction_id in expected_keys):
            report.orphaned.append(key)
    return report
