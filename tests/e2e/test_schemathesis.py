"""The running API against its own OpenAPI document (served at GET /openapi.json), by schemathesis.

For every operation, schemathesis generates requests the document allows (a bounded,
derandomized number) and sends them to the local stack with client A's bearer token (both
scopes). Each answer must be no 5xx and conform to the document: a documented status code,
its content type, its JSON schema (error codes included) and its documented headers. When
an answer does not conform, fix chalicelib/openapi.json, not this check.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e
EXAMPLES = 15  # per operation: the whole module runs within about two minutes on the local stack
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


# The operations, from the committed document (the served one is checked to be the same).
DOCUMENT = json.loads((Path(__file__).parents[2] / "chalicelib" / "openapi.json").read_text(encoding="utf-8"))
OPERATIONS = [
    pytest.param(path, method.upper(), id=f"{method.upper()} {path}")
    for path, item in DOCUMENT["paths"].items()
    for method in item
]


@pytest.fixture(scope="module")
def served_document(api: Api) -> schemathesis.BaseSchema:
    """The document as the stack serves it, pointed at the stack's API."""
    document = requests.get(api.url + "/openapi.json", timeout=30)
    assert document.status_code == 200, document.text[:300]
    assert document.headers["Content-Type"].startswith("application/json")
    assert document.json() == DOCUMENT
    schema = schemathesis.openapi.from_dict(document.json())
    schema.config.update(base_url=api.url)
    schema.config.generation.update(modes=[GenerationMode.POSITIVE], max_examples=EXAMPLES, deterministic=True)
    return schema


# schemathesis.pytest.from_fixture cannot run under pytest 9.2 (it sets Function._nodeid, which pytest 9
# no longer has), so each operation is one test that runs hypothesis over schemathesis' strategy.
@pytest.mark.parametrize("path, method", OPERATIONS)
def test_the_api_answers_as_its_openapi_document_says(served_document, api: Api, path: str, method: str):
    authorization = {"Authorization": f"Bearer {api.token}"}

    @given(case=served_document[path][method].as_strategy())
    @settings(
        max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=authorization, checks=CHECKS, timeout=60)

    answers_as_documented()
