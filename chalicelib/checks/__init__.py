"""Business checks run by the processing step, each a small named rule with its ISO reason.

A rule takes the extracted credit transfer (``CreditTransfer.to_dict()``) and returns a
verdict ``{"rule", "passed", "reason_code", "narrative"}``. Every rule runs and every
verdict is recorded on the Accepted or Rejected event (the audit trail says what was
checked, not only what failed), and every failing one gives the rejection a reason (a
StsRsnInf each), the first in RULES order first. The rules are stateless: the offline validator
(``python -m chalicelib.cli validate``) runs exactly the same ones.

The rules, their codes and the reasons for each code are listed in ``rules.py``; limits and
windows are ``CheckSettings`` (environment prefix ``PACSFLOW_CHECKS_``).
"""
from __future__ import annotations

from datetime import date
from typing import Any

from .rules import RULES, Context, Rule, Verdict, reference_date, verdict
from .settings import CheckSettings, default_settings

__all__ = ["GROUP_RULES", "RULES", "CheckSettings", "Rule", "Verdict", "default_settings", "failed", "run",
           "run_by_transaction", "verdict"]


def run(credit_transfer: dict[str, Any], settings: CheckSettings | None = None, *,
        today: date | None = None) -> list[Verdict]:
    """Every enabled rule's verdict, in RULES order.

    ``settings`` defaults to the process's (read once from the environment). The settlement
    date window is measured from ``today`` when given, else per ``settings.date_reference``:
    the UTC clock (the pipeline) or the message's own GrpHdr/CreDtTm (offline validation).
    """
    s = settings or default_settings()
    cx = Context(credit_transfer, s, reference_date(credit_transfer, s, today))
    if s.disabled_rules:
        return [r(credit_transfer, cx) for r in RULES if r.__name__ not in s.disabled_rules]
    return [r(credit_transfer, cx) for r in RULES]


# Rules about the message as a whole (its header, its group totals); the others judge each
# transaction, so in a multi-transaction message each transaction gets its own status.
GROUP_RULES = frozenset({
    "bah_message_definition", "bah_business_message_id", "transaction_count", "control_sum",
    "total_settlement_amount", "transactions_per_message", "bah_agents_match",
})


def transactions_of(credit_transfer: dict[str, Any]) -> list[dict[str, Any]]:
    """The message's transactions (a dict recorded before per-transaction details: itself)."""
    txs = credit_transfer.get("transactions") or ()
    return list(txs) if txs and "amount" in txs[0] else [credit_transfer]


def run_by_transaction(credit_transfer: dict[str, Any], settings: CheckSettings | None = None, *,
                       today: date | None = None) -> tuple[list[Verdict], list[list[Verdict]]]:
    """The message-level verdicts, and each transaction's own (its rules run on the message
    seen as carrying that transaction alone)."""
    s = settings or default_settings()
    rules = [r for r in RULES if r.__name__ not in s.disabled_rules]
    cx = Context(credit_transfer, s, reference_date(credit_transfer, s, today))
    group = [r(credit_transfer, cx) for r in rules if r.__name__ in GROUP_RULES]
    per_tx = []
    for tx in cx.txs:
        alone = {**credit_transfer, **tx, "transactions": [tx]} if tx is not credit_transfer else credit_transfer
        tx_cx = Context(alone, s, cx.today)
        per_tx.append([r(alone, tx_cx) for r in rules if r.__name__ not in GROUP_RULES])
    return group, per_tx


def failed(verdicts: list[Verdict]) -> list[Verdict]:
    """The failing verdicts, in order (the first one's code is the rejection's)."""
    return [v for v in verdicts if not v["passed"]]
