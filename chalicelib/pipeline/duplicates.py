"""Duplicate detection: the same message, MsgId, UETR or EndToEndId seen before.

Claims are taken in a fixed order and the first one held by another transaction ends the
check: a duplicate never takes the identifiers after it, so concurrent copies of one
payment cannot split the claims between them (exactly one of them proceeds).
"""
from __future__ import annotations

from typing import Any, Protocol

from chalicelib.checks import Verdict, verdict


class ClaimStore(Protocol):
    def claim(self, kind: str, value: str, transaction_id: str, now: float, window_s: int) -> str | None: ...


def identifiers(credit_transfer: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(kind, value, reason code, what) in claim order; EndToEndId and MsgId are per instructing agent.

    An identical message is caught by its MsgId (the same bytes carry the same MsgId), so
    the payload needs no claim of its own: one write unit fewer per payment."""
    agent = credit_transfer.get("instructing_agent") or ""
    ids = []
    if credit_transfer.get("msg_id"):
        ids.append(("msg", f"{agent}|{credit_transfer['msg_id']}", "DUPL", "this MsgId from this instructing agent"))
    for tx in credit_transfer.get("transactions") or [credit_transfer]:
        if tx.get("uetr"):
            ids.append(("uetr", tx["uetr"].lower(), "DUPL", "this UETR"))
        if tx.get("end_to_end_id"):
            ids.append(("e2e", f"{agent}|{tx['end_to_end_id']}", "AM05", "this EndToEndId from this instructing agent"))
    return ids


def check(claims: ClaimStore, transaction_id: str, credit_transfer: dict[str, Any], now: float, window_s: int) -> Verdict:
    for kind, value, code, what in identifiers(credit_transfer):
        holder = claims.claim(kind, value, transaction_id, now, window_s)
        if holder is not None:
            return verdict("duplicate", False, code, f"{what} was already received as transaction {holder}")
    return verdict("duplicate", True, "DUPL", "no duplicate within the window")
