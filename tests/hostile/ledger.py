"""What every hostile HTTP case got, for the summary line printed at the end of the run."""

from __future__ import annotations

import threading
from collections import Counter


class Ledger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outcomes: dict[str, str] = {}  # case name -> outcome

    def record(self, case: str, outcome: str) -> None:
        """`outcome`: "ACSC", "RJCT <code>", "PART <code>", "<status> <error_code>" or "<status> (<who>)"."""
        with self._lock:
            assert case not in self.outcomes, f"case {case} recorded twice"
            self.outcomes[case] = outcome

    def summary(self) -> str:
        with self._lock:
            outcomes = list(self.outcomes.values())
        statuses = Counter(o.split()[0] for o in outcomes if o[:1].isdigit())
        client_errors = Counter({s: n for s, n in statuses.items() if s.startswith("4")})
        reasons = Counter(o.split()[1] for o in outcomes if o.startswith("RJCT"))
        fours = sum(client_errors.values())
        fives = sum(n for s, n in statuses.items() if s.startswith("5"))
        reads = sum(n for s, n in statuses.items() if s.startswith("2"))
        part = Counter(o.split()[1] for o in outcomes if o.startswith("PART"))  # some transactions rejected
        other = (
            len(outcomes) - fours - fives - reads - sum(reasons.values()) - sum(part.values()) - outcomes.count("ACSC")
        )
        by = lambda c: ", ".join(f"{k}×{v}" for k, v in sorted(c.items()))  # noqa: E731
        return (
            f"hostile suite: {len(outcomes)} cases; 4xx: {fours} ({by(client_errors)}); "
            f"pacs.002 RJCT: {sum(reasons.values())} ({by(reasons)}); pacs.002 PART: {sum(part.values())} ({by(part)}); "
            f"pacs.002 ACSC: {outcomes.count('ACSC')}; "
            f"200 reads/lookups (nothing found): {reads}; other: {other}; 5xx: {fives}"
        )


LEDGER = Ledger()
