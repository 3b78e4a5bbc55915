"""The hostile suite reuses the end-to-end fixtures (a MiniStack of the session's own with the
app deployed to it, and two tenants' clients) and adds what it needs to judge the aftermath:
the time it started, the other tenant's transactions it must not touch, and a listener that
URL entities point at."""
from __future__ import annotations

import time

import pytest

from chalicelib.iso20022 import read_credit_transfer

from tests.e2e.conftest import *  # noqa: F401,F403 - stack, api, other_tenant, parallel, notified...
from tests.hostile.ledger import LEDGER
from tests.hostile.messages import pacs008
from tests.hostile.support import Exfil, history, wait_until_idle


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
def hostile_start(stack, sqs) -> int:
    """Epoch ms from which every Lambda log line is the hostile suite's: taken once the
    pipeline is idle (tests before this suite may have left work in flight)."""
    wait_until_idle(sqs, stack["outputs"], timeout=120)
    time.sleep(1)
    return int(time.time() * 1000)


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
        "settled": settled, "issued": issued, "report": report.content,
        "uetr": ct.uetr, "end_to_end_id": ct.end_to_end_id,
        "history": {tx: history(other_tenant, tx) for tx in (settled, issued)},
    }


@pytest.fixture(scope="session")
def own_settled(api, hostile_start) -> dict:
    """One of our own transactions, settled: a second message for it must change nothing."""
    tx = api.pay(pacs008())
    report = api.report(tx, timeout=120)
    assert report.status_code == 200, report.text
    return {"tx": tx, "report": report.content, "history": history(api, tx)}
