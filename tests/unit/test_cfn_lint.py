"""cfn-lint on the packaged template (what `make deploy` sends to AWS): MiniStack accepts much
that AWS refuses, so the template is checked against CloudFormation's own resource schemas."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint

from infra.deploy import package

pytestmark = pytest.mark.filterwarnings("ignore")

# Known errors, each (rule id, resource, message start) with the reason it is accepted for now.
# Empty: cfn-lint 1.58.0 finds no error (and no warning) in the packaged template. A new error
# fails the test; to accept one, add it here with a comment naming it.
KNOWN_ERRORS: set[tuple[str, str, str]] = set()


@pytest.fixture(scope="module")
def packaged() -> str:
    return (package("eu-west-1") / "sam.json").read_text()


def errors(template: str, region: str) -> set[tuple[str, str, str]]:
    found = set()
    for match in lint(template, config=ManualArgs(regions=[region])):
        if match.rule.severity == "error":
            path = match.path or []
            resource = str(path[1]) if len(path) > 1 and path[0] == "Resources" else "/".join(map(str, path))
            found.add((match.rule.id, resource, match.message))
    return found


def known(error: tuple[str, str, str]) -> bool:
    return any(
        error[0] == rule and error[1] == resource and error[2].startswith(start)
        for rule, resource, start in KNOWN_ERRORS
    )


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1"])
def test_the_packaged_template_has_no_cfn_lint_error(packaged, region):
    new = sorted(e for e in errors(packaged, region) if not known(e))
    assert not new, "cfn-lint errors:\n" + "\n".join(" ".join(e) for e in new)


def test_cfn_lint_does_check_the_template(packaged):
    """The check is real: a broken property in the same template is reported."""
    template = json.loads(packaged)
    template["Resources"]["EventsTable"]["Properties"]["BillingMode"] = "BOGUS"
    assert any(
        rule == "E3030" and resource == "EventsTable" for rule, resource, _ in errors(json.dumps(template), "eu-west-1")
    )
