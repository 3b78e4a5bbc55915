"""The Payments application: the payment aggregate's use cases (eventsourcing Application).

Persistence is chosen by the environment (PERSISTENCE_MODULE=chalicelib.eventstore.dynamodb
in every deployed stage; eventsourcing's in-memory POPO module in fast tests).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import AggregateRecorder, JSONTranscoder
from eventsourcing.utils import strtobool

from chalicelib.domain import Payment, transcodings


class PaymentNotFound(LookupError):
    error_code = "TRANSACTION_NOT_FOUND"


def replay(aggregate: Any, events: Iterable[Any]) -> Any:
    """eventsourcing's `project_aggregate` less its per-event
    `assert isinstance(event, CanMutateProtocol)`: on Python 3.11 that check recomputes the
    protocol's members every time, a tenth of a step's CPU (`python -m bench.profile`).
    Every event of a payment's stream is an Aggregate.Event, which mutates."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class Payments(Application[UUID]):
    name = "Payments"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcodings.register(transcoder)

    def construct_recorder(self) -> AggregateRecorder:  # type: ignore[override]  # no notification log: see doc
        """Record with the aggregate recorder unless NOTIFICATION_LOG=y.

        The transaction view follows the events through the table's change stream, so the
        hot path needs no gap-free notification log; its counter item would triple the
        write units of every commit (README: "Cost of a payment").
        """
        if strtobool(self.env.get("NOTIFICATION_LOG", "n")):
            return super().construct_recorder()
        return self.factory.aggregate_recorder()

    def initiate(self, message_type: str, region_id: str, request_id: str, owner: str) -> Payment:
        payment = Payment(message_type=message_type, region_id=region_id, request_id=request_id, owner=owner)
        self.save(payment)
        return payment

    def get_payment(self, transaction_id: UUID, owner: str | None = None) -> Payment:
        """The payment; for a client (`owner`), only its own — another's does not exist."""
        try:
            payment: Payment = self.repository.get(transaction_id, projector_func=replay)
        except AggregateNotFoundError:
            raise PaymentNotFound(str(transaction_id)) from None
        if not isinstance(payment, Payment):  # a Region's aggregate shares the table
            raise PaymentNotFound(str(transaction_id))
        if owner is not None and payment.owner != owner:
            raise PaymentNotFound(str(transaction_id))
        return payment

    def history(self, transaction_id: UUID, owner: str | None = None) -> list[Any]:
        events = list(self.events.get(transaction_id))
        if not events or not isinstance(events[0], Payment.Event):
            raise PaymentNotFound(str(transaction_id))
        if owner is not None and getattr(events[0], "owner", None) != owner:
            raise PaymentNotFound(str(transaction_id))
        return events
