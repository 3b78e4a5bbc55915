"""The domain model: no I/O, no AWS, no XML."""

from chalicelib.domain.payment import (
    IllegalTransition,
    MessageMismatch,
    Payment,
    PaymentError,
    TxSts,
    event_class,
)

__all__ = ["IllegalTransition", "MessageMismatch", "Payment", "PaymentError", "TxSts", "event_class"]
