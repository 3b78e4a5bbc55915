"""ISO 20022: secure intake, recognition, XSD validation, extraction; outbound reports.

Inbound: pacs.008 (``read_credit_transfer``, or ``read_message`` for any type), camt.056
cancellation requests and pacs.028 status requests (``read_message``).
Outbound: pacs.002 status reports, camt.029 resolutions of investigation, pacs.004 returns.
No AWS imports here; the domain layer receives plain dataclasses of strings.
"""

from chalicelib.domain.models import CreditTransfer, Transaction

from .camt029 import REJECTION_REASONS, CancellationOutcome, build_camt029, resolution_of, validate_camt029
from .camt056 import CancellationRequest, CancelledTransaction
from .errors import FF01, MessageRejected
from .intake import read_credit_transfer
from .messages import InboundMessage, read_message
from .pacs002 import StatusReason, TxStatus, build_pacs002, group_status_of, validate_pacs002
from .pacs004 import RETURN_REASONS, build_pacs004, validate_pacs004
from .pacs028 import RequestedTransaction, StatusRequest
from .parse import MAX_BYTES, MAX_DEPTH, parse_xml
from .recognise import RECOGNISED, SUPPORTED, VERSIONS, Recognised, family_of, recognise

__all__ = [
    "FF01",
    "MAX_BYTES",
    "MAX_DEPTH",
    "RECOGNISED",
    "REJECTION_REASONS",
    "RETURN_REASONS",
    "SUPPORTED",
    "VERSIONS",
    "CancellationOutcome",
    "CancellationRequest",
    "CancelledTransaction",
    "CreditTransfer",
    "InboundMessage",
    "MessageRejected",
    "Recognised",
    "RequestedTransaction",
    "StatusReason",
    "StatusRequest",
    "Transaction",
    "TxStatus",
    "build_camt029",
    "build_pacs002",
    "build_pacs004",
    "family_of",
    "group_status_of",
    "parse_xml",
    "read_credit_transfer",
    "read_message",
    "recognise",
    "resolution_of",
    "validate_camt029",
    "validate_pacs002",
    "validate_pacs004",
]
