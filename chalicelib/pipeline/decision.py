"""What the processing step decides: every check's verdict and each transaction's outcome.

The message-level rules and the MsgId first (the MsgId only if some transaction passes
its rules): if they fail, every transaction is rejected with their reasons. Then each
transaction on its own: its rules, its UETR and EndToEndId, its amount on its instructing
agent's position (reserved last, only for a transaction that passed everything else), so
a rejected transaction neither burns identifiers nor holds liquidity. Claims and
reservations are idempotent per transaction: a retried step decides the same.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib import checks
from chalicelib.checks.sanctions import Screening
from chalicelib.domain import Payment, TxSts
from chalicelib.domain.models import Reason, TxOutcome, Verdict
from chalicelib.pipeline import duplicates
from chalicelib.pipeline.liquidity import Liquidity, amounts_by_currency, reservation_of
from chalicelib.pipeline.ports import ClaimStore


@dataclass(frozen=True)
class Decision:
    verdicts: list[Verdict]
    outcomes: list[TxOutcome]

    @property
    def accepts_any(self) -> bool:
        return any(o.status == TxSts.ACSP.value for o in self.outcomes)

    @property
    def reasons(self) -> list[Reason]:
        """Every rejected transaction's reasons, each once, in order."""
        return list(dict.fromkeys(r for o in self.outcomes for r in o.reasons))


@dataclass(frozen=True)
class Decide:
    check_settings: checks.CheckSettings
    screening: Screening
    claims: ClaimStore
    liquidity: Liquidity
    duplicate_window_s: int

    def __call__(self, payment: Payment) -> Decision:
        ct = payment.credit_transfer
        assert ct is not None  # only a received payment is decided
        now, window = time.time(), self.duplicate_window_s
        group, per_tx = checks.run_by_transaction(ct, self.check_settings, screening=self.screening)
        if not checks.failed(group) and any(not checks.failed(vs) for vs in per_tx):
            # a message with nothing to accept takes no identifier: its correction may reuse them
            group.append(duplicates.check_message(self.claims, str(payment.id), ct, now, window))
        outcomes = []
        for i, (tx, verdicts) in enumerate(zip(ct.transactions, per_tx, strict=True)):
            reserved = False
            own = reservation_of(payment.id, i, len(ct.transactions))  # claims too: a message cannot repeat a UETR
            if not checks.failed(group + verdicts):
                verdicts.append(duplicates.check_transaction(self.claims, own, tx, now, window))
            if not checks.failed(group + verdicts):
                held = self.liquidity.reserve(
                    own, tx.instructing_agent or "", amounts_by_currency(tx), datetime.now(UTC)
                )
                verdicts += held
                reserved = any(v.reserved for v in held) and not checks.failed(held)
            failed = checks.failed(group + verdicts)
            outcomes.append(
                TxOutcome(
                    status=(TxSts.RJCT if failed else TxSts.ACSP).value,
                    reasons=tuple(Reason(v.reason_code or "NARR", v.narrative) for v in failed),
                    reserved=reserved,
                )
            )
        if len(ct.transactions) > 1:  # each transaction's verdicts say which transaction they judged
            tagged = [dataclasses.replace(v, tx=i + 1) for i, vs in enumerate(per_tx) for v in vs]
        else:
            tagged = [v for vs in per_tx for v in vs]
        return Decision(group + tagged, outcomes)
