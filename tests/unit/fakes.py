"""In-memory stand-ins for the AWS adapters, so use cases run without the network."""
from __future__ import annotations

import threading

from chalicelib.adapters.s3 import Archive, sha256
from chalicelib.adapters.settings import Settings
from chalicelib.pipeline.liquidity import Liquidity, Positions, parse_limits
from chalicelib.pipeline.payments import Payments
from chalicelib.pipeline.service import Pipeline, StepMessage


class MemoryArchive(Archive):
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0

    def put(self, kind: str, data: bytes) -> tuple[str, str]:
        digest = sha256(data)
        key = self.key_for(kind, digest)
        self.objects[key] = data
        self.puts += 1
        return key, digest

    def get(self, key: str) -> bytes:
        return self.objects[key]


class MemoryQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict]] = []

    def send(self, transaction_id: str, step: str, body: dict, dedup: str = "") -> None:
        self.sent.append((transaction_id, step, body))


class MemoryNotifier:
    def __init__(self) -> None:
        self.published: list[tuple[str, str, str, dict]] = []

    def released(self, transaction_id: str, tx_sts: str, client_id: str, body: dict) -> None:
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


def memory_pipeline(limits: str = "{}", **settings) -> Pipeline:
    s = Settings(**settings)
    return Pipeline(
        settings=s,
        payments=Payments(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}),
        archive=MemoryArchive(),
        incoming=MemoryQueue(),
        processing=MemoryQueue(),
        releasing=MemoryQueue(),
        notifier=MemoryNotifier(),
        claims=MemoryClaims(),
        liquidity=Liquidity(
            Positions(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}),
            parse_limits(limits),
            velocity_window_s=s.velocity_window_s,
            velocity_max=s.velocity_max,
        ),
    )


def drain(pipeline: Pipeline, receive_count: int = 1) -> None:
    """Deliver every queued step message, in order, until the queues are empty."""
    for queue, handler in (
        (pipeline.incoming, pipeline.on_incoming),
        (pipeline.processing, pipeline.on_processing),
        (pipeline.releasing, pipeline.on_releasing),
    ):
        while queue.sent:
            tx, _, body = queue.sent.pop(0)
            from uuid import UUID

            handler(StepMessage(UUID(tx), body, receive_count))
