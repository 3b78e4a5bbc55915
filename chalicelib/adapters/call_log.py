"""Test-only: record every AWS call a function makes, as the IAM requests it amounts to.

MiniStack enforces no IAM policy, so the end-to-end suite proves least privilege another
way: with `PACSFLOW_CALL_LOG` set to a file path (the `call_log` setting; empty, and so off,
in every real stage), each boto3 client the code makes appends one JSON line per IAM
authorisation request of each call: the function (`AWS_LAMBDA_FUNCTION_NAME`), the service,
the API operation, the IAM action and the resource ARN derived from the call's parameters.
`infra/least_privilege.py` then evaluates every line against that function's role.

A call can need several authorisations (a `TransactWriteItems` needs `PutItem`,
`UpdateItem`... on each item's table; AWS has no `dynamodb:TransactWriteItems` action, while
`BatchWriteItem` and `BatchGetItem` are actions of their own on each table they name), and
some operations are authorised by another action's name (`HeadObject` needs `s3:GetObject`,
`HeadBucket` needs `s3:ListBucket`): `requests` knows these.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, TypeVar
from urllib.parse import urlparse

_LOCK = threading.Lock()
C = TypeVar("C")  # a boto3 client

# API operation -> IAM action, where they differ (per service)
_ACTIONS = {
    "s3": {
        "HeadObject": "GetObject",
        "HeadBucket": "ListBucket",
        "ListObjectsV2": "ListBucket",
        "ListObjects": "ListBucket",
        "GetObjectVersion": "GetObjectVersion",
    },
}
# items of a DynamoDB transaction -> the action each needs
_TRANSACT_WRITE = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def account_id() -> str:
    """The account the function runs in, read from an ARN in its environment (Lambda does not
    say it in a variable of its own)."""
    for name in ("PACSFLOW_RELEASED_TOPIC_ARN", "PACSFLOW_CIPHER_SECRET_ARN"):
        parts = os.environ.get(name, "").split(":")
        if len(parts) > 4 and parts[4]:
            return parts[4]
    return os.environ.get("AWS_ACCOUNT_ID", "000000000000")


def _table(region: str, account: str, name: str, index: str | None = None) -> str:
    base = name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"
    return f"{base}/index/{index}" if index else base


def _queue(url: str, region: str, account: str) -> str:
    """arn:aws:sqs:<region>:<account>:<name> of a queue URL (https://host/<account>/<name>)."""
    path = [p for p in urlparse(url).path.split("/") if p]
    owner, name = (path[-2], path[-1]) if len(path) >= 2 else (account, path[-1] if path else url)
    return f"arn:aws:sqs:{region}:{owner}:{name}"


def requests(service: str, operation: str, params: dict[str, Any], region: str, account: str) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs that one call of `operation` with `params` needs."""
    prefix = service
    if service == "dynamodb":
        if operation in ("TransactWriteItems", "TransactGetItems"):
            pairs = []
            for item in params.get("TransactItems", []):
                for kind, body in item.items():
                    action = "GetItem" if kind == "Get" else _TRANSACT_WRITE[kind]
                    pairs.append((f"dynamodb:{action}", _table(region, account, body["TableName"])))
            return pairs
        if operation in ("BatchWriteItem", "BatchGetItem"):  # each table's: actions of their own name
            return [(f"dynamodb:{operation}", _table(region, account, name)) for name in params.get("RequestItems", {})]
        if "StreamArn" in params:
            return [(f"dynamodb:{operation}", params["StreamArn"])]
        if "TableName" in params:
            return [(f"dynamodb:{operation}", _table(region, account, params["TableName"], params.get("IndexName")))]
        return [(f"dynamodb:{operation}", "*")]
    action = f"{prefix}:{_ACTIONS.get(service, {}).get(operation, operation)}"
    if service == "s3":
        bucket = params.get("Bucket", "")
        resource = f"arn:aws:s3:::{bucket}/{params['Key']}" if "Key" in params else f"arn:aws:s3:::{bucket}"
        return [(action, resource)]
    if service == "sqs" and "QueueUrl" in params:
        return [(action, _queue(params["QueueUrl"], region, account))]
    if service == "sns" and "TopicArn" in params:
        return [(action, params["TopicArn"])]
    if service == "secretsmanager" and "SecretId" in params:
        return [(action, params["SecretId"])]
    return [(action, "*")]


def install(client: C, path: str | None = None) -> C:
    """Record the calls of `client` into `path` (default: the `call_log` setting); return it.
    Nothing is registered when no path is set (every real stage)."""
    if path is None:
        path = os.environ.get("PACSFLOW_CALL_LOG", "")  # the `call_log` setting, read where it is needed
    if not path:
        return client
    meta: Any = client.meta  # type: ignore[attr-defined]  # every boto3 client has one
    service = meta.service_model.service_name
    region = meta.region_name or os.environ.get("AWS_REGION", "us-east-1")

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        lines = [
            json.dumps(
                {
                    "function": function,
                    "service": service,
                    "operation": model.name,
                    "action": action,
                    "resource": resource,
                },
                separators=(",", ":"),
            )
            + "\n"
            for action, resource in requests(service, model.name, params, region, account_id())
        ]
        with _LOCK, open(path, "a", encoding="utf-8") as log:  # one write per call: lines never interleave
            log.write("".join(lines))

    meta.events.register(f"provide-client-params.{meta.service_model.service_id.hyphenize()}", record)
    return client
