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

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .recognise import ISO_NS_PREFIX, Recognised

_AGENT_IDS = (("BICFI", 11), ("ClrSysMmbId/MmbId", 35), ("LEI", 20), ("Othr/Id", 35))
# Agents of a CdtTrfTxInf besides the four named ones, as (element, field prefix).
_OTHER_AGENTS = tuple((f"{el}{n}", f"{prefix}{n}") for el, prefix in (
    ("PrvsInstgAgt", "previous_instructing_agent"), ("IntrmyAgt", "intermediary_agent"))
    for n in (1, 2, 3))


@dataclass(frozen=True)
class TransactionIds:
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

    def to_dict(self) -> dict[str, str | None]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TransactionIds":
        """Inverse of to_dict; unknown keys are ignored, missing ones are None."""
        return cls(**{k: v for k, v in data.items() if k in _TX_FIELDS})


Transaction = TransactionIds  # the fuller name for what the class now carries
_TX_FIELDS = frozenset(f.name for f in dataclasses.fields(TransactionIds))
# Top-level fields that repeat the first transaction's value.
_FIRST_TX_FIELDS = tuple(
    name for name in ("amount", "currency", "interbank_settlement_date", "charge_bearer",
                      "instructing_agent", "instructing_agent_scheme", "instructed_agent",
                      "instructed_agent_scheme", "debtor_agent", "debtor_agent_scheme",
                      "creditor_agent", "creditor_agent_scheme", "debtor_name", "debtor_country",
                      "debtor_account", "debtor_account_scheme", "creditor_name",
                      "creditor_country", "creditor_account", "creditor_account_scheme"))


@dataclass(frozen=True)
class CreditTransfer:
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: strings, None, and lists of those (or of dicts of those)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "transactions":
                value = [t.to_dict() for t in value]
            elif f.name == "notes":
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CreditTransfer":
        """Inverse of to_dict; unknown keys are ignored, missing optional keys are None."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["transactions"] = tuple(TransactionIds.from_dict(t) for t in data.get("transactions") or ())
        kwargs["notes"] = tuple(data.get("notes") or ())
        return cls(**kwargs)


class _Finder:
    """Navigates one namespace by local names through per-element child indexes
    (a dict per visited element: cheaper than ElementPath for a few dozen lookups)."""

    def __init__(self, ns: str) -> None:
        self.ns = "{" + ns + "}"
        self.skip = len(self.ns)
        self._memo: dict = {}

    def kids(self, el) -> dict:
        index = self._memo.get(el)
        if index is None:
            index = {}
            for child in el:
                tag = child.tag
                if isinstance(tag, str) and tag.startswith(self.ns):
                    index.setdefault(tag[self.skip:], child)
            self._memo[el] = index
        return index

    def find(self, el, p: str):
        for step in p.split("/"):
            if el is None:
                return None
            el = self.kids(el).get(step)
        return el

    def all(self, el, name: str) -> list:
        tag = self.ns + name
        return [child for child in el if child.tag == tag]

    def text(self, el, p: str, max_len: int, *, strip: bool = False) -> str | None:
        el = self.find(el, p)
        if el is None or not el.text:
            return None
        value = el.text.strip() if strip else el.text
        return value[:max_len] or None

    def agent(self, el, p: str) -> tuple[str | None, str | None]:
        fin = self.find(el, p + "/FinInstnId" if p else "FinInstnId")
        if fin is None:
            return None, None
        for sub, max_len in _AGENT_IDS:
            value = self.text(fin, sub, max_len, strip=True)
            if value:
                scheme = sub.split("/")[0]
                if scheme == "ClrSysMmbId":
                    code = self.text(fin, "ClrSysMmbId/ClrSysId/Cd", 5, strip=True)
                    scheme = f"ClrSysMmbId:{code}" if code else scheme
                return value, scheme
        return None, None

    def account(self, el, p: str) -> tuple[str | None, str | None]:
        """(identifier, scheme) of a CashAccount: IBAN, else Othr/Id with its SchmeNm."""
        acct = self.find(el, p + "/Id")
        if acct is None:
            return None, None
        iban = self.text(acct, "IBAN", 34, strip=True)
        if iban:
            return iban, "IBAN"
        other = self.text(acct, "Othr/Id", 34, strip=True)
        if not other:
            return None, None
        name = (self.text(acct, "Othr/SchmeNm/Cd", 4, strip=True)
                or self.text(acct, "Othr/SchmeNm/Prtry", 35, strip=True))
        return other, f"Othr:{name}" if name else "Othr"


def _finder(ident: str) -> _Finder:
    return _Finder(ISO_NS_PREFIX + ident)


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


def _transaction(f: _Finder, t, grp_instg, grp_instd, grp_date) -> TransactionIds:
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


def _party(h: _Finder, hdr, which: str, prefix: str) -> dict[str, str | None]:
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
