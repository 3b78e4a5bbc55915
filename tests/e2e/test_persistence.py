"""`make run` keeps its data across `make stop` and `make run`: MiniStack saves its state on a
graceful stop and loads it at start, and the second deploy updates the stack in place."""

from __future__ import annotations

import pytest

from infra import deploy, ministack
from tests.e2e.conftest import Api, fetch_token
from tests.e2e.test_flow import statuses
from tests.messages import fresh

pytestmark = pytest.mark.e2e
CHANGED_LIMITS = '{"NOBODYXXXXX:EUR": "1.00"}'  # a limit for an agent no test pays from


def test_a_transaction_survives_a_graceful_stop_and_a_redeploy(tmp_path):
    boto_session = deploy.local_session()
    port = ministack.free_port()
    endpoint = ministack.endpoint(port)
    pid = deploy.start_local(port, tmp_path)
    try:
        first = deploy_local_and_pay(endpoint)
        tx, stack = first["tx"], first["stack"]
        cfn = boto_session.client("cloudformation", endpoint_url=endpoint)
        created = cfn.describe_stacks(StackName=stack["stack_name"])["Stacks"][0]["CreationTime"]
        events_before = first["api"].call("GET", f"/transactions/{tx}/events").json()["events"]
        assert [e["type"] for e in events_before] == ["Initiated", "Submitted", "Received", "Accepted", "Released"]
        table = stack["outputs"]["EventsTableName"]
        table_created = boto_session.client("dynamodb", endpoint_url=endpoint).describe_table(TableName=table)["Table"][
            "CreationDateTime"
        ]
    finally:
        assert ministack.stop(pid), "MiniStack was not running"
    assert not ministack.is_up(port)

    pid = deploy.start_local(port, tmp_path)
    try:
        cfn = boto_session.client("cloudformation", endpoint_url=endpoint)
        # `make run` again: the stack is found and updated in place. An unchanged template is no
        # update at all ("No updates are to be performed"), so change a parameter to make one.
        again = deploy.deploy_local(endpoint, parameters={"LiquidityLimits": CHANGED_LIMITS})
        described = cfn.describe_stacks(StackName=again["stack_name"])["Stacks"][0]
        assert described["CreationTime"] == created and described["StackStatus"] == "UPDATE_COMPLETE"
        assert {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}[
            "LiquidityLimits"
        ] == CHANGED_LIMITS
        assert again["outputs"]["EventsTableName"] == table
        ddb = boto_session.client("dynamodb", endpoint_url=endpoint)
        assert ddb.describe_table(TableName=table)["Table"]["CreationDateTime"] == table_created  # not re-created
        # The demo clients are the same ones (the pool was kept), and so is the transaction.
        assert [c["client_id"] for c in again["clients"]] == [c["client_id"] for c in stack["clients"]]
        api = Api(again["api_url"], fetch_token(again, again["clients"][0]))
        assert api.call("GET", f"/transactions/{tx}/events").json()["events"] == events_before
        view = api.view(tx, version=4)
        assert view["status"] == "ACSC" and view["transaction_id"] == tx
        assert statuses(api.report(tx).content) == ("ACSC", [])
        # The app still works after the update.
        assert statuses(api.report(api.pay(fresh("pacs008_bare.xml"))).content) == ("ACSC", [])
    finally:
        ministack.stop(pid)


def deploy_local_and_pay(endpoint: str) -> dict:
    stack = deploy.deploy_local(endpoint)
    api = Api(stack["api_url"], fetch_token(stack, stack["clients"][0]))
    tx = api.pay(fresh("pacs008_bare.xml"))
    assert statuses(api.report(tx).content) == ("ACSC", [])
    api.view(tx, version=4)
    return {"tx": tx, "stack": stack, "api": api}
