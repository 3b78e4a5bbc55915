"""Package the app with `chalice package`, merge infra/template.py, deploy with CloudFormation.

    python -m infra.deploy local            # MiniStack on 127.0.0.1 (started if needed)
    python -m infra.deploy stop             # stop the MiniStack that `local` started
    python -m infra.deploy aws --stage eu-west-1 --artifacts-bucket BUCKET

The artefact deployed locally is exactly the one sent to AWS. Stacks are always updated in
place, never deleted and re-created: a re-created table would lose its data.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from infra import ministack
from infra.template import merge_template

if TYPE_CHECKING:  # boto3-stubs (requirements-dev.txt)
    from mypy_boto3_cloudformation.literals import CapabilityType
    from mypy_boto3_cloudformation.type_defs import ParameterTypeDef
    from mypy_boto3_cognito_idp.type_defs import CreateUserPoolClientRequestTypeDef

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / ".build"
STATE = REPO / ".ministack"
LOCAL_STACK_FILE = REPO / "local-stack.json"
LOCAL_PORT = int(os.environ.get("PACSFLOW_LOCAL_PORT", "4566"))


def package(stage: str) -> Path:
    """Run `chalice package` with the merged resources template; return the output folder."""
    out = BUILD / f"package-{stage}"
    merge = BUILD / "merge.json"
    BUILD.mkdir(exist_ok=True)
    merge.write_text(json.dumps(merge_template(), indent=1))
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", ministack.REGION)}
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


# Files the functions never read: pycountry's translations (19.5 MB of the 75 MB unzipped;
# we use its codes only). Every cold start unpacks the package, so they cost every worker.
UNUSED_IN_PACKAGE = ("pycountry/locales/",)


def slim(zip_path: Path) -> None:
    """Rewrite the deployment package without UNUSED_IN_PACKAGE."""
    slimmed = zip_path.with_suffix(".slim.zip")
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(slimmed, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if not item.filename.startswith(UNUSED_IN_PACKAGE):
                dst.writestr(item, src.read(item.filename))
    slimmed.replace(zip_path)


def upload(session: boto3.session.Session, out: Path, bucket: str, endpoint: str | None) -> dict[str, Any]:
    """Upload the zip under its content hash; return the template pointing at it."""
    s3 = session.client("s3", endpoint_url=endpoint)
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket)
    zip_path = out / "deployment.zip"
    key = f"pacsflow/{hashlib.sha256(zip_path.read_bytes()).hexdigest()}.zip"
    s3.upload_file(str(zip_path), bucket, key)
    template: dict[str, Any] = json.loads((out / "sam.json").read_text())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = {"Bucket": bucket, "Key": key}
    return template


def deploy_stack(
    session: boto3.session.Session,
    stack: str,
    template: dict[str, Any],
    parameters: dict[str, str],
    endpoint: str | None,
) -> dict[str, str]:
    """Create the stack, or update it in place; wait; return its outputs."""
    cfn = session.client("cloudformation", endpoint_url=endpoint)
    body = json.dumps(template)
    stack_parameters: list[ParameterTypeDef] = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
    capabilities: list[CapabilityType] = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    try:
        cfn.describe_stacks(StackName=stack)
        exists = True
    except ClientError:
        exists = False
    try:
        if exists:
            cfn.update_stack(StackName=stack, TemplateBody=body, Parameters=stack_parameters, Capabilities=capabilities)
        else:
            cfn.create_stack(StackName=stack, TemplateBody=body, Parameters=stack_parameters, Capabilities=capabilities)
    except ClientError as e:
        if "No updates are to be performed" not in str(e):
            raise
    while True:
        described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        if not described["StackStatus"].endswith("_IN_PROGRESS"):
            break
        time.sleep(0.5)
    if described["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        failures = [
            f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
            for e in cfn.describe_stack_events(StackName=stack)["StackEvents"]
            if "FAILED" in e["ResourceStatus"]
        ]
        raise RuntimeError(f"stack {stack} is {described['StackStatus']}: {failures[:5]}")
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


DEMO_CLIENTS = ("demo-client-a", "demo-client-b")


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


def local_session() -> boto3.session.Session:
    return boto3.session.Session(
        region_name=ministack.REGION,
        aws_access_key_id=ministack.CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=ministack.CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def deploy_local(
    endpoint: str, stack: str = "pacsflow-local", parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    """Deploy the `local` stage to the MiniStack at `endpoint`; return the stack description."""
    session = local_session()
    template = upload(session, package("local"), "pacsflow-deployments", endpoint)
    params = {"Stage": "local", "QueueVisibilityTimeout": "20", "FaultInjection": "", **(parameters or {})}
    outputs = deploy_stack(session, stack, template, params, endpoint)
    prefix = params.get("ScopePrefix", "pacsflow")
    scopes = {"read": f"{prefix}/read", "write": f"{prefix}/write"}
    return {
        "api_url": f"{endpoint}/_aws/execute-api/{outputs['RestAPIId']}/api",
        "region": ministack.REGION,
        "endpoint_url": endpoint,
        "token_url": f"{endpoint}/oauth2/token",
        "clients": [
            ensure_client(session, endpoint, outputs["UserPoolId"], name, list(scopes.values()))
            for name in DEMO_CLIENTS
        ],
        "scopes": scopes,
        "stack_name": stack,
        "outputs": outputs,
    }


def run_local() -> None:
    STATE.mkdir(exist_ok=True)
    pid_file = STATE / "pid"
    if not ministack.is_up(LOCAL_PORT):
        proc = ministack.start(LOCAL_PORT, STATE / "ministack.log", state_dir=STATE)
        pid_file.write_text(str(proc.pid))
        print(f"MiniStack started on 127.0.0.1:{LOCAL_PORT} (pid {proc.pid}, log .ministack/ministack.log)")
    else:
        print(f"MiniStack already answers on 127.0.0.1:{LOCAL_PORT}")
    stack = deploy_local(ministack.endpoint(LOCAL_PORT))
    LOCAL_STACK_FILE.write_text(json.dumps(stack, indent=2) + "\n")
    print(f"\npacsflow is running: {stack['api_url']}/")
    print(f"OAuth2 token endpoint: {stack['token_url']} (two demo clients in local-stack.json)")
    client = stack["clients"][0]
    print("\nTry it (README.md walks through a whole payment; `make demo` runs it):")
    print(f"  TOKEN=$(curl -s -u '{client['client_id']}:{client['client_secret']}' -d grant_type=client_credentials \\")
    print(f"    {stack['token_url']} | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')")
    print(f"  curl -s -H \"Authorization: Bearer $TOKEN\" -H 'X-Message-Type: pacs.008' {stack['api_url']}/uuid\n")
    print("Stop it with: make stop")


def stop_local() -> None:
    pid_file = STATE / "pid"
    if not pid_file.exists():
        print("nothing to stop (no .ministack/pid)")
        return
    pid = int(pid_file.read_text())
    print(f"stopped MiniStack (pid {pid})" if ministack.stop(pid) else f"MiniStack (pid {pid}) was not running")
    pid_file.unlink()


def deploy_aws(stage: str, artifacts_bucket: str) -> None:
    session = boto3.session.Session()
    template = upload(session, package(stage), artifacts_bucket, None)
    outputs = deploy_stack(session, f"pacsflow-{stage}", template, {"Stage": stage}, None)
    print(json.dumps(outputs, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=["local", "stop", "aws"])
    parser.add_argument("--stage")
    parser.add_argument("--artifacts-bucket")
    args = parser.parse_args()
    if args.target == "local":
        run_local()
    elif args.target == "stop":
        stop_local()
    else:
        if not (args.stage and args.artifacts_bucket):
            parser.error("aws needs --stage and --artifacts-bucket")
        deploy_aws(args.stage, args.artifacts_bucket)


if __name__ == "__main__":
    main()
