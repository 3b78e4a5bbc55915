"""chalicelib/openapi.json, the API's OpenAPI 3.1 document, against app.py and chalicelib/api.py.

Everything here is derived from the code: the routes from `app.routes`, the scope of each
from the `access` its `protected(...)` decorator closed over, the error codes from
`api.STATUS`, the `BadRequest`s and `error(...)` calls of api.py and the auth errors.
`GET /openapi.json` itself is called in tests/unit/test_routes.py; schemathesis checks the
document against the running API in tests/e2e/test_schemathesis.py.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.versions import consts as versions
from openapi_spec_validator.versions.shortcuts import get_spec_version
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import app as app_module
from chalicelib import api, auth
from chalicelib.projections.records import CancellationAnswer, RefusedSubmission, TransactionIds, TransactionRecord
from tests.messages import fresh
from tests.unit import test_routes
from tests.unit.fakes import drain
from tests.unit.test_routes import http, keys  # noqa: F401  (fixtures: the API over an in-memory Region)

DOCUMENT = Path(app_module.__file__).parent / "chalicelib" / "openapi.json"
DOC: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
ROUTES = {(path, method): entry for path, methods in app_module.app.routes.items() for method, entry in methods.items()}
OPERATIONS = {
    (path, method.upper()): op
    for path, item in DOC["paths"].items()
    for method, op in item.items()
    if method in METHODS
}


def resolve(node: Any) -> Any:
    """A `$ref` of this document, followed (recursively)."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = DOC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def error_codes(schema: Any) -> set[str]:
    """The `error_code` enums anywhere in a response schema."""
    schema = resolve(schema)
    found: set[str] = set()
    if isinstance(schema, dict):
        code = schema.get("properties", {}).get("error_code", {})
        found |= set(code.get("enum", []))
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(key, []):
                found |= error_codes(sub)
    return found


def codes_by_status() -> dict[int, set[str]]:
    """Every error code of the document, under each status that answers it."""
    out: dict[int, set[str]] = {}
    for op in OPERATIONS.values():
        for status, response in op["responses"].items():
            for media in resolve(response).get("content", {}).values():
                out.setdefault(int(status), set()).update(error_codes(media["schema"]))
    return out


def access_of(entry: Any) -> str | None:
    """The scope a route's `protected(READ|WRITE)` asks for (None: `api.handles_errors(app)`, no token)."""
    closure = inspect.getclosurevars(entry.view_function).nonlocals
    assert "access" in closure, f"{entry.view_name} is not decorated by api.handles_errors"
    return closure["access"]


# -- the document ------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1():
    assert get_spec_version(DOC) == versions.OPENAPIV31
    validate(DOC)


def test_every_route_of_app_py_is_documented_and_nothing_else():
    assert set(OPERATIONS) == set(ROUTES)


@pytest.mark.parametrize("route", sorted(ROUTES), ids=" ".join)
def test_path_parameters_are_the_routes(route):
    path, method = route
    declared = {resolve(p)["name"] for p in OPERATIONS[route].get("parameters", []) if resolve(p)["in"] == "path"}
    assert declared == set(re.findall(r"\{([^}]+)\}", path)) == set(ROUTES[route].view_args)


@pytest.mark.parametrize("route", sorted(ROUTES), ids=" ".join)
def test_each_operation_asks_for_the_scope_its_route_checks(route):
    access = access_of(ROUTES[route])
    security = OPERATIONS[route]["security"]
    if access is None:
        assert security == [], "a route without a token check is documented as public"
        assert ROUTES[route].authorizer is None
    else:
        assert security == [{"oauth2": [f"pacsflow/{access}"]}]
        assert ROUTES[route].authorizer is not None
        flows = DOC["components"]["securitySchemes"]["oauth2"]["flows"]
        assert f"pacsflow/{access}" in flows["clientCredentials"]["scopes"]
        for status in ("401", "403"):
            assert status in OPERATIONS[route]["responses"]


def test_the_oauth2_scheme_is_client_credentials_with_the_read_write_and_admin_scopes():
    scheme = DOC["components"]["securitySchemes"]["oauth2"]
    assert scheme["type"] == "oauth2" and set(scheme["flows"]) == {"clientCredentials"}
    assert set(scheme["flows"]["clientCredentials"]["scopes"]) == {"pacsflow/read", "pacsflow/write", "pacsflow/admin"}
    assert auth.TokenPolicy.scope_prefix == "pacsflow"


@pytest.mark.parametrize("route", sorted(ROUTES), ids=" ".join)
def test_every_operation_documents_500_and_415_and_headers_it_reads(route):
    op = OPERATIONS[route]
    assert {"415", "500"} <= set(op["responses"])
    headers = {resolve(p)["name"].lower() for p in op.get("parameters", []) if resolve(p)["in"] == "header"}
    source = inspect.getsource(ROUTES[route].view_function)
    read = {h.lower() for h in re.findall(r'headers\.get\("(x-[a-z-]+|idempotency-key)"\)', source)}
    assert headers == read


# -- the error codes ---------------------------------------------------------------------


def named_error_codes() -> dict[str, int]:
    """error_code -> status of every error api.STATUS maps (as api.status_of answers it)."""
    out = {}
    for cls, status in api.STATUS.items():
        known = api.status_of(cls.__new__(cls))
        assert known is not None
        out[known[1]] = status
    return out


def api_py_codes() -> dict[str, int]:
    """error_code -> status of each BadRequest and each error(app, status, code, ...) in api.py."""
    source = inspect.getsource(api)
    found = re.findall(r'(?:BadRequest|error)\(\s*(?:app,\s*)?(\d{3}),\s*"([A-Z_]+)"', source)
    assert {"INVALID_TRANSACTION_ID", "INVALID_JSON", "BODY_TOO_LARGE", "INTERNAL_ERROR"} <= {c for _, c in found}
    return {code: int(status) for status, code in found}


def auth_codes() -> dict[str, int]:
    classes = [auth.AuthError, *auth.AuthError.__subclasses__()]
    return {cls.error_code: cls.status for cls in classes}


def test_every_error_code_of_the_code_is_documented_under_its_status():
    documented = codes_by_status()
    expected = {**named_error_codes(), **api_py_codes(), **auth_codes()}
    missing = {code: status for code, status in expected.items() if code not in documented.get(status, set())}
    assert not missing, f"error codes the API answers with and the document does not list: {missing}"


def test_the_document_lists_no_error_code_the_code_cannot_answer():
    known = {**named_error_codes(), **api_py_codes(), **auth_codes()}
    stray = {
        (status, code) for status, codes in codes_by_status().items() for code in codes if known.get(code) != status
    }
    assert not stray


def test_each_error_code_is_explained_in_its_response_description():
    for route, op in OPERATIONS.items():
        for status, response in op["responses"].items():
            for media in resolve(response).get("content", {}).values():
                for code in error_codes(media["schema"]):
                    assert f"`{code}`" in resolve(response)["description"], (route, status, code)


# -- the JSON bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "record, schema",
    [
        (TransactionRecord, "Transaction"),
        (CancellationAnswer, "CancellationAnswer"),
        (RefusedSubmission, "RefusedSubmission"),
        (TransactionIds, "TransactionIds"),
    ],
)
def test_the_view_schemas_have_the_records_fields(record, schema):
    fields = {f.name for f in dataclasses.fields(record)}
    properties = set(DOC["components"]["schemas"][schema]["properties"])
    assert properties == fields


def test_the_route_serves_this_very_document():
    assert json.loads(app_module.OPENAPI) == DOC


# -- real answers of the routes conform to it ------------------------------------------------
# (schemathesis, end to end, mostly meets unknown transaction ids: here a real payment's answers)


def conforms(response: Any, path: str, method: str) -> None:
    """The response's status is documented for the operation, with its content type, body schema and headers."""
    op = OPERATIONS[(path, method)]
    documented = op["responses"].get(str(response.status_code))
    assert documented is not None, (path, method, response.status_code, response.body[:200])
    documented = resolve(documented)
    ctype = (next((v for k, v in response.headers.items() if k.lower() == "content-type"), "")).split(";")[0]
    assert ctype in documented["content"], (path, method, response.status_code, ctype)
    pointer = "/".join(
        p.replace("~", "~0").replace("/", "~1")
        for p in ("paths", path, method.lower(), "responses", str(response.status_code), "content", ctype, "schema")
    )
    registry = Registry().with_resource("urn:pacsflow:openapi", Resource.from_contents(DOC, DRAFT202012))
    validator = Draft202012Validator(
        {"$ref": f"urn:pacsflow:openapi#/{pointer}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    body = json.loads(response.body) if ctype == "application/json" else response.body.decode()
    validator.validate(body)
    for name, spec in documented.get("headers", {}).items():
        value = next((v for k, v in response.headers.items() if k.lower() == name.lower()), None)
        if resolve(spec).get("required"):
            assert value is not None, (path, method, name)
        if value is not None:
            Draft202012Validator(resolve(spec)["schema"]).validate(value)


@pytest.fixture
def uncounted() -> Any:
    """test_routes counts the routes its own tests call: the calls made here must not count."""
    before = set(test_routes.CALLED)
    yield
    test_routes.CALLED.clear()
    test_routes.CALLED.update(before)


@pytest.mark.filterwarnings("ignore:CognitoUserPoolAuthorizer:UserWarning")
def test_the_routes_real_answers_conform_to_the_document(http, uncounted):  # noqa: F811  (a fixture)
    from tests.unit.test_routes import XML, ids_of, pacs028, token

    conforms(http.call("GET", "/", auth_as=None), "/", "GET")
    conforms(http.call("GET", "/openapi.json", auth_as=None), "/openapi.json", "GET")
    conforms(http.call("POST", "/transactions", headers=XML), "/transactions", "POST")
    tx = http.issue()
    conforms(http.call("GET", "/uuid"), "/uuid", "GET")
    message = fresh("pacs008_bare.xml")
    conforms(http.submit(tx, message), "/inbox", "POST")
    conforms(http.outbox(tx), "/outbox", "POST")  # 409 not ready
    drain(http.svc)
    http.follow(tx)
    conforms(http.outbox(tx), "/outbox", "POST")
    conforms(http.call("GET", f"/transactions/{tx}"), "/transactions/{transaction_id}", "GET")
    conforms(http.call("GET", f"/transactions/{tx}/events"), "/transactions/{transaction_id}/events", "GET")
    conforms(http.call("GET", f"/transactions?uetr={ids_of(message)['uetr']}"), "/transactions", "GET")
    conforms(
        http.call(
            "POST",
            "/status-requests",
            body=pacs028(ids_of(message)["uetr"], ids_of(message)["end_to_end_id"]),
            headers=XML,
        ),
        "/status-requests",
        "POST",
    )
    conforms(http.cancel(tx, {"reason": "CUST", "case_id": "C-1"}), "/transactions/{transaction_id}/cancel", "POST")
    conforms(http.call("GET", f"/transactions/{tx}"), "/transactions/{transaction_id}", "GET")  # with its RJCR
    # errors
    conforms(http.call("GET", "/uuid", auth_as=None), "/uuid", "GET")
    conforms(http.call("GET", "/transactions?uetr=x", auth_as=token(scope="pacsflow/write")), "/transactions", "GET")
    conforms(http.call("GET", "/transactions"), "/transactions", "GET")
    conforms(http.call("GET", "/transactions/nope"), "/transactions/{transaction_id}", "GET")
    conforms(http.call("GET", f"/transactions/{uuid.uuid4()}/events"), "/transactions/{transaction_id}/events", "GET")
    conforms(http.submit(tx, fresh("pacs008_bah_envelope.xml")), "/inbox", "POST")  # 409 another message
    conforms(http.cancel(tx, b"{nope"), "/transactions/{transaction_id}/cancel", "POST")
    conforms(
        http.call("POST", "/inbox", body=b"x", headers={"Content-Type": "image/png", "X-Transaction-Id": tx}),
        "/inbox",
        "POST",
    )
    conforms(http.call("POST", "/status-requests", body=b"<a/>", headers=XML), "/status-requests", "POST")


def test_a_read_is_the_transaction_and_its_consistency():
    """GET /transactions/{id} answers the view's Transaction plus `consistency` (X-Consistency)."""
    schemas = DOC["components"]["schemas"]
    read, view = schemas["TransactionRead"], schemas["Transaction"]
    extra = {k: read["properties"][k] for k in ("consistency", "as_of")}  # what the read adds to the view
    assert read["properties"] == {**view["properties"], **extra}
    assert read["required"] == [*view["required"], "consistency"]
    assert read["additionalProperties"] is False
