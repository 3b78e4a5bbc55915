"""OAuth2 client-credentials bearer tokens from the Region's Cognito user pool, checked in code.

API Gateway's Cognito authorizer checks tokens in AWS too, but `chalice local`, Chalice's
test client and any misconfigured stage would not: every protected route verifies here
the signature (RS256, the pool's JWKS), expiry, issuer, token use and client id, then the
scope the route needs. PyJWT does the cryptography; we only say what must hold.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jwt
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

MAX_TOKEN_BYTES = 8192  # a Cognito access token is ~1 KB; anything larger is not one of ours


class AuthError(Exception):
    """401: no valid token. `error` is the RFC 6750 error code for WWW-Authenticate."""

    status = 401
    error = "invalid_token"
    error_code = "UNAUTHORIZED"


class MissingToken(AuthError):
    error = "invalid_request"


class KeysUnavailable(AuthError):
    """503: the pool's JWKS could not be fetched; the token was not judged. Retry."""

    status = 503
    error = "temporarily_unavailable"
    error_code = "AUTH_UNAVAILABLE"


class InsufficientScope(AuthError):
    status = 403
    error = "insufficient_scope"
    error_code = "FORBIDDEN"


@dataclass(frozen=True)
class Principal:
    """The authenticated client: the tenant that owns what it creates."""

    client_id: str
    scopes: frozenset[str]
    tenant: str = ""  # the owner of what it creates, the same in every Region (client id if unmapped)

    def __post_init__(self) -> None:
        if not self.tenant:
            object.__setattr__(self, "tenant", self.client_id)


@dataclass(frozen=True)
class TokenPolicy:
    issuer: str
    jwks_url: str
    scope_prefix: str = "pacsflow"
    allowed_client_ids: frozenset[str] = frozenset()  # empty: any client of the pool
    leeway_s: int = 0
    # Cognito client ids differ from pool to pool: each Region maps its clients to tenants.
    tenants: Mapping[str, str] = field(default_factory=dict)

    def scope(self, access: str) -> str:
        return f"{self.scope_prefix}/{access}"


@lru_cache(maxsize=4)
def _jwks(url: str) -> jwt.PyJWKClient:
    # Cached per container: one JWKS fetch per cold start, refreshed on an unknown kid.
    import jwt  # see verify

    return jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=3600, timeout=5)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise MissingToken("an Authorization: Bearer token is required")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise MissingToken("the Authorization header must be 'Bearer <token>'")
    if len(token) > MAX_TOKEN_BYTES:
        raise AuthError("token too large")
    return token


def _signing_key(url: str, token: str) -> Any:
    """The key that signed `token`, from the pool's JWKS. A failed fetch (a cold container's
    one fetch, on a busy network) is tried once more, as AWS's SDKs retry, before the 503."""
    import jwt  # see verify

    try:
        return _jwks(url).get_signing_key_from_jwt(token).key
    except jwt.PyJWKClientConnectionError:
        return _jwks(url).get_signing_key_from_jwt(token).key


def verify(token: str, policy: TokenPolicy, signing_key: RSAPublicKey | None = None) -> Principal:
    """The token's client, if the token is one the pool issued, unexpired, for access."""
    # PyJWT (with cryptography's x509) is imported by the API's first request, not at import:
    # every function imports app.py, and only the API checks tokens (bench/coldstart.py)
    import jwt

    try:
        key = signing_key or _signing_key(policy.jwks_url, token)
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            issuer=policy.issuer,
            leeway=policy.leeway_s,
            options={"require": ["exp", "iat", "iss", "token_use", "client_id"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.PyJWKClientConnectionError:
        raise KeysUnavailable("the token signing keys are unreachable; retry") from None
    except (jwt.PyJWTError, ValueError) as e:
        raise AuthError(f"token rejected ({type(e).__name__})") from None
    if claims.get("token_use") != "access":
        raise AuthError("an access token is required")
    # The client id names the tenant that owns transactions: a non-empty string, never the
    # str() of whatever a claim holds (an object would become a tenant called "{'a': 1}").
    client_id, scope = claims["client_id"], claims.get("scope", "")
    if not isinstance(client_id, str) or not client_id.strip() or not isinstance(scope, str):
        raise AuthError("token claims of the wrong type")
    if policy.allowed_client_ids and client_id not in policy.allowed_client_ids:
        raise AuthError("client not allowed")
    return Principal(client_id=client_id, scopes=frozenset(scope.split()), tenant=tenant_of(client_id, policy))


def tenant_of(client_id: str, policy: TokenPolicy) -> str:
    """The tenant a client acts for: its mapping, or (unmapped) the client itself."""
    return policy.tenants.get(client_id) or client_id


def require_scope(principal: Principal, policy: TokenPolicy, access: str) -> None:
    if policy.scope(access) not in principal.scopes:
        raise InsufficientScope(f"the token lacks the scope {policy.scope(access)}")


def jwks_url_for(issuer: str, user_pool_id: str) -> str:
    """The pool's JWKS: at the issuer in AWS, at the emulator's gateway on the local stack."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        return f"{endpoint.rstrip('/')}/{user_pool_id}/.well-known/jwks.json"
    return f"{issuer}/.well-known/jwks.json"
