"""The AWS deploy path without AWS: the artifacts bucket per Region, a rolled-back first create,
and client provisioning (the secret is printed once and never logged)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from infra import clients, deploy, ministack


def client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


# -- the artifacts bucket ------------------------------------------------------------------------


class RecordingS3:
    """S3 as documented: HeadBucket answers 404 for a missing bucket; CreateBucket refuses a
    LocationConstraint of us-east-1 and, elsewhere, a request without one."""

    def __init__(self, region: str, existing: set[str] | None = None) -> None:
        self.region = region
        self.buckets = set(existing or ())
        self.created: list[dict[str, Any]] = []

    def head_bucket(self, Bucket: str) -> dict[str, Any]:
        if Bucket not in self.buckets:
            raise client_error("404", "Not Found", "HeadBucket")
        return {}

    def create_bucket(self, **kwargs: Any) -> dict[str, Any]:
        constraint = kwargs.get("CreateBucketConfiguration", {}).get("LocationConstraint")
        if self.region == "us-east-1" and constraint is not None:
            raise client_error(
                "InvalidLocationConstraint", "The specified location-constraint is not valid", "CreateBucket"
            )
        if self.region != "us-east-1" and constraint != self.region:
            raise client_error(
                "IllegalLocationConstraintException",
                "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.",
                "CreateBucket",
            )
        self.created.append(kwargs)
        self.buckets.add(kwargs["Bucket"])
        return {}


@pytest.mark.parametrize("region", ["eu-west-1", "ap-southeast-2", "us-west-2"])
def test_a_missing_artifacts_bucket_is_created_with_the_regions_location_constraint(region):
    s3 = RecordingS3(region)
    deploy.ensure_bucket(s3, "artifacts", region)
    assert s3.created == [{"Bucket": "artifacts", "CreateBucketConfiguration": {"LocationConstraint": region}}]


def test_in_us_east_1_the_bucket_is_created_without_a_location_constraint():
    s3 = RecordingS3("us-east-1")
    deploy.ensure_bucket(s3, "artifacts", "us-east-1")
    assert s3.created == [{"Bucket": "artifacts"}]


def test_an_existing_bucket_is_left_alone_and_a_forbidden_one_is_an_error():
    s3 = RecordingS3("eu-west-1", existing={"artifacts"})
    deploy.ensure_bucket(s3, "artifacts", "eu-west-1")
    assert s3.created == []

    class Forbidden(RecordingS3):
        def head_bucket(self, Bucket: str) -> dict[str, Any]:
            raise client_error("403", "Forbidden", "HeadBucket")  # another account's bucket

    with pytest.raises(ClientError):
        deploy.ensure_bucket(Forbidden("eu-west-1"), "artifacts", "eu-west-1")


@mock_aws
def test_ensure_bucket_against_moto_puts_the_bucket_in_the_region(monkeypatch):
    for k, v in ministack.CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    for region in ("eu-west-1", "us-east-1"):
        s3 = boto3.client("s3", region_name=region)
        deploy.ensure_bucket(s3, f"artifacts-{region}", region)
        location = s3.get_bucket_location(Bucket=f"artifacts-{region}")["LocationConstraint"]
        assert location == (None if region == "us-east-1" else region)


def test_the_stage_is_the_region_and_names_are_unique_per_stage_and_account():
    assert deploy.region_of("eu-west-1") == "eu-west-1" and deploy.region_of("local") == "us-east-1"
    assert deploy.auth_domain_prefix("eu-west-1", "123456789012") == "pacsflow-eu-west-1-123456789012"
    assert deploy.auth_domain_prefix("eu-west-1", "1") != deploy.auth_domain_prefix("eu-west-2", "1")
    assert deploy.artifacts_bucket("eu-west-1", "123456789012") == "pacsflow-artifacts-123456789012-eu-west-1"


# -- CloudFormation: create, update, a rolled-back first create ---------------------------------


class FakeCloudFormation:
    """CloudFormation as documented: DescribeStacks on a missing stack is a ValidationError
    "Stack with id NAME does not exist"; operations are asynchronous (each describe advances a
    stack one state); a ROLLBACK_COMPLETE stack cannot be updated, only deleted; a deleted
    stack is no longer found by name. `outcomes` decides how each create ends."""

    def __init__(self, outcomes: list[str] | None = None) -> None:
        self.stacks: dict[str, list[str]] = {}  # name -> remaining statuses, the current first
        self.outcomes = list(outcomes or ["CREATE_COMPLETE"])
        self.calls: list[str] = []

    def _missing(self, name: str, op: str) -> ClientError:
        return client_error("ValidationError", f"Stack with id {name} does not exist", op)

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        self.calls.append("describe_stacks")
        statuses = self.stacks.get(StackName)
        if not statuses:
            raise self._missing(StackName, "DescribeStacks")
        status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        if status == "DELETE_COMPLETE":
            del self.stacks[StackName]
            raise self._missing(StackName, "DescribeStacks")
        return {
            "Stacks": [
                {"StackName": StackName, "StackStatus": status, "Outputs": [{"OutputKey": "K", "OutputValue": "v"}]}
            ]
        }

    def create_stack(self, StackName: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("create_stack")
        if StackName in self.stacks:
            raise client_error("AlreadyExistsException", f"Stack [{StackName}] already exists", "CreateStack")
        outcome = self.outcomes.pop(0)
        path = ["CREATE_IN_PROGRESS", outcome]
        if outcome == "ROLLBACK_COMPLETE":
            path = ["CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"]
        self.stacks[StackName] = path
        return {"StackId": f"arn:aws:cloudformation:eu-west-1:123456789012:stack/{StackName}/1"}

    def update_stack(self, StackName: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("update_stack")
        statuses = self.stacks.get(StackName)
        if not statuses:
            raise self._missing(StackName, "UpdateStack")
        if statuses[0] == "ROLLBACK_COMPLETE":
            raise client_error(
                "ValidationError",
                f"Stack:arn:aws:cloudformation:eu-west-1:123456789012:stack/{StackName}/1 is in ROLLBACK_COMPLETE "
                "state and can not be updated.",
                "UpdateStack",
            )
        self.stacks[StackName] = ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE"]
        return {}

    def delete_stack(self, StackName: str) -> dict[str, Any]:
        self.calls.append("delete_stack")
        if StackName in self.stacks:
            self.stacks[StackName] = ["DELETE_IN_PROGRESS", "DELETE_COMPLETE"]
        return {}

    def describe_stack_events(self, StackName: str) -> dict[str, Any]:
        return {
            "StackEvents": [
                {
                    "LogicalResourceId": "UserPoolDomain",
                    "ResourceStatus": "CREATE_FAILED",
                    "ResourceStatusReason": "Domain already associated with another user pool.",
                }
            ]
        }


def run(cfn: FakeCloudFormation) -> dict[str, str]:
    return deploy.deploy_stack(
        None, "pacsflow-eu-west-1", {"Resources": {}}, {"Stage": "eu-west-1"}, None, cfn=cfn, every=0
    )  # type: ignore[arg-type]


def test_a_new_stack_is_created_and_an_existing_one_updated_in_place():
    cfn = FakeCloudFormation()
    assert run(cfn) == {"K": "v"}
    assert run(cfn) == {"K": "v"}
    assert cfn.calls.count("create_stack") == 1 and cfn.calls.count("update_stack") == 1
    assert "delete_stack" not in cfn.calls


def test_a_rolled_back_first_create_is_deleted_waited_for_and_created_again():
    cfn = FakeCloudFormation()
    cfn.stacks["pacsflow-eu-west-1"] = ["ROLLBACK_COMPLETE"]  # left by an earlier deploy
    assert run(cfn) == {"K": "v"}
    ops = [c for c in cfn.calls if c != "describe_stacks"]
    assert ops == ["delete_stack", "create_stack"]
    # The create came only once the deletion was complete (the stack no longer found).
    assert cfn.calls.index("create_stack") > cfn.calls.index("delete_stack") + 2


def test_a_create_that_rolls_back_now_is_cleaned_up_and_retried_once():
    cfn = FakeCloudFormation(outcomes=["ROLLBACK_COMPLETE", "CREATE_COMPLETE"])
    assert run(cfn) == {"K": "v"}
    assert [c for c in cfn.calls if c != "describe_stacks"] == ["create_stack", "delete_stack", "create_stack"]


def test_a_create_that_rolls_back_twice_fails_with_the_reasons():
    cfn = FakeCloudFormation(outcomes=["ROLLBACK_COMPLETE", "ROLLBACK_COMPLETE"])
    with pytest.raises(RuntimeError, match="ROLLBACK_COMPLETE.*Domain already associated"):
        run(cfn)
    assert cfn.calls.count("create_stack") == 2


def test_an_update_is_never_a_delete():
    cfn = FakeCloudFormation()
    cfn.stacks["pacsflow-eu-west-1"] = ["UPDATE_ROLLBACK_COMPLETE"]  # a failed update: data kept
    run(cfn)
    assert "delete_stack" not in cfn.calls and cfn.calls.count("update_stack") == 1


# -- client provisioning -------------------------------------------------------------------------

SECRET = "s3cr3t-0123456789abcdefghijklmnopqrstuvwxyz"


class FakeCognito:
    def __init__(self) -> None:
        self.clients: list[dict[str, Any]] = []

    def get_paginator(self, name: str) -> Any:
        assert name == "list_user_pool_clients"
        cognito = self

        class Pages:
            def paginate(self, UserPoolId: str, **kwargs: Any) -> list[dict[str, Any]]:
                return [
                    {
                        "UserPoolClients": [
                            {"ClientName": c["ClientName"], "ClientId": c["ClientId"]} for c in cognito.clients
                        ]
                    }
                ]

        return Pages()

    def create_user_pool_client(self, **kwargs: Any) -> dict[str, Any]:
        client = {**kwargs, "ClientId": f"id{len(self.clients)}", "ClientSecret": SECRET}
        self.clients.append(client)
        return {"UserPoolClient": client}


class FakeStackCfn:
    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        assert StackName == "pacsflow-eu-west-1"
        return {
            "Stacks": [
                {
                    "StackStatus": "UPDATE_COMPLETE",
                    "Outputs": [
                        {"OutputKey": "UserPoolId", "OutputValue": "eu-west-1_pool"},
                        {
                            "OutputKey": "TokenUrl",
                            "OutputValue": "https://x.auth.eu-west-1.amazoncognito.com/oauth2/token",
                        },
                    ],
                    "Parameters": [{"ParameterKey": "ScopePrefix", "ParameterValue": "rp2"}],
                }
            ]
        }


@pytest.fixture
def fake_aws(monkeypatch):
    cognito = FakeCognito()

    class Session:
        def __init__(self, region_name: str) -> None:
            assert region_name == "eu-west-1"

        def client(self, name: str) -> Any:
            return {"cloudformation": FakeStackCfn(), "cognito-idp": cognito}[name]

    monkeypatch.setattr(clients, "aws_session", lambda stage: Session(deploy.region_of(stage)))
    return cognito


def test_the_cli_creates_a_client_credentials_client_and_prints_its_secret_once_never_logging_it(
    fake_aws, capsys, caplog
):
    caplog.set_level(logging.DEBUG)
    assert clients.main(["create", "--stage", "eu-west-1", "--name", "acme", "--scopes", "read,write"]) == 0
    out, err = capsys.readouterr()
    printed = json.loads(out)
    assert printed["client_id"] == "id0" and printed["client_secret"] == SECRET
    assert printed["scopes"] == ["rp2/read", "rp2/write"]  # resource server identifier = scope prefix
    assert out.count(SECRET) == 1
    assert SECRET not in err
    assert caplog.records and all(SECRET not in r.getMessage() for r in caplog.records)
    assert any("id0" in r.getMessage() for r in caplog.records)  # the id is logged, for the audit
    (made,) = fake_aws.clients
    assert made["GenerateSecret"] is True and made["AllowedOAuthFlows"] == ["client_credentials"]
    assert made["AllowedOAuthScopes"] == ["rp2/read", "rp2/write"] and made["AllowedOAuthFlowsUserPoolClient"] is True


def test_a_taken_name_is_refused_and_no_secret_is_printed_again(fake_aws, capsys):
    assert clients.main(["create", "--stage", "eu-west-1", "--name", "acme"]) == 0
    capsys.readouterr()
    assert clients.main(["create", "--stage", "eu-west-1", "--name", "acme"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and SECRET not in err and "already has a client named 'acme'" in err


def test_only_read_write_and_admin_scopes_exist(fake_aws):
    assert clients.main(["create", "--stage", "eu-west-1", "--name", "x", "--scopes", "read"]) == 0
    assert fake_aws.clients[0]["AllowedOAuthScopes"] == ["rp2/read"]
    with pytest.raises(SystemExit):
        clients.main(["create", "--stage", "eu-west-1", "--name", "y", "--scopes", "delete"])


# -- MiniStack for `make run`: state kept across a graceful stop ----------------------------------


def test_make_run_starts_ministack_with_its_state_persisted_in_the_state_dir(monkeypatch, tmp_path):
    seen: dict[str, Any] = {}

    class Proc:
        pid = 4242

        def poll(self) -> None:
            return None

    def popen(args: list[str], env: dict[str, str], **kwargs: Any) -> Proc:
        seen.update(env)
        return Proc()

    monkeypatch.setattr(ministack.subprocess, "Popen", popen)
    monkeypatch.setattr(ministack, "is_up", lambda port: True)
    monkeypatch.setenv("LAMBDA_PROXY_WORKERS", "0")  # MiniStack's environment only, not its Lambda proxy
    assert deploy.start_local(4599, tmp_path) == 4242
    assert seen["PERSIST_STATE"] == "1" and seen["S3_PERSIST"] == "1"
    assert seen["STATE_DIR"] == str(tmp_path / "state") and seen["S3_DATA_DIR"] == str(tmp_path / "s3")
    seen.clear()
    ministack.start(4599, tmp_path / "log", state_dir=tmp_path)  # the tests' own MiniStack: nothing kept
    assert seen["PERSIST_STATE"] == "0" and seen["S3_PERSIST"] == "0"


def test_stop_is_graceful_sigterm_then_waits(monkeypatch):
    import signal

    sent: list[int] = []
    alive = [True, True, False]  # answers signal 0 twice, then the group is gone

    def killpg(pid: int, sig: int) -> None:
        if sig == 0:
            if not alive.pop(0):
                raise ProcessLookupError
            return
        sent.append(sig)

    monkeypatch.setattr(ministack.os, "killpg", killpg)
    monkeypatch.setattr(ministack.os, "waitpid", lambda pid, flags: (0, 0))
    monkeypatch.setattr(ministack.time, "sleep", lambda s: None)
    assert ministack.stop(4242) is True
    assert sent == [signal.SIGTERM]  # saved on the way out; never SIGKILL while it stops in time


@pytest.fixture
def a_process():
    """Start a process (its own session, as MiniStack's) with this argv, and return its pid
    once the process runs it (until its exec, the child's /proc cmdline is still pytest's:
    is_ours read it too early 1 time in 3 under load); kill what is left."""
    import signal
    import subprocess

    started: list[subprocess.Popen[bytes]] = []

    def start(*argv: str) -> int:
        started.append(subprocess.Popen(argv, start_new_session=True))
        cmdline, deadline = Path(f"/proc/{started[-1].pid}/cmdline"), time.monotonic() + 10
        while cmdline.exists() and cmdline.read_bytes().split(b"\0")[:-1] != [a.encode() for a in argv]:
            assert time.monotonic() < deadline, f"{argv} did not start"
            time.sleep(0.005)
        return started[-1].pid

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_make_stop_signals_no_process_that_is_not_our_ministack(a_process, monkeypatch, tmp_path, capsys):
    """.ministack/pid outlives a reboot or a crashed MiniStack: its pid may now be anything."""
    unrelated = a_process("sleep", "60")
    monkeypatch.setattr(deploy, "STATE", tmp_path)
    (tmp_path / "pid").write_text(str(unrelated))
    deploy.stop_local()
    assert os.waitpid(unrelated, os.WNOHANG) == (0, 0)  # still running: never signalled
    assert not (tmp_path / "pid").exists()
    assert f"MiniStack (pid {unrelated}) was not running: removed the stale .ministack/pid" in capsys.readouterr().out


def test_our_ministack_is_known_by_the_module_it_runs(a_process):
    ours = a_process(sys.executable, "-c", "import time; time.sleep(60)", ministack.MODULE)
    assert ministack.is_ours(ours)
    assert not ministack.is_ours(a_process(sys.executable, "-c", "import time; time.sleep(60)"))


# -- the local stage's Lambda proxy ------------------------------------------------------------


class FakeLambdaSession:
    """CloudFormation lists one function; Lambda keeps its configuration and counts updates."""

    region_name = "us-east-1"

    def __init__(self) -> None:
        self.config: dict[str, Any] = {
            "CodeSha256": "sha-1",
            "Handler": "app.app",
            "Environment": {"Variables": {"TABLE": "t"}},
        }
        self.updates = 0

    def client(self, service: str, endpoint_url: str | None = None) -> Any:
        fake = self

        class Client:
            def get_paginator(self, name: str) -> Any:
                resources = [
                    {"ResourceType": "AWS::Lambda::Function", "PhysicalResourceId": "fn-1"},
                    {"ResourceType": "AWS::SQS::Queue", "PhysicalResourceId": "q"},
                ]
                return type("P", (), {"paginate": lambda self, **kw: [{"StackResourceSummaries": resources}]})()

            def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
                return fake.config

            def update_function_configuration(self, FunctionName: str, Environment: dict) -> None:
                fake.updates += 1
                fake.config = {**fake.config, "Environment": Environment}

        return Client()


def test_functions_are_pointed_at_the_lambda_proxy_once_per_version(monkeypatch):
    monkeypatch.setattr(ministack, "lambda_proxy_url", lambda endpoint: "http://127.0.0.1:9")
    session = FakeLambdaSession()
    deploy.use_lambda_proxy(session, "http://127.0.0.1:4566", "s")  # type: ignore[arg-type]
    variables = session.config["Environment"]["Variables"]
    url = variables["MINISTACK_LAMBDA_PROXY_URL"]
    assert url.startswith("http://127.0.0.1:9/us-east-1/fn-1/") and variables["TABLE"] == "t"
    deploy.use_lambda_proxy(session, "http://127.0.0.1:4566", "s")  # type: ignore[arg-type]
    assert session.updates == 1  # unchanged function: no update
    session.config = {**session.config, "CodeSha256": "sha-2"}  # a redeploy with new code
    deploy.use_lambda_proxy(session, "http://127.0.0.1:4566", "s")  # type: ignore[arg-type]
    assert session.updates == 2 and session.config["Environment"]["Variables"]["MINISTACK_LAMBDA_PROXY_URL"] != url


def test_without_a_lambda_proxy_the_functions_are_left_alone(monkeypatch):
    monkeypatch.setattr(ministack, "lambda_proxy_url", lambda endpoint: None)
    session = FakeLambdaSession()
    deploy.use_lambda_proxy(session, "http://127.0.0.1:4566", "s")  # type: ignore[arg-type]
    assert session.updates == 0 and "MINISTACK_LAMBDA_PROXY_URL" not in session.config["Environment"]["Variables"]
