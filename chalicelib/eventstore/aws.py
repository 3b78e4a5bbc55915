"""Plumbing shared by the event store recorders: boto3 clients, errors, batch checks.

Errors from botocore are translated into eventsourcing's PEP 249 style exceptions, so
callers (and the library's own application code) only ever see `PersistenceError`
subclasses, exactly as with the library's SQLite and PostgreSQL modules.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal, overload

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from eventsourcing.persistence import (
    IntegrityError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)

from chalicelib.adapters import call_log

if TYPE_CHECKING:  # boto3-stubs (requirements-dev.txt); not in the Lambda package
    from chalicelib.aws_types import DynamoDBClient, S3Client

# Standard retry mode backs off on throttling (ProvisionedThroughputExceeded,
# ThrottlingException, RequestLimitExceeded) and transient 5xx errors. The pool size
# lets one client serve many concurrent writer threads without queueing on sockets.
#
# Every call must give up before the Lambda function does (the shortest function timeout
# is 15 s, the `local` stage's): without timeouts botocore waits 60 s to connect and 60 s to
# read, per attempt. Worst case of one call: MAX_ATTEMPTS x (CONNECT + READ) plus the standard
# mode's back-off before the retry (at most 1 s) = 2 x 5 + 1 = 11 s. A DynamoDB, S3, SQS, SNS
# or Secrets Manager call of ours answers in milliseconds on AWS; the read timeout leaves room
# for a loaded local stack. One retry here: a failed step is retried whole by its queue (or
# its client), and a timed-out write is safe to repeat (conditional puts, TransactWriteItems'
# idempotency token).
CONNECT_TIMEOUT_S = 1
READ_TIMEOUT_S = 4
MAX_ATTEMPTS = 2
CLIENT_CONFIG = Config(
    # botocore's "max_attempts" counts retries only (3 would mean 4 calls): say the total.
    retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    connect_timeout=CONNECT_TIMEOUT_S,
    read_timeout=READ_TIMEOUT_S,
    max_pool_connections=50,
)

# Error codes that mean the request itself is wrong (missing table or bucket,
# malformed expression, oversized item): retrying cannot help.
_PROGRAMMING_ERROR_CODES = frozenset({"ResourceNotFoundException", "ValidationException", "NoSuchBucket"})
# An S3 GetObject / HeadObject of a key that is not there (404 only where the caller may
# ListBucket the bucket; without it S3 answers 403, which the callers judge themselves).
MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


@overload
def new_client(service_name: Literal["dynamodb"], endpoint_url: str | None = None) -> DynamoDBClient: ...
@overload
def new_client(service_name: Literal["s3"], endpoint_url: str | None = None) -> S3Client: ...
def new_client(service_name: Literal["dynamodb", "s3"], endpoint_url: str | None = None) -> DynamoDBClient | S3Client:
    """Return a boto3 client with the event store's retry and pool configuration.

    A fresh Session per client, because boto3's default session is not safe to use
    from several threads at once. Region and credentials come from the default chain.
    """
    session = boto3.session.Session()
    made = session.client(service_name, endpoint_url=endpoint_url, config=CLIENT_CONFIG)
    return call_log.install(made)  # test-only recorder; a no-op unless PACSFLOW_CALL_LOG is set


def error_code(error: ClientError) -> str:
    """The AWS error code of a botocore ClientError."""
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def translated_errors(operation: str) -> Iterator[None]:
    """Re-raise botocore errors of `operation` as eventsourcing persistence errors."""
    try:
        yield
    except ClientError as error:
        code = error_code(error)
        message = error.response.get("Error", {}).get("Message")
        msg = f"{operation} failed: {code}: {message}"
        if code in _PROGRAMMING_ERROR_CODES:
            raise ProgrammingError(msg) from error
        raise OperationalError(msg) from error
    except BotoCoreError as error:
        msg = f"{operation} failed: {type(error).__name__}"
        raise OperationalError(msg) from error


def check_unique(stored_events: Sequence[StoredEvent]) -> None:
    """Reject a batch that records one aggregate version twice (IntegrityError, as POPO).

    Checked before sending: DynamoDB would reject such a transaction with a
    ValidationException, and S3 would silently keep one of the two.
    """
    keys = {(str(e.originator_id), e.originator_version) for e in stored_events}
    if len(keys) < len(stored_events):
        msg = "Stored events are not unique"
        raise IntegrityError(msg)
