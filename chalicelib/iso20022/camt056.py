"""camt.056 FIToFIPaymentCancellationRequest (.08, .09 and .12): what is asked to be cancelled.

One ``CancelledTransaction`` per ``Undrlyg/TxInf``; an ``Undrlyg`` without TxInf (a
whole-group cancellation) gives one entry carrying only the original group's ids and
``group_cancellation`` as sent. A transaction without its own ``OrgnlGrpInf`` inherits
the ``OrgnlGrpInfAndCxl`` of its Undrlyg; one without ``CxlRsnInf`` inherits the group's.
Amounts are the decimal text exactly as sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from ._read import Finder, Item, Record, bah_fields, whole_text
from .recognise import Recognised


@dataclass(frozen=True)
class CancelledTransaction(Item):
    original_msg_id: str | None = None  # OrgnlGrpInf/OrgnlMsgId
    original_msg_nm_id: str | None = None  # OrgnlGrpInf/OrgnlMsgNmId, e.g. "pacs.008.001.08"
    original_creation_date_time: str | None = None
    original_instr_id: str | None = None
    original_end_to_end_id: str | None = None
    original_tx_id: str | None = None
    original_uetr: str | None = None
    original_amount: str | None = None  # OrgnlIntrBkSttlmAmt
    original_currency: str | None = None
    original_settlement_date: str | None = None  # OrgnlIntrBkSttlmDt
    cancellation_id: str | None = None  # CxlId
    case_id: str | None = None  # TxInf/Case/Id, when given per transaction
    reason_code: str | None = None  # CxlRsnInf/Rsn/Cd: DUPL, FRAD, CUST, TECH, AM09, ...
    reason_proprietary: str | None = None  # CxlRsnInf/Rsn/Prtry
    narrative: str | None = None  # CxlRsnInf/AddtlInf lines, joined by a space
    group_cancellation: str | None = None  # OrgnlGrpInfAndCxl/GrpCxl ("true"/"false") for group entries


@dataclass(frozen=True)
class CancellationRequest(Record):
    transaction_type = CancelledTransaction  # what `transactions` holds (Record.from_dict)

    message_type: str  # "camt.056.001.08", ".09" or ".12"
    assignment_id: str  # Assgnmt/Id (the message's own id)
    creation_date_time: str  # Assgnmt/CreDtTm
    assigner: str | None = None  # Assgnmt/Assgnr (agent id, or party name/BIC)
    assigner_scheme: str | None = None
    assignee: str | None = None
    assignee_scheme: str | None = None
    case_id: str | None = None  # Case/Id
    case_creator: str | None = None  # Case/Cretr
    case_creator_scheme: str | None = None
    nb_of_txs: str | None = None  # CtrlData/NbOfTxs
    transactions: tuple[CancelledTransaction, ...] = field(default_factory=tuple)
    app_hdr_type: str | None = None
    bah_from: str | None = None
    bah_to: str | None = None
    biz_msg_idr: str | None = None
    msg_def_idr: str | None = None
    biz_svc: str | None = None
    bah_cre_dt: str | None = None
    envelope: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def msg_id(self) -> str:
        """The identification a report refers to (camt.056 has no GrpHdr/MsgId)."""
        return self.assignment_id


def extract_camt056(rec: Recognised) -> CancellationRequest:
    f = Finder(rec.message_type)
    msg = rec.document[0]  # FIToFIPmtCxlReq (guaranteed by the XSD)
    assgnmt = f.find(msg, "Assgnmt")
    assigner = f.party(assgnmt, "Assgnr")
    assignee = f.party(assgnmt, "Assgne")
    creator = f.party(msg, "Case/Cretr")
    txs: list[CancelledTransaction] = []
    for undrlyg in f.all(msg, "Undrlyg"):
        grp = f.find(undrlyg, "OrgnlGrpInfAndCxl")
        grp_ids = _group_ids(f, grp)
        grp_reason = _reason(f, grp)
        tx_infs = f.all(undrlyg, "TxInf")
        if not tx_infs and grp is not None:
            txs.append(
                CancelledTransaction(
                    **grp_ids,
                    **grp_reason,
                    cancellation_id=f.text(grp, "GrpCxlId", 35),
                    case_id=f.text(grp, "Case/Id", 35),
                    group_cancellation=f.text(grp, "GrpCxl", 5, strip=True),
                )
            )
        for tx in tx_infs:
            own = f.find(tx, "OrgnlGrpInf")
            amt = f.find(tx, "OrgnlIntrBkSttlmAmt")
            txs.append(
                CancelledTransaction(
                    **(_group_ids(f, own) if own is not None else grp_ids),
                    original_instr_id=f.text(tx, "OrgnlInstrId", 35),
                    original_end_to_end_id=f.text(tx, "OrgnlEndToEndId", 35),
                    original_tx_id=f.text(tx, "OrgnlTxId", 35),
                    original_uetr=f.text(tx, "OrgnlUETR", 36, strip=True),
                    original_amount=whole_text(amt),
                    original_currency=_clip(amt.get("Ccy") if amt is not None else None, 3),
                    original_settlement_date=f.text(tx, "OrgnlIntrBkSttlmDt", 10, strip=True),
                    cancellation_id=f.text(tx, "CxlId", 35),
                    case_id=f.text(tx, "Case/Id", 35),
                    **(_reason(f, tx) if f.find(tx, "CxlRsnInf") is not None else grp_reason),
                )
            )
    return CancellationRequest(
        message_type=rec.message_type,
        assignment_id=f.text(assgnmt, "Id", 35) or "",
        creation_date_time=whole_text(f.find(assgnmt, "CreDtTm")) or "",
        assigner=assigner[0],
        assigner_scheme=assigner[1],
        assignee=assignee[0],
        assignee_scheme=assignee[1],
        case_id=f.text(msg, "Case/Id", 35),
        case_creator=creator[0],
        case_creator_scheme=creator[1],
        nb_of_txs=f.text(msg, "CtrlData/NbOfTxs", 15, strip=True),
        transactions=tuple(txs),
        envelope=rec.envelope,
        notes=rec.notes,
        **bah_fields(rec),
    )


def _group_ids(f: Finder, grp: etree._Element | None) -> dict[str, str | None]:
    return dict(
        original_msg_id=f.text(grp, "OrgnlMsgId", 35),
        original_msg_nm_id=f.text(grp, "OrgnlMsgNmId", 35, strip=True),
        original_creation_date_time=whole_text(f.find(grp, "OrgnlCreDtTm")),
    )


def _reason(f: Finder, el: etree._Element | None) -> dict[str, str | None]:
    """The first CxlRsnInf (ISO allows several; CBPR+ allows one)."""
    info = f.find(el, "CxlRsnInf")
    lines = f.texts(info, "AddtlInf", 105) if info is not None else ()
    return dict(
        reason_code=f.text(info, "Rsn/Cd", 4, strip=True),
        reason_proprietary=f.text(info, "Rsn/Prtry", 35),
        narrative=" ".join(" ".join(lines).split()) or None,
    )


def _clip(value: str | None, max_len: int) -> str | None:
    return (value or "").strip()[:max_len] or None
