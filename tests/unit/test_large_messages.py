"""A message of many transactions: the cap rejects it whole before anything is taken, and
its transactions' claims are taken concurrently with the first-come outcome of one by one."""

from __future__ import annotations

import re
import threading
import time
import uuid
from typing import Any

from bench.large_messages import many_transactions
from chalicelib import bootstrap, checks
from chalicelib.adapters.settings import Settings
from chalicelib.domain.position import position_id
from tests.unit.fakes import MemoryClaims, drain, memory_adapters
from tests.unit.test_duplicates_liquidity import drain_incoming_then_parallel_processing
from tests.unit.test_multi_transaction import report

OWNER = "client-a"
LIMITS = '{"DEUTDEFFXXX:EUR": "1000000000"}'


class SlowClaims(MemoryClaims):
    """Claims that take a while, counting how many are in flight at once; `slow` values
    take longer still."""

    def __init__(self, delay: float = 0.01, slow: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.delay, self.slow = delay, slow
        self.in_flight = self.most_in_flight = 0
        self.calls: list[tuple[str, str]] = []
        self.counter = threading.Lock()

    def claim(self, kind: str, value: str, transaction_id: str, now: float, window_s: int) -> str | None:
        with self.counter:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.calls.append((kind, value))
        time.sleep(self.delay * (5 if any(s in value for s in self.slow) else 1))
        try:
            return super().claim(kind, value, transaction_id, now, window_s)
        finally:
            with self.counter:
                self.in_flight -= 1


def service(claims: MemoryClaims, **check_settings: Any) -> bootstrap.Service:
    overrides: dict[str, Any] = {**memory_adapters(), "claims": claims}
    if check_settings:
        overrides["check_settings"] = checks.CheckSettings(**check_settings)
    return bootstrap.build(Settings(liquidity_limits=LIMITS), **overrides)


def pay(p: bootstrap.Service, body: bytes) -> Any:
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", body, OWNER)
    drain(p)
    return tx


def test_a_message_over_the_cap_is_rejected_before_any_claim_or_reservation():
    # the cap holds even with the transactions_per_message rule switched off
    claims = SlowClaims(delay=0)
    p = service(claims, max_transactions=3, disabled_rules=frozenset({"transactions_per_message"}))
    tx = pay(p, many_transactions(5))
    group, per_tx = report(p, tx)
    assert group == "RJCT" and per_tx == [("RJCT", ["NARR"])] * 5
    assert claims.calls == [] and claims.held == {}
    positions = p.liquidity.positions.repository
    assert position_id("DEUTDEFFXXX", "EUR") not in positions
    recorded = p.payments.get_payment(tx)
    assert [v.rule for v in recorded.checks] == ["transactions_per_message"]  # nothing else was run
    assert "at most 3 transaction(s) per message" in recorded.checks[0].narrative


def test_a_message_at_the_cap_settles():
    p = service(MemoryClaims(), max_transactions=3)
    assert report(p, pay(p, many_transactions(3))) == ("ACSC", [("ACSC", [])] * 3)


def test_the_transactions_claims_are_taken_concurrently():
    claims = SlowClaims(delay=0.02)
    p = service(claims)
    group, per_tx = report(p, pay(p, many_transactions(40)))
    assert group == "ACSC" and per_tx == [("ACSC", [])] * 40
    assert len(claims.calls) == 1 + 2 * 40 and claims.most_in_flight > 4


def test_a_repeated_identifier_goes_to_the_earlier_transaction_whatever_the_timing():
    body = many_transactions(6)
    uetrs = re.findall(rb"<UETR>([^<]*)</UETR>", body)
    e2es = re.findall(rb"<EndToEndId>([^<]*)</EndToEndId>", body)
    # tx 4 repeats tx 1's UETR, tx 6 repeats tx 2's EndToEndId; tx 1 and tx 2 claim slowly
    body = body.replace(uetrs[3], uetrs[0]).replace(e2es[5], e2es[1])
    claims = SlowClaims(delay=0.01, slow=frozenset({uetrs[0].decode(), e2es[1].decode()}))
    p = service(claims)
    tx = pay(p, body)
    expected = [("ACSC", []), ("ACSC", []), ("ACSC", []), ("RJCT", ["DUPL"]), ("ACSC", []), ("RJCT", ["AM05"])]
    assert report(p, tx) == ("PART", expected)
    decided = [o.status for o in p.payments.get_payment(tx).transactions]
    # a retried decision finds the same claims held by the same transactions
    again = p.processing.decide(p.payments.get_payment(tx))
    assert [o.status for o in again.outcomes] == decided


def test_of_concurrent_copies_each_transaction_settles_exactly_once():
    body = many_transactions(10)
    msg_id = re.search(rb"<MsgId>([^<]*)</MsgId>", body)
    assert msg_id is not None
    p = service(SlowClaims(delay=0.002))
    txs = []
    for _ in range(8):  # the same transactions under a MsgId of its own each
        copy = body.replace(msg_id[1], f"COPY-{uuid.uuid4().hex[:12]}".encode())
        tx = p.issue_transaction("pacs.008", "r", OWNER).id
        p.submit(tx, "pacs.008", copy, OWNER)
        txs.append(tx)
    drain_incoming_then_parallel_processing(p)
    settled = [[s == "ACSC" for s, _ in report(p, tx)[1]] for tx in txs]
    assert [sum(column) for column in zip(*settled, strict=True)] == [1] * 10


def received_only(cap: int, transactions: int) -> tuple[bootstrap.Service, Any]:
    """A payment whose message the incoming step has read (Received), not yet decided."""
    from chalicelib.pipeline.messages import StepMessage

    overrides: dict[str, Any] = {**memory_adapters(), "check_settings": checks.CheckSettings(max_transactions=cap)}
    p = bootstrap.build(Settings(liquidity_limits=LIMITS, step_handoff="queue"), **overrides)
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", many_transactions(transactions), OWNER)
    _, _, body = p.adapters.incoming.sent.pop(0)
    p.incoming(StepMessage(tx, body))
    return p, tx


def test_the_follower_indexes_no_transaction_of_a_message_over_the_cap_at_any_step():
    """At Received the follower cannot know that the message will be rejected, but it knows
    the stage's cap: a message over it gets no index item (the processing step rejects it
    whole, and the fold then drops its later transactions), so none is left behind either."""
    from chalicelib.projections import follower
    from tests.unit.fakes import MemoryView

    p, tx = received_only(cap=3, transactions=5)
    view = MemoryView()
    received = follower.refresh(p.payments, view, str(tx), max_transactions=3)
    assert received is not None and received.status == "ACTC" and len(received.later_transactions) == 4
    assert set(view.items) == {str(tx)}  # the record, no index item
    drain(p)
    rejected = follower.refresh(p.payments, view, str(tx), max_transactions=3)
    assert rejected is not None and rejected.status == "RJCT" and rejected.later_transactions == ()
    assert set(view.items) == {str(tx)}
    assert follower.rebuild(p.payments, view, [str(tx)]).ok  # nothing missing, nothing orphaned


def test_the_follower_indexes_a_message_within_the_cap_at_received():
    from chalicelib.projections import follower
    from tests.unit.fakes import MemoryView

    p, tx = received_only(cap=5, transactions=5)
    view = MemoryView()
    follower.refresh(p.payments, view, str(tx), max_transactions=5)
    assert len(view.items) == 5  # the record and transactions 2..5
    drain(p)
    follower.refresh(p.payments, view, str(tx), max_transactions=5)
    assert follower.rebuild(p.payments, view, [str(tx)]).ok


def test_a_message_rejected_for_too_many_transactions_costs_the_follower_no_more_than_the_cap():
    """decision.py: `max_transactions` "is the cap that keeps a step within the function's
    timeout", and a message over it is rejected whole before any claim or reservation. The view
    follower's work for such a payment is bounded by the cap too: one 1 MiB pacs.008 of a
    couple of thousand transactions, which the pipeline rejects cheaply (NARR), would otherwise
    make the follower write thousands of index items in one invocation (and again whenever it
    folds from the events); past its timeout the whole stream batch would be retried (other
    payments of the shard waiting) and end in the failures queue. Here the follower is given no
    cap, as `stream replay` calls it: the rejected payment's fold alone bounds its index items."""
    from chalicelib.projections import follower
    from tests.unit.fakes import MemoryView

    cap = 3
    p = service(MemoryClaims(), max_transactions=cap)
    tid = str(pay(p, many_transactions(40)))
    assert p.payments.get_payment(uuid.UUID(tid)).tx_sts.value == "RJCT"  # rejected whole: over the cap
    view, written = MemoryView(), []
    real = view.put_lookup_items
    view.put_lookup_items = lambda rec: written.extend(rec.lookup_items()) or real(rec)  # type: ignore[method-assign]
    follower.refresh(p.payments, view, tid)
    assert len(written) <= cap - 1
