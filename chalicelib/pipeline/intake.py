"""What every inbound request body and message type must be before a use case takes it."""

from __future__ import annotations

from chalicelib.pipeline.errors import EmptyBody, MessageTooLarge, UnsupportedMessageType

PAYMENT_MESSAGE_TYPES = frozenset({"pacs.008", "camt.056"})  # what POST /inbox and GET /uuid take
REPORT_MESSAGE_TYPES = frozenset({"pacs.002", "camt.029", "pacs.004"})  # what POST /outbox answers


def family_of(header: str | None, default: str, allowed: frozenset[str]) -> str:
    """'pacs.008' from 'pacs.008' or 'pacs.008.001.08'; UnsupportedMessageType otherwise."""
    value = (header or default).strip()
    family = ".".join(value.split(".")[:2])
    if family not in allowed:
        raise UnsupportedMessageType(f"X-Message-Type must be one of {', '.join(sorted(allowed))}")
    return family


def check_body(body: bytes, max_bytes: int) -> None:
    if not body:
        raise EmptyBody()
    if len(body) > max_bytes:
        raise MessageTooLarge(max_bytes)
