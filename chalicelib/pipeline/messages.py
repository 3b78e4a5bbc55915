"""What travels on the pipeline's queues: one message per step of one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from chalicelib.domain import Payment


@dataclass(frozen=True)
class StepMessage:
    """The body of a pipeline queue message, with its SQS delivery count; `payment`: the
    payment as the previous step saved it, when that step hands over inline (handoff.py)."""

    transaction_id: UUID
    body: dict[str, Any]
    receive_count: int = 1
    payment: Payment | None = field(default=None, compare=False, repr=False)


def next_step(transaction_id: UUID) -> dict[str, Any]:
    """The body that hands a transaction to its next step (the event store has the rest)."""
    return {"transaction_id": str(transaction_id)}
