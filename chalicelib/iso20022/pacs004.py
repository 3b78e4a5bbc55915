"""pacs.004.001.09 PaymentReturn of a received pacs.008, CBPR+ shaped, deterministic.

The original is the payment's ``CreditTransfer``. One transaction is returned per
message (CBPR+: NbOfTxs = 1): the first, or the one named by ``transaction``; or every
transaction of the original, one TxInf each (ISO 20022 allows several: what a payment of
several transactions settled is returned by one message, whole).

The return flows back along the chain: our InstgAgt is ``instructing_agent_bic`` (else the
returned transaction's instructed agent), our InstdAgt is its instructing agent (a
transaction's agents are its own, else the group header's). In the
return chain (RtrChain) the roles of the parties are swapped: its Dbtr is the original
creditor (who gives the money back) and its Cdtr the original debtor; RtrChain is written
only when both names are known (both are mandatory in it).

``reason_code`` is an ExternalReturnReason1Code; FOCR (return following a cancellation
request) is the answer to an accepted camt.056; RETURN_REASONS lists the usual others.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from chalicelib.domain.models import CreditTransfer, Transaction

from . import schemas
from ._build import BIC, CODE4, ISO_DATE, Builder, check, identifier, iso, serialise, text
from .parse import parse_xml

PACS004 = "pacs.004.001.09"
_B = Builder(PACS004)

RETURN_REASONS = {
    "FOCR": "return following a cancellation request (camt.056)",
    "DUPL": "duplicate payment",
    "FR01": "fraud",
    "CUST": "requested by the debtor",
    "AC01": "incorrect account number",
    "AC04": "closed account number",
    "AC06": "blocked account",
    "AG01": "transaction forbidden on this account",
    "AM05": "duplication",
    "BE04": "missing or incorrect creditor address",
    "MS02": "reason not specified by the end customer",
    "MS03": "reason not specified by the agent",
    "RR04": "regulatory reason",
    "NARR": "reason given in the narrative",
}
CHARGE_BEARERS = ("DEBT", "CRED", "SHAR", "SLEV")
SETTLEMENT_METHODS = ("INDA", "INGA", "COVE", "CLRG")
_CLR_CODE = re.compile(r"^[A-Z0-9]{1,3}$")


def build_pacs004(
    original: CreditTransfer,
    *,
    msg_id: str,
    return_id: str,
    created_at: datetime,
    settlement_date: date | str,
    reason_code: str = "FOCR",
    narrative: str | None = None,
    transaction: str | None = None,
    every_transaction: bool = False,
    returned_amount: str | None = None,
    currency: str | None = None,
    charge_bearer: str | None = None,
    instructing_agent_bic: str | None = None,
    return_debtor_name: str | None = None,
    return_creditor_name: str | None = None,
) -> bytes:
    """A bare pacs.004.001.09 Document returning transactions of ``original``.

    ``settlement_date``: IntrBkSttlmDt of the return. ``transaction``: UETR, EndToEndId or
    TxId of the transaction to return (default: the first); ``every_transaction``: all of
    them instead, one TxInf each (RtrId ``return_id``, then suffixed "-2", "-3"...).
    ``returned_amount``/``currency`` default to each transaction's interbank settlement
    amount (they can be given for one transaction only). ``charge_bearer``
    defaults to the transaction's. Raises ValueError for arguments the schema would refuse.
    """
    if not isinstance(original, CreditTransfer):
        raise TypeError("original must be a CreditTransfer (CreditTransfer.from_stored for a stored dict)")
    txs = list(original.transactions) if every_transaction else [_pick(original, transaction)]
    if not txs:
        raise ValueError("the original has no transaction")
    if len(txs) > 1 and (returned_amount is not None or currency is not None):
        raise ValueError("returned_amount and currency are for the return of one transaction")

    msg_id = identifier(msg_id, "msg_id")
    return_id = identifier(return_id, "return_id")
    if not original.msg_id or not original.message_type:
        raise ValueError("the original has no msg_id/message_type")
    check(CODE4, reason_code, "reason_code")
    if reason_code == "NARR" and not text(narrative or "", 105):
        raise ValueError("NARR needs a narrative")
    day = settlement_date.isoformat() if isinstance(settlement_date, date) else settlement_date
    check(ISO_DATE, day, "settlement_date")
    if instructing_agent_bic is not None:
        check(BIC, instructing_agent_bic, "instructing_agent_bic")
    method = original.settlement_method or "INDA"
    if method not in SETTLEMENT_METHODS:
        method = "INDA"

    b = _B
    doc = b.document()
    rtr = b.sub(doc, "PmtRtr")
    grp = b.sub(rtr, "GrpHdr")
    b.sub(grp, "MsgId", msg_id)
    b.sub(grp, "CreDtTm", iso(created_at, "created_at"))
    b.sub(grp, "NbOfTxs", str(len(txs)))
    sttlm = b.sub(grp, "SttlmInf")
    b.sub(sttlm, "SttlmMtd", method)
    clr = original.clearing_system
    if method == "CLRG" and clr:
        b.sub(b.sub(sttlm, "ClrSys"), "Cd" if _CLR_CODE.match(clr) else "Prtry", text(clr, 35))

    for n, tx in enumerate(txs, start=1):
        amount = returned_amount if returned_amount is not None else tx.amount
        ccy = currency if currency is not None else tx.currency
        bearer = charge_bearer or tx.charge_bearer
        if bearer is not None and bearer not in CHARGE_BEARERS:
            raise ValueError(f"charge_bearer {bearer!r} is not valid: {', '.join(CHARGE_BEARERS)}")
        t = b.sub(rtr, "TxInf")
        b.sub(t, "RtrId", return_id if n == 1 else f"{return_id[: 34 - len(str(n))]}-{n}")
        og = b.sub(t, "OrgnlGrpInf")
        b.sub(og, "OrgnlMsgId", text(original.msg_id, 35))
        b.sub(og, "OrgnlMsgNmId", text(original.message_type, 35))
        b.opt(og, "OrgnlCreDtTm", original.creation_date_time)
        b.opt(t, "OrgnlInstrId", tx.instr_id)
        b.opt(t, "OrgnlEndToEndId", tx.end_to_end_id)
        b.opt(t, "OrgnlTxId", tx.tx_id)
        b.uetr(t, "OrgnlUETR", tx.uetr)
        b.amount(t, "RtrdIntrBkSttlmAmt", amount, ccy, required=True)
        b.sub(t, "IntrBkSttlmDt", day)
        b.opt(t, "ChrgBr", bearer)
        if instructing_agent_bic:
            b.agent(t, "InstgAgt", instructing_agent_bic, "BICFI")
        else:
            b.agent(t, "InstgAgt", *_agent(original, tx, "instructed_agent"))
        b.agent(t, "InstdAgt", *_agent(original, tx, "instructing_agent"))
        debtor = text(return_debtor_name or tx.creditor_name or "", 140)
        creditor = text(return_creditor_name or tx.debtor_name or "", 140)
        if debtor and creditor:
            chain = b.sub(t, "RtrChain")
            b.party(chain, "Dbtr", debtor, "Pty")
            b.party(chain, "Cdtr", creditor, "Pty")
        info = b.sub(t, "RtrRsnInf")
        b.sub(b.sub(info, "Rsn"), "Cd", reason_code)
        b.narrative(info, narrative)
        ref = b.sub(t, "OrgnlTxRef")
        b.amount(ref, "IntrBkSttlmAmt", tx.amount, tx.currency)
        settled = tx.interbank_settlement_date or original.interbank_settlement_date
        if settled and ISO_DATE.match(settled):
            b.sub(ref, "IntrBkSttlmDt", settled)
        if not len(ref):
            t.remove(ref)
    return serialise(doc)


def validate_pacs004(data: bytes) -> None:
    """Parse (securely) and validate a pacs.004.001.09; raise MessageRejected if invalid."""
    schemas.validate(parse_xml(data), PACS004)


def _pick(original: CreditTransfer, wanted: str | None) -> Transaction:
    """The transaction to return: the first, or the one with that UETR, EndToEndId or TxId."""
    if not original.transactions:
        raise ValueError("the original has no transaction")
    if wanted is None:
        return original.transactions[0]
    for t in original.transactions:
        if wanted in (t.uetr, t.end_to_end_id, t.tx_id):
            return t
    raise ValueError(f"the original has no transaction {wanted!r}")


def _agent(original: CreditTransfer, tx: Transaction, role: str) -> tuple[str | None, str | None]:
    """The transaction's agent in ``role`` (its own, else the group header's: as extracted),
    else the group header's (for a CreditTransfer built by hand without it)."""
    for source in (tx, original):
        ident: str | None = getattr(source, role)
        if ident:
            scheme: str | None = getattr(source, role + "_scheme")
            return ident, scheme
    return None, None
