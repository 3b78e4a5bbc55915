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
    """Whether a tenant that may act for the BICs `allowed` may act for `bic`.

    An 8-character entry is a business party (ISO 9362: the BIC8 identifies the institution)
    and covers it and every branch of it; an 11-character entry covers that branch only,
    ``XXX`` being the primary office that the 8-character form also names. So a bank is
    allowed whole by its BIC8, and two tenants that are branches of one bank can be kept to
    their own branch. Matching on the prefix alone could not keep them apart; matching the
    full 11 characters alone would make every bank list each branch it sends for.
    """
    return BIC.fullmatch(bic) is not None and (bic[:8] in allowed or bic11(bic) in allowed)
