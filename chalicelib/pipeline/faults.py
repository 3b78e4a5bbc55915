"""Fault injection for crash tests: fail a handler between its append and its send.

A point fires only on a message's first delivery (SQS ApproximateReceiveCount == 1), so a
test can show that the redelivery completes the payment exactly once. Points are named in
the PACSFLOW_FAULT_INJECTION setting; it is empty in every deployed stage.
"""

from __future__ import annotations


class InjectedFault(RuntimeError):
    pass


def check(enabled: str, point: str, receive_count: int) -> None:
    if receive_count == 1 and point in {p.strip() for p in enabled.split(",")}:
        raise InjectedFault(point)
