"""pacs.002.001.10 (FIToFIPmtStsRpt) status reports, deterministic byte for byte.

The same inputs always give the same bytes (no clock, no random ids inside), so a
retried release step archives an identical object.

Three ways to call ``build_pacs002``:
- one status for the whole original (``tx_status``): every transaction gets it; the
  pipeline's call, unchanged. Several reasons: ``reason_code``/``narrative`` and/or
  ``reasons`` (one StsRsnInf each, in that order).
- one status per transaction (``tx_statuses``): each ``TxStatus`` names its transaction
  (``ids``) or takes the original's at the same position; OrgnlGrpInfAndSts/GrpSts is
  derived (see ``group_status_of``) unless ``group_status`` is given.
- no readable original (``original=None``): a group-level RJCT about the fallback ids.
An answer to a pacs.028 status request is an ordinary report about the original pacs.008
(OrgnlMsgNmId = the pacs.008's type): pass the stored CreditTransfer, or
``StatusRequest.as_original()`` when the payment is not on file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from re import Pattern

from lxml import etree

from chalicelib.domain.models import CreditTransfer, Transaction

from . import schemas
from ._build import BIC, CODE4, Builder, check, iso, serialise, text
from .parse import parse_xml

PACS002 = "pacs.002.001.10"
NS = "urn:iso:std:iso:20022:tech:xsd:" + PACS002
NOT_PROVIDED = "NOTPROVIDED"
_B = Builder(PACS002)

# ExternalPaymentTransactionStatus1Code values that mean "accepted", least advanced first
ACCEPTED_ORDER = ("ACTC", "ACCP", "ACWC", "ACSP", "ACSC", "ACCC")


@dataclass(frozen=True)
class StatusReason:
    """One StsRsnInf: an ExternalStatusReason1Code (AM04, DUPL, RR04, NARR, ...) and/or text."""

    code: str | None = None
    narrative: str | None = None


@dataclass(frozen=True)
class TxStatus:
    """The status of one transaction of the original (ExternalPaymentTransactionStatus1Code)."""

    status: str
    reasons: tuple[StatusReason, ...] = ()
    ids: Transaction | None = None  # None: the original's transaction at the same position
    accepted_at: datetime | None = None


def group_status_of(statuses: Sequence[str]) -> str:
    """OrgnlGrpInfAndSts/GrpSts (ExternalPaymentGroupStatus1Code) for per-transaction statuses:
    all the same -> that status; all accepted -> the least advanced (ACSP before ACSC);
    some accepted and others not (rejected or pending) -> PART; none accepted but some
    pending -> PDNG; none accepted but some cancelled (the rest rejected before) -> CANC, as
    the payment is; otherwise RJCT."""
    distinct = set(statuses)
    if not distinct:
        raise ValueError("no transaction statuses")
    if len(distinct) == 1:
        return statuses[0]
    accepted = [s for s in ACCEPTED_ORDER if s in distinct]
    if distinct <= set(ACCEPTED_ORDER):
        return accepted[0]
    if accepted:
        return "PART"
    if "PDNG" in distinct:
        return "PDNG"
    return "CANC" if "CANC" in distinct else "RJCT"


def build_pacs002(
    original: CreditTransfer | None,
    *,
    msg_id: str,
    created_at: datetime,
    tx_status: str | None = None,
    reason_code: str | None = None,
    narrative: str | None = None,
    reasons: Sequence[StatusReason] = (),
    tx_statuses: Sequence[TxStatus] | None = None,
    group_status: str | None = None,
    original_message_id_fallback: str = NOT_PROVIDED,
    original_message_name_fallback: str = "pacs.008",
    instructing_agent_bic: str | None = None,
    accepted_at: datetime | None = None,
) -> bytes:
    """A bare pacs.002.001.10 Document (UTF-8, with XML declaration).

    ``original`` is the extracted pacs.008, or None when it could not be read at all: then
    the report is a group-level rejection (``tx_status`` must be RJCT, reason defaults to
    FF01) about ``original_message_id_fallback`` / ``original_message_name_fallback``
    (pass MessageRejected.msg_id / .message_type when known).
    The report flows back: our InstgAgt is ``instructing_agent_bic`` (else the original's
    instructed agent), our InstdAgt is the original's instructing agent; the original's
    agents are its group header's (GrpHdr/InstgAgt, InstdAgt), else its first transaction's.
    ``group_status`` forces OrgnlGrpInfAndSts/GrpSts (for a multi-transaction original with
    one ``tx_status`` no GrpSts is written unless given).
    Raises ValueError for arguments the schema would refuse, and for an RJCT without a code.
    """
    group_reasons: tuple[StatusReason, ...] = ()
    group: str | None
    if tx_statuses is not None:
        if tx_status is not None or reason_code is not None or narrative or reasons or accepted_at:
            raise ValueError("tx_statuses carries its own statuses, reasons and acceptance times")
        if original is None:
            raise ValueError("per-transaction statuses need the original")
        per_tx = _per_transaction(original, tx_statuses)
        group = group_status or group_status_of([t.status for _, t in per_tx])
    else:
        if tx_status is None:
            raise ValueError("tx_status or tx_statuses is required")
        _check(CODE4, tx_status, "tx_status")
        if original is None:
            if tx_status != "RJCT":
                raise ValueError("a report without a readable original can only be RJCT")
            if reason_code is None and not any(r.code for r in reasons):
                reason_code = "FF01"
        every = tuple(_reasons(reason_code, narrative, reasons))
        if tx_status == "RJCT" and not any(r.code for r in every):
            raise ValueError("an RJCT report needs a reason_code")
        txs = () if original is None else original.transactions
        per_tx = [(ids, TxStatus(tx_status, every, ids, accepted_at)) for ids in txs]
        group = group_status or (tx_status if len(txs) <= 1 else None)
        if original is None:
            group_reasons, per_tx = every, []
    if group is not None:
        _check(CODE4, group, "group_status")
    if instructing_agent_bic is not None:
        _check(BIC, instructing_agent_bic, "instructing_agent_bic")
    msg_id = text(msg_id, 35)
    if not msg_id:
        raise ValueError("msg_id must be 1-35 characters")

    b = _B
    doc = b.document()
    rpt = b.sub(doc, "FIToFIPmtStsRpt")
    grp = b.sub(rpt, "GrpHdr")
    b.sub(grp, "MsgId", msg_id)
    b.sub(grp, "CreDtTm", iso(created_at, "created_at"))
    if instructing_agent_bic:
        b.agent(grp, "InstgAgt", instructing_agent_bic, "BICFI")
    elif original is not None:  # we answer the instructing agent as the agent it instructed
        b.agent(grp, "InstgAgt", *_group_agent(original, "instructed_agent"))
    if original is not None:
        b.agent(grp, "InstdAgt", *_group_agent(original, "instructing_agent"))

    og = b.sub(rpt, "OrgnlGrpInfAndSts")
    if original is None:
        b.sub(og, "OrgnlMsgId", text(original_message_id_fallback or "", 35) or NOT_PROVIDED)
        b.sub(og, "OrgnlMsgNmId", text(original_message_name_fallback or "", 35) or "pacs.008")
    else:
        b.sub(og, "OrgnlMsgId", original.msg_id)
        b.sub(og, "OrgnlMsgNmId", original.message_type)
        b.opt(og, "OrgnlCreDtTm", original.creation_date_time)
        b.opt(og, "OrgnlNbOfTxs", original.nb_of_txs)
    if group is not None:
        b.sub(og, "GrpSts", group)
    for reason in group_reasons:
        _reason(og, reason)
    if group == "PART":
        for status, count in Counter(t.status for _, t in per_tx).items():
            per = b.sub(og, "NbOfTxsPerSts")
            b.sub(per, "DtldNbOfTxs", str(count))
            b.sub(per, "DtldSts", status)

    for ids, st in per_tx:
        t = b.sub(rpt, "TxInfAndSts")
        b.opt(t, "OrgnlInstrId", ids.instr_id)
        b.opt(t, "OrgnlEndToEndId", ids.end_to_end_id)
        b.opt(t, "OrgnlTxId", ids.tx_id)
        b.uetr(t, "OrgnlUETR", ids.uetr)
        b.sub(t, "TxSts", st.status)
        for reason in st.reasons:
            _reason(t, reason)
        if st.accepted_at is not None:
            b.sub(t, "AccptncDtTm", iso(st.accepted_at, "accepted_at"))
    return serialise(doc)


def validate_pacs002(data: bytes) -> None:
    """Parse (securely) and validate a pacs.002.001.10; raise MessageRejected if invalid."""
    schemas.validate(parse_xml(data), PACS002)


def _per_transaction(original: CreditTransfer, tx_statuses: Sequence[TxStatus]) -> list[tuple[Transaction, TxStatus]]:
    known = original.transactions
    if not tx_statuses:
        raise ValueError("tx_statuses is empty")
    out: list[tuple[Transaction, TxStatus]] = []
    for i, st in enumerate(tx_statuses):
        if not isinstance(st, TxStatus):
            raise ValueError(f"tx_statuses[{i}] is not a TxStatus")
        _check(CODE4, st.status, f"tx_statuses[{i}].status")
        for r in st.reasons:
            _check_reason(r, f"tx_statuses[{i}]")
        if st.status == "RJCT" and not any(r.code for r in st.reasons):
            raise ValueError(f"tx_statuses[{i}]: an RJCT status needs a reason code")
        if st.ids is None:
            if i >= len(known):
                raise ValueError(f"tx_statuses[{i}] has no ids and the original has {len(known)} transactions")
            ids = known[i]
        else:
            ids = st.ids
        if not (ids.instr_id or ids.end_to_end_id or ids.tx_id or ids.uetr):
            raise ValueError(f"tx_statuses[{i}] names no transaction")
        out.append((ids, st))
    return out


def _reasons(reason_code: str | None, narrative: str | None, reasons: Sequence[StatusReason]) -> Iterator[StatusReason]:
    if reason_code is not None or narrative:
        if reason_code is not None:
            _check(CODE4, reason_code, "reason_code")
        yield StatusReason(reason_code, narrative)
    for r in reasons:
        _check_reason(r, "reasons")
        yield r


def _check_reason(reason: object, where: str) -> None:
    if not isinstance(reason, StatusReason):
        raise ValueError(f"{where}: reasons must be StatusReason")
    if reason.code is not None:
        _check(CODE4, reason.code, f"{where} reason code")
    elif not reason.narrative:
        raise ValueError(f"{where}: a reason needs a code or a narrative")


def _group_agent(original: CreditTransfer, role: str) -> tuple[str | None, str | None]:
    """The group header's agent in `role`, else the first transaction's (its own or the group's)."""
    for source in (original, *original.transactions[:1]):
        if getattr(source, role):
            return getattr(source, role), getattr(source, role + "_scheme")
    return None, None


def _reason(parent: etree._Element, reason: StatusReason) -> None:
    info = _B.sub(parent, "StsRsnInf")
    if reason.code is not None:
        _B.sub(_B.sub(info, "Rsn"), "Cd", reason.code)
    _B.narrative(info, reason.narrative)


def _check(pattern: Pattern[str], value: object, what: str) -> None:
    check(pattern, value, what)
