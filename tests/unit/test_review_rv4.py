"""Review rv4: claims, positions and limits keyed by BIC11; view snapshot format 2.

Each test fails on the code as reviewed and says what goes wrong, and why it matters.
"""

from __future__ import annotations

import dataclasses
import re
from unittest import mock
from uuid import UUID

import pytest
from lxml import etree

from chalicelib import bootstrap
from chalicelib.eventstore.backup import stream_heads
from chalicelib.pipeline.liquidity import parse_limits
from chalicelib.projections.recovery import FORMAT, ViewSnapshot, full_replay, recover
from tests.messages import fresh
from tests.unit.fakes import drain, memory_service
from tests.unit.test_recovery import aws, multi_transaction_payment, svc  # noqa: F401  (fixtures)

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}
OWNER = "client-a"


def pay(p: bootstrap.Service, body: bytes) -> UUID:
    tx = p.issue_transaction("pacs.008", "r", OWNER).id
    p.submit(tx, "pacs.008", body, OWNER)
    drain(p)
    return tx


def outcome(p: bootstrap.Service, tx: UUID) -> tuple[str | None, list[str]]:
    doc = etree.fromstring(p.status_report(tx, OWNER))
    status = doc.findtext(".//p:TxInfAndSts/p:TxSts", namespaces=NS) or doc.findtext(".//p:GrpSts", namespaces=NS)
    return status, doc.xpath(".//p:StsRsnInf/p:Rsn/p:Cd/text()", namespaces=NS)


def bic8_without_uetr() -> bytes:
    """pacs008_bare.xml with fresh ids, its InstgAgt spelt DEUTDEFF and no UETR (optional in
    ISO 20022 and on every stage that does not set uetr_required)."""
    body = re.sub(rb"(<InstgAgt>\s*<FinInstnId>\s*<BICFI>)DEUTDEFFXXX", rb"\1DEUTDEFF", fresh("pacs008_bare.xml"))
    body = re.sub(rb"\s*<UETR>[^<]*</UETR>", b"", body)
    assert b"<BICFI>DEUTDEFF</BICFI>" in body and b"UETR" not in body
    return body


def test_a_bic8_message_received_before_the_bic11_keying_and_sent_again_after_it_settles_twice() -> None:
    """Claims were keyed "DEUTDEFF|<MsgId>" and "DEUTDEFF|<EndToEndId>" for a message spelling
    its instructing agent DEUTDEFF; they are now keyed "DEUTDEFFXXX|...". So for the whole
    duplicate window after the deploy (30 days by default), the very same message resent by
    the same bank, spelt the same way, passes the MsgId and EndToEndId checks: without a UETR
    (optional unless uetr_required) nothing else catches it, and the bank's customer is
    paid twice. The module docstring accepts this ("a second claim under the old key would cost
    a write on every BIC8 message for ever"), but the cost is bounded: the old key needs
    checking only for BIC8-spelt messages and only until the deploy time plus the window
    (e.g. a setting naming when the keying changed), after which it can be dropped."""
    p = memory_service()
    body = bic8_without_uetr()
    with mock.patch("chalicelib.pipeline.duplicates.agent_key", lambda agent, scheme: agent or ""):
        assert outcome(p, pay(p, body)) == ("ACSC", [])  # received before the change
    assert outcome(p, pay(p, body)) == ("RJCT", ["DUPL"])  # the same message again, after it


def test_a_limit_given_twice_under_the_same_key_is_refused_not_the_last_one_taken() -> None:
    """`parse_limits` now refuses one agent and currency limited under two keys, because
    "which one binds would be a guess". The same key written twice is that same conflict, but
    json.loads keeps the last value silently: an operator who appends a lower limit for a bank
    above an older, higher one (or the reverse) gets whichever came last, with no error, where
    the two-spelling case stops the deploy. (object_pairs_hook sees every pair.)"""
    with pytest.raises(ValueError):
        parse_limits('{"DEUTDEFFXXX:EUR": "1000000", "DEUTDEFFXXX:EUR": "1000000000"}')


def test_a_limit_that_can_bind_no_message_is_refused() -> None:
    """A currency is three upper-case letters in every message (the XSD's
    ActiveOrHistoricCurrencyCode), and `limit_for` looks the key up as written. So a limit
    "DEUTDEFF:eur" is accepted, normalised to "DEUTDEFFXXX:eur" and never applies: the bank's
    EUR payments fall through to its all-currency or "*" limit, or to none (unlimited), with no
    error. Settings refuse such BICs in tenant_agents ("would match no message and fail closed
    unnoticed"); a limit fails open, which is worse. parse_limits should refuse a currency
    part that is not [A-Z]{3}, and a BIC-shaped agent that is not upper case."""
    for text in ('{"DEUTDEFF:eur": "10"}', '{"deutdeff": "10"}', '{" DEUTDEFF": "10"}'):
        with pytest.raises(ValueError):
            parse_limits(text)


def test_a_format_2_snapshot_of_a_view_not_yet_migrated_recovers_a_view_without_later_transactions(
    svc: bootstrap.Service,  # noqa: F811
    aws: object,  # noqa: F811
) -> None:
    """Format 2 is meant to say "the records are folds, take them as stored". But `ViewSnapshot.of`
    labels whatever the live view holds FORMAT 2, and a view not yet migrated by
    `rebuild --apply` holds multi-transaction records without `later_transactions` (the
    `--apply` guard's own comment names this case). Recovered from such a snapshot, the record
    at its stream's head is taken as stored: the recovered view has no `<id>#2` index item and
    no transaction 2 on the record, so after a table loss (snapshot taken, then the migration,
    then the loss) `recover view --apply` restores a view in which a lookup or a pacs.028 by
    the second transaction finds nothing, and a released payment gets no event to heal it.
    `recover` promises the fold of all events whatever the snapshot. Fix: `of` (or `recover`)
    must not trust a record whose message has more transactions than it lists (e.g. refold
    records with no `later_transactions` whose status says several transactions), or
    `snapshot-view` should refuse until the view is migrated."""
    tid = multi_transaction_payment(svc)
    live = svc.adapters.view.get(tid)
    assert live is not None and live.later_transactions
    svc.adapters.view.put_unconditionally(dataclasses.replace(live, later_transactions=()))  # not migrated
    snapshot = ViewSnapshot.from_bytes(ViewSnapshot.of(svc.adapters.view.scan_items()).to_bytes())
    assert snapshot.format == FORMAT and snapshot.records_are_folds

    heads = stream_heads(aws, "events")
    report = recover(snapshot, heads.items(), lambda t, gt: svc.payments.events.get(t, gt=gt))

    folded = full_replay(heads.items(), lambda t, gt: svc.payments.events.get(t, gt=gt))
    assert f"{tid}#2" in folded
    assert report.items == folded
