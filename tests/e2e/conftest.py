"""The app deployed to the test session's MiniStack, exactly as `make run` deploys it."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from infra.deploy import deploy_local, deploy_local_regions
from tests.waiting import poll, wait_until_idle


class Api:
    """A thin HTTP client for the pacsflow API, with the waits a client would do."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.http = requests.Session()
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=32))

    def call(self, method: str, path: str, headers: dict | None = None, **kwargs: Any) -> requests.Response:
        headers = dict(headers or {})
        if self.token and not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = f"Bearer {self.token}"
        r = self.http.request(method, self.url + path, headers=headers, timeout=90, **kwargs)
        assert r.status_code < 500, (method, path, r.status_code, r.text[:300])  # never a 5xx
        return r

    def new_transaction(self) -> str:
        r = self.call("GET", "/uuid", headers={"X-Message-Type": "pacs.008"})
        assert r.status_code == 200, r.text
        return r.json()["transaction_id"]

    def submit(self, tx: str, body: bytes, message_type: str = "pacs.008") -> requests.Response:
        return self.call(
            "POST",
            "/inbox",
            data=body,
            headers={"X-Transaction-Id": tx, "X-Message-Type": message_type, "Content-Type": "application/xml"},
        )

    def pay(self, body: bytes) -> str:
        tx = self.new_transaction()
        r = self.submit(tx, body)
        assert r.status_code == 202, r.text
        return tx

    def report(self, tx: str, timeout: float = 60) -> requests.Response:
        """POST /outbox until the pacs.002 is released (409 meanwhile); fail if it is not
        released within `timeout` seconds."""
        return poll(
            lambda: self.call("POST", "/outbox", headers={"X-Transaction-Id": tx}),
            lambda r: r.status_code != 409,
            timeout,
            f"the status report of transaction {tx} (POST /outbox answers 409 until it is released)",
            show=lambda r: f"{r.status_code} {r.text[:200]}",
            every=0.1,
            backoff=1.5,
            most=1.0,  # back off: many waiting clients must not swamp the API
        )

    def view(self, tx: str, version: int, timeout: float = 30) -> dict:
        """GET /transactions/{tx} until the view has caught up with `version`; fail if it
        has not within `timeout` seconds."""

        def get() -> dict:
            r = self.call("GET", f"/transactions/{tx}")
            assert r.status_code == 200, r.text
            return r.json()

        return poll(
            get,
            lambda v: v["version"] >= version,
            timeout,
            f"the view of transaction {tx} to reach version {version}",
            show=lambda v: f"version {v.get('version')}, status {v.get('status')}",
            every=0.1,
        )


# A small position for the liquidity test; everyone else is practically unlimited.
LIQUIDITY_LIMITS = '{"LIQTDEFFXXX:EUR": "12345.60"}'


# The session's SLA (every deploy_local of the session passes it): generous, so that payments
# crashed and redelivered on purpose are not timed out; tests/e2e/test_timeouts.py sets a short one.
E2E_SLA_SECONDS = "600"


@pytest.fixture(scope="session")
def stack(aws_endpoint, call_log) -> dict:
    pytest.MonkeyPatch().setenv("PACSFLOW_SLA_SECONDS", E2E_SLA_SECONDS)  # read by infra.deploy.sla_parameters
    # a position snapshotted every 2 versions: the liquidity tests save and load snapshots
    return deploy_local(aws_endpoint, parameters={"LiquidityLimits": LIQUIDITY_LIMITS, "PositionSnapshotInterval": "2"})


# The two-Region pair: its own stack name, apart from the session's single-Region `stack`.
TWO_REGIONS = ["us-east-1", "eu-west-1"]


@pytest.fixture(scope="session")
def two_regions(aws_endpoint) -> dict:
    """us-east-1 and eu-west-1 deployed and linked on the session's MiniStack, as
    `make run REGIONS="us-east-1 eu-west-1"` does (the local-stack.json shape)."""
    pytest.MonkeyPatch().setenv("PACSFLOW_SLA_SECONDS", E2E_SLA_SECONDS)
    # no call log: its functions are not the session stack's (tests/e2e/test_least_privilege.py)
    # steps hand over by queue: the failover test holds a payment at each step by pausing a queue
    parameters = {"CallLog": "", "StepHandoff": "queue"}
    return deploy_local_regions(aws_endpoint, TWO_REGIONS, stack="pacsflow-regions", parameters=parameters)


def fetch_token(stack: dict, client: dict, scope: str | None = None) -> str:
    """OAuth2 client credentials at the Region's token endpoint."""
    r = requests.post(
        stack["token_url"],
        data={"grant_type": "client_credentials", **({"scope": scope} if scope else {})},
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture(scope="session")
def api(stack) -> Api:
    """Demo client A, with read and write scopes."""
    return Api(stack["api_url"], fetch_token(stack, stack["clients"][0]))


@pytest.fixture(scope="session")
def other_tenant(stack) -> Api:
    """Demo client B: another tenant of the same Region."""
    return Api(stack["api_url"], fetch_token(stack, stack["clients"][1]))


@pytest.fixture(scope="session")
def parallel():
    with ThreadPoolExecutor(max_workers=16) as pool:
        yield pool


@pytest.fixture(scope="session")
def notifications(stack, boto_session):
    """An SQS queue subscribed to the release topic: what a downstream system would see."""
    endpoint = stack["endpoint_url"]
    sqs = boto_session.client("sqs", endpoint_url=endpoint)
    sns = boto_session.client("sns", endpoint_url=endpoint)
    url = sqs.create_queue(QueueName=f"released-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=stack["outputs"]["ReleasedTopicArn"], Protocol="sqs", Endpoint=queue_arn)
    seen: list[dict] = []

    def collect() -> list[dict]:
        while True:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not msgs:
                return seen
            for m in msgs:
                seen.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    return collect


@pytest.fixture(scope="session")
def notified(notifications, stack, boto_session):
    """Wait until the release notifications of `tx` arrive, and until no other one for it
    can still come; return them all (so that a caller can count duplicates)."""
    sqs = boto_session.client("sqs", endpoint_url=stack["endpoint_url"])

    def mine(tx: str) -> list[dict]:
        return [n for n in notifications() if n["MessageAttributes"]["transaction_id"]["Value"] == tx]

    def wait(tx: str, timeout: float = 60) -> list[dict]:
        poll(
            lambda: mine(tx),
            bool,
            timeout,
            f"a release notification of transaction {tx}",
            show=lambda _: f"none for it among {len(notifications())} notifications of the session",
        )
        # A duplicate can only come from a queue handler (the release step publishes, then
        # its message is deleted), and MiniStack's SNS puts a notification into the SQS
        # subscription within the publish call. So once no pipeline queue holds a message
        # (visible, in flight or delayed), every notification of `tx` is in our queue:
        # no need to sleep and hope that a duplicate would have arrived by then.
        wait_until_idle(sqs, stack["outputs"], timeout=120)
        return mine(tx)

    return wait


# -- least privilege: every AWS call of every function, recorded (chalicelib/adapters/call_log.py)


def pytest_configure(config):
    config.addinivalue_line("markers", "runs_last: judges what the whole session did; runs after every other test")


@pytest.hookimpl(trylast=True)  # after any plugin that reorders
def pytest_collection_modifyitems(session, config, items):
    """Move the items marked `runs_last` to the end of the session, whatever the file names
    or the order the files were given in (they judge the calls every other test made)."""
    last = [item for item in items if item.get_closest_marker("runs_last")]
    items[:] = [item for item in items if not item.get_closest_marker("runs_last")] + last


@pytest.fixture(scope="session")
def call_log(tmp_path_factory):
    """The file the deployed functions append their AWS calls to (MiniStack runs Lambdas as
    local processes, so a file of this machine works). Every deployment of the session sets
    it (the `CallLog` parameter), including tests that redeploy with parameters of their own."""
    path = tmp_path_factory.mktemp("calls") / "calls.jsonl"
    path.touch()
    patch = pytest.MonkeyPatch()
    patch.setenv("PACSFLOW_TEST_CALL_LOG", str(path))  # read by infra.deploy.deploy_local
    yield path
    patch.undo()
