"""The composition root: wires the Region's adapters into the pipeline, once per process."""
from __future__ import annotations

from functools import lru_cache

from chalicelib.adapters.dynamodb import Claims, TransactionView
from chalicelib.auth import TokenPolicy, jwks_url_for
from chalicelib.checks.sanctions import default_screening
from chalicelib.adapters.s3 import Archive
from chalicelib.adapters.secretsmanager import cipher_key
from chalicelib.adapters.settings import Settings, settings
from chalicelib.adapters.sns import Notifier
from chalicelib.adapters.sqs import Queue
from chalicelib.pipeline.liquidity import Liquidity, Positions, parse_limits
from chalicelib.pipeline.payments import Payments
from chalicelib.pipeline.service import Pipeline


def payments_env(s: Settings, table: str | None = None) -> dict[str, str]:
    """eventsourcing's configuration: our DynamoDB persistence module on the events table,
    event state compressed (fewer write units) and encrypted with AES-GCM."""
    env = {
        "PERSISTENCE_MODULE": "chalicelib.eventstore.dynamodb",
        "DYNAMODB_TABLE": table or s.events_table,
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
    }
    if s.cipher_secret_arn:
        env["CIPHER_TOPIC"] = "eventsourcing.cryptography:AESCipher"
        env["CIPHER_KEY"] = cipher_key(s.cipher_secret_arn)
    return env


def build(s: Settings, payments: Payments | None = None) -> Pipeline:
    return Pipeline(
        settings=s,
        payments=payments or Payments(env=payments_env(s)),
        archive=Archive(s.archive_bucket),
        incoming=Queue(s.incoming_queue_url),
        processing=Queue(s.processing_queue_url),
        releasing=Queue(s.releasing_queue_url),
        notifier=Notifier(s.released_topic_arn),
        claims=Claims(s.events_table),
        liquidity=Liquidity(
            Positions(env=payments_env(s, s.positions_table)),
            parse_limits(s.liquidity_limits),
            velocity_window_s=s.velocity_window_s,
            velocity_max=s.velocity_max,
        ),
    )


@lru_cache(maxsize=1)
def pipeline() -> Pipeline:
    default_screening()  # load and index the sanctions list once, at container start
    return build(settings())


@lru_cache(maxsize=1)
def view() -> TransactionView:
    return TransactionView(settings().transactions_table)


@lru_cache(maxsize=1)
def token_policy() -> TokenPolicy:
    s = settings()
    return TokenPolicy(
        issuer=s.token_issuer,
        jwks_url=s.jwks_url or jwks_url_for(s.token_issuer, s.user_pool_id),
        scope_prefix=s.scope_prefix,
        allowed_client_ids=frozenset(c for c in s.allowed_client_ids.split(",") if c),
    )
