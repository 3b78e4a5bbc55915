"""Limits and windows of the business rules, from the environment (prefix PACSFLOW_CHECKS_).

Sets are given as JSON lists or comma-separated text
(``PACSFLOW_CHECKS_CHARGE_BEARERS=DEBT,CRED,SHAR``); per-currency limits as a JSON object
(``PACSFLOW_CHECKS_MAX_AMOUNT_BY_CURRENCY='{"JPY": "100000000000"}'``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .reference import FUND_CODES

MAX_TRANSACTIONS = 50  # CheckSettings.max_transactions by default (see there)

CodeSet = Annotated[frozenset[str], NoDecode]


def code_set(value: object) -> object:
    """A set setting from the environment: a JSON list or comma-separated text (else as given)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return frozenset(json.loads(text))
        return frozenset(v.strip() for v in text.split(",") if v.strip())
    return value


class CheckSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PACSFLOW_CHECKS_", frozen=True)

    # amount_within_limits: inclusive bounds on each IntrBkSttlmAmt, per currency if given.
    max_amount: Decimal = Field(default=Decimal("999999999999.99"), gt=0)
    min_amount: Decimal = Field(default=Decimal("0"), ge=0)
    max_amount_by_currency: dict[str, Decimal] = Field(default_factory=dict)
    min_amount_by_currency: dict[str, Decimal] = Field(default_factory=dict)
    # settlement_date_window: days before / after the reference date.
    settlement_days_past: int = Field(default=5, ge=0)
    settlement_days_future: int = Field(default=30, ge=0)
    # The reference date ("today") of the window: the real clock (the pipeline), or the
    # message's own GrpHdr/CreDtTm (offline validation of archived or sample messages).
    date_reference: Literal["clock", "creation"] = "clock"
    # charge_bearer_allowed: every ChargeBearerType1Code by default (market infrastructures
    # such as Fedwire and RTP use SLEV); CBPR+ traffic (BAH BizSvc swift.cbprplus.*) is held
    # to the CBPR+ usage guideline, which excludes SLEV.
    charge_bearers: CodeSet = frozenset({"DEBT", "CRED", "SHAR", "SLEV"})
    cbpr_charge_bearers: CodeSet = frozenset({"DEBT", "CRED", "SHAR"})
    cbpr_service_prefix: str = "swift.cbprplus"
    # currency_allowed: codes refused on top of the never-settled ones (metals, XTS, XXX,
    # units of account); ISO fund codes by default. allowed_currencies, when not empty, is
    # the exhaustive list of currencies this service settles.
    blocked_currencies: CodeSet = FUND_CODES
    allowed_currencies: CodeSet = frozenset()
    # uetr_format: CBPR+ makes the UETR mandatory; ISO (and .07, which has none) does not.
    uetr_required: bool = False
    # transactions_per_message: the cap on a message's transactions, enforced by the
    # processing step before any claim or reservation (chalicelib/pipeline/decision.py).
    # Measured end to end on the local stack (bench/large_messages.py), with liquidity
    # reservations, which are sequential: 50 -> 3.1 s, 100 -> 8.4 s, 250 -> 34 s (past the
    # 15 s local function timeout); 50 keeps a 5x margin under it (10x under AWS's 30 s).
    max_transactions: int = Field(default=MAX_TRANSACTIONS, ge=1)
    # Rules switched off by name (they are then not run and leave no verdict).
    disabled_rules: CodeSet = frozenset()

    @field_validator(
        "charge_bearers",
        "cbpr_charge_bearers",
        "blocked_currencies",
        "allowed_currencies",
        "disabled_rules",
        mode="before",
    )
    @classmethod
    def _split(cls, value: object) -> object:
        return code_set(value)

    @field_validator("charge_bearers", "cbpr_charge_bearers", "blocked_currencies", "allowed_currencies")
    @classmethod
    def _upper(cls, value: frozenset[str]) -> frozenset[str]:
        return frozenset(v.upper() for v in value)


@lru_cache(maxsize=1)
def default_settings() -> CheckSettings:
    """The process's settings, read from the environment once (``cache_clear()`` to reread)."""
    return CheckSettings()
