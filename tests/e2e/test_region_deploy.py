"""The AWS deploy path (`make deploy STAGE=eu-west-1`), run against a MiniStack of its own:
the same code as for AWS, with only `AWS_ENDPOINT_URL` changed (boto3 honours it)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from infra import clients, deploy, ministack
from tests.e2e.conftest import Api, fetch_token
from tests.e2e.test_flow import statuses
from tests.messages import fresh

pytestmark = pytest.mark.e2e
STAGE = "eu-west-1"


@pytest.fixture(scope="module")
def region_endpoint(tmp_path_factory):
    port = ministack.free_port()
    state = tmp_path_factory.mktemp("ministack-region")
    proc = ministack.start(port, state / "ministack.log", state_dir=state)
    try:
        yield ministack.endpoint(port)
    finally:
        ministack.stop(proc.pid)


@pytest.fixture
def aws_env(region_endpoint, monkeypatch):
    """What a developer's shell would hold for AWS, but for the endpoint."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", region_endpoint)
    for k, v in ministack.CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)  # the stage alone decides the Region
    monkeypatch.delenv("AWS_REGION", raising=False)
    return region_endpoint


def test_deploy_to_eu_west_1_provision_a_client_and_pay(aws_env, capsys, monkeypatch):
    # Without the tenants' agents the template's rule refuses the stack: nothing is created.
    monkeypatch.delenv("PACSFLOW_TENANT_AGENTS", raising=False)
    with pytest.raises(ClientError, match="PACSFLOW_TENANT_AGENTS"):
        deploy.deploy_aws(STAGE)
    cloudformation = boto3.session.Session(region_name=STAGE).client("cloudformation")
    assert deploy.stack_status(cloudformation, "pacsflow-eu-west-1") is None
    monkeypatch.setenv("PACSFLOW_TENANT_AGENTS", json.dumps({"acme-bank": ["DEUTDEFFXXX"]}))
    deployed = deploy.deploy_aws(STAGE)
    assert deployed["region"] == STAGE and deployed["stack_name"] == "pacsflow-eu-west-1"
    outputs = deployed["outputs"]

    session = boto3.session.Session(region_name=STAGE)
    account = session.client("sts").get_caller_identity()["Account"]
    # The artifacts bucket was created in the stage's Region.
    s3 = session.client("s3")
    location = s3.get_bucket_location(Bucket=deploy.artifacts_bucket(STAGE, account))["LocationConstraint"]
    assert location == STAGE
    # The stack is in eu-west-1, and only there; its Cognito domain is unique per stage and account.
    stacks = {r: boto3.session.Session(region_name=r).client("cloudformation") for r in (STAGE, "us-east-1")}
    assert deploy.stack_status(stacks[STAGE], "pacsflow-eu-west-1") == "CREATE_COMPLETE"
    assert deploy.stack_status(stacks["us-east-1"], "pacsflow-eu-west-1") is None
    parameters = {
        p["ParameterKey"]: p["ParameterValue"]
        for p in stacks[STAGE].describe_stacks(StackName="pacsflow-eu-west-1")["Stacks"][0]["Parameters"]
    }
    assert parameters["AuthDomainPrefix"] == f"pacsflow-eu-west-1-{account}"
    assert outputs["TokenUrl"] == f"https://pacsflow-eu-west-1-{account}.auth.eu-west-1.amazoncognito.com/oauth2/token"

    # Provision a client with the CLI.
    capsys.readouterr()
    assert clients.main(["create", "--stage", STAGE, "--name", "acme-bank", "--scopes", "read,write"]) == 0
    printed = capsys.readouterr()
    client = json.loads(printed.out)
    assert client["scopes"] == ["pacsflow/read", "pacsflow/write"]
    assert client["client_secret"] not in printed.err
    described = session.client("cognito-idp").describe_user_pool_client(
        UserPoolId=outputs["UserPoolId"], ClientId=client["client_id"]
    )["UserPoolClient"]
    assert described["AllowedOAuthFlows"] == ["client_credentials"]
    # The name is taken now: a second create is refused, and prints no secret.
    assert clients.main(["create", "--stage", STAGE, "--name", "acme-bank"]) == 1
    assert capsys.readouterr().out == ""

    # A second deploy updates the stack in place, the client now mapped to its tenant.
    tenants = {"Tenants": json.dumps({client["client_id"]: "acme-bank"})}
    assert deploy.deploy_aws(STAGE, parameters=tenants)["outputs"]["EventsTableName"] == outputs["EventsTableName"]

    # The happy path against that Region's API. On MiniStack the token endpoint is
    # <gateway>/oauth2/token and the API is served under <gateway>/_aws/execute-api/.
    token = fetch_token({"token_url": f"{aws_env}/oauth2/token"}, client)
    api = Api(f"{aws_env}/_aws/execute-api/{outputs['RestAPIId']}/api", token)
    tx = api.pay(fresh("pacs008_bare.xml"))  # InstgAgt DEUTDEFFXXX: acme-bank's
    report = api.report(tx)
    assert report.status_code == 200, report.text
    assert statuses(report.content) == ("ACSC", [])
    # as another bank: rejected AGNT (PACSFLOW_TENANT_AGENTS reached the functions)
    other_bank = fresh("pacs008_bare.xml").replace(b"DEUTDEFFXXX", b"COBADEFFXXX")
    assert statuses(api.report(api.pay(other_bank)).content) == ("RJCT", ["AGNT"])
    # The events are in the stage's Region's table.
    table = session.resource("dynamodb").Table(outputs["EventsTableName"])
    assert table.scan(Limit=1)["Items"]
