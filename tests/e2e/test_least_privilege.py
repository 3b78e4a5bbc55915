"""Least privilege, proven: every AWS call every function made during the session is allowed
by that function's role, as a real IAM policy evaluator (moto's) judges it.

MiniStack enforces no IAM, so the functions record their calls (chalicelib/adapters/call_log.py,
switched on by the `CallLog` parameter in tests/e2e/conftest.py) and the last test of the
session evaluates them against the deployed template (infra/least_privilege.py). The first
tests here exercise the paths that touch the most resources: a cancellation before release
and a return after release, both of a payment whose agent has a liquidity limit.
"""

from __future__ import annotations

import json

import pytest

from chalicelib.bootstrap import payments_env, positions_env
from chalicelib.cli import settings_of_local_stack
from chalicelib.domain.position import position_id
from chalicelib.eventstore.s3snapshots import HISTORY_PREFIX, latest_key
from chalicelib.pipeline.liquidity import Positions
from infra.least_privilege import Stack, denied, read_calls, role_policies
from tests.e2e.test_flow import statuses
from tests.messages import fresh
from tests.waiting import poll

pytestmark = pytest.mark.e2e


def limited_payment() -> bytes:
    """A payment whose instructing agent has a liquidity limit (LIQUIDITY_LIMITS)."""
    return fresh("pacs008_bare.xml").replace(b"DEUTDEFFXXX", b"LIQTDEFFXXX")


def test_a_limited_payment_cancelled_before_release_is_released_as_cancelled(api):
    tx = api.pay(limited_payment())
    # Cancellable from Received on: ask until it is no longer "nothing to cancel" (409).
    r = poll(
        lambda: api.call("POST", f"/transactions/{tx}/cancel", json={"reason": "DUPL"}),
        lambda r: not (r.status_code == 409 and r.json().get("error_code") == "NOTHING_TO_CANCEL"),
        30,
        f"transaction {tx} to be received (cancellable)",
        show=lambda r: f"{r.status_code} {r.text[:200]}",
        every=0.02,
    )
    assert r.status_code == 200, r.text
    assert r.headers["X-Resolution"] == "CNCL"
    status, _ = statuses(api.report(tx).content)
    # Caught before release, it is released as CANC (by the releasing step, sent to it by the
    # API); caught just after, it is returned. Either way its reservation is freed.
    assert status in ("CANC", "ACSC")
    types = [e["type"] for e in api.call("GET", f"/transactions/{tx}/events").json()["events"]]
    assert ("Cancelled" in types) == (status == "CANC"), types


def test_a_limited_payment_returned_after_release_gives_its_liquidity_back(api):
    tx = api.pay(limited_payment())
    assert statuses(api.report(tx).content) == ("ACSC", [])
    r = api.call("POST", f"/transactions/{tx}/cancel", json={"reason": "DUPL"})
    assert r.status_code == 200 and r.headers["X-Resolution"] == "CNCL", r.text
    types = [e["type"] for e in api.call("GET", f"/transactions/{tx}/events").json()["events"]]
    assert types[-1] == "Returned"


def as_json(aggregate) -> str:
    return json.dumps(vars(aggregate), default=str, sort_keys=True)


def test_the_limited_agents_position_is_snapshotted_to_s3_and_loads_as_a_full_replay(stack, boto_session, monkeypatch):
    """The session's stack snapshots a position every 2 versions (PositionSnapshotInterval):
    the payments above reserved and freed on it, so the functions wrote its snapshots and
    loaded them back (what the last test judges); loaded from its latest snapshot, the
    position is the one a replay of all its events gives."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack["endpoint_url"])
    outputs = stack["outputs"]
    s = settings_of_local_stack(stack).model_copy(
        update={"positions_table": outputs["PositionsTableName"], "snapshots_bucket": outputs["SnapshotsBucketName"]}
    )
    position = position_id("LIQTDEFFXXX", "EUR")
    s3 = boto_session.client("s3", endpoint_url=stack["endpoint_url"])
    history = s3.list_objects_v2(Bucket=s.snapshots_bucket, Prefix=f"{HISTORY_PREFIX}/{position}/").get("Contents", [])
    assert history, "no snapshot of the limited agent's position"
    assert s3.head_object(Bucket=s.snapshots_bucket, Key=latest_key(position))["Metadata"]["version"]

    def both() -> tuple[str, str]:
        replayed = Positions(env=payments_env(s, s.positions_table)).repository.get(position)  # no bucket: no snapshot
        snapshotted = Positions(env=positions_env(s)).repository.get(position)
        return (as_json(replayed), as_json(snapshotted))

    # a free may still be on its way: compare two reads of the same version
    replayed, snapshotted = poll(both, lambda pair: pair[0] == pair[1], 30, "the same position both ways", show=str)
    assert json.loads(replayed)["_version"] >= 2


def deployed(stack: dict, boto_session) -> tuple[Stack, dict, dict[str, str], dict[str, str]]:
    """The deployed stack's resolution context, its template, function name -> logical id,
    and the aliases of its secrets (name -> ARN)."""
    endpoint = stack["endpoint_url"]
    cfn = boto_session.client("cloudformation", endpoint_url=endpoint)
    dynamodb = boto_session.client("dynamodb", endpoint_url=endpoint)
    sqs = boto_session.client("sqs", endpoint_url=endpoint)
    secrets = boto_session.client("secretsmanager", endpoint_url=endpoint)
    body = cfn.get_template(StackName=stack["stack_name"])["TemplateBody"]
    template = json.loads(body) if isinstance(body, str) else body
    refs = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=stack["stack_name"])["StackResources"]
    }
    types = {name: resource["Type"] for name, resource in template["Resources"].items()}
    attributes: dict[str, str] = {}
    for name, kind in types.items():
        if kind == "AWS::DynamoDB::Table":
            described = dynamodb.describe_table(TableName=refs[name])["Table"]
            attributes[f"{name}.Arn"] = described["TableArn"]
            if "LatestStreamArn" in described:
                attributes[f"{name}.StreamArn"] = described["LatestStreamArn"]
        elif kind == "AWS::SQS::Queue":
            attributes[f"{name}.Arn"] = sqs.get_queue_attributes(QueueUrl=refs[name], AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
        elif kind == "AWS::S3::Bucket":
            attributes[f"{name}.Arn"] = f"arn:aws:s3:::{refs[name]}"
        elif kind == "AWS::KMS::Key":
            key = refs[name]
            attributes[f"{name}.Arn"] = (
                key
                if key.startswith("arn:")
                else (f"arn:aws:kms:{stack['region']}:{stack['outputs']['ReleasedTopicArn'].split(':')[4]}:key/{key}")
            )
    # A secret's Ref is its ARN on AWS; MiniStack gives its name (so the functions are
    # handed the name), and IAM authorises a call by name against the secret's full ARN.
    aliases: dict[str, str] = {}
    for name, kind in types.items():
        if kind == "AWS::SecretsManager::Secret":
            secret_arn = secrets.describe_secret(SecretId=refs[name])["ARN"]
            aliases[refs[name]] = secret_arn
            refs[name] = secret_arn
    account = stack["outputs"]["ReleasedTopicArn"].split(":")[4]
    pseudo = {
        "AWS::Region": stack["region"],
        "AWS::AccountId": account,
        "AWS::Partition": "aws",
        "AWS::StackName": stack["stack_name"],
    }
    functions = {refs[name]: name for name in template["Resources"] if name in refs and name + "Role" in refs}
    return Stack(pseudo=pseudo, refs=refs, attributes=attributes), template, functions, aliases


@pytest.mark.runs_last
def test_every_call_every_function_made_is_allowed_by_its_role(stack, boto_session, call_log):
    context, template, functions, aliases = deployed(stack, boto_session)
    # Processing runs only for a payment handed to its queue (a redrive, a takeover): inline,
    # the incoming function runs it (chalicelib/pipeline/handoff.py). Its calls are checked
    # against its role offline (tests/unit/test_least_privilege.py, steps by queue).
    every = {"APIHandler", "Incoming", "Releasing", "ViewFollower", "Digester"}
    # the suite drives every function (an empty log would prove nothing); the follower's
    # last batch may still be on its way when this test starts
    calls = poll(
        lambda: read_calls(call_log.read_text().splitlines(), functions, aliases),
        lambda calls: every <= {c.function for c in calls},
        60,
        "a recorded call of every function",
        show=lambda calls: str(sorted({c.function for c in calls})),
    )
    # the example path of the issue was exercised: the API frees liquidity
    assert any(c.function == "APIHandler" and c.resource.endswith("-positions") for c in calls), (
        "no API call to positions"
    )
    refused = denied(calls, role_policies(template, context))
    assert not refused, f"{len(refused)} calls the roles do not allow:\n" + "\n".join(map(str, refused))
