"""The packaged deployment template: what every stage (local and AWS) is deployed from.

MiniStack accepts but ignores SSE, point-in-time recovery and the like, so they are checked
here, on the template itself.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infra import deploy
from infra.deploy import REPO, package
from infra.template import choose, evaluate_conditions

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def template() -> dict:
    """The single-Region stack's template (each Fn::If resolved for the default parameters)."""
    out = package("local")
    return choose(json.loads((out / "sam.json").read_text()), evaluate_conditions())


def resources_of(template: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_every_function_has_its_own_role_and_no_wildcard_action(template):
    functions = resources_of(template, "AWS::Serverless::Function")
    assert set(functions) == {
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
    roles = {f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions.values()}
    assert len(roles) == len(functions)
    for name in roles:
        for policy in template["Resources"][name]["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert all("*" not in a for a in actions), (name, actions)
                assert statement["Resource"] != "*" and "*" not in [
                    r for r in statement["Resource"] if isinstance(r, str)
                ]


def test_only_the_consumers_may_read_their_queue_and_only_the_releasing_steps_may_publish(template):
    def actions(role: str) -> set[str]:
        doc = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]
        return {a for s in doc["Statement"] for a in s["Action"]}

    # releasing, and the steps that run it inline (chalicelib/pipeline/handoff.py)
    assert all("sns:Publish" in actions(r) for r in ("ReleasingRole", "IncomingRole", "ProcessingRole"))
    assert not any(
        "sns:Publish" in actions(r)
        for r in ("APIHandlerRole", "ViewFollowerRole", "DeadlinesRole", "SweepTimeoutsRole")
    )
    assert "sqs:ReceiveMessage" not in actions("APIHandlerRole")
    follower = template["Resources"]["ViewFollowerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    writes_to = [s["Resource"] for s in follower if "dynamodb:PutItem" in s["Action"]]
    assert writes_to == [[{"Fn::GetAtt": ["TransactionsTable", "Arn"]}]]  # the follower never writes events


def test_pipeline_queues_are_fifo_with_dead_letter_queues_and_partial_batch_failures(template):
    queues = resources_of(template, "AWS::SQS::Queue")
    # the view follower's failure queue is not a pipeline queue (test_template_aws.py)
    # nor is the deadlines queue, standard for its delayed messages (test_timeouts_wiring.py)
    main = {
        k: v for k, v in queues.items() if not k.endswith("DLQ") and k not in ("ViewFailuresQueue", "DeadlinesQueue")
    }
    assert set(main) == {"IncomingQueue", "ProcessingQueue", "ReleasingQueue"}
    for name, q in main.items():
        assert q["Properties"]["FifoQueue"] is True
        assert q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [name + "DLQ", "Arn"]}
        assert queues[name + "DLQ"]["Properties"]["FifoQueue"] is True
    for fn in ("Incoming", "Processing", "Releasing"):
        source = template["Resources"][fn]["Properties"]["Events"][f"{fn}SqsEventSource"]["Properties"]
        assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert source["Queue"] == {"Fn::GetAtt": [f"{fn}Queue", "Arn"]}  # bound to the stack's own queue
    stream = template["Resources"]["ViewFollower"]["Properties"]["Events"]["ViewFollowerDynamodbEventSource"][
        "Properties"
    ]
    assert stream["Stream"] == {"Fn::GetAtt": ["EventsTable", "StreamArn"]}


def _statements(template: dict, role: str) -> list[dict]:
    return template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def test_the_digester_follows_the_stream_in_long_batches_and_alone_may_write_digests(template):
    """Digests off the view's path (chalicelib/eventstore/digests.py): its own function on the
    events stream, whose records carry the items (NEW_IMAGE: the hashes), batching up to
    DigestWindowSeconds (AWS allows 0 to 300 for a stream) into one digest."""
    assert template["Resources"]["EventsTable"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    mapping = template["Resources"]["Digester"]["Properties"]["Events"]["DigesterDynamodbEventSource"]["Properties"]
    assert mapping["Stream"] == {"Fn::GetAtt": ["EventsTable", "StreamArn"]}
    assert mapping["MaximumBatchingWindowInSeconds"] == {"Ref": "DigestWindowSeconds"}
    assert mapping["BatchSize"] == 1000 and mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    window = template["Parameters"]["DigestWindowSeconds"]
    assert (window["Default"], window["MinValue"], window["MaxValue"]) == (60, 0, 300)
    digester = _statements(template, "DigesterRole")
    actions = {a for s in digester for a in s["Action"]}
    assert "secretsmanager:GetSecretValue" not in actions  # it decodes no event state
    assert not {a for a in actions if a.startswith("dynamodb:")} - {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    }
    (puts,) = [s for s in digester if s["Action"] == ["s3:PutObject"]]
    assert puts["Resource"] == [{"Fn::Sub": "${DigestsBucket.Arn}/digests/*"}]
    writers = [
        name
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role" and "${DigestsBucket.Arn}" in json.dumps(resource)
    ]
    assert writers == ["DigesterRole"]  # the view follower no longer writes digests


def test_data_at_rest_is_encrypted_and_kept(template):
    for table in resources_of(template, "AWS::DynamoDB::Table").values():
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True
        assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    bucket = template["Resources"]["ArchiveBucket"]
    assert bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ]
    assert bucket["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    assert template["Resources"]["ReleasedTopic"]["Properties"]["KmsMasterKeyId"]


def test_the_digests_bucket_keeps_every_digest_under_compliance_object_lock(template):
    bucket = template["Resources"]["DigestsBucket"]
    props = bucket["Properties"]
    assert props["ObjectLockEnabled"] is True and props["VersioningConfiguration"] == {"Status": "Enabled"}
    retention = props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert retention["Mode"] == "COMPLIANCE" and retention["Days"] == {"Ref": "DigestRetentionDays"}
    assert bucket["DeletionPolicy"] == "Retain"
    assert props["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True


def test_the_snapshots_bucket_is_private_encrypted_kept_and_expires_history_only(template):
    bucket = template["Resources"]["SnapshotsBucket"]
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    assert "ObjectLockEnabled" not in props and "VersioningConfiguration" not in props
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]},
    }
    assert all(props["PublicAccessBlockConfiguration"].values())
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["Prefix"] == "snapshots/history/" and rule["Status"] == "Enabled" and rule["ExpirationInDays"] > 0
    (deny,) = template["Resources"]["SnapshotsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    for function in ("APIHandler", "Processing", "Releasing"):
        env = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert env["PACSFLOW_SNAPSHOTS_BUCKET"] == {"Ref": "SnapshotsBucket"}
        assert env["PACSFLOW_POSITION_SNAPSHOT_INTERVAL"] == {"Ref": "PositionSnapshotInterval"}
    assert template["Parameters"]["PositionSnapshotInterval"]["Default"] == 50
    assert template["Outputs"]["SnapshotsBucketName"] == {"Value": {"Ref": "SnapshotsBucket"}}


def test_only_the_functions_that_load_positions_may_touch_their_snapshots(template):
    """Positions are loaded and saved by Processing (reserve), Releasing and the API (free),
    by Incoming, which runs processing and releasing inline, and by Deadlines (a return's
    check frees what a request that died did not)."""
    granted: dict[str, set[str]] = {}
    for name, role in resources_of(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if "SnapshotsBucket" in json.dumps(statement["Resource"]):
                    assert statement["Effect"] == "Allow"
                    for action in statement["Action"]:
                        granted.setdefault(name.removesuffix("Role"), set()).add(action)
                        if action == "s3:ListBucket":
                            assert statement["Resource"] == [{"Fn::GetAtt": ["SnapshotsBucket", "Arn"]}]
                        else:
                            assert statement["Resource"] == [{"Fn::Sub": "${SnapshotsBucket.Arn}/snapshots/*"}]
    every = {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}
    assert set(granted) == {"APIHandler", "Deadlines", "Incoming", "Processing", "Releasing"}
    assert all(actions == every for actions in granted.values())


def test_every_protected_route_has_the_cognito_authorizer_of_the_stack(template):
    body = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    authorizer = body["securityDefinitions"]["ClientCredentials"]["x-amazon-apigateway-authorizer"]
    assert authorizer["providerARNs"] == [{"Fn::GetAtt": ["UserPool", "Arn"]}]
    for path, methods in body["paths"].items():
        for method, spec in methods.items():
            if method == "options":
                continue
            assert ("security" in spec) == (path not in {"/", "/openapi.json"}), (path, method)  # public: health, OAS


def test_runtime_requirements_cover_every_import_of_the_deployed_code():
    """MiniStack runs Lambdas in the project's venv, so a missing requirement would only show in AWS."""
    script = r"""
import ast, importlib.metadata as md, pathlib, re, sys, json
repo = pathlib.Path(sys.argv[1])
files = [repo / "app.py", *(repo / "chalicelib").rglob("*.py")]
tops = set()
for f in files:
    for node in ast.walk(ast.parse(f.read_text())):
        if isinstance(node, ast.Import):
            tops |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            tops.add(node.module.split(".")[0])
dists = md.packages_distributions()
third = {t: dists[t] for t in tops if t in dists and t not in sys.stdlib_module_names}
print(json.dumps(third))
"""
    out = subprocess.run([sys.executable, "-c", script, str(REPO)], capture_output=True, text=True, check=True).stdout
    imported = json.loads(out)
    listed = {
        line.split("==")[0].split("[")[0].strip().lower().replace("_", "-")
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    provided_by_lambda = {"boto3", "botocore", "chalice"}  # chalice package vendors its own runtime
    for module, dists in imported.items():
        names = {d.lower().replace("_", "-") for d in dists}
        assert names & (listed | provided_by_lambda), f"{module} ({dists}) is imported but not in requirements.txt"
    assert {"lxml", "eventsourcing", "pyjwt"} <= {d.lower() for ds in imported.values() for d in ds}  # it sees imports


def test_the_package_leaves_out_what_no_function_reads(template):
    import zipfile

    with zipfile.ZipFile(REPO / ".build" / "package-local" / "deployment.zip") as package:
        names = package.namelist()
    assert "app.py" in names and any(n.startswith("pycountry/databases/") for n in names)
    assert not any(n.startswith("pycountry/locales/") for n in names)


def test_every_function_reads_the_tenants_agents_from_the_parameter_that_production_must_set(template):
    """PACSFLOW_TENANT_AGENTS on every function, from TenantAgents; a stack of any stage but
    `local` without it is refused by the template's rule, as CloudFormation (and MiniStack,
    whose engine evaluates it here) refuses it, so a redeploy that forgot the mapping fails
    instead of reopening the stage to one tenant sending as another's bank."""
    from ministack.services.cloudformation import engine

    assert template["Parameters"]["TenantAgents"]["Default"] == "{}"
    for name, function in resources_of(template, "AWS::Serverless::Function").items():
        assert function["Properties"]["Environment"]["Variables"]["PACSFLOW_TENANT_AGENTS"] == {
            "Ref": "TenantAgents"
        }, name
    engine._check_rules_section(template)

    def refused(stage: str, tenant_agents: str) -> bool:
        params = {"Stage": {"Value": stage}, "TenantAgents": {"Value": tenant_agents}}
        try:
            engine._evaluate_rules(template, params, {})
        except ValueError as e:
            assert "PACSFLOW_TENANT_AGENTS" in str(e)
            return True
        return False

    assert not refused("local", "{}")
    assert refused("eu-west-1", "{}") and refused("eu-west-1", "")
    assert not refused("eu-west-1", '{"acme-bank": ["ACMEDEFF"]}')


def test_the_stage_has_no_default_so_an_update_cannot_forget_it(template):
    """CloudFormation gives a parameter left out of an update its default, not its previous
    value: with `Default: local`, a hand-made update of a production stack would run it as
    `local`, where an empty tenant-agents mapping is allowed (the check off). Both deploys
    pass the stage."""
    assert "Default" not in template["Parameters"]["Stage"]
    assert deploy.local_parameters()["Stage"] == "local"
