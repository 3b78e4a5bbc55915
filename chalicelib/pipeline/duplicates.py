"""Duplicate detection: a MsgId, UETR or EndToEndId seen before within the window.

Claims are taken in a fixed order and the first one held by another transaction ends the
check: a duplicate never takes the identifiers after it, so concurrent copies of one
payment cannot split the claims between them (exactly one of them proceeds). An identical
message is caught by its MsgId (the same bytes carry the same MsgId): no payload claim.

The transactions of one message are claimed concurrently (`check_transactions`), each
transaction's own claims still one after the other in the fixed order. A transaction that
repeats an identifier of an earlier transaction of the same message waits until the
concurrent ones are decided and is then claimed in document order, so every identifier is
contended in document order, exactly as if the transactions were claimed one by one: the
same transactions win, and a retry (claims held by the same claimant) decides the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from chalicelib.domain.models import CreditTransfer, Transaction, Verdict
from chalicelib.pipeline.ports import ClaimStore

Ids = list[tuple[str, str, str, str]]  # kind, value, reason code, what it is
TX_PASSED = "UETR and EndToEndId not seen within the window"


def _check(
    claims: ClaimStore,
    transaction_id: str,
    ids: Ids,
    now: float,
    window_s: int,
    passed: str,
) -> Verdict:
    for kind, value, code, what in ids:
        holder = claims.claim(kind, value, transaction_id, now, window_s)
        if holder is not None:
            # the holder is not named: claims are shared by every tenant (a UETR is unique
            # worldwide), and its transaction id is another tenant's to know
            return Verdict("duplicate", False, code, f"{what} was already received within the window")
    return Verdict("duplicate", True, narrative=passed)


def check_message(claims: ClaimStore, transaction_id: str, ct: CreditTransfer, now: float, window_s: int) -> Verdict:
    """The MsgId, per instructing agent (DUPL): the first transaction's (its own, else the
    group header's), as claims have always been keyed."""
    first = ct.transactions[0] if ct.transactions else Transaction()
    agent, msg_id = first.instructing_agent or ct.instructing_agent or "", ct.msg_id
    ids = [("msg", f"{agent}|{msg_id}", "DUPL", "this MsgId from this instructing agent")] if msg_id else []
    return _check(claims, transaction_id, ids, now, window_s, "MsgId not seen within the window")


def _transaction_ids(tx: Transaction) -> Ids:
    agent = tx.instructing_agent or ""
    ids: Ids = []
    if tx.uetr:
        ids.append(("uetr", tx.uetr.lower(), "DUPL", "this UETR"))
    if tx.end_to_end_id:
        ids.append(("e2e", f"{agent}|{tx.end_to_end_id}", "AM05", "this EndToEndId from this instructing agent"))
    return ids


def check_transaction(claims: ClaimStore, transaction_id: str, tx: Transaction, now: float, window_s: int) -> Verdict:
    """The UETR (DUPL) and the EndToEndId per instructing agent (AM05) of one transaction."""
    return _check(claims, transaction_id, _transaction_ids(tx), now, window_s, TX_PASSED)


def check_transactions(
    claims: ClaimStore,
    transactions: Sequence[tuple[str, Transaction]],
    now: float,
    window_s: int,
    workers: int = 16,
) -> list[Verdict]:
    """`check_transaction` for each (claimant, transaction), in order of the result; up to
    `workers` transactions at a time (see the module's docstring for why the outcome is
    the sequential one)."""
    ids = [_transaction_ids(tx) for _, tx in transactions]
    seen: set[tuple[str, str]] = set()
    first: list[int] = []  # every identifier its first occurrence in the message
    later: list[int] = []  # repeats one of an earlier transaction: after `first`, in order
    for k, tx_ids in enumerate(ids):
        keys = {(kind, value) for kind, value, _, _ in tx_ids}
        (later if keys & seen else first).append(k)
        seen |= keys
    verdicts: list[Verdict | None] = [None] * len(transactions)

    def run(k: int) -> None:
        verdicts[k] = _check(claims, transactions[k][0], ids[k], now, window_s, TX_PASSED)

    if workers > 1 and len(first) > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(first)), thread_name_prefix="claims") as pool:
            list(pool.map(run, first))  # re-raises a claim's error: the step is retried
    else:
        for k in first:
            run(k)
    for k in later:
        run(k)
    return [v for v in verdicts if v is not None]
