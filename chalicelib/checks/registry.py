"""The rules' registry: ``Context``, ``Rule``, ``rule()`` and ``RULES`` (in registration order).

The rule functions live in ``rules_header.py`` and ``rules_transactions.py`` (and the
sanctions rule in ``rules.py``), registered in the order ``rules.py`` imports them; the
reason codes are explained in ``rules.py``'s docstring.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation

from chalicelib.domain.models import CreditTransfer, Transaction, Verdict

from . import sanctions
from .settings import CheckSettings
from .verdicts import Outcome

_NO_TRANSACTION = (Transaction(),)


def judged_transactions(ct: CreditTransfer) -> tuple[Transaction, ...]:
    """The transactions the rules judge: the message's, or one empty transaction when it has
    none (it then fails the amount and currency rules instead of passing them vacuously)."""
    return ct.transactions or _NO_TRANSACTION


class Context:
    """What every rule reads besides the message: computed once per ``run``."""

    __slots__ = ("agents", "cbpr", "multi", "screening", "settings", "today", "txs")

    def __init__(
        self,
        ct: CreditTransfer,
        settings: CheckSettings,
        today: date,
        screening: sanctions.Screening,
        agents: frozenset[str] | None = None,
    ) -> None:
        if screening is None:  # a caller without types: fail loudly, never pass unscreened
            raise TypeError("checks need a sanctions Screening (sanctions.load_screening())")
        self.settings = settings
        # The BICs the sending tenant may act for (Settings.tenant_agents), None where the
        # stage maps no tenant or there is no sender (the offline validator).
        self.agents = agents
        self.today = today
        self.screening = screening
        self.txs = judged_transactions(ct)
        self.multi = len(self.txs) > 1
        self.cbpr = (ct.biz_svc or "").startswith(settings.cbpr_service_prefix)

    def where(self, index: int) -> str:
        return f"tx {index + 1}: " if self.multi else ""


Judge = Callable[[CreditTransfer, Context], Outcome]


class Rule:
    """A registered rule: called with the message and the Context, it gives its Verdict,
    named after the function (``__name__``) and failing with its declared ``reason_code``
    unless the Outcome names another."""

    __name__: str

    def __init__(self, judge: Judge, reason_code: str) -> None:
        functools.update_wrapper(self, judge)
        self.judge = judge
        self.reason_code = reason_code

    def __call__(self, ct: CreditTransfer, cx: Context) -> Verdict:
        found = self.judge(ct, cx)
        return Verdict(
            rule=self.__name__,
            passed=found.passed,
            reason_code=None if found.passed else found.reason_code or self.reason_code,
            narrative=found.narrative,
        )

    def __repr__(self) -> str:
        return f"<rule {self.__name__} {self.reason_code}>"


RULES: list[Rule] = []


def rule(reason_code: str) -> Callable[[Judge], Rule]:
    """Register a rule in order; ``reason_code`` is its main code (see the module doc)."""

    def register(judge: Judge) -> Rule:
        registered = Rule(judge, reason_code)
        RULES.append(registered)
        return registered

    return register


# Amounts the rules compute with: ISO 20022 amounts have at most 18 digits, so a value
# beyond this magnitude (an exponent such as 1E+999999 in a replayed or hand-made record)
# is unreadable, not a number to add or normalise (which would raise decimal.Overflow).
_MAX_ADJUSTED_EXPONENT = 100


def _decimal(text: str | None) -> Decimal | None:
    if text is None or text == "":
        return None
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or abs(value.adjusted()) > _MAX_ADJUSTED_EXPONENT:
        return None
    return value
