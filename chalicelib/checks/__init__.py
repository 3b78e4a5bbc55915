"""Business checks run by the processing step, each a small named rule with its ISO reason.

A rule takes the typed credit transfer (``chalicelib.domain.models.CreditTransfer``) and
gives a ``Verdict`` (rule, passed, reason_code, narrative). Every rule runs and every
verdict is recorded on the Accepted or Rejected event (the audit trail says what was
checked, not only what failed), and every failing one gives the rejection a reason (a
StsRsnInf each), the first in RULES order first. The rules keep no state: what they need
besides the message (settings, the reference date, the sanctions ``Screening``) is given
to ``run``; the offline validator (``python -m chalicelib.cli validate``) runs exactly the
same ones.

The screening (the sanctions list, loaded and indexed) is built once per process by its
composition root with ``sanctions.load_screening()`` and passed to every run.

The rules, their codes and the reasons for each code are listed in ``rules.py``; limits and
windows are ``CheckSettings`` (environment prefix ``PACSFLOW_CHECKS_``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from chalicelib.domain.models import CreditTransfer, Transaction, Verdict

from .rules import RULES, Context, Rule, judged_transactions, reference_date
from .sanctions import SanctionsSettings, Screening, load_screening
from .settings import CheckSettings, default_settings
from .verdicts import verdict

__all__ = [
    "GROUP_RULES",
    "RULES",
    "TENANT_RULES",
    "CheckSettings",
    "Rule",
    "SanctionsSettings",
    "Screening",
    "Verdict",
    "default_settings",
    "failed",
    "load_screening",
    "run",
    "run_by_transaction",
    "transactions_of",
    "verdict",
]


def run(
    credit_transfer: CreditTransfer,
    settings: CheckSettings | None = None,
    *,
    screening: Screening,
    today: date | None = None,
    agents: frozenset[str] | None = None,
) -> list[Verdict]:
    """Every enabled rule's verdict, in RULES order.

    ``settings`` defaults to the process's (read once from the environment); ``screening``
    is the sanctions list to screen against (``load_screening()``, built once per process).
    The settlement date window is measured from ``today`` when given, else per
    ``settings.date_reference``: the UTC clock (the pipeline) or the message's own
    GrpHdr/CreDtTm (offline validation). ``agents``: the BICs the sender may act for, when
    the stage maps its tenants (see TENANT_RULES).
    """
    s = settings or default_settings()
    cx = Context(credit_transfer, s, reference_date(credit_transfer, s, today), screening, agents)
    return [r(credit_transfer, cx) for r in _enabled(s, agents)]


# Rules about the message as a whole (its header, its group totals); the others judge each
# transaction, so in a multi-transaction message each transaction gets its own status.
GROUP_RULES = frozenset(
    {
        "bah_message_definition",
        "bah_business_message_id",
        "transaction_count",
        "control_sum",
        "total_settlement_amount",
        "transactions_per_message",
        "bah_agents_match",
        "instructing_agent_allowed",
    }
)

# Rules about the sender: run exactly when the stage maps its tenants to the agents they may
# act for (``agents`` given), whatever ``disabled_rules`` says. They stop one tenant taking
# another's identifiers, which is not a business rule for a stage to switch off; a stage
# without the mapping (local development, the offline validator) runs them not at all, so
# its payments record the verdicts they always did.
TENANT_RULES = frozenset({"instructing_agent_allowed"})


def _enabled(settings: CheckSettings, agents: frozenset[str] | None) -> list[Rule]:
    """The rules a run runs, in RULES order (see TENANT_RULES)."""
    return [
        r
        for r in RULES
        if (agents is not None if r.__name__ in TENANT_RULES else r.__name__ not in settings.disabled_rules)
    ]


def transactions_of(credit_transfer: CreditTransfer) -> tuple[Transaction, ...]:
    """The transactions the rules judge, one per list of ``run_by_transaction``: the
    message's (one empty transaction if it has none)."""
    return judged_transactions(credit_transfer)


def run_by_transaction(
    credit_transfer: CreditTransfer,
    settings: CheckSettings | None = None,
    *,
    screening: Screening,
    today: date | None = None,
    agents: frozenset[str] | None = None,
) -> tuple[list[Verdict], list[list[Verdict]]]:
    """The message-level verdicts, and each transaction's own, in ``transactions_of`` order
    (its rules run on the message seen as carrying that transaction alone); ``agents`` as
    for ``run``."""
    s = settings or default_settings()
    rules = _enabled(s, agents)
    cx = Context(credit_transfer, s, reference_date(credit_transfer, s, today), screening, agents)
    group = [r(credit_transfer, cx) for r in rules if r.__name__ in GROUP_RULES]
    per_tx = []
    for tx in cx.txs:
        if credit_transfer.transactions == (tx,):  # its only transaction: the message as it is
            alone, tx_cx = credit_transfer, cx
        else:
            alone = replace(credit_transfer, transactions=(tx,))
            tx_cx = Context(alone, s, cx.today, screening, agents)
        per_tx.append([r(alone, tx_cx) for r in rules if r.__name__ not in GROUP_RULES])
    return group, per_tx


def failed(verdicts: list[Verdict]) -> list[Verdict]:
    """The failing verdicts, in order (the first one's code is the rejection's)."""
    return [v for v in verdicts if not v.passed]
