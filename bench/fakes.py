"""Cheaper in-memory queues and a counting notifier for the bench (tests/unit/fakes.py gives
the rest of the in-memory pipeline)."""

from __future__ import annotations

from collections import deque
from typing import Any


class MemoryQueue:
    def __init__(self) -> None:
        self.sent: deque[tuple[str, str, dict]] = deque()

    def send(self, transaction_id: str, step: str, body: dict, dedup: str = "") -> None:
        self.sent.append((transaction_id, step, body))

    def is_reachable(self) -> bool:
        return True


class MemoryNotifier:
    def __init__(self) -> None:
        self.published = 0
        self.by_status: dict[str, int] = {}
        self.ids: list[str] = []  # of the payments released, in order

    def released(self, transaction_id: str, tx_sts: str, client_id: str, body: dict[str, Any]) -> None:
        self.published += 1
        self.by_status[tx_sts] = self.by_status.get(tx_sts, 0) + 1
        self.ids.append(transaction_id)
