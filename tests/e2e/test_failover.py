"""The failure matrix (docs/multi-region.md §7) on two local Regions: Region B is taken down
with a payment at every step; A's failover controller detects it and proposes the takeover,
an operator decides it at A; every
in-flight payment ends exactly once, fetched from A with A's token of the same tenant; B comes
back and processes nothing twice, notifies nothing twice, and issues no id until it is failed
back. Also: a dead-lettered message redriven completes its payment once, and X-Consistency
both ways.

MiniStack replicates synchronously, so these tests cannot show replication lag (the rows that
depend on it are proven in process: tests/unit/test_consistency.py, tests/unit/test_failover.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

import pytest
import requests

from infra.regions import region_down, region_up
from tests.e2e.conftest import Api, fetch_token
from tests.e2e.test_flow import statuses
from tests.e2e.test_two_regions import api_of, events_of, session
from tests.messages import fresh
from tests.waiting import poll, wait_until_idle

pytestmark = pytest.mark.e2e

A, B = "us-east-1", "eu-west-1"
STEPS = ("incoming", "processing", "releasing")


def types_of(region: dict, tx: str) -> list[str]:
    """The event classes of `tx` in `region`'s replica, in version order."""
    items = sorted(events_of(region, tx), key=lambda i: int(i["sk"]["N"]))
    return [i["topic"]["S"].rsplit(".", 1)[-1] for i in items]


def admin_of(region: dict) -> Api:
    operator = region["clients"][-1]  # the demo operator, admin scope only
    return Api(region["api_url"], fetch_token(region, operator))


def mappings_of(region: dict, step: str) -> list[str]:
    lam = session(region["region"]).client("lambda", endpoint_url=region["endpoint_url"])
    name = region["outputs"][f"{step.capitalize()}Name"]
    return [m["UUID"] for m in lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]]


def pause(region: dict, step: str) -> None:
    """Stop a step's queue poller: its messages wait in its queue (what a Region that fails
    between two steps leaves behind)."""
    lam = session(region["region"]).client("lambda", endpoint_url=region["endpoint_url"])
    for mapping in mappings_of(region, step):
        lam.update_event_source_mapping(UUID=mapping, Enabled=False)


def resume(region: dict, step: str) -> None:
    lam = session(region["region"]).client("lambda", endpoint_url=region["endpoint_url"])
    for mapping in mappings_of(region, step):
        lam.update_event_source_mapping(UUID=mapping, Enabled=True)


@dataclass
class Released:
    """A queue subscribed to a Region's release topic: the notifications a downstream system gets."""

    region: dict
    url: str = ""
    seen: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        s = session(self.region["region"])
        self.sqs = s.client("sqs", endpoint_url=self.region["endpoint_url"])
        self.url = self.sqs.create_queue(QueueName=f"released-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns = s.client("sns", endpoint_url=self.region["endpoint_url"])
        sns.subscribe(TopicArn=self.region["outputs"]["ReleasedTopicArn"], Protocol="sqs", Endpoint=arn)

    def of(self, tx: str) -> list[dict]:
        while msgs := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", []):
            for m in msgs:
                self.seen.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
        return [n for n in self.seen if n["MessageAttributes"]["transaction_id"]["Value"] == tx]


def wait_for(region: dict, tx: str, event: str, timeout: float = 90) -> list[str]:
    return poll(
        lambda: types_of(region, tx),
        lambda types: event in types,
        timeout,
        f"{event} of {tx} in {region['region']}",
        show=lambda types: f"events {types}",
    )


def scheduled_event(region: str) -> dict:
    """What EventBridge passes a scheduled function (the controller's schedule, run now)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [],
        "detail": {},
    }


@pytest.fixture(scope="module")
def regions(two_regions):
    """The session's Region pair; whatever a test left, B is up and not taken over after."""
    a, b = two_regions["regions"]
    assert (a["region"], b["region"]) == (A, B)
    yield a, b
    if requests.get(b["api_url"] + "/", timeout=30).json().get("taken_over"):
        r = admin_of(b).call("POST", f"/regions/{B}/failback", json={"reason": "test module teardown"})
        assert r.status_code == 200, r.text


def in_view(region: dict, tx: str, version: int) -> None:
    """Wait until `region`'s view shows `tx` at `version`: a takeover lists what the view has."""
    ddb = session(region["region"]).client("dynamodb", endpoint_url=region["endpoint_url"])
    poll(
        lambda: ddb.get_item(
            TableName=region["outputs"]["TransactionsTableName"],
            Key={"transaction_id": {"S": tx}},
            ConsistentRead=True,
        ).get("Item", {}),
        lambda item: int(item.get("version", {}).get("N", "0")) >= version,
        90,
        f"{region['region']}'s view of {tx} at version {version}",
    )


def test_region_b_fails_with_payments_at_every_step_and_a_takes_over_each_exactly_once(regions, capsys):
    a, b = regions
    in_a, in_b = api_of(a), api_of(b)  # tenant-a's client in each Region: two pools, one tenant
    note_a, note_b = Released(a), Released(b)

    # -- B before the outage: a payment at each step (docs/multi-region.md §7, rows 1 to 5) --
    done = in_b.pay(fresh("pacs008_bare.xml"))  # released; its report not fetched yet (row 5)
    wait_for(b, done, "Released")
    pause(b, "releasing")
    accepted = in_b.pay(fresh("pacs008_bare.xml"))  # decided ACSP (row 4)
    rejected = in_b.pay(fresh("pacs008_invalid_schema.xml"))  # decided RJCT (row 4)
    wait_for(b, accepted, "Accepted")
    wait_for(b, rejected, "Rejected")
    pause(b, "processing")
    received = in_b.pay(fresh("pacs008_bare.xml"))  # ACTC (row 3)
    wait_for(b, received, "Received")
    pause(b, "incoming")
    submitted = in_b.pay(fresh("pacs008_bare.xml"))  # 202 answered, Submitted (row 2)
    initiated = in_b.new_transaction()  # GET /uuid answered only (row 1)
    in_flight = [accepted, rejected, received, submitted, initiated]
    assert types_of(b, submitted)[-1] == "Submitted" and types_of(b, initiated) == ["Initiated"]
    before = {tx: types_of(b, tx) for tx in [done, *in_flight]}
    for tx in [done, *in_flight]:  # A's view follows its replica's stream, and may lag
        in_view(a, tx, len(before[tx]))

    # B fails now, its pollers still paused (region_up restores them paused; resumed below)
    outage = region_down(session(B), b["endpoint_url"], b["stack_name"])
    outage_at = time.time()
    try:
        # -- A's failover controller: N (3) consecutive failed probes propose the takeover ----
        # (the local pair is MREC-like: a partitioned Region would still write, so the
        # controller does not decide by itself; docs/multi-region.md §3)
        lam = session(A).client("lambda", endpoint_url=a["endpoint_url"])
        controller = a["outputs"]["FailoverControllerName"]
        for _ in range(3):
            r = lam.invoke(FunctionName=controller, Payload=json.dumps(scheduled_event(A)).encode())
            assert "FunctionError" not in r, r["Payload"].read()
        [peer] = requests.get(a["api_url"] + "/", timeout=30).json()["peers"]
        assert peer["region"] == B and peer["failed_probes"] >= 3
        assert peer["failover_proposed"] is True and peer["taken_over"] is False
        proposed_at = time.time()
        # -- the operator decides, at A (admin scope) --------------------------------------
        r = admin_of(a).call("POST", f"/regions/{B}/failover", json={"reason": "eu-west-1 down (test)"})
        assert r.status_code == 200, r.text
        taken = {p["transaction_id"] for p in r.json()["payments"]}
        names = {accepted: "accepted", rejected: "rejected", received: "received", submitted: "submitted"}
        names |= {initiated: "initiated", done: "done"}
        assert set(in_flight) <= taken and done not in taken, ([names[t] for t in set(in_flight) - taken], r.text)
        [peer] = requests.get(a["api_url"] + "/", timeout=30).json()["peers"]
        assert peer["taken_over"] is True and peer["failover_proposed"] is False
        taken_over_at = time.time()

        # -- the client fetches every outcome from A, with A's token and the same ids ------
        assert statuses(in_a.report(done).content) == ("ACSC", [])  # row 5: the replicated report
        expected = {accepted: "ACSC", rejected: "RJCT", received: "ACSC", submitted: "ACSC"}
        outcome = {tx: statuses(in_a.report(tx, timeout=120).content)[0] for tx in expected}
        assert outcome == expected
        # row 1: the id B issued is A's now: the client posts its message to A
        r = in_a.submit(initiated, fresh("pacs008_bare.xml"))
        assert r.status_code == 202, r.text
        assert statuses(in_a.report(initiated, timeout=120).content) == ("ACSC", [])
        last_decided_at = time.time()

        for tx in in_flight:
            types = types_of(a, tx)
            assert types[: len(before[tx])] == before[tx]  # B's history kept, A's appended
            assert types.count("TakenOver") == 1 and types.count("Released") == 1, (tx, types)
            assert len(note_a.of(tx)) + len(note_b.of(tx)) == 1, tx
        assert types_of(a, done) == before[done]  # nothing left to do: not taken over
        assert len(note_a.of(done)) + len(note_b.of(done)) == 1
        after_takeover = {tx: types_of(a, tx) for tx in [done, *in_flight]}
    finally:
        region_up(session(B), b["endpoint_url"], outage)
        for step in STEPS:  # B's pollers run again: its stale step messages are delivered
            resume(b, step)

    # -- row 7: B comes back with its stale step messages: fenced, nothing twice -----------
    wait_until_idle(session(B).client("sqs", endpoint_url=b["endpoint_url"]), b["outputs"], timeout=180)
    for tx in [done, *in_flight]:
        assert types_of(a, tx) == after_takeover[tx] == types_of(b, tx), tx
        assert len(note_a.of(tx)) + len(note_b.of(tx)) == 1, tx
    r = in_b.call("GET", "/uuid", headers={"X-Message-Type": "pacs.008"})
    assert r.status_code == 409 and r.json()["error_code"] == "REGION_TAKEN_OVER"
    # B's client reads the payment A finished: the same tenant in both pools
    assert statuses(in_b.call("POST", "/outbox", headers={"X-Transaction-Id": accepted}).content) == ("ACSC", [])

    # -- fail-back is an operator's action; B then takes payments again ----------------------
    r = admin_of(b).call("POST", f"/regions/{B}/failback", json={"reason": "eu-west-1 is back (test)"})
    assert r.status_code == 200, r.text
    again = in_b.pay(fresh("pacs008_bare.xml"))
    assert statuses(in_b.report(again).content) == ("ACSC", [])

    with capsys.disabled():
        print(
            f"\nfailover figures: outage to takeover proposed {proposed_at - outage_at:.1f} s, "
            f"to takeover recorded {taken_over_at - outage_at:.1f} s, "
            f"to the last in-flight payment decided {last_decided_at - outage_at:.1f} s"
        )


def test_a_dead_lettered_message_redriven_completes_its_payment_once(regions, tmp_path):
    a, _ = regions
    api = api_of(a)
    sqs = session(A).client("sqs", endpoint_url=a["endpoint_url"])
    source, dlq = a["outputs"]["IncomingQueueUrl"], a["outputs"]["IncomingQueueDLQUrl"]
    pause(a, "incoming")
    try:
        tx = api.pay(fresh("pacs008_bare.xml"))
        # dead-letter it as SQS does after maxReceiveCount: the same body, in the DLQ
        [message] = poll(
            lambda: sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=1).get("Messages", []),
            bool,
            30,
            "the incoming message",
        )
        sqs.send_message(
            QueueUrl=dlq, MessageBody=message["Body"], MessageGroupId=tx, MessageDeduplicationId=uuid.uuid4().hex
        )
        sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
    finally:
        resume(a, "incoming")
    local_stack = tmp_path / "local-stack.json"
    local_stack.write_text(json.dumps(a))
    redrive = [sys.executable, "-m", "chalicelib.cli", "redrive", "--dlq", "incoming", "--reason", "test"]
    run = subprocess.run([*redrive, "--local-stack", str(local_stack)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "1 messages moved" in run.stdout
    assert statuses(api.report(tx).content) == ("ACSC", [])
    run = subprocess.run([*redrive, "--local-stack", str(local_stack)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "0 messages moved" in run.stdout  # nothing left: nothing twice
    types = types_of(a, tx)
    assert types.count("Redriven") == 1 and types.count("Released") == 1, types


@pytest.mark.parametrize(("level", "confirmed"), [("strong", [A, B]), ("eventual", [A])])
def test_the_consistency_header_says_what_each_write_achieved(regions, level, confirmed):
    """strong: answered once B's replica reads the event (and, for /inbox, B's archive the
    message); eventual: on the local commit, B not asked."""
    a, b = regions
    api = api_of(a)
    chosen = {"X-Consistency": level}
    r = api.call("GET", "/uuid", headers={"X-Message-Type": "pacs.008", **chosen})
    assert r.status_code == 200, r.text
    issued = r.json()
    assert issued["consistency"] == level and issued["replicated_to"] == confirmed
    tx = issued["transaction_id"]
    headers = {"X-Transaction-Id": tx, "X-Message-Type": "pacs.008", "Content-Type": "application/xml", **chosen}
    r = api.call("POST", "/inbox", data=fresh("pacs008_bare.xml"), headers=headers)
    assert r.status_code == 202, r.text
    assert r.json()["consistency"] == level and r.json()["replicated_to"] == confirmed
    assert "Submitted" in types_of(b, tx)  # MiniStack replicates synchronously: B has it either way
    r = api.call("GET", f"/transactions/{tx}", headers=chosen)
    assert r.status_code == 200 and r.json()["consistency"] == level
