"""Key identifiers of a validated pacs.008, as plain strings for the domain layer.

Every value is clipped to its XSD maximum length again (defence in depth: the XSD
already enforced it). Amounts are the decimal text exactly as sent. Agents are given
by their first identifier in ISO order (BICFI, ClrSysMmbId/MmbId, LEI, Othr/Id) and the
``*_scheme`` field names which one it was ("BICFI", "ClrSysMmbId" or
"ClrSysMmbId:<ClrSysId/Cd>", "LEI", "Othr").

``transactions`` lists every CdtTrfTxInf with its identifiers and the data the business
rules need (amount, currency, dates, charge bearer, agents, debtor and creditor). The
top-level fields repeat the first transaction's, so single-transaction consumers need not
look further. Accounts are given as sent (IBAN or Othr/Id) with ``*_account_scheme``
"IBAN", "Othr" or "Othr:<SchmeNm/Cd|Prtry>". Names and accounts are payment data: they
belong in the event store (encrypted at rest), never in logs or narratives.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._read import AGENT_IDS, Finder, Item, Record
from .recognise import Recognised

# Agents of a CdtTrfTxInf besides the four named ones, as (element, field prefix).
_OTHER_AGENTS = tuple((f"{el}{n}", f"{prefix}{n}") for el, prefix in (
    ("PrvsInstgAgt", "previous_instructing_agent"), ("IntrmyAgt", "intermediary_agent"))
    for n in (1, 2, 3))


@dataclass(frozen=True)
class TransactionIds(Item):
    """One CdtTrfTxInf: its identifiers first (positional, as before), then its details.

    Every value is a string or None (JSON-safe); details default to None so that
    dicts recorded before they existed still load.
    """
    instr_id: str | None = None
    end_to_end_id: str | None = None
    tx_id: str | None = None
    uetr: str | None = None
    amount: str | None = None                   # IntrBkSttlmAmt, decimal text as sent
    currency: str | None = None
    interbank_settlement_date: str | None = None
    charge_bearer: str | None = None
    instructing_agent: str | None = None        # tx level, else GrpHdr
    instructing_agent_scheme: str | None = None
    instructed_agent: str | None = None
    instructed_agent_scheme: str | None = None
    debtor_agent: str | None = None
    debtor_agent_scheme: str | None = None
    creditor_agent: str | None = None
    creditor_agent_scheme: str | None = None
    previous_instructing_agent1: str | None = None
    previous_instructing_agent1_scheme: str | None = None
    previous_instructing_agent2: str | None = None
    previous_instructing_agent2_scheme: str | None = None
    previous_instructing_agent3: str | None = None
    previous_instructing_agent3_scheme: str | None = None
    intermediary_agent1: str | None = None
    intermediary_agent1_scheme: str | None = None
    intermediary_agent2: str | None = None
    intermediary_agent2_scheme: str | None = None
    intermediary_agent3: str | None = None
    intermediary_agent3_scheme: str | None = None
    debtor_name: str | None = None
    debtor_country: str | None = None           # Dbtr/PstlAdr/Ctry
    debtor_account: str | None = None
    debtor_account_scheme: str | None = None
    creditor_name: str | None = None
    creditor_country: str | None = None
    creditor_account: str | None = None
    creditor_account_scheme: str | None = None


Transaction = TransactionIds  # the fuller name for what the class now carries
# Top-level fields that repeat the first transaction's value.
_FIRST_TX_FIELDS = (
    "amount", "currency", "interbank_settlement_date", "charge_bearer",
    "instructing_agent", "instructing_agent_scheme", "instructed_agent",
    "instructed_agent_scheme", "debtor_agent", "debtor_agent_scheme",
    "creditor_agent", "creditor_agent_scheme", "debtor_name", "debtor_country",
    "debtor_account", "debtor_account_scheme", "creditor_name",
    "creditor_country", "creditor_account", "creditor_account_scheme",
)


@dataclass(frozen=True)
class CreditTransfer(Record):
    transaction_type = TransactionIds  # what `transactions` holds (Record.from_dict)

    message_type: str                       # "pacs.008.001.08"
    msg_id: str
    creation_date_time: str
    nb_of_txs: str
    ctrl_sum: str | None = None             # GrpHdr/CtrlSum, decimal text as sent
    total_interbank_settlement_amount: str | None = None    # GrpHdr/TtlIntrBkSttlmAmt
    total_interbank_settlement_currency: str | None = None
    settlement_method: str | None = None
    clearing_system: str | None = None      # SttlmInf/ClrSys/Cd or Prtry
    interbank_settlement_date: str | None = None
    # first CdtTrfTxInf
    instr_id: str | None = None
    end_to_end_id: str | None = None
    tx_id: str | None = None
    uetr: str | None = None
    amount: str | None = None               # IntrBkSttlmAmt, decimal text as sent
    currency: str | None = None
    instructing_agent: str | None = None
    instructing_agent_scheme: str | None = None
    instructed_agent: str | None = None
    instructed_agent_scheme: str | None = None
    debtor_agent: str | None = None
    debtor_agent_scheme: str | None = None
    creditor_agent: str | None = None
    creditor_agent_scheme: str | None = None
    charge_bearer: str | None = None
    debtor_name: str | None = None
    debtor_country: str | None = None
    debtor_account: str | None = None       # IBAN or Othr/Id as sent
    debtor_account_scheme: str | None = None  # "IBAN", "Othr" or "Othr:<SchmeNm>"
    creditor_name: str | None = None
    creditor_country: str | None = None
    creditor_account: str | None = None
    creditor_account_scheme: str | None = None
    # Business Application Header (only when validated: head.001.001.02)
    app_hdr_type: str | None = None
    bah_from: str | None = None
    bah_from_scheme: str | None = None      # "BICFI", "ClrSysMmbId...", "LEI", "Othr", "AnyBIC", "OrgLEI", "OrgOthr", "Nm"
    bah_to: str | None = None
    bah_to_scheme: str | None = None
    biz_msg_idr: str | None = None
    msg_def_idr: str | None = None
    biz_svc: str | None = None
    bah_cre_dt: str | None = None
    # all transactions, for multi-transaction messages
    transactions: tuple[TransactionIds, ...] = field(default_factory=tuple)
    envelope: str | None = None             # wrapper root (Clark notation), None if bare
    notes: tuple[str, ...] = field(default_factory=tuple)


def _finder(ident: str) -> Finder:
    return Finder(ident, agent_ids=AGENT_IDS)  # pacs.008 agents are identified, never only named


def extract(rec: Recognised) -> CreditTransfer:
    f = _finder(rec.message_type)
    msg = rec.document[0]  # FIToFICstmrCdtTrf (guaranteed by the XSD)
    grp = f.find(msg, "GrpHdr")
    grp_instg = f.agent(grp, "InstgAgt")
    grp_instd = f.agent(grp, "InstdAgt")
    grp_date = f.text(grp, "IntrBkSttlmDt", 10, strip=True)
    transactions = tuple(_transaction(f, t, grp_instg, grp_instd, grp_date)
                         for t in f.all(msg, "CdtTrfTxInf"))
    first = transactions[0] if transactions else TransactionIds()
    ttl = f.find(grp, "TtlIntrBkSttlmAmt")
    values: dict[str, Any] = dict(
        message_type=rec.message_type,
        msg_id=f.text(grp, "MsgId", 35) or "",
        creation_date_time=f.text(grp, "CreDtTm", 35, strip=True) or "",
        nb_of_txs=f.text(grp, "NbOfTxs", 15, strip=True) or "",
        ctrl_sum=f.text(grp, "CtrlSum", 40, strip=True),
        total_interbank_settlement_amount=_clip(ttl.text or "", 40) if ttl is not None else None,
        total_interbank_settlement_currency=_clip(ttl.get("Ccy", ""), 3) if ttl is not None else None,
        settlement_method=f.text(grp, "SttlmInf/SttlmMtd", 4, strip=True),
        clearing_system=(f.text(grp, "SttlmInf/ClrSys/Cd", 5, strip=True)
                         or f.text(grp, "SttlmInf/ClrSys/Prtry", 35)),
        instr_id=first.instr_id, end_to_end_id=first.end_to_end_id,
        tx_id=first.tx_id, uetr=first.uetr,
        transactions=transactions, envelope=rec.envelope, notes=rec.notes,
    )
    for name in _FIRST_TX_FIELDS:
        values[name] = getattr(first, name)
    if not transactions:  # cannot pass the XSD; keep the group-level fallbacks
        values.update(instructing_agent=grp_instg[0], instructing_agent_scheme=grp_instg[1],
                      instructed_agent=grp_instd[0], instructed_agent_scheme=grp_instd[1],
                      interbank_settlement_date=grp_date)
    if rec.app_hdr is not None:
        values.update(_bah(rec))
    return CreditTransfer(**values)


def _transaction(f: Finder, t, grp_instg, grp_instd, grp_date) -> TransactionIds:
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
        amount=_clip((amt.text or "") if amt is not None else "", 40),
        currency=_clip(amt.get("Ccy", "") if amt is not None else "", 3),
        interbank_settlement_date=f.text(t, "IntrBkSttlmDt", 10, strip=True) or grp_date,
        charge_bearer=f.text(t, "ChrgBr", 4, strip=True),
        instructing_agent=instg[0], instructing_agent_scheme=instg[1],
        instructed_agent=instd[0], instructed_agent_scheme=instd[1],
        debtor_agent=dbtr_agt[0], debtor_agent_scheme=dbtr_agt[1],
        creditor_agent=cdtr_agt[0], creditor_agent_scheme=cdtr_agt[1],
    )
    for element, prefix in _OTHER_AGENTS:
        values[prefix], values[prefix + "_scheme"] = f.agent(t, element)
    for party, prefix in (("Dbtr", "debtor"), ("Cdtr", "creditor")):
        values[prefix + "_name"] = f.text(t, party + "/Nm", 140)
        values[prefix + "_country"] = f.text(t, party + "/PstlAdr/Ctry", 2, strip=True)
        values[prefix + "_account"], values[prefix + "_account_scheme"] = f.account(t, party + "Acct")
    return TransactionIds(**values)


def _clip(value: str, max_len: int) -> str | None:
    return value.strip()[:max_len] or None


def _bah(rec: Recognised) -> dict[str, str | None]:
    h, hdr = _finder(rec.app_hdr_type), rec.app_hdr
    return dict(
        app_hdr_type=rec.app_hdr_type,
        **_party(h, hdr, "Fr", "bah_from"), **_party(h, hdr, "To", "bah_to"),
        biz_msg_idr=h.text(hdr, "BizMsgIdr", 35),
        msg_def_idr=h.text(hdr, "MsgDefIdr", 35),
        biz_svc=h.text(hdr, "BizSvc", 35),
        bah_cre_dt=h.text(hdr, "CreDt", 35, strip=True),
    )


def _party(h: Finder, hdr, which: str, prefix: str) -> dict[str, str | None]:
    """Fr/To (Party44Choice): the FI's first identifier, or the organisation's, with
    the scheme it was found under (``OrgId`` ones prefixed: "AnyBIC", "OrgLEI", ...)."""
    value, scheme = None, None
    fi = h.find(hdr, f"{which}/FIId")
    if fi is not None:
        value, scheme = h.agent(fi, "")
    else:
        org = h.find(hdr, f"{which}/OrgId")
        if org is not None:
            for path, max_len, name in (("Id/OrgId/AnyBIC", 11, "AnyBIC"), ("Id/OrgId/LEI", 20, "OrgLEI"),
                                        ("Id/OrgId/Othr/Id", 35, "OrgOthr"), ("Nm", 140, "Nm")):
                value = h.text(org, path, max_len, strip=name in ("AnyBIC", "OrgLEI"))
                if value:
                    scheme = name
                    break
    return {prefix: value, prefix + "_scheme": scheme if value else None}
