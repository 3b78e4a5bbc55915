"""Bearer-token verification against a key of our own (the e2e suite uses the pool's)."""

from __future__ import annotations

import time
import types

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib import auth

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
POLICY = auth.TokenPolicy(issuer="https://cognito-idp.eu-west-1.amazonaws.com/pool", jwks_url="http://127.0.0.1:9/none")


def token(**overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": POLICY.issuer,
        "token_use": "access",
        "client_id": "client-a",
        "iat": now,
        "exp": now + 60,
        "scope": "pacsflow/read pacsflow/write",
        **overrides,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, KEY, algorithm="RS256")


def verify(t: str) -> auth.Principal:
    return auth.verify(t, POLICY, signing_key=KEY.public_key())


def test_a_valid_access_token_names_its_client_and_scopes():
    p = verify(token())
    assert p.client_id == "client-a" and p.scopes == {"pacsflow/read", "pacsflow/write"}
    auth.require_scope(p, POLICY, "write")


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 1},
        {"iss": "https://elsewhere"},
        {"token_use": "id"},
        {"client_id": None},
        {"client_id": ""},
    ],
)
def test_tokens_that_are_not_this_pools_live_access_tokens_are_refused(claims):
    with pytest.raises(auth.AuthError) as e:
        verify(token(**claims))
    assert e.value.status == 401


def test_a_missing_scope_is_403():
    with pytest.raises(auth.InsufficientScope) as e:
        auth.require_scope(verify(token(scope="pacsflow/read")), POLICY, "write")
    assert e.value.status == 403


def test_unreachable_signing_keys_are_503_not_401():
    with pytest.raises(auth.KeysUnavailable) as e:
        auth.verify(token(), POLICY)  # the JWKS URL answers nothing
    assert e.value.status == 503


def test_one_failed_fetch_of_the_signing_keys_is_tried_again(monkeypatch):
    """A cold container's JWKS fetch that fails once (a busy network) is retried before 503."""
    calls = []

    class Flaky:
        def get_signing_key_from_jwt(self, _token):
            calls.append(1)
            if len(calls) == 1:
                raise jwt.PyJWKClientConnectionError("timed out")
            return types.SimpleNamespace(key=KEY.public_key())

    monkeypatch.setattr(auth, "_jwks", lambda url: Flaky())
    assert auth.verify(token(), POLICY).client_id and len(calls) == 2


@pytest.mark.parametrize("header", [None, "", "Basic x", "Bearer", "Bearer a b", "Bearer " + "x" * 9000])
def test_malformed_authorization_headers_are_refused(header):
    with pytest.raises(auth.AuthError):
        auth.bearer_token(header)
