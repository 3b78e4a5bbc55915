"""Our concurrent FIFO batch runner against Powertools' SqsFifoPartialProcessor, in process.

A batch of 10 messages of 10 different message groups; each step simulates 20 ms of I/O.
Run: python -m bench.batch_processors (figures in chalicelib/pipeline/batch.py's docstring).
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response

from chalicelib.pipeline.batch import sqs_batch
from chalicelib.pipeline.messages import StepMessage

IO_S = 0.020


class _Record:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def to_dict(self) -> dict[str, Any]:
        return self.raw


def batch(n: int = 10) -> list[dict[str, Any]]:
    return [
        {
            "messageId": str(uuid.uuid4()),
            "body": json.dumps({"transaction_id": str(tx)}),
            "attributes": {"MessageGroupId": str(tx), "ApproximateReceiveCount": "1"},
        }
        for tx in (uuid.uuid4() for _ in range(n))
    ]


def step(_: StepMessage) -> None:
    time.sleep(IO_S)


def ours(records: list[dict[str, Any]]) -> dict[str, Any]:
    return sqs_batch([_Record(r) for r in records], step)


def _pt_step(record: Any) -> None:
    time.sleep(IO_S)


def powertools(records: list[dict[str, Any]]) -> dict[str, Any]:
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    return process_partial_response(event={"Records": records}, record_handler=_pt_step, processor=processor)


def measure(run: Any, rounds: int = 20) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        records = batch()
        start = time.perf_counter()
        assert run(records) == {"batchItemFailures": []}
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


if __name__ == "__main__":
    for name, run in (("ours (groups concurrent)", ours), ("Powertools SqsFifoPartialProcessor", powertools)):
        p50, worst = measure(run)
        print(f"{name}: p50 {p50:.1f} ms, max {worst:.1f} ms per batch of 10")
