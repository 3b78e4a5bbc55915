"""What only real AWS would show, checked offline on the packaged template and the code.

MiniStack accepts access tokens on unscoped methods, ignores KMS, X-Ray, access logs and
retention, and never times out a call: these tests hold the template and the clients to
AWS's documented behaviour instead.
"""

from __future__ import annotations

import ast
import json
import os
from typing import Any

import pytest

from infra.deploy import REPO, package

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    out = package("local")
    return json.loads((out / "sam.json").read_text())


def functions_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


# -- issue 8 item 10: every client gives up before its function does ----------------------


def _worst_case_seconds(config: Any) -> float:
    """One call's longest wait: every attempt times out connecting and reading, plus the
    standard retry mode's back-off before each retry (at most 2**(n-1) s before retry n)."""
    retries = config.retries
    assert retries["mode"] == "standard", retries
    attempts = retries["total_max_attempts"]  # botocore's name for all calls, the first included
    backoff = sum(min(2 ** (n - 1), 20) for n in range(1, attempts))
    return attempts * (config.connect_timeout + config.read_timeout) + backoff


def _clients() -> dict[str, Any]:
    from chalicelib.adapters import aws as adapters_aws
    from chalicelib.eventstore.aws import new_client

    adapters_aws._client.cache_clear()
    made = {f"adapters:{s}": adapters_aws.client(s) for s in ("dynamodb", "s3", "secretsmanager", "sns", "sqs")}
    made.update({f"eventstore:{s}": new_client(s) for s in ("dynamodb", "s3")})  # type: ignore[call-overload]
    adapters_aws._client.cache_clear()
    return made


def test_every_client_times_out_before_the_shortest_function(template, monkeypatch):
    monkeypatch.setitem(os.environ, "AWS_DEFAULT_REGION", "eu-west-1")
    timeouts = {name: f["Properties"]["Timeout"] for name, f in functions_of(template).items()}
    assert set(timeouts) == {"APIHandler", "Incoming", "Processing", "Releasing", "ViewFollower"}
    for name, client in _clients().items():
        config = client.meta.config
        assert config.connect_timeout is not None and config.read_timeout is not None, name
        worst = _worst_case_seconds(config)
        for function, timeout in timeouts.items():
            assert worst < timeout, f"{name}: a call may take {worst} s, {function} stops after {timeout} s"


def test_the_code_makes_clients_only_through_the_two_configured_factories():
    """Any other boto3 client would have botocore's 60 s + 60 s defaults."""
    factories = {REPO / "chalicelib" / "adapters" / "aws.py", REPO / "chalicelib" / "eventstore" / "aws.py"}
    offenders = []
    for path in [REPO / "app.py", *(REPO / "chalicelib").rglob("*.py")]:
        if path in factories:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in ("client", "resource") and "boto3" in ast.unparse(node.func.value):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("boto3.client", "boto3.resource"):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not offenders, offenders
    for path in factories:
        assert "config=" in path.read_text(), path
