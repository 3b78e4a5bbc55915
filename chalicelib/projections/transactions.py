"""The transaction view: one flat record per transaction, folded from its events.

`fold` is pure and is the only definition of the view. The stream follower, the rebuild
command and the read-your-writes fallback of `GET /transactions/{id}` all use it, so a
rebuilt view is equal to the live one by construction (and `rebuild` checks that it is).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

# Identifiers and amounts copied from the Received event's credit transfer.
_FROM_MESSAGE = (
    "msg_id",
    "end_to_end_id",
    "tx_id",
    "instr_id",
    "uetr",
    "amount",
    "currency",
    "interbank_settlement_date",
    "instructing_agent",
    "instructed_agent",
    "nb_of_txs",
)


def _iso(ts: datetime) -> str:
    return ts.isoformat()


def apply(view: dict[str, Any] | None, event: Any) -> dict[str, Any]:
    """Return the view after `event` (an eventsourcing domain event of a Payment)."""
    version = event.originator_version
    view = dict(view or {})
    if view and version <= view.get("version", 0):
        return view  # already applied: replays and redeliveries change nothing
    kind = type(event).__name__
    if kind == "Initiated":
        view = {
            "transaction_id": str(event.originator_id),
            "owner": event.owner,
            "status": "ACCP",
            "message_type": event.message_type,
            "region_id": event.region_id,
            "created_at": _iso(event.timestamp),
        }
    elif kind == "Received":
        view["status"] = "ACTC"
        view["message_sha256"] = event.sha256
        ct = event.credit_transfer or {}
        for field in _FROM_MESSAGE:
            if ct.get(field) not in (None, ""):
                view[field] = str(ct[field])
    elif kind == "Rejected":
        view["status"] = "RJCT"
        view["reason_code"] = event.reasons[0]["code"]
        view["reason_codes"] = [r["code"] for r in event.reasons]
        view["narrative"] = event.reasons[0].get("narrative")
        view["rejected_at_step"] = event.step
        if event.sha256:
            view["message_sha256"] = event.sha256
    elif kind == "Accepted":
        view["status"] = "ACSP"
        statuses = [t["status"] for t in getattr(event, "transactions", None) or []]
        if len(statuses) > 1:
            view["tx_statuses"] = statuses
            view["group_status"] = "ACSP" if set(statuses) == {"ACSP"} else "PART"
    elif kind == "Released":
        if view.get("status") == "ACSP":
            view["status"] = "ACSC"
            if "tx_statuses" in view:
                view["tx_statuses"] = ["ACSC" if s == "ACSP" else s for s in view["tx_statuses"]]
                view["group_status"] = "ACSC" if view["group_status"] == "ACSP" else "PART"
        view["released_at"] = _iso(event.timestamp)
        view["report_msg_id"] = event.report_msg_id
    view["version"] = version
    view["updated_at"] = _iso(event.timestamp)
    return view


def fold(events: Iterable[Any], view: dict[str, Any] | None = None) -> dict[str, Any] | None:
    for event in events:
        view = apply(view, event)
    return view
