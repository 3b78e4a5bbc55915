"""What a rule says, and the helpers every rule shares (no rule lives here).

A rule's body returns an ``Outcome``: ``ok(narrative)`` or ``fail(problems)`` (with a code
only when it differs from the one the rule declares). The ``@rule`` registration in
``rules.py`` turns it into a ``Verdict`` named after the rule, so a rule states its name and
its reason code once. ``verdict()`` builds a Verdict directly, for checks that are not rules
(duplicates, liquidity).

Narratives are short and carry no payment data beyond what locates the fault: an agent's
BIC or a currency code, never an account number or a name.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from chalicelib.domain.models import Transaction, Verdict
from chalicelib.iso20022.errors import safe_text

__all__ = ["AGENT_ROLES", "MAX_LISTED", "Outcome", "Verdict", "agents", "fail", "ok", "verdict"]

MAX_LISTED = 3  # problems named in one narrative

# The agents of a transaction: attribute (its scheme is attribute + "_scheme") and ISO tag.
AGENT_ROLES: tuple[tuple[str, str], ...] = (
    ("instructing_agent", "InstgAgt"), ("instructed_agent", "InstdAgt"),
    ("debtor_agent", "DbtrAgt"), ("creditor_agent", "CdtrAgt"),
    ("previous_instructing_agent1", "PrvsInstgAgt1"), ("previous_instructing_agent2", "PrvsInstgAgt2"),
    ("previous_instructing_agent3", "PrvsInstgAgt3"), ("intermediary_agent1", "IntrmyAgt1"),
    ("intermediary_agent2", "IntrmyAgt2"), ("intermediary_agent3", "IntrmyAgt3"),
)


def agents(tx: Transaction) -> Iterator[tuple[str, str | None, str | None]]:
    """``(ISO tag, identifier, scheme)`` of each agent role of ``tx``, in AGENT_ROLES order."""
    for attr, label in AGENT_ROLES:
        ident: str | None = getattr(tx, attr)
        scheme: str | None = getattr(tx, attr + "_scheme")
        yield label, ident, scheme


@dataclass(frozen=True, slots=True)
class Outcome:
    """A rule's finding before it is named: passed or not, why, and a failure code other
    than the rule's own (None: the rule's)."""

    passed: bool
    narrative: str
    reason_code: str | None = None


def ok(narrative: str) -> Outcome:
    return Outcome(True, narrative)


def fail(problems: list[str], reason_code: str | None = None, *, max_listed: int = MAX_LISTED) -> Outcome:
    """The first ``max_listed`` problems, then how many more, as one safe narrative."""
    text = "; ".join(problems[:max_listed])
    if len(problems) > max_listed:
        text += f"; and {len(problems) - max_listed} more"
    return Outcome(False, safe_text(text), reason_code)


def verdict(rule: str, passed: bool, reason_code: str | None, narrative: str) -> Verdict:
    """A Verdict; a passing one has no reason code."""
    return Verdict(rule=rule, passed=passed, reason_code=None if passed else reason_code, narrative=narrative)
