"""Structured logs, metrics and traces (Powertools for AWS Lambda): the one place that names them.

Logs: JSON lines (Powertools Logger, service "pacsflow") on stdout, level from LOG_LEVEL
(INFO when unset). Every `chalicelib.*` logger writes through the same JSON handler, so the
existing `logging.getLogger(__name__)` calls need no change. Each line carries the Region,
the step (or route) and the Lambda request id of the invocation, and, in the batch runner,
the transaction id of the message being handled (thread-local: a batch's groups run
concurrently). Payment data (names, accounts, amounts, narratives) is never logged at INFO
or above: lines carry identifiers, codes and exception types only.

Metrics: CloudWatch EMF (Powertools Metrics, namespace "pacsflow"), each name defined once
below. A handler's own metrics (`StepLatency`, `MessagesDeadLettered`, dimension `Step`)
are flushed once per invocation by `handler`; a payment's outcome metrics have dimensions
of their own (`TxSts`, `Reason`: a bounded ISO list) and are written as single EMF lines.

Traces: X-Ray (Powertools Tracer): a subsegment per handler and step use case, and the AWS
calls (auto-patched botocore). Off outside Lambda (unit tests) and where the stack sets
POWERTOOLS_TRACE_DISABLED (the local stage: MiniStack runs no X-Ray daemon); off, the
decorators leave the functions as they are and the X-Ray SDK is not even imported.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.adapters.settings import settings
from chalicelib.eventstore.chain import acting, set_actor

SYSTEM_ACTOR = "pacsflow"  # the acting client of a pipeline step: the service itself

SERVICE = "pacsflow"
NAMESPACE = "pacsflow"

# Metric names: the dashboard and alarms use these.
PAYMENTS = "Payments"  # dimension TxSts (ACSC, RJCT, CANC, ...)
PAYMENTS_REJECTED = "PaymentsRejected"  # dimension Reason (ISO ExternalStatusReason1Code)
PAYMENTS_TIMED_OUT = "PaymentsTimedOut"  # no dimension of its own: one alarm watches every timeout
END_TO_END_LATENCY = "EndToEndLatency"  # ms, Initiated -> Released
STEP_LATENCY = "StepLatency"  # ms per message, dimension Step
MESSAGES_DEAD_LETTERED = "MessagesDeadLettered"  # a step failed on its last receive, dimension Step

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def _tracing() -> bool:
    """Trace in Lambda unless POWERTOOLS_TRACE_DISABLED (Powertools' own rule). Only then is
    the X-Ray SDK imported: its recorder builds two botocore clients at import (~110-140 ms)."""
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true", "yes", "on")
    return bool(os.environ.get("LAMBDA_TASK_ROOT")) and not disabled


tracer: Tracer | None = Tracer(service=SERVICE) if _tracing() else None

# The service's own modules log through Powertools' JSON handler and formatter.
_library = logging.getLogger("chalicelib")
_library.handlers = [logger.registered_handler]
_library.setLevel(logger.log_level)
_library.propagate = False

_lock = threading.Lock()  # Metrics' metric set is shared by a batch's threads
F = TypeVar("F", bound=Callable[..., Any])


def _region() -> str:
    return os.environ.get("AWS_REGION") or settings().region_id


def handler(step: str) -> Callable[[F], F]:
    """Decorate an SQS or stream handler: log keys for the invocation, an X-Ray subsegment,
    and one flush of the invocation's metrics (dimension Step) however it ends."""

    def decorate(fn: F) -> F:
        step_fn = traced(fn)

        @functools.wraps(fn)
        def wrapper(event: Any) -> Any:
            context = getattr(event, "context", None)
            logger.append_keys(step=step, region=_region(), request_id=getattr(context, "aws_request_id", None))
            # who did what, on every event this invocation records (chalicelib/eventstore/chain.py)
            set_actor(
                client=SYSTEM_ACTOR, step=step, region=_region(), request_id=getattr(context, "aws_request_id", "")
            )
            metrics.add_dimension(name="Step", value=step)
            try:
                return step_fn(event)
            finally:
                with _lock:
                    if metrics.metric_set:
                        metrics.flush_metrics()
                    else:
                        metrics.clear_metrics()

        return wrapper  # type: ignore[return-value]

    return decorate


def traced(fn: F) -> F:
    """An X-Ray subsegment for a step use case; neither its answer nor its error (which may
    quote payment data) goes into the trace."""
    if tracer is None:
        return fn
    return tracer.capture_method(capture_response=False, capture_error=False)(fn)


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def api_request(request: Any, route: str | None) -> None:
    """Log keys for one API request (the http middleware sets them first): API Gateway's
    request id (the one in our answers), the route and the transaction id when the request
    names a well-formed one (anything else a client sends is not logged)."""
    context = getattr(request, "context", None) or {}
    headers = getattr(request, "headers", None) or {}
    params = getattr(request, "uri_params", None) or {}
    candidate = params.get("transaction_id") or headers.get("x-transaction-id") or ""
    set_actor(client="", step=f"api {route or ''}".strip(), region=_region(), request_id=context.get("requestId") or "")
    logger.append_keys(
        step="api",
        route=route,
        region=_region(),
        request_id=context.get("requestId"),
        transaction_id=candidate if _UUID.fullmatch(candidate) else None,
    )


@contextmanager
def message(transaction_id: object, receive_count: int) -> Iterator[None]:
    """One step message in the batch runner: its transaction id on every line of this thread,
    its latency, and, when it fails on its last receive, a dead-lettered message."""
    logger.thread_safe_append_keys(transaction_id=str(transaction_id), receive_count=receive_count)
    start = time.perf_counter()
    try:
        yield
    except Exception:  # its keys stay for the runner's error line (the next message replaces them)
        if receive_count >= settings().max_receive_count:
            _add(MESSAGES_DEAD_LETTERED, MetricUnit.Count, 1)
        raise
    else:
        logger.thread_safe_remove_keys(["transaction_id", "receive_count"])
    finally:
        _add(STEP_LATENCY, MetricUnit.Milliseconds, (time.perf_counter() - start) * 1000)


@contextmanager
def inline_step(step: str) -> Iterator[None]:
    """A step run by the previous one in its invocation (chalicelib/pipeline/handoff.py):
    its log lines and the events it records name it (`step`, `who`), and it reports its own
    StepLatency (dimension Step); the invocation's StepLatency covers the whole chain."""
    start = time.perf_counter()
    outer = logger.thread_safe_get_current_keys().get("step")  # the step that runs this one, if inline too
    logger.thread_safe_append_keys(step=step)  # this thread's: a batch runs its messages in threads
    with acting(step=step):
        try:
            yield
        finally:
            if outer is None:
                logger.thread_safe_remove_keys(["step"])  # the handler's own step key shows again
            else:
                logger.thread_safe_append_keys(step=outer)
            _single(STEP_LATENCY, MetricUnit.Milliseconds, (time.perf_counter() - start) * 1000, Step=step)


def _add(name: str, unit: MetricUnit, value: float) -> None:
    with _lock:
        metrics.add_metric(name=name, unit=unit, value=value)


_COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps(..., separators=...) without an encoder per line


def _single(name: str, unit: MetricUnit | str, value: float, **dimensions: str) -> None:
    """One metric on an EMF line of its own, as Powertools' single_metric writes it (namespace,
    the service dimension and the given ones, one value). Written here: single_metric builds a
    metrics manager and validates its line against the EMF schema every time, two thirds of
    `released`'s cost (`python -m bench.profile`)."""
    blob = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["service", *dimensions]],
                    "Metrics": [{"Name": name, "Unit": str(getattr(unit, "value", unit))}],
                }
            ],
        },
        "service": SERVICE,
        **dimensions,
        name: [float(value)],
    }
    line = _COMPACT.encode(blob) + "\n"
    # one write of the line with its newline, under the lock: two of a batch's threads
    # writing at once must not share a line (a log line that is no JSON)
    with _lock:
        sys.stdout.write(line)


def released(tx_sts: str, reason_codes: list[str], initiated: datetime, released_at: datetime) -> None:
    """A payment released with its final status: counted by status and each reason code,
    and its end-to-end latency."""
    _single(PAYMENTS, MetricUnit.Count, 1, TxSts=tx_sts)
    for code in dict.fromkeys(reason_codes):
        _single(PAYMENTS_REJECTED, MetricUnit.Count, 1, Reason=code)
    _single(END_TO_END_LATENCY, MetricUnit.Milliseconds, (released_at - initiated).total_seconds() * 1000)
    logger.info("payment released", extra={"tx_sts": tx_sts, "reason_codes": list(reason_codes)})


def timed_out(reason: str) -> None:
    """A payment that missed its deadline (the SLA timeouts call this): one metric without a
    reason dimension (the alarm watches exactly it); the reason is counted with the rejection."""
    _single(PAYMENTS_TIMED_OUT, MetricUnit.Count, 1)
    logger.info("payment timed out", extra={"reason_code": reason})
