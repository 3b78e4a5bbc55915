"""boto3 clients, created once per process (Lambda containers are reused).

boto3 reads AWS_ENDPOINT_URL itself, which is how the same code talks to MiniStack locally.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config

from chalicelib.adapters import call_log
from chalicelib.eventstore.aws import CLIENT_CONFIG

if TYPE_CHECKING:  # boto3-stubs (requirements-dev.txt); not in the Lambda package
    from chalicelib.aws_types import DynamoDBClient, S3Client, SecretsManagerClient, SNSClient, SQSClient

Service = Literal["dynamodb", "s3", "secretsmanager", "sns", "sqs"]

# Timeouts and retries bounded below the shortest function timeout (see CLIENT_CONFIG).
_CONFIG = CLIENT_CONFIG


@overload
def client(service: Literal["dynamodb"]) -> DynamoDBClient: ...
@overload
def client(service: Literal["s3"]) -> S3Client: ...
@overload
def client(service: Literal["secretsmanager"]) -> SecretsManagerClient: ...
@overload
def client(service: Literal["sns"]) -> SNSClient: ...
@overload
def client(service: Literal["sqs"]) -> SQSClient: ...
def client(service: Service) -> DynamoDBClient | S3Client | SecretsManagerClient | SNSClient | SQSClient:
    """The process's client of `service` (one per service, made on first use)."""
    return _client(service)


@cache
def _client(service: Service) -> DynamoDBClient | S3Client | SecretsManagerClient | SNSClient | SQSClient:
    made = boto3.session.Session().client(service, config=_CONFIG)
    return call_log.install(made)  # test-only recorder; a no-op unless PACSFLOW_CALL_LOG is set


# A peer replica is polled until a deadline of a few seconds (chalicelib/adapters/replication.py):
# one attempt per poll, each bounded to 1 s + 1 s, so a peer that does not answer costs a poll.
PEER_CONFIG = _CONFIG.merge(
    Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1, read_timeout=1)
)


@overload
def peer_client(service: Literal["dynamodb"], region: str) -> DynamoDBClient: ...
@overload
def peer_client(service: Literal["s3"], region: str) -> S3Client: ...
def peer_client(service: Literal["dynamodb", "s3"], region: str) -> DynamoDBClient | S3Client:
    """The process's client of `service` in the peer Region `region` (its replicas); the
    endpoint is boto3's usual one (AWS_ENDPOINT_URL locally: MiniStack serves every Region)."""
    return _peer_client(service, region)


@cache
def _peer_client(service: Literal["dynamodb", "s3"], region: str) -> DynamoDBClient | S3Client:
    made = boto3.session.Session().client(service, region_name=region, config=PEER_CONFIG)
    return call_log.install(made)


@cache
def streams() -> Any:
    """The process's DynamoDB Streams client (untyped: no boto3 stubs installed for it)."""
    return boto3.session.Session().client("dynamodbstreams", config=_CONFIG)


def operator_client(service: str) -> Any:
    """A client for the operator's one-shot commands (chalicelib/cli_ops.py: SQS, CloudWatch,
    CloudFormation), bounded like the others; a new one per call (not cached)."""
    return boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]
