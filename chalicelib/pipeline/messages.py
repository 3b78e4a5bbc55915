"""What travels on the pipeline's queues: one message per step of one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class StepMessage:
    """The body of a pipeline queue message, with its SQS delivery count."""

    transaction_id: UUID
    body: dict[str, Any]
    receive_count: int = 1


def next_step(transaction_id: UUID) -> dict[str, Any]:
    """The body that hands a transaction to its next step (the event store has the rest)."""
    return {"transaction_id": str(transaction_id)}
