"""Our sample messages (events/), made current and unique for each use.

A test that posts the same file twice would meet the duplicate checks (MsgId, UETR,
EndToEndId) and the settlement-date window; `fresh` gives every use today's dates and ids
of its own, keeping the message's internal consistency (BizMsgIdr stays equal to MsgId).
"""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

EVENTS = Path(__file__).resolve().parent.parent / "events"
SAMPLE_DAY = "2026-04-15"  # the business date our own samples were written for
_IDS = re.compile(r"<((?:\w+:)?(?:MsgId|BizMsgIdr|EndToEndId|TxId|InstrId))>([^<]{1,35})</\1>")
_UETR = re.compile(r"<((?:\w+:)?UETR)>[^<]*</\1>")


def fresh(name: str, today: date | None = None) -> bytes:
    text = (EVENTS / name).read_text(encoding="utf-8")
    day = (today or datetime.now(timezone.utc).date()).isoformat()
    suffix = uuid.uuid4().hex[:8]
    text = text.replace(SAMPLE_DAY, day)
    text = _IDS.sub(lambda m: f"<{m[1]}>{m[2][:26]}-{suffix}</{m[1]}>", text)
    text = _UETR.sub(lambda m: f"<{m[1]}>{uuid.uuid4()}</{m[1]}>", text)
    return text.encode("utf-8")


_DATES = re.compile(r"<((?:\w+:)?(?:IntrBkSttlmDt|CreDtTm|CreDt))>(\d{4}-\d{2}-\d{2})")


def redated(raw: bytes, today: date | None = None) -> bytes:
    """A real-world sample as if sent today: creation and settlement dates moved to today."""
    day = (today or datetime.now(timezone.utc).date()).isoformat()
    return _DATES.sub(lambda m: f"<{m[1]}>{day}", raw.decode("utf-8")).encode("utf-8")
