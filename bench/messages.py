"""The sample pacs.008 messages of events/, made current and unique per payment.

The samples carry a fixed settlement date, which the business checks reject (DT01) once
it is too far in the past; and fixed identifiers, which a duplicate check may reject. The
bench rewrites the dates to today and the identifiers (MsgId, BizMsgIdr, EndToEndId,
TxId, UETR) to unique values, so that every payment settles (ACSC).
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from itertools import count
from pathlib import Path

EVENTS = Path(__file__).resolve().parent.parent / "events"
NAMES = ("pacs008_bare.xml", "pacs008_bah_envelope.xml")
_serial = count(1)


def _sub(tag: str, value: str, data: bytes) -> bytes:
    return re.sub(rb"<(%s)>[^<]*</%s>" % (tag.encode(), tag.encode()), b"<\\1>" + value.encode() + b"</\\1>", data)


def current(data: bytes, serial: int | None = None) -> bytes:
    """`data` with today's dates and identifiers unique to `serial` (a fresh one if None)."""
    n = next(_serial) if serial is None else serial
    now = datetime.now(timezone.utc)
    ident = f"B{now:%m%d%H%M%S}{n:08d}"  # Max35Text
    data = _sub("IntrBkSttlmDt", now.strftime("%Y-%m-%d"), data)
    data = _sub("CreDtTm", now.strftime("%Y-%m-%dT%H:%M:%S+00:00"), data)
    data = _sub("CreDt", now.strftime("%Y-%m-%dT%H:%M:%SZ"), data)
    for tag, prefix in (("MsgId", "M"), ("BizMsgIdr", "M"), ("EndToEndId", "E"), ("TxId", "T")):
        data = _sub(tag, prefix + ident, data)
    return _sub("UETR", str(uuid.uuid4()), data)


def samples() -> list[bytes]:
    return [(EVENTS / name).read_bytes() for name in NAMES]


def fresh(i: int) -> bytes:
    """A current, unique message for payment i (bare and enveloped alternately)."""
    return current(samples()[i % 2])
