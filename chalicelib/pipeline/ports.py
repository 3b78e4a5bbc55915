"""The ports: what the service layer needs of the world, as small Protocols.

The AWS adapters (chalicelib/adapters/) and the in-memory fakes (tests/unit/fakes.py)
both conform; mypy checks it where the composition root and the fakes are typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ReportRetrieved:
    """One fetch of a report at /outbox: by whom, of what (archive key and sha256), when."""

    transaction_id: str
    client_id: str
    message_type: str
    archive_key: str
    sha256: str
    request_id: str
    region: str
    retrieved_at: str  # ISO 8601, UTC, microseconds


class MissingObject(LookupError):
    """`Archive.get` of a key the archive does not hold (yet: an object another Region wrote
    reaches this Region's archive by S3 replication, after the events that name it may)."""


class Archive(Protocol):
    """Content-addressed message store (S3)."""

    def put(self, kind: str, data: bytes) -> tuple[str, str]:
        """Store `data`; return (key, sha256). Repeating a put rewrites the same object."""

    def get(self, key: str) -> bytes:
        """The object's bytes; MissingObject when there is no such object, any other failure raises."""

    def exists(self, key: str) -> bool:
        """False only when there is no such object; any other failure raises."""

    def is_reachable(self) -> bool: ...


class StepQueue(Protocol):
    """A pipeline queue (SQS FIFO): one message group per transaction."""

    def send(self, transaction_id: str, step: str, body: dict[str, Any], dedup: str = "") -> None: ...

    def is_reachable(self) -> bool: ...


class DeadlineQueue(Protocol):
    """Delayed messages (SQS standard queue, DelaySeconds <= 900): a payment's SLA deadline."""

    def send_later(self, body: dict[str, Any], delay_seconds: int) -> None: ...


class Notifier(Protocol):
    """Release notifications (SNS), filterable by the owning client."""

    def released(self, transaction_id: str, tx_sts: str, client_id: str, body: dict[str, Any]) -> None: ...


class ClaimStore(Protocol):
    """First-come claims on identifiers (duplicate detection)."""

    def claim(self, kind: str, value: str, transaction_id: str, now: float, window_s: int) -> str | None:
        """Take `value` for `transaction_id`; None if taken (or already ours), else the holder."""


EventKey = tuple[str, int]  # (pk, sk) of an event item: the aggregate id and the version


@dataclass(frozen=True)
class Replicated:
    """Which peer Regions could read every item asked about, and which could not (yet)."""

    replicated_to: tuple[str, ...]
    missing: tuple[str, ...]


class Replication(Protocol):
    """The peer Regions' replicas of the events table and of the archive."""

    @property
    def peers(self) -> tuple[str, ...]: ...

    def confirm(self, event_keys: Sequence[EventKey], archive_keys: Sequence[str], deadline: float) -> Replicated:
        """Poll each peer until it reads every event and archive object, or `deadline`
        (time.monotonic()) passes."""


class RetrievalLog(Protocol):
    """Who fetched which report (`ReportRetrieved`): one append-only record per fetch."""

    def retrieved(self, record: ReportRetrieved) -> None: ...

    def of(self, transaction_id: str) -> list[ReportRetrieved]: ...
