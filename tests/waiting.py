"""Waiting for something asynchronous: poll for a condition until a deadline, then fail.

A wait never returns what it has when the deadline passes (a stale answer that the caller
may forget to check); it raises an AssertionError naming what it waited for and the last
thing it saw. A fixed sleep that hopes something has happened is not a wait: say what the
condition is, and poll for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(
    probe: Callable[[], T],
    done: Callable[[T], bool],
    timeout: float,
    what: str,
    show: Callable[[T], str] = repr,
    every: float = 0.2,
    backoff: float = 1.0,
    most: float = 1.0,
) -> T:
    """Call `probe()` until `done(result)`; return that result. If `timeout` seconds pass
    first: AssertionError "timed out after Ns waiting for <what>; last seen: <show(result)>".
    Pauses `every` seconds between probes, times `backoff` each round, at most `most`."""
    deadline, pause = time.monotonic() + timeout, every
    while True:
        last = probe()
        if done(last):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last seen: {show(last)}")
        time.sleep(pause)
        pause = min(pause * backoff, most)


# -- the pipeline's SQS queues ----------------------------------------------------------------


def queue_depths(sqs, outputs: dict, dead_letters: bool = True) -> dict[str, int]:
    """Messages visible, in flight or delayed in each of the stack's queues (by output name:
    `<Stage>QueueUrl`, and with `dead_letters` also `<Stage>QueueDLQUrl`)."""
    depths = {}
    for name, url in outputs.items():
        if name.endswith("QueueUrl") or (dead_letters and name.endswith("DLQUrl")):
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            depths[name] = sum(
                int(attrs.get(k, 0))
                for k in (
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                )
            )
    assert depths, f"no queue URL among the stack outputs {sorted(outputs)}"
    return depths


def wait_until_idle(sqs, outputs: dict, timeout: float = 90) -> dict[str, int]:
    """Wait until no pipeline queue holds a message (visible, in flight or delayed): no queue
    handler is running or about to run. Returns the depths of every queue then, dead-letter
    queues included (a message there is never handled again: the caller judges them)."""
    poll(
        lambda: queue_depths(sqs, outputs, dead_letters=False),
        lambda d: not any(d.values()),
        timeout,
        "the pipeline queues to drain (nothing visible, in flight or delayed)",
        every=0.5,
    )
    return queue_depths(sqs, outputs)


# -- the view follower --------------------------------------------------------------------------


def follower_past_marker(api, view, timeout: float = 60) -> str:
    """Append a marker event (a new transaction id: its Initiated event) and wait until the
    view follower has written the marker's record; return the marker's transaction id.

    The follower reads the events table's stream in order, one batch after the other
    (MiniStack has one stream position per mapping and invokes synchronously), so once it
    has written the marker it has handled every event appended before the marker.
    `view` is a chalicelib TransactionView on the stack's transactions table (read
    directly: GET /transactions/{id} falls back to folding the events when the record is
    missing, so it cannot tell whether the follower has caught up)."""
    marker = api.new_transaction()
    poll(
        lambda: view.get(marker),
        lambda record: record is not None,
        timeout,
        f"the view follower to write the record of marker transaction {marker}",
    )
    return marker
