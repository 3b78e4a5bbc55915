"""Hostile bodies posted to /inbox over HTTP on the deployed local stack (see cases.py).

Every case gets a transaction of its own; the cases run in parallel once per module and
each test then judges one case: the expected 4xx (JSON with error_code) or, after a 202,
the released pacs.002 (schema-valid, about this transaction, RJCT with a reason code, or
ACSC for an input that really is a valid message) and a history that went the normal way.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.hostile.cases import CASES, Env
from tests.hostile.ledger import LEDGER
from tests.hostile.support import Outcome, submit_and_settle

pytestmark = [pytest.mark.hostile, pytest.mark.e2e]
WORKERS = 8  # the local stack on 2 cores: more threads only queue longer


def _selected(request) -> set[str]:
    return {
        item.callspec.params["case"].name
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec") and "case" in item.callspec.params
    }


@pytest.fixture(scope="module")
def outcomes(request, api, exfil, hostile_start) -> dict[str, Outcome]:
    env = Env(exfil_url=exfil.url)
    names = _selected(request)
    chosen = [c for c in CASES if c.name in names]

    def run(case) -> Outcome:
        try:
            return submit_and_settle(api, case.build(env), case.content_type, case.headers)
        except Exception as e:
            return Outcome(0, problems=[f"{type(e).__name__}: {e}"])

    # the largest bodies first, so that they do not finish last on their own
    chosen.sort(key=lambda c: "10mb" not in c.name)
    with ThreadPoolExecutor(WORKERS) as pool:
        results = dict(zip((c.name for c in chosen), pool.map(run, chosen), strict=True))
    slowest = sorted(results.items(), key=lambda kv: -kv[1].elapsed)[:5]
    print("slowest body cases:", ", ".join(f"{name} {out.elapsed:.1f}s" for name, out in slowest))
    return results


def _param(case):
    marks = [pytest.mark.xfail(strict=True, reason=case.bug)] if case.bug else []
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_hostile_body(case, outcomes):
    out = outcomes[case.name]
    LEDGER.record(f"body:{case.name}", out.ledger if out.status else "0 (no answer)")
    assert out.status < 500, out.problems
    assert not out.problems, (out.label, out.narrative, out.problems)
    assert out.label in case.expect.split("|"), (out.label, out.narrative)
