"""Our sample messages (events/), made current and unique: `python -m infra.examples FILE`.

A sample sent twice would meet the duplicate checks (MsgId, UETR, EndToEndId) and, as it
ages, the settlement-date window. This gives every use today's dates and identifiers of its
own, keeping the message consistent (BizMsgIdr stays equal to MsgId). The walkthrough and the
tests use it.
"""

from __future__ import annotations

import re
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

EVENTS = Path(__file__).resolve().parent.parent / "events"
SAMPLE_DAY = "2026-04-15"  # the business date our own samples were written for
_IDS = re.compile(r"<((?:\w+:)?(?:MsgId|BizMsgIdr|EndToEndId|TxId|InstrId))>([^<]{1,35})</\1>")
_UETR = re.compile(r"<((?:\w+:)?UETR)>[^<]*</\1>")
_DATES = re.compile(r"<((?:\w+:)?(?:IntrBkSttlmDt|CreDtTm|CreDt))>(\d{4}-\d{2}-\d{2})")


def _today(today: date | None) -> str:
    return (today or datetime.now(UTC).date()).isoformat()


def fresh(name: str, today: date | None = None) -> bytes:
    """events/<name> with today's dates and new MsgId, EndToEndId, TxId, InstrId and UETR."""
    return unique_ids((EVENTS / name).read_bytes().replace(SAMPLE_DAY.encode(), _today(today).encode()))


def unique_ids(raw: bytes) -> bytes:
    """Any message with identifiers of its own: one suffix for all ids (BizMsgIdr stays equal
    to MsgId), a new UUID v4 for every UETR."""
    suffix = uuid.uuid4().hex[:8]
    text = _IDS.sub(lambda m: f"<{m[1]}>{m[2][:26]}-{suffix}</{m[1]}>", raw.decode("utf-8"))
    text = _UETR.sub(lambda m: f"<{m[1]}>{uuid.uuid4()}</{m[1]}>", text)
    return text.encode("utf-8")


def redated(raw: bytes, today: date | None = None) -> bytes:
    """Any message as if sent today: creation and settlement dates moved to today."""
    return _DATES.sub(lambda m: f"<{m[1]}>{_today(today)}", raw.decode("utf-8")).encode("utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m infra.examples NAME  (a file of events/, e.g. pacs008_bare.xml)")
    sys.stdout.buffer.write(fresh(Path(sys.argv[1]).name))
