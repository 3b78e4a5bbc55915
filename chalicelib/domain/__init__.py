"""The domain model: no I/O, no AWS, no XML."""

from chalicelib.domain.payment import (
    IllegalTransition,
    MessageMismatch,
    Payment,
    PaymentError,
    TxSts,
    event_class,
    is_payment_stream,
)

__all__ = [
    "IllegalTransition",
    "MessageMismatch",
    "Payment",
    "PaymentError",
    "TxSts",
    "event_class",
    "is_payment_stream",
]
