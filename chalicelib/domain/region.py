"""A Region's failover decisions: one aggregate per Region (docs/multi-region.md §3).

Its id is a function of the Region's name, so every peer writes the same aggregate, with
optimistic concurrency: of two peers deciding to take over the same Region, exactly one
records `TakenOver`; the other finds it decided. `FailedBack` (an operator's action) ends
the takeover; the payments it moved stay with the Region that took them.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from chalicelib.domain.payment import IllegalTransition


def region_aggregate_id(name: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"pacsflow-region:{name}")


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

    @property
    def is_taken_over(self) -> bool:
        return self.taken_over_by is not None

    @event("TakenOver")
    def take_over(self, by: str, reason: str, who: str, at: str, epoch: int) -> None:
        self.check_not_taken_over()
        self.taken_over_by = by
        self.epoch = epoch
        self.decisions.append(("TakenOver", who, reason, at))

    @event("FailedBack")
    def fail_back(self, who: str, reason: str, at: str) -> None:
        if not self.is_taken_over:
            raise IllegalTransition(f"Region {self.name} is not taken over")
        self.taken_over_by = None
        self.decisions.append(("FailedBack", who, reason, at))

    def check_not_taken_over(self) -> None:
        if self.is_taken_over:
            raise IllegalTransition(f"Region {self.name} is already taken over by {self.taken_over_by}")
