"""Lookups on the deployed view: keyed by owner (the template's indexes), records written
before the lookup attributes found again after `rebuild --apply` (the migration), and a
multi-transaction message found by any of its transactions."""

from __future__ import annotations

import re
from uuid import uuid4

from lxml import etree

from chalicelib.adapters.dynamodb import TransactionView, aggregate_ids
from chalicelib.bootstrap import payments_env
from chalicelib.cli import settings_of_local_stack
from chalicelib.pipeline.payments import Payments
from chalicelib.projections.follower import rebuild
from tests.messages import EVENTS, fresh, redated

# An EndToEndId many payments share (as NOTPROVIDED is), this run's own: the stack holds
# whatever earlier tests paid, and a lookup answers at most 100.
SHARED = f"SHARED-{uuid4().hex[:12]}"


def notprovided() -> bytes:
    return re.sub(
        rb"<EndToEndId>[^<]*</EndToEndId>", f"<EndToEndId>{SHARED}</EndToEndId>".encode(), fresh("pacs008_bare.xml")
    )


def found(client, **query: str) -> set[str]:
    r = client.call("GET", "/transactions", params={**query, "limit": "100"})
    assert r.status_code == 200, r.text
    assert not r.json()["truncated"]
    return {t["transaction_id"] for t in r.json()["transactions"]}


def test_each_client_finds_only_its_own_and_a_rebuild_indexes_old_records(
    stack, api, other_tenant, boto_session, monkeypatch
):
    mine = [api.pay(notprovided()) for _ in range(3)]
    theirs = [other_tenant.pay(notprovided()) for _ in range(2)]
    for client, txs in ((api, mine), (other_tenant, theirs)):
        for tx in txs:
            assert client.report(tx).status_code == 200
            client.view(tx, version=4)
    assert set(mine) <= found(api, end_to_end_id=SHARED) and not set(theirs) & found(api, end_to_end_id=SHARED)
    assert set(theirs) <= found(other_tenant, end_to_end_id=SHARED)
    assert not set(mine) & found(other_tenant, end_to_end_id=SHARED)

    # a record as the previous code wrote it: no lookup attributes, so not found
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack["endpoint_url"])
    s = settings_of_local_stack(stack)
    dynamodb = boto_session.client("dynamodb", endpoint_url=stack["endpoint_url"])
    view = TransactionView(s.transactions_table, dynamodb, page_size=2)
    item = view.get_item(mine[0])
    assert item is not None and "owner_end_to_end_id" in item
    legacy = {k: v for k, v in item.items() if not k.startswith("owner_")}
    dynamodb.put_item(TableName=s.transactions_table, Item=legacy)
    assert mine[0] not in found(api, end_to_end_id=SHARED)

    report = rebuild(
        Payments(env=payments_env(s)), view, aggregate_ids(s.events_table, dynamodb, page_size=5), apply=True
    )
    assert mine[0] in report.mismatched and report.written >= 1, report
    assert mine[0] in found(api, end_to_end_id=SHARED)
    assert set(view.find(api_owner(view, mine[0]), "end_to_end_id", SHARED)) >= set(mine)


def api_owner(view: TransactionView, tx: str) -> str:
    record = view.get(tx)
    assert record is not None
    return record.owner


def test_any_transaction_of_a_message_is_found_and_answered(api, other_tenant):
    """The deployed follower indexes a two-transaction message's second transaction too: a
    lookup and a pacs.028 naming it find the payment (its owner only)."""
    message = fresh("pacs008_two_txs.xml")
    tx = api.pay(message)
    assert api.report(tx).status_code == 200
    api.view(tx, version=5)
    second = etree.fromstring(message).findall(".//{*}CdtTrfTxInf")[1]
    uetr, end_to_end_id = second.findtext("{*}PmtId/{*}UETR"), second.findtext("{*}PmtId/{*}EndToEndId")
    assert found(api, uetr=uetr) == found(api, end_to_end_id=end_to_end_id) == {tx}
    assert found(other_tenant, uetr=uetr) == set()
    request = redated((EVENTS / "pacs028_status_request.xml").read_bytes()).decode()
    request = re.sub(r"<OrgnlEndToEndId>[^<]*<", f"<OrgnlEndToEndId>{end_to_end_id}<", request)
    request = re.sub(r"<OrgnlUETR>[^<]*<", f"<OrgnlUETR>{uetr}<", request).encode()
    r = api.call("POST", "/status-requests", data=request, headers={"Content-Type": "application/xml"})
    assert r.status_code == 200, r.text
    answered = etree.fromstring(r.content).xpath("//*[local-name()='TxInfAndSts']/*[local-name()='OrgnlUETR']/text()")
    assert uetr in answered
    theirs = other_tenant.call("POST", "/status-requests", data=request, headers={"Content-Type": "application/xml"})
    assert theirs.status_code == 404
