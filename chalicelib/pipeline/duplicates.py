"""Duplicate detection: a MsgId, UETR or EndToEndId seen before within the window.

Claims are taken in a fixed order and the first one held by another transaction ends the
check: a duplicate never takes the identifiers after it, so concurrent copies of one
payment cannot split the claims between them (exactly one of them proceeds). An identical
message is caught by its MsgId (the same bytes carry the same MsgId): no payload claim.
"""
from __future__ import annotations

from typing import Any, Protocol

from chalicelib.checks import Verdict, verdict


class ClaimStore(Protocol):
    def claim(self, kind: str, value: str, transaction_id: str, now: float, window_s: int) -> str | None: ...


def _check(claims: ClaimStore, transaction_id: str, ids: list[tuple[str, str, str, str]], now: float, window_s: int,
           passed: str) -> Verdict:
    for kind, value, code, what in ids:
        holder = claims.claim(kind, value, transaction_id, now, window_s)
        if holder is not None:
            return verdict("duplicate", False, code, f"{what} was already received as transaction {holder}")
    return verdict("duplicate", True, "DUPL", passed)


def check_message(claims: ClaimStore, transaction_id: str, credit_transfer: dict[str, Any], now: float,
                  window_s: int) -> Verdict:
    """The MsgId, per instructing agent (DUPL)."""
    agent, msg_id = credit_transfer.get("instructing_agent") or "", credit_transfer.get("msg_id")
    ids = [("msg", f"{agent}|{msg_id}", "DUPL", "this MsgId from this instructing agent")] if msg_id else []
    return _check(claims, transaction_id, ids, now, window_s, "MsgId not seen within the window")


def check_transaction(claims: ClaimStore, transaction_id: str, tx: dict[str, Any], now: float,
                      window_s: int) -> Verdict:
    """The UETR (DUPL) and the EndToEndId per instructing agent (AM05) of one transaction."""
    agent = tx.get("instructing_agent") or ""
    ids = []
    if tx.get("uetr"):
        ids.append(("uetr", tx["uetr"].lower(), "DUPL", "this UETR"))
    if tx.get("end_to_end_id"):
        ids.append(("e2e", f"{agent}|{tx['end_to_end_id']}", "AM05", "this EndToEndId from this instructing agent"))
    return _check(claims, transaction_id, ids, now, window_s, "UETR and EndToEndId not seen within the window")
