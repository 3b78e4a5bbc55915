"""Settings of one deployed Region, read once from the environment (pydantic-settings).

The CloudFormation template (infra/template.py) sets these on every function; tests
build a Settings directly.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PACSFLOW_", frozen=True)

    region_id: str = Field(default="us-east-1", description="the Region this stack serves")
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
    # Test-only: comma-separated fault points (see chalicelib/pipeline/faults.py).
    fault_injection: str = ""
    # Test-only: a file to append every AWS call to (chalicelib/adapters/call_log.py).
    call_log: str = ""


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()
