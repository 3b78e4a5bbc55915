"""BICs (ISO 9362:2014) and which of them a tenant may act for.

Whom a tenant may instruct as is a question about identifiers, asked by the business rules
(the `instructing_agent_allowed` rule) and by the stage's settings (`tenant_agents`), so it
is answered once, here, without I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection

# ISO 9362:2014: business party prefix 4 alphanumeric, country code 2 letters, business party
# suffix 2 alphanumeric, optional branch code 3 alphanumeric (the XSDs' BICFIDec2014Identifier)
BIC = re.compile(r"[A-Z0-9]{4}([A-Z]{2})[A-Z0-9]{2}(?:[A-Z0-9]{3})?")


def bic11(bic: str) -> str:
    """The 11-character form: an 8-character BIC names the party's primary office, ``XXX``."""
    return bic + "XXX" if len(bic) == 8 else bic


def acts_for(allowed: Collection[str], bic: str) -> bool:
    """Whether a tenant that may act for the BICs `allowed` may act for `bic`: one of them,
    exactly as messages spell it.

    Duplicate claims, liquidity positions and limits key an agent as messages spell it
    (chalicelib/pipeline/duplicates.py, liquidity.py), so each spelling a tenant may use is
    an agent of its own there. Were a BIC8 to cover the bank's branches, or `DEUTDEFF` and
    `DEUTDEFFXXX` (the same primary office) to stand for each other, a tenant could resend a
    payment under another spelling without it being a duplicate, and spend a limit set for
    one spelling again under another. So the mapping lists the identifiers a tenant sends
    as, each of which the operator can limit; the settings refuse a BIC listed for two
    tenants, or both spellings of one primary office (chalicelib/adapters/settings.py).
    """
    return BIC.fullmatch(bic) is not None and bic in allowed
