"""Duplicate detection: a MsgId, UETR or EndToEndId seen before within the window.

Claims are taken in a fixed order and the first one held by another transaction ends the
check: a duplicate never takes the identifiers after it, so concurrent copies of one
payment cannot split the claims between them (exactly one of them proceeds). An identical
message is caught by its MsgId (the same bytes carry the same MsgId): no payload claim.
"""

from __future__ import annotations

from chalicelib.domain.models import CreditTransfer, Transaction, Verdict
from chalicelib.pipeline.ports import ClaimStore


def _check(
    claims: ClaimStore,
    transaction_id: str,
    ids: list[tuple[str, str, str, str]],
    now: float,
    window_s: int,
    passed: str,
) -> Verdict:
    for kind, value, code, what in ids:
        holder = claims.claim(kind, value, transaction_id, now, window_s)
        if holder is not None:
            return Verdict("duplicate", False, code, f"{what} was already received as transaction {holder}")
    return Verdict("duplicate", True, narrative=passed)


def check_message(claims: ClaimStore, transaction_id: str, ct: CreditTransfer, now: float, window_s: int) -> Verdict:
    """The MsgId, per instructing agent (DUPL): the first transaction's (its own, else the
    group header's), as claims have always been keyed."""
    first = ct.transactions[0] if ct.transactions else Transaction()
    agent, msg_id = first.instructing_agent or ct.instructing_agent or "", ct.msg_id
    ids = [("msg", f"{agent}|{msg_id}", "DUPL", "this MsgId from this instructing agent")] if msg_id else []
    return _check(claims, transaction_id, ids, now, window_s, "MsgId not seen within the window")


def check_transaction(claims: ClaimStore, transaction_id: str, tx: Transaction, now: float, window_s: int) -> Verdict:
    """The UETR (DUPL) and the EndToEndId per instructing agent (AM05) of one transaction."""
    agent = tx.instructing_agent or ""
    ids = []
    if tx.uetr:
        ids.append(("uetr", tx.uetr.lower(), "DUPL", "this UETR"))
    if tx.end_to_end_id:
        ids.append(("e2e", f"{agent}|{tx.end_to_end_id}", "AM05", "this EndToEndId from this instructing agent"))
    return _check(claims, transaction_id, ids, now, window_s, "UETR and EndToEndId not seen within the window")
