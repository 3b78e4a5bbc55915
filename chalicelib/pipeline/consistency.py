"""X-Consistency: how consistent a request's answer must be, chosen per request
(docs/multi-region.md §5).

`eventual` answers on the local commit. `strong`, after the local commit, waits (bounded by
`strong_wait_seconds`) until every peer Region's replica can read the transaction's newest
event and the archived objects the write stands for (the message of /inbox; the camt.029 and
pacs.004 of a cancel, by its route or a camt.056 at /inbox, which the peer's /outbox serves); past the deadline it is 503
NOT_YET_REPLICATED: recorded here, safe to retry. With no peer Region, strong is the local
commit. Every answer says what it achieved (`Achieved`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from chalicelib.adapters.s3 import Archive, sha256
from chalicelib.domain import Payment
from chalicelib.pipeline.errors import InvalidConsistency, NotYetReplicated
from chalicelib.pipeline.ports import Replication

Consistency = Literal["strong", "eventual"]
LEVELS: tuple[Consistency, ...] = ("strong", "eventual")


@dataclass(frozen=True)
class Achieved:
    """What an answer achieved: the level, and the Regions known to read the write."""

    consistency: Consistency
    replicated_to: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        return {"consistency": self.consistency, "replicated_to": list(self.replicated_to)}

    def as_headers(self) -> dict[str, str]:
        return {"X-Consistency": self.consistency, "X-Replicated-To": ",".join(self.replicated_to)}


def inbound_key(body: bytes) -> str:
    """The archive key /inbox stored `body` under (content-addressed: its sha256)."""
    return Archive.key_for("inbound", sha256(body))


@dataclass(frozen=True)
class Confirm:
    replication: Replication
    region_id: str
    default: Consistency
    wait_s: float
    clock: Callable[[], float] = time.monotonic

    def level(self, header: str | None) -> Consistency:
        """The level a request asks for (X-Consistency, case-insensitive), or the stage's default."""
        text = (header or "").strip().lower()
        if not text:
            return self.default
        for level in LEVELS:
            if text == level:
                return level
        raise InvalidConsistency()

    def __call__(self, level: Consistency, payment: Payment, archive_keys: Sequence[str] = ()) -> Achieved:
        """After the local commit of `payment`: confirm its newest event (and the archive
        objects) in every peer when `level` is strong; NotYetReplicated past the wait."""
        here = (self.region_id,)
        peers = tuple(p for p in self.replication.peers if p != self.region_id)
        if level == "eventual" or not peers:
            return Achieved(level, here)
        newest = (str(payment.id), payment.version)
        result = self.replication.confirm([newest], archive_keys, self.clock() + self.wait_s)
        if result.missing:
            raise NotYetReplicated(self.region_id, result.missing, str(payment.id), max(1, math.ceil(self.wait_s)))
        return Achieved("strong", here + result.replicated_to)
