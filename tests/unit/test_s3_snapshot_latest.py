"""The S3 snapshot recorder's `latest` copy: an aggregate load reads one object, never a
listing; `latest` never moves back; a `latest` left behind still loads the right aggregate."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from unittest import mock
from uuid import UUID, uuid4

import boto3
import pytest
from eventsourcing.persistence import StoredEvent
from moto import mock_aws

from chalicelib import bootstrap
from chalicelib.adapters.settings import Settings
from chalicelib.domain.position import Position
from chalicelib.eventstore.dynamodb import DynamoDBDatastore
from chalicelib.eventstore.s3snapshots import LATEST_ATTEMPTS, S3SnapshotRecorder, latest_key, object_key
from chalicelib.pipeline.liquidity import Liquidity, Positions

BUCKET = "snapshots"
AGENT = "BANKDEFFXXX"


@pytest.fixture
def s3() -> Iterator[Any]:
    environ = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    with mock.patch.dict(os.environ, environ, clear=True), mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        DynamoDBDatastore("positions").create_table()
        yield client


def operations(client: Any) -> list[str]:
    """The S3 operations `client` makes from now on, in order."""
    seen: list[str] = []
    client.meta.events.register("before-call.s3.*", lambda model, **_: seen.append(model.name))
    return seen


def snapshot(originator_id: UUID, version: int) -> StoredEvent:
    return StoredEvent(originator_id, version, "topic", f"state {version}".encode())


def test_the_latest_snapshot_is_one_get_object_and_no_listing(s3: Any) -> None:
    recorder = S3SnapshotRecorder(s3, BUCKET)
    aggregate = uuid4()
    for version in (1, 2, 3):
        recorder.insert_events([snapshot(aggregate, version)])
    calls = operations(s3)

    (latest,) = recorder.select_events(aggregate, desc=True, limit=1)
    assert (latest.originator_version, latest.state, latest.topic) == (3, b"state 3", "topic")
    assert recorder.select_events(aggregate, desc=True, limit=1, lte=7)[0].originator_version == 3
    assert calls == ["GetObject", "GetObject"]

    # no snapshot yet: one GetObject (NoSuchKey), no listing either
    del calls[:]
    assert recorder.select_events(uuid4(), desc=True, limit=1) == []
    assert calls == ["GetObject"]

    # history (a version before the latest) and ascending reads still list the versions
    assert [s.originator_version for s in recorder.select_events(aggregate, desc=True, limit=1, lte=2)] == [2]
    assert [s.originator_version for s in recorder.select_events(aggregate)] == [1, 2, 3]
    assert [s.originator_version for s in recorder.select_events(aggregate, gt=1)] == [2, 3]


def test_latest_never_moves_back_to_an_older_version(s3: Any) -> None:
    recorder = S3SnapshotRecorder(s3, BUCKET)
    aggregate = uuid4()
    recorder.insert_events([snapshot(aggregate, 5)])
    recorder.insert_events([snapshot(aggregate, 3)])  # a slower writer, arriving late

    assert recorder.select_events(aggregate, desc=True, limit=1)[0].originator_version == 5
    assert [s.originator_version for s in recorder.select_events(aggregate)] == [3, 5]
    head = s3.head_object(Bucket=BUCKET, Key=latest_key(aggregate))
    assert head["Metadata"]["version"] == "5"


def test_a_writer_that_loses_the_swap_reads_again_and_leaves_the_newer_latest(s3: Any) -> None:
    """A reads `latest` (v1), B moves it to v5, A's conditional put fails (412): A reads
    again, sees 5 >= 3, and stops."""
    a, b = S3SnapshotRecorder(s3, BUCKET), S3SnapshotRecorder(s3, BUCKET)
    aggregate = uuid4()
    a.insert_events([snapshot(aggregate, 1)])
    read = a._head_latest
    rounds: list[tuple[int, str] | None] = []

    def head_then_b_writes(key: str) -> tuple[int, str] | None:
        current = read(key)
        rounds.append(current)
        if len(rounds) == 1:
            b.insert_events([snapshot(aggregate, 5)])
        return current

    with mock.patch.object(a, "_head_latest", head_then_b_writes):
        a.insert_events([snapshot(aggregate, 3)])

    assert [r[0] if r else None for r in rounds] == [1, 5]
    (latest,) = a.select_events(aggregate, desc=True, limit=1)
    assert (latest.originator_version, latest.state) == (5, b"state 5")


def test_a_latest_without_its_version_is_read_as_absent_then_read_again_and_replaced(s3: Any) -> None:
    """S3 writes an object and its metadata at once; moto shows a new object before setting
    its metadata, so a concurrent reader may see a `latest` without a version. A load takes it
    as no snapshot (the events replay); a writer reads it again each round, and replaces it
    on the last if it stays so."""
    recorder = S3SnapshotRecorder(s3, BUCKET)
    aggregate = uuid4()
    s3.put_object(Bucket=BUCKET, Key=latest_key(aggregate), Body=b"half-written")
    assert recorder.select_events(aggregate, desc=True, limit=1) == []
    heads = operations(s3)
    recorder.insert_events([snapshot(aggregate, 2)])
    assert heads.count("HeadObject") == LATEST_ATTEMPTS
    (latest,) = recorder.select_events(aggregate, desc=True, limit=1)
    assert (latest.originator_version, latest.state) == (2, b"state 2")


@pytest.mark.parametrize("writers", [LATEST_ATTEMPTS // 2, 24])
def test_concurrent_writers_leave_a_written_version_as_latest_the_highest_within_the_rounds(
    s3: Any, writers: int
) -> None:
    """Each writer's compare-and-swap loses a round only to another writer's success, so with
    fewer writers than LATEST_ATTEMPTS the highest version ends as `latest`. With more (24,
    far beyond what snapshot intervals produce), the highest may give up after its rounds:
    `latest` is then another written version (the repository replays the events after it),
    never one that was not written, and every version is stored."""
    aggregate = uuid4()
    versions = list(range(1, writers + 1))
    start = threading.Barrier(len(versions))
    errors: list[BaseException] = []

    def write(version: int) -> None:
        recorder = S3SnapshotRecorder(boto3.client("s3", region_name="us-east-1"), BUCKET)
        start.wait()
        try:
            recorder.insert_events([snapshot(aggregate, version)])
        except BaseException as error:  # pragma: no cover  (reported below)
            errors.append(error)

    threads = [threading.Thread(target=write, args=(v,)) for v in reversed(versions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    recorder = S3SnapshotRecorder(s3, BUCKET)
    (latest,) = recorder.select_events(aggregate, desc=True, limit=1)
    if writers < LATEST_ATTEMPTS:
        assert latest.originator_version == versions[-1]
    assert (latest.originator_version, latest.state) in {(v, f"state {v}".encode()) for v in versions}
    assert [s.originator_version for s in recorder.select_events(aggregate)] == versions


def reserved_position(env: dict[str, str], n: int) -> tuple[Liquidity, UUID]:
    liquidity = Liquidity(Positions(env=env), {AGENT: Decimal("1e9")})
    at = datetime.now(UTC)
    for i in range(n):
        assert liquidity.reserve(f"tx-{i}", AGENT, {"EUR": Decimal("10")}, at)[0].passed
    (position,) = {UUID(k.split("/")[2]) for k in keys(boto3.client("s3", region_name="us-east-1"))}
    return liquidity, position


def keys(s3: Any) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="snapshots/").get("Contents", [])]


def state(aggregate: Any) -> str:
    return json.dumps(vars(aggregate), default=str, sort_keys=True)


def test_the_snapshot_interval_is_a_setting(s3: Any) -> None:
    env = bootstrap.positions_env(
        Settings(positions_table="positions", snapshots_bucket=BUCKET, position_snapshot_interval=3)
    )
    liquidity, position = reserved_position(env, 7)
    version = liquidity.positions.repository.get(position).version
    names = sorted(keys(s3))
    assert names == [object_key(position, v) for v in range(3, version + 1, 3)] + [latest_key(position)]
    assert len(names) >= 3
    assert Positions(env=bootstrap.positions_env(Settings())).snapshotting_intervals == {Position: 50}


@pytest.mark.parametrize("lag", ["behind", "absent"])
def test_a_latest_left_behind_still_loads_the_right_position(s3: Any, lag: str) -> None:
    """A process that died between the versioned snapshot and `latest` leaves it older (or
    missing): the repository replays more events, and the position is the same."""
    env = bootstrap.positions_env(
        Settings(positions_table="positions", snapshots_bucket=BUCKET, position_snapshot_interval=2)
    )
    liquidity, position = reserved_position(env, 9)
    expected = liquidity.positions.repository.get(position)
    assert expected.version >= 6
    key = latest_key(position)
    if lag == "behind":
        s3.copy_object(
            Bucket=BUCKET,
            Key=key,
            CopySource={"Bucket": BUCKET, "Key": object_key(position, 4)},
            Metadata={"topic": s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]["topic"], "version": "4"},
            MetadataDirective="REPLACE",
        )
    else:
        s3.delete_object(Bucket=BUCKET, Key=key)

    fresh = Positions(env=env)  # a cold start
    calls = operations(fresh.snapshots.recorder.client)  # type: ignore[union-attr,attr-defined]
    loaded = fresh.repository.get(position)
    assert calls == ["GetObject"]
    assert state(loaded) == state(expected)

    # the next snapshot moves `latest` forward again
    for i in range(2):  # one of two versions in a row is a multiple of the interval
        Liquidity(fresh, {AGENT: Decimal("1e9")}).reserve(
            f"tx-{i}-next", AGENT, {"EUR": Decimal("10")}, datetime.now(UTC)
        )
    (latest,) = fresh.snapshots.recorder.select_events(position, desc=True, limit=1)  # type: ignore[union-attr]
    assert latest.originator_version == fresh.repository.get(position).version // 2 * 2 > expected.version
