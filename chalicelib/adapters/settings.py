"""Settings of one deployed Region, read once from the environment (pydantic-settings).

The CloudFormation template (infra/template.py) sets these on every function; tests
build a Settings directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chalicelib.domain.bic import BIC, bic11


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PACSFLOW_", frozen=True)

    region_id: str = Field(default="us-east-1", description="the Region this stack serves")
    peers: dict[str, str] = Field(default_factory=dict, description="peer Region -> its API base URL")
    tenants: dict[str, str] = Field(default_factory=dict, description="Cognito client id -> tenant")
    # The instructing agents each tenant may act for, as its messages spell them
    # (chalicelib/domain/bic.py acts_for: each spelling is an agent). Set, a tenant's message
    # whose InstgAgt is another is rejected AGNT before it claims any identifier, and a
    # tenant not listed may act for none; empty (local development), any tenant may send as
    # any agent, so one tenant can pre-claim another's EndToEndIds: every stage but `local`
    # sets it (README "Deploy to AWS"), and Settings refuses to be built without it there.
    tenant_agents: dict[str, list[str]] = Field(
        default_factory=dict,
        description="tenant -> the BICs (BICFI) it may act for as instructing agent "
        '(env PACSFLOW_TENANT_AGENTS, JSON {"tenant-a": ["DEUTDEFFXXX"]})',
    )
    stage: str = "local"
    events_table: str = "pacsflow-events"
    transactions_table: str = "pacsflow-transactions"
    archive_bucket: str = "pacsflow-archive"
    incoming_queue_url: str = ""
    processing_queue_url: str = ""
    releasing_queue_url: str = ""
    released_topic_arn: str = ""
    positions_table: str = "pacsflow-positions"
    # Where the positions' snapshots go: S3 objects in this bucket (under snapshots/, see
    # chalicelib/eventstore/s3snapshots.py), or, when empty, items of the positions table.
    snapshots_bucket: str = ""
    # A position is snapshotted every this many versions (reservations and frees).
    position_snapshot_interval: int = Field(default=50, ge=1)
    # Liquidity limits per instructing agent: {"BIC:CCY": amount, "BIC": amount, "*": amount};
    # an agent with no limit that applies is not limited (and has no position to keep).
    liquidity_limits: str = "{}"
    velocity_window_s: int = 60
    velocity_max: int = 0  # payments per agent and currency per window; 0 = no velocity limit
    # How long a MsgId, UETR or EndToEndId stays taken (duplicate detection).
    duplicate_window_s: int = 30 * 24 * 3600
    # Upper bound on an inbound ISO 20022 message; API Gateway itself stops at 10 MB.
    max_message_bytes: int = 1024 * 1024
    # Event state at rest: zlib-compressed, then AES-GCM with a key derived from this secret.
    cipher_secret_arn: str = ""
    # Digests of the event streams (chalicelib/eventstore/digests.py); empty: none written.
    digests_bucket: str = ""
    # OAuth2: the Region's Cognito user pool issues client-credentials access tokens.
    user_pool_id: str = ""
    token_issuer: str = ""
    jwks_url: str = ""  # derived from the issuer (or the local gateway) when empty
    scope_prefix: str = "pacsflow"  # `rp2` keeps the AWS guidance's clients working
    allowed_client_ids: str = ""  # comma-separated; empty: any client of the pool
    # The pipeline queues' redrive maxReceiveCount: a step failing on this receive is dead-lettered.
    max_receive_count: int = 5
    # SLA: a payment not released this many seconds after its id was issued is rejected
    # (chalicelib/pipeline/timeouts.py); JSON {"pacs.008": seconds} overrides it per type.
    sla_seconds: int = 30
    sla_seconds_by_type: str = "{}"
    deadlines_queue_url: str = ""  # standard queue of delayed deadline messages
    # X-Consistency (docs/multi-region.md §5): the level a request gets when it names none,
    # how long a `strong` write waits for every peer replica, and each peer's archive bucket
    # (the cross-Region replica of ours) that a strong /inbox checks for the message.
    default_consistency: Literal["strong", "eventual"] = "eventual"
    strong_wait_seconds: float = Field(default=2.0, ge=0, le=10)
    # Several Regions (docs/multi-region.md): the stack's peers, set by the deploy that links them.
    peer_archive_buckets: dict[str, str] = Field(
        default_factory=dict,
        description="Region -> that peer's archive bucket, where this archive is replicated "
        "(env PACSFLOW_PEER_ARCHIVE_BUCKETS, JSON)",
    )
    # Failover (chalicelib/pipeline/failover.py): a peer failing this many consecutive probes
    # is taken over; a heartbeat older than `lease_heartbeats` heartbeats is stale.
    failover_after_probes: int = 3
    # Whether the controller itself decides the takeover at `failover_after_probes`. Safe only
    # when a Region cut off from its peers cannot write: MRSC (the template sets it there).
    # Under MREC no probe tells a dead Region from a partitioned one that still writes, so the
    # controller proposes (GET /, the log) and an operator decides (docs/multi-region.md §3).
    automatic_failover: bool = False
    heartbeat_seconds: int = 60
    lease_heartbeats: int = 3
    probe_timeout_s: float = 2.0
    # Test-only: comma-separated fault points (see chalicelib/pipeline/faults.py).
    step_handoff: Literal["inline", "queue"] = (
        "inline"  # PACSFLOW_STEP_HANDOFF: inline | queue (chalicelib/pipeline/handoff.py)
    )
    fault_injection: str = ""
    # Test-only: a file to append every AWS call to (chalicelib/adapters/call_log.py).
    call_log: str = ""

    @field_validator("tenants")
    @classmethod
    def _tenant_names(cls, tenants: dict[str, str]) -> dict[str, str]:
        """A tenant is an owner: the view's lookup keys are owner + "#" + value, so no "#"."""
        _check_tenant_names(tenants.values())
        return tenants

    @field_validator("tenant_agents")
    @classmethod
    def _tenant_bics(cls, tenant_agents: dict[str, list[str]]) -> dict[str, list[str]]:
        """Tenants by name, and BICs as ISO 9362 writes them: a lower-case or padded entry
        would match no message (the XSD's BICFI is upper case) and fail closed unnoticed."""
        _check_tenant_names(tenant_agents)
        bad = [bic for bics in tenant_agents.values() for bic in bics if not BIC.fullmatch(bic)]
        if bad:
            raise ValueError(f"tenant_agents: not ISO 9362 BICs (8 or 11 upper-case characters): {bad}")
        # Each BIC is one tenant's, in one spelling: two tenants sharing one could take each
        # other's identifiers first, and one listing DEUTDEFF and DEUTDEFFXXX (one primary
        # office, two agents for claims and limits) could resend a payment, or spend its limit
        # again, under the other spelling.
        holders: dict[str, str] = {}
        for tenant, bics in tenant_agents.items():
            for bic in bics:
                office = bic11(bic)
                if office in holders:
                    other = holders[office]
                    raise ValueError(
                        f"tenant_agents: {bic} is listed twice ({other} and {tenant}, in one spelling or "
                        "its BIC8/XXX twin): each BIC is one tenant's, spelt as its messages spell it"
                    )
                holders[office] = tenant
        return tenant_agents

    @field_validator("liquidity_limits")
    @classmethod
    def _limits(cls, liquidity_limits: str) -> str:
        """Refused where the settings are read, as tenant_agents: a limit that binds no
        message fails open (chalicelib/pipeline/liquidity.py parse_limits)."""
        from chalicelib.pipeline.liquidity import parse_limits  # the pipeline's, read where it is used

        parse_limits(liquidity_limits)
        return liquidity_limits

    @model_validator(mode="after")
    def _tenant_agents_outside_local(self) -> Settings:
        """An empty mapping switches the instructing-agent rule off, so a stage other than
        `local` refuses it here, where it is parsed. The template's rule TenantAgentsOutsideLocal
        only compares the parameter's text with "{}" and "": "{ }", "{\\n}" or "null" (which
        pydantic-settings reads as the default) get through it, and the functions must not
        then start open (any tenant sending as any bank and taking its EndToEndIds)."""
        if self.stage != "local" and not self.tenant_agents:
            raise ValueError(
                f"tenant_agents (PACSFLOW_TENANT_AGENTS) is empty on stage {self.stage!r}: every stage but local "
                'maps each tenant to the BICs it may act for, e.g. {"acme-bank": ["ACMEDEFFXXX"]}'
            )
        return self

    @model_validator(mode="after")
    def _limits_of_listed_agents(self) -> Settings:
        """With tenants mapped to their agents, a limit on a BIC no tenant may send as binds no
        message (a limit on DEUTDEFF while the tenant sends as DEUTDEFFXXX): refused, as
        parse_limits refuses the others, since a missed limit is no limit."""
        from chalicelib.pipeline.liquidity import limit_key_parts, parse_limits

        listed = {bic for bics in self.tenant_agents.values() for bic in bics}
        if not listed:
            return self
        agents = {limit_key_parts(key)[0] for key in parse_limits(self.liquidity_limits)}
        unlisted = sorted(a for a in agents if BIC.fullmatch(a) and a not in listed)
        if unlisted:
            raise ValueError(
                f"liquidity_limits (PACSFLOW_LIQUIDITY_LIMITS): {unlisted} would bind no message: no tenant "
                "may send as them (PACSFLOW_TENANT_AGENTS lists each agent as messages spell it)"
            )
        return self


def _check_tenant_names(tenants: Iterable[str]) -> None:
    bad = [t for t in tenants if not re.fullmatch(r"[\w.+@-]{1,128}", t)]
    if bad:
        raise ValueError(f"tenant names are 1-128 of letters, digits and _.+@-: {bad}")


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()
