"""Race check: many writers on one notification log lose nothing and leave no gaps.

Each writer thread has its own recorder and client, like separate Lambda instances.
Writers commit batches to their own aggregates and, in lockstep rounds, all try to
write the same version of a shared aggregate, so the counter and the events are both
contended. Prints commits/s and counter retries per commit for the benchmark report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from threading import Barrier, Thread
from time import perf_counter
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from chalicelib.eventstore.dynamodb import DynamoDBApplicationRecorder, DynamoDBDatastore

pytestmark = pytest.mark.contract

WRITERS = 8
OWN_COMMITS = 30  # per writer, of 1 to 3 events each
CONTENDED_ROUNDS = 8  # per round every writer tries the same (shared id, version)
SHARED_AGGREGATES = 4


@dataclass
class WriterLog:
    acknowledged: list[tuple[StoredEvent, int]] = field(default_factory=list)
    conflicts: list[tuple[UUID | str, int]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


def key_of(event: StoredEvent) -> tuple[UUID | str, int]:
    return event.originator_id, event.originator_version


def test_concurrent_writers_lose_nothing_and_leave_no_gaps(aws_endpoint: str) -> None:
    datastore = DynamoDBDatastore(f"race-{uuid4().hex}", endpoint_url=aws_endpoint)
    datastore.create_table()
    shared_ids = [uuid4() for _ in range(SHARED_AGGREGATES)]
    barrier = Barrier(WRITERS, timeout=120)
    recorders = [
        DynamoDBApplicationRecorder(
            DynamoDBDatastore(datastore.table_name, endpoint_url=aws_endpoint),
            log_name="race",
        )
        for _ in range(WRITERS)
    ]
    logs = [WriterLog() for _ in range(WRITERS)]

    def contended_event(round_no: int, writer: int) -> StoredEvent:
        originator_id = shared_ids[round_no % SHARED_AGGREGATES]
        version = round_no // SHARED_AGGREGATES + 1
        return StoredEvent(originator_id, version, "Shared", f"w{writer}".encode())

    def write(writer: int) -> None:
        recorder, log = recorders[writer], logs[writer]
        own_id, version = uuid4(), 0
        rounds_every = OWN_COMMITS // CONTENDED_ROUNDS
        try:
            for commit in range(OWN_COMMITS):
                if commit % rounds_every == 0 and commit // rounds_every < CONTENDED_ROUNDS:
                    event = contended_event(commit // rounds_every, writer)
                    barrier.wait()
                    try:
                        (nid,) = recorder.insert_events([event])
                    except IntegrityError:
                        log.conflicts.append(key_of(event))
                    else:
                        log.acknowledged.append((event, nid))
                states = [f"w{writer}c{commit}e{i}".encode() for i in range(commit % 3 + 1)]
                batch = [StoredEvent(own_id, version + i, "Own", state) for i, state in enumerate(states, start=1)]
                version += len(batch)
                nids = recorder.insert_events(batch)
                log.acknowledged.extend(zip(batch, nids, strict=True))
        except BaseException as error:
            log.errors.append(error)
            barrier.abort()

    threads = [Thread(target=write, args=(n,)) for n in range(WRITERS)]
    started = perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = perf_counter() - started

    try:
        errors = [error for log in logs for error in log.errors]
        assert not errors, errors
        acknowledged = [entry for log in logs for entry in log.acknowledged]

        # Every contended (id, version) has exactly one winner; the others conflicted.
        for round_no in range(CONTENDED_ROUNDS):
            key = key_of(contended_event(round_no, writer=0))
            winners = [e for e, _ in acknowledged if key_of(e) == key]
            losers = [c for log in logs for c in log.conflicts if c == key]
            assert (len(winners), len(losers)) == (1, WRITERS - 1), key

        # Notification ids are exactly 1..N, each the acknowledged event.
        by_nid = {nid: event for event, nid in acknowledged}
        assert len(by_nid) == len(acknowledged), "a notification id was issued twice"
        assert sorted(by_nid) == list(range(1, len(acknowledged) + 1))
        reader = recorders[0]
        assert reader.max_notification_id() == len(acknowledged)
        notifications = []
        while len(notifications) < len(acknowledged):
            page = reader.select_notifications(len(notifications) + 1, limit=100)
            assert page, "notification log ended early"
            notifications.extend(page)
        assert [n.id for n in notifications] == list(range(1, len(acknowledged) + 1))
        for notification in notifications:
            event = by_nid[notification.id]
            assert key_of(notification) == key_of(event)
            assert notification.state == event.state

        # Every acknowledged write is readable from its aggregate.
        recorded = {}
        for originator_id in {e.originator_id for e, _ in acknowledged}:
            for stored in reader.select_events(originator_id):
                recorded[key_of(stored)] = stored.state
        for event, _ in acknowledged:
            assert recorded[key_of(event)] == event.state

        commits = sum(r.stats.commits for r in recorders)
        retries = sum(r.stats.retries for r in recorders)
        print(
            f"\nrace: {WRITERS} writers, {commits} commits, {len(acknowledged)} events "
            f"in {elapsed:.1f}s: {commits / elapsed:.1f} commits/s, "
            f"{retries / commits:.2f} counter retries per acknowledged commit"
        )
    finally:
        datastore.client.delete_table(TableName=datastore.table_name)
        for recorder in recorders:
            recorder.datastore.close()
        datastore.close()
