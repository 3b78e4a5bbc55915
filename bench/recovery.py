"""Replay and recovery of the transaction view (chalicelib/projections/recovery.py).

In process (`python -m bench.recovery`, prints JSON; eventsourcing's POPO store, one core):

- a store of 100,000 events: 200 payments run through the whole pipeline, whose events
  are then stored as deployed (zlib, AES-GCM) under new transaction ids (the state of a stored event carries no
  id or version, so a copy is a real, foldable payment) until the store holds 100,000;
- `replay_events_per_s`: a full rebuild of the view (every stream read and folded);
- `recovery_speedup_100k`: the same view recovered from a snapshot taken when 1% of the
  events were still to come (half of them new transactions, half the last events of
  existing ones) — snapshot decoded, stream heads listed (every stored event's key
  visited, as the keys-only Scan does), only the newer events read and folded — against
  the full replay. Both results are checked equal before any figure is reported.

On the local stack (`replay_on_stack`, called by `python -m bench` after the e2e load, or,
run alone, after seeding the table with `SEED_STREAMS` payments' events): the same full
replay against the MiniStack's events table, one Query per stream, sequential as `rebuild`,
on at most `STACK_SAMPLE` streams, to keep `make bench` short.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Any
from uuid import UUID, uuid4

EVENTS = 100_000
TAIL = 0.01
STACK_SAMPLE = 2_000


def _store() -> tuple[Any, dict[str, int]]:
    """A POPO Payments app holding EVENTS events, and each stream's head."""
    from eventsourcing.cipher import AESCipher
    from eventsourcing.persistence import StoredEvent

    from bench.inprocess import memory_pipeline, one_payment
    from bench.messages import fresh
    from chalicelib.pipeline.payments import Payments

    pipeline = memory_pipeline()
    for i in range(200):
        one_payment(pipeline, fresh(i))
    source = pipeline.adapters.payments
    # The store as deployed: event state zlib-compressed, then AES-GCM (bootstrap.payments_env).
    payments = Payments(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.popo",
            "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
            "CIPHER_TOPIC": "eventsourcing.cipher:AESCipher",
            "CIPHER_KEY": AESCipher.create_key(16),
        }
    )
    recorder = payments.recorder
    templates: dict[str, list[Any]] = {}
    for e in source.recorder._stored_events:
        templates.setdefault(str(e.originator_id), []).append(
            payments.mapper.to_stored_event(source.mapper.to_domain_event(e))
        )
    streams = list(templates.values())
    heads: dict[str, int] = {}
    made = 0
    n = 0
    while made < EVENTS:
        template = streams[n % len(streams)][: EVENTS - made]
        n += 1
        new_id = uuid4()
        recorder.insert_events(
            [StoredEvent(new_id, e.originator_version, e.topic, e.state) for e in template],
        )
        made += len(template)
    for e in recorder._stored_events:
        heads[str(e.originator_id)] = max(heads.get(str(e.originator_id), 0), e.originator_version)
    return payments, heads


def _heads_by_key_scan(payments: Any) -> dict[str, int]:
    """Every stored event's key visited once: what the keys-only Scan does on DynamoDB."""
    index = payments.recorder._stored_events_index
    return {key: max(versions) for key, versions in index.items()}


def measure(rounds: int = 3) -> dict[str, Any]:
    from chalicelib.projections.recovery import ViewSnapshot, full_replay, recover
    from chalicelib.projections.transactions import fold

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    payments, heads = _store()

    def events_after(tid: UUID, gt: int | None) -> Any:
        return payments.events.get(tid, gt=gt)

    # The snapshot: the view before the last 1% of the events (new streams, and tails).
    ids = list(heads)
    tail_budget = int(EVENTS * TAIL)
    absent, shortened, tail_events = set(), {}, 0
    for tid in reversed(ids):
        if tail_events >= tail_budget // 2:
            break
        absent.add(tid)
        tail_events += heads[tid]
    for tid in ids:
        if tail_events >= tail_budget:
            break
        if heads[tid] > 2:
            shortened[tid] = heads[tid] - 2
            tail_events += 2
    snap_records = {}
    for tid in ids:
        if tid in absent:
            continue
        record = fold(payments.events.get(UUID(tid), lte=shortened.get(tid)))
        assert record is not None
        snap_records[tid] = record.to_item()
    snapshot_bytes = ViewSnapshot.of(snap_records.values()).to_bytes()

    full_s, recover_s = [], []
    expected: dict[str, Any] = {}
    for _ in range(rounds):
        t0 = time.perf_counter()
        expected = full_replay(_heads_by_key_scan(payments).items(), events_after)
        full_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        snapshot = ViewSnapshot.from_bytes(snapshot_bytes)
        report = recover(snapshot, _heads_by_key_scan(payments).items(), events_after)
        recover_s.append(time.perf_counter() - t0)
        assert report.items == expected, "the recovered view must equal the full replay"
        assert report.events_read == tail_events, (report.events_read, tail_events)
    full, rec = statistics.median(full_s), statistics.median(recover_s)
    return {
        "replay_events_per_s": round(EVENTS / full),
        "recovery_speedup_100k": round(full / rec, 1),
        "recovery_detail": {
            "events": EVENTS,
            "streams": len(heads),
            "tail_events": tail_events,
            "tail_new_streams": len(absent),
            "tail_longer_streams": len(shortened),
            "snapshot_bytes": len(snapshot_bytes),
            "full_replay_s": [round(s, 3) for s in full_s],
            "snapshot_plus_tail_s": [round(s, 3) for s in recover_s],
            "where": "in process, one core, eventsourcing.popo, event state zlib + AES-GCM as deployed",
        },
    }


def _seed(payments: Any, streams: int) -> int:
    """Store `streams` payments' events (copies of 20 run in process) in the stack's events
    table through the app's own mapper (zlib, AES-GCM with the stack's key): one PutItem each."""
    from concurrent.futures import ThreadPoolExecutor

    from eventsourcing.persistence import StoredEvent

    from bench.inprocess import memory_pipeline, one_payment
    from bench.messages import fresh

    pipeline = memory_pipeline()
    for i in range(20):
        one_payment(pipeline, fresh(i))
    source = pipeline.adapters.payments
    templates: dict[str, list[Any]] = {}
    for e in source.recorder._stored_events:
        templates.setdefault(str(e.originator_id), []).append(
            payments.mapper.to_stored_event(source.mapper.to_domain_event(e))
        )
    streams_of = list(templates.values())

    def store(n: int) -> None:
        new_id = uuid4()
        for e in streams_of[n % len(streams_of)]:
            payments.recorder.insert_events([StoredEvent(new_id, e.originator_version, e.topic, e.state)])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(store, range(streams)))
    return streams


SEED_STREAMS = 1_000


def replay_on_stack(stack: dict[str, Any], sample: int = STACK_SAMPLE) -> dict[str, Any]:
    """Full replay of up to `sample` streams of the stack's events table (events/s)."""
    from chalicelib.bootstrap import payments_env
    from chalicelib.cli import settings_of_local_stack
    from chalicelib.eventstore.backup import stream_heads
    from chalicelib.pipeline.payments import Payments
    from chalicelib.projections.recovery import full_replay

    s = settings_of_local_stack(stack)
    payments = Payments(env=payments_env(s))
    seeded = _seed(payments, SEED_STREAMS) if "seed" in stack else 0
    t0 = time.perf_counter()
    # a stack that has taken the long runs holds 200,000 items and more: a Scan page of the
    # emulator can outlast botocore's 60 s read timeout
    import boto3
    from botocore.config import Config

    slow = boto3.client("dynamodb", config=Config(read_timeout=900, retries={"max_attempts": 2}))
    heads = stream_heads(slow, s.events_table)
    scan_s = time.perf_counter() - t0
    chosen = list(heads.items())[:sample]
    if not chosen:
        return {"replay_on_stack": "no events in the stack"}
    t0 = time.perf_counter()
    full_replay(chosen, lambda t, gt: payments.events.get(t, gt=gt))
    elapsed = time.perf_counter() - t0
    events = sum(v for _, v in chosen)
    return {
        "replay_events_per_s_stack": round(events / elapsed),
        "replay_stack_detail": {
            "streams": len(chosen),
            "events": events,
            "streams_in_table": len(heads),
            "streams_seeded": seeded,
            "keys_only_scan_s": round(scan_s, 3),
            "replay_s": round(elapsed, 3),
            "where": "MiniStack, one Query per stream, sequential (as rebuild), events zlib + AES-GCM",
        },
    }


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 3)))
