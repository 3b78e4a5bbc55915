"""Package the app with `chalice package`, merge infra/template.py, deploy with CloudFormation.

    python -m infra.deploy local            # MiniStack on 127.0.0.1 (started if needed, state kept)
    python -m infra.deploy stop             # stop it gracefully (its state is saved for the next `local`)
    python -m infra.deploy aws --stage eu-west-1 [--artifacts-bucket BUCKET]

A stage is a Region: `aws --stage eu-west-1` deploys the stack pacsflow-eu-west-1 to eu-west-1
(boto3's usual credentials; `AWS_ENDPOINT_URL` points every call elsewhere, as the tests do).
The artefact deployed locally is exactly the one sent to AWS. Stacks are always updated in
place, never deleted and re-created: a re-created table would lose its data. The one exception
is a stack whose first create rolled back (ROLLBACK_COMPLETE): it holds nothing, cannot be
updated, and is deleted and created again.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import py_compile
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from chalicelib.adapters.settings import Settings
from infra import ministack
from infra.template import PEER_SLOTS, TENANT_AGENTS, merge_template

if TYPE_CHECKING:  # boto3-stubs (requirements-dev.txt)
    from mypy_boto3_cloudformation.literals import CapabilityType
    from mypy_boto3_cloudformation.type_defs import ParameterTypeDef
    from mypy_boto3_cognito_idp.type_defs import CreateUserPoolClientRequestTypeDef

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / ".build"
STATE = REPO / ".ministack"
LOCAL_STACK_FILE = REPO / "local-stack.json"
LOCAL_PORT = int(os.environ.get("PACSFLOW_LOCAL_PORT", "4566"))


def region_of(stage: str) -> str:
    """The Region a stage is deployed to: the stage's name, except `local` (MiniStack's)."""
    return ministack.REGION if stage == "local" else stage


def package(stage: str) -> Path:
    """Run `chalice package` with the merged resources template; return the output folder."""
    out = BUILD / f"package-{stage}"
    merge = BUILD / f"merge-{stage}.json"
    BUILD.mkdir(exist_ok=True)
    merge.write_text(json.dumps(merge_template(), indent=1))
    env = {**os.environ, "AWS_DEFAULT_REGION": region_of(stage)}
    subprocess.run(
        [
            str(Path(sys.executable).parent / "chalice"),
            "package",
            "--stage",
            stage,
            "--merge-template",
            str(merge),
            str(out),
        ],
        cwd=REPO,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    slim(out / "deployment.zip")
    return out


# Files the functions never read. Every cold start unpacks the package, so they cost every
# worker: pycountry's translations (we use its codes only); what Lambda's Python runtime
# provides in /var/runtime (botocore and its dependencies, pulled in by aws-xray-sdk: a copy
# in the package would shadow the runtime's, and boto3 is the runtime's); rich and its
# dependencies (the CLI's progress bar, never run in Lambda); tests, type stubs and C sources.
UNUSED_IN_PACKAGE = (
    "pycountry/locales/",
    *("botocore/", "botocore-", "urllib3/", "urllib3-", "dateutil/", "python_dateutil-"),
    *("jmespath/", "jmespath-", "six.py", "six-"),
    *("rich/", "rich-", "pygments/", "pygments-", "markdown_it/", "markdown_it_py-", "mdurl/", "mdurl-"),
    *("eventsourcing/tests/", "pycountry/tests/", "importlib_resources/tests/", "wrapt-stubs/", "lxml/includes/"),
)
UNUSED_SUFFIXES = (".pyi", ".pyx", ".pxd", ".c", ".h")


def unused(name: str) -> bool:
    return name.startswith(UNUSED_IN_PACKAGE) or name.endswith(UNUSED_SUFFIXES) or "/__pycache__/" in name


def slim(zip_path: Path) -> None:
    """Rewrite the deployment package without what is `unused`, and with every module compiled.

    Lambda's /var/task is read-only, so Python cannot keep what it compiles: without .pyc
    files in the package every cold start compiles each module it imports from source
    (bench/coldstart.py measures it). They are unchecked-hash .pyc (PEP 552): valid
    whatever the modification times the unzipped files get; compiled by this interpreter,
    the Python version `chalice package` builds for.
    """
    slimmed = zip_path.with_suffix(".slim.zip")
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(zip_path) as src:
        root = Path(tmp)
        kept = [item for item in src.infolist() if not unused(item.filename)]
        src.extractall(root, members=kept)
        compileall.compile_dir(root, quiet=2, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        with zipfile.ZipFile(slimmed, "w", zipfile.ZIP_DEFLATED) as dst:
            for item in kept:
                dst.writestr(item, src.read(item.filename))  # as it was, mode bits and all
            for pyc in sorted(root.rglob("*.pyc")):
                dst.write(pyc, pyc.relative_to(root).as_posix())
    slimmed.replace(zip_path)


def ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    """Create `bucket` in `region` unless it exists. S3 wants the Region as `LocationConstraint`
    everywhere but in us-east-1, where it must be absent (CreateBucket, "LocationConstraint")."""
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise  # 403: the name is taken by another account (or we may not read it)
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})


def upload(session: boto3.session.Session, out: Path, bucket: str, endpoint: str | None) -> dict[str, Any]:
    """Upload the zip under its content hash; return the template pointing at it."""
    s3 = session.client("s3", endpoint_url=endpoint)
    ensure_bucket(s3, bucket, session.region_name or ministack.REGION)
    zip_path = out / "deployment.zip"
    key = f"pacsflow/{hashlib.sha256(zip_path.read_bytes()).hexdigest()}.zip"
    s3.upload_file(str(zip_path), bucket, key)
    template: dict[str, Any] = json.loads((out / "sam.json").read_text())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = {"Bucket": bucket, "Key": key}
    return template


def stack_status(cfn: Any, stack: str) -> str | None:
    """The stack's status, or None if there is no such stack (DescribeStacks answers a
    ValidationError "Stack with id NAME does not exist")."""
    try:
        return str(cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])
    except ClientError as e:
        if "does not exist" in str(e):
            return None
        raise


def wait_for(cfn: Any, stack: str, timeout: float = 1800, every: float = 0.5) -> str | None:
    """Poll until the stack is no longer *_IN_PROGRESS; return its status (None once deleted)."""
    deadline = time.monotonic() + timeout
    while True:
        status = stack_status(cfn, stack)
        if status is None or not status.endswith("_IN_PROGRESS"):
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"stack {stack} still {status} after {timeout:g}s")
        time.sleep(min(every, max(0.0, deadline - time.monotonic())))


def _failures(cfn: Any, stack: str) -> list[str]:
    return [
        f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
        for e in cfn.describe_stack_events(StackName=stack)["StackEvents"]
        if "FAILED" in e["ResourceStatus"]
    ][:5]


# CloudFormation takes a template of up to 51,200 bytes inline, up to 1 MB through S3.
TEMPLATE_BODY_MAX_BYTES = 51_200


def template_source(session: boto3.session.Session, template: dict[str, Any], endpoint: str | None) -> dict[str, Any]:
    """`TemplateBody`, or, when the template is too large to send inline, `TemplateURL` of a
    copy put next to the deployment package (in the bucket its functions' CodeUri names), by
    its content hash. A path-style URL on the S3 client's endpoint: AWS and MiniStack read it."""
    body = json.dumps(template, separators=(",", ":"))
    if len(body.encode()) <= TEMPLATE_BODY_MAX_BYTES:
        return {"TemplateBody": body}
    bucket = next(
        r["Properties"]["CodeUri"]["Bucket"]
        for r in template["Resources"].values()
        if isinstance(r.get("Properties", {}).get("CodeUri"), dict)
    )
    key = f"pacsflow/templates/{hashlib.sha256(body.encode()).hexdigest()}.json"
    s3 = session.client("s3", endpoint_url=endpoint)
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    return {"TemplateURL": f"{s3.meta.endpoint_url}/{bucket}/{key}"}


def deploy_stack(
    session: boto3.session.Session,
    stack: str,
    template: dict[str, Any],
    parameters: dict[str, str],
    endpoint: str | None,
    cfn: Any = None,
    every: float = 0.5,
) -> dict[str, str]:
    """Create the stack, or update it in place; wait; return its outputs.

    A stack whose first create rolled back (ROLLBACK_COMPLETE) can only be deleted (AWS refuses
    to update it); it never held data, so it is deleted, its deletion awaited, and created again.
    """
    cfn = cfn or session.client("cloudformation", endpoint_url=endpoint)
    source = template_source(session, template, endpoint)
    stack_parameters: list[ParameterTypeDef] = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
    capabilities: list[CapabilityType] = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    status = wait_for(cfn, stack, every=every)  # another deploy may be under way
    for attempt in (1, 2):
        if status == "ROLLBACK_COMPLETE":
            print(f"stack {stack} is ROLLBACK_COMPLETE (its first create failed: {_failures(cfn, stack)}); deleting it")
            cfn.delete_stack(StackName=stack)
            status = wait_for(cfn, stack, every=every)
            if status is not None:
                raise RuntimeError(f"stack {stack} could not be deleted: {status} {_failures(cfn, stack)}")
        creating = status is None
        try:
            if creating:
                cfn.create_stack(StackName=stack, **source, Parameters=stack_parameters, Capabilities=capabilities)
            else:
                cfn.update_stack(StackName=stack, **source, Parameters=stack_parameters, Capabilities=capabilities)
        except ClientError as e:
            if "No updates are to be performed" not in str(e):
                raise
        status = wait_for(cfn, stack, every=every)
        if status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            break
        if not (creating and status == "ROLLBACK_COMPLETE" and attempt == 1):
            raise RuntimeError(f"stack {stack} is {status}: {_failures(cfn, stack)}")
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


DEMO_CLIENTS = ("demo-client-a", "demo-client-b")
ADMIN_CLIENT = "demo-operator"  # appended last to local-stack.json's clients: scope admin only
OPERATOR_TENANT = "operators"  # the tenant of ADMIN_CLIENT in every Region of a linked set


def ensure_client(
    session: boto3.session.Session,
    endpoint: str | None,
    pool_id: str,
    name: str,
    scopes: list[str],
    access_token_seconds: int | None = None,
) -> dict[str, str]:
    """An OAuth2 client-credentials app client of the pool (created once, then reused)."""
    idp = session.client("cognito-idp", endpoint_url=endpoint)
    existing = {
        c["ClientName"]: c["ClientId"]
        for c in idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    }
    if name in existing:
        client = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=existing[name])["UserPoolClient"]
    else:
        request: CreateUserPoolClientRequestTypeDef = {
            "UserPoolId": pool_id,
            "ClientName": name,
            "GenerateSecret": True,
            "AllowedOAuthFlows": ["client_credentials"],
            "AllowedOAuthScopes": scopes,
            "AllowedOAuthFlowsUserPoolClient": True,
        }
        if access_token_seconds:
            request["AccessTokenValidity"] = access_token_seconds
            request["TokenValidityUnits"] = {"AccessToken": "seconds"}
        client = idp.create_user_pool_client(**request)["UserPoolClient"]
    return {"client_id": client["ClientId"], "client_secret": client["ClientSecret"]}


def local_session(region: str = ministack.REGION) -> boto3.session.Session:
    return boto3.session.Session(
        region_name=region,
        aws_access_key_id=ministack.CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=ministack.CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def sla_parameters() -> dict[str, str]:
    """The SLA from the environment (PACSFLOW_SLA_SECONDS, PACSFLOW_SLA_SECONDS_BY_TYPE), as
    stack parameters; unset, the template's defaults (an update resets them to those)."""
    names = {"SlaSeconds": "PACSFLOW_SLA_SECONDS", "SlaSecondsByType": "PACSFLOW_SLA_SECONDS_BY_TYPE"}
    return {param: os.environ[env] for param, env in names.items() if os.environ.get(env)}


def tenants_parameters() -> dict[str, str]:
    """Tenants from PACSFLOW_TENANTS (`{"<client id>": "<tenant>"}`), checked as the functions
    will read it; unset, the template's default `{}` (each client its own tenant)."""
    value = os.environ.get("PACSFLOW_TENANTS", "").strip()
    if not value:
        return {}
    try:
        Settings(tenants=json.loads(value))
    except json.JSONDecodeError as e:
        raise ValueError(f"PACSFLOW_TENANTS is not JSON ({e}): {value!r}") from e
    return {"Tenants": value}


def tenant_agents_parameters(stage: str = "local") -> dict[str, str]:
    """TenantAgents from PACSFLOW_TENANT_AGENTS, checked as the functions of `stage` will read
    it: a mapping they refused would fail every function at its cold start, after the deploy,
    and an empty one ("{ }", "null": the template's rule compares text only) is refused on
    every stage but local. Unset, the template's default `{}`, which that rule refuses there."""
    value = os.environ.get("PACSFLOW_TENANT_AGENTS", "").strip()
    if not value:
        return {}
    try:
        mapping = json.loads(value)
    except json.JSONDecodeError as e:
        raise ValueError(f"PACSFLOW_TENANT_AGENTS is not JSON ({e}): {value!r}") from e
    # "null" the functions read as the default, {} (pydantic-settings)
    Settings(stage=stage, tenant_agents={} if mapping is None else mapping)
    return {TENANT_AGENTS: value}


def local_parameters(parameters: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "Stage": "local",
        "QueueVisibilityTimeout": "20",
        "FaultInjection": "",
        "TraceDisabled": "true",  # MiniStack runs no X-Ray daemon
        # MiniStack hands a stream's records over as they come (it ignores batching windows);
        # in AWS a local-like stage would not keep its tests waiting a minute for a digest
        "DigestWindowSeconds": "1",
        # test-only: the e2e session has the functions record their AWS calls (least privilege)
        "CallLog": os.environ.get("PACSFLOW_TEST_CALL_LOG", ""),
        **sla_parameters(),
        **tenant_agents_parameters(),
        **(parameters or {}),
    }


def deploy_local(
    endpoint: str,
    stack: str = "pacsflow-local",
    parameters: dict[str, str] | None = None,
    region: str = ministack.REGION,
    template: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Deploy the `local` stage to the MiniStack at `endpoint` (in `region`); return the stack
    description."""
    session = local_session(region)
    template = template or upload(session, package("local"), deployments_bucket(region), endpoint)
    # A Cognito domain is unique in its Region: each stack its own (`make run`'s keeps its name)
    domain = stack if region == ministack.REGION else f"{stack}-{region}"
    params = local_parameters({"AuthDomainPrefix": domain, **(parameters or {})})
    outputs = deploy_stack(session, stack, template, params, endpoint)
    use_lambda_proxy(session, endpoint, stack)
    prefix = params.get("ScopePrefix", "pacsflow")
    scopes = {"read": f"{prefix}/read", "write": f"{prefix}/write", "admin": f"{prefix}/admin"}
    return {
        "api_url": f"{endpoint}/_aws/execute-api/{outputs['RestAPIId']}/api",
        "region": region,
        "endpoint_url": endpoint,
        "token_url": f"{endpoint}/oauth2/token",
        "clients": [
            *(
                ensure_client(session, endpoint, outputs["UserPoolId"], name, [scopes["read"], scopes["write"]])
                for name in DEMO_CLIENTS
            ),
            ensure_client(session, endpoint, outputs["UserPoolId"], ADMIN_CLIENT, [scopes["admin"]]),
        ],
        "scopes": scopes,
        "stack_name": stack,
        "outputs": outputs,
    }


def use_lambda_proxy(session: boto3.session.Session, endpoint: str, stack: str) -> None:
    """Hand the stack's functions to the MiniStack's Lambda proxy (infra/lambda_proxy.py: a
    bounded pool of warm workers per function, with a queue), if it has one running.

    Local stage only: the proxy URL goes into each function's environment after the stack is
    deployed (MiniStack's proxy mode), never into the template. The URL names a digest of what
    a worker depends on (code, handler, environment), so a redeploy gets fresh workers."""
    url = ministack.lambda_proxy_url(endpoint)
    if url is None:
        return
    from infra.lambda_proxy import PROXY_VARIABLE

    cfn = session.client("cloudformation", endpoint_url=endpoint)
    lam = session.client("lambda", endpoint_url=endpoint)
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] != "AWS::Lambda::Function":
                continue
            name = resource["PhysicalResourceId"]
            config = lam.get_function_configuration(FunctionName=name)
            variables = dict(config.get("Environment", {}).get("Variables", {}))
            current = variables.pop(PROXY_VARIABLE, None)
            depends = json.dumps([config["CodeSha256"], config["Handler"], variables], sort_keys=True)
            target = f"{url}/{session.region_name}/{name}/{hashlib.sha256(depends.encode()).hexdigest()[:16]}"
            if current != target:
                lam.update_function_configuration(
                    FunctionName=name, Environment={"Variables": {**variables, PROXY_VARIABLE: target}}
                )


def deployments_bucket(region: str) -> str:
    """The local deployment packages' bucket in `region` (Lambda reads code in its own Region)."""
    return "pacsflow-deployments" if region == ministack.REGION else f"pacsflow-deployments-{region}"


# Demo clients of every Region map to the same tenants: clients[0] -> tenant-a, clients[1] -> tenant-b.
DEMO_TENANTS = ("tenant-a", "tenant-b")


def peer_slots(region: str, regions: list[str]) -> dict[str, str]:
    """The template's ReplicaRegion1/2 parameters of `region`'s stack: the other Regions."""
    peers = [r for r in regions if r != region]
    if len(peers) > len(PEER_SLOTS):
        raise ValueError(f"at most {len(PEER_SLOTS) + 1} Regions (got {len(regions)})")
    return {slot: (peers[n] if n < len(peers) else "") for n, slot in enumerate(PEER_SLOTS)}


def archive_bucket_name(stack: str, account: str, region: str) -> str:
    """The archive bucket's name (the template's BucketName): the same stack name in every Region."""
    return f"{stack}-archive-{account}-{region}"


def add_replicas(session: boto3.session.Session, endpoint: str | None, table: str, regions: list[str]) -> None:
    """Make `table` (in the session's Region) a global table with a replica in each of `regions`
    (UpdateTable ReplicaUpdates, global tables version 2019.11.21); wait until each is ACTIVE."""
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    described = ddb.describe_table(TableName=table)["Table"]
    present = {r["RegionName"] for r in described.get("Replicas", [])}  # a second `make run` finds them
    for region in regions:
        if region not in present:
            ddb.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": region}}])
    for region in regions:
        replica = session.client("dynamodb", region_name=region, endpoint_url=endpoint)
        replica.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 120})


def replica_secret_arn(primary_arn: str, region: str) -> str:
    """The ARN of `region`'s replica of the secret `primary_arn`: Secrets Manager gives a
    replica the primary's name and suffix; only the Region differs. (MiniStack's Ref of a
    secret is its name, not its ARN as on AWS: the same name finds the replica in its Region.)"""
    if not primary_arn.startswith("arn:"):
        return primary_arn
    parts = primary_arn.split(":")
    parts[3] = region
    return ":".join(parts)


def stream_arn(session: boto3.session.Session, endpoint: str | None, table: str) -> str:
    """The stream of `table`'s replica in the session's Region (DescribeTable there)."""
    described = session.client("dynamodb", endpoint_url=endpoint).describe_table(TableName=table)["Table"]
    return str(described["LatestStreamArn"])


def replication_configuration(stack: str, account: str, role: str, peers: list[str]) -> dict[str, Any]:
    """What the template's ArchiveBucket ReplicationConfiguration resolves to, with replication
    role `role` (MiniStack's CloudFormation ignores that property; its S3 API implements it)."""
    return {
        "Role": role,
        "Rules": [
            {
                "ID": f"to-{peer}",
                "Priority": n,
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "DeleteMarkerReplication": {"Status": "Disabled"},
                "SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}},
                "Destination": {
                    "Bucket": f"arn:aws:s3:::{archive_bucket_name(stack, account, peer)}",
                    "EncryptionConfiguration": {"ReplicaKmsKeyID": f"arn:aws:kms:{peer}:{account}:alias/{stack}"},
                },
            }
            for n, peer in enumerate(peers, start=1)
        ],
    }


def link_parameters(region: str, described: dict[str, dict[str, Any]], account: str) -> dict[str, str]:
    """Peers, Tenants and PeerArchiveBuckets of `region`'s stack, from every Region's deploy."""
    stack = described[region]["stack_name"]
    tenants = {
        client["client_id"]: tenant
        for each in described.values()
        for client, tenant in zip(each["clients"], DEMO_TENANTS, strict=False)
    }
    # The operator client (last) of every Region is one tenant: an operator's Idempotency-Key
    # is the tenant's, so a failback retried through another Region's pool is the same action.
    tenants.update({each["clients"][-1]["client_id"]: OPERATOR_TENANT for each in described.values()})
    peers = [r for r in described if r != region]
    return {
        "Peers": json.dumps({r: described[r]["api_url"] for r in peers}, sort_keys=True),
        "Tenants": json.dumps(tenants, sort_keys=True),
        "PeerArchiveBuckets": json.dumps({r: archive_bucket_name(stack, account, r) for r in peers}, sort_keys=True),
    }


def deploy_local_regions(
    endpoint: str, regions: list[str], stack: str = "pacsflow-local", parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    """Deploy the same stack in each of `regions` on the MiniStack at `endpoint` and link them:
    the first Region's stack creates the events and positions tables, UpdateTable adds their
    replicas in the other Regions, whose stacks use them by name (RegionRole replica), then
    every stack is updated with its peers, the tenants and archive replication. Returns the
    first Region's description with a `regions` list (each Region's description)."""
    if not regions:
        raise ValueError("no Region")
    first, others = regions[0], regions[1:]
    out = package("local")
    # Lambda takes its code from a bucket in the function's own Region
    templates = {r: upload(local_session(r), out, deployments_bucket(r), endpoint) for r in regions}
    described: dict[str, dict[str, Any]] = {}
    base = {**(parameters or {}), "TableMode": "table"}
    described[first] = deploy_local(
        endpoint, stack, {**base, "RegionRole": "primary", **peer_slots(first, regions)}, first, templates[first]
    )
    if others:
        primary = local_session(first)
        for name in (f"{stack}-events", f"{stack}-positions"):
            add_replicas(primary, endpoint, name, others)
    for region in others:
        params = {
            **base,
            "RegionRole": "replica",
            "EventsStreamArn": stream_arn(local_session(region), endpoint, f"{stack}-events"),
            "EventCipherSecretArn": replica_secret_arn(described[first]["outputs"]["EventCipherSecretArn"], region),
            **peer_slots(region, regions),
        }
        described[region] = deploy_local(endpoint, stack, params, region, templates[region])
    if others:  # link: every peer exists now
        account = local_session(first).client("sts", endpoint_url=endpoint).get_caller_identity()["Account"]
        for region in regions:
            each = described[region]
            params = {
                **base,
                "RegionRole": "primary" if region == first else "replica",
                **peer_slots(region, regions),
                **(
                    {
                        "EventsStreamArn": stream_arn(local_session(region), endpoint, f"{stack}-events"),
                        "EventCipherSecretArn": described[region]["outputs"]["EventCipherSecretArn"],
                    }
                    if region != first
                    else {}
                ),
                **link_parameters(region, described, account),
            }
            described[region] = deploy_local(endpoint, stack, params, region, templates[region])
            s3 = local_session(region).client("s3", endpoint_url=endpoint)
            s3.put_bucket_replication(
                Bucket=each["outputs"]["ArchiveBucketName"],
                ReplicationConfiguration=replication_configuration(  # type: ignore[arg-type]
                    stack,
                    account,
                    described[region]["outputs"]["ArchiveReplicationRoleArn"],
                    [r for r in regions if r != region],
                ),
            )
    return {**described[first], "regions": [described[r] for r in regions]}


def start_local(port: int, state: Path) -> int:
    """Start MiniStack as `make run` does: on `port`, with its state kept in `state` (loaded now,
    saved by a graceful `ministack.stop`); return its pid."""
    proc = ministack.start(port, state / "ministack.log", state_dir=state, persist=True)
    return proc.pid


def run_local(regions: list[str] | None = None) -> None:
    """Start MiniStack with persistence (unless it already answers) and deploy to it.

    Its state lives in .ministack/state and is saved by `make stop` (a graceful stop), so a
    later `make run` finds the stack, its tables and their data again, and updates the stack in place.
    """
    STATE.mkdir(exist_ok=True)
    pid_file = STATE / "pid"
    if not ministack.is_up(LOCAL_PORT):
        pid = start_local(LOCAL_PORT, STATE)
        pid_file.write_text(str(pid))
        print(f"MiniStack started on 127.0.0.1:{LOCAL_PORT} (pid {pid}, log .ministack/ministack.log)")
    else:
        print(f"MiniStack already answers on 127.0.0.1:{LOCAL_PORT}")
    endpoint = ministack.endpoint(LOCAL_PORT)
    if regions and len(regions) > 1:
        stack = deploy_local_regions(endpoint, regions)
        print("Regions: " + ", ".join(f"{r['region']} {r['api_url']}/" for r in stack["regions"]))
    else:
        stack = deploy_local(endpoint, region=(regions or [ministack.REGION])[0])
    LOCAL_STACK_FILE.write_text(json.dumps(stack, indent=2) + "\n")
    print(f"\npacsflow is running: {stack['api_url']}/")
    print(f"OAuth2 token endpoint: {stack['token_url']} (two demo clients in local-stack.json)")
    client = stack["clients"][0]
    print("\nTry it (README.md walks through a whole payment; `make demo` runs it):")
    print(f"  TOKEN=$(curl -s -u '{client['client_id']}:{client['client_secret']}' -d grant_type=client_credentials \\")
    print(f"    {stack['token_url']} | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')")
    print(f"  curl -s -H \"Authorization: Bearer $TOKEN\" -H 'X-Message-Type: pacs.008' {stack['api_url']}/uuid\n")
    print("Stop it with: make stop (its data is kept for the next make run)")


def stop_local() -> None:
    pid_file = STATE / "pid"
    if not pid_file.exists():
        print("nothing to stop (no .ministack/pid)")
        return
    pid = int(pid_file.read_text())
    if not ministack.is_ours(pid):  # a stale pid file: signal nothing, whatever now has that pid
        print(f"MiniStack (pid {pid}) was not running: removed the stale .ministack/pid")
    elif ministack.stop(pid):
        print(f"stopped MiniStack (pid {pid}); its state is in .ministack/state for the next make run")
    else:
        print(f"MiniStack (pid {pid}) was not running")
    pid_file.unlink()


def stack_name(stage: str) -> str:
    return f"pacsflow-{stage}"


def auth_domain_prefix(stage: str, account: str) -> str:
    """The Cognito domain prefix: unique per stage and account (prefixes are global in AWS)."""
    return f"pacsflow-{stage}-{account}"


def artifacts_bucket(stage: str, account: str) -> str:
    return f"pacsflow-artifacts-{account}-{region_of(stage)}"


def aws_session(stage: str) -> boto3.session.Session:
    """boto3's usual credentials, in the stage's Region (AWS_ENDPOINT_URL, if set, is honoured)."""
    return boto3.session.Session(region_name=region_of(stage))


def deploy_aws(
    stage: str, bucket: str | None = None, stack: str | None = None, parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    """Deploy stage `stage` to its Region; return what a client needs (URLs, pool, outputs)."""
    tenant_agents = tenant_agents_parameters(stage)  # refused before anything is packaged
    tenants = tenants_parameters()
    session = aws_session(stage)
    region = region_of(stage)
    account = session.client("sts").get_caller_identity()["Account"]
    bucket = bucket or artifacts_bucket(stage, account)
    template = upload(session, package(stage), bucket, None)
    params = {
        "Stage": stage,
        "AuthDomainPrefix": auth_domain_prefix(stage, account),
        **sla_parameters(),
        **tenants,
        **tenant_agents,
        **(parameters or {}),
    }
    stack = stack or stack_name(stage)
    outputs = deploy_stack(session, stack, template, params, None, every=2)
    return {
        "stage": stage,
        "region": region,
        "account": account,
        "stack_name": stack,
        "api_url": outputs.get("EndpointURL", "").rstrip("/"),
        "token_url": outputs["TokenUrl"],
        "outputs": outputs,
    }


# One stack name in every Region of a set: a global table's replicas share its name.
REGION_SET_STACK = "pacsflow-global"


def deploy_aws_regions(
    regions: list[str],
    consistency: str = "mrec",
    witness: str = "",
    stack: str = REGION_SET_STACK,
    deploy: Any = deploy_aws,
    stream: Any = None,
) -> list[dict[str, Any]]:
    """Deploy the same stack (name `stack`) in each of `regions` on AWS and link them.

    1. The first Region's stack creates the events and positions tables as
       AWS::DynamoDB::GlobalTable with a replica in every Region (TableMode global,
       Consistency mrec|mrsc, WitnessRegion for mrsc with two Regions).
    2. Each other Region's stack uses its replica by name (RegionRole replica) and follows
       the replica's stream, read with DescribeTable in that Region.
    3. Every stack is updated with its Peers, the Tenants (PACSFLOW_TENANTS) and
       PeerArchiveBuckets, which turns archive replication on (every bucket exists now).
    `deploy(stage, stack=, parameters=)` and `stream(region, table)` are injectable for tests.
    """
    if consistency not in ("mrec", "mrsc"):
        raise ValueError("consistency is mrec or mrsc")
    if consistency == "mrsc" and len(regions) + (1 if witness else 0) != 3:
        raise ValueError("mrsc needs three Regions, or two and a witness (WITNESS=)")
    if consistency == "mrec" and witness:
        raise ValueError("a witness is for mrsc only")
    stream = stream or (lambda region, table: stream_arn(aws_session(region), None, table))
    first = regions[0]
    common = {"TableMode": "global", "Consistency": consistency, "WitnessRegion": witness}

    described: dict[str, dict[str, Any]] = {}

    def role(region: str) -> dict[str, str]:
        if region == first:
            return {"RegionRole": "primary"}
        secret = replica_secret_arn(described[first]["outputs"]["EventCipherSecretArn"], region)
        return {
            "RegionRole": "replica",
            "EventsStreamArn": stream(region, f"{stack}-events"),
            "EventCipherSecretArn": secret,
        }

    for region in regions:
        params = {**common, **peer_slots(region, regions), **role(region)}
        described[region] = deploy(region, stack=stack, parameters=params)
    if len(regions) > 1:
        tenants = os.environ.get("PACSFLOW_TENANTS", "{}")
        for region in regions:
            account = described[region]["account"]
            peers = [r for r in regions if r != region]
            link = {
                "Peers": json.dumps({r: described[r]["api_url"] for r in peers}, sort_keys=True),
                "Tenants": tenants,
                "PeerArchiveBuckets": json.dumps(
                    {r: archive_bucket_name(stack, account, r) for r in peers}, sort_keys=True
                ),
            }
            params = {**common, **peer_slots(region, regions), **role(region), **link}
            described[region] = deploy(region, stack=stack, parameters=params)
    return [described[r] for r in regions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=["local", "stop", "aws", "aws-regions"])
    parser.add_argument("--regions", default="", help="local, aws-regions: the Regions, first the primary")
    parser.add_argument("--consistency", default="mrec", choices=["mrec", "mrsc"], help="aws-regions")
    parser.add_argument("--witness", default="", help="aws-regions, mrsc with two Regions: the witness Region")
    parser.add_argument("--stage", help="aws: the Region to deploy to (e.g. eu-west-1)")
    parser.add_argument(
        "--artifacts-bucket", help="aws: default pacsflow-artifacts-<account>-<region>, created if missing"
    )
    args = parser.parse_args()
    regions = args.regions.split()
    if args.target == "local":
        run_local(regions)
    elif args.target == "aws-regions":
        if len(regions) < 2:
            parser.error('aws-regions needs --regions "REGION REGION..."')
        print(json.dumps(deploy_aws_regions(regions, args.consistency, args.witness), indent=2))
    elif args.target == "stop":
        stop_local()
    else:
        if not args.stage or args.stage == "local":
            parser.error("aws needs --stage REGION")
        print(json.dumps(deploy_aws(args.stage, args.artifacts_bucket), indent=2))


if __name__ == "__main__":
    main()
