"""The service layer's named errors. None carries an HTTP status: chalicelib/api.py alone
maps them to status codes; every one has the `error_code` the API answers with."""

from __future__ import annotations

from chalicelib.domain import MessageMismatch
from chalicelib.pipeline.payments import PaymentNotFound

__all__ = [
    "ApplicationError",
    "CancellationDoesNotMatch",
    "EmptyBody",
    "IdempotencyKeyReused",
    "InvalidCancellationRequest",
    "InvalidConsistency",
    "InvalidStatusRequest",
    "MessageMismatch",
    "MessageTooLarge",
    "NotHomeRegion",
    "NotYetReplicated",
    "NothingToCancel",
    "PaymentNotFound",
    "RegionNotTakenOver",
    "RegionTakenOver",
    "ReportNotReady",
    "ReportNotYetReplicated",
    "StepContended",
    "UnknownRegion",
    "UnsupportedMessageType",
]


class ApplicationError(Exception):
    """A request the service refuses; `error_code` names why."""

    error_code = "APPLICATION_ERROR"


class UnsupportedMessageType(ApplicationError):
    error_code = "UNSUPPORTED_MESSAGE_TYPE"


class EmptyBody(ApplicationError):
    error_code = "EMPTY_BODY"

    def __init__(self) -> None:
        super().__init__("the request body must be an ISO 20022 message")


class MessageTooLarge(ApplicationError):
    error_code = "MESSAGE_TOO_LARGE"

    def __init__(self, limit: int) -> None:
        super().__init__(f"messages are limited to {limit} bytes")


class InvalidStatusRequest(ApplicationError):
    error_code = "INVALID_STATUS_REQUEST"


class InvalidCancellationRequest(ApplicationError):
    error_code = "INVALID_CANCELLATION_REQUEST"


class InvalidConsistency(ApplicationError):
    error_code = "INVALID_CONSISTENCY"

    def __init__(self) -> None:
        super().__init__("X-Consistency must be strong or eventual")


class NotYetReplicated(ApplicationError):
    """A `strong` write is recorded here, but some peer replica could not read it in time.
    Every write route is idempotent, so the client may retry (GET /uuid: with the
    X-Transaction-Id this answer names, or it is issued a new id)."""

    error_code = "NOT_YET_REPLICATED"

    def __init__(
        self, region_id: str, missing: tuple[str, ...], transaction_id: str, retry_after_s: int, recorded: str = ""
    ) -> None:
        recorded = recorded or f"transaction {transaction_id} is recorded in {region_id}"
        super().__init__(f"{recorded}, not yet readable in {', '.join(missing)}; retrying is safe")
        self.transaction_id = transaction_id
        self.missing = missing
        self.retry_after_s = retry_after_s


class ReportNotYetReplicated(NotYetReplicated):
    """The payment names an archived report this Region's archive does not hold yet: the Region
    that wrote it archived it before recording the event, but S3 replication may copy the object
    here after the global table copied the event (a peer's /outbox, or after a takeover).
    Answered as its base, 503 NOT_YET_REPLICATED: retrying is safe."""

    def __init__(self, region_id: str, transaction_id: str, message_type: str, retry_after_s: int) -> None:
        recorded = f"the {message_type} of transaction {transaction_id} is recorded"  # in the Region that wrote it
        super().__init__(region_id, (region_id,), transaction_id, retry_after_s, recorded)


class IdempotencyKeyReused(ApplicationError):
    """The action id (the client's Idempotency-Key) is recorded for this payment's redrive, or
    this Region's failover or failback, with another reason or action: not a retry of that
    request, and taking it as one would act (or answer) for the first and leave the second
    request's reason out of the audit trail. draft-ietf-httpapi-idempotency-key-header: a key
    reused with a different request payload SHOULD be answered 422."""

    error_code = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self, action: str = "a redrive of this transaction") -> None:
        super().__init__(f"this Idempotency-Key was used for {action} with another reason")


class CancellationDoesNotMatch(ApplicationError):
    error_code = "CANCELLATION_DOES_NOT_MATCH"

    def __init__(self) -> None:
        super().__init__("the camt.056 does not name this payment's MsgId, EndToEndId or UETR")


class NothingToCancel(ApplicationError):
    error_code = "NOTHING_TO_CANCEL"

    def __init__(self) -> None:
        super().__init__("no payment message was read for this transaction")


class ReportNotReady(ApplicationError):
    """The payment has no report of the asked kind yet (it is still in flight)."""

    error_code = "STATUS_REPORT_NOT_READY"

    def __init__(self, tx_sts: str) -> None:
        super().__init__(f"no status report yet (status {tx_sts})")
        self.tx_sts = tx_sts


class StepContended(RuntimeError):
    """A step lost the optimistic-concurrency race too often; the queue retries it."""


class RegionTakenOver(ApplicationError):
    """A peer took this Region over: it issues no transaction id until an operator fails it
    back (`POST /regions/{region}/failback`)."""

    error_code = "REGION_TAKEN_OVER"

    def __init__(self, region: str) -> None:
        super().__init__(f"Region {region} was taken over by a peer: use a peer Region until it is failed back")
        self.region = region


class NotHomeRegion(ApplicationError):
    """This Region is not the payment's home (it was taken over), or this Region is itself
    taken over (self-fencing): it runs no step of it. A step message is acknowledged."""

    error_code = "NOT_HOME_REGION"

    def __init__(self, home_region: str) -> None:
        super().__init__(f"the transaction is run by Region {home_region}; ask it")
        self.home_region = home_region


class UnknownRegion(ApplicationError):
    error_code = "REGION_NOT_FOUND"

    def __init__(self, region: str) -> None:
        super().__init__(f"{region} is not a peer of this Region")


class RegionNotTakenOver(ApplicationError):
    error_code = "REGION_NOT_TAKEN_OVER"

    def __init__(self, region: str) -> None:
        super().__init__(f"Region {region} is not taken over: nothing to fail back")
