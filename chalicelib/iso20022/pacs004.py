"""pacs.004.001.09 PaymentReturn of a received pacs.008, CBPR+ shaped, deterministic.

The original's data come from ``CreditTransfer.to_dict()`` (a stored payment's
``credit_transfer``) or the CreditTransfer itself. One transaction is returned per
message (CBPR+: NbOfTxs = 1): the first, or the one named by ``transaction``.

The return flows back along the chain: our InstgAgt is ``instructing_agent_bic`` (else the
original's instructed agent), our InstdAgt is the original's instructing agent. In the
return chain (RtrChain) the roles of the parties are swapped: its Dbtr is the original
creditor (who gives the money back) and its Cdtr the original debtor; RtrChain is written
only when both names are known (both are mandatory in it).

``reason_code`` is an ExternalReturnReason1Code; FOCR (return following a cancellation
request) is the answer to an accepted camt.056; RETURN_REASONS lists the usual others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

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
    original: Mapping[str, Any] | Any,
    *,
    msg_id: str,
    return_id: str,
    created_at: datetime,
    settlement_date: date | str,
    reason_code: str = "FOCR",
    narrative: str | None = None,
    transaction: str | None = None,
    returned_amount: str | None = None,
    currency: str | None = None,
    charge_bearer: str | None = None,
    instructing_agent_bic: str | None = None,
    return_debtor_name: str | None = None,
    return_creditor_name: str | None = None,
) -> bytes:
    """A bare pacs.004.001.09 Document returning one transaction of ``original``.

    ``settlement_date``: IntrBkSttlmDt of the return. ``transaction``: UETR, EndToEndId or
    TxId of the transaction to return (default: the first). ``returned_amount``/``currency``
    default to the original's interbank settlement amount (when the original dict carries
    per-transaction amounts, the chosen transaction's). ``charge_bearer`` defaults to the
    original's. Raises ValueError for arguments the schema would refuse.
    """
    data = original.to_dict() if hasattr(original, "to_dict") else dict(original)
    tx, first = _pick(data, transaction)

    def field(name: str) -> Any:
        """The chosen transaction's value, else the top-level one (which is the first's)."""
        value = tx.get(name)
        return value if value is not None or not first else data.get(name)

    msg_id = identifier(msg_id, "msg_id")
    return_id = identifier(return_id, "return_id")
    if not data.get("msg_id") or not data.get("message_type"):
        raise ValueError("the original has no msg_id/message_type")
    check(CODE4, reason_code, "reason_code")
    if reason_code == "NARR" and not text(narrative or "", 105):
        raise ValueError("NARR needs a narrative")
    day = settlement_date.isoformat() if isinstance(settlement_date, date) else settlement_date
    check(ISO_DATE, day, "settlement_date")
    amount = returned_amount if returned_amount is not None else field("amount")
    ccy = currency if currency is not None else field("currency")
    bearer = charge_bearer or field("charge_bearer")
    if bearer is not None and bearer not in CHARGE_BEARERS:
        raise ValueError(f"charge_bearer {bearer!r} is not valid: {', '.join(CHARGE_BEARERS)}")
    if instructing_agent_bic is not None:
        check(BIC, instructing_agent_bic, "instructing_agent_bic")
    method = data.get("settlement_method") or "INDA"
    if method not in SETTLEMENT_METHODS:
        method = "INDA"

    b = _B
    doc = b.document()
    rtr = b.sub(doc, "PmtRtr")
    grp = b.sub(rtr, "GrpHdr")
    b.sub(grp, "MsgId", msg_id)
    b.sub(grp, "CreDtTm", iso(created_at, "created_at"))
    b.sub(grp, "NbOfTxs", "1")
    sttlm = b.sub(grp, "SttlmInf")
    b.sub(sttlm, "SttlmMtd", method)
    clr = data.get("clearing_system")
    if method == "CLRG" and clr:
        b.sub(b.sub(sttlm, "ClrSys"), "Cd" if _CLR_CODE.match(clr) else "Prtry", text(clr, 35))

    t = b.sub(rtr, "TxInf")
    b.sub(t, "RtrId", return_id)
    og = b.sub(t, "OrgnlGrpInf")
    b.sub(og, "OrgnlMsgId", text(data["msg_id"], 35))
    b.sub(og, "OrgnlMsgNmId", text(data["message_type"], 35))
    b.opt(og, "OrgnlCreDtTm", data.get("creation_date_time"))
    b.opt(t, "OrgnlInstrId", tx.get("instr_id"))
    b.opt(t, "OrgnlEndToEndId", tx.get("end_to_end_id"))
    b.opt(t, "OrgnlTxId", tx.get("tx_id"))
    b.uetr(t, "OrgnlUETR", tx.get("uetr"))
    b.amount(t, "RtrdIntrBkSttlmAmt", amount, ccy, required=True)
    b.sub(t, "IntrBkSttlmDt", day)
    b.opt(t, "ChrgBr", bearer)
    if instructing_agent_bic:
        b.agent(t, "InstgAgt", instructing_agent_bic, "BICFI")
    else:
        b.agent(t, "InstgAgt", field("instructed_agent"), field("instructed_agent_scheme"))
    b.agent(t, "InstdAgt", field("instructing_agent"), field("instructing_agent_scheme"))
    debtor = text(return_debtor_name or field("creditor_name") or "", 140)
    creditor = text(return_creditor_name or field("debtor_name") or "", 140)
    if debtor and creditor:
        chain = b.sub(t, "RtrChain")
        b.party(chain, "Dbtr", debtor, "Pty")
        b.party(chain, "Cdtr", creditor, "Pty")
    info = b.sub(t, "RtrRsnInf")
    b.sub(b.sub(info, "Rsn"), "Cd", reason_code)
    b.narrative(info, narrative)
    ref = b.sub(t, "OrgnlTxRef")
    b.amount(ref, "IntrBkSttlmAmt", field("amount"), field("currency"))
    settled = field("interbank_settlement_date")
    if settled and ISO_DATE.match(settled):
        b.sub(ref, "IntrBkSttlmDt", settled)
    if not len(ref):
        t.remove(ref)
    return serialise(doc)


def validate_pacs004(data: bytes) -> None:
    """Parse (securely) and validate a pacs.004.001.09; raise MessageRejected if invalid."""
    schemas.validate(parse_xml(data), PACS004)


def _pick(data: dict[str, Any], wanted: str | None) -> tuple[dict[str, Any], bool]:
    """(the transaction to return as a dict, whether it is the first)."""
    txs = list(data.get("transactions") or ())
    if not txs:
        txs = [{k: data.get(k) for k in ("instr_id", "end_to_end_id", "tx_id", "uetr")}]
    if wanted is None:
        return dict(txs[0]), True
    for i, t in enumerate(txs):
        if wanted in (t.get("uetr"), t.get("end_to_end_id"), t.get("tx_id")):
            return dict(t), i == 0
    raise ValueError(f"the original has no transaction {wanted!r}")
