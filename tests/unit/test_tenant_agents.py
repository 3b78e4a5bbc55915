"""A tenant acts only for the instructing agents the stage maps it to (Settings.tenant_agents).

Claims of MsgIds and EndToEndIds are keyed by instructing agent, so a tenant free to name
any agent could send as another bank and take that bank's (predictable) EndToEndIds first,
and the bank's own payments would be rejected AM05. Mapped, a message naming an agent its
tenant may not act for is rejected AGNT, every transaction of it, before anything is claimed.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest
from lxml import etree
from pydantic import ValidationError

from chalicelib import bootstrap, checks
from chalicelib.adapters.settings import Settings
from chalicelib.checks import CheckSettings, rules
from chalicelib.domain import TxSts
from chalicelib.domain.bic import acts_for
from chalicelib.iso20022 import read_credit_transfer
from infra import deploy
from tests.messages import fresh
from tests.unit.fakes import _screening, drain, memory_adapters, memory_service

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}
A, B = "tenant-a", "tenant-b"
# The samples' instructing agent is DEUTDEFFXXX (tenant A's bank); tenant B is BNP Paribas.
AGENTS = {A: ["DEUTDEFFXXX"], B: ["BNPAFRPPXXX"]}


def pay(p, body: bytes, owner: str):
    tx = p.issue_transaction("pacs.008", "r", owner).id
    p.submit(tx, "pacs.008", body, owner)
    drain(p)
    return tx


def outcome(p, tx, owner: str) -> tuple[str, list[str]]:
    doc = etree.fromstring(p.status_report(tx, owner))
    status = doc.findtext(".//p:TxInfAndSts/p:TxSts", namespaces=NS) or doc.findtext(".//p:GrpSts", namespaces=NS)
    return status, doc.xpath(".//p:StsRsnInf/p:Rsn/p:Cd/text()", namespaces=NS)


def held(p) -> set[tuple[str, str]]:
    return set(p.adapters.claims.held)


# -- the pipeline -------------------------------------------------------------------------


def test_a_tenant_sending_as_another_tenants_agent_is_rejected_agnt_and_claims_nothing():
    p = memory_service(limits='{"*": "1000000"}', tenant_agents=AGENTS)
    body = fresh("pacs008_bare.xml")  # InstgAgt DEUTDEFFXXX: tenant A's
    theirs = pay(p, body, B)
    assert outcome(p, theirs, B) == ("RJCT", ["AGNT"])
    assert held(p) == set()  # neither the MsgId nor the UETR nor the EndToEndId was taken
    assert not any(o.reserved for o in p.payments.get_payment(theirs).transactions)  # nor A's liquidity
    # tenant A's real payment, with the same identifiers, is not a duplicate of it
    ours = pay(p, body, A)
    assert outcome(p, ours, A) == ("ACSC", [])
    assert {kind for kind, _ in held(p)} == {"msg", "uetr", "e2e"}
    assert all(o.reserved for o in p.payments.get_payment(ours).transactions)


def test_the_rejection_says_which_agent_and_names_no_other_tenant():
    p = memory_service(tenant_agents=AGENTS)
    tx = pay(p, fresh("pacs008_bare.xml"), B)
    payment = p.payments.get_payment(tx)
    (verdict,) = [v for v in payment.checks if not v.passed]
    assert verdict.rule == "instructing_agent_allowed" and verdict.reason_code == "AGNT"
    assert "DEUTDEFFXXX" in verdict.narrative and A not in verdict.narrative
    assert payment.rejected_at_step == "processing"


@pytest.mark.parametrize("allowed", [["DEUTDEFFXXX"], ["COBADEFFXXX", "DEUTDEFFXXX"]])
def test_a_tenant_sending_as_its_own_agent_settles(allowed):
    p = memory_service(tenant_agents={A: allowed})
    tx = pay(p, fresh("pacs008_bare.xml"), A)
    assert outcome(p, tx, A) == ("ACSC", [])
    assert "instructing_agent_allowed" in [v.rule for v in p.payments.get_payment(tx).checks]


def test_a_tenant_the_mapping_does_not_list_may_act_for_no_agent():
    p = memory_service(tenant_agents=AGENTS)
    tx = pay(p, fresh("pacs008_bare.xml"), "tenant-c")
    assert outcome(p, tx, "tenant-c") == ("RJCT", ["AGNT"])
    assert held(p) == set()


@pytest.mark.parametrize("listed", [["DEUTDEFF500"], ["DEUTDEFF"]])
def test_an_entry_allows_that_spelling_only(listed):
    """DEUTDEFFXXX is refused to a tenant that lists branch 500, or the BIC8 of the same
    primary office: claims and limits key each spelling apart, so another spelling would be
    a fresh claim space and a fresh limit."""
    p = memory_service(tenant_agents={A: listed})
    tx = pay(p, fresh("pacs008_bare.xml"), A)  # DEUTDEFFXXX
    assert outcome(p, tx, A) == ("RJCT", ["AGNT"])


def test_one_foreign_instructing_agent_rejects_every_transaction_of_the_message_and_claims_nothing():
    p = memory_service(tenant_agents=AGENTS)
    body = fresh("pacs008_two_txs.xml")
    second = body.index(b"<CdtTrfTxInf>", body.index(b"<CdtTrfTxInf>") + 1)
    body = body[:second] + body[second:].replace(b"<BICFI>DEUTDEFFXXX</BICFI>", b"<BICFI>BNPAFRPPXXX</BICFI>", 1)
    tx = pay(p, body, B)  # the second transaction is B's own; the first is A's agent
    payment = p.payments.get_payment(tx)
    assert payment.tx_sts is TxSts.RJCT
    assert [(o.status, [r.code for r in o.reasons]) for o in payment.transactions] == [
        ("RJCT", ["AGNT"]),
        ("RJCT", ["AGNT"]),
    ]
    assert held(p) == set()
    (verdict,) = [v for v in payment.checks if v.rule == "instructing_agent_allowed"]
    assert "tx 1: InstgAgt DEUTDEFFXXX" in verdict.narrative and "tx 2" not in verdict.narrative


def test_without_a_mapping_any_tenant_names_any_agent_and_no_verdict_is_recorded():
    """The local default: behaviour and recorded verdicts as before the setting existed."""
    p = memory_service()
    tx = pay(p, fresh("pacs008_bare.xml"), B)
    assert outcome(p, tx, B) == ("ACSC", [])
    assert "instructing_agent_allowed" not in [v.rule for v in p.payments.get_payment(tx).checks]


def test_disabling_the_rule_by_name_does_not_switch_the_mapping_off():
    disabled = CheckSettings(disabled_rules=frozenset({"instructing_agent_allowed"}))
    p = bootstrap.build(Settings(tenant_agents=AGENTS), **{**memory_adapters(), "check_settings": disabled})
    tx = pay(p, fresh("pacs008_bare.xml"), B)
    assert outcome(p, tx, B) == ("RJCT", ["AGNT"])


# -- the rule ------------------------------------------------------------------------------

RAW = fresh("pacs008_bare.xml")
DAY = date.today()


def judged(ct, agents: frozenset[str] | None):
    group, _ = checks.run_by_transaction(ct, CheckSettings(), screening=_screening(), today=DAY, agents=agents)
    return {v.rule: v for v in group}.get("instructing_agent_allowed")


def test_an_instructing_agent_given_by_another_scheme_is_not_one_a_tenant_may_act_for():
    """Claims are keyed by the agent's identifier whatever its scheme: an Othr/Id or a
    clearing member id spelling an allowed BIC is not that BIC."""
    ct = read_credit_transfer(RAW)
    tx = ct.transactions[0]
    for scheme in ("Othr", "ClrSysMmbId:USABA", "LEI"):
        other = replace(ct, transactions=(replace(tx, instructing_agent_scheme=scheme),))
        verdict = judged(other, frozenset({"DEUTDEFFXXX"}))
        assert verdict is not None and not verdict.passed, scheme
    assert judged(ct, frozenset({"DEUTDEFFXXX"})).passed


def test_a_message_naming_no_instructing_agent_is_not_one_a_tenant_may_act_for():
    ct = read_credit_transfer(RAW)
    bare = replace(ct, instructing_agent=None, transactions=(replace(ct.transactions[0], instructing_agent=None),))
    verdict = judged(bare, frozenset({"DEUTDEFFXXX"}))
    assert not verdict.passed and "no InstgAgt" in verdict.narrative


def test_a_foreign_group_header_agent_fails_even_when_every_transaction_names_its_own():
    ct = read_credit_transfer(RAW)
    foreign = replace(ct, instructing_agent="COBADEFFXXX", instructing_agent_scheme="BICFI")
    verdict = judged(foreign, frozenset({"DEUTDEFFXXX"}))
    assert not verdict.passed and verdict.narrative.startswith("GrpHdr InstgAgt COBADEFFXXX")


def test_the_rule_is_not_run_without_a_mapping_and_the_validator_runs_it_not():
    ct = read_credit_transfer(RAW)
    assert judged(ct, None) is None
    assert "instructing_agent_allowed" not in [v.rule for v in checks.run(ct, screening=_screening(), today=DAY)]
    assert rules.instructing_agent_allowed.reason_code == "AGNT"


@pytest.mark.parametrize(
    ("allowed", "bic", "expected"),
    [
        ({"DEUTDEFFXXX"}, "DEUTDEFFXXX", True),
        ({"DEUTDEFF"}, "DEUTDEFF", True),
        ({"DEUTDEFF"}, "DEUTDEFFXXX", False),  # one primary office, but another agent for claims and limits
        ({"DEUTDEFFXXX"}, "DEUTDEFF", False),
        ({"DEUTDEFF"}, "DEUTDEFF500", False),  # a branch is listed on its own
        ({"DEUTDEFF500"}, "DEUTDEFF500", True),
        ({"DEUTDEFF500"}, "DEUTDEFF", False),
        ({"DEUTDEFF"}, "DEUTDEFG", False),
        ({"DEUTDEFF"}, "deutdeff", False),
        ({"DEUTDEFF5"}, "DEUTDEFF5", False),  # not a BIC, even when listed
        (set(), "DEUTDEFF", False),
    ],
)
def test_which_bics_an_entry_covers(allowed, bic, expected):
    assert acts_for(frozenset(allowed), bic) is expected


# -- the setting ---------------------------------------------------------------------------


def test_the_mapping_is_read_from_the_environment_as_json(monkeypatch):
    monkeypatch.setenv("PACSFLOW_TENANT_AGENTS", '{"tenant-a": ["DEUTDEFF", "DEUTDEFF500"]}')
    assert Settings().tenant_agents == {"tenant-a": ["DEUTDEFF", "DEUTDEFF500"]}
    monkeypatch.delenv("PACSFLOW_TENANT_AGENTS")
    assert Settings().tenant_agents == {}


@pytest.mark.parametrize(
    "mapping",
    [
        {"tenant-a": ["deutdeff"]},  # lower case would match no message and fail closed unnoticed
        {"tenant-a": ["DEUTDEFF "]},
        {"tenant-a": ["DEUTDEF"]},
        {"tenant-a": ["DEUTDEFF5"]},
        {"tenant-a": ["DEUT12FF"]},  # the country is two letters
        {"tenant#a": ["DEUTDEFF"]},  # a tenant name as PACSFLOW_TENANTS's
        {"tenant-a": "DEUTDEFF"},
    ],
)
def test_the_mapping_refuses_what_is_not_a_tenant_and_bics(mapping):
    with pytest.raises(ValidationError):
        Settings(tenant_agents=mapping)


@pytest.mark.parametrize(
    "mapping",
    [
        {"tenant-a": ["DEUTDEFFXXX"], "tenant-b": ["DEUTDEFFXXX"]},  # two tenants would claim each other's ids
        {"tenant-a": ["DEUTDEFFXXX"], "tenant-b": ["DEUTDEFF"]},  # the same primary office
        {"tenant-a": ["DEUTDEFF", "DEUTDEFFXXX"]},  # one bank, two claim spaces and two limits
        {"tenant-a": ["DEUTDEFF500", "DEUTDEFF500"]},
    ],
)
def test_a_bic_is_listed_once_in_one_spelling(mapping):
    with pytest.raises(ValidationError, match="listed twice"):
        Settings(tenant_agents=mapping)
    assert Settings(tenant_agents={"tenant-a": ["DEUTDEFFXXX", "DEUTDEFF500"]})  # a branch is its own agent


def test_a_limit_on_a_bic_no_tenant_sends_as_is_refused():
    """A limit on DEUTDEFF while the tenant sends as DEUTDEFFXXX would bind no message: no
    limit at all, unnoticed."""
    agents = {"tenant-a": ["DEUTDEFFXXX"]}
    for unbound in ('{"DEUTDEFF:EUR": "1000"}', '{"DEUTDEFF500": "1000"}', '{"COBADEFFXXX": "1"}'):
        with pytest.raises(ValidationError, match="would bind no message"):
            Settings(tenant_agents=agents, liquidity_limits=unbound)
    bound = '{"DEUTDEFFXXX:EUR": "1000", "*": "10", "OTHER-ID-1": "5"}'  # "*" and non-BIC ids: as before
    assert Settings(tenant_agents=agents, liquidity_limits=bound).liquidity_limits == bound
    assert Settings(liquidity_limits='{"DEUTDEFF:EUR": "1000"}')  # no mapping (local): nothing to check against


@pytest.mark.parametrize("empty", ["{}", "{ }", "{\n}", "null"])
def test_a_stage_other_than_local_refuses_an_empty_mapping_in_any_spelling(monkeypatch, empty):
    """The template's rule compares text only; the functions' Settings parse it and refuse
    every spelling of "no mapping" outside local, which would switch the agent rule off."""
    monkeypatch.setenv("PACSFLOW_TENANT_AGENTS", empty)
    assert Settings().tenant_agents == {}  # local: any tenant may send as any agent
    monkeypatch.setenv("PACSFLOW_STAGE", "eu-west-1")
    with pytest.raises(ValidationError, match="PACSFLOW_TENANT_AGENTS"):
        Settings()
    monkeypatch.delenv("PACSFLOW_TENANT_AGENTS")
    with pytest.raises(ValidationError, match="PACSFLOW_TENANT_AGENTS"):
        Settings()
    monkeypatch.setenv("PACSFLOW_TENANT_AGENTS", '{"tenant-a": ["DEUTDEFFXXX"]}')
    assert Settings().tenant_agents == {"tenant-a": ["DEUTDEFFXXX"]}


def test_the_mapping_reaches_the_processing_step_through_the_composition_root():
    p = memory_service(tenant_agents={A: ["DEUTDEFFXXX", "DEUTDEFF500"]})
    assert p.processing.decide.tenant_agents == {A: frozenset({"DEUTDEFFXXX", "DEUTDEFF500"})}
    assert memory_service().processing.decide.tenant_agents == {}


# -- the deploy ----------------------------------------------------------------------------


def test_make_run_and_make_deploy_pass_the_mapping_from_the_environment_checked(monkeypatch):
    monkeypatch.delenv("PACSFLOW_TENANT_AGENTS", raising=False)
    assert deploy.tenant_agents_parameters() == {}
    assert "TenantAgents" not in deploy.local_parameters()  # the template's {}: local only
    mapping = '{"acme-bank": ["ACMEDEFF"], "tenant-b": ["BNPAFRPP", "BNPAFRPP500"]}'
    monkeypatch.setenv("PACSFLOW_TENANT_AGENTS", mapping)
    assert deploy.tenant_agents_parameters() == {"TenantAgents": mapping}
    assert deploy.local_parameters()["TenantAgents"] == mapping
    # refused before any stack is touched: every function would fail to start with it
    for wrong in ('{"acme-bank": ["acmedeff"]}', '{"acme-bank": "ACMEDEFF"}', "ACMEDEFF"):
        monkeypatch.setenv("PACSFLOW_TENANT_AGENTS", wrong)
        with pytest.raises(ValueError):
            deploy.tenant_agents_parameters()


@pytest.mark.parametrize("empty", ["{}", "{ }", "{\n}", "null"])
def test_make_deploy_refuses_an_empty_mapping_outside_local_in_any_spelling(monkeypatch, empty):
    """Before anything is packaged: the stack's rule would let "{ }" through, the functions
    would then refuse to start (Settings), after the deploy."""
    monkeypatch.setenv("PACSFLOW_TENANT_AGENTS", empty)
    with pytest.raises(ValueError, match="PACSFLOW_TENANT_AGENTS"):
        deploy.tenant_agents_parameters("eu-west-1")
    with pytest.raises(ValueError, match="PACSFLOW_TENANT_AGENTS"):
        deploy.deploy_aws("eu-west-1")  # no AWS call: refused first
    assert deploy.tenant_agents_parameters("local") == {"TenantAgents": empty}
    monkeypatch.setenv("PACSFLOW_TENANT_AGENTS", '{"acme-bank": ["ACMEDEFF"]}')
    assert deploy.tenant_agents_parameters("eu-west-1") == {"TenantAgents": '{"acme-bank": ["ACMEDEFF"]}'}


def test_make_deploy_names_the_variable_when_it_is_not_json(monkeypatch):
    """`make deploy` with a mistyped PACSFLOW_TENANT_AGENTS (here a shell that ate the quotes)
    names the variable, as the other refusals (Settings' ValidationError) do: json's bare
    "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)" says nothing
    of which of the many PACSFLOW_* variables is wrong."""
    monkeypatch.setenv("PACSFLOW_TENANT_AGENTS", "{acme-bank: [ACMEDEFF]}")
    with pytest.raises(ValueError, match="PACSFLOW_TENANT_AGENTS"):
        deploy.tenant_agents_parameters()


def test_make_deploy_passes_the_tenants_from_the_environment_checked(monkeypatch):
    """A single-Region `make deploy` passes PACSFLOW_TENANTS: without it a redeploy resets the
    stack's Tenants to {}, each client becomes its own tenant, and with the agent mapping
    keyed by tenant name every payment is rejected AGNT."""
    monkeypatch.delenv("PACSFLOW_TENANTS", raising=False)
    assert deploy.tenants_parameters() == {}
    monkeypatch.setenv("PACSFLOW_TENANTS", '{"4tq0example": "acme-bank"}')
    assert deploy.tenants_parameters() == {"Tenants": '{"4tq0example": "acme-bank"}'}
    for wrong in ('{"4tq0example": "acme#bank"}', "acme-bank"):
        monkeypatch.setenv("PACSFLOW_TENANTS", wrong)
        with pytest.raises(ValueError):
            deploy.tenants_parameters()


def test_linked_regions_map_every_operator_client_to_one_tenant():
    """Each Region's pool gives the operator another client id; an Idempotency-Key is the
    tenant's, so the operator clients of every Region are one tenant: a failback retried
    through the other Region is the same action, not a new one."""
    described = {
        region: {
            "stack_name": "pacsflow-local",
            "api_url": f"http://{region}",
            "clients": [{"client_id": f"{region}-{n}"} for n in ("a", "b", "ops")],
        }
        for region in ("us-east-1", "eu-west-1")
    }
    tenants = json.loads(deploy.link_parameters("us-east-1", described, "000000000000")["Tenants"])
    assert tenants["us-east-1-ops"] == tenants["eu-west-1-ops"] == deploy.OPERATOR_TENANT
    assert tenants["us-east-1-a"] == tenants["eu-west-1-a"] != tenants["us-east-1-b"]
