"""Currency, amount, settlement date and charge bearer rules (registered through ``registry.rule``).

Imported by ``rules.py`` after ``rules_header.py``: RULES keeps that order. Reason codes
are explained in ``rules.py``'s docstring.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from chalicelib.domain.models import CreditTransfer

from .reference import CURRENCIES, MINOR_UNITS, NOT_A_SETTLEMENT_CURRENCY
from .registry import Context, _decimal, rule
from .verdicts import Outcome, fail, ok

# -- currency and amounts -----------------------------------------------------------------


def _currencies(ct: CreditTransfer, cx: Context) -> Iterator[tuple[str, str | None]]:
    for i, tx in enumerate(cx.txs):
        yield cx.where(i), tx.currency
    if ct.total_interbank_settlement_currency:
        yield "TtlIntrBkSttlmAmt: ", ct.total_interbank_settlement_currency


@rule("AM11")
def currency_known(ct: CreditTransfer, cx: Context) -> Outcome:
    """Every currency is a current ISO 4217 code."""
    problems = [
        f"{where}currency {str(ccy)[:3]} is not ISO 4217" if ccy else f"{where}currency missing"
        for where, ccy in _currencies(ct, cx)
        if ccy not in CURRENCIES
    ]
    if problems:
        return fail(problems)
    return ok("currencies are ISO 4217")


@rule("AM03")
def currency_allowed(ct: CreditTransfer, cx: Context) -> Outcome:
    """No metal, test code, unit of account or blocked code; only listed ones if a list is set."""
    s = cx.settings
    problems = []
    for where, ccy in _currencies(ct, cx):
        if ccy is None or ccy not in CURRENCIES:
            continue  # currency_known reports it
        if ccy in NOT_A_SETTLEMENT_CURRENCY:
            problems.append(f"{where}{ccy} is not a settlement currency (metal, test code or unit of account)")
        elif ccy in s.blocked_currencies or (s.allowed_currencies and ccy not in s.allowed_currencies):
            problems.append(f"{where}{ccy} is not an allowed currency")
    if problems:
        return fail(problems)
    return ok("currencies are allowed")


@rule("CH20")
def amount_decimals(ct: CreditTransfer, cx: Context) -> Outcome:
    """No more significant decimals than the currency's ISO 4217 minor unit (trailing
    zeros do not count: 7.00000 EUR is 7.00 EUR)."""
    problems = []
    amounts = [(cx.where(i), tx.amount, tx.currency) for i, tx in enumerate(cx.txs)]
    if ct.total_interbank_settlement_amount:
        amounts.append(
            ("TtlIntrBkSttlmAmt: ", ct.total_interbank_settlement_amount, ct.total_interbank_settlement_currency)
        )
    for where, text, ccy in amounts:
        units = MINOR_UNITS.get(ccy or "")
        value = _decimal(text)
        if units is None or value is None:
            continue  # other rules report unknown currencies and unreadable amounts
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > units:
            problems.append(f"{where}{ccy} allows {units} decimal(s)")
    if problems:
        return fail(problems)
    return ok("decimals fit the currencies")


@rule("AM12")
def amount_positive(ct: CreditTransfer, cx: Context) -> Outcome:
    """Each interbank settlement amount is a number greater than zero (AM01 when zero)."""
    problems = []
    for i, tx in enumerate(cx.txs):
        value = _decimal(tx.amount)
        if value is None or value < 0:
            problems.append(cx.where(i) + "interbank settlement amount missing or invalid")
        elif value == 0:
            problems.append(cx.where(i) + "interbank settlement amount is zero")
    if problems:
        return fail(problems, "AM01" if all(p.endswith("is zero") for p in problems) else None)
    return ok("amounts are greater than zero")


@rule("AM02")
def amount_within_limits(ct: CreditTransfer, cx: Context) -> Outcome:
    """Each amount within [min, max] of CheckSettings (per currency when configured);
    AM02 above the maximum, AM06 below the minimum."""
    s = cx.settings
    problems, above = [], False
    for i, tx in enumerate(cx.txs):
        value, ccy = _decimal(tx.amount), tx.currency
        if value is None:
            continue  # amount_positive reports it
        high = s.max_amount_by_currency.get(ccy or "", s.max_amount)
        low = s.min_amount_by_currency.get(ccy or "", s.min_amount)
        if value > high:
            above = True
            problems.append(f"{cx.where(i)}amount above the {ccy} maximum {high}")
        elif value < low:
            problems.append(f"{cx.where(i)}amount below the {ccy} minimum {low}")
    if problems:
        return fail(problems, None if above else "AM06")
    return ok("amounts within limits")


# -- dates and charges --------------------------------------------------------------------


def _shifted(day: date, days: int) -> date:
    """``day`` moved by ``days``, clamped to the calendar (0001-01-01 .. 9999-12-31): a
    reference date at either end (a CreDtTm of 9999-12-31) must not overflow the window."""
    ordinal = day.toordinal() + days
    return date.fromordinal(min(max(ordinal, date.min.toordinal()), date.max.toordinal()))


@rule("DT01")
def settlement_date_window(ct: CreditTransfer, cx: Context) -> Outcome:
    """IntrBkSttlmDt, when present, within [today - past, today + future] days."""
    s = cx.settings
    earliest = _shifted(cx.today, -s.settlement_days_past)
    latest = _shifted(cx.today, s.settlement_days_future)
    problems = []
    for i, tx in enumerate(cx.txs):
        text = tx.interbank_settlement_date
        if not text:
            continue
        try:
            when = date.fromisoformat(text)
        except ValueError:
            problems.append(cx.where(i) + "settlement date is not a date")
            continue
        if when < earliest:
            problems.append(f"{cx.where(i)}settlement date more than {s.settlement_days_past} days before {cx.today}")
        elif when > latest:
            problems.append(f"{cx.where(i)}settlement date more than {s.settlement_days_future} days after {cx.today}")
    if problems:
        return fail(problems)
    return ok("settlement dates within the window")


@rule("BE19")
def charge_bearer_allowed(ct: CreditTransfer, cx: Context) -> Outcome:
    """ChrgBr is one of the allowed codes (the CBPR+ set for CBPR+ traffic)."""
    allowed = cx.settings.cbpr_charge_bearers if cx.cbpr else cx.settings.charge_bearers
    problems = []
    for i, tx in enumerate(cx.txs):
        code = tx.charge_bearer
        if code not in allowed:
            scope = " in CBPR+" if cx.cbpr else ""
            problems.append(
                f"{cx.where(i)}charge bearer {str(code)[:4]} not allowed{scope}"
                if code
                else cx.where(i) + "charge bearer missing"
            )
    if problems:
        return fail(problems)
    return ok("charge bearers allowed")
