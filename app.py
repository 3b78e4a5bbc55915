"""pacsflow: ISO 20022 payment messages, event-sourced on AWS.

The table of contents: each route and handler hands over to chalicelib in a few lines.
Queue and stream ARNs below are placeholders; infra/template.py binds each handler to
the stack's own queue or stream when `chalice package` merges the template.
"""

from pathlib import Path

from chalice import Chalice, CognitoUserPoolAuthorizer, Rate, Response

from chalicelib import api, bootstrap, observability
from chalicelib.eventstore import digests
from chalicelib.health import region_health
from chalicelib.pipeline.batch import sqs_batch
from chalicelib.projections import follower, history

service = bootstrap.service  # the Region's use cases, built once per container

app = Chalice(app_name="pacsflow")
# API Gateway checks tokens in AWS; the routes check them again in code (chalicelib/auth.py),
# with the scope each needs. infra/template.py binds the authorizer to the stack's pool.
cognito = CognitoUserPoolAuthorizer(
    "ClientCredentials", provider_arns=["arn:aws:cognito-idp:us-east-1:000000000000:userpool/bound-by-template"]
)
READ, WRITE, ADMIN = "read", "write", "admin"
SCOPE_PREFIX = "pacsflow"  # infra/template.py puts the stack's ScopePrefix in its place


def scoped(access):
    """The authorizer demanding the scope `access` needs. API Gateway's Cognito authorizer
    takes ID tokens only on a method with no scopes: client credentials issue access tokens."""
    return cognito.with_scopes([f"{SCOPE_PREFIX}/{access}"])


BOUND_BY_TEMPLATE = "arn:aws:sqs:us-east-1:000000000000:bound-by-template"
XML_AND_TEXT = [
    "application/xml",
    "text/xml",
    "text/plain",
    "application/json",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
]


# -- REST API (DESIGN.md §1) ------------------------------------------------------------


@app.middleware("http")
def observed(event, get_response):  # log keys of the request: request id, route, transaction id
    observability.api_request(event, event.path)
    return get_response(event)


@app.middleware("http")
def errors_in_one_shape(event, get_response):
    return api.in_our_error_shape(app, get_response(event))


@app.route("/", methods=["GET"])
@api.handles_errors(app)
def health():
    svc = service()
    body, status = region_health(svc.adapters, svc.failover_controller)
    return api.json_response(body, status)


OPENAPI = (Path(__file__).parent / "chalicelib" / "openapi.json").read_text(encoding="utf-8")


@app.route("/openapi.json", methods=["GET"])
@api.handles_errors(app)
def openapi():  # the API's OpenAPI 3.1 document: no token needed
    return Response(body=OPENAPI, status_code=200, headers={"Content-Type": "application/json"})


def protected(access):
    return api.handles_errors(app, access, lambda: bootstrap.token_policy())  # looked up per request


@app.route("/uuid", methods=["GET"], authorizer=scoped(WRITE))
@app.route("/transactions", methods=["POST"], content_types=XML_AND_TEXT, authorizer=scoped(WRITE))
@protected(WRITE)
def issue_transaction_id(principal):
    req_id = api.request_id(app)
    headers, svc = app.current_request.headers, service()
    level = svc.confirm.level(headers.get("x-consistency"))
    issued = headers.get("x-transaction-id") if level == "strong" else None
    if issued is None:
        payment = svc.issue_transaction(headers.get("x-message-type"), req_id, principal.tenant)
    else:  # the retry of a 503 NOT_YET_REPLICATED: the id it recorded is confirmed again, no new one
        tx = api.transaction_id(issued)
        payment = svc.issue_transaction.again(tx, headers.get("x-message-type"), principal.tenant)
    achieved = svc.confirm(level, payment)
    return api.json_response(
        {
            "transaction_id": str(payment.id),
            "region_id": payment.region_id,
            "request_id": req_id,
            "request_timestamp": payment.created_on.isoformat(),
            "message": "transaction id issued",
            **achieved.as_json(),
        }
    )


@app.route("/inbox", methods=["POST"], content_types=XML_AND_TEXT, authorizer=scoped(WRITE))
@protected(WRITE)
def inbox(principal):
    req = app.current_request
    tx = api.transaction_id(req.headers.get("x-transaction-id"))
    svc, body = service(), req.raw_body or b""
    level = svc.confirm.level(req.headers.get("x-consistency"))
    taken = svc.submit(tx, req.headers.get("x-message-type"), body, principal.tenant)
    achieved = svc.confirm(level, taken.payment, taken.archive_keys)  # the event, and what it archived
    return api.json_response(
        {
            "transaction_id": str(tx),
            "region_id": svc.adapters.settings.region_id,
            "request_id": api.request_id(app),
            "request_timestamp": api.now(),
            "message": "transaction received successfully",
            **achieved.as_json(),
        },
        status=202,
    )


@app.route("/outbox", methods=["POST"], content_types=XML_AND_TEXT, authorizer=scoped(WRITE))
@protected(WRITE)
def outbox(principal):
    headers = app.current_request.headers
    tx = api.transaction_id(headers.get("x-transaction-id"))
    report = service().status_report(tx, principal.tenant, headers.get("x-message-type"))
    return Response(body=report.decode("utf-8"), status_code=200, headers={"Content-Type": "application/xml"})


@app.route("/transactions/{transaction_id}/cancel", methods=["POST"], authorizer=scoped(WRITE))
@protected(WRITE)
def cancel(transaction_id, principal):
    tx = api.transaction_id(transaction_id)
    svc = service()
    level = svc.confirm.level(app.current_request.headers.get("x-consistency"))
    reason, case_id = api.cancellation_request(app.current_request)
    answered = svc.cancel(tx, principal.tenant, reason, case_id=case_id)
    achieved = svc.confirm(level, answered.payment, answered.archive_keys)
    answer = svc.status_report(tx, principal.tenant, "camt.029", case_id=answered.case_id)  # this case's
    return Response(
        body=answer.decode("utf-8"),
        status_code=200,
        headers={"Content-Type": "application/xml", "X-Resolution": answered.resolution, **achieved.as_headers()},
    )


@app.route("/status-requests", methods=["POST"], content_types=XML_AND_TEXT, authorizer=scoped(READ))
@protected(READ)
def status_request(principal):
    report = service().status_request(app.current_request.raw_body or b"", principal.tenant)
    return Response(body=report.decode("utf-8"), status_code=200, headers={"Content-Type": "application/xml"})


@app.route("/transactions", methods=["GET"], authorizer=scoped(READ))
@protected(READ)
def find_transactions(principal):
    svc = service()
    query = app.current_request.query_params
    found = follower.find(svc.adapters.view, principal.tenant, query, svc.adapters.check_settings.max_transactions)
    return api.json_response(found._asdict())


@app.route("/transactions/{transaction_id}", methods=["GET"], authorizer=scoped(READ))
@protected(READ)
def transaction(transaction_id, principal):
    tx = api.transaction_id(transaction_id)
    svc, request = service(), app.current_request
    level = svc.confirm.level(request.headers.get("x-consistency"))
    as_of = (request.query_params or {}).get("as_of")
    if as_of is not None:  # point in time: the fold of the events recorded until then
        at = follower.parse_as_of(as_of)
        return api.json_response(
            {**follower.state_as_of(svc.payments, tx, principal.tenant, at), "consistency": "strong"}
        )
    strong = level == "strong"  # the fold of the events, read consistently; else the view
    state = follower.current_state(svc.payments, svc.adapters.view, tx, principal.tenant, fold_events=strong)
    return api.json_response({**state, "consistency": level})


@app.route("/transactions/{transaction_id}/events", methods=["GET"], authorizer=scoped(READ))
@protected(READ)
def transaction_events(transaction_id, principal):
    tx = api.transaction_id(transaction_id)
    return api.json_response(
        {
            "transaction_id": str(tx),
            "events": history.describe(service().payments.history(tx, principal.tenant)),
        }
    )


# -- operations: redrive, failover, fail-back (docs/multi-region.md §3, §6) --------------


@app.route("/transactions/{transaction_id}/redrive", methods=["POST"], authorizer=scoped(ADMIN))
@protected(ADMIN)
def redrive(transaction_id, principal):
    tx = api.transaction_id(transaction_id)
    reason = api.operator_reason(app.current_request)
    req_id = api.request_id(app)
    redrive_id = api.action_id(app.current_request.headers.get("idempotency-key"), req_id, principal.tenant)
    step = service().redrive(tx, redrive_id, principal.client_id, reason)
    return api.json_response({"transaction_id": str(tx), "redriven": step, "request_id": req_id}, status=202)


@app.route("/regions/{region}/failover", methods=["POST"], authorizer=scoped(ADMIN))
@protected(ADMIN)
def failover(region, principal):
    reason = api.operator_reason(app.current_request)
    action = api.action_id(app.current_request.headers.get("idempotency-key"), api.request_id(app), principal.tenant)
    decision = service().failover(region, reason, principal.client_id, action_id=action)
    return api.json_response(
        {
            "region": decision.region,
            "decided": decision.decided,
            "taken_over_by": decision.taken_over_by,
            "payments": [p._asdict() for p in decision.payments],
        }
    )


@app.route("/regions/{region}/failback", methods=["POST"], authorizer=scoped(ADMIN))
@protected(ADMIN)
def failback(region, principal):
    reason = api.operator_reason(app.current_request)
    action = api.action_id(app.current_request.headers.get("idempotency-key"), api.request_id(app), principal.tenant)
    service().failover.fail_back(region, reason, principal.client_id, action_id=action)
    return api.json_response({"region": region, "failed_back": True})


@app.schedule(Rate(1, unit=Rate.MINUTES))
@observability.handler("failover")
def failover_controller(event):
    return {"decisions": [d.region for d in service().failover_controller()]}


# -- pipeline: incoming -> processing -> releasing (DESIGN.md §4) ------------------------


@app.on_sqs_message(queue_arn=BOUND_BY_TEMPLATE + ":incoming.fifo", batch_size=10)
@observability.handler("incoming")
def incoming(event):
    return sqs_batch(event, service().incoming)


@app.on_sqs_message(queue_arn=BOUND_BY_TEMPLATE + ":processing.fifo", batch_size=10)
@observability.handler("processing")
def processing(event):
    return sqs_batch(event, service().processing)


@app.on_sqs_message(queue_arn=BOUND_BY_TEMPLATE + ":releasing.fifo", batch_size=10)
@observability.handler("releasing")
def releasing(event):
    return sqs_batch(event, service().releasing)


# -- no payment stays stuck: SLA deadlines and the sweep (chalicelib/pipeline/timeouts.py) --


@app.on_sqs_message(queue_arn=BOUND_BY_TEMPLATE + ":deadlines", batch_size=10)
@observability.handler("deadlines")
def deadlines(event):
    return sqs_batch(event, service().deadline_reached)


@app.schedule(Rate(1, unit=Rate.MINUTES))
@observability.handler("sweep")
def sweep_timeouts(event):
    return {"overdue": len(service().sweep())}


# -- projection: the transaction view follows the events table's stream (DESIGN.md §5) ---


@app.on_dynamodb_record(
    stream_arn="arn:aws:dynamodb:us-east-1:000000000000:table/pacsflow-events/stream/bound-by-template",
    batch_size=100,
    starting_position="TRIM_HORIZON",
)
@observability.handler("view")
def view_follower(event):
    svc = service()
    cap = svc.adapters.check_settings.max_transactions
    return follower.follow(svc.payments, svc.adapters.view, event, max_transactions=cap)


# -- audit: digests of the event streams, from the same stream (chalicelib/eventstore/digests.py)


@app.on_dynamodb_record(
    stream_arn="arn:aws:dynamodb:us-east-1:000000000000:table/pacsflow-events/stream/bound-by-template",
    batch_size=1000,  # with the stack's DigestWindowSeconds: one digest for many payments
    starting_position="TRIM_HORIZON",
)
@observability.handler("digester")
def digester(event):
    return digests.digest_batch(bootstrap.digests(), event)
