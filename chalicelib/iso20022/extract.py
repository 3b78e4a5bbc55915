"""Key identifiers of a validated pacs.008, as plain strings for the domain layer.

Every text value is clipped to its XSD maximum length again (defence in depth: the XSD
already enforced it). Amounts and dateTimes are the text exactly as sent, whole
(``whole_text``: clipping would change an amount's value, or make a dateTime invalid). Agents are given
by their first identifier in ISO order (BICFI, ClrSysMmbId/MmbId, LEI, Othr/Id) and the
``*_scheme`` field names which one it was ("BICFI", "ClrSysMmbId" or
"ClrSysMmbId:<ClrSysId/Cd>", "LEI", "Othr").

The result is the domain's ``CreditTransfer`` (chalicelib/domain/models.py): the group
header, the BAH, and every CdtTrfTxInf as a ``Transaction`` with its identifiers and the
data the business rules need (amount, currency, dates, charge bearer, agents, debtor and
creditor). A transaction's instructing and instructed agents are its own, else the group
header's. Accounts are given as sent (IBAN or Othr/Id) with ``*_account_scheme``
"IBAN", "Othr" or "Othr:<SchmeNm/Cd|Prtry>". Names and accounts are payment data: they
belong in the event store (encrypted at rest), never in logs or narratives.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from chalicelib.domain.models import CreditTransfer, Transaction

from ._read import AGENT_IDS, Finder, whole_text
from .recognise import Recognised

# Agents of a CdtTrfTxInf besides the four named ones, as (element, field prefix).
_OTHER_AGENTS = tuple(
    (f"{el}{n}", f"{prefix}{n}")
    for el, prefix in (("PrvsInstgAgt", "previous_instructing_agent"), ("IntrmyAgt", "intermediary_agent"))
    for n in (1, 2, 3)
)


def _finder(ident: str) -> Finder:
    return Finder(ident, agent_ids=AGENT_IDS)  # pacs.008 agents are identified, never only named


def extract(rec: Recognised) -> CreditTransfer:
    f = _finder(rec.message_type)
    msg = rec.document[0]  # FIToFICstmrCdtTrf (guaranteed by the XSD)
    grp = f.find(msg, "GrpHdr")
    grp_instg = f.agent(grp, "InstgAgt")
    grp_instd = f.agent(grp, "InstdAgt")
    grp_date = f.text(grp, "IntrBkSttlmDt", 10, strip=True)
    transactions = tuple(_transaction(f, t, grp_instg, grp_instd, grp_date) for t in f.all(msg, "CdtTrfTxInf"))
    ttl = f.find(grp, "TtlIntrBkSttlmAmt")
    values: dict[str, Any] = dict(
        message_type=rec.message_type,
        msg_id=f.text(grp, "MsgId", 35) or "",
        creation_date_time=whole_text(f.find(grp, "CreDtTm")) or "",
        nb_of_txs=f.text(grp, "NbOfTxs", 15, strip=True) or "",
        ctrl_sum=whole_text(f.find(grp, "CtrlSum")),
        total_interbank_settlement_amount=whole_text(ttl),
        total_interbank_settlement_currency=_clip(ttl.get("Ccy", ""), 3) if ttl is not None else None,
        settlement_method=f.text(grp, "SttlmInf/SttlmMtd", 4, strip=True),
        clearing_system=(f.text(grp, "SttlmInf/ClrSys/Cd", 5, strip=True) or f.text(grp, "SttlmInf/ClrSys/Prtry", 35)),
        interbank_settlement_date=grp_date,
        instructing_agent=grp_instg[0],
        instructing_agent_scheme=grp_instg[1],
        instructed_agent=grp_instd[0],
        instructed_agent_scheme=grp_instd[1],
        transactions=transactions,
        envelope=rec.envelope,
        notes=rec.notes,
    )
    values.update(_bah(rec))
    return CreditTransfer(**values)


_Agent = tuple[str | None, str | None]  # (identifier, scheme)


def _transaction(
    f: Finder, t: etree._Element, grp_instg: _Agent, grp_instd: _Agent, grp_date: str | None
) -> Transaction:
    amt = f.find(t, "IntrBkSttlmAmt")
    instg = f.agent(t, "InstgAgt")
    if instg[0] is None:
        instg = grp_instg
    instd = f.agent(t, "InstdAgt")
    if instd[0] is None:
        instd = grp_instd
    dbtr_agt = f.agent(t, "DbtrAgt")
    cdtr_agt = f.agent(t, "CdtrAgt")
    values: dict[str, str | None] = dict(
        instr_id=f.text(t, "PmtId/InstrId", 35),
        end_to_end_id=f.text(t, "PmtId/EndToEndId", 35),
        tx_id=f.text(t, "PmtId/TxId", 35),
        uetr=f.text(t, "PmtId/UETR", 36, strip=True),
        amount=whole_text(amt),
        currency=_clip(amt.get("Ccy", "") if amt is not None else "", 3),
        interbank_settlement_date=f.text(t, "IntrBkSttlmDt", 10, strip=True) or grp_date,
        charge_bearer=f.text(t, "ChrgBr", 4, strip=True),
        instructing_agent=instg[0],
        instructing_agent_scheme=instg[1],
        instructed_agent=instd[0],
        instructed_agent_scheme=instd[1],
        debtor_agent=dbtr_agt[0],
        debtor_agent_scheme=dbtr_agt[1],
        creditor_agent=cdtr_agt[0],
        creditor_agent_scheme=cdtr_agt[1],
    )
    for element, prefix in _OTHER_AGENTS:
        values[prefix], values[prefix + "_scheme"] = f.agent(t, element)
    for party, prefix in (("Dbtr", "debtor"), ("Cdtr", "creditor")):
        values[prefix + "_name"] = f.text(t, party + "/Nm", 140)
        values[prefix + "_country"] = f.text(t, party + "/PstlAdr/Ctry", 2, strip=True)
        values[prefix + "_account"], values[prefix + "_account_scheme"] = f.account(t, party + "Acct")
    return Transaction(**values)


def _clip(value: str, max_len: int) -> str | None:
    return value.strip()[:max_len] or None


def _bah(rec: Recognised) -> dict[str, str | None]:
    """The BAH fields, none when there is no validated AppHdr."""
    if rec.app_hdr is None or rec.app_hdr_type is None:
        return {}
    h, hdr = _finder(rec.app_hdr_type), rec.app_hdr
    return dict(
        app_hdr_type=rec.app_hdr_type,
        **_party(h, hdr, "Fr", "bah_from"),
        **_party(h, hdr, "To", "bah_to"),
        biz_msg_idr=h.text(hdr, "BizMsgIdr", 35),
        msg_def_idr=h.text(hdr, "MsgDefIdr", 35),
        biz_svc=h.text(hdr, "BizSvc", 35),
        bah_cre_dt=whole_text(h.find(hdr, "CreDt")),
    )


def _party(h: Finder, hdr: etree._Element, which: str, prefix: str) -> dict[str, str | None]:
    """Fr/To (Party44Choice): the FI's first identifier, or the organisation's, with
    the scheme it was found under (``OrgId`` ones prefixed: "AnyBIC", "OrgLEI", ...)."""
    value: str | None = None
    scheme: str | None = None
    fi = h.find(hdr, f"{which}/FIId")
    if fi is not None:
        value, scheme = h.agent(fi, "")
    else:
        org = h.find(hdr, f"{which}/OrgId")
        if org is not None:
            for path, max_len, name in (
                ("Id/OrgId/AnyBIC", 11, "AnyBIC"),
                ("Id/OrgId/LEI", 20, "OrgLEI"),
                ("Id/OrgId/Othr/Id", 35, "OrgOthr"),
                ("Nm", 140, "Nm"),
            ):
                value = h.text(org, path, max_len, strip=name in ("AnyBIC", "OrgLEI"))
                if value:
                    scheme = name
                    break
    return {prefix: value, prefix + "_scheme": scheme if value else None}
