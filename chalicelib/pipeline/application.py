"""The base of our eventsourcing applications (Payments, Positions): eventsourcing's
Application, saving aggregates without its per-object protocol checks.

`Application.save` sorts what it is given with `isinstance(obj, DomainEventProtocol)` and
then `isinstance(obj, CollectEventsProtocol)`. Both are runtime-checkable Protocols, and on
Python 3.11 each such check walks the protocol's classes to list its members again: about
12 µs per save, five saves per payment (`python -m bench.profile`: `_get_protocol_attrs` in
every step). What we save is always an `Aggregate` (it has no `originator_id`, so it is no
domain event, and it collects its events), which a plain class check recognises; anything
else goes through eventsourcing's own sorting, so what is recorded, cached, snapshotted and
notified is what `Application.save` does.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording


class _Collected(ProcessingEvent[UUID]):
    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        for obj in objs:
            if isinstance(obj, Aggregate):
                self.events.extend(obj.collect_events())
                self.aggregates[obj.id] = obj
            else:
                super().collect_events(obj)
        self.saved_kwargs.update(kwargs)


class AggregateApplication(Application[UUID]):
    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Application.save of eventsourcing 9.5, with the aggregates collected by class."""
        processing_event = _Collected()
        processing_event.collect_events(*objs, **kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # the library's deprecated hook, called as it calls it
        return recordings
