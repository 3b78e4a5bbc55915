"""Review rv3 (failover and failback with an Idempotency-Key, merge wip-fb): failing tests.

The merge makes a retried operator action answer as the first time and decide nothing
"whatever happened since" (docs/multi-region.md, "Operator actions are idempotent"). It
records the action id only with a decision, so a request that decided nothing (a failover
that found the Region taken over by the controller, a failback answered 409) leaves no trace,
and its late retry decides afresh against a state that changed meanwhile. And the id is
namespaced by the Cognito client, which differs from Region to Region, so the same operator's
retry through another Region (the usual path while a Region is failing) is a new action.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.pipeline.errors import RegionNotTakenOver
from chalicelib.pipeline.failover import CONTROLLER
from tests.unit.test_failover import A, B, two_regions
from tests.unit.test_routes import (  # noqa: F401  (http, keys: the fixtures of the API over an in-memory Region)
    JSON,
    PEER,
    admin,
    assert_json,
    http,
    keys,
)


def test_the_late_retry_of_a_failback_answered_409_does_not_end_a_newer_takeover():
    """A failback with key K reaches a Region that is not taken over (already failed back by a
    colleague, or the operator was early): 409, nothing recorded, and the answer is lost. The
    controller then takes the Region over for a new incident. The client's retry of K is the
    same request, yet it finds the Region taken over and no record of K, so it fails back the
    newer takeover: exactly the late-retry hazard the merge exists to remove (a Region still
    down is handed its payments back and issues ids again). The first answer was 409; the
    retry must give that answer again and leave the takeover in force. Fix: remember the
    action id with its answer also when nothing was decided (e.g. an idempotency item next to
    the Region, or a no-op `Answered(action_id, outcome)` event on the Region)."""
    _, b = two_regions()
    now = datetime.now(UTC)
    with pytest.raises(RegionNotTakenOver):
        b.failover.fail_back(A, "incident 6 over", "ops", now, action_id="key:ops:inc-6-back")
    assert b.failover(A, "3 consecutive failed probes", CONTROLLER, now).decided  # a new incident
    with pytest.raises(RegionNotTakenOver):  # the retry answers as the first time
        b.failover.fail_back(A, "incident 6 over", "ops", now, action_id="key:ops:inc-6-back")
    region = b.regions.get(A)
    assert region is not None and region.is_taken_over, [d[0] for d in region.decisions]


def test_an_operator_failover_that_lost_the_race_to_the_controller_is_not_taken_again_by_its_retry():
    """The controller and an operator decide at once: the controller records TakenOver (no
    action id); the operator's failover with key K finds it decided (`decided: false`,
    nothing recorded) and its answer is lost. The incident ends and the Region is failed back.
    The client's late retry of K then takes the healthy Region over again (`decided: true`):
    it stops issuing ids (409 REGION_TAKEN_OVER) and its in-flight payments are moved, for an
    incident that is over. docs/multi-region.md promises the opposite ("nor the late retry of
    a failover take over a Region failed back since"). Fix as for the failback: the answer to
    K (decided false, taken over by B) must be remembered though nothing was decided."""
    _, b = two_regions()
    now = datetime.now(UTC)
    assert b.failover(A, "3 consecutive failed probes", CONTROLLER, now).decided
    first = b.failover(A, "A down", "ops", now, action_id="key:ops:inc-7-over")
    assert not first.decided and first.taken_over_by == B
    b.failover.fail_back(A, "incident 7 over", "ops", now, action_id="key:ops:inc-7-back")
    again = b.failover(A, "A down", "ops", now, action_id="key:ops:inc-7-over")  # the late retry
    region = b.regions.get(A)
    assert region is not None
    assert [d[0] for d in region.decisions] == ["TakenOver", "FailedBack"], "the retry took the Region over again"
    assert (again.decided, again.taken_over_by) == (first.decided, first.taken_over_by)


def region_action(http, action: str, reason: str, key: str, client: str) -> Any:  # noqa: F811
    body = json.dumps({"reason": reason})
    headers = {**JSON, "Idempotency-Key": key}
    return http.call("POST", f"/regions/{PEER}/{action}", auth_as=admin(client), headers=headers, body=body)


def test_a_failback_retried_through_another_regions_pool_does_not_end_a_newer_takeover(http):  # noqa: F811
    """Each Region has its own Cognito pool, so one operator has a client id per Region
    (client-a here, client-a2 in the other pool: the same tenant, Principal.tenant "the same
    in every Region"). The Region's decisions are one replicated aggregate, but app.py
    namespaces the Idempotency-Key by `principal.client_id`. During a Region incident an
    operator whose failback answer was lost retries it through the other Region (with that
    Region's token): the key is not recognised, and the late retry ends a takeover decided
    after the failback. Fix: namespace the key by what is the same in every Region for the
    same operator (the tenant), as the owner of everything else is."""
    assert_json(region_action(http, "failover", "incident 7", "inc-7-over", "client-a"))
    assert_json(region_action(http, "failback", "incident 7 over", "inc-7-back", "client-a"))  # answer lost
    assert assert_json(region_action(http, "failover", "incident 8", "inc-8-over", "client-a"))["decided"] is True
    late = region_action(http, "failback", "incident 7 over", "inc-7-back", "client-a2")  # through the other pool
    assert assert_json(late) == {"region": PEER, "failed_back": True}
    assert http.svc.regions.is_taken_over(PEER), "the late retry ended the newer takeover"
