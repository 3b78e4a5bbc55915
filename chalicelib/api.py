"""HTTP plumbing shared by the routes: ids, JSON errors, status codes.

The one place that knows HTTP status codes: the service layer raises named errors, and
`STATUS` maps each to its status. Every client error is a JSON body
`{error_code, message, request_id}` with a 4xx status; anything unexpected is logged and
answered 500 without internals.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from chalice.app import Chalice, Request, Response

from chalicelib import auth
from chalicelib.domain import IllegalTransition, action_ids
from chalicelib.eventstore.chain import set_actor
from chalicelib.pipeline import errors
from chalicelib.projections.errors import AmbiguousStatusRequest, InvalidAsOf, InvalidQuery

log = logging.getLogger(__name__)


class BadRequest(Exception):
    """A request this module cannot read (its id, its JSON body): answered as is."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


# Each named error of the service layer, and the status it is answered with.
STATUS: dict[type[Exception], int] = {
    errors.UnsupportedMessageType: 400,
    errors.EmptyBody: 400,
    errors.InvalidStatusRequest: 400,
    errors.InvalidCancellationRequest: 400,
    errors.InvalidConsistency: 400,
    InvalidQuery: 400,
    InvalidAsOf: 400,
    AmbiguousStatusRequest: 400,
    errors.PaymentNotFound: 404,
    errors.UnknownRegion: 404,
    errors.NotHomeRegion: 409,
    errors.RegionTakenOver: 409,
    errors.RegionNotTakenOver: 409,
    errors.MessageMismatch: 409,
    errors.ReportNotReady: 409,
    errors.NothingToCancel: 409,
    errors.CancellationDoesNotMatch: 409,
    IllegalTransition: 409,
    errors.MessageTooLarge: 413,
    errors.IdempotencyKeyReused: 422,
    errors.StepContended: 503,
    errors.NotYetReplicated: 503,
}


def status_of(e: Exception) -> tuple[int, str, str] | None:
    """(status, error_code, message) for a named error; None for anything else."""
    if isinstance(e, BadRequest):
        return e.status, e.error_code, str(e)
    for cls in type(e).__mro__:
        if cls in STATUS:
            if isinstance(e, errors.PaymentNotFound):
                return STATUS[cls], e.error_code, "no such transaction"
            if isinstance(e, errors.StepContended):
                return STATUS[cls], "CONTENDED", "the transaction is busy; retry"
            return STATUS[cls], getattr(e, "error_code", cls.__name__), str(e)
    return None


def request_id(app: Chalice) -> str:
    context = getattr(app.current_request, "context", None) or {}
    return context.get("requestId") or str(uuid.uuid4())


# 8-4-4-4-12 ASCII hex digits (either case). uuid.UUID alone also takes "urn:uuid:...",
# braces, no dashes and non-ASCII digits (int(..., 16) reads fullwidth or Arabic-Indic
# digits), so one transaction would answer to many spellings of its id.
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def transaction_id(value: str | None) -> uuid.UUID:
    """A transaction id as issued by GET /uuid: a UUID in canonical form."""
    text = (value or "").strip()
    if len(text) != 36 or _CANONICAL_UUID.fullmatch(text) is None:
        raise BadRequest(400, "INVALID_TRANSACTION_ID", "transaction id must be a UUID")
    return uuid.UUID(text)


def authenticate(app: Chalice, policy: auth.TokenPolicy, access: str) -> auth.Principal:
    assert app.current_request is not None
    principal = auth.verify(auth.bearer_token(app.current_request.headers.get("authorization")), policy)
    auth.require_scope(principal, policy, access)
    return principal


_CODE = re.compile(r"[A-Z0-9]{4}")  # fullmatch: `$` would let a trailing newline through
_CASE = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]{1,35}")
JSON_BODY_BYTES = 4096


JSON_BODY_DEPTH = 8  # nesting a JSON body may have (ours are flat objects)


def json_body(request: Request, what: str) -> Any:
    """A small JSON body: 413 over 4 KiB, 400 when it is not JSON or nests deeper than
    JSON_BODY_DEPTH. The depth is a limit of ours, not the interpreter's recursion limit
    (a few KiB of brackets raise RecursionError at Python's default of 1,000, and parse
    where a library has raised it)."""
    raw = request.raw_body or b"{}"
    if len(raw) > JSON_BODY_BYTES:
        raise BadRequest(413, "BODY_TOO_LARGE", f"{what} is limited to 4 KiB")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest(400, "INVALID_JSON", "the body must be a JSON object") from None
    if _depth(body) > JSON_BODY_DEPTH:
        raise BadRequest(400, "INVALID_JSON", f"the body nests deeper than {JSON_BODY_DEPTH}")
    return body


def _depth(value: Any) -> int:
    """How deep lists and objects nest in a parsed JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def cancellation_request(request: Request) -> tuple[str, str | None]:
    """The JSON body of POST /transactions/{id}/cancel: {"reason": "DUPL", "case_id": "..."}."""
    body = json_body(request, "the cancellation request")
    if not isinstance(body, dict) or set(body) - {"reason", "case_id"}:
        raise BadRequest(400, "INVALID_CANCELLATION_REQUEST", "expected {reason, case_id}")
    reason, case_id = body.get("reason", "CUST"), body.get("case_id")
    if not isinstance(reason, str) or not _CODE.fullmatch(reason):
        raise BadRequest(
            400, "INVALID_CANCELLATION_REQUEST", "reason must be an ISO cancellation reason code (e.g. DUPL)"
        )
    if case_id is not None and (not isinstance(case_id, str) or not _CASE.fullmatch(case_id)):
        raise BadRequest(400, "INVALID_CANCELLATION_REQUEST", "case_id must be 1 to 35 ISO characters")
    return reason, case_id


def operator_reason(request: Request) -> str:
    """The JSON body of an operator's action: {"reason": "..."} (1 to 500 characters)."""
    body = json_body(request, "the request")
    reason = body.get("reason") if isinstance(body, dict) else None
    if (
        not isinstance(body, dict)
        or set(body) - {"reason"}
        or not isinstance(reason, str)
        or not 0 < len(reason) <= 500
    ):
        raise BadRequest(400, "INVALID_OPERATOR_REQUEST", "expected {reason}: 1 to 500 characters")
    return reason


# The Idempotency-Key header (IETF draft-ietf-httpapi-idempotency-key-header): printable
# ASCII without separators, so it can be recorded and logged as is. fullmatch: `$` lets "\n" by.
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:\-]{1,64}")


def action_id(idempotency_key: str | None, request: str, tenant: str) -> str:
    """The id an operator's action is recorded once under: the client's `Idempotency-Key`,
    namespaced by the tenant (chalicelib/domain/action_ids.py: the same in every Region, so a
    retry through another Region's pool is the same action), so a retry of the same request
    records nothing twice; without it, the request's own id."""
    if idempotency_key is None:
        return request
    if not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise BadRequest(
            400, "INVALID_IDEMPOTENCY_KEY", "Idempotency-Key must be 1 to 64 characters of A-Z a-z 0-9 . _ : -"
        )
    return action_ids.keyed(tenant, idempotency_key)


def now() -> str:
    return datetime.now(UTC).isoformat()


def _default(value: Any) -> Any:
    if isinstance(value, (datetime,)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(type(value).__name__)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, default=_default),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error(app: Chalice, status: int, error_code: str, message: str) -> Response:
    return json_response({"error_code": error_code, "message": message, "request_id": request_id(app)}, status)


def in_our_error_shape(app: Chalice, response: Response) -> Response:
    """Chalice answers some client errors itself (415 for a Content-Type a route does not take,
    with its own {Code, Message}); give them the API's {error_code, message, request_id}."""
    if response.status_code == 415:
        return error(app, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be XML, text, JSON or octet-stream")
    return response


Route = Callable[..., Response]


def handles_errors(
    app: Chalice, access: str | None = None, policy: Callable[[], auth.TokenPolicy] | None = None
) -> Callable[[Route], Route]:
    """Decorate a route so domain and client errors become JSON 4xx answers.

    With `access` ("read" or "write") the route requires a bearer token with that scope
    and receives the authenticated client as `principal`.
    """

    def decorate(route: Route) -> Route:
        @functools.wraps(route)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            try:
                if access is not None:
                    assert policy is not None, "a protected route needs a token policy"
                    kwargs["principal"] = authenticate(app, policy(), access)
                    set_actor(client=kwargs["principal"].client_id)  # who did what (eventstore/chain.py)
                return route(*args, **kwargs)
            except auth.AuthError as e:
                challenge = f'Bearer error="{e.error}"' + (
                    f', scope="{policy().scope(access)}"' if access and policy else ""
                )
                response = error(app, e.status, e.error_code, str(e))
                response.headers["WWW-Authenticate"] = challenge
                return response
            except Exception as e:
                known = status_of(e)
                if known is not None:
                    response = error(app, *known)
                    if isinstance(e, errors.NotYetReplicated):  # recorded here: when, and what, to retry
                        response.headers["Retry-After"] = str(e.retry_after_s)
                        response.headers["X-Transaction-Id"] = e.transaction_id
                    return response
                log.error(
                    "unexpected error", extra={"error_type": type(e).__name__}
                )  # its message may quote the request
                log.debug("unexpected error", exc_info=True)
                return error(app, 500, "INTERNAL_ERROR", "internal error; the request can be retried")

        return wrapper

    return decorate
