"""Key identifiers of a validated pacs.008, as plain strings for the domain layer.

Every value is clipped to its XSD maximum length again (defence in depth: the XSD
already enforced it). Amounts are the decimal text exactly as sent. Agents are given
by their first identifier in ISO order (BICFI, ClrSysMmbId/MmbId, LEI, Othr/Id) and the
``*_scheme`` field names which one it was ("BICFI", "ClrSysMmbId" or
"ClrSysMmbId:<ClrSysId/Cd>", "LEI", "Othr").
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .recognise import ISO_NS_PREFIX, Recognised

_AGENT_IDS = (("BICFI", 11), ("ClrSysMmbId/MmbId", 35), ("LEI", 20), ("Othr/Id", 35))


@dataclass(frozen=True)
class TransactionIds:
    instr_id: str | None = None
    end_to_end_id: str | None = None
    tx_id: str | None = None
    uetr: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class CreditTransfer:
    message_type: str                       # "pacs.008.001.08"
    msg_id: str
    creation_date_time: str
    nb_of_txs: str
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
    # Business Application Header (only when validated: head.001.001.02)
    app_hdr_type: str | None = None
    bah_from: str | None = None
    bah_to: str | None = None
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
        kwargs["transactions"] = tuple(TransactionIds(**t) for t in data.get("transactions") or ())
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


def _finder(ident: str) -> _Finder:
    return _Finder(ISO_NS_PREFIX + ident)


def extract(rec: Recognised) -> CreditTransfer:
    f = _finder(rec.message_type)
    msg = rec.document[0]  # FIToFICstmrCdtTrf (guaranteed by the XSD)
    grp = f.find(msg, "GrpHdr")
    txs = f.all(msg, "CdtTrfTxInf")
    tx = txs[0] if txs else None

    def ids(t) -> TransactionIds:
        return TransactionIds(
            instr_id=f.text(t, "PmtId/InstrId", 35),
            end_to_end_id=f.text(t, "PmtId/EndToEndId", 35),
            tx_id=f.text(t, "PmtId/TxId", 35),
            uetr=f.text(t, "PmtId/UETR", 36, strip=True))

    transactions = tuple(ids(t) for t in txs)
    first = transactions[0] if transactions else TransactionIds()
    amt = f.find(tx, "IntrBkSttlmAmt")
    instg = f.agent(tx, "InstgAgt")
    if instg[0] is None:
        instg = f.agent(grp, "InstgAgt")
    instd = f.agent(tx, "InstdAgt")
    if instd[0] is None:
        instd = f.agent(grp, "InstdAgt")
    dbtr_agt = f.agent(tx, "DbtrAgt")
    cdtr_agt = f.agent(tx, "CdtrAgt")
    values: dict[str, Any] = dict(
        message_type=rec.message_type,
        msg_id=f.text(grp, "MsgId", 35) or "",
        creation_date_time=f.text(grp, "CreDtTm", 35, strip=True) or "",
        nb_of_txs=f.text(grp, "NbOfTxs", 15, strip=True) or "",
        settlement_method=f.text(grp, "SttlmInf/SttlmMtd", 4, strip=True),
        clearing_system=(f.text(grp, "SttlmInf/ClrSys/Cd", 5, strip=True)
                         or f.text(grp, "SttlmInf/ClrSys/Prtry", 35)),
        interbank_settlement_date=(f.text(tx, "IntrBkSttlmDt", 10, strip=True)
                                   or f.text(grp, "IntrBkSttlmDt", 10, strip=True)),
        instr_id=first.instr_id, end_to_end_id=first.end_to_end_id,
        tx_id=first.tx_id, uetr=first.uetr,
        amount=_clip((amt.text or "") if amt is not None else "", 40),
        currency=_clip(amt.get("Ccy", "") if amt is not None else "", 3),
        instructing_agent=instg[0], instructing_agent_scheme=instg[1],
        instructed_agent=instd[0], instructed_agent_scheme=instd[1],
        debtor_agent=dbtr_agt[0], debtor_agent_scheme=dbtr_agt[1],
        creditor_agent=cdtr_agt[0], creditor_agent_scheme=cdtr_agt[1],
        charge_bearer=f.text(tx, "ChrgBr", 4, strip=True),
        transactions=transactions, envelope=rec.envelope, notes=rec.notes,
    )
    if rec.app_hdr is not None:
        values.update(_bah(rec))
    return CreditTransfer(**values)


def _clip(value: str, max_len: int) -> str | None:
    return value.strip()[:max_len] or None


def _bah(rec: Recognised) -> dict[str, str | None]:
    h, hdr = _finder(rec.app_hdr_type), rec.app_hdr
    return dict(
        app_hdr_type=rec.app_hdr_type,
        bah_from=_party(h, hdr, "Fr"), bah_to=_party(h, hdr, "To"),
        biz_msg_idr=h.text(hdr, "BizMsgIdr", 35),
        msg_def_idr=h.text(hdr, "MsgDefIdr", 35),
        biz_svc=h.text(hdr, "BizSvc", 35),
        bah_cre_dt=h.text(hdr, "CreDt", 35, strip=True),
    )


def _party(h: _Finder, hdr, which: str) -> str | None:
    """Fr/To (Party44Choice): the FI's first identifier, or the organisation's."""
    fi = h.find(hdr, f"{which}/FIId")
    if fi is not None:
        return h.agent(fi, "")[0]
    org = h.find(hdr, f"{which}/OrgId")
    if org is None:
        return None
    return (h.text(org, "Id/OrgId/AnyBIC", 11, strip=True) or h.text(org, "Id/OrgId/LEI", 20, strip=True)
            or h.text(org, "Id/OrgId/Othr/Id", 35) or h.text(org, "Nm", 140))
