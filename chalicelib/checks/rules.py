"""The stateless business rules, each a small named function with its ISO reason code.

A rule reads the extracted credit transfer (``CreditTransfer.to_dict()``) through a
``Context`` (settings, reference date, the transactions) and returns one verdict for the
whole message; a failure names the transaction (``tx 2``) when there are several.
Narratives are short and carry no payment data beyond what locates the fault: an agent's
BIC or a currency code, never an account number or a name.

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
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from chalicelib.iso20022.errors import safe_text

from .reference import COUNTRIES, CURRENCIES, MINOR_UNITS, NOT_A_SETTLEMENT_CURRENCY
from .settings import CheckSettings

Verdict = dict[str, Any]

_BIC = re.compile(r"[A-Z]{4}([A-Z]{2})[A-Z0-9]{2}(?:[A-Z0-9]{3})?")
_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_AGENT_ROLES = (
    ("instructing_agent", "InstgAgt"), ("instructed_agent", "InstdAgt"),
    ("debtor_agent", "DbtrAgt"), ("creditor_agent", "CdtrAgt"),
    ("previous_instructing_agent1", "PrvsInstgAgt1"), ("previous_instructing_agent2", "PrvsInstgAgt2"),
    ("previous_instructing_agent3", "PrvsInstgAgt3"), ("intermediary_agent1", "IntrmyAgt1"),
    ("intermediary_agent2", "IntrmyAgt2"), ("intermediary_agent3", "IntrmyAgt3"),
)
_BAH_BIC_SCHEMES = ("BICFI", "AnyBIC")
_MAX_LISTED = 3  # problems named in one narrative


class Context:
    """What every rule reads besides the message: computed once per ``run``."""

    __slots__ = ("cbpr", "multi", "settings", "today", "txs")

    def __init__(self, ct: dict[str, Any], settings: CheckSettings, today: date) -> None:
        self.settings = settings
        self.today = today
        txs = ct.get("transactions") or ()
        # Dicts recorded before per-transaction details existed: the top level is the first tx.
        self.txs: list[dict[str, Any]] = list(txs) if txs and "amount" in txs[0] else [ct]
        self.multi = len(self.txs) > 1
        self.cbpr = (ct.get("biz_svc") or "").startswith(settings.cbpr_service_prefix)

    def where(self, index: int) -> str:
        return f"tx {index + 1}: " if self.multi else ""


Rule = Callable[[dict[str, Any], Context], Verdict]
RULES: list[Rule] = []


def rule(reason_code: str) -> Callable[[Callable[..., Verdict]], Rule]:
    """Register a rule in order; ``reason_code`` is its main code (see the module doc)."""

    def register(fn):
        fn.reason_code = reason_code
        RULES.append(fn)
        return fn

    return register


def verdict(rule: str, passed: bool, reason_code: str, narrative: str) -> Verdict:
    return {"rule": rule, "passed": passed, "reason_code": None if passed else reason_code,
            "narrative": narrative}


def _ok(name: str, narrative: str) -> Verdict:
    return {"rule": name, "passed": True, "reason_code": None, "narrative": narrative}


def _fail(name: str, code: str, problems: list[str]) -> Verdict:
    text = "; ".join(problems[:_MAX_LISTED])
    if len(problems) > _MAX_LISTED:
        text += f"; and {len(problems) - _MAX_LISTED} more"
    return {"rule": name, "passed": False, "reason_code": code, "narrative": safe_text(text)}


def _decimal(text: Any) -> Decimal | None:
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
def bah_message_definition(ct: dict[str, Any], cx: Context) -> Verdict:
    """BAH MsgDefIdr names the Document's message definition."""
    name = "bah_message_definition"
    if not ct.get("app_hdr_type"):
        return _ok(name, "no business application header")
    declared = (ct.get("msg_def_idr") or "").strip()
    if declared == ct.get("message_type"):
        return _ok(name, "BAH MsgDefIdr matches the Document")
    return _fail(name, "FF01", [f"BAH MsgDefIdr is not the Document's message type {ct.get('message_type')}"])


@rule("FF01")
def bah_business_message_id(ct: dict[str, Any], cx: Context) -> Verdict:
    """BAH BizMsgIdr equals GrpHdr/MsgId (CBPR+ usage rule)."""
    name = "bah_business_message_id"
    if not ct.get("app_hdr_type"):
        return _ok(name, "no business application header")
    if (ct.get("biz_msg_idr") or "") == (ct.get("msg_id") or ""):
        return _ok(name, "BAH BizMsgIdr matches GrpHdr/MsgId")
    return _fail(name, "FF01", ["BAH BizMsgIdr differs from GrpHdr/MsgId"])


@rule("AM19")
def transaction_count(ct: dict[str, Any], cx: Context) -> Verdict:
    """GrpHdr/NbOfTxs equals the number of CdtTrfTxInf."""
    name = "transaction_count"
    count = len(ct.get("transactions") or ()) or 1
    text = str(ct.get("nb_of_txs") or "").strip()
    if text.isdigit() and int(text) == count:
        return _ok(name, "NbOfTxs matches the transactions")
    return _fail(name, "AM19", [f"NbOfTxs does not match the {count} transaction(s)"])


def _sum(cx: Context) -> Decimal | None:
    total = Decimal(0)
    for tx in cx.txs:
        amount = _decimal(tx.get("amount"))
        if amount is None:
            return None
        total += amount
    return total


@rule("AM16")
def control_sum(ct: dict[str, Any], cx: Context) -> Verdict:
    """GrpHdr/CtrlSum, when present, is the sum of the transactions' amounts."""
    name = "control_sum"
    given = ct.get("ctrl_sum")
    if given in (None, ""):
        return _ok(name, "no CtrlSum")
    ctrl, total = _decimal(given), _sum(cx)
    if ctrl is not None and total is not None and ctrl == total:
        return _ok(name, "CtrlSum matches the transactions")
    return _fail(name, "AM16", ["CtrlSum is not the sum of the interbank settlement amounts"])


@rule("AM16")
def total_settlement_amount(ct: dict[str, Any], cx: Context) -> Verdict:
    """GrpHdr/TtlIntrBkSttlmAmt, when present, is the sum, in the transactions' currency."""
    name = "total_settlement_amount"
    given = ct.get("total_interbank_settlement_amount")
    if given in (None, ""):
        return _ok(name, "no TtlIntrBkSttlmAmt")
    ccy = ct.get("total_interbank_settlement_currency")
    if any(tx.get("currency") != ccy for tx in cx.txs):
        return _fail(name, "AM16", ["TtlIntrBkSttlmAmt currency differs from a transaction's"])
    ttl, total = _decimal(given), _sum(cx)
    if ttl is not None and total is not None and ttl == total:
        return _ok(name, "TtlIntrBkSttlmAmt matches the transactions")
    return _fail(name, "AM16", ["TtlIntrBkSttlmAmt is not the sum of the interbank settlement amounts"])


@rule("NARR")
def transactions_per_message(ct: dict[str, Any], cx: Context) -> Verdict:
    """No more transactions than one payment carries (CheckSettings.max_transactions)."""
    name = "transactions_per_message"
    limit = cx.settings.max_transactions
    if len(cx.txs) <= limit:
        return _ok(name, f"at most {limit} transaction(s) per message")
    return _fail(name, "NARR", [f"at most {limit} transaction(s) per message are supported"])


# -- parties and identifiers --------------------------------------------------------------

def _bic_problem(bic: str) -> str | None:
    m = _BIC.fullmatch(bic)
    if m is None:
        return "is not ISO 9362 (4 letters, country, 2-char location, optional 3-char branch)"
    if m.group(1) not in COUNTRIES:
        return "has no ISO 3166 country"
    return None


@rule("RC01")
def bic_structure(ct: dict[str, Any], cx: Context) -> Verdict:
    """Every agent BIC (and the BAH's) has the ISO 9362 structure and a real country."""
    name = "bic_structure"
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()

    def check(bic: str, label: str) -> None:
        if (bic, label) in seen:
            return
        seen.add((bic, label))
        why = _bic_problem(bic)
        if why:
            problems.append(f"{label} BIC {bic[:11]} {why}")

    for prefix, label in (("bah_from", "BAH Fr"), ("bah_to", "BAH To")):
        if ct.get(prefix) and ct.get(prefix + "_scheme") in _BAH_BIC_SCHEMES:
            check(ct[prefix], label)
    for i, tx in enumerate(cx.txs):
        for key, label in _AGENT_ROLES:
            if tx.get(key) and tx.get(key + "_scheme") == "BICFI":
                check(tx[key], cx.where(i) + label)
    if problems:
        return _fail(name, "RC01", problems)
    return _ok(name, "agent BICs are well-formed ISO 9362")


def _aba_ok(number: str) -> bool:
    """ABA routing number: 9 digits, 3-7-1 weighted sum divisible by 10."""
    if len(number) != 9 or not number.isdigit():
        return False
    d = [ord(c) - 48 for c in number]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 == 0


# Clearing-system member identifiers with a published check (ClrSysId/Cd -> checker).
_MEMBER_ID_CHECKS = {"ClrSysMmbId:USABA": ("ABA routing number", _aba_ok)}


@rule("RC08")
def clearing_member_id(ct: dict[str, Any], cx: Context) -> Verdict:
    """Agents identified by a clearing-system member id whose scheme has a check digit
    (US ABA routing numbers) carry a well-formed one."""
    name = "clearing_member_id"
    problems: list[str] = []
    for i, tx in enumerate(cx.txs):
        for key, label in _AGENT_ROLES:
            check = _MEMBER_ID_CHECKS.get(tx.get(key + "_scheme"))
            if check and tx.get(key) and not check[1](tx[key]):
                problems.append(f"{cx.where(i)}{label} {check[0]} fails its check digit")
    if problems:
        return _fail(name, "RC08", problems)
    return _ok(name, "clearing-system member ids well-formed")


@rule("AGNT")
def bah_agents_match(ct: dict[str, Any], cx: Context) -> Verdict:
    """BAH Fr is the Instructing Agent and To the Instructed Agent (CBPR+ usage rule);
    8- and 11-character forms of one BIC match (``XXX`` is the primary office)."""
    name = "bah_agents_match"
    if not ct.get("app_hdr_type"):
        return _ok(name, "no business application header")
    problems: list[str] = []
    for bah_key, agent_key, what in (("bah_from", "instructing_agent", "BAH Fr is not the InstgAgt"),
                                     ("bah_to", "instructed_agent", "BAH To is not the InstdAgt")):
        party, scheme = ct.get(bah_key), ct.get(bah_key + "_scheme")
        # (no scheme: a dict recorded before schemes were extracted; a BIC-shaped value is one)
        if not party or not (scheme in _BAH_BIC_SCHEMES or (scheme is None and _BIC.fullmatch(party))):
            continue
        for i, tx in enumerate(cx.txs):
            agent = tx.get(agent_key)
            if agent and tx.get(agent_key + "_scheme") == "BICFI" and _bic11(agent) != _bic11(party):
                problems.append(cx.where(i) + what)
    if problems:
        return _fail(name, "AGNT", problems)
    return _ok(name, "BAH Fr/To match the instructing/instructed agents")


@rule("FF01")
def uetr_format(ct: dict[str, Any], cx: Context) -> Verdict:
    """Each UETR, when present, is a lower-case UUID v4 (RFC 4122 variant)."""
    name = "uetr_format"
    problems = []
    for i, tx in enumerate(cx.txs):
        uetr = tx.get("uetr")
        if uetr:
            if _UUID4.fullmatch(uetr) is None:
                problems.append(cx.where(i) + "UETR is not a UUID v4")
        elif cx.settings.uetr_required:
            problems.append(cx.where(i) + "UETR missing")
    if problems:
        return _fail(name, "FF01", problems)
    return _ok(name, "UETRs are UUID v4")


_schwifty: tuple | None = None


def _iban_checker():
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
def iban_valid(ct: dict[str, Any], cx: Context) -> Verdict:
    """Debtor and creditor IBANs: country, length for the country, check digits (schwifty)."""
    name = "iban_valid"
    problems = []
    for i, tx in enumerate(cx.txs):
        for party in ("debtor", "creditor"):
            account = tx.get(party + "_account")
            if account and tx.get(party + "_account_scheme") == "IBAN":
                why = _iban_problem(account)
                if why:
                    problems.append(f"{cx.where(i)}{party} account: {why}")
    if problems:
        return _fail(name, "AC01", problems)
    return _ok(name, "IBANs are valid")


# -- currency and amounts -----------------------------------------------------------------

def _currencies(ct: dict[str, Any], cx: Context):
    for i, tx in enumerate(cx.txs):
        yield cx.where(i), tx.get("currency")
    if ct.get("total_interbank_settlement_currency"):
        yield "TtlIntrBkSttlmAmt: ", ct["total_interbank_settlement_currency"]


@rule("AM11")
def currency_known(ct: dict[str, Any], cx: Context) -> Verdict:
    """Every currency is a current ISO 4217 code."""
    name = "currency_known"
    problems = [f"{where}currency {str(ccy)[:3]} is not ISO 4217" if ccy else f"{where}currency missing"
                for where, ccy in _currencies(ct, cx) if ccy not in CURRENCIES]
    if problems:
        return _fail(name, "AM11", problems)
    return _ok(name, "currencies are ISO 4217")


@rule("AM03")
def currency_allowed(ct: dict[str, Any], cx: Context) -> Verdict:
    """No metal, test code, unit of account or blocked code; only listed ones if a list is set."""
    name = "currency_allowed"
    s = cx.settings
    problems = []
    for where, ccy in _currencies(ct, cx):
        if ccy not in CURRENCIES:
            continue  # currency_known reports it
        if ccy in NOT_A_SETTLEMENT_CURRENCY:
            problems.append(f"{where}{ccy} is not a settlement currency (metal, test code or unit of account)")
        elif ccy in s.blocked_currencies or (s.allowed_currencies and ccy not in s.allowed_currencies):
            problems.append(f"{where}{ccy} is not an allowed currency")
    if problems:
        return _fail(name, "AM03", problems)
    return _ok(name, "currencies are allowed")


@rule("CH20")
def amount_decimals(ct: dict[str, Any], cx: Context) -> Verdict:
    """No more significant decimals than the currency's ISO 4217 minor unit (trailing
    zeros do not count: 7.00000 EUR is 7.00 EUR)."""
    name = "amount_decimals"
    problems = []
    amounts = [(cx.where(i), tx.get("amount"), tx.get("currency")) for i, tx in enumerate(cx.txs)]
    if ct.get("total_interbank_settlement_amount"):
        amounts.append(("TtlIntrBkSttlmAmt: ", ct["total_interbank_settlement_amount"],
                        ct.get("total_interbank_settlement_currency")))
    for where, text, ccy in amounts:
        units = MINOR_UNITS.get(ccy)
        value = _decimal(text)
        if units is None or value is None:
            continue  # other rules report unknown currencies and unreadable amounts
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > units:
            problems.append(f"{where}{ccy} allows {units} decimal(s)")
    if problems:
        return _fail(name, "CH20", problems)
    return _ok(name, "decimals fit the currencies")


@rule("AM12")
def amount_positive(ct: dict[str, Any], cx: Context) -> Verdict:
    """Each interbank settlement amount is a number greater than zero (AM01 when zero)."""
    name = "amount_positive"
    problems, code = [], "AM12"
    for i, tx in enumerate(cx.txs):
        value = _decimal(tx.get("amount"))
        if value is None or value < 0:
            problems.append(cx.where(i) + "interbank settlement amount missing or invalid")
        elif value == 0:
            problems.append(cx.where(i) + "interbank settlement amount is zero")
    if problems:
        if all(p.endswith("is zero") for p in problems):
            code = "AM01"
        return _fail(name, code, problems)
    return _ok(name, "amounts are greater than zero")


@rule("AM02")
def amount_within_limits(ct: dict[str, Any], cx: Context) -> Verdict:
    """Each amount within [min, max] of CheckSettings (per currency when configured);
    AM02 above the maximum, AM06 below the minimum."""
    name = "amount_within_limits"
    s = cx.settings
    problems, above = [], False
    for i, tx in enumerate(cx.txs):
        value, ccy = _decimal(tx.get("amount")), tx.get("currency")
        if value is None:
            continue  # amount_positive reports it
        high = s.max_amount_by_currency.get(ccy, s.max_amount)
        low = s.min_amount_by_currency.get(ccy, s.min_amount)
        if value > high:
            above = True
            problems.append(f"{cx.where(i)}amount above the {ccy} maximum {high}")
        elif value < low:
            problems.append(f"{cx.where(i)}amount below the {ccy} minimum {low}")
    if problems:
        return _fail(name, "AM02" if above else "AM06", problems)
    return _ok(name, "amounts within limits")


# -- dates and charges --------------------------------------------------------------------

@rule("DT01")
def settlement_date_window(ct: dict[str, Any], cx: Context) -> Verdict:
    """IntrBkSttlmDt, when present, within [today - past, today + future] days."""
    name = "settlement_date_window"
    s = cx.settings
    earliest = cx.today - timedelta(days=s.settlement_days_past)
    latest = cx.today + timedelta(days=s.settlement_days_future)
    problems = []
    for i, tx in enumerate(cx.txs):
        text = tx.get("interbank_settlement_date")
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
        return _fail(name, "DT01", problems)
    return _ok(name, "settlement dates within the window")


@rule("BE19")
def charge_bearer_allowed(ct: dict[str, Any], cx: Context) -> Verdict:
    """ChrgBr is one of the allowed codes (the CBPR+ set for CBPR+ traffic)."""
    name = "charge_bearer_allowed"
    allowed = cx.settings.cbpr_charge_bearers if cx.cbpr else cx.settings.charge_bearers
    problems = []
    for i, tx in enumerate(cx.txs):
        code = tx.get("charge_bearer")
        if code not in allowed:
            scope = " in CBPR+" if cx.cbpr else ""
            problems.append(f"{cx.where(i)}charge bearer {str(code)[:4]} not allowed{scope}" if code
                            else cx.where(i) + "charge bearer missing")
    if problems:
        return _fail(name, "BE19", problems)
    return _ok(name, "charge bearers allowed")


@rule("RR04")
def sanctions_screening(ct: dict[str, Any], cx: Context) -> Verdict:
    """Debtor and creditor names against the sanctions list, agent countries against embargoes
    (RR04 RegulatoryReason: see chalicelib/checks/sanctions.py for why not BE01)."""
    from .sanctions import screen  # here, not at the top: sanctions imports this module

    return screen(ct)[0]


def reference_date(ct: dict[str, Any], settings: CheckSettings, today: date | None = None) -> date:
    """``today`` if given; else the message's creation date (date_reference="creation",
    falling back to the clock when CreDtTm is unreadable) or the UTC clock."""
    if today is not None:
        return today
    if settings.date_reference == "creation":
        created = str(ct.get("creation_date_time") or "")[:10]
        try:
            return date.fromisoformat(created)
        except ValueError:
            pass
    return datetime.now(timezone.utc).date()
