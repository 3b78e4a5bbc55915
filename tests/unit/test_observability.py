"""Observability (chalicelib/observability.py): JSON log lines with their keys, no payment data
at INFO or above, EMF metrics of a settled and a rejected payment and of each step, no tracing."""

import io
import json
import os
import subprocess
import sys
from uuid import uuid4

import pytest

from chalicelib import observability
from chalicelib.pipeline.batch import sqs_batch
from tests.messages import fresh
from tests.unit.fakes import memory_service

CANARY = "Zyxwvut Canary Debtor"
BARE = fresh("pacs008_bare.xml").replace(b"Muster Maschinenbau GmbH", CANARY.encode())
INVALID = fresh("pacs008_invalid_schema.xml")
OWNER = "client-a"


class _Record:
    def __init__(self, raw):
        self.raw = raw

    def to_dict(self):
        return self.raw


class _Event(list):
    class context:  # the Lambda context's shape
        aws_request_id = "lambda-request-1"


def run_through_handlers(svc, receive_count=1):
    """Drain the in-memory queues through the batch runner and the handler decorator, as app.py does."""
    a = svc.adapters
    for queue, use_case, step in (
        (a.incoming, svc.incoming, "incoming"),
        (a.processing, svc.processing, "processing"),
        (a.releasing, svc.releasing, "releasing"),
    ):

        @observability.handler(step)
        def handle(event, use_case=use_case):
            return sqs_batch(event, use_case)

        while queue.sent:
            sent, queue.sent[:] = list(queue.sent), []
            records = [
                _Record(
                    {
                        "messageId": str(uuid4()),
                        "body": json.dumps(body),
                        "attributes": {"MessageGroupId": tx, "ApproximateReceiveCount": str(receive_count)},
                    }
                )
                for tx, _, body in sent
            ]
            assert handle(_Event(records)) == {"batchItemFailures": []}


@pytest.fixture
def log_lines():
    """Powertools' JSON log lines (its handler writes to the stdout it found at import)."""
    handler = observability.logger.registered_handler
    stream = io.StringIO()
    old = handler.setStream(stream)
    level = observability.logger.log_level
    observability.logger.setLevel("DEBUG")
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    observability.logger.setLevel(level)
    handler.setStream(old)


def emf(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]


def metric_names(blob: dict) -> list[str]:
    return [m["Name"] for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]


def submit(svc, body):
    tx = svc.issue_transaction("pacs.008", "req-1", OWNER).id
    svc.submit(tx, "pacs.008", body, OWNER)
    return tx


def test_every_line_is_json_with_step_region_request_and_transaction_and_no_payment_data_at_info(log_lines):
    svc = memory_service()
    tx = submit(svc, BARE)
    run_through_handlers(svc)
    lines = log_lines()
    assert any(line["message"] == "payment released" for line in lines)
    for line in lines:
        assert line["service"] == "pacsflow"
        assert line["step"] in ("incoming", "processing", "releasing")
        assert line["region"] and line["request_id"] == "lambda-request-1"
        if line["level"] != "DEBUG":
            assert CANARY not in json.dumps(line)
    released = next(line for line in lines if line["message"] == "payment released")
    assert released["transaction_id"] == str(tx) and released["tx_sts"] == "ACSC"
    assert released["step"] == "releasing"  # run inline by the incoming handler, it names itself


def test_an_inline_step_gives_the_step_key_back_to_the_step_that_ran_it(log_lines):
    observability.logger.append_keys(step="incoming")  # the handler's, for the whole invocation
    try:
        with observability.inline_step("processing"):
            with observability.inline_step("releasing"):
                observability.logger.info("in releasing")
            observability.logger.info("back in processing")
        observability.logger.info("back in incoming")
    finally:
        observability.logger.remove_keys(["step"])
    steps = {line["message"]: line["step"] for line in log_lines()}
    assert steps == {"in releasing": "releasing", "back in processing": "processing", "back in incoming": "incoming"}


def test_a_failing_step_logs_its_error_type_at_error_and_no_traceback_line(log_lines):
    def fails(msg):
        raise ValueError(CANARY)  # an exception whose message quotes payment data

    records = [_Record({"messageId": "m1", "body": json.dumps({"transaction_id": str(uuid4())}), "attributes": {}})]
    assert observability.handler("processing")(lambda e: sqs_batch(e, fails))(_Event(records))["batchItemFailures"]
    lines = log_lines()
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert errors and all(CANARY not in json.dumps(line) for line in errors)
    assert errors[0]["error_type"] == "ValueError" and errors[0]["transaction_id"]
    assert not any(line.get("exception") for line in lines if line["level"] != "DEBUG")  # the trace at DEBUG only


def test_log_level_comes_from_log_level():
    code = (
        "from chalicelib import observability as o, pipeline;"
        "import logging; logging.getLogger('chalicelib.x').info('hidden'); logging.getLogger('chalicelib.x').warning('shown')"
    )
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(line["level"], line["message"]) for line in lines] == [("WARNING", "shown")]


def test_emf_metrics_of_a_settled_and_a_rejected_payment_and_of_each_step(capsys):
    svc = memory_service()
    submit(svc, BARE)
    submit(svc, INVALID)
    run_through_handlers(svc)
    blobs = emf(capsys.readouterr().out)
    for blob in blobs:
        assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "pacsflow"
    payments = sorted(b["TxSts"] for b in blobs if "Payments" in metric_names(b))
    assert payments == ["ACSC", "RJCT"]
    assert [b["Reason"] for b in blobs if "PaymentsRejected" in metric_names(b)] == ["FF01"]
    latency = [b for b in blobs if "EndToEndLatency" in metric_names(b)]
    assert len(latency) == 2 and all(v >= 0 for b in latency for v in b["EndToEndLatency"])
    steps = {b["Step"]: b for b in blobs if "StepLatency" in metric_names(b)}
    assert set(steps) == {"incoming", "processing", "releasing"}
    for blob in steps.values():
        units = {m["Name"]: m["Unit"] for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
        assert units["StepLatency"] == "Milliseconds"
        assert ["Step", "service"] in [sorted(d) for d in blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"]]


def test_a_step_failing_on_its_last_receive_counts_a_dead_lettered_message(capsys):
    def fails(msg):
        raise RuntimeError("boom")

    def batch(receive_count):
        attrs = {"MessageGroupId": "g", "ApproximateReceiveCount": str(receive_count)}
        body = json.dumps({"transaction_id": str(uuid4())})
        return _Event([_Record({"messageId": "m", "body": body, "attributes": attrs})])

    handle = observability.handler("releasing")(lambda e: sqs_batch(e, fails))
    handle(batch(1))
    handle(batch(5))
    counts = [metric_names(b).count("MessagesDeadLettered") for b in emf(capsys.readouterr().out)]
    assert counts == [0, 1]


def test_timed_out_is_one_named_metric(capsys):
    observability.timed_out("AB06")
    (blob,) = emf(capsys.readouterr().out)
    # no reason dimension: the one alarm on payments past SLA watches exactly this metric
    assert metric_names(blob) == ["PaymentsTimedOut"] and "Reason" not in blob


def test_tracing_is_off_in_tests_and_the_xray_sdk_not_imported():
    assert observability.tracer is None and not observability._tracing()
    assert "aws_xray_sdk.core" not in sys.modules


def test_tracing_is_on_in_lambda_unless_the_stack_disables_it(monkeypatch):
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    assert observability._tracing()
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert not observability._tracing()


def test_metrics_of_a_batchs_threads_never_share_a_line(monkeypatch):
    """A batch's groups run in threads; each single metric is one EMF line, however they race
    (print writes a line and its newline separately: a slow stream makes them interleave)."""
    import threading
    import time

    class SlowStream(io.StringIO):
        def write(self, s: str) -> int:
            time.sleep(0.0005)  # widen the window between a line and its newline
            return super().write(s)

    out = SlowStream()
    monkeypatch.setattr(sys, "stdout", out)
    threads = [
        threading.Thread(target=lambda: [observability._single("Probe", "Count", 1) for _ in range(20)])
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = [line for line in out.getvalue().splitlines() if line]
    assert len(lines) == 160 and all(json.loads(line)["Probe"] == [1.0] for line in lines)
