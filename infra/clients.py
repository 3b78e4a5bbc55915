"""Provision API clients in a stage's Cognito pool (OAuth2 client credentials).

    python -m infra.clients create --stage eu-west-1 --name acme-bank --scopes read,write

creates an app client of the pool of stack pacsflow-<stage>, allowed the scopes
<prefix>/read and <prefix>/write (the prefix is the resource server's identifier, the stack's
ScopePrefix parameter), and prints its id and secret once, as JSON, on standard output. Keep the
secret then: it is never logged, and this command never prints it again (creating a client whose
name exists is refused; read a lost secret in the Cognito console, or create another client).
Credentials and Region as for `python -m infra.deploy aws` (AWS_ENDPOINT_URL is honoured).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from infra.deploy import aws_session, stack_name

log = logging.getLogger(__name__)  # not under "pacsflow": Chalice makes that logger non-propagating

SCOPE_NAMES = ("read", "write", "admin")


class ClientExists(Exception):
    pass


def stack_identity(cfn: Any, stage: str) -> dict[str, str]:
    """The stage's pool id, scope prefix and token URL, from its stack."""
    described = cfn.describe_stacks(StackName=stack_name(stage))["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    return {
        "pool_id": outputs["UserPoolId"],
        "scope_prefix": parameters.get("ScopePrefix") or "pacsflow",
        "token_url": outputs.get("TokenUrl", ""),
    }


def create_client(idp: Any, pool_id: str, name: str, scopes: list[str]) -> dict[str, str]:
    """Create a client-credentials app client with a secret; return its id and secret."""
    paginator = idp.get_paginator("list_user_pool_clients")
    for page in paginator.paginate(UserPoolId=pool_id, PaginationConfig={"PageSize": 60}):
        if any(c["ClientName"] == name for c in page["UserPoolClients"]):
            raise ClientExists(f"pool {pool_id} already has a client named {name!r}")
    client = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=name,
        GenerateSecret=True,
        AllowedOAuthFlows=["client_credentials"],
        AllowedOAuthScopes=scopes,
        AllowedOAuthFlowsUserPoolClient=True,
    )["UserPoolClient"]
    log.info("created app client %s (id %s) in pool %s with scopes %s", name, client["ClientId"], pool_id, scopes)
    return {"client_id": client["ClientId"], "client_secret": client["ClientSecret"]}


def parse_scopes(text: str, prefix: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = sorted(set(names) - set(SCOPE_NAMES))
    if not names or unknown:
        raise ValueError(f"scopes must be among {', '.join(SCOPE_NAMES)} (got {text!r})")
    return [f"{prefix}/{n}" for n in dict.fromkeys(names)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create a client-credentials app client; print its id and secret once")
    create.add_argument("--stage", required=True, help="the stage (its Region), e.g. eu-west-1")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", default="read,write", help="comma-separated, among read,write,admin")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("botocore", "boto3", "urllib3"):  # at DEBUG they log response bodies: the secret
        logging.getLogger(noisy).setLevel(logging.WARNING)
    session = aws_session(args.stage)
    identity = stack_identity(session.client("cloudformation"), args.stage)
    try:
        scopes = parse_scopes(args.scopes, identity["scope_prefix"])
    except ValueError as e:
        parser.error(str(e))
    try:
        client = create_client(session.client("cognito-idp"), identity["pool_id"], args.name, scopes)
    except ClientExists as e:
        print(f"error: {e}; its secret was shown when it was created", file=sys.stderr)
        return 1
    print(json.dumps({**client, "scopes": scopes, "token_url": identity["token_url"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
