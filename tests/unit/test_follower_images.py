"""The view follower folds the events its stream records carry, and reads only when they do
not prove what follows (chalicelib/projections/follower.py).

The payments are the v1 fixture's, re-stored encrypted and compressed as deployed; their
stream records are made as a Lambda event carries them (binary state as base64 text). Every
record the follower writes must be the full fold of the events up to its version, whatever
the batches: reordered, repeated, with gaps, interleaved with another payment's, with a cache
small enough to forget.
"""

from __future__ import annotations

import json
from base64 import b64encode
from pathlib import Path
from typing import Any
from unittest import mock
from uuid import UUID

from eventsourcing.cipher import AESCipher
from eventsourcing.persistence import StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.pipeline.payments import Payments
from chalicelib.projections import follower
from chalicelib.projections.transactions import fold
from tests.messages import fresh
from tests.unit.fakes import MemoryView, drain, memory_service

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "events_v1.json").read_text())
PATHS = FIXTURE["paths"]
RETURNED, CANCELLED = PATHS["returned"], PATHS["cancelled"]  # 6 and 5 events


def _encrypted_payments() -> Payments:
    plain = Payments(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app = Payments(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.popo",
            "CIPHER_TOPIC": "eventsourcing.cipher:AESCipher",
            "CIPHER_KEY": AESCipher.create_key(32),
            "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        }
    )
    for s in FIXTURE["payments"]:
        stored = StoredEvent(UUID(s["originator_id"]), s["originator_version"], s["topic"], s["state"].encode())
        app.recorder.insert_events([app.mapper.to_stored_event(plain.mapper.to_domain_event(stored))])
    return app


PAYMENTS = _encrypted_payments()


class _Record:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def to_dict(self) -> dict[str, Any]:
        return self.raw


def record_of(app: Payments, tid: str, version: int, name: str = "INSERT") -> _Record:
    """The stream record of event `version` of `tid`, as Lambda hands it over (NEW_IMAGE)."""
    (stored,) = app.recorder.select_events(UUID(tid), gt=version - 1, lte=version)
    keys = {"pk": {"S": tid}, "sk": {"N": str(version)}}
    image = {**keys, "topic": {"S": stored.topic}, "state": {"B": b64encode(stored.state).decode()}}
    image["hash"] = {"S": f"{version:064x}"}
    return _Record({"eventName": name, "dynamodb": {"Keys": keys, "NewImage": image, "SequenceNumber": str(version)}})


def length(tid: str) -> int:
    return len(PAYMENTS.recorder.select_events(UUID(tid)))


def full_fold(tid: str, upto: int | None = None):
    return fold(e for e in PAYMENTS.events.get(UUID(tid)) if upto is None or e.originator_version <= upto)


def follow(view: MemoryView, recent: follower.RecentRecords, records: list[_Record]) -> int:
    """One batch; the number of transactions whose events had to be read."""
    with mock.patch.object(follower, "refresh", wraps=follower.refresh) as read:
        assert follower.follow(PAYMENTS, view, records, recent) == {"batchItemFailures": []}  # type: ignore[arg-type]
    return read.call_count


def test_a_payments_records_from_version_one_are_folded_without_a_read():
    view, recent = MemoryView(), follower.RecentRecords()
    assert follow(view, recent, [record_of(PAYMENTS, RETURNED, v) for v in (3, 1, 2, 2)]) == 0
    assert view.get(RETURNED) == full_fold(RETURNED, 3)
    assert follow(view, recent, [record_of(PAYMENTS, RETURNED, v) for v in (4, 5, 6)]) == 0  # onto the cache
    assert view.get(RETURNED) == full_fold(RETURNED)
    assert follow(view, recent, [record_of(PAYMENTS, RETURNED, 6)]) == 0  # a redelivery: nothing to do


def test_a_gap_forces_a_read():
    view, recent = MemoryView(), follower.RecentRecords()
    assert follow(view, recent, [record_of(PAYMENTS, RETURNED, v) for v in (1, 2, 4)]) == 1
    assert view.get(RETURNED) == full_fold(RETURNED)  # the read sees every event there is


def test_records_the_cache_does_not_lead_up_to_are_read():
    view, recent = MemoryView(), follower.RecentRecords()
    assert follow(view, recent, [record_of(PAYMENTS, RETURNED, v) for v in (1, 2)]) == 0
    assert follow(view, recent, [record_of(PAYMENTS, RETURNED, 4)]) == 1  # version 3 is missing
    assert follow(view, follower.RecentRecords(), [record_of(PAYMENTS, RETURNED, 5)]) == 1  # another container


def test_what_the_images_cannot_prove_is_read():
    tid = CANCELLED
    modified = record_of(PAYMENTS, tid, 1, name="MODIFY")
    keys_only = record_of(PAYMENTS, tid, 1)
    del keys_only.raw["dynamodb"]["NewImage"]
    undecodable = record_of(PAYMENTS, tid, 1)
    undecodable.raw["dynamodb"]["NewImage"]["state"] = {"B": b64encode(b"not what was written").decode()}
    stateless = record_of(PAYMENTS, tid, 1)
    del stateless.raw["dynamodb"]["NewImage"]["state"]
    rewritten = record_of(PAYMENTS, tid, 1)
    rewritten.raw["dynamodb"]["NewImage"]["topic"] = {"S": "chalicelib.domain.payment:Payment.Received"}
    for odd in (modified, keys_only, undecodable, stateless):
        view = MemoryView()
        assert follow(view, follower.RecentRecords(), [odd]) == 1, odd.raw
        assert view.get(tid) == full_fold(tid)
    # two different items of one version in a batch: removed and written again
    view = MemoryView()
    assert follow(view, follower.RecentRecords(), [record_of(PAYMENTS, tid, 1), rewritten]) == 1


def test_bookkeeping_items_are_skipped():
    claim = {"pk": {"S": "$claim#uetr#x"}, "sk": {"N": "0"}}
    raw = {"eventName": "INSERT", "dynamodb": {"Keys": claim, "NewImage": claim, "SequenceNumber": "1"}}
    view = MemoryView()
    assert follow(view, follower.RecentRecords(), [_Record(raw)]) == 0
    assert view.items == {}


def test_the_cache_forgets_the_least_recently_used_and_keeps_the_newest_version():
    recent = follower.RecentRecords(capacity=2)
    older, newer = full_fold(RETURNED, 2), full_fold(RETURNED, 4)
    assert older is not None and newer is not None
    recent.remember(newer)
    recent.remember(older)  # an older fold never replaces a newer one
    assert recent.get(RETURNED) == newer
    for tid in (CANCELLED, PATHS["settled"]):
        record = full_fold(tid)
        assert record is not None
        recent.remember(record)
    assert recent.get(RETURNED) is None and recent.get(CANCELLED) == full_fold(CANCELLED)


@st.composite
def deliveries(draw: st.DrawFn) -> list[list[tuple[str, int]]]:
    """Batches of (transaction, version) of two payments: any order, repeats and gaps."""
    both = [(tid, v) for tid in (RETURNED, CANCELLED) for v in range(1, length(tid) + 1)]
    return draw(st.lists(st.lists(st.sampled_from(both), min_size=1, max_size=8), min_size=1, max_size=8))


@settings(max_examples=150, deadline=None)
@given(batches=deliveries(), capacity=st.integers(1, 3))
def test_every_record_written_is_the_full_fold_at_its_version(batches, capacity):
    view, recent = MemoryView(), follower.RecentRecords(capacity=capacity)
    for batch in batches:
        follow(view, recent, [record_of(PAYMENTS, tid, v) for tid, v in batch])
        for tid in (RETURNED, CANCELLED):
            shown = view.get(tid)
            assert shown is None or shown == full_fold(tid, shown.version)
            cached = recent.get(tid)
            assert cached is None or cached == full_fold(tid, cached.version)
    # once a payment's last record has come, the view is its full fold
    for tid in (RETURNED, CANCELLED):
        follow(view, recent, [record_of(PAYMENTS, tid, length(tid))])
        assert view.get(tid) == full_fold(tid)


def test_a_later_transactions_index_items_are_written_before_the_record_that_brings_them():
    """A two-transaction payment: the batch that folds its message (Received) writes the index
    items of its second transaction, then the record; batches after it, and a redelivery,
    write none; a container that must read the events (a cold cache) writes them again,
    harmlessly (they are the same)."""
    p = memory_service()
    tid = str(p.issue_transaction("pacs.008", "r", "client-a").id)
    p.submit(UUID(tid), "pacs.008", fresh("pacs008_two_txs.xml"), "client-a")
    drain(p)
    app, versions = p.payments, range(1, len(p.payments.recorder.select_events(UUID(tid))) + 1)
    expected = fold(app.events.get(UUID(tid)))
    assert expected is not None and len(expected.later_transactions) == 1

    view, recent = MemoryView(), follower.RecentRecords()
    calls: list[str] = []
    for name in ("put_lookup_items", "put_if_newer"):
        real = getattr(view, name)
        setattr(view, name, lambda record, name=name, real=real: calls.append(name) or real(record))

    def batch(numbers: Any, cache: follower.RecentRecords = recent) -> list[str]:
        calls.clear()
        assert follower.follow(app, view, [record_of(app, tid, v) for v in numbers], cache) == {"batchItemFailures": []}  # type: ignore[arg-type]
        return list(calls)

    assert batch([1, 2]) == ["put_if_newer"]  # Initiated, Submitted: no message read yet
    assert batch([3]) == ["put_lookup_items", "put_if_newer"]  # Received: the index items first
    assert batch(versions[3:]) == ["put_if_newer"]
    assert batch([2, 3]) == []  # a redelivery
    assert view.get(tid) == expected and set(view.items) == {tid, f"{tid}#2"}
    assert view.items[f"{tid}#2"] == expected.lookup_items()[f"{tid}#2"]
    assert batch(versions[-1:], follower.RecentRecords()) == ["put_lookup_items", "put_if_newer"]  # read
    assert set(view.items) == {tid, f"{tid}#2"}
