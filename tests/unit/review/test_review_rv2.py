"""Review of the tenant -> instructing agents mapping (PACSFLOW_TENANT_AGENTS, merge of wip-agents).

Each test fails on the reviewed code and says what goes wrong and why it matters.
"""

from __future__ import annotations

import re
import uuid

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from chalicelib.adapters.settings import Settings
from infra import deploy
from infra.template import rules
from tests.messages import fresh
from tests.unit.fakes import memory_service
from tests.unit.test_tenant_agents import A, outcome, pay

_INSTG = re.compile(rb"(<InstgAgt>\s*<FinInstnId>\s*<BICFI>)DEUTDEFFXXX(</BICFI>)")
_UETR = re.compile(rb"<UETR>[^<]*</UETR>")


def as_bic8(body: bytes) -> bytes:
    """The same message with its InstgAgt spelt as the BIC8 (the primary office, ISO 9362)."""
    out, n = _INSTG.subn(rb"\1DEUTDEFF\2", body)
    assert n == 1
    return out


def cloudformation_refuses(stage: str, tenant_agents: str) -> bool:
    """The template's Rules as CloudFormation evaluates them (MiniStack's engine, as
    tests/unit/test_template.py uses it)."""
    from ministack.services.cloudformation import engine

    params = {"Stage": {"Value": stage}, "TenantAgents": {"Value": tenant_agents}}
    try:
        engine._evaluate_rules({"Rules": rules()}, params, {})
    except ValueError:
        return True
    return False


# -- a non-local stage can still run without the mapping -------------------------------------


@pytest.mark.parametrize("spelling", ["{ }", "{\n}", "null"])
def test_no_spelling_of_an_empty_mapping_lets_a_non_local_stage_run_open(monkeypatch, spelling):
    """The guard against a production stage without PACSFLOW_TENANT_AGENTS is the template
    rule TenantAgentsOutsideLocal, which compares the parameter's *text* with "{}" and "".
    Any other spelling of an empty mapping passes it: "{ }" or "{\\n}" (which `make deploy`
    also passes, deploy.tenant_agents_parameters only checks that Settings can read it),
    and "null", which pydantic-settings reads from the environment as the default {}. The
    functions then get an empty mapping, Decide passes agents=None and the rule is not run
    at all: any tenant may send as any bank and pre-claim its EndToEndIds (AM05 for the
    bank's real payments), the exact hole the change closes. Nothing on the function side
    refuses it, although Settings knows the stage (PACSFLOW_STAGE). Either guard holding is
    enough for this test: CloudFormation refuses the value, or the functions (Settings on a
    non-local stage) refuse an empty mapping or read a non-empty one."""
    refused = cloudformation_refuses("eu-west-1", spelling)
    monkeypatch.setenv("PACSFLOW_STAGE", "eu-west-1")
    monkeypatch.setenv("PACSFLOW_TENANT_AGENTS", spelling)
    try:
        mapping = Settings().tenant_agents
    except (ValidationError, SettingsError):
        return  # the functions refuse to start: loud, not open
    assert refused or mapping, f"TenantAgents={spelling!r}: accepted by the rule, read as {mapping!r} (check off)"


def test_make_deploy_passes_an_empty_mapping_that_the_stage_then_runs_without(monkeypatch):
    """The same hole end to end on the `make deploy` path: PACSFLOW_TENANT_AGENTS='{ }' is
    accepted by deploy.tenant_agents_parameters (checked "as the functions will read it"),
    passed as TenantAgents, accepted by the template rule on stage eu-west-1, and the
    service the functions build from it lets tenant-b send as tenant-a's bank (DEUTDEFF)
    and take its identifiers: tenant-a's real payment is then rejected as a duplicate."""
    monkeypatch.setenv("PACSFLOW_TENANT_AGENTS", "{ }")
    try:
        value = deploy.tenant_agents_parameters().get("TenantAgents")
    except ValueError:
        return  # refused before deploying: the hole is closed here
    if value is None or cloudformation_refuses("eu-west-1", value):
        return
    monkeypatch.setenv("PACSFLOW_TENANT_AGENTS", value)  # the function's environment
    monkeypatch.setenv("PACSFLOW_STAGE", "eu-west-1")
    try:
        settings = Settings()
    except (ValidationError, SettingsError):
        return
    monkeypatch.delenv("PACSFLOW_TENANT_AGENTS")
    monkeypatch.delenv("PACSFLOW_STAGE")
    p = memory_service(tenant_agents=settings.tenant_agents)
    body = fresh("pacs008_bare.xml")  # InstgAgt DEUTDEFFXXX: tenant-a's bank
    pay(p, body, "tenant-b")
    ours = pay(p, _UETR.sub(f"<UETR>{uuid.uuid4()}</UETR>".encode(), body), A)
    assert outcome(p, ours, A) == ("ACSC", []), "tenant-b pre-claimed tenant-a's MsgId/EndToEndId"


# -- one agent, two spellings: the rule says the same, claims and positions say not ------------


def test_a_payment_resent_under_the_bic8_spelling_of_its_instructing_agent_is_still_a_duplicate():
    """The change decides (domain/bic.py, README) that DEUTDEFF and DEUTDEFFXXX are the same
    agent, the primary office (ISO 9362), and lets a tenant mapped to either name either.
    But MsgIds and EndToEndIds are claimed per instructing agent by the raw text
    (pipeline/duplicates.py: "DEUTDEFFXXX|<MsgId>" vs "DEUTDEFF|<MsgId>"), so the same
    message resent with the other spelling (a new UETR, as a resubmitting system may set) is
    not a duplicate: the payment settles twice. A mapped tenant is exactly one that may use
    both spellings, so the mapping now blesses the duplicate-detection gap instead of
    keying claims the way it keys the agent (bic11)."""
    p = memory_service(limits='{"*": "1000000"}', tenant_agents={A: ["DEUTDEFF"]})
    body = fresh("pacs008_bare.xml")
    first = pay(p, body, A)
    assert outcome(p, first, A) == ("ACSC", [])
    again = _UETR.sub(f"<UETR>{uuid.uuid4()}</UETR>".encode(), as_bic8(body))  # same MsgId, same EndToEndId
    second = pay(p, again, A)
    status, reasons = outcome(p, second, A)
    assert status == "RJCT" and reasons and set(reasons) <= {"DUPL", "AM05"}, (status, reasons)


def test_a_liquidity_limit_on_the_primary_office_binds_its_bic8_spelling_too():
    """A tenant mapped to DEUTDEFFXXX (README: "the primary office, the same as the BIC8
    form in a message") may name DEUTDEFF, and does pass the agent rule with it; but
    liquidity positions and limits are keyed by the raw text (pipeline/liquidity.py
    limit_for: "DEUTDEFF:EUR", "DEUTDEFF", "*"), so the operator's limit on DEUTDEFFXXX does
    not apply and the same bank overdraws it by switching spelling. (With a BIC8 entry the
    tenant may also mint any branch code, DEUTDEFFZZZ..., each a fresh, unlimited position
    and a fresh claim space.)"""
    p = memory_service(limits='{"DEUTDEFFXXX:EUR": "2000"}', tenant_agents={A: ["DEUTDEFFXXX"]})
    first = pay(p, fresh("pacs008_bare.xml"), A)  # 1234.56 EUR of the 2000
    assert outcome(p, first, A) == ("ACSC", [])
    second = pay(p, as_bic8(fresh("pacs008_bare.xml")), A)  # another 1234.56 EUR, same bank
    assert outcome(p, second, A) == ("RJCT", ["AM04"])


# -- settings errors ----------------------------------------------------------------------------


def test_make_deploy_names_the_variable_when_it_is_not_json(monkeypatch):
    """`make deploy` with a mistyped PACSFLOW_TENANT_AGENTS (here a shell that ate the
    quotes) fails with json's bare "Expecting property name enclosed in double quotes: line
    1 column 2 (char 1)": nothing says which of the many PACSFLOW_* variables is wrong,
    while the other refusals (Settings' ValidationError) do name tenant_agents."""
    monkeypatch.setenv("PACSFLOW_TENANT_AGENTS", "{acme-bank: [ACMEDEFF]}")
    with pytest.raises(ValueError, match="PACSFLOW_TENANT_AGENTS"):
        deploy.tenant_agents_parameters()
