"""A Region's failover decisions: one aggregate per Region (docs/multi-region.md §3).

Its id is a function of the Region's name, so every peer writes the same aggregate, with
optimistic concurrency: of two peers deciding to take over the same Region, exactly one
records `TakenOver`; the other finds it decided. `FailedBack` (an operator's action) ends
the takeover; the payments it moved stay with the Region that took them.

Each decision records the id of the action that took it (`action_id`: an operator's
Idempotency-Key namespaced by the tenant, else the request's or the CLI run's id; "" for the
controller's), so a retried request is recognised as such rather than decided again: the late
retry of a failback must not end a takeover decided after it (docs/multi-region.md §3).
`Answered` records an action with an Idempotency-Key that decided nothing (a failback of a
Region not taken over, a failover that found it taken over): its retry, after the state
changed, must answer the same and decide nothing either.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from chalicelib.domain.payment import IllegalTransition


def region_aggregate_id(name: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"pacsflow-region:{name}")


def _no_action_id(state: dict[str, Any]) -> None:
    """Upcast of TakenOver and FailedBack v1, which recorded no action id."""
    state["action_id"] = ""


class Region(Aggregate):
    @staticmethod
    def create_id(name: str) -> UUID:
        return region_aggregate_id(name)

    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.taken_over_by: str | None = None
        self.epoch = 0
        self.decisions: list[tuple[str, str, str, str]] = []  # (event, who, why, at)
        self.actions: dict[str, tuple[str, str]] = {}  # action id -> (event asked, why)
        self.answers: dict[str, str] = {}  # action id that decided nothing -> taken over by ("" none)

    @property
    def is_taken_over(self) -> bool:
        return self.taken_over_by is not None

    def action(self, action_id: str) -> tuple[str, str] | None:
        """The decision (event name, reason) that the action `action_id` recorded or, when it
        decided nothing (`answer`), asked for; None for an id not recorded."""
        return self.actions.get(action_id) if action_id else None

    def answer(self, action_id: str) -> str | None:
        """For an action that decided nothing, the Region that held the takeover when it was
        answered ("": none, the failback's 409); None for an id that decided, or not recorded."""
        return self.answers.get(action_id) if action_id else None

    def _decided(self, name: str, who: str, reason: str, at: str, action_id: str) -> None:
        self.decisions.append((name, who, reason, at))
        if action_id:
            self.actions[action_id] = (name, reason)

    # v2 of both events: the action id (v1 recorded none; upcast to "", no id).

    class TakenOver(Aggregate.Event):
        by: str
        reason: str
        who: str
        at: str
        epoch: int
        action_id: str
        class_version = 2
        upcast_v1_v2 = staticmethod(_no_action_id)

    class FailedBack(Aggregate.Event):
        who: str
        reason: str
        at: str
        action_id: str
        class_version = 2
        upcast_v1_v2 = staticmethod(_no_action_id)

    class Answered(Aggregate.Event):
        action_id: str
        action: str  # the decision asked for: "TakenOver" or "FailedBack"
        reason: str
        taken_over_by: str  # when answered; "" none

    @event(TakenOver)
    def take_over(self, by: str, reason: str, who: str, at: str, epoch: int, action_id: str = "") -> None:
        self.check_not_taken_over()
        self.taken_over_by = by
        self.epoch = epoch
        self._decided("TakenOver", who, reason, at, action_id)

    @event(FailedBack)
    def fail_back(self, who: str, reason: str, at: str, action_id: str = "") -> None:
        if not self.is_taken_over:
            raise IllegalTransition(f"Region {self.name} is not taken over")
        self.taken_over_by = None
        self._decided("FailedBack", who, reason, at, action_id)

    @event(Answered)
    def answer_undecided(self, action_id: str, action: str, reason: str, taken_over_by: str) -> None:
        """Remember an action that decided nothing with what it was answered: no decision (the
        Region's state is unchanged), only the action id, so that its retry is one."""
        self.actions[action_id] = (action, reason)
        self.answers[action_id] = taken_over_by

    def check_not_taken_over(self) -> None:
        if self.is_taken_over:
            raise IllegalTransition(f"Region {self.name} is already taken over by {self.taken_over_by}")
