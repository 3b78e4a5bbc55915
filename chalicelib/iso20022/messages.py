"""Inbound messages of any supported type: pacs.008, camt.056, pacs.028.

``read_message`` is ``read_credit_transfer`` for every recognised type: the same secure
parse, recognition inside any envelope and XSD validation of AppHdr and Document, then
the extraction that fits the namespace. The result's ``message_type`` is what the
message *is*; ``expect`` (the family the client declared, e.g. X-Message-Type) turns a
difference into an FF01 rejection that still names the recognised type.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Union

from chalicelib.domain.models import CreditTransfer

from .camt056 import CancellationRequest, extract_camt056
from .errors import rejected
from .extract import extract
from .parse import MAX_BYTES, MAX_DEPTH, parse_xml
from .pacs028 import StatusRequest, extract_pacs028
from .recognise import RECOGNISED, Recognised, family_of, recognise

InboundMessage = Union[CreditTransfer, CancellationRequest, StatusRequest]

_EXTRACT: dict[str, Callable[[Recognised], InboundMessage]] = {"pacs.008": extract, "camt.056": extract_camt056, "pacs.028": extract_pacs028}
FAMILIES = tuple(_EXTRACT)


def read_message(raw: bytes, *, expect: str | None = None, max_bytes: int = MAX_BYTES,
                 max_depth: int = MAX_DEPTH) -> InboundMessage:
    """Parse securely, recognise, validate and extract a pacs.008 (CreditTransfer), camt.056
    (CancellationRequest) or pacs.028 (StatusRequest). Raises MessageRejected (FF01).

    ``expect``: a family ("camt.056") or full type ("camt.056.001.09") the caller declared;
    when the message is something else it is refused (FF01) with ``message_type`` set to
    what it is. Without ``expect``, compare ``result.message_type`` yourself."""
    if expect is not None and family_of(expect) not in _EXTRACT:
        raise ValueError(f"expect={expect!r}: not one of {', '.join(FAMILIES)}")
    rec = recognise(parse_xml(raw, max_bytes=max_bytes, max_depth=max_depth), RECOGNISED)
    if expect is not None and rec.message_type != expect and family_of(rec.message_type) != expect:
        raise rejected(f"message is {rec.message_type}, declared {expect}", message_type=rec.message_type)
    return _EXTRACT[family_of(rec.message_type)](rec)
