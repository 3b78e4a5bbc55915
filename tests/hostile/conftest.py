"""The hostile suite reuses the end-to-end fixtures (a MiniStack of the session's own with the
app deployed to it, and two tenants' clients) and adds what it needs to judge the aftermath:
the time it started, the other tenant's transactions it must not touch, and a listener that
URL entities point at."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from chalicelib.adapters.dynamodb import TransactionView
from chalicelib.iso20022 import read_credit_transfer
from tests.e2e.conftest import *  # noqa: F403 - stack, api, other_tenant, parallel, notified...
from tests.hostile.ledger import LEDGER
from tests.hostile.messages import pacs008
from tests.hostile.support import Exfil, history
from tests.waiting import follower_past_marker, wait_until_idle

HOSTILE = Path(__file__).resolve().parent


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "aftermath: judges what the hostile cases left behind; runs after the last of them"
    )


@pytest.hookimpl(trylast=True)  # after any plugin that reorders
def pytest_collection_modifyitems(session, config, items):
    """Move the items marked `aftermath` right after the session's last other hostile item:
    they judge what the hostile cases left behind, whatever the file names or the order the
    files were given in."""
    after = [item for item in items if item.get_closest_marker("aftermath")]
    if not after:
        return
    rest = [item for item in items if not item.get_closest_marker("aftermath")]
    hostile = [i for i, item in enumerate(rest) if HOSTILE in Path(item.path).resolve().parents]
    at = hostile[-1] + 1 if hostile else len(rest)
    items[:] = rest[:at] + after + rest[at:]


def pytest_terminal_summary(terminalreporter):
    if LEDGER.outcomes:
        terminalreporter.write_sep("-", "hostile input")
        terminalreporter.write_line(LEDGER.summary())


@pytest.fixture(scope="session")
def exfil():
    listener = Exfil()
    yield listener
    listener.close()


@pytest.fixture(scope="session")
def sqs(stack, boto_session):
    return boto_session.client("sqs", endpoint_url=stack["endpoint_url"])


@pytest.fixture(scope="session")
def view(stack, boto_session) -> TransactionView:
    """The stack's transaction view table, read directly."""
    dynamodb = boto_session.client("dynamodb", endpoint_url=stack["endpoint_url"])
    return TransactionView(stack["outputs"]["TransactionsTableName"], dynamodb)


@pytest.fixture(scope="session")
def hostile_start(stack, sqs, api, view) -> int:
    """Epoch ms from which every Lambda log line is the hostile suite's: taken once the
    work that tests before this suite may have left in flight is done, and logged.

    MiniStack writes an invocation's log lines when the invocation returns. A queue
    handler's invocation returns before its message is deleted, so once the pipeline
    queues are empty their lines are written. The view follower is fed by the events
    table's stream, which no queue shows: it has handled every earlier event once it has
    written a marker appended after them, and the invocation that did so has returned
    (and logged) once the follower has written a second marker, appended after the first
    one was written. (Before, a fixed 1 s sleep hoped for all this.)"""
    wait_until_idle(sqs, stack["outputs"], timeout=120)
    follower_past_marker(api, view)
    follower_past_marker(api, view)
    return int(time.time() * 1000) + 1  # lines of this very millisecond are earlier work's


@pytest.fixture(scope="session")
def victims(other_tenant, hostile_start) -> dict:
    """The other tenant's transactions: one settled, one only issued (no message yet).
    Hostile requests name them; their histories must never change."""
    body = pacs008()
    settled = other_tenant.pay(body)
    report = other_tenant.report(settled, timeout=120)
    assert report.status_code == 200, report.text
    issued = other_tenant.new_transaction()
    ct = read_credit_transfer(body)
    return {
        "settled": settled,
        "issued": issued,
        "report": report.content,
        "uetr": ct.transactions[0].uetr,
        "end_to_end_id": ct.transactions[0].end_to_end_id,
        "history": {tx: history(other_tenant, tx) for tx in (settled, issued)},
    }


@pytest.fixture(scope="session")
def own_settled(api, hostile_start) -> dict:
    """One of our own transactions, settled: a second message for it must change nothing."""
    tx = api.pay(pacs008())
    report = api.report(tx, timeout=120)
    assert report.status_code == 200, report.text
    return {"tx": tx, "report": report.content, "history": history(api, tx)}
