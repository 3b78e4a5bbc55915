"""After the hostile cases: nothing stuck, nothing crashed, nothing leaked, nothing fetched,
nobody else's transaction touched — and the count the issue asks for.

These tests run after the last hostile case of the session whatever the file names and the
order they were given in (tests/hostile/conftest.py moves the items marked `aftermath`), so
they judge the real aftermath of the whole suite. Run without any hostile HTTP case (this
file alone, say), they first send a small hostile workload of their own (`workload`), so
they never pass or skip for want of anything to judge.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from tests.hostile.cases import CASES as BODY_CASES
from tests.hostile.cases import Env
from tests.hostile.ledger import LEDGER
from tests.hostile.messages import CANARIES
from tests.hostile.support import (
    Outcome,
    history,
    lambda_log_groups,
    log_events,
    queue_depths,
    submit_and_settle,
    tracebacks,
    wait_until_idle,
)
from tests.hostile.test_http_headers import CASES as HEADER_CASES
from tests.hostile.test_http_headers import Ctx

pytestmark = [pytest.mark.hostile, pytest.mark.e2e, pytest.mark.aftermath]
MIN_CASES = 200
# a handler that crashed or logged an unexpected error (an uncaught error, a timeout; an error
# our JSON logs name by its type, `error_type`: its trace is logged at DEBUG only)
CRASH = re.compile(r"^Traceback|Task timed out|Runtime\.\w*Error|\"errorType\"|\"error_type\"")
HOSTILE_CASE_TESTS = ("test_hostile_body", "test_hostile_header")
# The workload of its own: URL entities (the listener must stay silent), payloads with the
# canaries, bombs, another tenant's transactions named every way, and lookups fishing for them.
OWN_BODIES = (
    "xxe-url-entity",
    "xxe-external-dtd",
    "xxe-parameter-entity",
    "xxe-oob-exfil",
    "xinclude-url",
    "schemalocation-url",
    "xxe-file-etc-passwd",
    "billion-laughs",
    "utf8-invalid-in-msgid",
    "empty-body",
    "bah-valid",
)
OWN_HEADERS = (
    "victim-settled-valid-message",
    "victim-issued-valid-message",
    "victim-settled-xxe",
    "victim-issued-garbage",
    "victim-token-of-other-tenant-on-own-tx",
    "own-settled-second-message",
    "txid-crlf-injects-victim",
    "txid-duplicate-own-then-victim",
    "lookup-victim-uetr",
    "txid-sql",
)


@dataclass
class Workload:
    source: str  # "suite": the session's hostile HTTP cases; "own": this module's
    selected: int  # hostile HTTP cases the session selected
    own: dict[str, tuple[Outcome, set[str]]] = field(default_factory=dict)  # ledger name -> (outcome, expected)

    @property
    def whole_suite(self) -> bool:
        return self.selected == len(BODY_CASES) + len(HEADER_CASES)


@pytest.fixture(scope="module")
def workload(request, api, other_tenant, victims, own_settled, stack, exfil) -> Workload:
    """The hostile workload whose aftermath is judged: the hostile HTTP cases this session
    selected (they have run by now), or, if it selected none, a small one sent here."""
    selected = sum(getattr(item, "originalname", None) in HOSTILE_CASE_TESTS for item in request.session.items)
    if selected:
        return Workload("suite", selected)
    ctx, env = Ctx(api, other_tenant, victims, own_settled, stack["api_url"]), Env(exfil_url=exfil.url)
    bodies = [c for c in BODY_CASES if c.name in OWN_BODIES and not c.bug]
    headers = [c for c in HEADER_CASES if c[0] in OWN_HEADERS and not c[3]]
    assert len(bodies) == len(OWN_BODIES) and len(headers) == len(OWN_HEADERS), "a case of the own workload is gone"

    def run(job) -> tuple[str, Outcome, set[str]]:
        name, send, expect = job
        try:
            return name, send(), expect
        except Exception as e:
            return name, Outcome(0, problems=[f"{type(e).__name__}: {e}"]), expect

    jobs = [
        (
            f"aftermath-body:{c.name}",
            lambda c=c: submit_and_settle(api, c.build(env), c.content_type, c.headers),
            set(c.expect.split("|")),
        )
        for c in bodies
    ]
    jobs += [(f"aftermath-header:{name}", lambda fn=fn: fn(ctx), expect) for name, fn, expect, _ in headers]
    own = Workload("own", 0)
    with ThreadPoolExecutor(8) as pool:
        for name, out, expect in pool.map(run, jobs):
            LEDGER.record(name, out.ledger if out.status else "0 (no answer)")
            own.own[name] = (out, expect)
    return own


@pytest.fixture(scope="module")
def logs(stack, boto_session):
    return boto_session.client("logs", endpoint_url=stack["endpoint_url"])


@pytest.fixture(scope="module")
def idle(workload, stack, sqs) -> dict[str, int]:
    """Queue depths once the pipeline has finished whatever the cases left in flight
    (fails if it does not finish within 90 s)."""
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


def test_no_parser_followed_a_url(idle, exfil):
    assert exfil.hits == []


def test_nothing_was_written_for_another_transaction(idle, other_tenant, victims, own_settled, api):
    """The other tenant's transactions (settled, and issued without a message) and our own
    settled one have exactly the events they had before the hostile requests named them."""
    for tx, before in victims["history"].items():
        assert history(other_tenant, tx) == before, tx
    assert other_tenant.report(victims["settled"]).content == victims["report"]
    assert history(api, own_settled["tx"]) == own_settled["history"]


def test_the_suite_ran_enough_cases_and_none_got_a_5xx(workload):
    summary = LEDGER.summary()
    print(summary)
    assert not [c for c, o in LEDGER.outcomes.items() if o[:1] in ("5", "0")], summary
    if workload.source == "own":
        assert len(LEDGER.outcomes) == len(workload.own), summary
        wrong = {
            name: (out.label, out.problems)
            for name, (out, expect) in workload.own.items()
            if out.problems or out.label not in expect
        }
        assert not wrong, wrong
        return
    # every selected case recorded its outcome; the whole suite is more than MIN_CASES
    assert len(LEDGER.outcomes) == workload.selected, (workload.selected, summary)
    if workload.whole_suite:
        assert len(LEDGER.outcomes) >= MIN_CASES, summary
