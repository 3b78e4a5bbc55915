"""Group header, BAH, agent and account rules (registered through ``registry.rule``).

Imported by ``rules.py`` before ``rules_transactions.py``: RULES keeps that order. Reason
codes are explained in ``rules.py``'s docstring.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from chalicelib.domain.bic import BIC, acts_for, bic11
from chalicelib.domain.models import CreditTransfer

from .reference import COUNTRIES
from .registry import Context, _decimal, rule
from .verdicts import Outcome, agents, fail, ok

_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_BAH_BIC_SCHEMES = ("BICFI", "AnyBIC")


# -- message level ------------------------------------------------------------------------


@rule("AGNT")
def instructing_agent_allowed(ct: CreditTransfer, cx: Context) -> Outcome:
    """The tenant that sent the message may act for its instructing agents: GrpHdr/InstgAgt
    (when given) and every transaction's (its own, else the group header's) is a BICFI the
    stage maps the tenant to (``Settings.tenant_agents``; ``domain.bic.acts_for`` says how
    8- and 11-character BICs match). Without it a tenant could send as another bank, and
    take that bank's MsgIds and EndToEndIds, which are claimed per instructing agent, so
    that the bank's own payments were rejected as duplicates. An agent that is missing or
    not a BICFI is not one the tenant may act for: its claims would not be the tenant's.

    Run only when the stage maps tenants (``cx.agents`` is not None): the first rule, so
    its AGNT leads the rejection, and a message rule, so it rejects every transaction
    before any identifier is claimed or liquidity reserved (pipeline/decision.py)."""
    allowed = cx.agents or frozenset()

    def may_act_for(agent: str, scheme: str | None) -> bool:
        return scheme == "BICFI" and acts_for(allowed, agent)

    problems: list[str] = []
    group = (ct.instructing_agent, ct.instructing_agent_scheme)
    if ct.instructing_agent and not may_act_for(ct.instructing_agent, ct.instructing_agent_scheme):
        problems.append(f"GrpHdr InstgAgt {ct.instructing_agent[:11]} is not an agent this client may act for")
    for i, tx in enumerate(cx.txs):
        if not tx.instructing_agent:
            problems.append(f"{cx.where(i)}no InstgAgt: this client must name the agent it acts for")
        elif (tx.instructing_agent, tx.instructing_agent_scheme) != group and not may_act_for(
            tx.instructing_agent, tx.instructing_agent_scheme
        ):  # (the group header's, judged above)
            problems.append(
                f"{cx.where(i)}InstgAgt {tx.instructing_agent[:11]} is not an agent this client may act for"
            )
    if problems:
        return fail(problems)
    return ok("every instructing agent is one this client may act for")


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
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses (ValueError)
    if text.isascii() and text.isdigit() and len(text) <= 15 and int(text) == count:
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
    m = BIC.fullmatch(bic)
    if m is None:
        return "is not ISO 9362 (4-char party prefix, country, 2-char suffix, optional 3-char branch)"
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
    "ClrSysMmbId:USABA": ("ABA routing number", _aba_ok)
}


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
        (ct.bah_to, ct.bah_to_scheme, "instructed_agent", "BAH To is not the InstdAgt"),
    ):
        # (no scheme: recorded before schemes were extracted; a BIC-shaped value is one)
        if not party or not (scheme in _BAH_BIC_SCHEMES or (scheme is None and BIC.fullmatch(party))):
            continue
        for i, tx in enumerate(cx.txs):
            agent: str | None = getattr(tx, role)
            if agent and getattr(tx, role + "_scheme") == "BICFI" and bic11(agent) != bic11(party):
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


_IbanChecker = tuple[Callable[[str], object], tuple[tuple[type[Exception], str], ...], tuple[type[Exception], ...]]
_schwifty: _IbanChecker | None = None


def _iban_checker() -> _IbanChecker:
    """schwifty's IBAN and its errors mapped to narratives, imported on first use
    (the import costs ~50 ms: only paid by a process that meets an IBAN)."""
    global _schwifty
    if _schwifty is None:
        from schwifty import IBAN
        from schwifty import exceptions as e

        _schwifty = (
            IBAN,
            (
                (e.InvalidChecksumDigits, "IBAN check digits are wrong"),
                (e.InvalidLength, "IBAN length is wrong for its country"),
                (e.InvalidCountryCode, "IBAN country is unknown"),
                (e.InvalidStructure, "IBAN structure is wrong for its country"),
            ),
            (e.SchwiftyException, ValueError),
        )
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
        for party, account, scheme in (
            ("debtor", tx.debtor_account, tx.debtor_account_scheme),
            ("creditor", tx.creditor_account, tx.creditor_account_scheme),
        ):
            if account and scheme == "IBAN":
                why = _iban_problem(account)
                if why:
                    problems.append(f"{cx.where(i)}{party} account: {why}")
    if problems:
        return fail(problems)
    return ok("IBANs are valid")
