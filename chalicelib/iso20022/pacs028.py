"""pacs.028.001.03 FIToFIPaymentStatusRequest: which payments a status is asked for.

One ``RequestedTransaction`` per ``TxInf``; a group-level ``OrgnlGrpInf`` without any
TxInf (status of a whole message) gives one entry carrying only the group's ids. A
TxInf without its own ``OrgnlGrpInf`` inherits the group-level one when there is exactly
one. Agents: the TxInf's, else the GrpHdr's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from chalicelib.domain.models import CreditTransfer, Transaction

from ._read import Finder, Item, Record, bah_fields, whole_text
from .recognise import Recognised


@dataclass(frozen=True)
class RequestedTransaction(Item):
    status_request_id: str | None = None  # StsReqId
    original_msg_id: str | None = None  # OrgnlGrpInf/OrgnlMsgId
    original_msg_nm_id: str | None = None  # e.g. "pacs.008.001.08"
    original_creation_date_time: str | None = None
    original_instr_id: str | None = None
    original_end_to_end_id: str | None = None
    original_tx_id: str | None = None
    original_uetr: str | None = None
    instructing_agent: str | None = None  # the requester
    instructing_agent_scheme: str | None = None
    instructed_agent: str | None = None
    instructed_agent_scheme: str | None = None


@dataclass(frozen=True)
class StatusRequest(Record):
    transaction_type = RequestedTransaction  # what `transactions` holds (Record.from_dict)

    message_type: str  # "pacs.028.001.03"
    msg_id: str
    creation_date_time: str
    instructing_agent: str | None = None  # GrpHdr/InstgAgt
    instructing_agent_scheme: str | None = None
    instructed_agent: str | None = None
    instructed_agent_scheme: str | None = None
    transactions: tuple[RequestedTransaction, ...] = field(default_factory=tuple)
    app_hdr_type: str | None = None
    bah_from: str | None = None
    bah_to: str | None = None
    biz_msg_idr: str | None = None
    msg_def_idr: str | None = None
    biz_svc: str | None = None
    bah_cre_dt: str | None = None
    envelope: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def as_original(self, index: int = 0) -> CreditTransfer:
        """The requested payment as a minimal CreditTransfer, for ``build_pacs002`` when the
        payment is not on file (answer e.g. RJCT): OrgnlMsgId/OrgnlMsgNmId are the original
        pacs.008's; the report goes back to the requester (its InstgAgt becomes our InstdAgt).
        The requester's agents (the TxInf's, else the GrpHdr's) stand as the group header's
        and as the transaction's. When the payment is known, pass its stored CreditTransfer
        instead."""
        tx = self.transactions[index]
        asked = Transaction(
            instr_id=tx.original_instr_id,
            end_to_end_id=tx.original_end_to_end_id,
            tx_id=tx.original_tx_id,
            uetr=tx.original_uetr,
            instructing_agent=tx.instructing_agent,
            instructing_agent_scheme=tx.instructing_agent_scheme,
            instructed_agent=tx.instructed_agent,
            instructed_agent_scheme=tx.instructed_agent_scheme,
        )
        return CreditTransfer(
            message_type=tx.original_msg_nm_id or "pacs.008",
            msg_id=tx.original_msg_id or "NOTPROVIDED",
            creation_date_time=tx.original_creation_date_time or "",
            nb_of_txs="",
            instructing_agent=tx.instructing_agent,
            instructing_agent_scheme=tx.instructing_agent_scheme,
            instructed_agent=tx.instructed_agent,
            instructed_agent_scheme=tx.instructed_agent_scheme,
            transactions=(asked,),
        )


def extract_pacs028(rec: Recognised) -> StatusRequest:
    f = Finder(rec.message_type)
    msg = rec.document[0]  # FIToFIPmtStsReq (guaranteed by the XSD)
    grp = f.find(msg, "GrpHdr")
    instg = f.agent(grp, "InstgAgt")
    instd = f.agent(grp, "InstdAgt")
    groups = [_group_ids(f, g) for g in f.all(msg, "OrgnlGrpInf")]
    inherited = groups[0] if len(groups) == 1 else _group_ids(f, None)
    txs: list[RequestedTransaction] = []
    tx_infs = f.all(msg, "TxInf")
    for tx in tx_infs:
        own = f.find(tx, "OrgnlGrpInf")
        tx_instg = f.agent(tx, "InstgAgt")
        tx_instd = f.agent(tx, "InstdAgt")
        txs.append(
            RequestedTransaction(
                status_request_id=f.text(tx, "StsReqId", 35),
                **(_group_ids(f, own) if own is not None else inherited),
                original_instr_id=f.text(tx, "OrgnlInstrId", 35),
                original_end_to_end_id=f.text(tx, "OrgnlEndToEndId", 35),
                original_tx_id=f.text(tx, "OrgnlTxId", 35),
                original_uetr=f.text(tx, "OrgnlUETR", 36, strip=True),
                instructing_agent=tx_instg[0] or instg[0],
                instructing_agent_scheme=tx_instg[1] if tx_instg[0] else instg[1],
                instructed_agent=tx_instd[0] or instd[0],
                instructed_agent_scheme=tx_instd[1] if tx_instd[0] else instd[1],
            )
        )
    if not tx_infs:
        txs.extend(
            RequestedTransaction(
                **g,
                instructing_agent=instg[0],
                instructing_agent_scheme=instg[1],
                instructed_agent=instd[0],
                instructed_agent_scheme=instd[1],
            )
            for g in groups
        )
    return StatusRequest(
        message_type=rec.message_type,
        msg_id=f.text(grp, "MsgId", 35) or "",
        creation_date_time=whole_text(f.find(grp, "CreDtTm")) or "",
        instructing_agent=instg[0],
        instructing_agent_scheme=instg[1],
        instructed_agent=instd[0],
        instructed_agent_scheme=instd[1],
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
