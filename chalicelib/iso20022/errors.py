"""The one exception raised for any message this package refuses."""
from __future__ import annotations

import re
from typing import Any

FF01 = "FF01"  # ExternalStatusReason1Code: invalid file format (format, schema, unknown message)

NARRATIVE_MAX = 200
_UNSAFE = re.compile(r"[^\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd]+")


def safe_text(text: str, limit: int = NARRATIVE_MAX) -> str:
    """Printable, single-line, at most ``limit`` characters (clipped with '...')."""
    text = " ".join(_UNSAFE.sub(" ", str(text)).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class MessageRejected(Exception):
    """An inbound message was refused.

    ``reason_code`` is an ISO ExternalStatusReason1Code (FF01 for format, schema and
    unknown-message problems); ``narrative`` is short (<= 200 chars) and never carries
    payment data. ``message_type`` and ``msg_id`` are filled in when they could be
    recognised before the refusal, so that a pacs.002 can still refer to the original.
    """

    def __init__(self, reason_code: str, narrative: str, *,
                 message_type: str | None = None, msg_id: str | None = None) -> None:
        self.reason_code = reason_code
        self.narrative = safe_text(narrative)
        self.message_type = message_type
        self.msg_id = msg_id
        super().__init__(f"{reason_code}: {self.narrative}")

    def __reduce__(self) -> tuple[Any, tuple[str, str, str | None, str | None]]:  # picklable with its keyword arguments
        return (_rebuild, (self.reason_code, self.narrative, self.message_type, self.msg_id))


def _rebuild(reason_code: str, narrative: str, message_type: str | None, msg_id: str | None) -> MessageRejected:
    return MessageRejected(reason_code, narrative, message_type=message_type, msg_id=msg_id)


def rejected(narrative: str, *, message_type: str | None = None, msg_id: str | None = None) -> MessageRejected:
    return MessageRejected(FF01, narrative, message_type=message_type, msg_id=msg_id)
