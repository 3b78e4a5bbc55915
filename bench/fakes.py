"""In-memory stand-ins for S3, SQS and SNS (as tests/unit/fakes.py), so that the pipeline
runs on one core without the network."""
from __future__ import annotations

from collections import deque
from typing import Any

from chalicelib.adapters.s3 import Archive, sha256


class MemoryArchive(Archive):
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, kind: str, data: bytes) -> tuple[str, str]:
        digest = sha256(data)
        key = self.key_for(kind, digest)
        self.objects[key] = data
        return key, digest

    def get(self, key: str) -> bytes:
        return self.objects[key]


class MemoryQueue:
    def __init__(self) -> None:
        self.sent: deque[tuple[str, str, dict]] = deque()

    def send(self, transaction_id: str, step: str, body: dict, dedup: str = "") -> None:
        self.sent.append((transaction_id, step, body))


class MemoryNotifier:
    def __init__(self) -> None:
        self.published = 0
        self.by_status: dict[str, int] = {}

    def released(self, transaction_id: str, tx_sts: str, *rest: Any) -> None:
        self.published += 1
        self.by_status[tx_sts] = self.by_status.get(tx_sts, 0) + 1
