"""The template in each table mode and Region role (docs/multi-region.md): cfn-lint clean in
every combination, the global table's properties, no table in a replica's stack, archive
replication and the peer reads only when there are peers; the AWS multi-Region deploy's order
and parameters (with a stub in place of CloudFormation)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from infra.deploy import deploy_aws_regions, package
from infra.template import choose, evaluate_conditions

pytestmark = pytest.mark.filterwarnings("ignore")

SINGLE: dict[str, str] = {}
LOCAL_PRIMARY = {"ReplicaRegion1": "eu-west-1"}
MREC_PRIMARY = {"TableMode": "global", "ReplicaRegion1": "eu-west-1", "ReplicaRegion2": "ap-southeast-2"}
MRSC_PRIMARY = {
    "TableMode": "global",
    "Consistency": "mrsc",
    "ReplicaRegion1": "us-east-2",
    "WitnessRegion": "us-west-2",
}
REPLICA = {
    "RegionRole": "replica",
    "ReplicaRegion1": "us-east-1",
    "EventsStreamArn": "arn:stream",
    "EventCipherSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cipher-AbCdEf",
}
LINKED = {**MREC_PRIMARY, "PeerArchiveBuckets": '{"eu-west-1": "b1", "ap-southeast-2": "b2"}'}


@pytest.fixture(scope="module")
def packaged() -> dict[str, Any]:
    return json.loads((package("eu-west-1") / "sam.json").read_text())


def stack_of(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """The resources a stack with `parameters` creates, each Fn::If resolved."""
    conditions = evaluate_conditions(parameters)
    resources = {k: v for k, v in template["Resources"].items() if conditions.get(v.get("Condition", ""), True)}
    return choose(resources, conditions)


def with_defaults(template: dict[str, Any], parameters: dict[str, str]) -> str:
    """The template with `parameters` as its defaults (cfn-lint checks what a stack of them gets)."""
    changed = json.loads(json.dumps(template))
    for name, value in parameters.items():
        changed["Parameters"][name]["Default"] = value
    return json.dumps(changed)


@pytest.mark.parametrize("parameters", [SINGLE, LOCAL_PRIMARY, MREC_PRIMARY, MRSC_PRIMARY, REPLICA, LINKED])
def test_every_role_and_mode_is_cfn_lint_clean(packaged, parameters):
    errors = [
        f"{m.rule.id} {m.path} {m.message}"
        for m in lint(with_defaults(packaged, parameters), config=ManualArgs(regions=["us-east-1"]))
        if m.rule.severity == "error"
    ]
    assert not errors, errors


def types(resources: dict[str, Any], kind: str) -> set[str]:
    return {k for k, v in resources.items() if v["Type"] == kind}


def test_a_single_region_stack_has_plain_tables_and_no_peer_statement(packaged):
    stack = stack_of(packaged, SINGLE)
    assert {"EventsTable", "PositionsTable"} <= types(stack, "AWS::DynamoDB::Table")
    assert not types(stack, "AWS::DynamoDB::GlobalTable")
    assert stack["EventsTable"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert "ReplicationConfiguration" not in stack["ArchiveBucket"]["Properties"]
    assert "ArchiveReplicationRole" not in stack
    api = json.dumps(stack["APIHandlerRole"])
    assert "${ReplicaRegion" not in api


def test_the_local_primary_keeps_plain_tables_with_the_stream_replicas_need(packaged):
    stack = stack_of(packaged, LOCAL_PRIMARY)
    assert stack["EventsTable"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert stack["PositionsTable"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_the_global_primary_creates_global_tables_with_a_replica_per_region(packaged):
    stack = stack_of(packaged, MREC_PRIMARY)
    assert types(stack, "AWS::DynamoDB::GlobalTable") == {"EventsGlobalTable", "PositionsGlobalTable"}
    assert "EventsTable" not in stack and "PositionsTable" not in stack
    events = stack["EventsGlobalTable"]["Properties"]
    assert events["TableName"] == {"Fn::Sub": "${AWS::StackName}-events"}
    assert events["MultiRegionConsistency"] == "EVENTUAL"
    assert "GlobalTableWitnesses" not in events
    assert events["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert [r["Region"] for r in events["Replicas"]] == [
        {"Ref": "AWS::Region"},
        {"Ref": "ReplicaRegion1"},
        {"Ref": "ReplicaRegion2"},
    ]
    assert all(r["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] for r in events["Replicas"])
    assert events["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    assert events["TimeToLiveSpecification"]["Enabled"] is True
    for consumer in ("ViewFollower", "Digester"):
        mapping = stack[consumer]["Properties"]["Events"][f"{consumer}DynamodbEventSource"]["Properties"]
        assert mapping["Stream"] == {"Fn::GetAtt": ["EventsGlobalTable", "StreamArn"]}
    env = stack["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert env["PACSFLOW_EVENTS_TABLE"] == {"Ref": "EventsGlobalTable"}
    assert env["PACSFLOW_PEERS"] == {"Ref": "Peers"} and env["PACSFLOW_TENANTS"] == {"Ref": "Tenants"}
    assert env["PACSFLOW_PEER_ARCHIVE_BUCKETS"] == {"Ref": "PeerArchiveBuckets"}


@pytest.mark.parametrize("parameters", [MREC_PRIMARY, MRSC_PRIMARY])
def test_no_global_table_mixes_a_customer_managed_key_with_aws_managed_keys(packaged, parameters):
    """AWS::DynamoDB::GlobalTable SSESpecification: "You cannot mix AWS managed and customer
    managed KMS keys"; a replica without KMSMasterKeyId gets its Region's alias/aws/dynamodb."""
    stack = stack_of(packaged, parameters)
    for name in ("EventsGlobalTable", "PositionsGlobalTable"):
        replicas = stack[name]["Properties"]["Replicas"]
        keyed = ["KMSMasterKeyId" in r.get("SSESpecification", {}) for r in replicas]
        assert all(keyed) or not any(keyed), (name, replicas)


def test_mrsc_is_strong_with_its_witness_and_no_time_to_live(packaged):
    events = stack_of(packaged, MRSC_PRIMARY)["EventsGlobalTable"]["Properties"]
    assert events["MultiRegionConsistency"] == "STRONG"
    assert events["GlobalTableWitnesses"] == [{"Region": {"Ref": "WitnessRegion"}}]
    assert len(events["Replicas"]) == 2
    assert "TimeToLiveSpecification" not in events


def test_a_replica_stack_creates_no_table_and_follows_its_replicas_stream_by_parameter(packaged):
    stack = stack_of(packaged, REPLICA)
    assert not {"EventsTable", "PositionsTable", "EventsGlobalTable", "PositionsGlobalTable"} & set(stack)
    assert "TransactionsTable" in stack  # the view is per Region
    for consumer in ("ViewFollower", "Digester"):
        mapping = stack[consumer]["Properties"]["Events"][f"{consumer}DynamodbEventSource"]["Properties"]
        assert mapping["Stream"] == {"Ref": "EventsStreamArn"}
    env = stack["Incoming"]["Properties"]["Environment"]["Variables"]
    assert env["PACSFLOW_EVENTS_TABLE"] == {"Fn::Sub": "${AWS::StackName}-events"}


def test_peer_reads_are_the_api_functions_only_and_only_with_peers(packaged):
    stack = stack_of(packaged, MREC_PRIMARY)
    peer_table = "arn:${AWS::Partition}:dynamodb:${ReplicaRegion1}:${AWS::AccountId}:table/${AWS::StackName}-events"
    peer_archive = "arn:${AWS::Partition}:s3:::${AWS::StackName}-archive-${AWS::AccountId}-${ReplicaRegion1}"
    peer_objects = f"{peer_archive}/inbound/*"
    for function in (
        "APIHandler",
        "Incoming",
        "Processing",
        "Releasing",
        "ViewFollower",
        "Digester",
        "Deadlines",
        "SweepTimeouts",
    ):
        statements = stack[function + "Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        reads = [
            s
            for s in statements
            if {"Fn::Sub": peer_table} in s["Resource"] or {"Fn::Sub": peer_objects} in s["Resource"]
        ]
        if function == "APIHandler":
            assert [s["Action"] for s in reads] == [["dynamodb:GetItem"], ["s3:GetObject"]]
            # the inbound message of a strong /inbox, the camt.029 / pacs.004 of a strong cancel
            assert reads[1]["Resource"] == [{"Fn::Sub": f"{peer_archive}/{k}/*"} for k in ("inbound", "outbound")]
        else:
            assert not reads, function


def test_archive_replication_once_peer_buckets_are_given(packaged):
    assert "ReplicationConfiguration" not in stack_of(packaged, MREC_PRIMARY)["ArchiveBucket"]["Properties"]
    stack = stack_of(packaged, LINKED)
    config = stack["ArchiveBucket"]["Properties"]["ReplicationConfiguration"]
    assert config["Role"] == {"Fn::GetAtt": ["ArchiveReplicationRole", "Arn"]}
    assert [r["Priority"] for r in config["Rules"]] == [1, 2]
    assert all(r["SourceSelectionCriteria"]["SseKmsEncryptedObjects"]["Status"] == "Enabled" for r in config["Rules"])
    assert stack["ArchiveBucket"]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    role = stack["ArchiveReplicationRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}
    actions = {a for s in role["Policies"][0]["PolicyDocument"]["Statement"] for a in s["Action"]}
    assert not any("*" in a for a in actions)
    assert {"s3:ReplicateObject", "s3:GetObjectVersionForReplication"} <= actions


def test_deploy_regions_creates_the_global_table_first_then_the_replicas_then_links_them():
    calls: list[tuple[str, dict[str, str]]] = []

    def deploy(region: str, stack: str, parameters: dict[str, str]) -> dict[str, Any]:
        assert stack == "pacsflow-global"
        calls.append((region, parameters))
        secret = f"arn:aws:secretsmanager:{region}:123456789012:secret:cipher-AbCdEf"
        return {
            "region": region,
            "account": "123456789012",
            "api_url": f"https://{region}.example/api",
            "outputs": {"EventCipherSecretArn": secret},
        }

    regions = deploy_aws_regions(
        ["us-east-1", "eu-west-1"], deploy=deploy, stream=lambda region, table: f"stream:{region}:{table}"
    )
    assert [r["region"] for r in regions] == ["us-east-1", "eu-west-1"]
    assert [c[0] for c in calls] == ["us-east-1", "eu-west-1", "us-east-1", "eu-west-1"]
    first, replica, link_first, link_replica = (c[1] for c in calls)
    assert first["TableMode"] == "global" and first["RegionRole"] == "primary" and first["Consistency"] == "mrec"
    assert first["ReplicaRegion1"] == "eu-west-1" and "Peers" not in first
    assert (
        replica["RegionRole"] == "replica" and replica["EventsStreamArn"] == "stream:eu-west-1:pacsflow-global-events"
    )
    # the replica stack decrypts with its Region's replica of the primary's cipher secret
    assert replica["EventCipherSecretArn"] == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cipher-AbCdEf"
    assert json.loads(link_first["Peers"]) == {"eu-west-1": "https://eu-west-1.example/api"}
    assert json.loads(link_replica["PeerArchiveBuckets"]) == {
        "us-east-1": "pacsflow-global-archive-123456789012-us-east-1"
    }


@pytest.mark.parametrize(
    ("regions", "consistency", "witness"),
    [(["a", "b"], "mrsc", ""), (["a", "b", "c"], "mrsc", "d"), (["a", "b"], "mrec", "c")],
)
def test_deploy_regions_refuses_what_a_global_table_cannot_be(regions, consistency, witness):
    with pytest.raises(ValueError):
        deploy_aws_regions(regions, consistency, witness, deploy=None, stream=None)


def test_one_cipher_key_for_the_region_set(packaged):
    """A Region that takes over decrypts the failed Region's events: the primary's secret is
    replicated to every peer Region, and a replica stack creates none but reads its copy."""
    primary = stack_of(packaged, MREC_PRIMARY)
    replicas = primary["EventCipherSecret"]["Properties"]["ReplicaRegions"]
    assert replicas == [{"Region": {"Ref": "ReplicaRegion1"}}, {"Region": {"Ref": "ReplicaRegion2"}}]
    assert "ReplicaRegions" not in stack_of(packaged, SINGLE)["EventCipherSecret"]["Properties"]
    replica = stack_of(packaged, REPLICA)
    assert "EventCipherSecret" not in replica
    env = replica["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert env["PACSFLOW_CIPHER_SECRET_ARN"] == {"Ref": "EventCipherSecretArn"}
    assert "EventCipherSecretArn" in packaged["Parameters"]


def test_the_controller_decides_by_itself_only_where_a_cut_off_region_cannot_write(packaged):
    """MRSC: automatic failover; MREC: proposed to an operator, unless the stack opts in."""
    env = packaged["Resources"]["FailoverController"]["Properties"]["Environment"]["Variables"]
    automatic = env["PACSFLOW_AUTOMATIC_FAILOVER"]
    assert choose(automatic, evaluate_conditions(MRSC_PRIMARY)) == "true"
    assert choose(automatic, evaluate_conditions(MREC_PRIMARY)) == {"Ref": "AutomaticFailover"}
    assert packaged["Parameters"]["AutomaticFailover"]["Default"] == "false"
