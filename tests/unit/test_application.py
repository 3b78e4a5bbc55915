"""chalicelib/pipeline/application.py: eventsourcing's Application.save with aggregates
collected by class. It is a copy of the library's method, so it must fail loudly when the
library's method changes, and it must record, cache and notify as the library does."""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, event

from chalicelib.pipeline.application import AggregateApplication

# The eventsourcing 9.5.6 source our copy follows. A new version of the library that changes
# either method fails here: read its change, carry it into application.py, then update these.
LIBRARY_SOURCES = {
    "Application.save": "4e9747d14b8fd046",
    "ProcessingEvent.collect_events": "7e3a7e6b1abd2bef",
}


def digest(method: Any) -> str:
    return hashlib.sha256(inspect.getsource(method).encode()).hexdigest()[:16]


def test_the_library_methods_we_copy_are_the_ones_we_read() -> None:
    assert {
        "Application.save": digest(Application.save),
        "ProcessingEvent.collect_events": digest(ProcessingEvent.collect_events),
    } == LIBRARY_SOURCES


class Dog(Aggregate):
    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.tricks: list[str] = []

    @event("TrickAdded")
    def add_trick(self, trick: str) -> None:
        self.tricks.append(trick)


class Ours(AggregateApplication):
    pass


class Theirs(Application):  # type: ignore[type-arg]
    pass


def test_save_records_and_notifies_what_the_library_save_does() -> None:
    """Aggregates, domain events and None, as Application.save takes them."""
    runs = []
    for app_class in (Ours, Theirs):
        app = app_class(env={"IS_SNAPSHOTTING_ENABLED": "y"})
        dog = Dog("Fido")
        first = app.save(dog, None)
        dog.add_trick("roll over")
        pending = dog.collect_events()
        second = app.save(*pending)  # domain events given as they are
        dog.add_trick("play dead")
        third = app.save(dog)
        stored = app.repository.get(dog.id)
        runs.append(
            (
                [len(r) for r in (first, second, third)],
                [r.notification.topic for r in (*first, *second, *third)],
                [type(e).__name__ for e in app.events.get(dog.id)],
                stored.tricks,
                stored.version,
                app.snapshots is not None,
            )
        )
    assert runs[0] == runs[1]
    assert runs[0][3] == ["roll over", "play dead"] and runs[0][4] == 3
