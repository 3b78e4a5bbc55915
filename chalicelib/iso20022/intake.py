"""The hot path: untrusted bytes in, a validated and extracted pacs.008 out."""

from __future__ import annotations

from chalicelib.domain.models import CreditTransfer

from .extract import extract
from .parse import MAX_BYTES, MAX_DEPTH, parse_xml
from .recognise import recognise


def read_credit_transfer(raw: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> CreditTransfer:
    """Parse securely, recognise inside any envelope, validate AppHdr and Document against
    their XSDs and extract the key identifiers. Raises MessageRejected (FF01) otherwise."""
    return extract(recognise(parse_xml(raw, max_bytes=max_bytes, max_depth=max_depth)))
