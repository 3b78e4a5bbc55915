"""Business checks run by the processing step, each a small named rule with its ISO reason.

A rule takes the extracted credit transfer (a dict of strings) and returns a verdict. Every
rule runs and every verdict is recorded on the Accepted or Rejected event (the audit trail
says what was checked, not only what failed).
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Callable

Verdict = dict[str, Any]
Rule = Callable[[dict[str, Any]], Verdict]


def verdict(rule: str, passed: bool, reason_code: str, narrative: str) -> Verdict:
    return {"rule": rule, "passed": passed, "reason_code": None if passed else reason_code, "narrative": narrative}


def amount_is_positive(ct: dict[str, Any]) -> Verdict:
    try:
        positive = Decimal(ct.get("amount") or "0") > 0
    except InvalidOperation:
        positive = False
    return verdict("amount_is_positive", positive, "AM12", "interbank settlement amount must be greater than zero")


def single_transaction(ct: dict[str, Any]) -> Verdict:
    ok = str(ct.get("nb_of_txs", "1")) == "1"
    return verdict("single_transaction", ok, "NARR", "only one transaction per message is supported")


RULES: tuple[Rule, ...] = (amount_is_positive, single_transaction)


def run(credit_transfer: dict[str, Any]) -> list[Verdict]:
    return [rule(credit_transfer) for rule in RULES]
