"""The id an operator's action (redrive, failover, failback) is recorded under.

With the client's `Idempotency-Key` it is that key namespaced by the tenant: the tenant is the
same in every Region, whereas each Region's Cognito pool gives the same operator another client
id, and a retry through another Region (the usual path while one fails) is the same action.
Two tenants choosing the same key are two actions. Without a key it is the request's own id (or
the CLI run's), which no retry can carry: only a keyed id can come again, so only its answers
are worth remembering when they decide nothing (chalicelib/pipeline/failover.py).
"""

from __future__ import annotations

_KEYED = "key:"


def keyed(tenant: str, idempotency_key: str) -> str:
    """The action id of a request carrying `idempotency_key`."""
    return f"{_KEYED}{tenant}:{idempotency_key}"


def is_keyed(action_id: str) -> bool:
    """Whether `action_id` is a client's Idempotency-Key, which a retry may carry again."""
    return action_id.startswith(_KEYED)
