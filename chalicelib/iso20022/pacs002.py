"""pacs.002.001.10 (FIToFIPmtStsRpt) status reports, deterministic byte for byte.

The same inputs always give the same bytes (no clock, no random ids inside), so a
retried release step archives an identical object.
"""
from __future__ import annotations

import re
import textwrap
from datetime import datetime

from lxml import etree

from . import schemas
from .extract import CreditTransfer, TransactionIds
from .parse import parse_xml

PACS002 = "pacs.002.001.10"
NS = "urn:iso:std:iso:20022:tech:xsd:" + PACS002
_N = "{" + NS + "}"
NOT_PROVIDED = "NOTPROVIDED"
ADDTL_INF_MAX = 105
ADDTL_INF_COUNT = 3  # narrative capped at 3 x 105 characters

_CODE4 = re.compile(r"^[A-Z0-9]{4}$")
_BIC = re.compile(r"^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
_UUID4 = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}$")
_NOT_XML = re.compile(r"[^\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd]+")


def build_pacs002(
    original: CreditTransfer | None,
    *,
    msg_id: str,
    created_at: datetime,
    tx_status: str,
    reason_code: str | None = None,
    narrative: str | None = None,
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
    instructed agent), our InstdAgt is the original's instructing agent.
    Raises ValueError for arguments the schema would refuse.
    """
    _check(_CODE4, tx_status, "tx_status")
    if original is None:
        if tx_status != "RJCT":
            raise ValueError("a report without a readable original can only be RJCT")
        reason_code = reason_code or "FF01"
    if reason_code is not None:
        _check(_CODE4, reason_code, "reason_code")
    elif tx_status == "RJCT":
        raise ValueError("an RJCT report needs a reason_code")
    if instructing_agent_bic is not None:
        _check(_BIC, instructing_agent_bic, "instructing_agent_bic")
    msg_id = _text(msg_id, 35)
    if not msg_id:
        raise ValueError("msg_id must be 1-35 characters")

    doc = etree.Element(_N + "Document", nsmap={None: NS})
    rpt = _sub(doc, "FIToFIPmtStsRpt")
    grp = _sub(rpt, "GrpHdr")
    _sub(grp, "MsgId", msg_id)
    _sub(grp, "CreDtTm", _iso(created_at, "created_at"))
    if instructing_agent_bic:
        _agent(grp, "InstgAgt", instructing_agent_bic, "BICFI")
    elif original is not None:
        _agent(grp, "InstgAgt", original.instructed_agent, original.instructed_agent_scheme)
    if original is not None:
        _agent(grp, "InstdAgt", original.instructing_agent, original.instructing_agent_scheme)

    txs = () if original is None else (original.transactions or (_first_tx(original),))
    og = _sub(rpt, "OrgnlGrpInfAndSts")
    if original is None:
        _sub(og, "OrgnlMsgId", _text(original_message_id_fallback or "", 35) or NOT_PROVIDED)
        _sub(og, "OrgnlMsgNmId", _text(original_message_name_fallback or "", 35) or "pacs.008")
    else:
        _sub(og, "OrgnlMsgId", original.msg_id)
        _sub(og, "OrgnlMsgNmId", original.message_type)
        _opt(og, "OrgnlCreDtTm", original.creation_date_time)
        _opt(og, "OrgnlNbOfTxs", original.nb_of_txs)
    if len(txs) <= 1:
        _sub(og, "GrpSts", tx_status)
    if original is None:
        _reason(og, reason_code, narrative)

    for tx in txs:
        t = _sub(rpt, "TxInfAndSts")
        _opt(t, "OrgnlInstrId", tx.instr_id)
        _opt(t, "OrgnlEndToEndId", tx.end_to_end_id)
        _opt(t, "OrgnlTxId", tx.tx_id)
        if tx.uetr and _UUID4.match(tx.uetr):
            _sub(t, "OrgnlUETR", tx.uetr)
        _sub(t, "TxSts", tx_status)
        if reason_code is not None or narrative:
            _reason(t, reason_code, narrative)
        if accepted_at is not None:
            _sub(t, "AccptncDtTm", _iso(accepted_at, "accepted_at"))
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def validate_pacs002(data: bytes) -> None:
    """Parse (securely) and validate a pacs.002.001.10; raise MessageRejected if invalid."""
    schemas.validate(parse_xml(data), PACS002)


def _first_tx(original: CreditTransfer) -> TransactionIds:
    return TransactionIds(original.instr_id, original.end_to_end_id, original.tx_id, original.uetr)


def _reason(parent, reason_code: str | None, narrative: str | None) -> None:
    info = _sub(parent, "StsRsnInf")
    if reason_code is not None:
        _sub(_sub(info, "Rsn"), "Cd", reason_code)
    text = _text(narrative or "", ADDTL_INF_MAX * ADDTL_INF_COUNT)
    for chunk in textwrap.wrap(text, ADDTL_INF_MAX)[:ADDTL_INF_COUNT]:
        _sub(info, "AddtlInf", chunk)


def _agent(parent, name: str, ident: str | None, scheme: str | None) -> None:
    """BranchAndFinancialInstitutionIdentification6 from an extracted (id, scheme)."""
    if not ident:
        return
    scheme = scheme or ("BICFI" if _BIC.match(ident) else "Othr")
    if scheme == "BICFI" and not _BIC.match(ident):
        scheme = "Othr"
    fin = _sub(_sub(parent, name), "FinInstnId")
    if scheme == "BICFI":
        _sub(fin, "BICFI", ident)
    elif scheme.startswith("ClrSysMmbId"):
        mmb = _sub(fin, "ClrSysMmbId")
        code = scheme.partition(":")[2][:5]
        if code:
            _sub(_sub(mmb, "ClrSysId"), "Cd", code)
        _sub(mmb, "MmbId", _text(ident, 35))
    elif scheme == "LEI":
        _sub(fin, "LEI", ident)
    else:
        _sub(_sub(fin, "Othr"), "Id", _text(ident, 35))


def _sub(parent, name: str, text: str | None = None):
    el = etree.SubElement(parent, _N + name)
    if text is not None:
        el.text = text
    return el


def _opt(parent, name: str, text: str | None) -> None:
    if text:
        _sub(parent, name, text)


def _text(value: str, max_len: int) -> str:
    """XML-safe, single-line, clipped."""
    return " ".join(_NOT_XML.sub(" ", str(value)).split())[:max_len]


def _iso(moment: datetime, what: str) -> str:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")


def _check(pattern: re.Pattern, value, what: str) -> None:
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"{what} {value!r} is not valid")
