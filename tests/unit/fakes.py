"""In-memory stand-ins for the AWS adapters, so use cases run without the network.

Each conforms to its port (chalicelib/pipeline/ports.py; mypy checks the assignments at
the bottom), and `memory_service` builds the service through the one composition root.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from chalicelib import bootstrap
from chalicelib.adapters.s3 import sha256
from chalicelib.adapters.settings import Settings
from chalicelib.checks.sanctions import load_screening
from chalicelib.pipeline.liquidity import Positions
from chalicelib.pipeline.messages import StepMessage
from chalicelib.pipeline.payments import Payments
from chalicelib.pipeline.ports import MissingObject
from chalicelib.pipeline.submit import SQS_MESSAGE_BYTES
from chalicelib.pipeline.timeouts import Unreleased

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


class MemoryArchive:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0
        self.gets: list[str] = []  # the key of every get, in order

    def put(self, kind: str, data: bytes) -> tuple[str, str]:
        digest = sha256(data)
        key = f"{kind}/sha256/{digest[:2]}/{digest}.xml"
        self.objects[key] = data
        self.puts += 1
        return key, digest

    def get(self, key: str) -> bytes:
        self.gets.append(key)
        if key not in self.objects:
            raise MissingObject(key)
        return self.objects[key]

    def exists(self, key: str) -> bool:
        return key in self.objects

    def is_reachable(self) -> bool:
        return True


class MemoryQueue:
    """A FIFO queue as SQS keeps one: a message whose deduplication id (the same as
    chalicelib/adapters/sqs.py derives) was sent in the last five minutes is accepted and
    dropped."""

    DEDUPLICATION_INTERVAL_S = 300.0

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.deduplicated: list[tuple[str, str, dict[str, Any]]] = []
        self._sent_at: dict[str, float] = {}

    def send(self, transaction_id: str, step: str, body: dict[str, Any], dedup: str = "") -> None:
        if len(json.dumps(body, separators=(",", ":")).encode()) > SQS_MESSAGE_BYTES:
            raise ValueError("the message is over SQS's size limit")  # SQS: InvalidParameterValue
        dedup_id = f"{transaction_id}:{step}{':' + dedup if dedup else ''}"
        now = time.monotonic()
        if now - self._sent_at.get(dedup_id, -self.DEDUPLICATION_INTERVAL_S) < self.DEDUPLICATION_INTERVAL_S:
            self.deduplicated.append((transaction_id, step, body))
            return
        self._sent_at[dedup_id] = now
        self.sent.append((transaction_id, step, body))

    def is_reachable(self) -> bool:
        return True


class MemoryDeadlineQueue:
    """The deadlines queue (standard SQS, delayed messages): what was sent, with its delay."""

    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], int]] = []

    def send_later(self, body: dict[str, Any], delay_seconds: int) -> None:
        self.sent.append((body, delay_seconds))


class MemoryNotifier:
    def __init__(self) -> None:
        self.published: list[tuple[str, str, str, dict[str, Any]]] = []

    def released(self, transaction_id: str, tx_sts: str, client_id: str, body: dict[str, Any]) -> None:
        self.published.append((transaction_id, tx_sts, client_id, body))


class MemoryClaims:
    """Claims as a dict, with the same first-come semantics as the DynamoDB adapter."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, str], tuple[str, float]] = {}
        self.lock = threading.Lock()

    def claim(self, kind: str, value: str, transaction_id: str, now: float, window_s: int) -> str | None:
        with self.lock:
            holder = self.held.get((kind, value))
            if holder is None or holder[0] == transaction_id or holder[1] < now - window_s:
                self.held[(kind, value)] = (transaction_id, now)
                return None
            return holder[0]


class MemoryLeases:
    """The `$lease#<region>` items; share one between two services to replicate them."""

    def __init__(self) -> None:
        self.heartbeats: dict[str, float] = {}
        self.probes: dict[tuple[str, str], int] = {}

    def heartbeat(self, region: str, now: float) -> None:
        self.heartbeats[region] = now

    def last_heartbeat(self, region: str) -> float | None:
        return self.heartbeats.get(region)

    def failed_probes(self, region: str, peer: str) -> int:
        return self.probes.get((region, peer), 0)

    def set_failed_probes(self, region: str, peer: str, count: int) -> None:
        self.probes[(region, peer)] = count


class MemoryProbe:
    """A peer's `GET /`: healthy unless its URL is in `down`."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.probed: list[str] = []

    def healthy(self, base_url: str, timeout_s: float) -> bool:
        self.probed.append(base_url)
        return base_url not in self.down


class MemoryRetrievals:
    """ReportRetrieved records (chalicelib/adapters/dynamodb.py Retrievals), in a list."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    def retrieved(self, record: Any) -> None:
        self.records.append(record)

    def of(self, transaction_id: str) -> list[Any]:
        return [r for r in self.records if r.transaction_id == transaction_id]


def memory_adapters() -> dict[str, Any]:
    """Every adapter of the Region, in memory (the transaction view is left to the caller)."""
    return {
        "payments": Payments(env=POPO),
        "positions": Positions(env=POPO),
        "archive": MemoryArchive(),
        "incoming": MemoryQueue(),
        "processing": MemoryQueue(),
        "releasing": MemoryQueue(),
        "deadlines": MemoryDeadlineQueue(),
        "pending": MemoryPending(),
        "notifier": MemoryNotifier(),
        "claims": MemoryClaims(),
        "retrievals": MemoryRetrievals(),
        "view": None,
        "screening": _screening(),
        "leases": MemoryLeases(),
        "peer_probe": MemoryProbe(),
    }


_SCREENING: list[Any] = []


def _screening() -> Any:
    """The demo sanctions list, loaded once for the whole test session (it is immutable)."""
    if not _SCREENING:
        _SCREENING.append(load_screening())
    return _SCREENING[0]


def memory_service(limits: str = "{}", **settings: Any) -> bootstrap.Service:
    return bootstrap.build(Settings(liquidity_limits=limits, **settings), **memory_adapters())


def drain(svc: bootstrap.Service, receive_count: int = 1) -> None:
    """Deliver every queued step message, in order, until the queues are empty."""
    a = svc.adapters
    for queue, handler in (
        (a.incoming, svc.incoming),
        (a.processing, svc.processing),
        (a.releasing, svc.releasing),
    ):
        assert isinstance(queue, MemoryQueue)
        while queue.sent:
            tx, _, body = queue.sent.pop(0)
            handler(StepMessage(UUID(tx), body, receive_count))


if TYPE_CHECKING:  # every fake conforms to its port
    from chalicelib.pipeline import ports

    _archive: ports.Archive = MemoryArchive()
    _queue: ports.StepQueue = MemoryQueue()
    _notifier: ports.Notifier = MemoryNotifier()
    _deadlines: ports.DeadlineQueue = MemoryDeadlineQueue()
    _claims: ports.ClaimStore = MemoryClaims()
    _retrievals: ports.RetrievalLog = MemoryRetrievals()


# The transaction view's fake (appended; its imports are kept with it).
from collections.abc import Iterator

from chalicelib.adapters.dynamodb import LOOKUP_INDEXES
from chalicelib.projections.records import LOOKUP_ATTRIBUTES, TransactionRecord, is_lookup_item, lookup_key


class MemoryView:
    """The transaction view (chalicelib/adapters/dynamodb.py TransactionView) as a dict.

    Records are kept as the view table's items (`TransactionRecord.to_item`) and read back
    with `from_item`, as the adapter does, and writes keep the adapter's version guard.
    `dynamodb` is the client the health check probes (chalicelib/health.py describes the
    events table through it); set `reachable` to False to make every probe fail.
    """

    def __init__(self, table: str = "pacsflow-transactions") -> None:
        self.table = table
        self.items: dict[str, dict[str, Any]] = {}
        self.reachable = True
        self.described: list[str] = []
        self.lock = threading.Lock()

    @property
    def dynamodb(self) -> MemoryView:
        return self  # answers describe_table, the one client call health makes

    def describe_table(self, TableName: str) -> dict[str, Any]:  # boto3's keyword
        if not self.reachable:
            raise ConnectionError("the view is unreachable")
        self.described.append(TableName)
        return {"Table": {"TableName": TableName, "TableStatus": "ACTIVE"}}

    def get(self, transaction_id: str) -> TransactionRecord | None:
        item = self.items.get(transaction_id)
        return TransactionRecord.from_item(item) if item else None

    def get_item(self, transaction_id: str) -> dict[str, Any] | None:
        return self.items.get(transaction_id)

    def put_unless_newer(self, record: TransactionRecord) -> bool:
        with self.lock:
            stored = self.items.get(record.transaction_id)
            if stored is not None and int(stored["version"]["N"]) > record.version:
                return False
            self.items[record.transaction_id] = record.to_item()
            return True

    def put_if_newer(self, record: TransactionRecord) -> bool:
        with self.lock:
            stored = self.items.get(record.transaction_id)
            if stored is not None and int(stored["version"]["N"]) >= record.version:
                return False
            self.items[record.transaction_id] = record.to_item()
            return True

    def put_lookup_items(self, record: TransactionRecord) -> None:
        with self.lock:
            self.items.update(record.lookup_items())

    def put_unconditionally(self, record: TransactionRecord) -> None:
        with self.lock:
            self.items[record.transaction_id] = record.to_item()

    def find(
        self, owner: str, field: str, value: str, most: int | None = None, page: int | None = None
    ) -> Iterator[str]:
        """As the adapter's: lazily (`page` changes nothing here, there are no requests)."""
        LOOKUP_INDEXES[field]  # KeyError for a field without an index, as the adapter
        key = {"S": lookup_key(owner, value)}
        found = [tid for tid, item in self.items.items() if item.get(LOOKUP_ATTRIBUTES[field]) == key]
        yield from found[::-1][:most]  # the index has no sort key: DynamoDB promises no order (here, newest first)

    def scan_items(self) -> Iterator[dict[str, Any]]:
        yield from list(self.items.values())

    def scan(self) -> Iterator[TransactionRecord]:
        for item in self.scan_items():
            if not is_lookup_item(item):
                yield TransactionRecord.from_item(item)

    def is_reachable(self) -> bool:
        self.describe_table(self.table)
        return True


class MemoryPending:
    """The view's index of unreleased payments (chalicelib/adapters/pending.py) over a
    MemoryView (none: nothing is pending)."""

    def __init__(self, view: MemoryView | None = None) -> None:
        self.view = view

    def _pending(self) -> Iterator[TransactionRecord]:
        for r in self.view.scan() if self.view is not None else ():
            if r.released_at is None:
                yield r

    def unreleased(self, created_before: str) -> Iterator[Unreleased]:
        for r in self._pending():
            if r.created_at < created_before:
                yield Unreleased(r.transaction_id, r.status, r.message_type, r.created_at)

    def in_flight(self, home_region: str) -> Iterator[str]:
        for r in self._pending():
            if r.home_region == home_region:
                yield r.transaction_id


def two_region_local_stack(path: Path, first: str, peer: str) -> Path:
    """A local-stack.json as `make run REGIONS="first peer"` writes it (infra/deploy.py): the
    first Region's stack at the top, each Region's under `regions`; nothing answers its URLs."""
    outputs = {
        "EventsTableName": "pacsflow-local-events",
        "TransactionsTableName": "pacsflow-local-transactions",
        "EventCipherSecretArn": "",
        "ArchiveBucketName": "pacsflow-local-archive",
        **{
            f"{step.capitalize()}QueueUrl": f"http://127.0.0.1:9/000000000000/pacsflow-local-{step}.fifo"
            for step in ("incoming", "processing", "releasing")
        },
        "SlaDeadlinesUrl": "http://127.0.0.1:9/000000000000/pacsflow-local-deadlines",
    }
    one = {"region": first, "endpoint_url": "http://127.0.0.1:9", "api_url": "http://a.invalid", "outputs": outputs}
    two = {**one, "region": peer, "api_url": "http://b.invalid"}
    path.write_text(json.dumps({**one, "stack_name": "pacsflow-local", "regions": [one, two]}))
    return path
