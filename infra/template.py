"""The resources template merged into `chalice package` (DESIGN.md §6).

One stack per Region (and one for `local` on MiniStack) holds everything the app uses: the
event store and view tables, the FIFO pipeline queues with their dead-letter queues, the
release topic, the archive bucket, and one least-privilege IAM role per function. The same
merged template is deployed locally and to AWS. `python -m infra.template` prints it.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib import observability
from chalicelib.projections.records import PENDING_ATTRIBUTE, PENDING_INDEX

STAGES = ("incoming", "processing", "releasing")
# Receives of a step message before its queue dead-letters it (the functions count the last one).
MAX_RECEIVE_COUNT = 5
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)  # what CloudWatch Logs accepts
KEY = "DataKey"  # the stack's customer-managed KMS key (see hardening())
FUNCTIONS = (
    "APIHandler",
    "Incoming",
    "Processing",
    "Releasing",
    "ViewFollower",
    "Digester",
    "Deadlines",
    "SweepTimeouts",
    "FailoverController",
)
DECODES_NO_STATE = frozenset({"Digester"})  # its role has no access to the cipher secret


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def arn(resource: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [resource, "Arn"]}


def if_(condition: str, then: Any, otherwise: Any) -> dict[str, Any]:
    return {"Fn::If": [condition, then, otherwise]}


NO_VALUE = ref("AWS::NoValue")


def queue_name(step: str) -> str:
    return step.capitalize() + "Queue"


def _private_bucket(properties: dict[str, Any]) -> dict[str, Any]:
    """An S3 bucket with `properties`, and what every bucket of the stack has: encryption with
    the stack's key (Bucket Key on: few KMS calls), public access blocked, the bucket owner
    owning every object (no ACLs)."""
    return {
        "Type": "AWS::S3::Bucket",
        "Properties": {
            **properties,
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": arn(KEY)},
                        "BucketKeyEnabled": True,
                    }
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        },
    }


def _tls_only(bucket: str) -> dict[str, Any]:
    """The policy of the bucket with logical id `bucket`: any request without TLS is denied."""
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": ref(bucket),
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [arn(bucket), sub(f"${{{bucket}.Arn}}/*")],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            },
        },
    }


def _stateful(resource: dict[str, Any]) -> dict[str, Any]:
    """Data outlives stack mistakes: never delete or replace a table or bucket with data in it."""
    return {**resource, "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}


def table(
    name: str, keys: dict[str, str], attributes: dict[str, str] | None = None, **properties: Any
) -> dict[str, Any]:
    """A pay-per-request DynamoDB table, encrypted, with point-in-time recovery, kept on delete.
    `keys`: HASH (and RANGE) attribute -> type; `attributes`: other indexed attributes."""
    return _stateful(
        {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": sub(f"${{AWS::StackName}}-{name}"),
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    {"AttributeName": a, "AttributeType": t} for a, t in {**keys, **(attributes or {})}.items()
                ],
                "KeySchema": [
                    {"AttributeName": a, "KeyType": k} for a, k in zip(keys, ("HASH", "RANGE"), strict=False)
                ],
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": ref(KEY)},
                **properties,
            },
        }
    )


# Days a snapshot stays in the history (snapshots/history/); the `latest` ones stay.
SNAPSHOT_HISTORY_DAYS = 30
# The view's lookup attributes, each with its index `by_<attribute>` (chalicelib/adapters/dynamodb.py).
VIEW_LOOKUP_KEYS = ("owner_uetr", "owner_end_to_end_id")
EVENT_KEYS = {"pk": "S", "sk": "N"}  # aggregate id, version (chalicelib/eventstore/dynamodb.py)


def storage() -> dict[str, Any]:
    resources = {
        "EventsTable": table(
            "events",
            EVENT_KEYS,
            {"log": "S", "nid": "N"},
            # Sparse: only events recorded with a notification log (NOTIFICATION_LOG=y).
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "notifications",
                    "KeySchema": [
                        {"AttributeName": "log", "KeyType": "HASH"},
                        {"AttributeName": "nid", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            # New images: the view follower folds the events the records carry, the Digester
            # takes their hashes; a table that gets replicas needs new and old images (global
            # tables version 2019.11.21).
            StreamSpecification={"StreamViewType": if_("Replicated", "NEW_AND_OLD_IMAGES", "NEW_IMAGE")},
            # duplicate-detection claims ($claim#...) expire after their window
            TimeToLiveSpecification={"AttributeName": "expires_at", "Enabled": True},
        ),
        # Liquidity positions: their own event store, no stream (the view does not follow them).
        "PositionsTable": table(
            "positions",
            EVENT_KEYS,
            StreamSpecification=if_("Replicated", {"StreamViewType": "NEW_AND_OLD_IMAGES"}, NO_VALUE),
        ),
        # Lookups by owner and identifier (chalicelib/adapters/dynamodb.py): a client's query
        # reads only its own rows. Records written before these attributes existed are
        # indexed by `rebuild --apply` (the migration).
        "TransactionsTable": table(
            "transactions",
            {"transaction_id": "S"},
            {**dict.fromkeys(VIEW_LOOKUP_KEYS, "S"), PENDING_ATTRIBUTE: "S", "created_at": "S"},
            GlobalSecondaryIndexes=[
                *(
                    {
                        "IndexName": f"by_{key}",
                        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                    }
                    for key in VIEW_LOOKUP_KEYS
                ),
                # the sweep's: the payments not yet released, by shard and creation time (sparse:
                # a record has `pending` until its release; chalicelib/adapters/pending.py)
                {
                    "IndexName": PENDING_INDEX,
                    "KeySchema": [
                        {"AttributeName": PENDING_ATTRIBUTE, "KeyType": "HASH"},
                        {"AttributeName": "created_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
            ],
        ),
        "ArchiveBucket": _stateful(
            _private_bucket(
                {
                    # Archived messages are evidence: versions cannot be deleted or overwritten
                    # during retention (MiniStack accepts Object Lock but does not enforce it).
                    "ObjectLockEnabled": True,
                    "ObjectLockConfiguration": {
                        "ObjectLockEnabled": "Enabled",
                        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": ref("ArchiveRetentionDays")}},
                    },
                    "BucketName": sub("${AWS::StackName}-archive-${AWS::AccountId}-${AWS::Region}"),
                    "VersioningConfiguration": {"Status": "Enabled"},
                }
            )
        ),
        # Digests of the event streams (chalicelib/eventstore/digests.py): COMPLIANCE mode, so
        # no one, the root account included, deletes or overwrites one during its retention.
        "DigestsBucket": _stateful(
            _private_bucket(
                {
                    "ObjectLockEnabled": True,
                    "ObjectLockConfiguration": {
                        "ObjectLockEnabled": "Enabled",
                        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": ref("DigestRetentionDays")}},
                    },
                    "BucketName": sub("${AWS::StackName}-digests-${AWS::AccountId}-${AWS::Region}"),
                    "VersioningConfiguration": {"Status": "Enabled"},
                }
            )
        ),
        # Snapshots of hot aggregates, the liquidity positions (chalicelib/eventstore/s3snapshots.py):
        # derived data (the events are the record), so no versioning and no Object Lock; old
        # history expires, each aggregate's `latest` copy never does.
        "SnapshotsBucket": _stateful(
            _private_bucket(
                {
                    "LifecycleConfiguration": {
                        "Rules": [
                            {
                                "Id": "expire-snapshot-history",
                                "Status": "Enabled",
                                "Prefix": "snapshots/history/",
                                "ExpirationInDays": SNAPSHOT_HISTORY_DAYS,
                            }
                        ]
                    },
                }
            )
        ),
        "SnapshotsBucketPolicy": _tls_only("SnapshotsBucket"),
        "ArchiveBucketPolicy": _tls_only("ArchiveBucket"),
        # One key for the whole Region set: every Region decrypts the events it takes over. The
        # primary stack creates the secret, with a Secrets Manager replica in each peer Region
        # (same name and ARN suffix; the peer's own key does not exist yet, so a replica is
        # encrypted with aws/secretsmanager of its Region); a replica stack uses its Region's copy.
        "EventCipherSecret": _stateful(
            {
                "Type": "AWS::SecretsManager::Secret",
                "Condition": "CreatesCipherSecret",
                "Properties": {
                    "Description": "key material of the AES-GCM cipher of event state",
                    "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True},
                    "KmsKeyId": ref(KEY),
                    "ReplicaRegions": if_(
                        "Replicated",
                        [if_(f"Has{slot}", {"Region": ref(slot)}, NO_VALUE) for slot in PEER_SLOTS],
                        NO_VALUE,
                    ),
                },
            }
        ),
    }
    for logical in REPLICATED:
        resources[logical]["Condition"] = "CreatesPlainTables"
        resources[logical.replace("Table", "GlobalTable")] = global_table(resources[logical])
    return resources


# -- several Regions (docs/multi-region.md): the events and positions tables replicated ------

# Logical ids of the replicated tables -> their name suffix (`${AWS::StackName}-<suffix>` in
# every Region: the stacks of a Region set share one stack name, so the replicas share a name).
REPLICATED = {"EventsTable": "events", "PositionsTable": "positions"}
PEER_SLOTS = ("ReplicaRegion1", "ReplicaRegion2")  # MRSC: three Regions at most; MREC: two peers here


def _global_kind(logical: str) -> str:
    return logical.replace("Table", "GlobalTable")


def table_name(logical: str) -> Any:
    """The replicated table's name, whichever stack role and table mode created it."""
    return if_(
        "CreatesPlainTables",
        ref(logical),
        if_("CreatesGlobalTables", ref(_global_kind(logical)), sub(f"${{AWS::StackName}}-{REPLICATED[logical]}")),
    )


def table_arn(logical: str, region: str = "${AWS::Region}") -> Any:
    named = sub(
        f"arn:${{AWS::Partition}}:dynamodb:{region}:${{AWS::AccountId}}:table/${{AWS::StackName}}-{REPLICATED[logical]}"
    )
    if region != "${AWS::Region}":
        return named
    return if_("CreatesPlainTables", arn(logical), if_("CreatesGlobalTables", arn(_global_kind(logical)), named))


def cipher_secret() -> Any:
    """The event cipher's secret: the stack's own, or (replica role) this Region's replica of
    the primary's, whose ARN deploy.py passed as EventCipherSecretArn."""
    return if_("CreatesCipherSecret", ref("EventCipherSecret"), ref("EventCipherSecretArn"))


def events_stream_arn() -> Any:
    """The local replica's stream: the table's own, or (replica role) what deploy.py read with
    DescribeTable in this Region and passed as EventsStreamArn."""
    return if_(
        "CreatesPlainTables",
        {"Fn::GetAtt": ["EventsTable", "StreamArn"]},
        if_("CreatesGlobalTables", {"Fn::GetAtt": ["EventsGlobalTable", "StreamArn"]}, ref("EventsStreamArn")),
    )


def _replica(region: Any) -> dict[str, Any]:
    return {"Region": region, "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}


def global_table(plain: dict[str, Any]) -> dict[str, Any]:
    """`AWS::DynamoDB::GlobalTable` of the same schema as the plain table `plain`, created by
    the primary stack (TableMode global): one replica per Region of the set, point-in-time
    recovery on each; MultiRegionConsistency from the Consistency parameter. Every replica is
    encrypted with DynamoDB's key of its Region (alias/aws/dynamodb): CloudFormation refuses a
    global table that mixes AWS managed and customer managed keys, and a peer cannot have the
    stack's key (a key must be in the replica's Region, and the peer's stack, whose key it would
    be, is deployed after this table: docs/multi-region.md §2)."""
    properties = dict(plain["Properties"])
    for dropped in ("PointInTimeRecoverySpecification", "SSESpecification", "StreamSpecification"):
        properties.pop(dropped)
    replicas = [_replica(ref("AWS::Region"))] + [
        if_(f"Has{slot}", _replica(ref(slot)), NO_VALUE) for slot in PEER_SLOTS
    ]
    ttl = properties.pop("TimeToLiveSpecification", None)
    return _stateful(
        {
            "Type": "AWS::DynamoDB::GlobalTable",
            "Condition": "CreatesGlobalTables",
            "Properties": {
                **properties,
                # no KMSMasterKeyId anywhere: each replica on its Region's alias/aws/dynamodb
                "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS"},
                # MREC with more than one replica requires new and old images
                "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
                "MultiRegionConsistency": if_("IsStrong", "STRONG", "EVENTUAL"),
                "GlobalTableWitnesses": if_("HasWitness", [{"Region": ref("WitnessRegion")}], NO_VALUE),
                "Replicas": replicas,
                # MRSC tables take no time to live (docs/multi-region.md §2): claims then expire by
                # their expires_at attribute, which the code already checks
                **({"TimeToLiveSpecification": if_("IsStrong", NO_VALUE, ttl)} if ttl else {}),
            },
        }
    )


# the archive by its name, not by Ref: the bucket's replication configuration names the role
OWN_ARCHIVE = "arn:${AWS::Partition}:s3:::${AWS::StackName}-archive-${AWS::AccountId}-${AWS::Region}"


def archive_replication() -> dict[str, Any]:
    """S3 cross-Region replication of the archive to each peer's archive (same stack name,
    the peer's Region): versioned on both sides (they are), SSE-KMS objects re-encrypted with
    the peer's key, Object Lock retention replicated. Only once PeerArchiveBuckets is set: a
    destination bucket must exist when replication is configured (deploy.py's second pass)."""
    rules = [
        if_(
            f"Has{slot}",
            {
                "Id": sub(f"to-${{{slot}}}"),
                "Priority": n,
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "DeleteMarkerReplication": {"Status": "Disabled"},
                "SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}},
                "Destination": {
                    "Bucket": sub(
                        f"arn:${{AWS::Partition}}:s3:::${{AWS::StackName}}-archive-${{AWS::AccountId}}-${{{slot}}}"
                    ),
                    "EncryptionConfiguration": {
                        "ReplicaKmsKeyID": sub(
                            f"arn:${{AWS::Partition}}:kms:${{{slot}}}:${{AWS::AccountId}}:alias/${{AWS::StackName}}"
                        )
                    },
                },
            },
            NO_VALUE,
        )
        for n, slot in enumerate(PEER_SLOTS, start=1)
    ]
    peer_objects = [
        if_(
            f"Has{slot}",
            sub(f"arn:${{AWS::Partition}}:s3:::${{AWS::StackName}}-archive-${{AWS::AccountId}}-${{{slot}}}/*"),
            NO_VALUE,
        )
        for slot in PEER_SLOTS
    ]
    peer_keys = [
        if_(f"Has{slot}", sub(f"arn:${{AWS::Partition}}:kms:${{{slot}}}:${{AWS::AccountId}}:key/*"), NO_VALUE)
        for slot in PEER_SLOTS
    ]
    statements = [
        {
            "Effect": "Allow",
            "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
            "Resource": [sub(OWN_ARCHIVE)],
        },
        {
            "Effect": "Allow",
            "Action": [
                "s3:GetObjectVersionForReplication",
                "s3:GetObjectVersionAcl",
                "s3:GetObjectVersionTagging",
                "s3:GetObjectRetention",
                "s3:GetObjectLegalHold",
            ],
            "Resource": [sub(OWN_ARCHIVE + "/*")],
        },
        {
            "Effect": "Allow",
            "Action": ["s3:ReplicateObject", "s3:ReplicateTags", "s3:ObjectOwnerOverrideToBucketOwner"],
            "Resource": peer_objects,
        },
        {
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": [arn(KEY)],
            "Condition": {"StringLike": {"kms:ViaService": sub("s3.${AWS::Region}.amazonaws.com")}},
        },
        {  # only the peer stack's own key (its alias), only through S3
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
            "Resource": peer_keys,
            "Condition": {
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": sub("alias/${AWS::StackName}")},
                "StringLike": {"kms:ViaService": "s3.*.amazonaws.com"},
            },
        },
    ]
    return {
        "ArchiveReplicationRole": {
            "Type": "AWS::IAM::Role",
            "Condition": "ReplicatesArchive",
            "Properties": {
                "AssumeRolePolicyDocument": assumed_by("s3.amazonaws.com"),
                "Policies": [
                    {
                        "PolicyName": "archive-replication",
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                    }
                ],
            },
        },
        "ArchiveBucket": {
            "Properties": {
                "ReplicationConfiguration": if_(
                    "ReplicatesArchive", {"Role": arn("ArchiveReplicationRole"), "Rules": rules}, NO_VALUE
                )
            }
        },
    }


def peer_reads() -> list[Any]:
    """The API function's reads of its peers (the X-Consistency strong check): the peers'
    replicas of the events table and their archives; nothing without peers."""
    statements = []
    for slot in PEER_SLOTS:
        statements += [
            if_(
                f"Has{slot}",
                {
                    "Effect": "Allow",
                    "Action": ["dynamodb:GetItem"],
                    "Resource": [table_arn("EventsTable", f"${{{slot}}}")],
                },
                NO_VALUE,
            ),
            if_(
                f"Has{slot}",
                {
                    "Effect": "Allow",
                    # HeadObject (X-Consistency) of a replicated inbound message, and of a cancel's
                    # camt.029 / pacs.004
                    "Action": ["s3:GetObject"],
                    "Resource": [
                        sub(
                            f"arn:${{AWS::Partition}}:s3:::${{AWS::StackName}}-archive-${{AWS::AccountId}}-${{{slot}}}/{kind}/*"
                        )
                        for kind in ("inbound", "outbound")
                    ],
                },
                NO_VALUE,
            ),
        ]
    return statements


def region_parameters() -> dict[str, Any]:
    return {
        "TableMode": {
            "Type": "String",
            "Default": "table",
            "AllowedValues": ["table", "global"],
            "Description": "table: AWS::DynamoDB::Table (one Region; locally, replicas are added with UpdateTable); "
            "global: AWS::DynamoDB::GlobalTable with a replica in each ReplicaRegion",
        },
        "RegionRole": {
            "Type": "String",
            "Default": "primary",
            "AllowedValues": ["primary", "replica"],
            "Description": "primary creates the replicated tables; a replica's stack uses its Region's replica by name",
        },
        "Consistency": {
            "Type": "String",
            "Default": "mrec",
            "AllowedValues": ["mrec", "mrsc"],
            "Description": "global tables: multi-Region eventual (mrec) or strong (mrsc) consistency",
        },
        **{
            slot: {"Type": "String", "Default": "", "Description": "a peer Region of the Region set; empty: none"}
            for slot in PEER_SLOTS
        },
        "WitnessRegion": {"Type": "String", "Default": "", "Description": "mrsc with two Regions: the witness Region"},
        "EventCipherSecretArn": {
            "Type": "String",
            "Default": "",
            "Description": "replica role: this Region's replica of the primary's event cipher secret",
        },
        "EventsStreamArn": {
            "Type": "String",
            "Default": "",
            "Description": "replica role: the stream of this Region's replica of the events table (the view follows it)",
        },
        "AutomaticFailover": {
            "Type": "String",
            "Default": "false",
            "AllowedValues": ["true", "false"],
            "Description": "mrec: whether the failover controller takes a failed peer over itself (a partitioned "
            "peer still writes under mrec: see docs/multi-region.md); mrsc: always true",
        },
        "Peers": {"Type": "String", "Default": "{}", "Description": 'JSON {"<region>": "<API base URL>"} of the peers'},
        "Tenants": {"Type": "String", "Default": "{}", "Description": 'JSON {"<Cognito client id>": "<tenant>"}'},
        TENANT_AGENTS: {
            "Type": "String",
            "Default": "{}",
            "Description": 'JSON {"<tenant>": ["<BIC8 or BIC11>", ...]}: the instructing agents each tenant may '
            "act for; {} (local only, the TenantAgentsOutsideLocal rule) lets any tenant send as any bank",
        },
        "PeerArchiveBuckets": {
            "Type": "String",
            "Default": "{}",
            "Description": 'JSON {"<region>": "<archive bucket>"}; set (after every peer exists): archive replication on',
        },
    }


TENANT_AGENTS = "TenantAgents"


def rules() -> dict[str, Any]:
    """What CloudFormation refuses to create or update a stack with.

    TenantAgentsOutsideLocal: a stage other than `local` maps its tenants to the agents they
    may act for (PACSFLOW_TENANT_AGENTS). Unmapped, any tenant can send as any bank and take
    that bank's EndToEndIds first, so a deploy (or a redeploy that forgot the mapping, which
    would reset it to the default) fails rather than run open. Local development keeps `{}`.
    An early guard only: CloudFormation cannot parse JSON, so it compares the text and lets
    other spellings of an empty mapping ("{ }", "null") through; `make deploy`
    (deploy.tenant_agents_parameters) and the functions (Settings) parse it and refuse those."""
    unset = [{"Fn::Equals": [ref(TENANT_AGENTS), value]} for value in ("{}", "")]
    return {
        "TenantAgentsOutsideLocal": {
            "RuleCondition": {"Fn::Not": [{"Fn::Equals": [ref("Stage"), "local"]}]},
            "Assertions": [
                {
                    "Assert": {"Fn::Not": [{"Fn::Or": unset}]},
                    "AssertDescription": "TenantAgents (PACSFLOW_TENANT_AGENTS) must map every tenant to the BICs "
                    'it may act for, e.g. {"acme-bank": ["ACMEDEFFXXX"]}, on every stage but local',
                }
            ],
        }
    }


def region_conditions() -> dict[str, Any]:
    def equals(parameter: str, value: str) -> dict[str, Any]:
        return {"Fn::Equals": [ref(parameter), value]}

    return {
        "IsReplicaRole": equals("RegionRole", "replica"),
        "IsGlobalMode": equals("TableMode", "global"),
        "CreatesCipherSecret": {"Fn::Not": [{"Condition": "IsReplicaRole"}]},
        "IsStrong": equals("Consistency", "mrsc"),
        "CreatesPlainTables": {
            "Fn::And": [{"Fn::Not": [{"Condition": "IsReplicaRole"}]}, {"Fn::Not": [{"Condition": "IsGlobalMode"}]}]
        },
        "CreatesGlobalTables": {
            "Fn::And": [{"Fn::Not": [{"Condition": "IsReplicaRole"}]}, {"Condition": "IsGlobalMode"}]
        },
        **{f"Has{slot}": {"Fn::Not": [equals(slot, "")]} for slot in PEER_SLOTS},
        "Replicated": {"Fn::Or": [{"Condition": f"Has{slot}"} for slot in PEER_SLOTS]},
        "HasWitness": {"Fn::Not": [equals("WitnessRegion", "")]},
        "ReplicatesArchive": {
            "Fn::And": [{"Condition": "Replicated"}, {"Fn::Not": [equals("PeerArchiveBuckets", "{}")]}]
        },
    }


def evaluate_conditions(parameters: dict[str, str] | None = None) -> dict[str, bool]:
    """The template's conditions for `parameters` (defaults otherwise): what a stack of that
    role and mode creates (tests; infra/least_privilege.py resolves Fn::If with them)."""
    template = merge_template()
    values = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()} | (parameters or {})
    definitions = template["Conditions"]
    done: dict[str, bool] = {}

    def evaluate(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((op, arg),) = node.items()
            if op == "Ref":
                return values[arg]
            if op == "Condition":
                return condition(arg)
            if op == "Fn::Equals":
                return evaluate(arg[0]) == evaluate(arg[1])
            if op == "Fn::Not":
                return not evaluate(arg[0])
            if op == "Fn::And":
                return all(evaluate(a) for a in arg)
            if op == "Fn::Or":
                return any(evaluate(a) for a in arg)
        return node

    def condition(name: str) -> bool:
        if name not in done:
            done[name] = bool(evaluate(definitions[name]))
        return done[name]

    return {name: condition(name) for name in definitions}


def choose(node: Any, conditions: dict[str, bool]) -> Any:
    """`node` with each Fn::If replaced by its branch under `conditions`, AWS::NoValue dropped."""
    if isinstance(node, list):
        chosen = [choose(n, conditions) for n in node]
        return [c for c in chosen if c != NO_VALUE]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Fn::If"}:
        name, then, otherwise = node["Fn::If"]
        return choose(then if conditions[name] else otherwise, conditions)
    chosen_items = {k: choose(v, conditions) for k, v in node.items()}
    return {k: v for k, v in chosen_items.items() if v != NO_VALUE}


def messaging() -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for step in STAGES:
        name = queue_name(step)
        resources[name + "DLQ"] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub(f"${{AWS::StackName}}-{step}-dlq.fifo"),
                "FifoQueue": True,
                "MessageRetentionPeriod": 1209600,
                "KmsMasterKeyId": ref(KEY),
            },
        }
        resources[name] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub(f"${{AWS::StackName}}-{step}.fifo"),
                "FifoQueue": True,
                # Dedup by id (transaction + step), grouped per transaction: one payment's
                # steps stay in order, payments flow in parallel.
                "DeduplicationScope": "messageGroup",
                "FifoThroughputLimit": "perMessageGroupId",
                "VisibilityTimeout": ref("QueueVisibilityTimeout"),
                "KmsMasterKeyId": ref(KEY),
                "RedrivePolicy": {"deadLetterTargetArn": arn(name + "DLQ"), "maxReceiveCount": MAX_RECEIVE_COUNT},
            },
        }
    resources["ReleasedTopic"] = {
        "Type": "AWS::SNS::Topic",
        "Properties": {
            "TopicName": sub("${AWS::StackName}-released"),
            "KmsMasterKeyId": ref(KEY),
        },
    }
    return resources


def identity() -> dict[str, Any]:
    """The Region's OAuth2 server: a Cognito pool whose app clients use client credentials."""
    return {
        "UserPool": _stateful(
            {
                "Type": "AWS::Cognito::UserPool",
                "Properties": {"UserPoolName": sub("${AWS::StackName}-clients")},
            }
        ),
        "UserPoolDomain": {
            "Type": "AWS::Cognito::UserPoolDomain",
            "Properties": {"Domain": ref("AuthDomainPrefix"), "UserPoolId": ref("UserPool")},
        },
        "ResourceServer": {
            "Type": "AWS::Cognito::UserPoolResourceServer",
            "Properties": {
                "UserPoolId": ref("UserPool"),
                "Identifier": ref("ScopePrefix"),
                "Name": sub("${AWS::StackName} payments API"),
                "Scopes": [
                    {"ScopeName": "read", "ScopeDescription": "read transactions and their history"},
                    {"ScopeName": "write", "ScopeDescription": "issue transaction ids, submit messages, fetch reports"},
                    {
                        "ScopeName": "admin",
                        "ScopeDescription": "operators: redrive payments, fail Regions over and back",
                    },
                ],
            },
        },
    }


ISSUER = "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"  # GetAtt ProviderURL fails on MiniStack


def gateway_responses() -> dict[str, Any]:
    """Errors API Gateway answers itself (bad or missing token) in the app's JSON error shape."""
    body = '{"error_code": "%s", "message": $context.error.messageString, "request_id": "$context.requestId"}'
    return {
        kind: {
            "StatusCode": status,
            "ResponseTemplates": {"application/json": body % code},
            **({"ResponseParameters": {"Headers": {"WWW-Authenticate": "'Bearer'"}}} if status == "401" else {}),
        }
        for kind, status, code in (("UNAUTHORIZED", "401", "UNAUTHORIZED"), ("ACCESS_DENIED", "403", "FORBIDDEN"))
    }


def route_security() -> dict[str, Any]:
    """Each protected method's `security`, with the scopes app.py gives its authorizer, in
    the stack's ScopePrefix (a stage parameter, like the resource server's identifier): on a
    Cognito-authorized method with no scopes API Gateway accepts ID tokens only, so every
    client-credentials (access token) call would be 401."""
    import app as application  # the routes `chalice package` turns into these paths

    prefix = application.SCOPE_PREFIX + "/"
    paths: dict[str, Any] = {}
    for path, methods in application.app.routes.items():
        for method, entry in methods.items():
            if entry.authorizer is None:
                continue
            scopes = entry.authorizer.scopes
            assert scopes and all(s.startswith(prefix) for s in scopes), (path, method, scopes)
            paths.setdefault(path, {})[method.lower()] = {
                "security": [{entry.authorizer.name: [sub("${ScopePrefix}/" + s.removeprefix(prefix)) for s in scopes]}]
            }
    return paths


def api_gateway() -> dict[str, Any]:
    """Bind the Chalice authorizer (app.py) to this stack's pool and scopes; shape the
    gateway's own errors."""
    return {
        "RestAPI": {
            "Properties": {
                "GatewayResponses": gateway_responses(),
                "DefinitionBody": {
                    "securityDefinitions": {
                        "ClientCredentials": {"x-amazon-apigateway-authorizer": {"providerARNs": [arn("UserPool")]}}
                    },
                    "paths": route_security(),
                },
            }
        }
    }


def environment() -> dict[str, Any]:
    return {
        "PACSFLOW_REGION_ID": ref("AWS::Region"),
        "PACSFLOW_STAGE": ref("Stage"),
        "PACSFLOW_EVENTS_TABLE": table_name("EventsTable"),
        "PACSFLOW_TRANSACTIONS_TABLE": ref("TransactionsTable"),
        "PACSFLOW_POSITIONS_TABLE": table_name("PositionsTable"),
        "PACSFLOW_PEERS": ref("Peers"),
        # MRSC: a Region cut off from the quorum cannot write, so the controller may decide;
        # MREC: it proposes and an operator decides, unless AutomaticFailover says otherwise
        "PACSFLOW_AUTOMATIC_FAILOVER": if_("IsStrong", "true", ref("AutomaticFailover")),
        "PACSFLOW_TENANTS": ref("Tenants"),
        "PACSFLOW_TENANT_AGENTS": ref(TENANT_AGENTS),
        "PACSFLOW_PEER_ARCHIVE_BUCKETS": ref("PeerArchiveBuckets"),
        "PACSFLOW_LIQUIDITY_LIMITS": ref("LiquidityLimits"),
        "PACSFLOW_VELOCITY_MAX": ref("VelocityMax"),
        "PACSFLOW_ARCHIVE_BUCKET": ref("ArchiveBucket"),
        "PACSFLOW_DIGESTS_BUCKET": ref("DigestsBucket"),
        "PACSFLOW_SNAPSHOTS_BUCKET": ref("SnapshotsBucket"),
        "PACSFLOW_POSITION_SNAPSHOT_INTERVAL": ref("PositionSnapshotInterval"),
        "PACSFLOW_INCOMING_QUEUE_URL": ref("IncomingQueue"),
        "PACSFLOW_PROCESSING_QUEUE_URL": ref("ProcessingQueue"),
        "PACSFLOW_RELEASING_QUEUE_URL": ref("ReleasingQueue"),
        "PACSFLOW_DEADLINES_QUEUE_URL": ref("DeadlinesQueue"),
        "PACSFLOW_SLA_SECONDS": ref("SlaSeconds"),
        "PACSFLOW_SLA_SECONDS_BY_TYPE": ref("SlaSecondsByType"),
        "PACSFLOW_RELEASED_TOPIC_ARN": ref("ReleasedTopic"),
        "PACSFLOW_FAULT_INJECTION": ref("FaultInjection"),
        "PACSFLOW_STEP_HANDOFF": ref("StepHandoff"),
        "PACSFLOW_CALL_LOG": ref("CallLog"),
        "PACSFLOW_USER_POOL_ID": ref("UserPool"),
        "PACSFLOW_CIPHER_SECRET_ARN": cipher_secret(),
        "PACSFLOW_TOKEN_ISSUER": sub(ISSUER),
        "PACSFLOW_SCOPE_PREFIX": ref("ScopePrefix"),
        "PACSFLOW_MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
        # Observability (chalicelib/observability.py): Powertools' JSON logs, EMF metrics, X-Ray
        "LOG_LEVEL": ref("LogLevel"),
        "POWERTOOLS_SERVICE_NAME": "pacsflow",
        "POWERTOOLS_METRICS_NAMESPACE": "pacsflow",
        "POWERTOOLS_TRACE_DISABLED": ref("TraceDisabled"),
    }


# -- least privilege: what each function may do, on which resources ---------------------


def _events_rw() -> dict[str, Any]:
    """Read and append events (GetItem, Query), claim identifiers (PutItem, GetItem). With the
    gap-free notification log (NOTIFICATION_LOG=y) a commit is a TransactWriteItems that also
    moves the counter item: AWS authorises each of its items by its own action, so UpdateItem
    (tests/unit/test_least_privilege.py records what that mode calls)."""
    return {
        "Effect": "Allow",
        "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
        "Resource": [table_arn("EventsTable")],
    }


def _positions_rw() -> dict[str, Any]:
    """Liquidity positions: reserve (Processing), free on cancellation or return (APIHandler,
    Releasing, Deadlines); their snapshots are in the snapshots bucket (_positions_snapshots)."""
    return {
        "Effect": "Allow",
        "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
        "Resource": [table_arn("PositionsTable")],
    }


def _positions_snapshots() -> list[dict[str, Any]]:
    """The positions' snapshots (chalicelib/eventstore/s3snapshots.py): a load reads the
    position's `latest` (GetObject), a snapshot writes its version and moves `latest`
    (HeadObject, authorised as GetObject, and PutObject). ListBucket: without it AWS answers
    a GetObject of a position with no snapshot yet 403 AccessDenied, not 404 NoSuchKey."""
    return [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [sub("${SnapshotsBucket.Arn}/snapshots/*")],
        },
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [arn("SnapshotsBucket")]},
    ]


def _archive(action: str, *kinds: str) -> dict[str, Any]:
    """`action` on the archive's objects of `kinds` (key prefixes: inbound, outbound; see
    chalicelib/adapters/s3.py `Archive.key_for`)."""
    return {
        "Effect": "Allow",
        "Action": [action],
        "Resource": [sub(f"${{ArchiveBucket.Arn}}/{kind}/*") for kind in kinds],
    }


def _send(*queues: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [arn(q) for q in queues]}


def _consume(queue: str) -> dict[str, Any]:
    """What Lambda's event source mapping needs to poll `queue` with the function's role
    (AWS Lambda developer guide, "Execution role permissions" for SQS)."""
    return {
        "Effect": "Allow",
        "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"],
        "Resource": [arn(queue)],
    }


def permissions() -> dict[str, list[dict[str, Any]]]:
    """Each function's statements: exactly the calls its code makes (proven by
    tests/e2e/test_least_privilege.py, which evaluates every call of the e2e suite against
    these), plus what Lambda itself does with the role (event source polling, logs)."""
    view_table = arn("TransactionsTable")
    view_indexes = [sub(f"${{TransactionsTable.Arn}}/index/by_{key}") for key in VIEW_LOOKUP_KEYS]
    pending_index = sub(f"${{TransactionsTable.Arn}}/index/{PENDING_INDEX}")
    return {
        "APIHandler": [
            _events_rw(),
            _positions_rw(),  # a cancellation or return frees the payment's liquidity
            *_positions_snapshots(),
            {
                "Effect": "Allow",
                "Action": ["dynamodb:DescribeTable"],
                "Resource": [table_arn("EventsTable"), view_table],
            },
            {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": [view_table]},
            {"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": view_indexes},
            _archive("s3:PutObject", "inbound", "outbound"),  # messages in; answers to cancellations out
            _archive("s3:GetObject", "outbound"),  # reports at /outbox
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [arn("ArchiveBucket")]},
            _send("IncomingQueue", "ReleasingQueue"),  # a cancellation before release goes to releasing
            # operators (scope admin): a redrive sends any step; a failover lists the peer's
            # in-flight payments (the view's pending index) and reads their archived messages
            _send("ProcessingQueue"),
            {"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": [pending_index]},
            _archive("s3:GetObject", "inbound"),
            _send("DeadlinesQueue"),  # /uuid schedules the payment's SLA deadline
            {"Effect": "Allow", "Action": ["sqs:GetQueueAttributes"], "Resource": [arn(queue_name(s)) for s in STAGES]},
            *peer_reads(),
        ],
        "Incoming": [  # and, inline (chalicelib/pipeline/handoff.py), what processing and releasing do
            _events_rw(),
            _positions_rw(),
            *_positions_snapshots(),
            _archive("s3:GetObject", "inbound"),
            _archive("s3:PutObject", "outbound"),
            _consume("IncomingQueue"),
            _send("ProcessingQueue", "ReleasingQueue"),
            {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": [ref("ReleasedTopic")]},
        ],
        "Processing": [  # and, inline, what releasing does
            _events_rw(),
            _positions_rw(),
            *_positions_snapshots(),
            _archive("s3:PutObject", "outbound"),
            _consume("ProcessingQueue"),
            _send("ReleasingQueue"),
            {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": [ref("ReleasedTopic")]},
        ],
        "Releasing": [
            _events_rw(),
            _positions_rw(),  # releasing a cancelled payment frees its reservation
            *_positions_snapshots(),
            _archive("s3:PutObject", "outbound"),  # the status report
            _consume("ReleasingQueue"),
            {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": [ref("ReleasedTopic")]},
        ],
        "Deadlines": [  # chalicelib/pipeline/timeouts.py: time out, re-wait if early
            _events_rw(),
            _positions_rw(),  # a return's check gives its liquidity back (cancel.py MendReturn)
            *_positions_snapshots(),
            _consume("DeadlinesQueue"),
            _send("DeadlinesQueue", "ReleasingQueue"),
        ],
        "SweepTimeouts": [  # the same, for what the view's pending index lists as overdue
            _events_rw(),
            {"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": [pending_index]},
            {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": [view_table]},
            _send("ReleasingQueue"),
        ],
        "FailoverController": [  # chalicelib/pipeline/failover.py: heartbeat, probes, takeover
            _events_rw(),  # Region leases (UpdateItem) and decisions, the payments taken over
            # the payments in flight: the view's pending index, then each one's record
            {"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": [pending_index]},
            {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": [view_table]},
            _archive("s3:GetObject", "inbound"),
            # HeadObject of a message that is missing answers 404 only with ListBucket (else 403)
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [arn("ArchiveBucket")]},
            _send("IncomingQueue", "ProcessingQueue", "ReleasingQueue"),
        ],
        "ViewFollower": [
            # the events of a transaction the stream's images do not suffice for
            {"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": [table_arn("EventsTable")]},
            # records (PutItem, version-guarded) and later transactions' index items (BatchWriteItem)
            {"Effect": "Allow", "Action": ["dynamodb:BatchWriteItem", "dynamodb:PutItem"], "Resource": [view_table]},
            _read_events_stream(),
        ],
        "Digester": [
            # the digests it writes (chalicelib/eventstore/digests.py); no one else may
            {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [sub("${DigestsBucket.Arn}/digests/*")]},
            _read_events_stream(),
        ],
    }


def _read_events_stream() -> dict[str, Any]:
    """What the Lambda service's poller does with a stream consumer's role."""
    return {
        "Effect": "Allow",
        "Action": [
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
        ],
        "Resource": [events_stream_arn()],
    }


def assumed_by(service: str) -> dict[str, Any]:
    """The trust policy of a role that `service` assumes."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def roles() -> dict[str, Any]:
    resources = {}
    for function, statements in permissions().items():
        # every function but the Digester (hashes only) reads or writes event state: the cipher key
        secret = (
            []
            if function in DECODES_NO_STATE
            else [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [cipher_secret()]}]
        )
        statements = [*statements, *secret, *added_statements(function)]
        logs = {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [
                sub(
                    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/${AWS::StackName}-"
                    + function
                    + "-*"
                )
            ],
        }
        resources[function + "Role"] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": assumed_by("lambda.amazonaws.com"),
                "Policies": [
                    {
                        "PolicyName": f"{function}-least-privilege",
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": [logs, *statements]},
                    }
                ],
            },
        }
    return resources


# Records per Digester batch (DynamoDB streams allow up to 10,000; a batch's event must
# also fit Lambda's 6 MB payload, and 1000 event items are well inside it).
DIGEST_BATCH_SIZE = 1000


def functions() -> dict[str, Any]:
    """Bind each chalice-generated function to its role, the environment and its event source."""
    bound: dict[str, Any] = {}
    for function in FUNCTIONS:
        bound[function] = {"Properties": {"Role": arn(function + "Role"), "Environment": {"Variables": environment()}}}
    for step in STAGES:
        function = step.capitalize()
        bound[function]["Properties"]["Events"] = {
            f"{function}SqsEventSource": {
                "Properties": {
                    "Queue": arn(queue_name(step)),
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                }
            }
        }
    bound["ViewFollower"]["Properties"]["Events"] = {
        "ViewFollowerDynamodbEventSource": {
            "Properties": {
                "Stream": events_stream_arn(),
                # a payment's events come within a second: one refresh (one view write) for several
                "MaximumBatchingWindowInSeconds": 1,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "BisectBatchOnFunctionError": True,
            }
        }
    }
    bound["Digester"]["Properties"]["Events"] = {
        "DigesterDynamodbEventSource": {
            "Properties": {
                "Stream": events_stream_arn(),
                # one digest (one PutObject) for every payment of the window
                "BatchSize": DIGEST_BATCH_SIZE,
                "MaximumBatchingWindowInSeconds": ref("DigestWindowSeconds"),
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "BisectBatchOnFunctionError": True,
            }
        }
    }
    return bound


# -- what an operator expects on AWS (MiniStack accepts and ignores it; checked offline) ---


def deep_merge(base: dict[str, Any], *layers: dict[str, Any]) -> dict[str, Any]:
    """`base` with each layer's keys laid over it (dicts merged, anything else replaced)."""
    merged = dict(base)
    for layer in layers:
        for key, value in layer.items():
            old = merged.get(key)
            merged[key] = deep_merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return merged


def added_statements(function: str) -> list[dict[str, Any]]:
    """Statements of the hardening, kept apart from the least-privilege ones of permissions():
    every function uses the stack's key (its queues, topic, secret and bucket are encrypted
    with it: sending and putting need GenerateDataKey, receiving and reading need Decrypt),
    and the view follower sends the batches it gives up on to its failure queue."""
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [arn(KEY)]}
    ]
    if function == "ViewFollower":
        statements.append(_send("ViewFailuresQueue"))
    return statements


def _key_policy() -> dict[str, Any]:
    """The account administers the key through IAM (each role is granted its use in
    added_statements); CloudWatch Logs encrypts this stack's log groups with it."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "LogsEncryptThisStacksLogGroups",
                "Effect": "Allow",
                "Principal": {"Service": sub("logs.${AWS::Region}.amazonaws.com")},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": [
                            sub(f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{group}")
                            for group in ("/aws/lambda/${AWS::StackName}-*", "/aws/apigateway/${AWS::StackName}-access")
                        ]
                    }
                },
            },
            {
                "Sid": "CloudWatchAlarmsPublishToTheAlarmTopic",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}},
            },
        ],
    }


def _log_group(name: dict[str, str]) -> dict[str, Any]:
    return {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": name, "RetentionInDays": ref("LogRetentionDays"), "KmsKeyId": arn(KEY)},
    }


ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "client": "$context.authorizer.claims.client_id",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "error": "$context.error.responseType",
        "xrayTraceId": "$context.xrayTraceId",
    }
)  # no path parameters or bodies: no payment data in the access log


# Reserved concurrency: Processing only. Its checks update each instructing agent's liquidity
# position and velocity counters, hot aggregates written with optimistic concurrency: beyond
# a few parallel invocations, more only multiplies version conflicts and retries on the same
# items. The queue's poller is capped at the same figure (ScalingConfig), so SQS never hands
# it more than it may run: throttled receives would count towards the dead-letter redrive.
# The other functions scale with their queues (one group per transaction) or the stream.


def hardening() -> dict[str, Any]:
    """Encryption under one customer-managed key, access logs and tracing on the API stage,
    X-Ray on every function, log retention, reserved concurrency where it protects a store."""
    resources: dict[str, Any] = {
        KEY: _stateful(  # data encrypted under it must stay readable: kept on delete
            {
                "Type": "AWS::KMS::Key",
                "Properties": {
                    "Description": sub("${AWS::StackName}: tables, queues, topic, secret, archive and logs"),
                    "EnableKeyRotation": True,
                    "KeyPolicy": _key_policy(),
                },
            }
        ),
        KEY + "Alias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {"AliasName": sub("alias/${AWS::StackName}"), "TargetKeyId": ref(KEY)},
        },
        "ApiAccessLogs": _log_group(sub("/aws/apigateway/${AWS::StackName}-access")),
        # API Gateway writes logs with the account's CloudWatch role (one per account and Region)
        "ApiGatewayLogsRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": assumed_by("apigateway.amazonaws.com"),
                "ManagedPolicyArns": [
                    sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
                ],
            },
        },
        "ApiGatewayAccount": {
            "Type": "AWS::ApiGateway::Account",
            "Properties": {"CloudWatchRoleArn": arn("ApiGatewayLogsRole")},
        },
        "RestAPI": {
            "DependsOn": ["ApiGatewayAccount"],
            "Properties": {
                "TracingEnabled": True,
                "AccessLogSetting": {"DestinationArn": arn("ApiAccessLogs"), "Format": ACCESS_LOG_FORMAT},
            },
        },
    }
    for function in FUNCTIONS:
        # Named as Lambda names it, so the function writes to it. Create it with the stack: on an
        # existing stack whose functions already ran, Lambda made the group and this create fails
        # ("already exists") until the old group is deleted or imported into the stack.
        resources[function + "LogGroup"] = _log_group(sub(f"/aws/lambda/${{{function}}}"))
        resources[function] = {"Properties": {"Tracing": "Active"}}
        # X-Ray's write actions take no resource: AWS's managed policy, not a wildcard of ours
        resources[function + "Role"] = {
            "Properties": {"ManagedPolicyArns": [sub("arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess")]}
        }
    resources["Processing"]["Properties"]["ReservedConcurrentExecutions"] = ref("ProcessingConcurrency")
    resources["Processing"]["Properties"]["Events"] = {
        "ProcessingSqsEventSource": {
            "Properties": {"ScalingConfig": {"MaximumConcurrency": ref("ProcessingConcurrency")}}
        }
    }
    return resources


# -- the view follower gives up on a poison batch, and says where (DESIGN.md §5) -----------

VIEW_MAX_RETRIES = 5
# Well inside the stream's 24 h retention: a batch given up on can still be read back from
# the shard (`python -m chalicelib.cli view-failures replay`) for about 23 hours.
VIEW_MAX_RECORD_AGE_S = 3600


def view_failures() -> dict[str, Any]:
    """Bounded retries, bisection, and an on-failure destination for the view's stream mapping
    (without them one poison record blocks its shard until the record expires, 24 h)."""
    return {
        "ViewFailuresQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub("${AWS::StackName}-view-failures"),  # standard: a FIFO queue cannot be one
                "MessageRetentionPeriod": 1209600,
                "KmsMasterKeyId": ref(KEY),
            },
        },
        "ViewFollower": {
            "Properties": {
                "Events": {
                    "ViewFollowerDynamodbEventSource": {
                        "Properties": {
                            "MaximumRetryAttempts": VIEW_MAX_RETRIES,
                            "MaximumRecordAgeInSeconds": VIEW_MAX_RECORD_AGE_S,
                            "BisectBatchOnFunctionError": True,
                            "DestinationConfig": {
                                "OnFailure": {"Type": "SQS", "Destination": arn("ViewFailuresQueue")}
                            },
                        }
                    }
                }
            }
        },
    }


# -- alarms and the payment-flow dashboard (issue 10 item 3; MiniStack accepts and ignores them) --

METRICS_NAMESPACE = observability.NAMESPACE  # the metrics chalicelib/observability.py emits
SERVICE = {"Name": "service", "Value": observability.SERVICE}  # the dimension Powertools adds to each metric
API_STAGE = "api"  # .chalice/config.json api_gateway_stage
ITERATOR_AGE_MS = 60_000  # the view is a minute behind the events: the follower is stuck or throttled
DIGESTER_ITERATOR_AGE_MS = 300_000 + ITERATOR_AGE_MS  # its batches wait up to DigestWindowSeconds (300 s at most)
ALARM_PERIOD_S = 60


def dead_letter_queues(resources: dict[str, Any]) -> list[str]:
    """Every queue of `resources` that holds what was given up on: a redrive target of
    another queue, an on-failure destination of an event source, or named as a DLQ."""
    targets: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("deadLetterTargetArn", "Destination"):
                value = node.get(key)
                if isinstance(value, dict) and "Fn::GetAtt" in value:
                    targets.add(value["Fn::GetAtt"][0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(resources)
    return sorted(
        name
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::SQS::Queue" and (name in targets or name.endswith("DLQ"))
    )


def _alarm(
    description: str, namespace: str, metric: str, dimensions: list[dict[str, Any]], **how: Any
) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": dimensions,
            "Period": ALARM_PERIOD_S,
            "EvaluationPeriods": 1,
            # no datapoint means nothing happened (no error, no message given up on): not a breach
            "TreatMissingData": "notBreaching",
            "AlarmActions": [ref("AlarmTopic")],
            "OKActions": [ref("AlarmTopic")],
            **how,
        },
    }


def alarms(resources: dict[str, Any]) -> dict[str, Any]:
    """What an operator is paged for: anything dead-lettered, a stuck view, a failing or
    throttled function, a payment past its SLA, a 5xx from the API (the API answers bad input
    with a 4xx, so any 5xx is a fault of ours)."""
    any_at_all = {"Statistic": "Sum", "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold"}
    found: dict[str, Any] = {}
    for queue in dead_letter_queues(resources):
        found[queue + "DepthAlarm"] = _alarm(
            f"{queue}: messages given up on are waiting (python -m chalicelib.cli dlq list)",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
            Statistic="Maximum",
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    for function in FUNCTIONS:
        for metric in ("Errors", "Throttles"):
            found[f"{function}{metric}Alarm"] = _alarm(
                f"{function}: {metric.lower()} (Lambda {metric} > 0)",
                "AWS/Lambda",
                metric,
                [{"Name": "FunctionName", "Value": ref(function)}],
                Statistic="Sum",
                Threshold=0,
                ComparisonOperator="GreaterThanThreshold",
            )
    behind = (
        ("ViewFollower", "the view follower is more than a minute behind the event stream", ITERATOR_AGE_MS),
        (
            "Digester",
            "the Digester is more than a minute behind the event stream beyond its longest window",
            DIGESTER_ITERATOR_AGE_MS,
        ),
    )
    for function, description, threshold in behind:
        found[f"{function}IteratorAgeAlarm"] = _alarm(
            description,
            "AWS/Lambda",
            "IteratorAge",
            [{"Name": "FunctionName", "Value": ref(function)}],
            Statistic="Maximum",
            Threshold=threshold,
            ComparisonOperator="GreaterThanThreshold",
            EvaluationPeriods=3,  # sustained for three minutes, not one slow batch
            DatapointsToAlarm=3,
        )
    found["PaymentsTimedOutAlarm"] = _alarm(
        "payments went past their SLA (python -m chalicelib.cli timeouts)",
        METRICS_NAMESPACE,
        observability.PAYMENTS_TIMED_OUT,
        [SERVICE],
        **any_at_all,
    )
    found["Api5xxAlarm"] = _alarm(
        "the API answered 5xx",
        "AWS/ApiGateway",
        "5XXError",
        [{"Name": "ApiName", "Value": _api_name()}, {"Name": "Stage", "Value": API_STAGE}],
        **any_at_all,
    )
    return found


def _api_name() -> str:
    """API Gateway names the REST API after its definition's title: Chalice's app name."""
    import app as application

    return str(application.app.app_name)


def _widget(title: str, metrics: list[list[Any]], x: int, y: int, **properties: Any) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 8,
        "height": 6,
        "properties": {
            "title": title,
            "region": "${AWS::Region}",
            "view": "timeSeries",
            "period": 60,
            "metrics": metrics,
            **properties,
        },
    }


def dashboard_body(resources: dict[str, Any]) -> str:
    """The payment flow left to right, top to bottom: the API, each step (latency, queue),
    the outcome (released by status, end-to-end latency, timeouts), what was given up on."""
    api = ["AWS/ApiGateway", "", "ApiName", _api_name(), "Stage", API_STAGE]
    ns = METRICS_NAMESPACE
    svc = [SERVICE["Name"], SERVICE["Value"]]

    def gateway(metric: str, **options: Any) -> list[Any]:
        return [api[0], metric, *api[2:], options]

    steps = list(STAGES)
    widgets = [
        {
            "type": "text",
            "x": 0,
            "y": 0,
            "width": 24,
            "height": 1,
            "properties": {"markdown": "# ${AWS::StackName}: /inbox → " + " → ".join(steps) + " → /outbox"},
        },
        _widget("API requests", [gateway("Count", stat="Sum")], 0, 1),
        _widget(
            "API latency (ms)",
            [gateway("Latency", stat="p50"), gateway("Latency", stat="p99"), gateway("IntegrationLatency", stat="p99")],
            8,
            1,
        ),
        _widget("API 4xx / 5xx", [gateway("4XXError", stat="Sum"), gateway("5XXError", stat="Sum")], 16, 1),
        _widget(
            "Step latency p99 (ms): " + " → ".join(steps),
            [[ns, observability.STEP_LATENCY, *svc, "Step", step, {"stat": "p99", "label": step}] for step in steps],
            0,
            7,
        ),
        _widget(
            "Queue depth: " + " → ".join(steps),
            [
                [
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    "QueueName",
                    "${" + queue_name(step) + ".QueueName}",
                    {"stat": "Maximum", "label": step},
                ]
                for step in steps
            ],
            8,
            7,
        ),
        _widget(
            "Oldest message per step queue (s)",
            [
                [
                    "AWS/SQS",
                    "ApproximateAgeOfOldestMessage",
                    "QueueName",
                    "${" + queue_name(step) + ".QueueName}",
                    {"stat": "Maximum", "label": step},
                ]
                for step in steps
            ],
            16,
            7,
        ),
        _widget(
            "Payments released by TxSts; rejections by reason",
            [
                [ns, observability.PAYMENTS, *svc, "TxSts", status, {"stat": "Sum", "label": status}]
                for status in ("ACSC", "RJCT", "CANC")
            ]
            + [
                [
                    {
                        "expression": f"SEARCH('{{{ns},Reason,service}} "
                        f"MetricName=\"{observability.PAYMENTS_REJECTED}\"', 'Sum', 60)",
                        "id": "rejected",
                        "label": "RJCT by reason",
                    }
                ]
            ],
            0,
            13,
            stat="Sum",
            view="timeSeries",
            stacked=True,
        ),
        _widget(
            "End-to-end latency (ms)",
            [
                [ns, observability.END_TO_END_LATENCY, *svc, {"stat": "p50", "label": "p50"}],
                [ns, observability.END_TO_END_LATENCY, *svc, {"stat": "p99", "label": "p99"}],
            ],
            8,
            13,
        ),
        _widget("Payments past SLA", [[ns, observability.PAYMENTS_TIMED_OUT, *svc, {"stat": "Sum"}]], 16, 13),
        _widget(
            "Dead-letter queue depth",
            [
                [
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    "QueueName",
                    "${" + queue + ".QueueName}",
                    {"stat": "Maximum", "label": queue},
                ]
                for queue in dead_letter_queues(resources)
            ]
            + [
                [
                    ns,
                    observability.MESSAGES_DEAD_LETTERED,
                    *svc,
                    "Step",
                    step,
                    {"stat": "Sum", "label": f"dead-lettered {step}"},
                ]
                for step in steps
            ],
            0,
            19,
        ),
        _widget(
            "Stream consumers' iterator age (ms)",
            [
                ["AWS/Lambda", "IteratorAge", "FunctionName", "${" + function + "}", {"stat": "Maximum"}]
                for function in ("ViewFollower", "Digester")
            ],
            8,
            19,
        ),
        _widget(
            "Function errors / throttles",
            [
                [
                    "AWS/Lambda",
                    metric,
                    "FunctionName",
                    "${" + function + "}",
                    {"stat": "Sum", "label": f"{function} {metric}"},
                ]
                for function in FUNCTIONS
                for metric in ("Errors", "Throttles")
            ],
            16,
            19,
        ),
    ]
    return json.dumps({"widgets": widgets}, ensure_ascii=False)


def monitoring(resources: dict[str, Any]) -> dict[str, Any]:
    """The alarm topic (encrypted with the stack's key; an optional e-mail subscription),
    the alarms, and one dashboard of the payment flow."""
    return {
        "AlarmTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": sub("${AWS::StackName}-alarms"), "KmsMasterKeyId": ref(KEY)},
        },
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlarmEmail",
            "Properties": {"TopicArn": ref("AlarmTopic"), "Protocol": "email", "Endpoint": ref("AlarmEmail")},
        },
        **alarms(resources),
        "PaymentsDashboard": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {
                "DashboardName": sub("${AWS::StackName}-payments"),
                "DashboardBody": sub(dashboard_body(resources)),
            },
        },
    }


def with_monitoring(resources: dict[str, Any]) -> dict[str, Any]:
    return {**resources, **monitoring(resources)}


# -- no payment stays stuck: SLA deadlines (chalicelib/pipeline/timeouts.py) -------------------


def deadlines() -> dict[str, Any]:
    """The deadlines queue: standard (FIFO queues take no per-message DelaySeconds), with its
    dead-letter queue, bound to the Deadlines function; the sweep's schedule is chalice's."""
    return {
        "DeadlinesQueueDLQ": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub("${AWS::StackName}-deadlines-dlq"),
                "MessageRetentionPeriod": 1209600,
                "KmsMasterKeyId": ref(KEY),
            },
        },
        "DeadlinesQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub("${AWS::StackName}-deadlines"),
                "VisibilityTimeout": ref("QueueVisibilityTimeout"),
                "KmsMasterKeyId": ref(KEY),
                "RedrivePolicy": {"deadLetterTargetArn": arn("DeadlinesQueueDLQ"), "maxReceiveCount": 5},
            },
        },
        "Deadlines": {
            "Properties": {
                "Events": {
                    "DeadlinesSqsEventSource": {
                        "Properties": {
                            "Queue": arn("DeadlinesQueue"),
                            "FunctionResponseTypes": ["ReportBatchItemFailures"],
                        }
                    }
                }
            }
        },
    }


def merge_template() -> dict[str, Any]:
    return {
        "Parameters": {
            # No default: an update that forgot it would run a production stack as `local`
            # (CloudFormation takes a parameter's default, not its previous value, when it is
            # not passed), with the tenant agents' check off. Both deploys pass it.
            "Stage": {"Type": "String", "MinLength": 1, "Description": "local, or the stage's name"},
            "QueueVisibilityTimeout": {
                "Type": "Number",
                "Default": 180,
                "Description": "seconds before an unacknowledged step is redelivered (>= 6 x the function timeout in AWS)",
            },
            "FaultInjection": {
                "Type": "String",
                "Default": "",
                "Description": "test-only fault points; empty in real stages",
            },
            "StepHandoff": {
                "Type": "String",
                "Default": "inline",
                "AllowedValues": ["inline", "queue"],
                "Description": "inline: the incoming step runs processing and releasing in its invocation "
                "(one queue hop per payment); queue: each step hands over through the next step's queue",
            },
            "CallLog": {
                "Type": "String",
                "Default": "",
                "Description": "test-only: a file every function appends its AWS calls to; empty in real stages",
            },
            "LogLevel": {
                "Type": "String",
                "Default": "INFO",
                "AllowedValues": ["DEBUG", "INFO", "WARNING", "ERROR"],
                "Description": "the functions' log level; payment data is only ever logged at DEBUG",
            },
            "TraceDisabled": {
                "Type": "String",
                "Default": "false",
                "AllowedValues": ["true", "false"],
                "Description": "true where no X-Ray daemon listens (the local stage)",
            },
            "ScopePrefix": {
                "Type": "String",
                "Default": "pacsflow",
                "Description": "OAuth2 scopes are <prefix>/read, <prefix>/write and <prefix>/admin (rp2 for the AWS guidance's clients)",
            },
            "LiquidityLimits": {
                "Type": "String",
                "Default": "{}",
                "Description": 'JSON: {"BIC:CCY"|"BIC"|"*": amount}',
            },
            "VelocityMax": {
                "Type": "Number",
                "Default": 0,
                "Description": "payments per agent and currency per minute; 0: no limit",
            },
            "PositionSnapshotInterval": {
                "Type": "Number",
                "Default": 50,
                "MinValue": 1,
                "Description": "a liquidity position is snapshotted (to the snapshots bucket) every this many versions",
            },
            "DigestWindowSeconds": {
                "Type": "Number",
                "Default": 60,
                "MinValue": 0,
                "MaxValue": 300,
                "Description": "the Digester's batching window (s): one digest covers up to this long of events",
            },
            "DigestRetentionDays": {
                "Type": "Number",
                "Default": 3650,
                "Description": "Object Lock (COMPLIANCE) retention of the event-stream digests",
            },
            "ArchiveRetentionDays": {
                "Type": "Number",
                "Default": 3650,
                "Description": "Object Lock retention of archived messages",
            },
            "LogRetentionDays": {
                "Type": "Number",
                "Default": "90",
                "AllowedValues": [str(d) for d in LOG_RETENTION_DAYS],
                "Description": "days CloudWatch Logs keeps the functions' and the API's logs",
            },
            "ProcessingConcurrency": {
                "Type": "Number",
                "Default": 10,
                "MinValue": 2,
                "Description": "reserved concurrency of Processing, and its queue poller's maximum (see hardening())",
            },
            "AlarmEmail": {
                "Type": "String",
                "Default": "",
                "Description": "e-mail address subscribed to the alarm topic; empty: no subscription",
            },
            "SlaSeconds": {
                "Type": "Number",
                "Default": 30,
                "MinValue": 0,
                "Description": "a payment not released this long after its id was issued is rejected AB06",
            },
            "SlaSecondsByType": {
                "Type": "String",
                "Default": "{}",
                "Description": 'JSON: {"pacs.008": seconds}, the SLA per message type',
            },
            "AuthDomainPrefix": {
                "Type": "String",
                "Default": "pacsflow-local",
                "Description": "Cognito hosted domain prefix (globally unique in AWS)",
            },
            **region_parameters(),
        },
        "Resources": with_monitoring(
            deep_merge(
                {**storage(), **messaging(), **identity(), **roles(), **functions(), **api_gateway()},
                hardening(),
                view_failures(),
                deadlines(),
                archive_replication(),
            )
        ),
        "Conditions": {"HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [ref("AlarmEmail"), ""]}]}, **region_conditions()},
        "Rules": rules(),
        "Outputs": {
            "AlarmTopicArn": {"Value": ref("AlarmTopic")},
            "EventsTableName": {"Value": table_name("EventsTable")},
            "PositionsTableName": {"Value": table_name("PositionsTable")},
            "TransactionsTableName": {"Value": ref("TransactionsTable")},
            "ArchiveBucketName": {"Value": ref("ArchiveBucket")},
            "DigestsBucketName": {"Value": ref("DigestsBucket")},
            "SnapshotsBucketName": {"Value": ref("SnapshotsBucket")},
            "ReleasedTopicArn": {"Value": ref("ReleasedTopic")},
            "UserPoolId": {"Value": ref("UserPool")},
            "EventCipherSecretArn": {"Value": cipher_secret()},
            "DataKeyArn": {"Value": arn(KEY)},
            "ArchiveReplicationRoleArn": {"Condition": "ReplicatesArchive", "Value": arn("ArchiveReplicationRole")},
            "ViewFailuresQueueUrl": {"Value": ref("ViewFailuresQueue")},
            "TokenIssuer": {"Value": sub(ISSUER)},
            "TokenUrl": {
                "Value": sub("https://${AuthDomainPrefix}.auth.${AWS::Region}.amazoncognito.com/oauth2/token")
            },
            **{f"{queue_name(s)}Url": {"Value": ref(queue_name(s))} for s in STAGES},
            **{f"{queue_name(s)}DLQUrl": {"Value": ref(queue_name(s) + "DLQ")} for s in STAGES},
            **{f"{f}Name": {"Value": ref(f)} for f in FUNCTIONS},
            # not named *QueueUrl: its messages wait out each payment's SLA, it never drains
            "SlaDeadlinesUrl": {"Value": ref("DeadlinesQueue")},
            "SlaDeadlinesDLQUrl": {"Value": ref("DeadlinesQueueDLQ")},
        },
    }


if __name__ == "__main__":
    print(json.dumps(merge_template(), indent=2))
