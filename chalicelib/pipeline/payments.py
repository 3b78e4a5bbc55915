"""The Payments application: the payment aggregate's use cases (eventsourcing Application).

Persistence is chosen by the environment (PERSISTENCE_MODULE=chalicelib.eventstore.dynamodb
in every deployed stage; eventsourcing's in-memory POPO module in fast tests).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import AggregateRecorder, JSONTranscoder, StoredEvent
from eventsourcing.utils import get_topic, strtobool

from chalicelib.domain import Payment, is_payment_stream, transcodings
from chalicelib.pipeline.application import AggregateApplication

log = logging.getLogger(__name__)

# what a sealed payment may decode to: these topics are fixed here, never read from the message
_SNAPSHOT_TOPIC = get_topic(Payment.Snapshot)
_PAYMENT_TOPIC = get_topic(Payment)
_SEALED_FOR = "_sealed_for"  # [id, version] inside the encrypted state of a sealed payment


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


class Payments(AggregateApplication):
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
        if not is_payment_stream(events):
            raise PaymentNotFound(str(transaction_id))
        if owner is not None and getattr(events[0], "owner", None) != owner:
            raise PaymentNotFound(str(transaction_id))
        return events

    def seal(self, payment: Payment) -> str:
        """`payment` as a queue message can carry it to the next step, so that step decides
        without reading it: a snapshot stored as the events are (transcoded, compressed and
        encrypted by this application's mapper), as `<id>:<version>:<base64 state>`. The id and
        version are also sealed inside the state (`_SEALED_FOR`): the prefix is not encrypted,
        and another payment's state must not pass for this one's, nor an old state for a newer
        version. Carried state may be stale by the time it is read; the step's save then
        conflicts and it reads (UnitOfWork.record)."""
        snapshot = Payment.Snapshot.take(payment)
        snapshot.state[_SEALED_FOR] = [str(payment.id), payment.version]
        stored = self.mapper.to_stored_event(snapshot)
        return f"{stored.originator_id}:{stored.originator_version}:{base64.b64encode(stored.state).decode('ascii')}"

    def unseal(self, text: str, transaction_id: UUID) -> Payment | None:
        """The payment `seal` gave, or None when `text` is not one of `transaction_id`'s
        (the step then reads the payment, as without it)."""
        try:
            originator_id, version, state = text.split(":")
            stored = StoredEvent(
                UUID(originator_id), int(version), _SNAPSHOT_TOPIC, base64.b64decode(state, validate=True)
            )
            snapshot = self.mapper.to_domain_event(stored)
            if stored.originator_id != transaction_id or not isinstance(snapshot, Payment.Snapshot):
                raise ValueError("another transaction's payment")
            if snapshot.topic != _PAYMENT_TOPIC:  # resolved by mutate: never a topic of the message's choosing
                raise ValueError("not a payment")
            if snapshot.state.pop(_SEALED_FOR, None) != [str(stored.originator_id), stored.originator_version]:
                raise ValueError("the clear id or version is not the sealed one")
            payment = snapshot.mutate(None)
        except Exception as e:  # whatever does not decode is not used: reading is always right
            log.warning(
                "the sealed payment did not decode; the step reads it",
                extra={"transaction_id": str(transaction_id), "error_type": type(e).__name__},
            )
            return None
        return payment
