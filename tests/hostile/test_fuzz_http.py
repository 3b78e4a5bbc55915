"""Bounded, reproducible fuzz of the HTTP layer's pure functions: what a header can hold.

Only the named client errors may escape (BadRequest and the service's named errors, 400; AuthError / MissingToken 401);
anything else would be a 500 from `handles_errors`. What is accepted is also pinned down:
a transaction id is only ever a canonical ASCII UUID (no alias spelling reaches a
transaction), a bearer token has no spaces and a bounded size, and only tokens our own key
signed verify.
"""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import auth
from chalicelib.api import BadRequest, status_of, transaction_id
from chalicelib.pipeline.errors import UnsupportedMessageType
from chalicelib.pipeline.intake import PAYMENT_MESSAGE_TYPES, family_of

pytestmark = pytest.mark.hostile
SETTINGS = settings(
    max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_fuzz"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
POLICY = auth.TokenPolicy(issuer=ISSUER, jwks_url="http://127.0.0.1:9/never-fetched")
NASTY = [
    "\r\n",
    "\x00",
    "\u2028",
    "\u0085",
    "\ufeff",
    "\u200b",
    "\t",
    " ",
    "\u00a0",
    "\ud800",
    "%00",
    "%0d%0a",
    "\uff10",
    "\u0661",
    ",",
    ";",
    "{",
    "}",
    "urn:uuid:",
    "-",
    "\u2010",
]


def _header_text():
    """Header-ish strings: any text, and mutations of a real UUID with characters that matter."""
    mutated = st.builds(
        lambda u, i, s, mode: (u[:i] + s + u[i:]) if mode else (u[:i] + s + u[i + 1 :]),
        st.uuids().map(str),
        st.integers(0, 36),
        st.sampled_from(NASTY),
        st.booleans(),
    )
    return st.one_of(
        st.none(),
        st.text(max_size=80),
        mutated,
        st.text(max_size=20_000).map(lambda t: t * 2),
        st.uuids().map(lambda u: u.hex),
        st.uuids().map(lambda u: "{%s}" % u),
        st.uuids().map(lambda u: str(u).translate(str.maketrans("0123456789", "０１２３４５６７８９"))),
    )


@SETTINGS
@given(_header_text())
def test_transaction_id_is_a_canonical_uuid_or_a_400(value):
    try:
        parsed = transaction_id(value)
    except BadRequest as e:
        assert (e.status, e.error_code) == (400, "INVALID_TRANSACTION_ID")
        return
    text = value.strip()
    assert isinstance(parsed, uuid.UUID)
    assert str(parsed) == text.lower() and text.isascii() and len(text) == 36  # the one spelling


@pytest.mark.parametrize("alias", ["urn:uuid:{u}", "{{{u}}}", "{h}", "{fw}", "{u}\x00", "\u200b{u}", "{u}\u2028x"])
def test_no_alias_spelling_reaches_a_transaction(alias):
    u = uuid.uuid4()
    value = alias.format(u=u, h=u.hex, fw=str(u).translate(str.maketrans("0123456789", "０１２３４５６７８９")))
    with pytest.raises(BadRequest):
        transaction_id(value)
    assert transaction_id(f" {str(u).upper()}\t") == u  # case and surrounding blanks do not matter


@SETTINGS
@given(
    st.one_of(
        st.none(),
        st.text(max_size=100),
        st.text(max_size=100).map(lambda t: "Bearer " + t),
        st.sampled_from(
            [
                "Bearer",
                "bearer x",
                "BEARER  x ",
                "Basic dXNlcjpwYXNz",
                "Bearer a b",
                "Bearer " + "a" * 8193,
                "Bearer " + "a" * 8192,
                "Bearer\tx",
                "Bearer x\r\n",
            ]
        ),
    )
)
def test_bearer_token_or_a_401(header):
    try:
        token = auth.bearer_token(header)
    except auth.AuthError as e:
        assert e.status == 401 and e.error_code == "UNAUTHORIZED"
        return
    assert token and " " not in token and len(token) <= auth.MAX_TOKEN_BYTES
    assert header.strip().lower().startswith("bearer ")


def _token(**overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "exp": now + 600,
        "iat": now,
        "token_use": "access",
        "client_id": "fuzz-client",
        "scope": "pacsflow/read pacsflow/write",
        **overrides,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, KEY, algorithm="RS256", headers={"kid": "k1"})


GOOD = _token()
_edit = st.tuples(
    st.integers(0, len(GOOD) - 1),
    st.sampled_from(["flip", "delete", "insert"]),
    st.characters(blacklist_categories=("Cs",)),
)


@SETTINGS
@given(
    st.one_of(
        st.lists(_edit, min_size=1, max_size=3),
        st.text(max_size=300),
        st.sampled_from(
            [
                _token(exp=1),
                _token(token_use="id"),
                _token(iss="https://evil"),
                _token(client_id=None),
                _token(scope=None),
                _token(iat=None),
                _token(exp="never"),
                _token(client_id={"a": 1}),
                _token(client_id=""),
                _token(client_id=7),
                _token(scope=["pacsflow/write"]),
                jwt.encode({"iss": ISSUER}, "s" * 32, algorithm="HS256"),
                GOOD.rsplit(".", 1)[0] + ".",
                "e30.e30.",
                "eyJhbGciOiJub25lIn0." + GOOD.split(".")[1] + ".",
            ]
        ),
    )
)
def test_only_tokens_signed_by_the_pool_verify(mutation):
    if isinstance(mutation, list):
        token = GOOD
        for pos, kind, char in mutation:
            if kind == "flip":
                token = token[:pos] + char + token[pos + 1 :]
            elif kind == "delete":
                token = token[:pos] + token[pos + 1 :]
            else:
                token = token[:pos] + char + token[pos:]
    else:
        token = mutation
    try:
        principal = auth.verify(token, POLICY, signing_key=KEY.public_key())
    except auth.AuthError as e:
        assert e.status == 401
        return
    # base64url decoding ignores some trailing bits, so a few edits give the same token back
    assert jwt.decode(token, KEY.public_key(), algorithms=["RS256"], options={"verify_exp": False})
    assert principal.client_id == "fuzz-client"


@SETTINGS
@given(_header_text())
def test_message_type_is_a_payment_message_type_or_a_400(value):
    try:
        family = family_of(value, "pacs.008", PAYMENT_MESSAGE_TYPES)
    except UnsupportedMessageType as e:
        assert status_of(e)[:2] == (400, "UNSUPPORTED_MESSAGE_TYPE")
        return
    assert family in PAYMENT_MESSAGE_TYPES
