"""Each business rule, passing and failing, with its ISO reason code."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from chalicelib import checks
from chalicelib.checks import CheckSettings, rules
from chalicelib.checks.reference import COUNTRIES, CURRENCIES, FUND_CODES, MINOR_UNITS, NOT_A_SETTLEMENT_CURRENCY
from chalicelib.checks.sanctions import Screening
from chalicelib.domain.models import CreditTransfer, Transaction, Verdict
from chalicelib.iso20022 import read_credit_transfer

EVENTS = Path(__file__).resolve().parents[2] / "events"
BAH = read_credit_transfer((EVENTS / "pacs008_bah_envelope.xml").read_bytes())
TWO = read_credit_transfer((EVENTS / "pacs008_two_txs.xml").read_bytes())
DAY = date(2026, 4, 15)  # the events' settlement date
S = CheckSettings(max_transactions=5)
DEMO = Screening.load()  # the bundled demo list, whatever the environment says


def ct(base: CreditTransfer = BAH, tx: dict | None = None, index: int = 0, **top) -> CreditTransfer:
    """``base`` with group-level changes ``top``; ``tx`` changes transaction ``index``."""
    txs = list(base.transactions)
    if tx:
        txs[index] = replace(txs[index], **tx)
    return replace(base, transactions=tuple(txs), **top)


def one(rule, data, settings=S, today=DAY):
    return rule(data, rules.Context(data, settings, today, DEMO))


def failing(data, settings=S, today=DAY):
    return [(v.rule, v.reason_code) for v in checks.failed(checks.run(data, settings, screening=DEMO, today=today))]


def test_the_events_pass_every_rule():
    assert failing(BAH) == [] and failing(TWO) == []
    bare = read_credit_transfer((EVENTS / "pacs008_bare.xml").read_bytes())
    assert failing(bare) == []


def test_every_rule_runs_and_every_verdict_is_a_verdict_of_the_rule():
    """Every rule, the tenant's too when the sender's agents are known (the stage maps its
    tenants); without them, every rule but those (the offline validator, a local stage)."""
    verdicts = checks.run(BAH, S, screening=DEMO, today=DAY, agents=frozenset({"DEUTDEFFXXX"}))
    assert [v.rule for v in verdicts] == [r.__name__ for r in checks.RULES]
    unmapped = checks.run(BAH, S, screening=DEMO, today=DAY)
    assert [v.rule for v in unmapped] == [r.__name__ for r in checks.RULES if r.__name__ not in checks.TENANT_RULES]
    assert len(verdicts) >= 17
    for v in verdicts:
        assert type(v) is Verdict and (v.tx, v.reserved) == (None, False)
        assert v.passed is True and v.reason_code is None and v.narrative


def test_all_failures_are_reported_in_rule_order():
    bad = ct(tx={"currency": "XAU", "uetr": "not-a-uuid", "charge_bearer": "XXXX"}, msg_def_idr="pacs.008.001.09")
    assert failing(bad) == [
        ("bah_message_definition", "FF01"),
        ("uetr_format", "FF01"),
        ("currency_allowed", "AM03"),
        ("charge_bearer_allowed", "BE19"),
    ]


def test_every_rule_declares_a_four_character_reason_code():
    for rule in checks.RULES:
        assert len(rule.reason_code) == 4 and rule.reason_code.isalnum(), rule.__name__


@pytest.mark.parametrize(
    "bic, ok",
    [
        ("DEUTDEFF", True),
        ("DEUTDEFFXXX", True),
        ("DEUTDEFF500", True),
        ("BNPAFRPPXXX", True),
        ("ABCDXK2X", True),  # Kosovo: SWIFT's XK
        ("DEU1DEFF", True),
        ("1BCDDEFFXXX", True),  # ISO 9362:2014: alphanumeric party prefix
        ("DEUTDEF", False),
        ("DEUTDEFFXX", False),
        ("DEUT1EFF", False),
        ("DEUTZZFF", False),
        ("deutdeff", False),
        ("DEUTDEFFXXXX", False),
        ("ZZZZ99", False),
    ],
)
def test_bic_structure(bic, ok):
    v = one(rules.bic_structure, ct(tx={"creditor_agent": bic}))
    assert v.passed is ok
    if not ok:
        assert v.reason_code == "RC01" and "CdtrAgt" in v.narrative


def test_bic_structure_checks_the_bah_and_every_transaction_but_not_other_schemes():
    v = one(rules.bic_structure, ct(bah_from="DEUT1EFF"))
    assert not v.passed and "BAH Fr" in v.narrative
    two = ct(TWO, tx={"intermediary_agent1": "NOPE", "intermediary_agent1_scheme": "BICFI"}, index=1)
    v = one(rules.bic_structure, two)
    assert not v.passed and v.narrative.startswith("tx 2: IntrmyAgt1")
    assert one(rules.bic_structure, ct(tx={"creditor_agent": "12345", "creditor_agent_scheme": "ClrSysMmbId"})).passed


def test_clearing_member_id_checks_aba_routing_numbers():
    aba = {"instructed_agent_scheme": "ClrSysMmbId:USABA"}
    assert one(rules.clearing_member_id, ct(tx={**aba, "instructed_agent": "021040078"})).passed
    v = one(rules.clearing_member_id, ct(tx={**aba, "instructed_agent": "021040079"}))
    assert (v.passed, v.reason_code) == (False, "RC08") and "InstdAgt" in v.narrative
    assert not one(rules.clearing_member_id, ct(tx={**aba, "instructed_agent": "12345"})).passed
    other = {"instructed_agent_scheme": "ClrSysMmbId:DEBLZ", "instructed_agent": "50070010"}
    assert one(rules.clearing_member_id, ct(tx=other)).passed


def test_bah_agents_match():
    assert one(rules.bah_agents_match, BAH).passed
    assert one(rules.bah_agents_match, ct(bah_from="DEUTDEFF")).passed  # 8 = 11 with XXX
    v = one(rules.bah_agents_match, ct(bah_from="COBADEFFXXX"))
    assert (v.passed, v.reason_code) == (False, "AGNT") and "InstgAgt" in v.narrative
    v = one(rules.bah_agents_match, ct(bah_to="COBADEFFXXX"))
    assert not v.passed and "InstdAgt" in v.narrative
    no_bah = ct(app_hdr_type=None, bah_from="COBADEFFXXX")
    assert one(rules.bah_agents_match, no_bah).passed
    # an agent given by another scheme cannot be compared: not a mismatch
    other = ct(bah_from="COBADEFFXXX", tx={"instructing_agent_scheme": "ClrSysMmbId"})
    assert one(rules.bah_agents_match, other).passed


def test_bah_message_definition_and_business_message_id():
    assert one(rules.bah_message_definition, BAH).passed
    v = one(rules.bah_message_definition, ct(msg_def_idr="pacs.008.001.09"))
    assert (v.passed, v.reason_code) == (False, "FF01")
    assert one(rules.bah_business_message_id, BAH).passed
    v = one(rules.bah_business_message_id, ct(biz_msg_idr="OTHER"))
    assert (v.passed, v.reason_code) == (False, "FF01")
    assert one(rules.bah_message_definition, ct(app_hdr_type=None, msg_def_idr="x")).passed
    assert one(rules.bah_business_message_id, ct(app_hdr_type=None, biz_msg_idr="x")).passed


@pytest.mark.parametrize(
    "iban, why",
    [
        ("DE89370400440532013000", None),
        ("FR7630006000011234567890189", None),
        ("GB29NWBK60161331926819", None),
        ("GB29NWBK60161331926818", "check digits"),
        ("DE8937040044053201300", "length"),
        ("ZZ89370400440532013000", "country"),
    ],
)
def test_iban_valid(iban, why):
    v = one(rules.iban_valid, ct(tx={"creditor_account": iban, "creditor_account_scheme": "IBAN"}))
    assert v.passed is (why is None)
    if why:
        assert v.reason_code == "AC01" and why in v.narrative and "creditor" in v.narrative
        assert iban not in v.narrative and iban[4:] not in v.narrative


def test_iban_valid_ignores_other_account_schemes():
    data = ct(tx={"debtor_account": "12345", "debtor_account_scheme": "Othr"})
    assert one(rules.iban_valid, data).passed


@pytest.mark.parametrize(
    "ccy, rule, code",
    [
        ("ABC", rules.currency_known, "AM11"),
        ("XAU", rules.currency_allowed, "AM03"),
        ("XAG", rules.currency_allowed, "AM03"),
        ("XTS", rules.currency_allowed, "AM03"),
        ("XXX", rules.currency_allowed, "AM03"),
        ("XDR", rules.currency_allowed, "AM03"),
        ("XBA", rules.currency_allowed, "AM03"),
        ("USN", rules.currency_allowed, "AM03"),  # fund code, blocked by default
    ],
)
def test_currency_rules(ccy, rule, code):
    v = one(rule, ct(tx={"currency": ccy}, total_interbank_settlement_currency=None))
    assert (v.passed, v.reason_code) == (False, code)


def test_currency_allow_list_and_block_list_are_configurable():
    usd = ct(tx={"currency": "USD"})
    assert one(rules.currency_allowed, usd).passed
    assert not one(rules.currency_allowed, usd, CheckSettings(allowed_currencies={"EUR"})).passed
    assert one(rules.currency_allowed, ct(tx={"currency": "USN"}), CheckSettings(blocked_currencies=set())).passed
    assert not one(rules.currency_allowed, ct(tx={"currency": "XAU"}), CheckSettings(blocked_currencies=set())).passed
    # an unknown code is currency_known's, not currency_allowed's
    assert one(rules.currency_allowed, ct(tx={"currency": "ABC"})).passed


@pytest.mark.parametrize(
    "amount, ccy, ok",
    [
        ("1234.56", "EUR", True),
        ("1234.567", "EUR", False),
        ("7.00000", "EUR", True),
        ("100", "JPY", True),
        ("100.5", "JPY", False),
        ("100.00", "JPY", True),
        ("1.234", "BHD", True),
        ("1.2345", "BHD", False),
        ("1.2345", "CLF", True),
    ],
)
def test_amount_decimals(amount, ccy, ok):
    v = one(rules.amount_decimals, ct(tx={"amount": amount, "currency": ccy}))
    assert v.passed is ok
    if not ok:
        assert v.reason_code == "CH20" and ccy in v.narrative


@pytest.mark.parametrize(
    "amount, code", [("0", "AM01"), ("0.00", "AM01"), (None, "AM12"), ("abc", "AM12"), ("-5", "AM12"), ("NaN", "AM12")]
)
def test_amount_positive(amount, code):
    v = one(rules.amount_positive, ct(tx={"amount": amount}))
    assert (v.passed, v.reason_code) == (False, code)
    assert one(rules.amount_positive, ct(tx={"amount": "0.01"})).passed


def test_amount_within_limits():
    s = CheckSettings(max_amount=1000, min_amount=1, max_amount_by_currency={"JPY": 100000})
    assert one(rules.amount_within_limits, ct(tx={"amount": "1000"}), s).passed
    v = one(rules.amount_within_limits, ct(tx={"amount": "1000.01"}), s)
    assert (v.passed, v.reason_code) == (False, "AM02")
    v = one(rules.amount_within_limits, ct(tx={"amount": "0.5"}), s)
    assert (v.passed, v.reason_code) == (False, "AM06")
    assert one(rules.amount_within_limits, ct(tx={"amount": "50000", "currency": "JPY"}), s).passed
    assert one(rules.amount_within_limits, BAH).passed  # defaults


def test_transaction_count_control_sum_and_total():
    assert one(rules.transaction_count, TWO).passed
    v = one(rules.transaction_count, ct(TWO, nb_of_txs="3"))
    assert (v.passed, v.reason_code) == (False, "AM19")
    # 1234.56 + 99.5
    assert one(rules.control_sum, ct(TWO, ctrl_sum="1334.06")).passed
    assert one(rules.control_sum, ct(TWO, ctrl_sum="1334.060")).passed
    v = one(rules.control_sum, ct(TWO, ctrl_sum="1334.07"))
    assert (v.passed, v.reason_code) == (False, "AM16")
    total = dict(total_interbank_settlement_amount="1334.06", total_interbank_settlement_currency="EUR")
    assert one(rules.total_settlement_amount, ct(TWO, **total)).passed
    v = one(rules.total_settlement_amount, ct(TWO, **{**total, "total_interbank_settlement_amount": "1234.56"}))
    assert (v.passed, v.reason_code) == (False, "AM16")
    v = one(rules.total_settlement_amount, ct(TWO, **{**total, "total_interbank_settlement_currency": "USD"}))
    assert not v.passed and "currency" in v.narrative


def test_transactions_per_message():
    assert one(rules.transactions_per_message, TWO, CheckSettings(max_transactions=2)).passed
    v = one(rules.transactions_per_message, TWO, CheckSettings(max_transactions=1))
    assert (v.passed, v.reason_code) == (False, "NARR")


@pytest.mark.parametrize(
    "uetr, ok",
    [
        ("32e0a499-6667-431e-ae98-1e0782016094", True),
        (None, True),
        ("32e0a499-6667-131e-ae98-1e0782016094", False),  # version 1
        ("32e0a499-6667-431e-7e98-1e0782016094", False),  # wrong variant
        ("32E0A499-6667-431E-AE98-1E0782016094", False),  # the XSD pattern is lower case
        ("32e0a4996667431eae981e0782016094", False),
    ],
)
def test_uetr_format(uetr, ok):
    v = one(rules.uetr_format, ct(tx={"uetr": uetr}))
    assert v.passed is ok and (ok or v.reason_code == "FF01")


def test_uetr_can_be_required():
    v = one(rules.uetr_format, ct(tx={"uetr": None}), CheckSettings(uetr_required=True))
    assert not v.passed and "missing" in v.narrative


@pytest.mark.parametrize(
    "when, ok",
    [
        ("2026-04-15", True),
        ("2026-04-10", True),
        ("2026-04-09", False),
        ("2026-05-15", True),
        ("2026-05-16", False),
        ("2026-02-30", False),
        (None, True),
    ],
)
def test_settlement_date_window(when, ok):
    v = one(rules.settlement_date_window, ct(tx={"interbank_settlement_date": when}))
    assert v.passed is ok and (ok or v.reason_code == "DT01")


def test_settlement_date_reference_clock_creation_or_given():
    old = ct(creation_date_time="2020-01-02T10:00:00+01:00", tx={"interbank_settlement_date": "2020-01-03"})
    assert failing(old, CheckSettings(), today=None) == [("settlement_date_window", "DT01")]  # the clock
    assert failing(old, CheckSettings(date_reference="creation"), today=None) == []
    assert failing(old, CheckSettings(), today=date(2020, 1, 5)) == []
    assert checks.rules.reference_date(ct(creation_date_time="garbage"), CheckSettings(date_reference="creation"))


@pytest.mark.parametrize(
    "bearer, cbpr, ok",
    [
        ("SHAR", True, True),
        ("DEBT", True, True),
        ("CRED", True, True),
        ("SLEV", True, False),
        ("SLEV", False, True),
        (None, False, False),
    ],
)
def test_charge_bearer_allowed(bearer, cbpr, ok):
    data = ct(tx={"charge_bearer": bearer}, biz_svc="swift.cbprplus.02" if cbpr else None)
    v = one(rules.charge_bearer_allowed, data)
    assert v.passed is ok and (ok or v.reason_code == "BE19")


def test_charge_bearers_are_configurable():
    s = CheckSettings(charge_bearers={"SHAR"})
    assert not one(rules.charge_bearer_allowed, ct(tx={"charge_bearer": "DEBT"}, biz_svc=None), s).passed


def test_a_dict_recorded_before_per_transaction_details_is_checked_from_its_top_level():
    data = BAH.to_dict()
    first = data.pop("transactions")[0]
    old = {**data, **first, "transactions": [{k: first[k] for k in ("instr_id", "end_to_end_id", "tx_id", "uetr")}]}
    assert failing(CreditTransfer.from_stored(old)) == []
    assert failing(CreditTransfer.from_stored({**old, "currency": "XAU"})) == [("currency_allowed", "AM03")]


def test_an_empty_credit_transfer_fails_without_raising():
    empty = CreditTransfer(message_type="", msg_id="", creation_date_time="", nb_of_txs="")
    for data in (empty, replace(empty, transactions=(Transaction(),))):
        codes = {code for _, code in failing(data)}
        assert "AM12" in codes and "AM11" in codes
    group, per_tx = checks.run_by_transaction(empty, S, screening=DEMO, today=DAY)
    assert len(per_tx) == len(checks.transactions_of(empty)) == 1
    assert ("amount_positive", "AM12") in [(v.rule, v.reason_code) for v in checks.failed(per_tx[0])]


def test_disabled_rules_leave_no_verdict():
    s = CheckSettings(disabled_rules={"iban_valid", "bic_structure"})
    names = [v.rule for v in checks.run(BAH, s, screening=DEMO, today=DAY)]
    assert "iban_valid" not in names and "bic_structure" not in names and "uetr_format" in names


def test_run_without_settings_uses_the_process_defaults():
    verdicts = checks.run(BAH, screening=DEMO)
    assert {v.rule for v in verdicts} == {r.__name__ for r in checks.RULES} - checks.TENANT_RULES


def test_narratives_are_short_and_name_no_account_or_party():
    bad = ct(
        tx={
            "debtor_account": "GB29NWBK60161331926818",
            "debtor_account_scheme": "IBAN",
            "amount": "0",
            "currency": "XAU",
            "charge_bearer": "SLEV",
        },
        biz_svc="swift.cbprplus.02",
        bah_from="COBADEFFXXX",
        biz_msg_idr="X",
        msg_def_idr="Y",
    )
    verdicts = checks.failed(checks.run(bad, S, screening=DEMO, today=date(2030, 1, 1)))
    assert len(verdicts) >= 6
    for v in verdicts:
        assert len(v.narrative) <= 200
        for secret in ("GB29", "NWBK", "Muster", "Exemple", "DE8937"):
            assert secret not in v.narrative, v


def test_reference_tables():
    assert (MINOR_UNITS["JPY"], MINOR_UNITS["EUR"], MINOR_UNITS["BHD"], MINOR_UNITS["CLF"]) == (0, 2, 3, 4)
    # every code named in the tables is a current ISO 4217 code (a withdrawn one is noticed)
    assert set(MINOR_UNITS) <= CURRENCIES and NOT_A_SETTLEMENT_CURRENCY <= CURRENCIES and FUND_CODES <= CURRENCIES
    assert not NOT_A_SETTLEMENT_CURRENCY & set(MINOR_UNITS)
    assert {"DE", "FR", "US", "XK"} <= COUNTRIES and "ZZ" not in COUNTRIES


def test_bah_agents_match_on_a_dict_recorded_before_bah_schemes():
    old = ct(bah_from_scheme=None, bah_to_scheme=None)
    assert one(rules.bah_agents_match, old).passed
    assert not one(rules.bah_agents_match, replace(old, bah_from="COBADEFFXXX")).passed


def test_the_screening_is_required_and_none_fails_loudly():
    with pytest.raises(TypeError):
        checks.run(BAH, S, today=DAY)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="Screening"):
        checks.run(BAH, S, screening=None, today=DAY)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Screening"):
        checks.run_by_transaction(BAH, S, screening=None, today=DAY)  # type: ignore[arg-type]


def test_the_sanctions_rule_screens_with_the_screening_it_is_given():
    hit = ct(tx={"creditor_name": "Halvard Emberquist"})
    assert one(rules.sanctions_screening, hit).passed  # not on the demo list
    own = Screening.from_json('{"name": "OWN", "entries": [{"id": "OWN-1", "name": "Halvard Emberquist"}]}')
    v = next(v for v in checks.run(hit, S, screening=own, today=DAY) if v.rule == "sanctions_screening")
    assert (v.passed, v.reason_code) == (False, "RR04") and "OWN-1" in v.narrative


def test_each_rule_is_registered_once_under_its_function_name_with_its_code():
    assert len({r.__name__ for r in checks.RULES}) == len(checks.RULES)
    assert (rules.amount_positive.__name__, rules.amount_positive.reason_code) == ("amount_positive", "AM12")
    assert rules.amount_positive.__doc__.startswith("Each interbank settlement amount")
    assert {r.__name__ for r in checks.RULES} >= checks.GROUP_RULES
    # a rule failing with another code than its declared one says so; passing verdicts have none
    v = one(rules.amount_within_limits, ct(tx={"amount": "0.5"}), CheckSettings(min_amount=1))
    assert (v.rule, v.reason_code) == ("amount_within_limits", "AM06")


def test_run_by_transaction_judges_each_transaction_as_the_message_carrying_it_alone():
    bad = ct(TWO, tx={"currency": "XAU", "uetr": "not-a-uuid"}, index=1, nb_of_txs="3")
    group, per_tx = checks.run_by_transaction(bad, S, screening=DEMO, today=DAY, agents=frozenset({"DEUTDEFFXXX"}))
    assert [v.rule for v in group] == [r.__name__ for r in checks.RULES if r.__name__ in checks.GROUP_RULES]
    assert [(v.rule, v.reason_code) for v in checks.failed(group)] == [("transaction_count", "AM19")]
    assert len(per_tx) == 2 and checks.failed(per_tx[0]) == []
    second = checks.failed(per_tx[1])
    assert [(v.rule, v.reason_code) for v in second] == [("uetr_format", "FF01"), ("currency_allowed", "AM03")]
    assert not any(v.narrative.startswith("tx ") for v in second)  # judged alone: no "tx 2: "
    assert [v.rule for v in per_tx[0]] == [r.__name__ for r in checks.RULES if r.__name__ not in checks.GROUP_RULES]
