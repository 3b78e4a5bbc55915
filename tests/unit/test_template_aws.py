"""What only real AWS would show, checked offline on the packaged template and the code.

MiniStack accepts access tokens on unscoped methods, ignores KMS, X-Ray, access logs and
retention, and never times out a call: these tests hold the template and the clients to
AWS's documented behaviour instead.
"""

from __future__ import annotations

import ast
import json
import os
from typing import Any

import pytest

from infra.deploy import REPO, package
from infra.template import choose, evaluate_conditions

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    out = package("local")  # the single-Region stack (each Fn::If resolved for the default parameters)
    return choose(json.loads((out / "sam.json").read_text()), evaluate_conditions())


def functions_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


# -- issue 8 item 10: every client gives up before its function does ----------------------


def _worst_case_seconds(config: Any) -> float:
    """One call's longest wait: every attempt times out connecting and reading, plus the
    standard retry mode's back-off before each retry (at most 2**(n-1) s before retry n)."""
    retries = config.retries
    assert retries["mode"] == "standard", retries
    attempts = retries["total_max_attempts"]  # botocore's name for all calls, the first included
    backoff = sum(min(2 ** (n - 1), 20) for n in range(1, attempts))
    return attempts * (config.connect_timeout + config.read_timeout) + backoff


def _clients() -> dict[str, Any]:
    from chalicelib.adapters import aws as adapters_aws
    from chalicelib.eventstore.aws import new_client

    adapters_aws._client.cache_clear()
    made = {f"adapters:{s}": adapters_aws.client(s) for s in ("dynamodb", "s3", "secretsmanager", "sns", "sqs")}
    made.update({f"eventstore:{s}": new_client(s) for s in ("dynamodb", "s3")})  # type: ignore[call-overload]
    adapters_aws.streams.cache_clear()
    made["adapters:dynamodbstreams"] = adapters_aws.streams()
    adapters_aws._client.cache_clear()
    adapters_aws.streams.cache_clear()
    return made


def test_every_client_times_out_before_the_shortest_function(template, monkeypatch):
    monkeypatch.setitem(os.environ, "AWS_DEFAULT_REGION", "eu-west-1")
    timeouts = {name: f["Properties"]["Timeout"] for name, f in functions_of(template).items()}
    assert set(timeouts) == {
        "APIHandler",
        "Incoming",
        "Processing",
        "Releasing",
        "ViewFollower",
        "Digester",
        "Deadlines",
        "SweepTimeouts",
        "FailoverController",
    }
    for name, client in _clients().items():
        config = client.meta.config
        assert config.connect_timeout is not None and config.read_timeout is not None, name
        worst = _worst_case_seconds(config)
        for function, timeout in timeouts.items():
            assert worst < timeout, f"{name}: a call may take {worst} s, {function} stops after {timeout} s"


def test_the_code_makes_clients_only_through_the_two_configured_factories():
    """Any other boto3 client would have botocore's 60 s + 60 s defaults."""
    factories = {REPO / "chalicelib" / "adapters" / "aws.py", REPO / "chalicelib" / "eventstore" / "aws.py"}
    offenders = []
    for path in [REPO / "app.py", *(REPO / "chalicelib").rglob("*.py")]:
        if path in factories:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("client", "resource")
                and "boto3" in ast.unparse(node.func.value)
            ):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("boto3.client", "boto3.resource"):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not offenders, offenders
    for path in factories:
        assert "config=" in path.read_text(), path


# -- the packaged template as CloudFormation receives it (AWS's own SAM translator) -------


@pytest.fixture(scope="module")
def transformed(template) -> dict[str, Any]:
    """The template after the AWS::Serverless transform, translated offline by
    aws-sam-translator (the library CloudFormation's transform runs): what AWS deploys."""
    import copy

    from samtranslator.translator.transform import transform

    class NoManagedPolicies:  # our functions name their roles; nothing to look up
        def load(self) -> dict[str, str]:
            return {}

    t = copy.deepcopy(template)
    for resource in functions_of(t).values():
        resource["Properties"]["CodeUri"] = "s3://artifacts/pacsflow.zip"
    old = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "eu-west-1"
    try:
        return transform(t, {"ScopePrefix": "pacsflow"}, NoManagedPolicies())
    finally:
        if old is None:
            os.environ.pop("AWS_DEFAULT_REGION")
        else:
            os.environ["AWS_DEFAULT_REGION"] = old


# -- issue 8 item 1: each protected method demands the scope its code checks -------------


def access_by_route() -> dict[tuple[str, str], str | None]:
    """(path, method) -> the access app.py's `protected(...)` demands (None: not protected),
    read from the code itself so the template cannot drift from it."""
    tree = ast.parse((REPO / "app.py").read_text())
    names = {}  # READ, WRITE = "read", "write"
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Tuple)
            and isinstance(node.value, ast.Tuple)
        ):
            for target, value in zip(node.targets[0].elts, node.value.elts, strict=True):
                if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
                    names[target.id] = value.value
    routes: dict[tuple[str, str], str | None] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        access = None
        for d in node.decorator_list:
            if isinstance(d, ast.Call) and ast.unparse(d.func) == "protected":
                arg = d.args[0]
                access = names[arg.id] if isinstance(arg, ast.Name) else arg.value
        for d in node.decorator_list:
            if isinstance(d, ast.Call) and ast.unparse(d.func) == "app.route":
                methods = next(k.value for k in d.keywords if k.arg == "methods")
                for m in methods.elts:
                    routes[(d.args[0].value, m.value.lower())] = access
    return routes


def test_every_protected_method_demands_exactly_the_scope_its_route_checks(template, transformed):
    expected = access_by_route()
    assert ("/uuid", "get") in expected and expected[("/uuid", "get")] == "write"  # the reader works
    assert expected[("/transactions/{transaction_id}", "get")] == "read"
    server = template["Resources"]["ResourceServer"]["Properties"]
    assert server["Identifier"] == {"Ref": "ScopePrefix"}
    offered = {s["ScopeName"] for s in server["Scopes"]}
    for body in (
        template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"],
        transformed["Resources"]["RestAPI"]["Properties"]["Body"],  # what API Gateway imports
    ):
        seen = set()
        for path, methods in body["paths"].items():
            for method, spec in methods.items():
                if method == "options":
                    continue
                seen.add((path, method))
                access = expected[(path, method)]
                if access is None:
                    assert "security" not in spec, (path, method)
                    continue
                # the pool's resource server is named by the same parameter: <prefix>/<scope>
                assert access in offered
                assert spec["security"] == [{"ClientCredentials": [{"Fn::Sub": "${ScopePrefix}/" + access}]}], (
                    path,
                    method,
                    spec.get("security"),
                )
        assert seen == set(expected)


# -- issue 8 item 4: what an operator expects of the stack --------------------------------


def _key_ref(value: Any) -> bool:
    return value in ({"Ref": "DataKey"}, {"Fn::GetAtt": ["DataKey", "Arn"]})


def test_one_rotated_customer_managed_key_encrypts_every_store(template):
    r = template["Resources"]
    keys = {k: v for k, v in r.items() if v["Type"] == "AWS::KMS::Key"}
    assert list(keys) == ["DataKey"]
    key = keys["DataKey"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"  # what it encrypted must stay readable
    policy = key["Properties"]["KeyPolicy"]["Statement"]
    root = [
        s
        for s in policy
        if s["Principal"].get("AWS") == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    ]
    assert root and root[0]["Action"] == "kms:*"
    for s in policy:  # a service principal only with a condition naming this stack's use
        assert "AWS" in s["Principal"] or s.get("Condition"), s
        for values in s.get("Condition", {}).get("ArnLike", {}).values():
            assert all("${AWS::StackName}" in v["Fn::Sub"] for v in values), values
    for name, v in r.items():
        props = v.get("Properties", {})
        if v["Type"] == "AWS::DynamoDB::Table":
            sse = props["SSESpecification"]
            assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS" and _key_ref(sse["KMSMasterKeyId"]), name
        elif v["Type"] in ("AWS::SQS::Queue", "AWS::SNS::Topic"):
            assert _key_ref(props.get("KmsMasterKeyId")), name
            assert "SqsManagedSseEnabled" not in props, name  # exclusive with a KMS key
        elif v["Type"] == "AWS::SecretsManager::Secret":
            assert _key_ref(props.get("KmsKeyId")), name
        elif v["Type"] == "AWS::S3::Bucket":
            (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            default = rule["ServerSideEncryptionByDefault"]
            assert default["SSEAlgorithm"] == "aws:kms" and _key_ref(default["KMSMasterKeyID"]), name
        elif v["Type"] == "AWS::Logs::LogGroup":
            assert _key_ref(props.get("KmsKeyId")), name


def _statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [s for p in template["Resources"][role]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_every_function_may_use_the_key_and_write_traces(template):
    for name, function in functions_of(template).items():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        kms = {a for s in _statements(template, role) if _key_ref(s["Resource"][0]) for a in s["Action"]}
        assert {"kms:Decrypt", "kms:GenerateDataKey"} <= kms, name
        managed = template["Resources"][role]["Properties"]["ManagedPolicyArns"]
        assert {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"} in managed, name
        assert function["Properties"]["Tracing"] == "Active", name


def test_every_function_keeps_its_logs_for_a_bounded_time(template):
    r = template["Resources"]
    groups = {
        json.dumps(v["Properties"]["LogGroupName"]): v["Properties"]
        for v in r.values()
        if v["Type"] == "AWS::Logs::LogGroup"
    }
    allowed = [int(d) for d in template["Parameters"]["LogRetentionDays"]["AllowedValues"]]
    assert int(template["Parameters"]["LogRetentionDays"]["Default"]) in allowed
    for name in functions_of(template):
        # the group Lambda writes to: /aws/lambda/<the function's physical name>
        group = groups[json.dumps({"Fn::Sub": f"/aws/lambda/${{{name}}}"})]
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name


def test_the_api_stage_has_access_logs_and_tracing(template, transformed):
    (stage,) = [v for v in transformed["Resources"].values() if v["Type"] == "AWS::ApiGateway::Stage"]
    props = stage["Properties"]
    assert props["TracingEnabled"] is True
    logs = props["AccessLogSetting"]
    group = template["Resources"][logs["DestinationArn"]["Fn::GetAtt"][0]]
    assert group["Type"] == "AWS::Logs::LogGroup" and group["Properties"]["RetentionInDays"]
    fields = json.loads(logs["Format"])
    assert "$context.requestId" in fields.values()
    assert not any("path" in v.lower() and "resourcepath" not in v.lower() for v in fields.values())  # no ids or bodies
    # API Gateway logs through the account's CloudWatch role; the stage needs it first
    account = [v for v in template["Resources"].values() if v["Type"] == "AWS::ApiGateway::Account"]
    assert account and "ApiGatewayAccount" in template["Resources"]["RestAPI"]["DependsOn"]


def test_processing_is_capped_and_its_poller_never_exceeds_the_cap(template, transformed):
    processing = template["Resources"]["Processing"]["Properties"]
    assert processing["ReservedConcurrentExecutions"] == {"Ref": "ProcessingConcurrency"}
    mapping = transformed["Resources"]["ProcessingProcessingSqsEventSource"]["Properties"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "ProcessingConcurrency"}
    assert template["Parameters"]["ProcessingConcurrency"]["MinValue"] >= 2  # ScalingConfig's minimum


# -- issue 8 item 5: a poison record gives up after bounded retries, to a queue ----------


def test_the_view_stream_mapping_gives_up_boundedly_and_says_where(template, transformed):
    mapping = transformed["Resources"]["ViewFollowerViewFollowerDynamodbEventSource"]["Properties"]
    assert 0 <= mapping["MaximumRetryAttempts"] <= 10
    # bounded, and young enough that the replay can still read the batch from the stream (24 h)
    assert 60 <= mapping["MaximumRecordAgeInSeconds"] <= 6 * 3600
    assert mapping["BisectBatchOnFunctionError"] is True
    destination = mapping["DestinationConfig"]["OnFailure"]["Destination"]
    queue = template["Resources"][destination["Fn::GetAtt"][0]]
    assert queue["Type"] == "AWS::SQS::Queue" and not queue["Properties"].get("FifoQueue")
    assert _key_ref(queue["Properties"]["KmsMasterKeyId"])
    assert queue["Properties"]["MessageRetentionPeriod"] >= 7 * 24 * 3600
    # the mapping sends with the function's role
    sends = [s for s in _statements(template, "ViewFollowerRole") if "sqs:SendMessage" in s["Action"]]
    assert any(destination in s["Resource"] for s in sends)
    assert "ViewFailuresQueueUrl" in template["Outputs"]
