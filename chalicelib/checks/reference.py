"""Reference data for the rules: ISO 4217 currencies and minor units, ISO 3166 countries.

Built once at import from pycountry (which follows the ISO lists and is updated with them)
plus the one thing pycountry does not carry: ISO 4217 minor units. Those are given here as
the exceptions to "2 decimals", from ISO 4217 list one (SIX, the maintenance agency):
when ISO adds a currency with other than 2 minor units, add it below (a test checks that
every code named here is a current code, so a withdrawn one is noticed too).
"""

from __future__ import annotations

import pycountry

# Current ISO 4217 alphabetic codes (pycountry's copy of list one).
CURRENCIES: frozenset[str] = frozenset(c.alpha_3 for c in pycountry.currencies)

# Minor units other than 2 (ISO 4217 list one, column "Minor unit").
_MINOR_UNITS_0 = (
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "ISK",
    "JPY",
    "KMF",
    "KRW",
    "PYG",
    "RWF",
    "UGX",
    "UYI",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
)
_MINOR_UNITS_3 = ("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND")
_MINOR_UNITS_4 = ("CLF", "UYW")
# Minor unit "N.A.": precious metals (XAU gold, XAG silver, XPT platinum, XPD palladium),
# the testing code XTS, "no currency" XXX, the bond-market units XBA-XBD, the IMF's SDR
# (XDR), SUCRE (XSU), the ADB unit of account (XUA) and the Arab Accounting Dinar (XAD).
# None of them is money a bank can settle a customer credit transfer in: never allowed.
NOT_A_SETTLEMENT_CURRENCY: frozenset[str] = frozenset(
    ("XAG", "XAU", "XPD", "XPT", "XTS", "XXX", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA", "XAD")
)
# ISO 4217 fund codes (indexed units, next-day dollars...): current codes with minor units,
# but not currencies interbank payments settle in. Blocked by default (CheckSettings).
FUND_CODES: frozenset[str] = frozenset(("BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"))

MINOR_UNITS: dict[str, int] = dict.fromkeys(CURRENCIES - NOT_A_SETTLEMENT_CURRENCY, 2)
MINOR_UNITS.update(dict.fromkeys(_MINOR_UNITS_0, 0))
MINOR_UNITS.update(dict.fromkeys(_MINOR_UNITS_3, 3))
MINOR_UNITS.update(dict.fromkeys(_MINOR_UNITS_4, 4))

# ISO 3166-1 alpha-2, plus XK (Kosovo): user-assigned in ISO 3166 but used by SWIFT in BICs
# and by the IBAN registry.
COUNTRIES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries) | {"XK"}
