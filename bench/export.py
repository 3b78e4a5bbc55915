"""`audit export` throughput and memory against a MiniStack of its own (``python -m bench.export``).

Settled payments are made by the real pipeline (events encrypted and compressed as
deployed), then their items are copied under new transaction ids to grow the table. The
export (chalicelib/cli_audit.py `export_rows` + `write_export`, jsonl) is timed over the
whole table, twice the size the second time: events/s (one Query per transaction over
HTTP to MiniStack, decrypt, decode, JSON), and the peak memory this process allocates
during the export (tracemalloc), which stays flat when the table doubles if the export
streams. MiniStack runs in another process, so its memory is not counted.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

SEED_PAYMENTS = 20


def measure(copies: tuple[int, ...] = (20, 40)) -> dict[str, Any]:
    from infra import ministack

    port = ministack.free_port()
    state = Path(tempfile.mkdtemp(prefix="bench-export-"))
    proc = ministack.start(port, state / "ministack.log", state_dir=state)
    environ = dict(os.environ) | dict(ministack.CREDENTIALS)
    environ |= {"AWS_DEFAULT_REGION": ministack.REGION, "AWS_ENDPOINT_URL": ministack.endpoint(port)}
    results: dict[str, Any] = {"runs": []}
    try:
        with mock.patch.dict(os.environ, environ, clear=True):
            _run(results, copies)
    finally:
        ministack.stop(proc.pid)
    first, last = results["runs"][0], results["runs"][-1]
    results["export_events_per_s"] = round(last["events"] / last["seconds"], 1)
    results["export_peak_kib_growth"] = round(last["peak_kib"] - first["peak_kib"], 1)
    results["note"] = "MiniStack over HTTP; jsonl discarded; peak = tracemalloc peak of this process during the export"
    return results


def _run(results: dict[str, Any], copies: tuple[int, ...]) -> None:
    import boto3
    from eventsourcing.cipher import AESCipher

    from chalicelib import bootstrap
    from chalicelib.adapters.dynamodb import Retrievals
    from chalicelib.adapters.settings import Settings
    from chalicelib.cli_audit import AuditContext, export_rows, write_export
    from chalicelib.eventstore.dynamodb import DynamoDBDatastore
    from chalicelib.pipeline.payments import Payments
    from tests.messages import fresh
    from tests.unit.fakes import MemoryView, drain, memory_adapters

    table = "bench-export"
    DynamoDBDatastore(table).create_table()
    settings = Settings(events_table=table)
    env = bootstrap.payments_env(settings) | {
        "CIPHER_TOPIC": "eventsourcing.cipher:AESCipher",
        "CIPHER_KEY": AESCipher.create_key(32),
    }
    payments = Payments(env=env)
    ddb = boto3.client("dynamodb")
    svc = bootstrap.build(settings, **(memory_adapters() | {"payments": payments, "view": MemoryView()}))
    seeds = []
    for _ in range(SEED_PAYMENTS):
        tx = svc.issue_transaction("pacs.008", "bench", "bench-client").id
        svc.submit(tx, "pacs.008", fresh("pacs008_bare.xml"), "bench-client")
        drain(svc)
        seeds.append(str(tx))
    items = [
        item
        for tx in seeds
        for item in ddb.query(
            TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": tx}}
        )["Items"]
    ]
    ctx = AuditContext(settings, payments, ddb, Retrievals(table, ddb), None)
    made = 1
    for target in copies:
        while made < target:
            renamed = {tx: str(uuid.uuid4()) for tx in seeds}  # one copy of every seed payment
            for item in items:
                ddb.put_item(TableName=table, Item=item | {"pk": {"S": renamed[item["pk"]["S"]]}})
            made += 1
        results["runs"].append(_export_once(ctx, export_rows, write_export))


def _export_once(ctx: Any, export_rows: Any, write_export: Any) -> dict[str, Any]:
    from datetime import UTC, datetime

    class Discard(io.TextIOBase):
        def write(self, s: str) -> int:
            return len(s)

    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    began = time.perf_counter()
    count = write_export(export_rows(ctx, start, end), Discard(), "jsonl")
    seconds = time.perf_counter() - began
    tracemalloc.start()  # a second pass for memory: tracing slows it down
    write_export(export_rows(ctx, start, end), Discard(), "jsonl")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"events": count, "seconds": round(seconds, 3), "peak_kib": round(peak / 1024, 1)}


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())
    print(json.dumps(measure()))
