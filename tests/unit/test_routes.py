"""Every HTTP route of app.py, in process: Chalice's test client over the in-memory service.

The routes are called as API Gateway would call them (chalice.test.Client), with bearer
tokens signed by a key of our own (the pool's JWKS is faked at `auth._jwks`) and the
service replaced by the in-memory one (`app.service`). Each test asserts the status, the
content type and, for every error, the one JSON shape `{error_code, message, request_id}`.
The last test fails when a route of app.py is called by no test here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote
from uuid import UUID

import jwt
import pytest
from chalice.test import Client
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

import app as app_module
from chalicelib import api, auth, bootstrap
from chalicelib.adapters.replication import PeerReplicas
from chalicelib.adapters.settings import Settings
from chalicelib.domain import IllegalTransition, MessageMismatch
from chalicelib.iso20022 import validate_pacs002
from chalicelib.pipeline import errors
from chalicelib.pipeline.consistency import Confirm
from chalicelib.pipeline.messages import StepMessage
from chalicelib.pipeline.status_report import REPLICATION_RETRY_AFTER_S
from chalicelib.projections import follower
from chalicelib.projections.errors import AmbiguousStatusRequest, InvalidAsOf, InvalidQuery
from tests.messages import EVENTS, fresh, redated
from tests.unit.fakes import MemoryQueue, MemoryView, drain, memory_adapters

# Chalice's local gateway admits every request to a Cognito-authorized route (it cannot
# check client-credentials tokens) and says so; the routes check the token themselves.
pytestmark = pytest.mark.filterwarnings("ignore:CognitoUserPoolAuthorizer:UserWarning")

APP = app_module.app
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_routes"
JWKS_URL = "https://keys.invalid/.well-known/jwks.json"
# client-a2 is client-a's tenant's client in another Region's pool (the same tenant, another id)
POOL = {"token_issuer": ISSUER, "jwks_url": JWKS_URL, "scope_prefix": "pacsflow", "tenants": {"client-a2": "client-a"}}
PEER = "eu-central-1"
ADMIN = "pacsflow/admin"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
STRANGER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OWNER, OTHER = "client-a", "client-b"
MAX_MESSAGE_BYTES = 64 * 1024
XML = {"Content-Type": "application/xml"}
JSON = {"Content-Type": "application/json"}
PACS002 = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}
CAMT029 = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.029.001.09"}
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def token(
    client_id: str | None = OWNER, scope: str | None = "pacsflow/read pacsflow/write", key=KEY, **claims: Any
) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "token_use": "access",
        "client_id": client_id,
        "iat": now,
        "exp": now + 300,
        "scope": scope,
        **claims,
    }
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm="RS256")


# -- which routes the tests called -------------------------------------------------------

ROUTES = {(path, method) for path, methods in APP.routes.items() for method in methods}
CALLED: set[tuple[str, str]] = set()
RAN: set[str] = set()


def route_of(method: str, path: str) -> tuple[str, str] | None:
    bare = path.split("?", 1)[0]
    for pattern, m in ROUTES:
        if m == method and re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", pattern), bare):
            return pattern, m
    return None


@pytest.fixture(autouse=True)
def _ran(request):
    RAN.add(request.node.nodeid)


# -- the pool's keys and the token policy ------------------------------------------------


class Keys:
    """`auth._jwks` for the tests: the pool's JWKS client, answering with our public key."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.down = False

    def __call__(self, url: str) -> Keys:
        self.urls.append(url)
        return self

    def get_signing_key_from_jwt(self, raw: str) -> SimpleNamespace:
        if self.down:
            raise jwt.PyJWKClientConnectionError("the JWKS endpoint did not answer")
        return SimpleNamespace(key=KEY.public_key())


@pytest.fixture(autouse=True)
def keys(monkeypatch) -> Keys:
    """Our issuer and scope prefix for every protected route.

    app.py hands `bootstrap.token_policy` itself to `api.handles_errors` when the routes are
    decorated (at import), so replacing the module attribute later changes nothing; the
    policy function reads `bootstrap.settings` when called and is cached, so the settings are
    replaced and the cache is emptied before and after each test.
    """
    k = Keys()
    monkeypatch.setattr(auth, "_jwks", k)
    monkeypatch.setattr(bootstrap, "settings", lambda: Settings(**POOL))
    bootstrap.token_policy.cache_clear()
    yield k
    bootstrap.token_policy.cache_clear()


# -- the API over an in-memory Region ----------------------------------------------------


class Api:
    def __init__(self, svc: bootstrap.Service, view: MemoryView) -> None:
        self.svc = svc
        self.view = view
        self.client = Client(APP)

    def call(
        self,
        method: str,
        path: str,
        *,
        auth_as: str | None = "default",
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
    ):
        h = dict(headers or {})
        if auth_as is not None:
            h["Authorization"] = f"Bearer {token() if auth_as == 'default' else auth_as}"
        called = route_of(method, path)
        if called is not None:
            CALLED.add(called)
        raw = body.encode() if isinstance(body, str) else body
        return self.client.http.request(method, path, headers=h, body=raw)

    # The steps of a payment, over HTTP.

    def issue(self, auth_as: str | None = "default") -> str:
        r = self.call("GET", "/uuid", auth_as=auth_as)
        assert r.status_code == 200, r.body
        return r.json_body["transaction_id"]

    def submit(self, tx: str, body: bytes, message_type: str = "pacs.008", auth_as: str | None = "default"):
        return self.call(
            "POST",
            "/inbox",
            body=body,
            auth_as=auth_as,
            headers={**XML, "X-Transaction-Id": tx, "X-Message-Type": message_type},
        )

    def pay(self, body: bytes | None = None) -> tuple[str, bytes]:
        """A transaction id with a pacs.008 taken for it (202); nothing processed yet."""
        body = body or fresh("pacs008_bare.xml")
        tx = self.issue()
        r = self.submit(tx, body)
        assert r.status_code == 202, r.body
        return tx, body

    def outbox(self, tx: str, message_type: str | None = None, auth_as: str | None = "default"):
        headers = {**XML, "X-Transaction-Id": tx, **({"X-Message-Type": message_type} if message_type else {})}
        return self.call("POST", "/outbox", headers=headers, auth_as=auth_as)

    def cancel(self, tx: str, body: dict[str, Any] | bytes | None = None, auth_as: str | None = "default"):
        raw = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        return self.call("POST", f"/transactions/{tx}/cancel", body=raw, headers=JSON, auth_as=auth_as)

    def settle(self) -> tuple[str, bytes]:
        """A payment run through every step and followed into the view."""
        tx, body = self.pay()
        drain(self.svc)
        self.follow(tx)
        return tx, body

    def steps(self, *names: str) -> None:
        """Deliver the queued messages of the named steps only (in order)."""
        for name in names:
            queue, handler = getattr(self.svc.adapters, name), getattr(self.svc, name)
            assert isinstance(queue, MemoryQueue)
            while queue.sent:
                tx, _, body = queue.sent.pop(0)
                handler(StepMessage(UUID(tx), body, 1))

    def follow(self, *txs: str) -> None:
        """The view follower, as the events table's stream invokes it."""
        records = [
            {
                "eventID": str(n),
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/pacsflow-events/stream/x",
                "dynamodb": {
                    "Keys": {"pk": {"S": tx}, "sk": {"N": "1"}},
                    "SequenceNumber": str(100 + n),
                    "ApproximateCreationDateTime": time.time(),
                    "SizeBytes": 100,
                    "StreamViewType": "KEYS_ONLY",
                },
            }
            for n, tx in enumerate(txs)
        ]
        answer = self.client.lambda_.invoke("view_follower", {"Records": records})
        assert answer.payload == {"batchItemFailures": []}


@pytest.fixture
def http(monkeypatch) -> Api:
    view = MemoryView()
    svc = bootstrap.build(
        # steps hand over by queue: a test can hold a payment at a step (`Api.steps`)
        Settings(
            max_message_bytes=MAX_MESSAGE_BYTES, peers={PEER: "https://peer.invalid"}, step_handoff="queue", **POOL
        ),
        **{**memory_adapters(), "view": view},
    )
    monkeypatch.setattr(app_module, "service", lambda: svc)
    return Api(svc, view)


def stubbed(monkeypatch, **use_cases: Any) -> Api:
    """The API over a service of stubs (for errors no real request can provoke)."""
    no_peers = Confirm(PeerReplicas("pacsflow-events", [], {}), "us-east-1", "eventual", 0.0)
    svc = SimpleNamespace(**{"confirm": no_peers, **use_cases})
    monkeypatch.setattr(app_module, "service", lambda: svc)
    return Api(svc, MemoryView())  # type: ignore[arg-type]


def raising(e: BaseException) -> Callable[..., Any]:
    def use_case(*args: Any, **kwargs: Any) -> Any:
        raise e

    return use_case


# -- what every answer looks like --------------------------------------------------------


def header(response, name: str) -> str | None:
    return next((v for k, v in response.headers.items() if k.lower() == name.lower()), None)


def content_type(response) -> str:
    return (header(response, "Content-Type") or "").split(";")[0].strip()


def assert_error(response, status: int, error_code: str) -> dict[str, Any]:
    assert response.status_code == status, response.body
    assert content_type(response) == "application/json"
    body = json.loads(response.body)
    assert set(body) == {"error_code", "message", "request_id"}, body
    assert body["error_code"] == error_code, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["request_id"], str) and body["request_id"]
    return body


def assert_json(response, status: int = 200) -> Any:
    assert response.status_code == status, response.body
    assert content_type(response) == "application/json"
    return json.loads(response.body)


def assert_xml(response, root_ns: str) -> etree._Element:
    assert response.status_code == 200, response.body
    assert content_type(response) == "application/xml"
    doc = etree.fromstring(response.body)
    assert etree.QName(doc).namespace == root_ns
    return doc


def ids_of(message: bytes) -> dict[str, str]:
    doc = etree.fromstring(message)
    return {
        "uetr": doc.findtext(".//{*}CdtTrfTxInf/{*}PmtId/{*}UETR"),
        "end_to_end_id": doc.findtext(".//{*}CdtTrfTxInf/{*}PmtId/{*}EndToEndId"),
        "msg_id": doc.findtext(".//{*}GrpHdr/{*}MsgId"),
    }


def pacs028(uetr: str | None, end_to_end_id: str) -> bytes:
    """events/pacs028_status_request.xml, dated today, naming the given payment."""
    text = redated((EVENTS / "pacs028_status_request.xml").read_bytes()).decode()
    text = re.sub(r"<MsgId>[^<]*</MsgId>", f"<MsgId>STSREQ-{uuid.uuid4().hex[:12]}</MsgId>", text)
    text = re.sub(
        r"<OrgnlEndToEndId>[^<]*</OrgnlEndToEndId>", f"<OrgnlEndToEndId>{end_to_end_id}</OrgnlEndToEndId>", text
    )
    if uetr:
        text = re.sub(r"<OrgnlUETR>[^<]*</OrgnlUETR>", f"<OrgnlUETR>{uetr}</OrgnlUETR>", text)
    else:
        text = re.sub(r"\s*<OrgnlUETR>[^<]*</OrgnlUETR>", "", text)
    return text.encode()


def tx_sts(doc: etree._Element) -> str | None:
    return doc.findtext(".//p:TxInfAndSts/p:TxSts", namespaces=PACS002) or doc.findtext(
        ".//p:GrpSts", namespaces=PACS002
    )


# == happy paths ==========================================================================


def test_get_uuid_issues_a_transaction_id_owned_by_the_caller(http):
    r = http.call("GET", "/uuid")
    body = assert_json(r)
    assert set(body) == {
        "transaction_id",
        "region_id",
        "request_id",
        "request_timestamp",
        "message",
        "consistency",
        "replicated_to",
    }
    assert body["consistency"] == "eventual" and body["replicated_to"] == [body["region_id"]]  # no peers here
    assert UUID_TEXT.fullmatch(body["transaction_id"]) and body["request_id"]
    assert body["region_id"] == http.svc.adapters.settings.region_id
    payment = http.svc.payments.get_payment(UUID(body["transaction_id"]), OWNER)
    assert payment.message_type == "pacs.008"


def test_post_transactions_issues_a_transaction_id_like_get_uuid(http):
    r = http.call("POST", "/transactions", headers={**XML, "X-Message-Type": "camt.056.001.08"})
    body = assert_json(r)
    assert UUID_TEXT.fullmatch(body["transaction_id"])
    assert http.svc.payments.get_payment(UUID(body["transaction_id"]), OWNER).message_type == "camt.056"


def test_inbox_takes_a_pacs008_with_202_and_a_repeat_of_it_queues_nothing(http):
    tx = http.issue()
    message = fresh("pacs008_bare.xml")
    body = assert_json(http.submit(tx, message), 202)
    assert body["transaction_id"] == tx and body["message"] == "transaction received successfully"
    assert set(body) == {
        "transaction_id",
        "region_id",
        "request_id",
        "request_timestamp",
        "message",
        "consistency",
        "replicated_to",
    }
    assert [step for _, step, _ in http.svc.adapters.incoming.sent] == ["incoming"]
    assert_json(http.submit(tx, message), 202)  # a retried POST: the same step (FIFO deduplicates it by hash)
    queue = http.svc.adapters.incoming
    first, again = (body for _, _, body in queue.sent + queue.deduplicated)
    assert len(queue.sent) == 1
    assert first["sha256"] == again["sha256"] and first["key"] == again["key"]
    drain(http.svc)
    assert_json(http.submit(tx, message), 202)  # once received: taken, nothing queued
    assert http.svc.adapters.incoming.sent == []


def test_outbox_is_not_ready_before_release_then_answers_the_pacs002(http):
    tx, _ = http.pay()
    body = assert_error(http.outbox(tx), 409, "STATUS_REPORT_NOT_READY")
    assert "ACCP" in body["message"]
    drain(http.svc)
    r = http.outbox(tx, "pacs.002")
    doc = assert_xml(r, PACS002["p"])
    validate_pacs002(r.body)
    assert tx_sts(doc) == "ACSC"
    assert http.outbox(tx).body == r.body  # the default kind is the pacs.002


def test_cancel_before_release_is_cncl_with_a_camt029_and_a_canc_report(http):
    tx, _ = http.pay()
    http.steps("incoming", "processing")  # accepted, release still queued
    r = http.cancel(tx, {"reason": "DUPL", "case_id": "CASE-1"})
    doc = assert_xml(r, CAMT029["c"])
    assert header(r, "X-Resolution") == "CNCL"
    assert doc.findtext(".//c:Sts/c:Conf", namespaces=CAMT029) == "CNCL"
    again = http.cancel(tx, {"reason": "DUPL", "case_id": "CASE-1"})  # the same case: the same answer
    assert again.status_code == 200 and again.body == r.body and header(again, "X-Resolution") == "CNCL"
    drain(http.svc)
    assert tx_sts(assert_xml(http.outbox(tx), PACS002["p"])) == "CANC"
    assert http.outbox(tx, "camt.029").body == r.body


def test_cancel_after_release_for_a_customer_reason_is_refused_rjcr(http):
    tx, _ = http.settle()
    r = http.cancel(tx)  # no body: reason CUST
    doc = assert_xml(r, CAMT029["c"])
    assert header(r, "X-Resolution") == "RJCR"
    assert doc.findtext(".//c:Sts/c:Conf", namespaces=CAMT029) == "RJCR"


def test_a_retried_cancellation_case_gets_its_own_camt029_not_the_newest_cases(http):
    tx, _ = http.settle()
    first = http.cancel(tx, {"reason": "CUST", "case_id": "CASE-A"})  # settled: refused
    assert header(first, "X-Resolution") == "RJCR"
    second = http.cancel(tx, {"reason": "DUPL", "case_id": "CASE-B"})  # returned (pacs.004)
    assert header(second, "X-Resolution") == "CNCL"
    again = http.cancel(tx, {"reason": "CUST", "case_id": "CASE-A"})  # the retry of CASE-A
    assert header(again, "X-Resolution") == "RJCR" and again.body == first.body
    assert http.outbox(tx, "camt.029").body == second.body  # /outbox names no case: the newest


def test_status_request_answers_a_pacs028_with_the_payments_pacs002_now(http):
    _, message = http.settle()
    ids = ids_of(message)
    for request in (pacs028(ids["uetr"], ids["end_to_end_id"]), pacs028(None, ids["end_to_end_id"])):
        r = http.call("POST", "/status-requests", body=request, headers=XML)
        doc = assert_xml(r, PACS002["p"])
        assert tx_sts(doc) == "ACSC"
        assert doc.findtext(".//p:OrgnlGrpInfAndSts/p:OrgnlMsgId", namespaces=PACS002) == ids["msg_id"]
        assert doc.findtext(".//p:TxInfAndSts/p:OrgnlUETR", namespaces=PACS002) == ids["uetr"]


def every_transactions_ids(message: bytes) -> list[dict[str, str]]:
    doc = etree.fromstring(message)
    return [
        {"uetr": t.findtext("{*}PmtId/{*}UETR"), "end_to_end_id": t.findtext("{*}PmtId/{*}EndToEndId")}
        for t in doc.iterfind(".//{*}CdtTrfTxInf")
    ]


def test_any_transaction_of_a_message_is_found_and_answered_with_its_own_status(http):
    """A pacs.028 or a lookup naming the second transaction of a pacs.008 finds the payment (the
    view indexes every transaction, not only the first); the pacs.002 gives that transaction's
    own status; another tenant finds nothing."""
    tx, message = http.pay(fresh("pacs008_two_txs.xml").replace(b">99.5<", b">99.555<"))  # tx 2: RJCT
    drain(http.svc)
    http.follow(tx)
    first, second = every_transactions_ids(message)
    for request in (pacs028(second["uetr"], second["end_to_end_id"]), pacs028(None, second["end_to_end_id"])):
        doc = assert_xml(http.call("POST", "/status-requests", body=request, headers=XML), PACS002["p"])
        answered = {
            t.findtext("p:OrgnlUETR", namespaces=PACS002): t.findtext("p:TxSts", namespaces=PACS002)
            for t in doc.iterfind(".//p:TxInfAndSts", namespaces=PACS002)
        }
        assert answered == {first["uetr"]: "ACSC", second["uetr"]: "RJCT"}
        theirs = http.call("POST", "/status-requests", body=request, headers=XML, auth_as=token(OTHER))
        assert_error(theirs, 404, "TRANSACTION_NOT_FOUND")
    # every identifier given must be the same transaction's: the first's UETR, the second's EndToEndId
    mixed = http.call("POST", "/status-requests", body=pacs028(first["uetr"], second["end_to_end_id"]), headers=XML)
    assert_error(mixed, 404, "TRANSACTION_NOT_FOUND")
    for ids in (first, second):
        for query in (f"uetr={ids['uetr']}", f"end_to_end_id={ids['end_to_end_id']}"):
            found = assert_json(http.call("GET", f"/transactions?{query}"))["transactions"]
            assert [(t["transaction_id"], t["tx_statuses"]) for t in found] == [(tx, ["ACSC", "RJCT"])]
            other = http.call("GET", f"/transactions?{query}", auth_as=token(OTHER))
            assert assert_json(other) == {"transactions": [], "truncated": False}


def test_find_transactions_by_uetr_or_end_to_end_id_gives_the_callers_own(http):
    tx, message = http.settle()
    ids = ids_of(message)
    for query in (f"uetr={ids['uetr']}", f"end_to_end_id={ids['end_to_end_id']}"):
        found = assert_json(http.call("GET", f"/transactions?{query}"))["transactions"]
        assert [(t["transaction_id"], t["owner"], t["status"]) for t in found] == [(tx, OWNER, "ACSC")]
        assert found[0]["uetr"] == ids["uetr"]
        other = http.call("GET", f"/transactions?{query}", auth_as=token(OTHER))
        assert assert_json(other) == {"transactions": [], "truncated": False}  # another's do not exist


def test_a_lookup_answers_at_most_its_limit_and_says_it_was_cut(http, monkeypatch):
    message = fresh("pacs008_bare.xml")  # sent again and again: one EndToEndId, many transactions
    sent = [http.pay(message)[0] for _ in range(5)]
    drain(http.svc)
    http.follow(*sent)
    read: list[str] = []
    get = http.view.get
    monkeypatch.setattr(http.view, "get", lambda tid: read.append(tid) or get(tid))
    e2e = ids_of(message)["end_to_end_id"]
    cut = assert_json(http.call("GET", f"/transactions?end_to_end_id={e2e}&limit=3"))
    assert len(cut["transactions"]) == 3 and cut["truncated"] is True
    assert len(read) == 4  # no record read beyond the one more that says more matched
    whole = assert_json(http.call("GET", f"/transactions?end_to_end_id={e2e}&limit=5"))
    assert sorted(t["transaction_id"] for t in whole["transactions"]) == sorted(sent)
    assert whole["truncated"] is False
    default = assert_json(http.call("GET", f"/transactions?end_to_end_id={e2e}"))
    assert len(default["transactions"]) == 5 and default["truncated"] is False


DOC_LIMIT_DEFAULT = next(
    p["schema"]["default"]
    for p in json.loads((Path(app_module.__file__).parent / "chalicelib" / "openapi.json").read_text())["paths"][
        "/transactions"
    ]["get"]["parameters"]
    if p.get("name") == "limit"
)


def test_a_lookups_default_limit_is_its_documented_one(http, monkeypatch):
    found: list[int | None] = []
    monkeypatch.setattr(http.view, "find", lambda owner, field, value, most=None, page=None: found.append(page) or [])
    assert_json(http.call("GET", "/transactions?uetr=x"))
    assert found == [DOC_LIMIT_DEFAULT + 1]  # the default openapi.json documents, and one more: whether there were more


@pytest.mark.parametrize("limit", ["0", "-1", "101", "x", "1.5", "", "\u0661", " 5"])
def test_a_lookup_limit_outside_1_to_100_is_400(http, limit):
    assert_error(http.call("GET", f"/transactions?uetr=x&limit={quote(limit)}"), 400, "INVALID_QUERY")


def test_transaction_state_comes_from_the_view_or_the_events_before_the_follower(http):
    tx, message = http.pay()
    drain(http.svc)
    assert http.view.get(tx) is None
    before = assert_json(http.call("GET", f"/transactions/{tx}"))  # read-your-writes: folded from the events
    assert (before["transaction_id"], before["owner"], before["status"]) == (tx, OWNER, "ACSC")
    http.follow(tx)
    after = assert_json(http.call("GET", f"/transactions/{tx}"))
    assert after["status"] == "ACSC" and after["uetr"] == ids_of(message)["uetr"]
    assert after["version"] == before["version"]


def test_transaction_events_is_the_hash_chained_history(http):
    tx, _ = http.settle()
    body = assert_json(http.call("GET", f"/transactions/{tx}/events"))
    assert body["transaction_id"] == tx
    events = body["events"]
    assert [e["type"] for e in events] == ["Initiated", "Submitted", "Received", "Accepted", "Released"]
    assert [e["version"] for e in events] == [1, 2, 3, 4, 5]
    assert events[0]["previous_hash"] is None
    assert all(later["previous_hash"] == earlier["hash"] for earlier, later in pairwise(events))


def test_transaction_as_of_each_step_is_the_state_then_and_a_bad_timestamp_is_400(http):
    tx, _ = http.settle()
    events = http.svc.payments.history(UUID(tx))
    statuses = []
    for event in events:
        at = quote(event.timestamp.isoformat())
        body = assert_json(http.call("GET", f"/transactions/{tx}?as_of={at}"))
        assert body["version"] == event.originator_version
        statuses.append(body["status"])
    assert statuses == ["ACCP", "ACCP", "ACTC", "ACSP", "ACSC"]  # Initiated, Submitted, Received, ...
    before = quote((events[0].timestamp - timedelta(seconds=1)).isoformat())
    assert_error(http.call("GET", f"/transactions/{tx}?as_of={before}"), 404, "TRANSACTION_NOT_FOUND")
    assert_error(http.call("GET", f"/transactions/{tx}?as_of=yesterday"), 400, "INVALID_AS_OF")
    other = http.call(
        "GET", f"/transactions/{tx}?as_of={quote(events[-1].timestamp.isoformat())}", auth_as=token(OTHER)
    )
    assert_error(other, 404, "TRANSACTION_NOT_FOUND")


def test_every_outbox_fetch_is_recorded_as_report_retrieved(http):
    tx, _ = http.settle()
    first, second = http.outbox(tx), http.outbox(tx)
    assert first.status_code == second.status_code == 200
    records = http.svc.adapters.retrievals.of(tx)
    assert len(records) == 2
    assert {(r.client_id, r.message_type, r.sha256) for r in records} == {
        (
            OWNER,
            "pacs.002",
            hashlib.sha256(first.body if isinstance(first.body, bytes) else first.body.encode()).hexdigest(),
        )
    }
    assert all(r.archive_key for r in records)
    assert http.outbox(tx, auth_as=token(OTHER)).status_code == 404
    assert len(http.svc.adapters.retrievals.of(tx)) == 2  # another's failed fetch retrieved nothing


@pytest.mark.parametrize("message_type", ["camt.029", "pacs.004"])
def test_an_archived_report_not_yet_replicated_here_is_503_not_yet_replicated(http, message_type):
    from tests.unit.test_openapi import conforms  # it imports this module

    tx, _ = http.settle()
    assert http.cancel(tx, {"reason": "DUPL"}).status_code == 200  # returned: a camt.029 and a pacs.004
    archive = http.svc.adapters.archive.objects
    outbound = [k for k in archive if k.startswith("outbound/")]
    for key in outbound:  # as a peer holds them before S3 replication
        del archive[key]
    fetched = len(http.svc.adapters.retrievals.of(tx))  # the cancel's answer
    r = http.outbox(tx, message_type)  # read from the archive (a pacs.002 is rebuilt from the events)
    assert_error(r, 503, "NOT_YET_REPLICATED")
    assert not any(key in r.body.decode() for key in outbound) and "sha256" not in r.body.decode()
    conforms(r, "/outbox", "POST")
    assert header(r, "Retry-After") == str(REPLICATION_RETRY_AFTER_S)
    assert len(http.svc.adapters.retrievals.of(tx)) == fetched  # nothing more was fetched


def test_report_retrieved_names_the_client_that_fetched_not_its_tenant(http):
    tx, _ = http.settle()
    r = http.outbox(tx, auth_as=token(client_id="client-a2"))  # client-a's tenant, another pool's client
    assert r.status_code == 200
    (record,) = http.svc.adapters.retrievals.of(tx)
    assert record.client_id == "client-a2"


def test_health_needs_no_token_and_says_ok(http):
    body = assert_json(http.call("GET", "/", auth_as=None))
    assert body["status"] == "ok" and set(body["checks"].values()) == {"ok"}
    assert set(body["checks"]) == {
        "event_store",
        "transaction_view",
        "archive",
        "incoming_queue",
        "processing_queue",
        "releasing_queue",
    }
    s = http.svc.adapters.settings
    assert s.events_table in http.view.described and s.transactions_table in http.view.described


def test_health_shows_this_regions_view_of_each_peer(http):
    body = assert_json(http.call("GET", "/", auth_as=None))
    assert body["taken_over"] is False
    assert body["peers"] == [
        {"region": PEER, "heartbeat_age_s": None, "failed_probes": 0, "taken_over": False, "failover_proposed": False}
    ]


# == operations: redrive, failover, fail-back (admin scope) ================================


def admin(client_id: str = "ops") -> str:
    return token(client_id=client_id, scope=ADMIN)


def test_redrive_resends_the_step_the_recorded_state_calls_for_202(http):
    tx, _ = http.pay()
    http.steps("incoming")
    http.svc.adapters.processing.sent.clear()  # the processing message was lost
    r = http.call("POST", f"/transactions/{tx}/redrive", auth_as=admin(), headers=JSON, body='{"reason": "lost"}')
    assert assert_json(r, 202)["redriven"] == "processing"
    drain(http.svc)
    assert tx_sts(assert_xml(http.outbox(tx), PACS002["p"])) == "ACSC"
    history = http.svc.payments.history(UUID(tx))
    [redriven] = [e for e in history if type(e).__name__ == "Redriven"]
    assert (redriven.who, redriven.why, redriven.from_step) == ("ops", "lost", "processing")


def redriven_events(http, tx: str) -> list[Any]:
    return [e for e in http.svc.payments.history(UUID(tx)) if type(e).__name__ == "Redriven"]


def test_a_retried_redrive_with_its_idempotency_key_redrives_once(http):
    tx, _ = http.pay()
    http.steps("incoming")
    once = {**JSON, "Idempotency-Key": "op-2026-11-30-001"}
    for _ in range(2):  # the client's retry (or API Gateway's): each call has a request id of its own
        r = http.call("POST", f"/transactions/{tx}/redrive", auth_as=admin(), headers=once, body='{"reason": "lost"}')
        assert assert_json(r, 202)["redriven"] == "processing"
    assert len(redriven_events(http, tx)) == 1
    another = {**JSON, "Idempotency-Key": "op-2026-11-30-002"}
    http.call("POST", f"/transactions/{tx}/redrive", auth_as=admin(), headers=another, body='{"reason": "lost"}')
    assert len(redriven_events(http, tx)) == 2


def test_an_idempotency_key_reused_with_another_reason_is_422_and_redrives_nothing(http):
    """Not a retry (draft-ietf-httpapi-idempotency-key-header: another payload, 422): nothing
    recorded, no step sent; the same key with the first reason is still a retry."""
    tx, _ = http.pay()
    http.steps("incoming")
    key = {**JSON, "Idempotency-Key": "inc-4711-1"}
    path = f"/transactions/{tx}/redrive"
    assert http.call("POST", path, auth_as=admin(), headers=key, body='{"reason": "lost"}').status_code == 202
    http.svc.adapters.processing.sent.clear()
    r = http.call("POST", path, auth_as=admin(), headers=key, body='{"reason": "stuck again"}')
    assert_error(r, 422, "IDEMPOTENCY_KEY_REUSED")
    assert [e.why for e in redriven_events(http, tx)] == ["lost"]
    assert http.svc.adapters.processing.sent == []
    r = http.call("POST", path, auth_as=admin(), headers=key, body='{"reason": "lost"}')
    assert assert_json(r, 202)["redriven"] == "processing"
    assert len(redriven_events(http, tx)) == 1


def test_an_idempotency_key_is_the_tenants_own(http):
    """Two tenants' operators choosing the same key are two redrives; the same tenant's client
    in another Region's pool (client-a2 for client-a) retries the same one."""
    tx, _ = http.pay()
    http.steps("incoming")
    key = {**JSON, "Idempotency-Key": "retry-1"}
    for operator in ("ops", "ops-2", "client-a", "client-a2"):
        r = http.call(
            "POST", f"/transactions/{tx}/redrive", auth_as=admin(operator), headers=key, body='{"reason": "x"}'
        )
        assert r.status_code == 202
    assert [e.who for e in redriven_events(http, tx)] == ["ops", "ops-2", "client-a"]


def test_a_redrive_without_an_idempotency_key_is_one_per_request(http):
    tx, _ = http.pay()
    http.steps("incoming")
    for _ in range(2):
        r = http.call("POST", f"/transactions/{tx}/redrive", auth_as=admin(), headers=JSON, body='{"reason": "x"}')
        assert r.status_code == 202
    assert len(redriven_events(http, tx)) == 2


@pytest.mark.parametrize("key", ["", " ", "a" * 65, "key\n", "k\u00e9y", "a b", "key;x", "\u0661\u0662"])
def test_an_idempotency_key_that_is_not_1_to_64_safe_characters_is_400(http, key):
    tx, _ = http.pay()
    headers = {**JSON, "Idempotency-Key": key}
    r = http.call("POST", f"/transactions/{tx}/redrive", auth_as=admin(), headers=headers, body='{"reason": "x"}')
    assert_error(r, 400, "INVALID_IDEMPOTENCY_KEY")
    assert redriven_events(http, tx) == []


def test_redrive_of_an_unknown_transaction_is_404(http):
    r = http.call(
        "POST", f"/transactions/{uuid.uuid4()}/redrive", auth_as=admin(), headers=JSON, body='{"reason": "x"}'
    )
    assert_error(r, 404, "TRANSACTION_NOT_FOUND")


DEEP = b"[" * 1500 + b"]" * 1500  # 3 KB that json.loads cannot nest at the default recursion limit


@pytest.fixture(params=[None, 20_000])
def recursion_limit(request):
    """JSON depth is refused by our limit, whatever a library set the interpreter's to."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(request.param or before)
    yield sys.getrecursionlimit()
    sys.setrecursionlimit(before)


@pytest.mark.parametrize("body", [DEEP, b'{"reason": "x", "n": [[[[[[[[1]]]]]]]]}'])
def test_a_json_body_nested_deeper_than_our_limit_is_400(http, recursion_limit, body):
    r = http.call("POST", f"/regions/{PEER}/failover", auth_as=admin(), headers=JSON, body=body)
    assert_error(r, 400, "INVALID_JSON")


@pytest.mark.parametrize("body", [b"", b"{}", b'{"reason": ""}', b'{"reason": 1}', b'{"why": "x"}', b"[", b"x", DEEP])
def test_an_operator_action_needs_a_reason_400(http, body):
    r = http.call("POST", f"/regions/{PEER}/failover", auth_as=admin(), headers=JSON, body=body)
    assert_error(r, 400, "INVALID_JSON" if body in (b"[", b"x", DEEP) else "INVALID_OPERATOR_REQUEST")


def test_failover_is_decided_once_and_failback_ends_it(http):
    reason = '{"reason": "peer down since 10:02"}'
    first = assert_json(http.call("POST", f"/regions/{PEER}/failover", auth_as=admin(), headers=JSON, body=reason))
    assert first == {"region": PEER, "decided": True, "taken_over_by": "us-east-1", "payments": []}
    again = assert_json(http.call("POST", f"/regions/{PEER}/failover", auth_as=admin(), headers=JSON, body=reason))
    assert again["decided"] is False and again["taken_over_by"] == "us-east-1"
    region = http.svc.regions.get(PEER)
    assert region is not None and region.decisions[0][:3] == ("TakenOver", "ops", "peer down since 10:02")
    assert assert_json(http.call("GET", "/", auth_as=None))["peers"][0]["taken_over"] is True
    back = http.call("POST", f"/regions/{PEER}/failback", auth_as=admin(), headers=JSON, body='{"reason": "back"}')
    assert assert_json(back) == {"region": PEER, "failed_back": True}
    twice = http.call("POST", f"/regions/{PEER}/failback", auth_as=admin(), headers=JSON, body='{"reason": "back"}')
    assert_error(twice, 409, "REGION_NOT_TAKEN_OVER")


def test_operator_actions_record_the_client_that_acted_not_its_tenant(http):
    operator = admin("client-a2")  # client-a's tenant, another pool's client
    tx, _ = http.settle()
    body = '{"reason": "check"}'
    redrive = http.call("POST", f"/transactions/{tx}/redrive", auth_as=operator, headers=JSON, body=body)
    assert redrive.status_code == 202
    [redriven] = [e for e in http.svc.payments.history(UUID(tx)) if type(e).__name__ == "Redriven"]
    assert redriven.who == "client-a2"
    assert http.call("POST", f"/regions/{PEER}/failover", auth_as=operator, headers=JSON, body=body).status_code == 200
    assert http.call("POST", f"/regions/{PEER}/failback", auth_as=operator, headers=JSON, body=body).status_code == 200
    region = http.svc.regions.get(PEER)
    assert region is not None and [d[:2] for d in region.decisions] == [
        ("TakenOver", "client-a2"),
        ("FailedBack", "client-a2"),
    ]


def region_action(http, action: str, reason: str, key: str | None = None, client: str = "ops") -> Any:
    headers = {**JSON, "Idempotency-Key": key} if key is not None else JSON
    body = json.dumps({"reason": reason})
    return http.call("POST", f"/regions/{PEER}/{action}", auth_as=admin(client), headers=headers, body=body)


def region_events(http) -> list[str]:
    region = http.svc.regions.get(PEER)
    return [] if region is None else [d[0] for d in region.decisions]


def test_a_retried_failback_with_its_idempotency_key_answers_its_first_answer_and_records_nothing(http):
    assert assert_json(region_action(http, "failover", "peer down", "inc-7-over"))["decided"] is True
    for _ in range(2):  # the first answer, then the client's retry of a response it lost
        r = region_action(http, "failback", "peer back", "inc-7-back")
        assert assert_json(r) == {"region": PEER, "failed_back": True}
    assert region_events(http) == ["TakenOver", "FailedBack"]


def test_a_retried_failover_with_its_idempotency_key_records_nothing_again(http):
    first = assert_json(region_action(http, "failover", "peer down", "inc-7-over"))
    again = assert_json(region_action(http, "failover", "peer down", "inc-7-over"))
    assert first == again == {"region": PEER, "decided": True, "taken_over_by": "us-east-1", "payments": []}
    assert region_events(http) == ["TakenOver"]


def test_a_late_retry_of_a_failback_leaves_a_newer_takeover_in_force(http):
    """Failed over, failed back (the answer lost), failed over again for a new incident: the
    failback's retry answers as it did and does not end the new takeover."""
    region_action(http, "failover", "incident 7", "inc-7-over")
    region_action(http, "failback", "incident 7 over", "inc-7-back")
    assert assert_json(region_action(http, "failover", "incident 8", "inc-8-over"))["decided"] is True
    late = region_action(http, "failback", "incident 7 over", "inc-7-back")
    assert assert_json(late) == {"region": PEER, "failed_back": True}
    assert region_events(http) == ["TakenOver", "FailedBack", "TakenOver"]
    assert http.svc.regions.is_taken_over(PEER)
    assert assert_json(http.call("GET", "/", auth_as=None))["peers"][0]["taken_over"] is True


def test_a_late_retry_of_a_failover_does_not_take_over_a_region_failed_back_since(http):
    region_action(http, "failover", "incident 7", "inc-7-over")
    region_action(http, "failback", "incident 7 over", "inc-7-back")
    late = assert_json(region_action(http, "failover", "incident 7", "inc-7-over"))
    assert late == {"region": PEER, "decided": True, "taken_over_by": None, "payments": []}
    assert region_events(http) == ["TakenOver", "FailedBack"] and not http.svc.regions.is_taken_over(PEER)


@pytest.mark.parametrize(
    "first, then",
    [
        (("failover", "peer down"), ("failover", "another incident")),
        (("failover", "peer down"), ("failback", "peer down")),  # the same key for another action
    ],
)
def test_an_operator_idempotency_key_reused_for_another_request_is_422_and_records_nothing(http, first, then):
    from tests.unit.test_openapi import conforms  # it imports this module

    assert region_action(http, *first, "inc-7").status_code == 200
    r = region_action(http, *then, "inc-7")
    assert_error(r, 422, "IDEMPOTENCY_KEY_REUSED")
    conforms(r, f"/regions/{{region}}/{then[0]}", "POST")
    assert region_events(http) == ["TakenOver"]


def test_a_failback_key_reused_with_another_reason_is_422_and_fails_back_nothing(http):
    region_action(http, "failover", "incident 7", "inc-7-over")
    region_action(http, "failback", "incident 7 over", "inc-7-back")
    region_action(http, "failover", "incident 8", "inc-8-over")
    assert_error(region_action(http, "failback", "incident 8 over", "inc-7-back"), 422, "IDEMPOTENCY_KEY_REUSED")
    assert region_events(http) == ["TakenOver", "FailedBack", "TakenOver"]


def test_an_operator_idempotency_key_is_the_tenants_own(http):
    """Two tenants' operators choosing the same key are two actions: the second failback is
    refused as today (nothing is taken over), not answered as the first one's retry."""
    region_action(http, "failover", "down", "k1", client="ops")
    assert region_action(http, "failback", "back", "k2", client="ops").status_code == 200
    assert_error(region_action(http, "failback", "back", "k2", client="ops-2"), 409, "REGION_NOT_TAKEN_OVER")


def test_a_failback_retried_through_another_regions_pool_is_a_retry_and_leaves_a_newer_takeover_in_force(http):
    """Each Region has its own Cognito pool, so one operator has a client id per Region
    (client-a here, client-a2 in the other pool: the same tenant). The key is the tenant's, so
    an operator whose failback answer was lost and who retries it through the other Region
    (the usual path during a Region incident) is answered as the first time: the late retry
    does not end a takeover decided after the failback."""
    region_action(http, "failover", "incident 7", "inc-7-over", client="client-a")
    assert_json(region_action(http, "failback", "incident 7 over", "inc-7-back", client="client-a"))  # answer lost
    assert assert_json(region_action(http, "failover", "incident 8", "inc-8-over", client="client-a"))["decided"]
    late = region_action(http, "failback", "incident 7 over", "inc-7-back", client="client-a2")  # the other pool
    assert assert_json(late) == {"region": PEER, "failed_back": True}
    assert region_events(http) == ["TakenOver", "FailedBack", "TakenOver"]
    assert http.svc.regions.is_taken_over(PEER), "the late retry ended the newer takeover"


def test_a_keyed_failback_answered_409_answers_409_again_after_a_newer_takeover(http):
    from tests.unit.test_openapi import conforms  # it imports this module

    assert_error(region_action(http, "failback", "incident 6 over", "inc-6-back"), 409, "REGION_NOT_TAKEN_OVER")
    assert assert_json(region_action(http, "failover", "incident 7", "inc-7-over"))["decided"] is True
    late = region_action(http, "failback", "incident 6 over", "inc-6-back")
    assert_error(late, 409, "REGION_NOT_TAKEN_OVER")
    conforms(late, "/regions/{region}/failback", "POST")
    assert region_events(http) == ["TakenOver"] and http.svc.regions.is_taken_over(PEER)


@pytest.mark.parametrize("action", ["failover", "failback"])
@pytest.mark.parametrize("key", ["", "a" * 65, "key\n", "a b", "k\u00e9y"])
def test_an_operator_idempotency_key_that_is_not_1_to_64_safe_characters_is_400(http, action, key):
    if action == "failback":
        region_action(http, "failover", "down")
    from tests.unit.test_openapi import conforms  # it imports this module

    before = region_events(http)
    r = region_action(http, action, "x", key)
    assert_error(r, 400, "INVALID_IDEMPOTENCY_KEY")
    conforms(r, f"/regions/{{region}}/{action}", "POST")
    assert region_events(http) == before


def test_failover_of_a_region_that_is_no_peer_is_404(http):
    r = http.call("POST", "/regions/mars-1/failover", auth_as=admin(), headers=JSON, body='{"reason": "x"}')
    assert_error(r, 404, "REGION_NOT_FOUND")


def test_a_payment_of_another_home_region_is_409_not_home_here(http):
    tx, _ = http.pay()
    http.steps("incoming")
    payment = http.svc.payments.get_payment(UUID(tx))
    payment.take_over(by=PEER, from_region="us-east-1", reason="test")
    http.svc.payments.save(payment)
    assert_error(http.cancel(tx), 409, "NOT_HOME_REGION")


def test_a_region_taken_over_issues_no_id_until_it_is_failed_back(http):
    from tests.unit.test_openapi import conforms  # it imports this module

    http.svc.regions.take_over("us-east-1", by=PEER, reason="test", who="ops", now=datetime.now(UTC))
    r = http.call("GET", "/uuid", headers={"X-Message-Type": "pacs.008"})
    assert_error(r, 409, "REGION_TAKEN_OVER")
    conforms(r, "/uuid", "GET")
    http.svc.regions.fail_back("us-east-1", who="ops", reason="back", now=datetime.now(UTC))
    assert assert_json(http.call("GET", "/uuid", headers={"X-Message-Type": "pacs.008"}))["transaction_id"]


def test_a_tenants_client_of_another_pool_reads_the_tenants_payment(http):
    tx, _ = http.settle()
    other_pool = token(client_id="client-a2")
    assert assert_json(http.call("GET", f"/transactions/{tx}", auth_as=other_pool))["owner"] == OWNER
    assert tx_sts(assert_xml(http.outbox(tx, auth_as=other_pool), PACS002["p"])) == "ACSC"
    assert_error(http.outbox(tx, auth_as=token(client_id=OTHER)), 404, "TRANSACTION_NOT_FOUND")


def test_openapi_json_needs_no_token_and_is_the_openapi_document(http):
    body = assert_json(http.call("GET", "/openapi.json", auth_as=None))
    assert body["openapi"].startswith("3.1") and "/inbox" in body["paths"]


def test_health_is_503_degraded_when_a_dependency_is_unreachable(http):
    http.view.reachable = False
    body = assert_json(http.call("GET", "/", auth_as=None), 503)
    assert body["status"] == "degraded"
    assert body["checks"]["event_store"] == body["checks"]["transaction_view"] == "unreachable"
    assert body["checks"]["archive"] == "ok"
    assert "transaction" not in json.dumps(body["checks"]).replace("transaction_view", "")


# == every named error, its status and error code ==========================================

# (an instance, the status, the error_code): the contract, written out rather than read from api.STATUS.
NAMED_ERRORS: dict[type[Exception], tuple[Exception, int, str]] = {
    errors.UnsupportedMessageType: (
        errors.UnsupportedMessageType("X-Message-Type must be pacs.008"),
        400,
        "UNSUPPORTED_MESSAGE_TYPE",
    ),
    errors.EmptyBody: (errors.EmptyBody(), 400, "EMPTY_BODY"),
    errors.InvalidStatusRequest: (errors.InvalidStatusRequest("FF01: not a pacs.028"), 400, "INVALID_STATUS_REQUEST"),
    errors.InvalidCancellationRequest: (
        errors.InvalidCancellationRequest("FF01: not a camt.056"),
        400,
        "INVALID_CANCELLATION_REQUEST",
    ),
    InvalidQuery: (InvalidQuery("give exactly one of: end_to_end_id, uetr"), 400, "INVALID_QUERY"),
    AmbiguousStatusRequest: (
        AmbiguousStatusRequest("an OrgnlEndToEndId of NOTPROVIDED names no transaction"),
        400,
        "AMBIGUOUS_STATUS_REQUEST",
    ),
    InvalidAsOf: (InvalidAsOf("as_of must be an ISO 8601 date-time"), 400, "INVALID_AS_OF"),
    errors.PaymentNotFound: (
        errors.PaymentNotFound("8c4f1a52-0d37-4a43-9d8e-2f5b0b7d9e11"),
        404,
        "TRANSACTION_NOT_FOUND",
    ),
    MessageMismatch: (
        MessageMismatch("another message was received for this transaction"),
        409,
        "TRANSACTION_ALREADY_RECEIVED",
    ),
    errors.ReportNotReady: (errors.ReportNotReady("ACSP"), 409, "STATUS_REPORT_NOT_READY"),
    errors.UnknownRegion: (errors.UnknownRegion("mars-1"), 404, "REGION_NOT_FOUND"),
    errors.NotHomeRegion: (errors.NotHomeRegion("eu-central-1"), 409, "NOT_HOME_REGION"),
    errors.RegionTakenOver: (errors.RegionTakenOver("us-east-1"), 409, "REGION_TAKEN_OVER"),
    errors.RegionNotTakenOver: (errors.RegionNotTakenOver("eu-central-1"), 409, "REGION_NOT_TAKEN_OVER"),
    errors.NothingToCancel: (errors.NothingToCancel(), 409, "NOTHING_TO_CANCEL"),
    errors.CancellationDoesNotMatch: (errors.CancellationDoesNotMatch(), 409, "CANCELLATION_DOES_NOT_MATCH"),
    IllegalTransition: (IllegalTransition("cannot release a payment in status ACCP"), 409, "ILLEGAL_TRANSITION"),
    errors.MessageTooLarge: (errors.MessageTooLarge(1024), 413, "MESSAGE_TOO_LARGE"),
    errors.IdempotencyKeyReused: (errors.IdempotencyKeyReused(), 422, "IDEMPOTENCY_KEY_REUSED"),
    errors.StepContended: (errors.StepContended("lost the race 5 times"), 503, "CONTENDED"),
    errors.InvalidConsistency: (errors.InvalidConsistency(), 400, "INVALID_CONSISTENCY"),
    errors.NotYetReplicated: (
        errors.NotYetReplicated("us-east-1", ("eu-west-1",), "8c4f1a52-0d37-4a43-9d8e-2f5b0b7d9e11", 2),
        503,
        "NOT_YET_REPLICATED",
    ),
}


def test_every_mapped_error_has_a_case_here():
    assert set(NAMED_ERRORS) == set(api.STATUS)


@pytest.mark.parametrize("cls", list(NAMED_ERRORS), ids=lambda c: c.__name__)
def test_a_use_case_raising_a_named_error_is_answered_with_its_status_and_code(monkeypatch, cls):
    e, status, code = NAMED_ERRORS[cls]
    stub = stubbed(monkeypatch, issue_transaction=raising(e))
    body = assert_error(stub.call("GET", "/uuid"), status, code)
    if cls is errors.PaymentNotFound:
        assert body["message"] == "no such transaction" and str(e) not in body["message"]
    elif cls is errors.StepContended:
        assert body["message"] == "the transaction is busy; retry"
    else:
        assert body["message"] == str(e)


def test_a_subclass_of_a_named_error_is_answered_as_its_base(monkeypatch):
    class Vanished(errors.PaymentNotFound):
        pass

    stub = stubbed(monkeypatch, issue_transaction=raising(Vanished("x")))
    assert_error(stub.call("GET", "/uuid"), 404, "TRANSACTION_NOT_FOUND")


# The same errors, provoked by real requests.


@pytest.mark.parametrize(
    "route, message_type",
    [
        ("GET /uuid", "pain.001"),
        ("POST /inbox", "pain.001"),
        ("POST /outbox", "pacs.009"),
    ],
)
def test_an_unsupported_message_type_is_400(http, route, message_type):
    tx = http.issue()
    method, path = route.split()
    r = http.call(
        method,
        path,
        body=fresh("pacs008_bare.xml") if path == "/inbox" else b"",
        headers={**(XML if method == "POST" else {}), "X-Transaction-Id": tx, "X-Message-Type": message_type},
    )
    assert_error(r, 400, "UNSUPPORTED_MESSAGE_TYPE")


@pytest.mark.parametrize("path", ["/inbox", "/status-requests"])
def test_an_empty_body_is_400(http, path):
    tx = http.issue()
    r = http.call("POST", path, headers={**XML, "X-Transaction-Id": tx, "X-Message-Type": "pacs.008"})
    assert_error(r, 400, "EMPTY_BODY")


@pytest.mark.parametrize("path", ["/inbox", "/status-requests"])
def test_a_message_over_the_limit_is_413(http, path):
    tx = http.issue()
    r = http.call(
        "POST",
        path,
        body=b"<a/>" * (MAX_MESSAGE_BYTES // 4 + 1),
        headers={**XML, "X-Transaction-Id": tx, "X-Message-Type": "pacs.008"},
    )
    body = assert_error(r, 413, "MESSAGE_TOO_LARGE")
    assert str(MAX_MESSAGE_BYTES) in body["message"]


@pytest.mark.parametrize(
    "request_body", [b"<a/>", b"not xml", fresh("pacs008_bare.xml")], ids=["xml", "text", "pacs008"]
)
def test_a_body_that_is_not_a_pacs028_is_400(http, request_body):
    r = http.call("POST", "/status-requests", body=request_body, headers=XML)
    assert_error(r, 400, "INVALID_STATUS_REQUEST")


def test_a_body_that_is_not_a_camt056_is_400(http):
    tx, _ = http.pay()
    assert_error(http.submit(tx, b"<not-a-camt056/>", "camt.056"), 400, "INVALID_CANCELLATION_REQUEST")


@pytest.mark.parametrize(
    "query", ["", "?", "?uetr=a&end_to_end_id=b", "?uetr=a&colour=red", "?colour=red", "?uetr=" + "x" * 65]
)
def test_find_transactions_needs_exactly_one_valid_lookup_400(http, query):
    assert_error(http.call("GET", f"/transactions{query}"), 400, "INVALID_QUERY")


def test_a_status_request_answers_the_payment_sent_not_its_rejected_copy(http):
    """The same pacs.008 sent again under a new transaction id is rejected as a duplicate:
    both share the UETR, and the status request is answered with the payment itself."""
    settled, message = http.settle()
    copy, _ = http.pay(message)
    drain(http.svc)
    http.follow(copy)
    ids = ids_of(message)
    found = assert_json(http.call("GET", f"/transactions?uetr={ids['uetr']}"))["transactions"]
    assert {t["transaction_id"]: t["status"] for t in found} == {settled: "ACSC", copy: "RJCT"}
    for request in (pacs028(ids["uetr"], ids["end_to_end_id"]), pacs028(None, ids["end_to_end_id"])):
        doc = assert_xml(http.call("POST", "/status-requests", body=request, headers=XML), PACS002["p"])
        assert tx_sts(doc) == "ACSC"


def test_a_status_request_for_no_payment_of_the_caller_is_404(http):
    _, message = http.settle()
    ids = ids_of(message)
    for unknown_uetr_with_a_known_end_to_end_id in ("NOBODY-E2E", ids["end_to_end_id"]):
        assert_error(
            http.call(
                "POST",
                "/status-requests",
                body=pacs028(str(uuid.uuid4()), unknown_uetr_with_a_known_end_to_end_id),
                headers=XML,
            ),
            404,
            "TRANSACTION_NOT_FOUND",
        )
    theirs = http.call(
        "POST", "/status-requests", body=pacs028(ids["uetr"], ids["end_to_end_id"]), headers=XML, auth_as=token(OTHER)
    )
    assert_error(theirs, 404, "TRANSACTION_NOT_FOUND")


def with_end_to_end_id(end_to_end_id: str) -> bytes:
    """A fresh pacs.008 (its own MsgId and UETR) whose transaction has this EndToEndId."""
    return re.sub(
        rb"<EndToEndId>[^<]*</EndToEndId>",
        f"<EndToEndId>{end_to_end_id}</EndToEndId>".encode(),
        fresh("pacs008_bare.xml"),
    )


def test_a_status_request_naming_no_one_transaction_is_400_and_reads_a_bounded_number(http, monkeypatch):
    """NOTPROVIDED alone names no transaction; an EndToEndId more than LOOKUP_MAX payments
    share is refused after LOOKUP_MAX + 1 record reads, not read to the end (the API's time
    is bounded, the index is not); with the UETR, either is answered."""
    monkeypatch.setattr(follower, "LOOKUP_MAX", 2)
    shared = f"SHARED-{uuid.uuid4().hex[:8]}"
    sent = [http.pay(with_end_to_end_id(e2e)) for e2e in ("NOTPROVIDED", shared, shared, shared, shared)]
    drain(http.svc)
    for tx, _ in sent:
        http.follow(tx)
    alone = http.call("POST", "/status-requests", body=pacs028(None, "NOTPROVIDED"), headers=XML)
    assert_error(alone, 400, "AMBIGUOUS_STATUS_REQUEST")
    reads = []
    real_get = http.svc.adapters.view.get
    monkeypatch.setattr(http.svc.adapters.view, "get", lambda tid: reads.append(tid) or real_get(tid))
    many = http.call("POST", "/status-requests", body=pacs028(None, shared), headers=XML)
    assert_error(many, 400, "AMBIGUOUS_STATUS_REQUEST")
    assert len(reads) == 3  # LOOKUP_MAX + 1 of the 4 payments that share it
    for _, message in (sent[0], sent[3]):
        ids = ids_of(message)
        named = http.call("POST", "/status-requests", body=pacs028(ids["uetr"], ids["end_to_end_id"]), headers=XML)
        assert assert_xml(named, PACS002["p"]).findtext(".//p:OrgnlUETR", namespaces=PACS002) == ids["uetr"]


def test_a_second_different_message_for_a_transaction_is_409(http):
    tx, _ = http.pay()
    http.steps("incoming")  # received: until then a second message is taken, then refused on the record
    body = assert_error(http.submit(tx, fresh("pacs008_bah_envelope.xml")), 409, "TRANSACTION_ALREADY_RECEIVED")
    assert body["request_id"]


def test_a_camt029_before_any_cancellation_is_not_ready_409(http):
    tx, _ = http.settle()
    assert_error(http.outbox(tx, "camt.029"), 409, "STATUS_REPORT_NOT_READY")
    assert_error(http.outbox(tx, "pacs.004"), 409, "STATUS_REPORT_NOT_READY")


def test_cancelling_a_transaction_without_a_message_is_409(http):
    tx = http.issue()
    assert_error(http.cancel(tx, {"reason": "DUPL"}), 409, "NOTHING_TO_CANCEL")


def test_a_camt056_naming_another_payment_is_409(http):
    tx, _ = http.pay()
    other = redated((EVENTS / "camt056_cancel.xml").read_bytes())  # names the sample's ids, not this payment's
    assert_error(http.submit(tx, other, "camt.056"), 409, "CANCELLATION_DOES_NOT_MATCH")


def camt056_naming(message: bytes) -> bytes:
    """events/camt056_cancel.xml (reason DUPL), dated today, naming the payment of `message`."""
    ids = ids_of(message)
    camt056 = redated((EVENTS / "camt056_cancel.xml").read_bytes()).decode()
    camt056 = (
        camt056.replace("PFW-20260415-000123", ids["msg_id"])
        .replace("INV-2026-0415-001", ids["end_to_end_id"])
        .replace("32e0a499-6667-431e-ae98-1e0782016094", ids["uetr"])
    )
    tx_id = etree.fromstring(message).findtext(".//{*}CdtTrfTxInf/{*}PmtId/{*}TxId")
    return camt056.replace("<OrgnlTxId>PFW-TX-001</OrgnlTxId>", f"<OrgnlTxId>{tx_id}</OrgnlTxId>").encode()


def test_a_camt056_naming_this_payment_is_taken_202_and_its_camt029_is_at_the_outbox(http):
    tx, message = http.pay()
    http.steps("incoming", "processing")
    assert_json(http.submit(tx, camt056_naming(message), "camt.056"), 202)
    answer = http.outbox(tx, "camt.029")
    assert assert_xml(answer, CAMT029["c"]).findtext(".//c:Sts/c:Conf", namespaces=CAMT029) == "CNCL"


def test_another_tenants_camt056_matching_our_payment_is_404_and_cancels_nothing(http):
    """A cancellation is judged on the caller's own payment first: another tenant cannot
    cancel ours, whatever agent or identifiers its camt.056 names."""
    tx, message = http.pay()
    http.steps("incoming", "processing")
    before = http.svc.payments.get_payment(UUID(tx)).version
    assert_error(
        http.submit(tx, camt056_naming(message), "camt.056", auth_as=token(OTHER)), 404, "TRANSACTION_NOT_FOUND"
    )
    after = http.svc.payments.get_payment(UUID(tx))
    assert after.version == before and after.cancellations == {}


def test_a_client_sending_as_a_bank_its_tenant_may_not_act_for_is_rejected_agnt_and_takes_no_identifier(
    monkeypatch,
):
    """With PACSFLOW_TENANT_AGENTS set: the tenant comes from the token (client-a2 is a client
    of tenant client-a), the pacs.002 says AGNT, and the bank's own payment with the same
    identifiers settles, not AM05."""
    view = MemoryView()
    agents = {OWNER: ["DEUTDEFFXXX"], OTHER: ["BNPAFRPPXXX"]}
    svc = bootstrap.build(Settings(tenant_agents=agents, **POOL), **{**memory_adapters(), "view": view})
    monkeypatch.setattr(app_module, "service", lambda: svc)
    api, body = Api(svc, view), fresh("pacs008_bare.xml")  # InstgAgt DEUTDEFFXXX
    for client, expected in ((OTHER, ("RJCT", ["AGNT"])), ("client-a2", ("ACSC", []))):
        tx = api.issue(auth_as=token(client))
        assert_json(api.submit(tx, body, auth_as=token(client)), 202)
        drain(svc)
        doc = assert_xml(api.outbox(tx, auth_as=token(client)), PACS002["p"])
        status = doc.findtext(".//p:TxInfAndSts/p:TxSts", namespaces=PACS002)
        assert (status, doc.xpath(".//p:StsRsnInf/p:Rsn/p:Cd/text()", namespaces=PACS002)) == expected, client


# == requests the routes cannot read (api.BadRequest) ======================================

BAD_IDS = [
    "not-a-uuid",
    "urn:uuid:8c4f1a52-0d37-4a43-9d8e-2f5b0b7d9e11",
    "8c4f1a520d374a439d8e2f5b0b7d9e11",
    "{8c4f1a52-0d37-4a43-9d8e-2f5b0b7d9e11}",
    "\uff18c4f1a52-0d37-4a43-9d8e-2f5b0b7d9e11",
]  # the last: a fullwidth 8


@pytest.mark.parametrize("bad", ["", *BAD_IDS], ids=["missing", *range(len(BAD_IDS))])
@pytest.mark.parametrize("path", ["/inbox", "/outbox"])
def test_an_unreadable_x_transaction_id_is_400(http, path, bad):
    headers = {**XML, "X-Message-Type": "pacs.008", **({"X-Transaction-Id": bad} if bad else {})}
    r = http.call("POST", path, body=fresh("pacs008_bare.xml"), headers=headers)
    assert_error(r, 400, "INVALID_TRANSACTION_ID")


@pytest.mark.parametrize(
    "bad", ["not-a-uuid", "8c4f1a520d374a439d8e2f5b0b7d9e11", "8c4f1a52-0d37-4a43-9d8e-2f5b0b7d9e1"]
)
@pytest.mark.parametrize(
    "route", ["GET /transactions/{}", "GET /transactions/{}/events", "POST /transactions/{}/cancel"]
)
def test_an_unreadable_transaction_id_in_the_path_is_400(http, route, bad):
    method, path = route.split()
    headers, body = (JSON, b"{}") if method == "POST" else ({}, b"")
    assert_error(http.call(method, path.format(bad), headers=headers, body=body), 400, "INVALID_TRANSACTION_ID")


@pytest.mark.parametrize(
    "body, status, code",
    [
        (b"{not json", 400, "INVALID_JSON"),
        (b"\xff\xfe", 400, "INVALID_JSON"),
        (b"[]", 400, "INVALID_CANCELLATION_REQUEST"),
        (b'{"reason": "DUPL", "amount": 1}', 400, "INVALID_CANCELLATION_REQUEST"),
        (b'{"reason": "dupl"}', 400, "INVALID_CANCELLATION_REQUEST"),
        (b'{"reason": 7}', 400, "INVALID_CANCELLATION_REQUEST"),
        (b'{"reason": "DUPL", "case_id": ""}', 400, "INVALID_CANCELLATION_REQUEST"),
        (b'{"reason": "DUPL", "case_id": "' + b"C" * 36 + b'"}', 400, "INVALID_CANCELLATION_REQUEST"),
        (b'{"reason": "DUPL", "case_id": ["C"]}', 400, "INVALID_CANCELLATION_REQUEST"),
        (b'{"reason": "DUPL", "case_id": "' + b"C" * 4100 + b'"}', 413, "BODY_TOO_LARGE"),
        (DEEP, 400, "INVALID_JSON"),
        (b'{"reason": "DUPL\\n"}', 400, "INVALID_CANCELLATION_REQUEST"),
        (b'{"reason": "DUPL", "case_id": "' + b"C" * 35 + b'\\n"}', 400, "INVALID_CANCELLATION_REQUEST"),
    ],
    ids=[
        "json",
        "utf8",
        "array",
        "extra-key",
        "reason-case",
        "reason-type",
        "case-empty",
        "case-long",
        "case-type",
        "too-large",
        "too-deep",
        "reason-newline",
        "case-newline",
    ],
)
def test_an_unreadable_cancellation_request_is_refused(http, body, status, code):
    tx, _ = http.pay()
    assert_error(http.cancel(tx, body), status, code)
    assert http.svc.payments.get_payment(UUID(tx)).cancellations == {}


def test_a_content_type_a_route_does_not_take_is_415_in_our_shape(http):
    tx = http.issue()
    r = http.call("POST", "/inbox", body=b"\x89PNG", headers={"Content-Type": "image/png", "X-Transaction-Id": tx})
    assert_error(r, 415, "UNSUPPORTED_MEDIA_TYPE")


# == authentication and tenancy ===========================================================

# One request per protected route, and the scope it needs.
PROTECTED: dict[tuple[str, str], tuple[str, dict[str, str], bytes]] = {
    ("/uuid", "GET"): ("write", {}, b""),
    ("/transactions", "POST"): ("write", XML, b""),
    ("/inbox", "POST"): ("write", {**XML, "X-Transaction-Id": str(uuid.uuid4())}, b"<a/>"),
    ("/outbox", "POST"): ("write", {**XML, "X-Transaction-Id": str(uuid.uuid4())}, b""),
    ("/transactions/{transaction_id}/cancel", "POST"): ("write", JSON, b"{}"),
    ("/status-requests", "POST"): ("read", XML, b"<a/>"),
    ("/transactions", "GET"): ("read", {}, b""),
    ("/transactions/{transaction_id}", "GET"): ("read", {}, b""),
    ("/transactions/{transaction_id}/events", "GET"): ("read", {}, b""),
    ("/transactions/{transaction_id}/redrive", "POST"): ("admin", JSON, b'{"reason": "r"}'),
    ("/regions/{region}/failover", "POST"): ("admin", JSON, b'{"reason": "r"}'),
    ("/regions/{region}/failback", "POST"): ("admin", JSON, b'{"reason": "r"}'),
}


PUBLIC = {("/", "GET"), ("/openapi.json", "GET")}  # no token: the health and the OpenAPI document


def concrete(path: str) -> str:
    return path.replace("{transaction_id}", str(uuid.uuid4())).replace("{region}", PEER) + (
        "?uetr=x" if path == "/transactions" else ""
    )


def test_every_route_but_health_is_protected_and_listed_here():
    assert set(PROTECTED) == ROUTES - PUBLIC
    assert all(APP.routes[path][method].authorizer is not None for path, method in PROTECTED)


@pytest.mark.parametrize("route", list(PROTECTED), ids=" ".join)
def test_no_token_is_401_with_a_bearer_challenge_naming_the_scope(http, route):
    access, headers, body = PROTECTED[route]
    r = http.call(route[1], concrete(route[0]), auth_as=None, headers=headers, body=body)
    assert_error(r, 401, "UNAUTHORIZED")
    assert header(r, "WWW-Authenticate") == f'Bearer error="invalid_request", scope="pacsflow/{access}"'


@pytest.mark.parametrize("route", list(PROTECTED), ids=" ".join)
def test_a_token_without_the_routes_scope_is_403(http, route):
    access, headers, body = PROTECTED[route]
    other_scope = {"read": "pacsflow/write", "write": "pacsflow/read", "admin": "pacsflow/read pacsflow/write"}[access]
    for scope in (other_scope, f"elsewhere/{access}"):  # the other scope; the right name under another prefix
        r = http.call(route[1], concrete(route[0]), auth_as=token(scope=scope), headers=headers, body=body)
        assert_error(r, 403, "FORBIDDEN")
        assert header(r, "WWW-Authenticate") == f'Bearer error="insufficient_scope", scope="pacsflow/{access}"'


@pytest.mark.parametrize(
    "bad",
    [
        token(exp=int(time.time()) - 60),
        token(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"),
        token(token_use="id"),
        token(client_id=None),
        token(key=STRANGER_KEY),
        token() + "x",
    ],
    ids=["expired", "issuer", "id-token", "no-client", "signature", "tampered"],
)
def test_a_token_that_is_not_the_pools_live_access_token_is_401(http, bad):
    r = http.call("GET", "/uuid", auth_as=bad)
    assert_error(r, 401, "UNAUTHORIZED")
    assert header(r, "WWW-Authenticate") == 'Bearer error="invalid_token", scope="pacsflow/write"'


def test_tokens_are_checked_against_the_policys_keys(http, keys):
    http.issue()
    assert keys.urls and set(keys.urls) == {JWKS_URL}


def test_unreachable_signing_keys_are_503_not_401(http, keys):
    keys.down = True
    r = http.call("GET", "/transactions?uetr=x")
    assert_error(r, 503, "AUTH_UNAVAILABLE")
    assert header(r, "WWW-Authenticate") == 'Bearer error="temporarily_unavailable", scope="pacsflow/read"'


def test_another_clients_transaction_does_not_exist_404(http):
    tx, message = http.settle()
    theirs = token(OTHER)
    for r in (
        http.call("GET", f"/transactions/{tx}", auth_as=theirs),
        http.call("GET", f"/transactions/{tx}/events", auth_as=theirs),
        http.outbox(tx, auth_as=theirs),
        http.submit(tx, message, auth_as=theirs),
        http.cancel(tx, {"reason": "DUPL"}, auth_as=theirs),
    ):
        body = assert_error(r, 404, "TRANSACTION_NOT_FOUND")
        assert body["message"] == "no such transaction" and tx not in r.body.decode()
    assert http.svc.payments.get_payment(UUID(tx)).cancellations == {}


def test_another_clients_transaction_is_404_before_the_follower_too(http):
    tx, _ = http.pay()
    assert_error(http.call("GET", f"/transactions/{tx}", auth_as=token(OTHER)), 404, "TRANSACTION_NOT_FOUND")


@pytest.mark.parametrize(
    "route",
    [
        "GET /transactions/{}",
        "GET /transactions/{}/events",
        "POST /outbox",
        "POST /inbox",
        "POST /transactions/{}/cancel",
    ],
)
def test_an_unknown_transaction_is_404(http, route):
    method, path = route.split()
    tx = str(uuid.uuid4())
    content = {} if method == "GET" else JSON if "cancel" in path else XML
    r = http.call(
        method,
        path.format(tx),
        body=fresh("pacs008_bare.xml") if path == "/inbox" else b"{}",
        headers={**content, "X-Transaction-Id": tx, "X-Message-Type": "pacs.008"},
    )
    assert_error(r, 404, "TRANSACTION_NOT_FOUND")


# == the unexpected ========================================================================

SECRET = "boto3 said: table arn:aws:dynamodb:us-east-1:123456789012:table/secret at /var/task/x.py"


def test_a_use_case_raising_something_unexpected_is_500_without_internals(monkeypatch, caplog):
    caplog.set_level(logging.DEBUG, logger="chalicelib")
    stub = stubbed(monkeypatch, issue_transaction=raising(RuntimeError(SECRET)))
    r = stub.call("GET", "/uuid")
    body = assert_error(r, 500, "INTERNAL_ERROR")
    assert (
        "secret" not in r.body.decode() and "RuntimeError" not in r.body.decode() and "Traceback" not in r.body.decode()
    )
    assert body["message"] == "internal error; the request can be retried"
    # logged: its type at ERROR, its trace (the message may quote the request) at DEBUG only
    assert any(
        rec.levelname == "ERROR" and rec.getMessage() == "unexpected error" and rec.error_type == "RuntimeError"
        for rec in caplog.records
    )
    assert all(
        SECRET not in rec.getMessage() and not rec.exc_info for rec in caplog.records if rec.levelno > logging.DEBUG
    )
    assert any(rec.levelname == "DEBUG" and rec.exc_info for rec in caplog.records)


@pytest.mark.parametrize("route", sorted(ROUTES - {("/openapi.json", "GET")}), ids=" ".join)  # a file, no service
def test_every_route_answers_500_in_our_shape_when_the_service_cannot_be_built(monkeypatch, route):
    def broken():
        raise RuntimeError(SECRET)

    monkeypatch.setattr(app_module, "service", broken)
    path, method = route
    _, headers, body = PROTECTED.get(route, (None, {}, b""))
    every_scope = token(scope=f"pacsflow/read pacsflow/write {ADMIN}")
    r = Api(None, MemoryView()).call(method, concrete(path), headers=headers, body=body, auth_as=every_scope)  # type: ignore[arg-type]
    assert_error(r, 500, "INTERNAL_ERROR")
    assert "secret" not in r.body.decode()


def test_invalid_utf8_posted_byte_for_byte_is_ff01(http):
    """Posted as a binary media type (application/octet-stream) the body reaches the intake
    as sent, and invalid UTF-8 is FF01; a legal U+FFFD is not (tests/unit/test_iso20022_utf8.py).
    Posted as XML *text*, API Gateway decodes the body with replacement before we see it
    (MiniStack does too, even for binary types): README "Byte-exact intake"."""
    tx = http.issue()
    body = fresh("pacs008_bare.xml").replace(b"Muster Maschinenbau", b"Muster Masch\xc0\xafinenbau")
    headers = {"Content-Type": "application/octet-stream", "X-Transaction-Id": tx, "X-Message-Type": "pacs.008"}
    assert_json(http.call("POST", "/inbox", body=body, headers=headers), 202)
    drain(http.svc)
    doc = assert_xml(http.outbox(tx), PACS002["p"])
    assert tx_sts(doc) == "RJCT" and doc.xpath("//*[local-name()='Cd']/text()") == ["FF01"]


# == coverage of the routes (keep last) ====================================================


def test_every_route_of_app_py_is_called_by_a_test_here(request):
    """A route added to app.py without a test here fails this (when the whole module runs)."""
    others = {item.nodeid for item in request.node.parent.collect() if isinstance(item, pytest.Function)}
    if not others - {request.node.nodeid} <= RAN:
        pytest.skip("run the whole module: this checks what the other tests called")
    assert ROUTES, "app.py declares no routes?"
    missing = sorted(ROUTES - CALLED)
    assert not missing, f"routes no test calls: {missing}"
