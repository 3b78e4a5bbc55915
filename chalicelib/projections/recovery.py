"""A snapshot of the transaction view, and its recovery: the snapshot plus only newer events.

The events table has no global order (no notification log on the hot path: see
chalicelib/pipeline/payments.py), so "newer than the snapshot" is decided per stream. The
snapshot keeps each record with the version it reflects (the number of its transaction's
events folded into it). Recovery reads the stream heads, each aggregate's latest version,
from a keys-only scan of the events table (`stream_heads`), and for each stream:

- head == the snapshot's version: the snapshot's record stands, no event is read;
- head > the snapshot's version: the events after it are read (one Query, `gt`) and folded
  onto the snapshot's record;
- not in the snapshot (a transaction begun after it), or the snapshot is ahead of the
  events (it was taken from a store later restored from an older backup): a full fold;
- not a payment's stream (a Region's aggregate shares the table): skipped, counted.

A record of the snapshot with no stream is dropped (listed). So the recovered view is
`fold(all events)` for every transaction, whatever the snapshot's age: the rebuild check
(`rebuild`) confirms it against the live view. The snapshot holds records only: the index
items of a multi-transaction payment's later transactions are derived from its record
(`TransactionRecord.lookup_items`), so recovery derives them too, and the recovered items
are the records and their index items, as the live view holds them. The high-water mark the snapshot records,
`events_covered`, is the sum of its versions: the events it saves reading.

A record stands for the fold only if the fold that wrote it produced everything today's does.
A record of a multi-transaction payment written before `later_transactions` existed lists no
later transaction, so the snapshot says which fold wrote its records in its FORMAT, bumped
whenever the record gains what an older one lacks: the records of an older format (or of a
snapshot that states none) are folded from all their events, as a stream the snapshot lacks
(counted `refolded`), never taken as the fold. Taken as stored, a format-1 record at the
stream's head would drop the payment's later transactions and their index items from the
recovered view, and `recover view --apply` (which overwrites equal versions) would strip them
from the live record: the payment would be found by its first transaction only, and a
released one gets no further event to heal it.

The format cannot vouch for every record either: `ViewSnapshot.of` takes whatever the live
view holds, and a view not yet migrated by `rebuild --apply` holds such records; folded onto,
tail only, a record keeps what it lacks. So a record that says its message has several
transactions (its `nb_of_txs`, or a status per transaction) but lists no later one is folded
from all its events too, whatever the format (`unvouched`, counted `refolded`). A message
refused whole over the stage's cap lists none either (its fold drops them), so its record is
folded whole on every recovery: one Query of its stream each, for a rare message.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import MapperDeserialisationError

from chalicelib.domain import is_payment_stream
from chalicelib.projections.errors import FoldError
from chalicelib.projections.records import TransactionRecord, is_lookup_item
from chalicelib.projections.transactions import fold

FORMAT = "pacsflow-view-snapshot/2"
# Format 1 was written before records kept their message's later transactions: read, but its
# records are folded from their events (see the module's docstring).
FORMAT_1 = "pacsflow-view-snapshot/1"
KEY_PREFIX = "view-snapshots"

# The events of transaction `id` after version `gt` (all when None), oldest first.
EventsAfter = Callable[[UUID, int | None], Iterable[Any]]


@dataclass(frozen=True)
class ViewSnapshot:
    taken_at: str
    items: dict[str, dict[str, Any]]  # transaction id -> the view's item (attribute values)
    # The shape of its records: FORMAT when this code took them (`of`, or a snapshot it wrote);
    # a snapshot of items of unknown shape is taken as the oldest, its records refolded.
    format: str = FORMAT_1

    @property
    def records_are_folds(self) -> bool:
        """Whether a record at its stream's head can stand for the fold of its events."""
        return self.format == FORMAT

    @property
    def events_covered(self) -> int:
        return sum(int(i["version"]["N"]) for i in self.items.values())

    def version_of(self, transaction_id: str) -> int | None:
        item = self.items.get(transaction_id)
        return None if item is None else int(item["version"]["N"])

    def to_bytes(self) -> bytes:
        """gzip of JSON lines: a header, then one line per record: the view's item, its
        `version` the number of the transaction's events it reflects."""
        header = {
            "format": self.format,
            "taken_at": self.taken_at,
            "records": len(self.items),
            "events_covered": self.events_covered,
        }
        lines = [json.dumps(header)]
        lines += [json.dumps(item, separators=(",", ":")) for _, item in sorted(self.items.items())]
        return gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=6)

    @classmethod
    def from_bytes(cls, data: bytes) -> ViewSnapshot:
        header_line, *lines = gzip.decompress(data).decode().splitlines()
        header = json.loads(header_line)
        if header.get("format") not in (FORMAT, FORMAT_1):
            raise ValueError(f"not a {FORMAT} (nor a {FORMAT_1}): {header.get('format')!r}")
        items = {}
        for line in lines:
            item = json.loads(line)
            items[item["transaction_id"]["S"]] = item
        if len(items) != header["records"]:
            raise ValueError(f"view snapshot: {len(items)} records, its header says {header['records']}")
        return cls(taken_at=header["taken_at"], items=items, format=header["format"])

    @classmethod
    def of(cls, items: Iterable[dict[str, Any]]) -> ViewSnapshot:
        """A snapshot of the view's records, now (its index items are derived: not kept)."""
        taken_at = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")  # sorts as it reads; µs: no clash
        records = {i["transaction_id"]["S"]: i for i in items if not is_lookup_item(i)}
        return cls(taken_at=taken_at, items=records, format=FORMAT)


def object_key(prefix: str, taken_at: str) -> str:
    """The S3 key of a snapshot: timestamps sort, so the latest is the last one listed."""
    return f"{prefix.strip('/')}/{taken_at}.jsonl.gz" if prefix.strip("/") else f"{taken_at}.jsonl.gz"


@dataclass
class RecoveryReport:
    items: dict[str, dict[str, Any]] = field(default_factory=dict)  # the view's items (index items too), recovered
    as_stored: set[str] = field(default_factory=set)  # records taken as the snapshot has them: no newer event
    tail_streams: int = 0  # streams with events newer than the snapshot's record
    new_streams: int = 0  # streams the snapshot does not have (or is ahead of): full fold
    refolded: int = 0  # records the snapshot cannot vouch for: full fold (see the module's docstring)
    other_streams: int = 0  # not a payment's (a Region's aggregate shares the table): skipped
    events_read: int = 0
    dropped: list[str] = field(default_factory=list)  # in the snapshot, no stream
    unreadable: list[str] = field(default_factory=list)
    unfoldable: list[str] = field(default_factory=list)

    @property
    def from_snapshot(self) -> int:
        return len(self.as_stored)

    def record(self, transaction_id: str) -> TransactionRecord:
        return TransactionRecord.from_item(self.items[transaction_id])


def recover(snapshot: ViewSnapshot, heads: Iterable[tuple[str, int]], events_after: EventsAfter) -> RecoveryReport:
    """The view as of `heads` (transaction id, latest version): the snapshot plus the tail."""
    report = RecoveryReport()

    def counted(events: Iterable[Any]) -> Iterator[Any]:
        for event in events:
            report.events_read += 1
            yield event

    seen: set[str] = set()
    for tid, head in heads:
        seen.add(tid)
        older = tid in snapshot.items and (not snapshot.records_are_folds or unvouched(snapshot.items[tid]))
        base = None if older else snapshot.items.get(tid)
        version = snapshot.version_of(tid)
        if base is not None and version == head:
            report.items[tid] = base  # as stored: no decoding of a record nothing changed
            if "later_transactions" in base:  # but its index items are derived from it
                report.items.update(TransactionRecord.from_item(base).lookup_items())
            report.as_stored.add(tid)
            continue
        try:
            if base is not None and version is not None and version < head:
                report.tail_streams += 1
                record = fold(counted(events_after(UUID(tid), version)), TransactionRecord.from_item(base))
            else:
                events = list(counted(events_after(UUID(tid), None)))
                if not is_payment_stream(events):
                    report.other_streams += 1
                    continue
                if older:
                    report.refolded += 1
                else:
                    report.new_streams += 1
                record = fold(events)
        except MapperDeserialisationError:
            report.unreadable.append(tid)
            continue
        except FoldError:
            report.unfoldable.append(tid)
            continue
        if record is not None:
            report.items.update(view_items(record))
    report.dropped = sorted(set(snapshot.items) - seen)
    return report


def unvouched(item: dict[str, Any]) -> bool:
    """Whether a record (the view's item) says its message has several transactions but lists
    none after the first: the fold that wrote it may not have kept them (module docstring)."""
    if "later_transactions" in item:
        return False
    count = item.get("nb_of_txs", {}).get("S", "")
    return (count.isdecimal() and int(count) > 1) or len(item.get("tx_statuses", {}).get("L", ())) > 1


def view_items(record: TransactionRecord) -> dict[str, dict[str, Any]]:
    """The view table's items of one payment, by key: its record's and its index items."""
    return {record.transaction_id: record.to_item(), **record.lookup_items()}


def full_replay(heads: Iterable[tuple[str, int]], events_after: EventsAfter) -> dict[str, dict[str, Any]]:
    """The view's items folded from every event (what `rebuild` computes): the baseline."""
    items = {}
    for tid, _ in heads:
        events = list(events_after(UUID(tid), None))
        record = fold(events) if is_payment_stream(events) else None
        if record is not None:
            items.update(view_items(record))
    return items
