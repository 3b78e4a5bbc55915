"""The stateless business rules, each a small named function with its ISO reason code.

A rule reads the typed ``CreditTransfer`` (its group header and its ``Transaction``s) and a
``Context`` (settings, reference date, the transactions, the sanctions screening), and says
``ok(...)`` or ``fail(...)`` (``verdicts.py``); ``@rule("CODE")`` registers it in RULES order
under its function name with its reason code, and calling the registered rule gives one
``Verdict`` for the whole message; a failure names the transaction (``tx 2``) when there are
several. Narratives are short and carry no payment data beyond what locates the fault: an
agent's BIC or a currency code, never an account number or a name.

Reason codes (ISO ExternalStatusReason1Code), and why:
- RC01 BankIdentifierIncorrect ("code has an incorrect format"): a malformed agent BIC.
- RC08 InvalidClearingSystemMemberIdentifier: a US ABA routing number (ClrSysId USABA)
  whose check digit is wrong.
- AGNT IncorrectAgent ("agent in the payment workflow is incorrect"): the BAH sender or
  receiver is not the Instructing / Instructed Agent (CBPR+ usage rule). The BICs are
  well-formed (RC01 would say otherwise), the agent is just not the right one.
- FF01 InvalidFileFormat: BAH MsgDefIdr or BizMsgIdr disagreeing with the Document, and a
  UETR that is not a UUID v4 (the .08/.09 XSD pattern refuses it with FF01 too): these are
  defects of the business message's form, answered as the intake answers form defects.
- AM19 InvalidGroupNumberOfTransactions / AM16 InvalidGroupControlSum: NbOfTxs, CtrlSum and
  TtlIntrBkSttlmAmt all sit in GrpHdr; the code list keeps AM18 / AM10 for when the level
  cannot be told apart, which in a pacs.008 it always can.
- AC01 IncorrectAccountNumber ("format of the account number is not correct"): an IBAN
  whose check digits, length for its country or BBAN structure are wrong.
- AM11 InvalidTransactionCurrency: a code that is not a current ISO 4217 code.
- AM03 NotAllowedCurrency ("non processable currency"): a real ISO 4217 code that is not
  money to settle in (metals, XTS, XXX, units of account, fund codes) or not on the list.
- CH20 DecimalPointsNotCompatibleWithCurrency: more decimals than the currency's minor unit.
- AM01 ZeroAmount for a zero amount; AM12 InvalidAmount for a missing or unreadable one.
- AM02 NotAllowedAmount above the maximum; AM06 TooLowAmount below the minimum.
- DT01 InvalidDate ("wrong or missing settlement date"): IntrBkSttlmDt outside the window.
- BE19 InvalidChargeBearerCode: ChrgBr not allowed (e.g. SLEV in CBPR+).
- NARR: more transactions than one payment can carry yet (the narrative says so).
- RR04 RegulatoryReason: a sanctions list or embargo hit (``sanctions.py``).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from chalicelib.domain.models import CreditTransfer, Transaction, Verdict

from . import sanctions
from .reference import COUNTRIES, CURRENCIES, MINOR_UNITS, NOT_A_SETTLEMENT_CURRENCY
from .settings import CheckSettings
from .verdicts import Outcome, agents, fail, ok

_BIC = re.compile(r"[A-Z]{4}([A-Z]{2})[A-Z0-9]{2}(?:[A-Z0-9]{3})?")
_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_BAH_BIC_SCHEMES = ("BICFI", "AnyBIC")
_NO_TRANSACTION = (Transaction(),)


def judged_transactions(ct: CreditTransfer) -> tuple[Transaction, ...]:
    """The transactions the rules judge: the message's, or one empty transaction when it has
    none (it then fails the amount and currency rules instead of passing them vacuously)."""
    return ct.transactions or _NO_TRANSACTION


class Context:
    """What every rule reads besides the message: computed once per ``run``."""

    __slots__ = ("cbpr", "multi", "screening", "settings", "today", "txs")

    def __init__(self, ct: CreditTransfer, settings: CheckSettings, today: date,
                 screening: sanctions.Screening) -> None:
        if screening is None:  # a caller without types: fail loudly, never pass unscreened
            raise TypeError("checks need a sanctions Screening (sanctions.load_screening())")
        self.settings = settings
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
        return Verdict(rule=self.__name__, passed=found.passed,
                       reason_code=None if found.passed else found.reason_code or self.reason_code,
                       narrative=found.narrative)

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


def _decimal(text: str | None) -> Decimal | None:
    if text is None or text == "":
        return None
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _bic11(bic: str) -> str:
    return bic + "XXX" if len(bic) == 8 else bic


# -- message level ------------------------------------------------------------------------

@rule("FF01")
def bah_message_definition(ct: CreditTransfer, cx: Context) -> Outcome:
    """BAH MsgDefIdr names the Document's message definition."""
    if not ct.app_hdr_type:
        return ok("no business application header")
    declared = (ct.msg_def_idr or "").strip()
    if declared == ct.message_type:
        return ok("BAH MsgDefIdr matches the Document")
    return fail([f"BAH MsgDefIdr is not the Document's message type {ct.message_type}"])


@rule("FF01")
def bah_business_message_id(ct: CreditTransfer, cx: Context) -> Outcome:
    """BAH BizMsgIdr equals GrpHdr/MsgId (CBPR+ usage rule)."""
    if not ct.app_hdr_type:
        return ok("no business application header")
    if (ct.biz_msg_idr or "") == (ct.msg_id or ""):
        return ok("BAH BizMsgIdr matches GrpHdr/MsgId")
    return fail(["BAH BizMsgIdr differs from GrpHdr/MsgId"])


@rule("AM19")
def transaction_count(ct: CreditTransfer, cx: Context) -> Outcome:
    """GrpHdr/NbOfTxs equals the number of CdtTrfTxInf."""
    count = len(ct.transactions) or 1
    text = str(ct.nb_of_txs or "").strip()
    if text.isdigit() and int(text) == count:
        return ok("NbOfTxs matches the transactions")
    return fail([f"NbOfTxs does not match the {count} transaction(s)"])


def _sum(cx: Context) -> Decimal | None:
    total = Decimal(0)
    for tx in cx.txs:
        amount = _decimal(tx.amount)
        if amount is None:
            return None
        total += amount
    return total


@rule("AM16")
def control_sum(ct: CreditTransfer, cx: Context) -> Outcome:
    """GrpHdr/CtrlSum, when present, is the sum of the transactions' amounts."""
    given = ct.ctrl_sum
    if given in (None, ""):
        return ok("no CtrlSum")
    ctrl, total = _decimal(given), _sum(cx)
    if ctrl is not None and total is not None and ctrl == total:
        return ok("CtrlSum matches the transactions")
    return fail(["CtrlSum is not the sum of the interbank settlement amounts"])


@rule("AM16")
def total_settlement_amount(ct: CreditTransfer, cx: Context) -> Outcome:
    """GrpHdr/TtlIntrBkSttlmAmt, when present, is the sum, in the transactions' currency."""
    given = ct.total_interbank_settlement_amount
    if given in (None, ""):
        return ok("no TtlIntrBkSttlmAmt")
    ccy = ct.total_interbank_settlement_currency
    if any(tx.currency != ccy for tx in cx.txs):
        return fail(["TtlIntrBkSttlmAmt currency differs from a transaction's"])
    ttl, total = _decimal(given), _sum(cx)
    if ttl is not None and total is not None and ttl == total:
        return ok("TtlIntrBkSttlmAmt matches the transactions")
    return fail(["TtlIntrBkSttlmAmt is not the sum of the interbank settlement amounts"])


@rule("NARR")
def transactions_per_message(ct: CreditTransfer, cx: Context) -> Outcome:
    """No more transactions than one payment carries (CheckSettings.max_transactions)."""
    limit = cx.settings.max_transactions
    if len(cx.txs) <= limit:
        return ok(f"at most {limit} transaction(s) per message")
    return fail([f"at most {limit} transaction(s) per message are supported"])


# -- parties and identifiers --------------------------------------------------------------

def _bic_problem(bic: str) -> str | None:
    m = _BIC.fullmatch(bic)
    if m is None:
        return "is not ISO 9362 (4 letters, country, 2-char location, optional 3-char branch)"
    if m.group(1) not in COUNTRIES:
        return "has no ISO 3166 country"
    return None


@rule("RC01")
def bic_structure(ct: CreditTransfer, cx: Context) -> Outcome:
    """Every agent BIC (and the BAH's) has the ISO 9362 structure and a real country."""
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()

    def check(bic: str, label: str) -> None:
        if (bic, label) in seen:
            return
        seen.add((bic, label))
        why = _bic_problem(bic)
        if why:
            problems.append(f"{label} BIC {bic[:11]} {why}")

    for party, scheme, label in ((ct.bah_from, ct.bah_from_scheme, "BAH Fr"), (ct.bah_to, ct.bah_to_scheme, "BAH To")):
        if party and scheme in _BAH_BIC_SCHEMES:
            check(party, label)
    for i, tx in enumerate(cx.txs):
        for role, agent, agent_scheme in agents(tx):
            if agent and agent_scheme == "BICFI":
                check(agent, cx.where(i) + role)
    if problems:
        return fail(problems)
    return ok("agent BICs are well-formed ISO 9362")


def _aba_ok(number: str) -> bool:
    """ABA routing number: 9 digits, 3-7-1 weighted sum divisible by 10."""
    if len(number) != 9 or not number.isdigit():
        return False
    d = [ord(c) - 48 for c in number]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 == 0


# Clearing-system member identifiers with a published check (ClrSysId/Cd -> checker).
_MEMBER_ID_CHECKS: dict[str | None, tuple[str, Callable[[str], bool]]] = {
    "ClrSysMmbId:USABA": ("ABA routing number", _aba_ok)}


@rule("RC08")
def clearing_member_id(ct: CreditTransfer, cx: Context) -> Outcome:
    """Agents identified by a clearing-system member id whose scheme has a check digit
    (US ABA routing numbers) carry a well-formed one."""
    problems: list[str] = []
    for i, tx in enumerate(cx.txs):
        for role, agent, scheme in agents(tx):
            check = _MEMBER_ID_CHECKS.get(scheme)
            if check and agent and not check[1](agent):
                problems.append(f"{cx.where(i)}{role} {check[0]} fails its check digit")
    if problems:
        return fail(problems)
    return ok("clearing-system member ids well-formed")


@rule("AGNT")
def bah_agents_match(ct: CreditTransfer, cx: Context) -> Outcome:
    """BAH Fr is the Instructing Agent and To the Instructed Agent (CBPR+ usage rule);
    8- and 11-character forms of one BIC match (``XXX`` is the primary office). The agents
    are each transaction's (its own, else the group header's)."""
    if not ct.app_hdr_type:
        return ok("no business application header")
    problems: list[str] = []
    for party, scheme, role, what in (
            (ct.bah_from, ct.bah_from_scheme, "instructing_agent", "BAH Fr is not the InstgAgt"),
            (ct.bah_to, ct.bah_to_scheme, "instructed_agent", "BAH To is not the InstdAgt")):
        # (no scheme: recorded before schemes were extracted; a BIC-shaped value is one)
        if not party or not (scheme in _BAH_BIC_SCHEMES or (scheme is None and _BIC.fullmatch(party))):
            continue
        for i, tx in enumerate(cx.txs):
            agent: str | None = getattr(tx, role)
            if agent and getattr(tx, role + "_scheme") == "BICFI" and _bic11(agent) != _bic11(party):
                problems.append(cx.where(i) + what)
    if problems:
        return fail(problems)
    return ok("BAH Fr/To match the instructing/instructed agents")


@rule("FF01")
def uetr_format(ct: CreditTransfer, cx: Context) -> Outcome:
    """Each UETR, when present, is a lower-case UUID v4 (RFC 4122 variant)."""
    problems = []
    for i, tx in enumerate(cx.txs):
        if tx.uetr:
            if _UUID4.fullmatch(tx.uetr) is None:
                problems.append(cx.where(i) + "UETR is not a UUID v4")
        elif cx.settings.uetr_required:
            problems.append(cx.where(i) + "UETR missing")
    if problems:
        return fail(problems)
    return ok("UETRs are UUID v4")


_IbanChecker = tuple[Callable[[str], object], tuple[tuple[type[Exception], str], ...],
                     tuple[type[Exception], ...]]
_schwifty: _IbanChecker | None = None


def _iban_checker() -> _IbanChecker:
    """schwifty's IBAN and its errors mapped to narratives, imported on first use
    (the import costs ~50 ms: only paid by a process that meets an IBAN)."""
    global _schwifty
    if _schwifty is None:
        from schwifty import IBAN
        from schwifty import exceptions as e
        _schwifty = (IBAN, (
            (e.InvalidChecksumDigits, "IBAN check digits are wrong"),
            (e.InvalidLength, "IBAN length is wrong for its country"),
            (e.InvalidCountryCode, "IBAN country is unknown"),
            (e.InvalidStructure, "IBAN structure is wrong for its country"),
        ), (e.SchwiftyException, ValueError))
    return _schwifty


def _iban_problem(value: str) -> str | None:
    iban, known, errors = _iban_checker()
    try:
        iban(value)  # validates country, length, BBAN format and check digits
    except errors as exc:
        return next((text for kind, text in known if isinstance(exc, kind)), "not a valid IBAN")
    return None


@rule("AC01")
def iban_valid(ct: CreditTransfer, cx: Context) -> Outcome:
    """Debtor and creditor IBANs: country, length for the country, check digits (schwifty)."""
    problems = []
    for i, tx in enumerate(cx.txs):
        for party, account, scheme in (("debtor", tx.debtor_account, tx.debtor_account_scheme),
                                       ("creditor", tx.creditor_account, tx.creditor_account_scheme)):
            if account and scheme == "IBAN":
                why = _iban_problem(account)
                if why:
                    problems.append(f"{cx.where(i)}{party} account: {why}")
    if problems:
        return fail(problems)
    return ok("IBANs are valid")


# -- currency and amounts -----------------------------------------------------------------

def _currencies(ct: CreditTransfer, cx: Context) -> Iterator[tuple[str, str | None]]:
    for i, tx in enumerate(cx.txs):
        yield cx.where(i), tx.currency
    if ct.total_interbank_settlement_currency:
        yield "TtlIntrBkSttlmAmt: ", ct.total_interbank_settlement_currency


@rule("AM11")
def currency_known(ct: CreditTransfer, cx: Context) -> Outcome:
    """Every currency is a current ISO 4217 code."""
    problems = [f"{where}currency {str(ccy)[:3]} is not ISO 4217" if ccy else f"{where}currency missing"
                for where, ccy in _currencies(ct, cx) if ccy not in CURRENCIES]
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
        amounts.append(("TtlIntrBkSttlmAmt: ", ct.total_interbank_settlement_amount,
                        ct.total_interbank_settlement_currency))
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

@rule("DT01")
def settlement_date_window(ct: CreditTransfer, cx: Context) -> Outcome:
    """IntrBkSttlmDt, when present, within [today - past, today + future] days."""
    s = cx.settings
    earliest = cx.today - timedelta(days=s.settlement_days_past)
    latest = cx.today + timedelta(days=s.settlement_days_future)
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
            problems.append(f"{cx.where(i)}charge bearer {str(code)[:4]} not allowed{scope}" if code
                            else cx.where(i) + "charge bearer missing")
    if problems:
        return fail(problems)
    return ok("charge bearers allowed")


@rule("RR04")
def sanctions_screening(ct: CreditTransfer, cx: Context) -> Outcome:
    """Debtor and creditor names against the sanctions list, agent countries against embargoes
    (RR04 RegulatoryReason: see chalicelib/checks/sanctions.py for why not BE01), with the
    Screening the run was given."""
    return sanctions.screen(ct, cx.screening)


def reference_date(ct: CreditTransfer, settings: CheckSettings, today: date | None = None) -> date:
    """``today`` if given; else the message's creation date (date_reference="creation",
    falling back to the clock when CreDtTm is unreadable) or the UTC clock."""
    if today is not None:
        return today
    if settings.date_reference == "creation":
        created = str(ct.creation_date_time or "")[:10]
        try:
            return date.fromisoformat(created)
        except ValueError:
            pass
    return datetime.now(timezone.utc).date()
