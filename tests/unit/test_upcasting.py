"""Events recorded before the values were typed still load (eventsourcing upcasting); a
Region's decisions recorded before they carried an action id still load.

tests/unit/fixtures/events_v1.json holds the stored events (topic and JSON state) that the
code of commit b4ec39d wrote for every payment path and for liquidity positions; they are
read here by today's mapper, replayed into aggregates and compared with what today's code
records for the same message.
"""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from chalicelib.domain import Payment, TxSts
from chalicelib.domain.models import CreditTransfer, Original, Reason, Transaction, TxOutcome, Verdict
from chalicelib.domain.position import Position
from chalicelib.domain.region import Region, region_aggregate_id
from chalicelib.pipeline.liquidity import Positions
from chalicelib.pipeline.payments import Payments

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "events_v1.json").read_text())
POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def stored(app, records) -> None:
    """Put the fixture's stored events into `app`'s recorder as they were written."""
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=UUID(r["originator_id"]),
                originator_version=r["originator_version"],
                topic=r["topic"],
                state=r["state"].encode(),
            )
            for r in records
        ]
    )


@pytest.fixture(scope="module")
def payments() -> Payments:
    app = Payments(env=POPO)
    stored(app, FIXTURE["payments"])
    return app


def payment(payments: Payments, path: str) -> Payment:
    return payments.repository.get(UUID(FIXTURE["paths"][path]))


def test_every_v1_event_decodes_to_typed_values(payments):
    for record in FIXTURE["payments"]:
        event = payments.mapper.to_domain_event(
            StoredEvent(
                UUID(record["originator_id"]), record["originator_version"], record["topic"], record["state"].encode()
            )
        )
        if isinstance(event, Payment.Received):
            ct = event.credit_transfer
            assert isinstance(ct, CreditTransfer) and ct.transactions
            assert all(isinstance(t, Transaction) and t.amount and t.currency for t in ct.transactions)
        if isinstance(event, (Payment.Accepted, Payment.Rejected)):
            assert all(isinstance(v, Verdict) for v in event.checks)
            assert all(isinstance(o, TxOutcome) for o in event.transactions)
        if isinstance(event, Payment.Rejected):
            assert all(isinstance(r, Reason) for r in event.reasons) and isinstance(event.original, Original)


def test_a_v1_credit_transfer_moves_its_first_transaction_down_and_keeps_every_value(payments):
    raw = next(
        json.loads(r["state"])["credit_transfer"]
        for r in FIXTURE["payments"]
        if r["topic"].endswith("Payment.Received") and r["originator_id"] == FIXTURE["paths"]["settled"]
    )
    ct = payment(payments, "settled").credit_transfer
    assert ct is not None and len(ct.transactions) == 1
    first = ct.transactions[0]
    for name in ("end_to_end_id", "uetr", "amount", "currency", "debtor_account", "creditor_name", "charge_bearer"):
        assert getattr(first, name) == raw[name] and raw[name]
    assert (ct.msg_id, ct.nb_of_txs, ct.settlement_method) == (
        raw["msg_id"],
        raw["nb_of_txs"],
        raw["settlement_method"],
    )


def test_the_oldest_shape_without_transaction_details_still_loads():
    """Before per-transaction details, `transactions` held only the four ids (or nothing)."""
    flat = {
        "message_type": "pacs.008.001.08",
        "msg_id": "M1",
        "creation_date_time": "2026-01-01T00:00:00Z",
        "nb_of_txs": "1",
        "end_to_end_id": "E1",
        "uetr": "U1",
        "amount": "10.00",
        "currency": "EUR",
        "instructing_agent": "DEUTDEFFXXX",
    }
    for txs in ([], [{"instr_id": None, "end_to_end_id": "E1", "tx_id": "T1", "uetr": "U1"}]):
        ct = CreditTransfer.from_stored({**flat, "transactions": txs})
        assert len(ct.transactions) == 1
        tx = ct.transactions[0]
        assert (tx.end_to_end_id, tx.uetr, tx.amount, tx.currency, tx.instructing_agent) == (
            "E1",
            "U1",
            "10.00",
            "EUR",
            "DEUTDEFFXXX",
        )
        assert tx.tx_id == ("T1" if txs else None)


@pytest.mark.parametrize(
    "path, status, released",
    [
        ("settled", TxSts.ACSC, True),
        ("settled_bah", TxSts.ACSC, True),
        ("multi", TxSts.ACSC, True),
        ("rejected_incoming", TxSts.RJCT, True),
        ("rejected_processing", TxSts.RJCT, True),
        ("cancelled", TxSts.CANC, True),
        ("returned", TxSts.ACSC, True),
        ("refused", TxSts.ACSC, True),
        ("second_message", TxSts.ACSC, True),
        ("issued", TxSts.ACCP, False),
    ],
)
def test_every_v1_payment_replays_to_its_state(payments, path, status, released):
    p = payment(payments, path)
    assert p.tx_sts is status and p.is_released is released
    if status is TxSts.RJCT:
        assert p.reason_code and p.reasons[0].code == p.reason_code
    if path == "rejected_incoming":
        assert p.reason_code == "FF01" and p.original.msg_id
    if path == "multi":
        assert len(p.transactions) == 2 and p.credit_transfer is not None and len(p.credit_transfer.transactions) == 2
    if path == "returned":
        assert p.is_returned and {c.resolution for c in p.cancellations.values()} == {"CNCL", "RJCR"}
    if path == "second_message":
        assert len(p.refused_submissions) == 1


def test_v1_positions_replay():
    app = Positions(env=POPO)
    stored(app, FIXTURE["positions"])
    ids = {UUID(r["originator_id"]) for r in FIXTURE["positions"]}
    for pid in ids:
        position = app.repository.get(pid)
        assert isinstance(position, Position) and position.used >= 0


def test_a_v1_payment_saves_a_v2_event_on_top(payments):
    """An old payment takes new events: a return case recorded on a v1 history."""
    p = payment(payments, "refused")
    p.refuse_cancellation(case_id="CASE-2", reason_code="CUST", rejection_code="CUST", answer_key="k")
    payments.save(p)
    assert payments.repository.get(p.id).cancellations["CASE-2"].resolution == "RJCR"


# A Region taken over and failed back as the code of commit c0ad3d7 stored it: its TakenOver and
# FailedBack carry no action id.
REGION_V1 = [
    (1, "Registered", {"timestamp": "2026-11-30T00:49:33.278129+00:00", "name": "eu-west-1"}),
    (
        2,
        "TakenOver",
        {
            "timestamp": "2026-11-30T00:49:33.278255+00:00",
            "by": "us-east-1",
            "reason": "peer down",
            "who": "ops",
            "at": "2026-11-30T00:00:00+00:00",
            "epoch": 1,
        },
    ),
    (
        3,
        "FailedBack",
        {
            "timestamp": "2026-11-30T00:49:33.278319+00:00",
            "who": "ops",
            "reason": "back",
            "at": "2026-11-30T01:00:00+00:00",
        },
    ),
]


def region_v1_state(state: dict[str, object]) -> str:
    """The JSON the transcoder wrote: the timestamp typed, the created event's originator topic."""
    typed = {**state, "timestamp": {"_type_": "datetime_iso", "_data_": state["timestamp"]}}
    if "name" in state:
        typed["originator_topic"] = "chalicelib.domain.region:Region"
    return json.dumps(typed, separators=(",", ":"))


def test_a_region_recorded_without_action_ids_loads_and_takes_new_decisions():
    app = Payments(env=POPO)
    rid = region_aggregate_id("eu-west-1")
    stored(
        app,
        [
            {
                "originator_id": str(rid),
                "originator_version": v,
                "topic": f"chalicelib.domain.region:Region.{t}",
                "state": region_v1_state(state),
            }
            for v, t, state in REGION_V1
        ],
    )
    region = app.repository.get(rid)
    assert isinstance(region, Region) and not region.is_taken_over and region.epoch == 1
    assert [d[:3] for d in region.decisions] == [("TakenOver", "ops", "peer down"), ("FailedBack", "ops", "back")]
    assert region.action("") is None
    events = [e for e in app.repository.event_store.get(rid) if isinstance(e, (Region.TakenOver, Region.FailedBack))]
    assert [e.action_id for e in events] == ["", ""]
    region.take_over(by="us-east-1", reason="again", who="ops", at="2026-12-01T00:00:00+00:00", epoch=2, action_id="k")
    app.save(region)
    assert app.repository.get(rid).action("k") == ("TakenOver", "again")
