"""What the processing step decides: every check's verdict and each transaction's outcome.

The message-level rules and the MsgId first (the MsgId only if some transaction passes
its rules): if they fail, every transaction is rejected with their reasons. Among them,
when the stage maps tenants to agents, whether the payment's owner may act for its
instructing agents (checks TENANT_RULES): a tenant sending as another bank claims none of
that bank's identifiers. Then each transaction on its own: its rules, its UETR and
EndToEndId, its amount on its instructing agent's position (reserved last, only for a
transaction that passed everything else), so a rejected transaction neither burns
identifiers nor holds liquidity. Claims and
reservations are idempotent per transaction: a retried step decides the same.

A message with more transactions than `CheckSettings.max_transactions` (the
`transactions_per_message` rule's limit, PACSFLOW_CHECKS_MAX_TRANSACTIONS) is rejected as a
whole before any rule runs and before any identifier or liquidity is taken, even when that
rule is disabled: it is the cap that keeps a step within the function's timeout. The
transactions' claims are taken concurrently (`duplicates.check_transactions`, up to
`claim_workers` at a time), then the reservations one by one in document order.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    claim_workers: int = 16
    # tenant -> the BICs it may act for (Settings.tenant_agents); empty: not checked
    tenant_agents: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def __call__(self, payment: Payment) -> Decision:
        ct = payment.credit_transfer
        assert ct is not None  # only a received payment is decided
        cap = self.check_settings.max_transactions
        if len(ct.transactions) > cap:
            return too_many(len(ct.transactions), cap)
        now, window = time.time(), self.duplicate_window_s
        # the sender is the payment's owner: the tenant whose client asked for its id
        agents = self.tenant_agents.get(payment.owner, frozenset()) if self.tenant_agents else None
        group, per_tx = checks.run_by_transaction(ct, self.check_settings, screening=self.screening, agents=agents)
        if not checks.failed(group) and any(not checks.failed(vs) for vs in per_tx):
            # a message with nothing to accept takes no identifier: its correction may reuse them
            group.append(duplicates.check_message(self.claims, str(payment.id), ct, now, window))
        n = len(ct.transactions)
        own = [reservation_of(payment.id, i, n) for i in range(n)]  # claims too: a message cannot repeat a UETR
        eligible = [i for i in range(n) if not checks.failed(group + per_tx[i])]
        claimed = duplicates.check_transactions(
            self.claims, [(own[i], ct.transactions[i]) for i in eligible], now, window, self.claim_workers
        )
        for i, verdict in zip(eligible, claimed, strict=True):
            per_tx[i].append(verdict)
        outcomes = []
        for i, (tx, verdicts) in enumerate(zip(ct.transactions, per_tx, strict=True)):
            reserved = False
            if not checks.failed(group + verdicts):
                held = self.liquidity.reserve(
                    own[i], tx.instructing_agent or "", amounts_by_currency(tx), datetime.now(UTC)
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


TOO_MANY = "transactions_per_message"  # the rule whose failed verdict says: over the cap


def too_many(count: int, cap: int) -> Decision:
    """Every transaction rejected by the cap (NARR, as the transactions_per_message rule),
    with nothing run, claimed or reserved."""
    verdict = Verdict(
        TOO_MANY,
        False,
        "NARR",
        f"at most {cap} transaction(s) per message are supported; this message has {count}",
    )
    reasons = (Reason("NARR", verdict.narrative),)
    return Decision([verdict], [TxOutcome(status=TxSts.RJCT.value, reasons=reasons) for _ in range(count)])
