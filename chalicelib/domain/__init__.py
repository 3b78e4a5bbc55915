"""The domain model: no I/O, no AWS, no XML."""

from chalicelib.domain.payment import (
    IllegalTransition,
    MessageMismatch,
    Payment,
    PaymentError,
    TxSts,
)

__all__ = ["IllegalTransition", "MessageMismatch", "Payment", "PaymentError", "TxSts"]
