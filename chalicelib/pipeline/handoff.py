"""How a step hands its payment to the next one: inline (the default) or through a queue.

**Inline**: the next step runs in the same invocation, on the payment as this step has just
saved it, so a settled payment costs one queue hop (`/inbox` to `incoming`) instead of
three, and no step reads the payment another step has just written. The chain is as safe
as the hops were: each step is still a unit of work (read, decide, save with optimistic
concurrency), and if the invocation dies anywhere in the chain, the message that started it
is redelivered and every step finds its work recorded and goes on from there. The queues
stay the entry points for everything that starts mid-way: a redrive, a takeover, a
timeout or cancellation handing a payment to releasing, a message of a queue mode stack.

**By queue** (`PACSFLOW_STEP_HANDOFF=queue`): each step sends the next one a message on its
FIFO queue, as the three-queue contract of the AWS guidance does. It costs, per settled
payment, two SendMessage, two ReceiveMessage and two DeleteMessage, two Lambda invocations
and two reads of the payment more (README "Cost of a payment"), and buys one thing: a
payment can be held between steps by pausing a queue's poller, which the failover test
uses to leave payments at every step when a Region fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from chalicelib import observability
from chalicelib.domain import Payment
from chalicelib.pipeline.messages import StepMessage, next_step
from chalicelib.pipeline.ports import StepQueue

MODES = ("inline", "queue")


class Handoff(Protocol):
    def __call__(self, msg: StepMessage, payment: Payment) -> None:
        """Hand `payment` (as the step of `msg` left it) to the next step."""


@dataclass(frozen=True)
class ByQueue:
    """The next step's message on its queue (deduplicated on transaction id and step)."""

    queue: StepQueue
    step: str

    def __call__(self, msg: StepMessage, payment: Payment) -> None:
        self.queue.send(str(payment.id), self.step, next_step(payment.id))


@dataclass(frozen=True)
class Inline:
    """The next step, now, on the payment as saved (it reads again only on a conflict)."""

    run: Callable[[StepMessage], None]
    step: str

    def __call__(self, msg: StepMessage, payment: Payment) -> None:
        # the delivery count of the message that started the chain: a test's fault point
        # fires on the first delivery only, inline as by queue
        with observability.inline_step(self.step):
            self.run(StepMessage(payment.id, next_step(payment.id), msg.receive_count, payment=payment))


def handoff(mode: str, queue: StepQueue, step: str, run: Callable[[StepMessage], None]) -> Handoff:
    if mode not in MODES:
        raise ValueError(f"step handoff must be one of {', '.join(MODES)}, not {mode!r}")
    return Inline(run, step) if mode == "inline" else ByQueue(queue, step)
