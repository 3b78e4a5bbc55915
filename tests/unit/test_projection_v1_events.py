"""The view folds the events written by the previous version of pacsflow (fixtures/events_v1.json,
upcast on the way in) to the status of the aggregate reconstructed from the same events."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from chalicelib.domain.payment import Payment
from chalicelib.pipeline.payments import Payments
from chalicelib.projections.transactions import fold

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "events_v1.json").read_text())

EXPECTED = {  # path -> the statuses it may have, and whether it was returned
    "settled": ({"ACSC"}, False),
    "settled_bah": ({"ACSC"}, False),
    "multi": ({"ACSC", "PART"}, False),
    "rejected_incoming": ({"RJCT"}, False),
    "rejected_processing": ({"RJCT"}, False),
    "cancelled": ({"CANC"}, False),
    "returned": ({"ACSC"}, True),
    "refused": ({"ACSC"}, False),
    "second_message": ({"ACSC"}, False),
    "issued": ({"ACCP"}, False),
}


def events_by_payment() -> dict[str, list[Any]]:
    mapper = Payments(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper
    by_id: dict[str, list[Any]] = defaultdict(list)
    for stored in FIXTURE["payments"]:
        event = mapper.to_domain_event(
            StoredEvent(
                originator_id=UUID(stored["originator_id"]),
                originator_version=stored["originator_version"],
                topic=stored["topic"],
                state=stored["state"].encode(),
            )
        )
        by_id[stored["originator_id"]].append(event)
    return {tid: sorted(events, key=lambda e: e.originator_version) for tid, events in by_id.items()}


EVENTS = events_by_payment()


def reconstruct(events: list[Any]) -> Payment:
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)
    assert isinstance(aggregate, Payment)
    return aggregate


def test_every_path_of_the_fixture_is_expected_here():
    assert set(FIXTURE["paths"]) == set(EXPECTED)


@pytest.mark.parametrize("path", sorted(FIXTURE["paths"]))
def test_the_fold_of_a_v1_path_has_the_status_of_its_aggregate(path):
    events = EVENTS[FIXTURE["paths"][path]]
    record, payment = fold(events), reconstruct(events)
    assert record is not None
    assert record.status == payment.tx_sts.value and record.version == payment.version
    statuses, returned = EXPECTED[path]
    assert record.status in statuses or record.group_status in statuses
    assert record.returned is returned is payment.is_returned
    if payment.credit_transfer is not None:  # upcast: the first transaction's fields are in transactions[0]
        first = payment.credit_transfer.transactions[0]
        assert (record.end_to_end_id, record.uetr, record.amount) == (first.end_to_end_id, first.uetr, first.amount)
        assert record.instructing_agent == first.instructing_agent


def test_every_v1_payment_folds_to_its_aggregates_status():
    for tid, events in EVENTS.items():
        record = fold(events)
        assert record is not None and record.status == reconstruct(events).tx_sts.value, tid


def test_the_v1_cancellation_paths_are_visible():
    def record(path: str):
        return fold(EVENTS[FIXTURE["paths"][path]])

    assert record("cancelled").cancellation_status == "CNCL"
    assert record("refused").cancellation_status == "RJCR"
    assert [a.resolution for a in record("returned").cancellations] == ["CNCL", "RJCR"]
    assert len(record("second_message").refused_submissions) == 1
