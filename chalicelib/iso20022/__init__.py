"""ISO 20022: secure intake, recognition, XSD validation, extraction; pacs.002 reports.

No AWS imports here; the domain layer receives plain dataclasses of strings.
"""
from .errors import FF01, MessageRejected
from .extract import CreditTransfer, TransactionIds
from .intake import read_credit_transfer
from .pacs002 import build_pacs002, validate_pacs002
from .parse import MAX_BYTES, MAX_DEPTH, parse_xml
from .recognise import SUPPORTED, Recognised, recognise

__all__ = [
    "FF01", "MAX_BYTES", "MAX_DEPTH", "SUPPORTED", "CreditTransfer", "MessageRejected",
    "Recognised", "TransactionIds", "build_pacs002", "parse_xml", "read_credit_transfer",
    "recognise", "validate_pacs002",
]
