"""After the hostile cases (this module runs last): nothing stuck, nothing crashed, nothing
leaked, nothing fetched, nobody else's transaction touched — and the count the issue asks for."""
from __future__ import annotations

import re

import pytest

from tests.hostile.ledger import LEDGER
from tests.hostile.messages import CANARIES
from tests.hostile.support import history, lambda_log_groups, log_events, queue_depths, tracebacks, wait_until_idle

pytestmark = [pytest.mark.hostile, pytest.mark.e2e]
MIN_CASES = 200
# a handler that crashed or logged an unexpected error (log.exception, an uncaught error, a timeout)
CRASH = re.compile(r"^Traceback|Task timed out|Runtime\.\w*Error|\"errorType\"")


@pytest.fixture(scope="module")
def logs(stack, boto_session):
    return boto_session.client("logs", endpoint_url=stack["endpoint_url"])


@pytest.fixture(scope="module")
def idle(stack, sqs) -> dict[str, int]:
    """Queue depths once the pipeline has finished whatever the cases left in flight."""
    return wait_until_idle(sqs, stack["outputs"], timeout=90)


def test_no_message_is_left_in_any_pipeline_queue_or_dead_letter_queue(idle, stack, sqs):
    assert idle and not any(idle.values()), idle
    assert not any(queue_depths(sqs, stack["outputs"]).values())


def test_no_handler_crashed_or_logged_an_unexpected_error(idle, logs, stack, hostile_start):
    groups = lambda_log_groups(logs, stack["stack_name"])
    assert groups, "no Lambda log groups: are Lambda logs still captured?"
    found = {}
    for group in groups:
        events = log_events(logs, group, hostile_start)
        crashes = [e["message"][:200] for e in events if CRASH.search(e["message"])]
        if crashes:
            found[group.rsplit("/", 1)[-1]] = tracebacks(events) or crashes
    assert not found, found


def test_no_payment_data_reaches_any_log(idle, logs, stack):
    """The canaries (debtor and creditor names, street, remittance text, IBANs of this run)
    were in hundreds of messages, valid and hostile: no log line of any Lambda has one."""
    leaks, scanned = {}, 0
    for group in lambda_log_groups(logs, stack["stack_name"]):
        events = log_events(logs, group)
        scanned += len(events)
        for e in events:
            hit = [c for c in CANARIES if c in e["message"]]
            if hit:
                leaks.setdefault(group.rsplit("/", 1)[-1], []).append(e["message"][:200])
    assert scanned, "no Lambda log lines at all: are Lambda logs still captured?"
    assert not leaks, leaks


def test_no_parser_followed_a_url(exfil):
    assert exfil.hits == []


def test_nothing_was_written_for_another_transaction(other_tenant, victims, own_settled, api):
    """The other tenant's transactions (settled, and issued without a message) and our own
    settled one have exactly the events they had before the hostile requests named them."""
    for tx, before in victims["history"].items():
        assert history(other_tenant, tx) == before, tx
    assert other_tenant.report(victims["settled"]).content == victims["report"]
    assert history(api, own_settled["tx"]) == own_settled["history"]


def test_the_suite_ran_enough_cases_and_none_got_a_5xx():
    if not LEDGER.outcomes:
        pytest.skip("no hostile HTTP case ran in this session")
    summary = LEDGER.summary()
    print(summary)
    assert not [c for c, o in LEDGER.outcomes.items() if o[:1] in ("5", "0")], summary
    if len(LEDGER.outcomes) < MIN_CASES:
        pytest.skip(f"only {len(LEDGER.outcomes)} cases selected (the whole suite has more than {MIN_CASES})")
