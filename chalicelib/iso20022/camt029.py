"""camt.029.001.09 ResolutionOfInvestigation answering a camt.056 cancellation request.

Deterministic byte for byte (caller passes ``created_at`` and ``assignment_id``).

Codes (ISO 20022 external code sets and the camt.029.001.09 XSD):
- ``Sts/Conf`` (ExternalInvestigationExecutionConfirmation1Code): CNCL cancelled as
  requested, RJCR cancellation request rejected, PDCR pending, PECR partially executed
  (some transactions cancelled, others not; derived when the outcomes are mixed).
- ``TxCxlSts`` (CancellationIndividualStatus1Code, an XSD enumeration): ACCR accepted,
  RJCR rejected, PDCR pending. There is no "CNCL" at transaction level in .09: a CNCL
  resolution reports each transaction as ACCR. A whole-group entry of the camt.056
  (``Undrlyg`` without TxInf) is answered in ``OrgnlGrpInfAndSts/GrpCxlSts`` (same codes).
- ``CxlStsRsnInf/Rsn/Cd`` (ExternalPaymentCancellationRejection1Code): required for
  RJCR, optional for PDCR, refused for ACCR; only the codes in REJECTION_REASONS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lxml import etree

from . import schemas
from ._build import BIC, Builder, check, identifier, iso, serialise, text
from .camt056 import CancellationRequest, CancelledTransaction
from .parse import parse_xml

CAMT029 = "camt.029.001.09"
_B = Builder(CAMT029)

RESOLUTIONS = ("CNCL", "RJCR", "PDCR", "PECR")
TX_STATUS_OF = {"CNCL": "ACCR", "RJCR": "RJCR", "PDCR": "PDCR"}
# ExternalPaymentCancellationRejection1Code, the codes that make sense for an FI-to-FI
# credit transfer (the request-to-pay ones AACR, ACLR, AEXR, ARFR, ARJR, PATE, RCAR,
# RCNR, RCPR, URTP and the batch one WSEQ are left out).
REJECTION_REASONS = {
    "AC04": "account closed on the receiver's books",
    "ADAC": "customer has not yet provided the debit authority",
    "AGNT": "an agent refuses to cancel",
    "AM04": "insufficient funds",
    "ARDT": "already returned",
    "ARPL": "awaiting reply (no answer yet from the receiver of the request)",
    "CUST": "customer (creditor) decision",
    "IDMN": "indemnity agreement required first",
    "LEGL": "legal / regulatory decision",
    "NARR": "reason given in the narrative",
    "NOAS": "no answer from the beneficiary",
    "NOOR": "original transaction never received",
    "PTNA": "passed to the next agent",
    "RQDA": "creditor's authority required to return the payment",
    "RR04": "regulatory reason",
}


@dataclass(frozen=True)
class CancellationOutcome:
    """The answer for one entry of ``CancellationRequest.transactions`` (same position)."""

    status: str  # ACCR | RJCR | PDCR
    reason_code: str | None = None  # see REJECTION_REASONS
    narrative: str | None = None


def resolution_of(statuses: Sequence[str]) -> str:
    """Sts/Conf for per-transaction outcomes: all ACCR -> CNCL, all RJCR -> RJCR, any
    PDCR -> PDCR, ACCR and RJCR mixed -> PECR (partially executed cancellation request)."""
    distinct = set(statuses)
    if not distinct:
        raise ValueError("no outcomes")
    if "PDCR" in distinct:
        return "PDCR"
    if distinct == {"ACCR"}:
        return "CNCL"
    if distinct == {"RJCR"}:
        return "RJCR"
    return "PECR"


def build_camt029(
    request: CancellationRequest | Mapping[str, Any],
    *,
    assignment_id: str,
    created_at: datetime,
    status: str | None = None,
    reason_code: str | None = None,
    narrative: str | None = None,
    outcomes: Sequence[CancellationOutcome] | None = None,
    assigner_bic: str | None = None,
) -> bytes:
    """A bare camt.029.001.09 Document answering ``request`` (a CancellationRequest or its
    ``to_dict()``).

    ``status`` (Sts/Conf) CNCL, RJCR or PDCR gives every transaction the matching outcome
    (ACCR/RJCR/PDCR) with ``reason_code``/``narrative``; or give ``outcomes``, one per
    request transaction, and the resolution is derived (``resolution_of``) unless given.
    Assgnmt: our Assgnr is ``assigner_bic`` (else the request's assignee), our Assgne is the
    request's assigner (a party the request does not identify is an empty Pty, see `_party`).
    RslvdCase is the request's Case (else its Assgnmt Id and assigner).
    Raises ValueError for arguments the schema or the code lists would refuse.
    """
    req = request if isinstance(request, CancellationRequest) else CancellationRequest.from_dict(dict(request))
    if not req.transactions:
        raise ValueError("the cancellation request has no transactions")
    if outcomes is None:
        if status not in TX_STATUS_OF:
            raise ValueError(f"status {status!r} is not valid: CNCL, RJCR or PDCR (or give outcomes)")
        outcomes = [CancellationOutcome(TX_STATUS_OF[status], reason_code, narrative)] * len(req.transactions)
    else:
        if reason_code is not None or narrative:
            raise ValueError("with outcomes, give reasons per outcome")
        if len(outcomes) != len(req.transactions):
            raise ValueError(f"{len(outcomes)} outcomes for {len(req.transactions)} transactions")
        if status is not None and status not in RESOLUTIONS:
            raise ValueError(f"status {status!r} is not valid: {', '.join(RESOLUTIONS)}")
    for i, o in enumerate(outcomes):
        _check_outcome(o, i)
    status = status or resolution_of([o.status for o in outcomes])
    assignment_id = identifier(assignment_id, "assignment_id")
    if assigner_bic is not None:
        check(BIC, assigner_bic, "assigner_bic")

    b = _B
    doc = b.document()
    rsl = b.sub(doc, "RsltnOfInvstgtn")
    asg = b.sub(rsl, "Assgnmt")
    b.sub(asg, "Id", assignment_id)
    if assigner_bic:
        b.party(asg, "Assgnr", assigner_bic, "BICFI")
    else:
        _party(asg, "Assgnr", req.assignee, req.assignee_scheme)
    _party(asg, "Assgne", req.assigner, req.assigner_scheme)
    b.sub(asg, "CreDtTm", iso(created_at, "created_at"))
    case = b.sub(rsl, "RslvdCase")
    b.sub(case, "Id", req.case_id or req.assignment_id)
    if req.case_id and req.case_creator:
        b.party(case, "Cretr", req.case_creator, req.case_creator_scheme)
    else:
        _party(case, "Cretr", req.assigner, req.assigner_scheme)
    b.sub(b.sub(rsl, "Sts"), "Conf", status)

    dtls = b.sub(rsl, "CxlDtls")
    groups = [(tx, o) for tx, o in zip(req.transactions, outcomes, strict=True) if _is_group(tx)]
    for tx, o in groups:
        og = b.sub(dtls, "OrgnlGrpInfAndSts")
        b.sub(og, "OrgnlMsgId", tx.original_msg_id or "NOTPROVIDED")
        b.sub(og, "OrgnlMsgNmId", tx.original_msg_nm_id or "pacs.008")
        b.opt(og, "OrgnlCreDtTm", tx.original_creation_date_time)
        b.sub(og, "GrpCxlSts", o.status)
        _reason(og, o)
    for tx, o in zip(req.transactions, outcomes, strict=True):
        if _is_group(tx):
            continue
        t = b.sub(dtls, "TxInfAndSts")
        if tx.original_msg_id and tx.original_msg_nm_id:
            oi = b.sub(t, "OrgnlGrpInf")
            b.sub(oi, "OrgnlMsgId", tx.original_msg_id)
            b.sub(oi, "OrgnlMsgNmId", tx.original_msg_nm_id)
            b.opt(oi, "OrgnlCreDtTm", tx.original_creation_date_time)
        b.opt(t, "OrgnlInstrId", tx.original_instr_id)
        b.opt(t, "OrgnlEndToEndId", tx.original_end_to_end_id)
        b.opt(t, "OrgnlTxId", tx.original_tx_id)
        b.uetr(t, "OrgnlUETR", tx.original_uetr)
        b.sub(t, "TxCxlSts", o.status)
        _reason(t, o)
        if tx.original_amount and tx.original_currency:
            b.amount(t, "OrgnlIntrBkSttlmAmt", tx.original_amount, tx.original_currency)
        b.opt(t, "OrgnlIntrBkSttlmDt", tx.original_settlement_date)
    return serialise(doc)


def validate_camt029(data: bytes) -> None:
    """Parse (securely) and validate a camt.029.001.09; raise MessageRejected if invalid."""
    schemas.validate(parse_xml(data), CAMT029)


def _party(parent: etree._Element, name: str, ident: str | None, scheme: str | None) -> None:
    """A party the answer must name (Assgnr, Assgne, Cretr are required), named as the request
    named it; one the request did not identify (a Pty with only an address, an Othr id, or
    nothing; a payment with no InstgAgt) is an empty Pty, which the XSD allows (every element
    of PartyIdentification135 is optional): the case is answered, not failed on every retry."""
    if not _B.party(parent, name, ident, scheme):
        _B.sub(_B.sub(parent, name), "Pty")


def _is_group(tx: CancelledTransaction) -> bool:
    return not (tx.original_instr_id or tx.original_end_to_end_id or tx.original_tx_id or tx.original_uetr)


def _check_outcome(o: CancellationOutcome, i: int) -> None:
    if not isinstance(o, CancellationOutcome):
        raise ValueError(f"outcomes[{i}] is not a CancellationOutcome")
    if o.status not in ("ACCR", "RJCR", "PDCR"):
        raise ValueError(f"outcomes[{i}].status {o.status!r} is not valid: ACCR, RJCR or PDCR")
    if o.reason_code is None:
        if o.status == "RJCR":
            raise ValueError(f"outcomes[{i}]: a rejected cancellation (RJCR) needs a reason_code")
    elif o.status == "ACCR":
        raise ValueError(f"outcomes[{i}]: an accepted cancellation (ACCR) carries no rejection reason")
    elif o.reason_code not in REJECTION_REASONS:
        raise ValueError(
            f"outcomes[{i}].reason_code {o.reason_code!r} is not valid: " + ", ".join(sorted(REJECTION_REASONS))
        )
    if o.reason_code == "NARR" and not text(o.narrative or "", 105):
        raise ValueError(f"outcomes[{i}]: NARR needs a narrative")


def _reason(parent: etree._Element, o: CancellationOutcome) -> None:
    if o.reason_code is None and not text(o.narrative or "", 105):
        return
    info = _B.sub(parent, "CxlStsRsnInf")
    if o.reason_code is not None:
        _B.sub(_B.sub(info, "Rsn"), "Cd", o.reason_code)
    _B.narrative(info, o.narrative)
