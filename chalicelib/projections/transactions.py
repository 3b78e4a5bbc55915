"""The transaction view: one record per transaction, folded from its events.

`fold` is pure and is the only definition of the view. The stream follower, the rebuild
command and the read-your-writes fallback of `GET /transactions/{id}` all use it, so a
rebuilt view is equal to the live one by construction (and `rebuild` checks that it is).

Each event class of `Payment` has exactly one rule (`_RULES`, keyed by the class itself,
not its name); an event of any other class raises `UnknownEvent` rather than being skipped,
so a new event recorded by the aggregate cannot go unseen by the view. The record's
`status` is what the aggregate's `tx_sts` is after the same events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.domain.models import CreditTransfer, Reason, Transaction, TxOutcome
from chalicelib.domain.payment import TxSts, event_class
from chalicelib.iso20022 import group_status_of
from chalicelib.pipeline.decision import TOO_MANY
from chalicelib.projections.errors import HistoryGap, UnknownEvent
from chalicelib.projections.records import CancellationAnswer, RefusedSubmission, TransactionIds, TransactionRecord

# Events are eventsourcing domain events whose attributes are set from the command's
# arguments; they are typed `Any` here and read by the names the commands give them.
Rule = Callable[[TransactionRecord, Any], TransactionRecord]

_RULES: dict[type, Rule] = {}


_INITIATED = event_class("Initiated")  # the creation event: it starts the record


def _rule(cls: type) -> Callable[[Rule], Rule]:
    def register(rule: Rule) -> Rule:
        if cls in _RULES:
            raise ValueError(f"two view rules for {cls.__qualname__}")
        _RULES[cls] = rule
        return rule

    return register


def handled_event_classes() -> frozenset[type]:
    """Every event class the fold knows (the creation event included)."""
    return frozenset(_RULES) | {_INITIATED}


def _iso(ts: datetime) -> str:
    return ts.isoformat()


def _initiated(event: Any) -> TransactionRecord:
    at = _iso(event.timestamp)
    return TransactionRecord(
        transaction_id=str(event.originator_id),
        owner=event.owner,
        status=TxSts.ACCP.value,
        message_type=event.message_type,
        region_id=event.region_id,
        home_region=event.region_id,
        created_at=at,
        updated_at=at,
        version=event.originator_version,
    )


@_rule(event_class("Received"))
def _received(record: TransactionRecord, event: Any) -> TransactionRecord:
    ct: CreditTransfer = event.credit_transfer
    first = ct.transactions[0] if ct.transactions else Transaction()
    return replace(
        record,
        status=TxSts.ACTC.value,
        message_sha256=event.sha256,
        msg_id=ct.msg_id or None,
        nb_of_txs=ct.nb_of_txs or None,
        later_transactions=tuple(
            TransactionIds(end_to_end_id=t.end_to_end_id or None, uetr=t.uetr or None) for t in ct.transactions[1:]
        ),
        end_to_end_id=first.end_to_end_id or None,
        tx_id=first.tx_id or None,
        instr_id=first.instr_id or None,
        uetr=first.uetr or None,
        amount=first.amount or None,
        currency=first.currency or None,
        # ISO allows these at the group header for every transaction; the transaction's own first
        interbank_settlement_date=first.interbank_settlement_date or ct.interbank_settlement_date or None,
        instructing_agent=first.instructing_agent or ct.instructing_agent or None,
        instructed_agent=first.instructed_agent or ct.instructed_agent or None,
    )


@_rule(event_class("Rejected"))
def _rejected(record: TransactionRecord, event: Any) -> TransactionRecord:
    reasons: tuple[Reason, ...] = tuple(event.reasons)
    outcomes: tuple[TxOutcome, ...] = tuple(event.transactions or ())
    record = replace(
        record,
        status=TxSts.RJCT.value,
        reason_code=reasons[0].code,
        reason_codes=tuple(r.code for r in reasons),
        narrative=reasons[0].narrative,
        rejected_at_step=event.step,
    )
    if event.sha256:  # refused at intake: the message is only archived, its MsgId read if it could be
        msg_id = event.original.msg_id if event.original is not None else None
        record = replace(record, message_sha256=event.sha256, msg_id=msg_id or record.msg_id)
    if len(outcomes) > 1:
        record = _with_tx_statuses(record, tuple(TxSts.RJCT.value for _ in outcomes))
    if any(v.rule == TOO_MANY and not v.passed for v in getattr(event, "checks", ())):
        # over the stage's cap, refused whole before its transactions were judged: it is found
        # by its first transaction only, so that such a message (a 1 MiB pacs.008 may carry
        # thousands) costs the view no index item per transaction (follower.py)
        record = replace(record, later_transactions=())
    return record


@_rule(event_class("Accepted"))
def _accepted(record: TransactionRecord, event: Any) -> TransactionRecord:
    outcomes: tuple[TxOutcome, ...] = tuple(event.transactions or ())
    record = replace(record, status=TxSts.ACSP.value)
    if len(outcomes) > 1:
        record = _with_tx_statuses(record, tuple(o.status for o in outcomes))
    return record


@_rule(event_class("Released"))
def _released(record: TransactionRecord, event: Any) -> TransactionRecord:
    """Accepted becomes settled (ACSC); a rejected or cancelled payment keeps its status."""
    if record.status == TxSts.ACSP.value:
        record = replace(record, status=TxSts.ACSC.value)
        if record.tx_statuses:
            record = _with_tx_statuses(
                record, tuple(TxSts.ACSC.value if s == TxSts.ACSP.value else s for s in record.tx_statuses)
            )
    return replace(record, released_at=_iso(event.timestamp), report_msg_id=event.report_msg_id)


@_rule(event_class("Cancelled"))
def _cancelled(record: TransactionRecord, event: Any) -> TransactionRecord:
    """Cancelled before release: the payment and each of its transactions are CANC (as the
    pacs.002 released afterwards says)."""
    record = replace(record, status=TxSts.CANC.value)
    if record.tx_statuses:
        record = _with_tx_statuses(record, tuple(TxSts.CANC.value for _ in record.tx_statuses))
    return _answered(record, event, "CNCL", None)


@_rule(event_class("Returned"))
def _returned(record: TransactionRecord, event: Any) -> TransactionRecord:
    """Returned after settlement (pacs.004): the payment stays ACSC, and shows the return."""
    record = replace(record, returned=True, return_reason=event.reason_code, returned_at=_iso(event.timestamp))
    return _answered(record, event, "CNCL", None)


@_rule(event_class("CancellationRefused"))
def _cancellation_refused(record: TransactionRecord, event: Any) -> TransactionRecord:
    return _answered(record, event, "RJCR", event.rejection_code)


@_rule(event_class("TimedOut"))
def _timed_out(record: TransactionRecord, event: Any) -> TransactionRecord:
    """Not released within its SLA: rejected (every transaction with it) at step "timeout"."""
    record = replace(
        record,
        status=TxSts.RJCT.value,
        reason_code=event.reason_code,
        reason_codes=(event.reason_code,),
        narrative=event.narrative,
        rejected_at_step="timeout",
    )
    if record.tx_statuses:
        record = _with_tx_statuses(record, tuple(TxSts.RJCT.value for _ in record.tx_statuses))
    return record


@_rule(event_class("SubmissionRefused"))
def _submission_refused(record: TransactionRecord, event: Any) -> TransactionRecord:
    refused = RefusedSubmission(sha256=event.sha256, reason=event.reason, refused_at=_iso(event.timestamp))
    return replace(record, refused_submissions=(*record.refused_submissions, refused))


@_rule(event_class("Submitted"))
def _submitted(record: TransactionRecord, event: Any) -> TransactionRecord:
    """/inbox took a message: the record shows it once incoming has read it (Received)."""
    return record


@_rule(event_class("TakenOver"))
def _taken_over(record: TransactionRecord, event: Any) -> TransactionRecord:
    return replace(record, home_region=event.by)


@_rule(event_class("Redriven"))
def _redriven(record: TransactionRecord, event: Any) -> TransactionRecord:
    return record


def _answered(record: TransactionRecord, event: Any, resolution: str, rejection_code: str | None) -> TransactionRecord:
    """Record a cancellation case's answer (a case answered again replaces its answer, as in
    the aggregate); the summary is CNCL once any request was granted, else RJCR."""
    answer = CancellationAnswer(
        case_id=event.case_id,
        resolution=resolution,
        reason_code=event.reason_code,
        answered_at=_iso(event.timestamp),
        rejection_code=rejection_code,
    )
    if any(a.case_id == answer.case_id for a in record.cancellations):
        answers = tuple(answer if a.case_id == answer.case_id else a for a in record.cancellations)
    else:
        answers = (*record.cancellations, answer)
    granted = any(a.resolution == "CNCL" for a in answers)
    return replace(record, cancellations=answers, cancellation_status="CNCL" if granted else "RJCR")


def _with_tx_statuses(record: TransactionRecord, statuses: tuple[str, ...]) -> TransactionRecord:
    return replace(record, tx_statuses=statuses, group_status=group_status_of(statuses))


def apply(record: TransactionRecord | None, event: Any) -> TransactionRecord:
    """The record after `event` (a Payment domain event); an event the record already has
    (its version is not newer) changes nothing, so replays and redeliveries are harmless."""
    event_class = type(event)
    if event_class is _INITIATED:
        rule = None
    elif event_class in _RULES:
        rule = _RULES[event_class]
    else:
        raise UnknownEvent(event_class)
    version: int = event.originator_version
    if record is not None and version <= record.version:
        return record
    if rule is None:
        if record is not None:
            raise HistoryGap(f"{record.transaction_id}: a creation event at version {version}")
        return _initiated(event)
    if record is None:
        raise HistoryGap(f"{event.originator_id}: {event_class.__qualname__} before the creation event")
    if version != record.version + 1:
        raise HistoryGap(f"{record.transaction_id}: version {version} follows {record.version}")
    return replace(rule(record, event), version=version, updated_at=_iso(event.timestamp))


def fold(events: Iterable[Any], record: TransactionRecord | None = None) -> TransactionRecord | None:
    """The record after `events` (None when there are none)."""
    for event in events:
        record = apply(record, event)
    return record
