"""CheckSettings: defaults, and the environment (prefix PACSFLOW_CHECKS_)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from chalicelib.checks import CheckSettings, default_settings


def test_defaults():
    s = CheckSettings()
    assert (s.settlement_days_past, s.settlement_days_future, s.date_reference) == (5, 30, "clock")
    assert s.charge_bearers == {"DEBT", "CRED", "SHAR", "SLEV"} and s.cbpr_charge_bearers == {"DEBT", "CRED", "SHAR"}
    assert "USN" in s.blocked_currencies and not s.allowed_currencies and s.max_transactions == 50


def test_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("PACSFLOW_CHECKS_MAX_AMOUNT", "5000")
    monkeypatch.setenv("PACSFLOW_CHECKS_SETTLEMENT_DAYS_FUTURE", "10")
    monkeypatch.setenv("PACSFLOW_CHECKS_DATE_REFERENCE", "creation")
    monkeypatch.setenv("PACSFLOW_CHECKS_CHARGE_BEARERS", "debt, shar")
    monkeypatch.setenv("PACSFLOW_CHECKS_ALLOWED_CURRENCIES", '["EUR", "USD"]')
    monkeypatch.setenv("PACSFLOW_CHECKS_MAX_AMOUNT_BY_CURRENCY", '{"JPY": "100000000"}')
    monkeypatch.setenv("PACSFLOW_CHECKS_DISABLED_RULES", "iban_valid")
    s = CheckSettings()
    assert s.max_amount == Decimal(5000) and s.settlement_days_future == 10 and s.date_reference == "creation"
    assert s.charge_bearers == {"DEBT", "SHAR"} and s.allowed_currencies == {"EUR", "USD"}
    assert s.max_amount_by_currency == {"JPY": Decimal(100000000)} and s.disabled_rules == {"iban_valid"}


def test_invalid_values_are_refused(monkeypatch):
    monkeypatch.setenv("PACSFLOW_CHECKS_DATE_REFERENCE", "yesterday")
    with pytest.raises(ValidationError):
        CheckSettings()
    with pytest.raises(ValidationError):
        CheckSettings(date_reference="clock", settlement_days_past=-1)


def test_default_settings_are_read_once(monkeypatch):
    default_settings.cache_clear()
    try:
        first = default_settings()
        monkeypatch.setenv("PACSFLOW_CHECKS_MAX_TRANSACTIONS", "7")
        assert default_settings() is first
        default_settings.cache_clear()
        assert default_settings().max_transactions == 7
    finally:
        monkeypatch.delenv("PACSFLOW_CHECKS_MAX_TRANSACTIONS")
        default_settings.cache_clear()


def test_settings_are_frozen():
    with pytest.raises(ValidationError):
        CheckSettings().max_transactions = 3
