"""Hostile headers, paths and queries over HTTP: missing, duplicated, oversized and injected
(CRLF, NUL, Unicode) transaction ids, message types, tokens and content types; another
tenant's transactions named in every way; lookups fishing for another tenant's payments.

Every case ends in a JSON 4xx with an error_code, or in a 202 for the caller's own
transaction that the pipeline then settles. A few refusals come from the HTTP server or the
gateway before the API (a NUL in a header, a route that does not exist): those are named
"(server)" / "(gateway)" in the expectation of the cases that may get them.
What requests will not send (CR, LF, NUL, repeated headers) goes over a raw socket.
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.hostile.ledger import LEDGER
from tests.hostile.messages import pacs008
from tests.hostile.support import Outcome, post_inbox, raw_request, send, settle

pytestmark = [pytest.mark.hostile, pytest.mark.e2e]
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@dataclass
class Ctx:
    api: object
    other: object
    victims: dict
    own_settled: dict
    url: str


def judge(ctx: Ctx, r, own_tx: str | None = None) -> Outcome:
    """The outcome of one response: a 4xx label, or the settled pacs.002 after a 202."""
    if r.status_code == 202:
        body = r.json()
        out = Outcome(202, transaction_id=body.get("transaction_id"))
        if own_tx is not None and out.transaction_id != own_tx:
            out.problems.append(f"202 for {out.transaction_id}, not for the caller's {own_tx}")
        return settle(ctx.api, out.transaction_id, out)
    out = Outcome(r.status_code)
    if r.status_code >= 500:
        out.problems.append(f"5xx: {r.text[:200]}")
        return out
    try:
        body = r.json()
    except ValueError:
        out.error_code = "(server)"  # refused by the HTTP server, before any API code
        return out
    if isinstance(body, dict) and body.get("error_code"):
        out.error_code = body["error_code"]
    elif isinstance(body, dict) and set(body) == {"message"}:
        out.error_code = "(gateway)"  # API Gateway's own answer, e.g. no such route
    else:
        out.error_code = "(no error_code)"
    return out


CASES: list[tuple[str, Callable[[Ctx], Outcome], set[str], str | None]] = []


def case(name: str, expect: str, bug: str | None = None):
    def register(fn):
        CASES.append((name, fn, set(expect.split("|")), bug))
        return fn

    return register


def inbox(ctx: Ctx, tx_header, body: bytes | None = None, own_tx: str | None = None, **headers) -> Outcome:
    """POST /inbox of a valid message with `tx_header` as X-Transaction-Id (None: no header)."""
    h = {k.replace("_", "-"): v for k, v in headers.items()}
    r = post_inbox(ctx.api, tx_header, pacs008() if body is None else body, h.pop("Content-Type", "application/xml"), h)
    return judge(ctx, r, own_tx)


def raw_inbox(
    ctx: Ctx,
    lines: list[bytes],
    body: bytes | None = None,
    token: str | None = None,
    content_length: bool = True,
    own_tx: str | None = None,
) -> Outcome:
    auth = b"Authorization: Bearer " + (token or ctx.api.token).encode()
    lines = [auth, b"Content-Type: application/xml", b"X-Message-Type: pacs.008", *lines]
    r = raw_request(ctx.url, "POST", "/inbox", lines, pacs008() if body is None else body, content_length)
    if r.status_code == 0:
        return Outcome(400, error_code="(server)")  # connection closed: the server refused it
    return judge(ctx, r, own_tx)


def own(ctx: Ctx) -> str:
    return ctx.api.new_transaction()


# -- X-Transaction-Id ------------------------------------------------------------------

BAD_ID = "400:INVALID_TRANSACTION_ID"
case("txid-missing", BAD_ID)(lambda c: inbox(c, None))
case("txid-empty", BAD_ID)(lambda c: inbox(c, ""))
case("txid-not-a-uuid", BAD_ID)(lambda c: inbox(c, "not-a-uuid"))
case("txid-no-dashes", BAD_ID)(lambda c: inbox(c, uuid.UUID(own(c)).hex))
case("txid-braces", BAD_ID)(lambda c: inbox(c, "{%s}" % own(c)))
case("txid-urn", BAD_ID)(lambda c: inbox(c, "urn:uuid:" + own(c)))
case("txid-fullwidth-digits", BAD_ID)(lambda c: inbox(c, own(c).translate(FULLWIDTH).encode("utf-8")))
case("txid-rtl-override", BAD_ID)(lambda c: inbox(c, ("\u202e" + own(c)).encode("utf-8")))
case("txid-zero-width-space", BAD_ID)(
    lambda c: (lambda tx: inbox(c, (tx[:8] + "\u200b" + tx[8:]).encode("utf-8")))(own(c))
)
case("txid-one-char-short", BAD_ID)(lambda c: inbox(c, own(c)[:-1]))
case("txid-one-char-long", BAD_ID)(lambda c: inbox(c, own(c) + "0"))
case("txid-10kb", BAD_ID)(lambda c: inbox(c, "a" * 10_000))
case("txid-60kb", BAD_ID + "|431:(server)|400:(server)")(lambda c: inbox(c, "a" * 60_000))
case("txid-sql", BAD_ID)(lambda c: inbox(c, "' OR '1'='1"))
case("txid-path-traversal", BAD_ID)(lambda c: inbox(c, "../../" + own(c)))
case("txid-comma-list", BAD_ID)(lambda c: inbox(c, own(c) + ", " + c.victims["issued"]))
case("txid-uppercase", "ACSC")(lambda c: (lambda tx: inbox(c, tx.upper(), own_tx=tx))(own(c)))
case("txid-padded", "ACSC")(
    lambda c: (lambda tx: raw_inbox(c, [b"X-Transaction-Id:   " + tx.encode() + b" \t"], own_tx=tx))(own(c))
)
case("txid-header-name-lowercase", "ACSC")(
    lambda c: (lambda tx: judge(c, post_inbox(c.api, None, pacs008(), headers={"x-transaction-id": tx}), tx))(own(c))
)
case("txid-header-name-uppercase", "ACSC")(
    lambda c: (lambda tx: judge(c, post_inbox(c.api, None, pacs008(), headers={"X-TRANSACTION-ID": tx}), tx))(own(c))
)
case("txid-header-name-underscore", BAD_ID + "|ACSC")(
    lambda c: (lambda tx: judge(c, post_inbox(c.api, None, pacs008(), headers={"X_Transaction_Id": tx}), tx))(own(c))
)
case("txid-unknown-uuid", "404:TRANSACTION_NOT_FOUND")(lambda c: inbox(c, str(uuid.uuid4())))
case("txid-nil-uuid", "404:TRANSACTION_NOT_FOUND")(lambda c: inbox(c, "00000000-0000-0000-0000-000000000000"))
# raw: CR, LF, NUL and repeated headers
case("txid-nul-appended", BAD_ID + "|400:(server)")(
    lambda c: raw_inbox(c, [b"X-Transaction-Id: " + own(c).encode() + b"\x00"])
)
case("txid-nul-inside", BAD_ID + "|400:(server)")(
    lambda c: (lambda tx: raw_inbox(c, [b"X-Transaction-Id: " + tx[:8].encode() + b"\x00" + tx[8:].encode()]))(own(c))
)
case("txid-crlf-injects-victim", BAD_ID + "|404:TRANSACTION_NOT_FOUND|400:(server)")(
    lambda c: raw_inbox(
        c, [b"X-Transaction-Id: " + own(c).encode() + b"\r\nX-Transaction-Id: " + c.victims["issued"].encode()]
    )
)
case("txid-duplicate-own-then-victim", BAD_ID + "|404:TRANSACTION_NOT_FOUND|ACSC")(
    lambda c: (
        lambda tx: raw_inbox(
            c, [b"X-Transaction-Id: " + tx.encode(), b"X-Transaction-Id: " + c.victims["issued"].encode()], own_tx=tx
        )
    )(own(c))
)
case("txid-duplicate-victim-then-own", BAD_ID + "|404:TRANSACTION_NOT_FOUND|ACSC")(
    lambda c: (
        lambda tx: raw_inbox(
            c, [b"X-Transaction-Id: " + c.victims["issued"].encode(), b"X-Transaction-Id: " + tx.encode()], own_tx=tx
        )
    )(own(c))
)
case("txid-duplicate-own-twice", BAD_ID + "|ACSC")(
    lambda c: (lambda tx: raw_inbox(c, [b"X-Transaction-Id: " + tx.encode()] * 2, own_tx=tx))(own(c))
)
case("txid-bare-cr-injection", BAD_ID + "|400:(server)|404:TRANSACTION_NOT_FOUND")(
    lambda c: raw_inbox(
        c, [b"X-Transaction-Id: " + own(c).encode() + b"\rX-Transaction-Id: " + c.victims["issued"].encode()]
    )
)
case("txid-bare-lf-injection", BAD_ID + "|400:(server)|404:TRANSACTION_NOT_FOUND")(
    lambda c: raw_inbox(
        c, [b"X-Transaction-Id: " + own(c).encode() + b"\nX-Transaction-Id: " + c.victims["issued"].encode()]
    )
)
case("txid-obs-fold", BAD_ID + "|400:(server)|ACSC")(
    lambda c: (lambda tx: raw_inbox(c, [b"X-Transaction-Id:", b" " + tx.encode()], own_tx=tx))(own(c))
)
case("txid-latin1-byte", BAD_ID + "|400:(server)")(
    lambda c: raw_inbox(c, [b"X-Transaction-Id: " + own(c).encode() + b"\xe9"])
)
case("txid-invalid-utf8", BAD_ID + "|400:(server)")(
    lambda c: raw_inbox(c, [b"X-Transaction-Id: \xc0\xaf" + own(c).encode()])
)
case("txid-space-in-header-name", "400:(server)|" + BAD_ID)(
    lambda c: raw_inbox(c, [b"X-Transaction-Id : " + own(c).encode()])
)

# -- another tenant's transactions, and our own settled one ------------------------------

NOT_FOUND = "404:TRANSACTION_NOT_FOUND"
for _which in ("settled", "issued"):
    case(f"victim-{_which}-valid-message", NOT_FOUND)(lambda c, w=_which: inbox(c, c.victims[w]))
    case(f"victim-{_which}-xxe", NOT_FOUND)(
        lambda c, w=_which: inbox(c, c.victims[w], b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>')
    )
    case(f"victim-{_which}-garbage", NOT_FOUND)(lambda c, w=_which: inbox(c, c.victims[w], b"\x00\xff garbage"))
    case(f"victim-{_which}-uppercase-id", NOT_FOUND)(lambda c, w=_which: inbox(c, c.victims[w].upper()))
    case(f"victim-{_which}-empty-body", "400:EMPTY_BODY|" + NOT_FOUND)(lambda c, w=_which: inbox(c, c.victims[w], b""))
    case(f"victim-{_which}-10mb", "413:MESSAGE_TOO_LARGE|" + NOT_FOUND)(
        lambda c, w=_which: inbox(c, c.victims[w], b"<a>" + b"x" * 10_000_000 + b"</a>")
    )
    case(f"victim-{_which}-outbox", NOT_FOUND)(
        lambda c, w=_which: judge(c, send(c.api, "POST", "/outbox", {"X-Transaction-Id": c.victims[w]}))
    )
    case(f"victim-{_which}-state", NOT_FOUND)(
        lambda c, w=_which: judge(c, send(c.api, "GET", f"/transactions/{c.victims[w]}"))
    )
    case(f"victim-{_which}-events", NOT_FOUND)(
        lambda c, w=_which: judge(c, send(c.api, "GET", f"/transactions/{c.victims[w]}/events"))
    )
case("msgtype-camt056-with-pacs008-body", "400:INVALID_CANCELLATION_REQUEST|400:UNSUPPORTED_MESSAGE_TYPE")(
    lambda c: (lambda tx: inbox(c, tx, X_Message_Type="camt.056", own_tx=tx))(own(c))
)
case("victim-token-of-other-tenant-on-own-tx", NOT_FOUND)(lambda c: judge(c, post_inbox(c.other, own(c), pacs008())))
case("own-settled-second-message", "409:TRANSACTION_ALREADY_RECEIVED")(lambda c: inbox(c, c.own_settled["tx"]))
case("own-settled-hostile-message", "409:TRANSACTION_ALREADY_RECEIVED")(
    lambda c: inbox(c, c.own_settled["tx"], b"<a>" * 10_000 + b"</a>" * 10_000)
)

# -- X-Message-Type ----------------------------------------------------------------------

BAD_TYPE = "400:UNSUPPORTED_MESSAGE_TYPE"
for _name, _value in {
    "pacs009": "pacs.009",
    "uppercase": "PACS.008",
    "camt053": "camt.053.001.08",
    "10kb": "pacs.008" + "x" * 10_000,
    "semicolon": "pacs.008;drop",
    "comma-list": "pacs.008, pacs.009",
    "unicode-dot": "pacs\u2024008".encode("utf-8"),
    "fullwidth": "pacs.００８".encode(),
    "crlf-encoded": "pacs.008%0d%0aX-Transaction-Id:%20x",
    "only-dots": "...",
}.items():
    case(f"msgtype-{_name}", BAD_TYPE)(
        lambda c, v=_value: (lambda tx: inbox(c, tx, X_Message_Type=v, own_tx=tx))(own(c))
    )
    case(f"uuid-msgtype-{_name}", BAD_TYPE)(
        lambda c, v=_value: judge(c, send(c.api, "GET", "/uuid", {"X-Message-Type": v}))
    )
case("msgtype-full-version", "ACSC")(
    lambda c: (lambda tx: inbox(c, tx, X_Message_Type="pacs.008.001.08", own_tx=tx))(own(c))
)
case("msgtype-empty-defaults", "ACSC")(lambda c: (lambda tx: inbox(c, tx, X_Message_Type="", own_tx=tx))(own(c)))
case("msgtype-nul", BAD_TYPE + "|400:(server)|ACSC")(
    lambda c: (
        lambda tx: raw_inbox(c, [b"X-Transaction-Id: " + tx.encode(), b"X-Message-Type: pacs.009\x00"], own_tx=tx)
    )(own(c))
)
case("msgtype-duplicate", BAD_TYPE + "|ACSC")(
    lambda c: (lambda tx: raw_inbox(c, [b"X-Transaction-Id: " + tx.encode(), b"X-Message-Type: pacs.009"], own_tx=tx))(
        own(c)
    )
)

# -- Authorization -------------------------------------------------------------------------

# API Gateway's Cognito authorizer refuses a bad token before our code ({"message": ...});
# a token it lets through is refused by ours (error_code UNAUTHORIZED).
UNAUTH = "401:UNAUTHORIZED|401:(gateway)"
case("auth-token-plus-char", UNAUTH)(
    lambda c: (lambda tx: inbox(c, tx, Authorization=f"Bearer {c.api.token}x"))(own(c))
)
case("auth-token-truncated", UNAUTH)(
    lambda c: (lambda tx: inbox(c, tx, Authorization=f"Bearer {c.api.token[:-10]}"))(own(c))
)
case("auth-two-tokens", UNAUTH)(
    lambda c: (lambda tx: inbox(c, tx, Authorization=f"Bearer {c.api.token} {c.other.token}"))(own(c))
)
case("auth-unicode", UNAUTH)(
    lambda c: (lambda tx: inbox(c, tx, Authorization="Bearer \u0442\u043e\u043a\u0435\u043d".encode("utf-8")))(own(c))
)
case("auth-100kb", UNAUTH + "|431:(server)|400:(server)")(
    lambda c: (lambda tx: inbox(c, tx, Authorization="Bearer " + "a" * 100_000))(own(c))
)
case("auth-nul-after-token", UNAUTH + "|400:(server)")(
    lambda c: raw_inbox(c, [b"X-Transaction-Id: " + own(c).encode()], token=c.api.token + "\x00")
)
case("auth-duplicate-header-other-tenant", UNAUTH + "|" + NOT_FOUND + "|ACSC")(
    lambda c: (
        lambda tx: raw_inbox(
            c, [b"X-Transaction-Id: " + tx.encode(), b"Authorization: Bearer " + c.other.token.encode()], own_tx=tx
        )
    )(own(c))
)
case("auth-none-alg-token", UNAUTH)(
    lambda c: (lambda tx: inbox(c, tx, Authorization="Bearer eyJhbGciOiJub25lIn0." + c.api.token.split(".")[1] + "."))(
        own(c)
    )
)

# -- Content-Type, encodings, framing -----------------------------------------------------

case("ctype-missing", "ACSC")(lambda c: (lambda tx: judge(c, post_inbox(c.api, tx, pacs008(), None), tx))(own(c)))
for _n, _ct in {
    "json": "application/json",
    "text-plain": "text/plain",
    "text-xml": "text/xml",
    "form": "application/x-www-form-urlencoded",
    "xml-charset-utf16": "application/xml; charset=utf-16",
    "xml-uppercase": "APPLICATION/XML",
    "xml-odd-params": "application/xml; boundary=--x; q=0",
}.items():
    case(f"ctype-{_n}", "ACSC")(lambda c, ct=_ct: (lambda tx: inbox(c, tx, own_tx=tx, Content_Type=ct))(own(c)))
for _ct in ("image/png", "multipart/form-data; boundary=x", "application/evil+xml"):
    case(f"ctype-{_ct.split(';')[0].replace('/', '-')}", "415:UNSUPPORTED_MEDIA_TYPE")(
        lambda c, ct=_ct: (lambda tx: inbox(c, tx, Content_Type=ct))(own(c))
    )
case("ctype-crlf-injects-victim", BAD_ID + "|" + NOT_FOUND + "|400:(server)|ACSC")(
    lambda c: (
        lambda tx: raw_inbox(
            c,
            [
                b"X-Transaction-Id: "
                + tx.encode()
                + b"\r\nContent-Type: text/xml\r\nX-Transaction-Id: "
                + c.victims["issued"].encode()
            ],
            own_tx=tx,
        )
    )(own(c))
)
case("content-encoding-gzip", "RJCT:FF01|ACSC")(
    lambda c: (lambda tx: inbox(c, tx, gzip.compress(pacs008()), own_tx=tx, Content_Encoding="gzip"))(own(c))
)
case("chunked-transfer", "ACSC|400:(server)")(
    lambda c: (
        lambda tx, b: raw_inbox(
            c,
            [b"X-Transaction-Id: " + tx.encode(), b"Transfer-Encoding: chunked"],
            b"%x\r\n" % len(b) + b + b"\r\n0\r\n\r\n",
            content_length=False,
            own_tx=tx,
        )
    )(own(c), pacs008())
)
case("chunked-and-content-length", "RJCT:FF01|ACSC|400:(server)|" + BAD_ID)(
    lambda c: (
        lambda tx, b: raw_inbox(
            c,
            [b"X-Transaction-Id: " + tx.encode(), b"Transfer-Encoding: chunked"],
            b"%x\r\n" % len(b) + b + b"\r\n0\r\n\r\n",
            own_tx=tx,
        )
    )(own(c), pacs008())
)
case("content-length-short", "RJCT:FF01|400:(server)")(
    lambda c: (
        lambda tx: raw_inbox(
            c, [b"X-Transaction-Id: " + tx.encode(), b"Content-Length: 200"], content_length=False, own_tx=tx
        )
    )(own(c))
)

# -- /outbox, paths and lookups ------------------------------------------------------------

case("outbox-missing-id", BAD_ID)(lambda c: judge(c, send(c.api, "POST", "/outbox")))
case("outbox-fullwidth-id", BAD_ID)(
    lambda c: judge(c, send(c.api, "POST", "/outbox", {"X-Transaction-Id": own(c).translate(FULLWIDTH).encode()}))
)
case("outbox-not-ready", "409:STATUS_REPORT_NOT_READY")(
    lambda c: judge(c, send(c.api, "POST", "/outbox", {"X-Transaction-Id": own(c)}))
)
case("outbox-hostile-body-ignored", "409:STATUS_REPORT_NOT_READY")(
    lambda c: judge(
        c,
        send(
            c.api,
            "POST",
            "/outbox",
            {"X-Transaction-Id": own(c), "Content-Type": "application/xml"},
            data=b'<!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd">]><x>&a;</x>',
        ),
    )
)
for _name, _path in {
    "not-a-uuid": "not-a-uuid",
    "10kb": "a" * 10_000,
    "rtl": "%E2%80%AE" + "0" * 36,
    "encoded-nul": "%00",
    "urn": "urn:uuid:00000000-0000-0000-0000-000000000000",
    "fullwidth": "%EF%BC%90" * 36,
}.items():
    case(f"path-{_name}", BAD_ID)(lambda c, p=_path: judge(c, send(c.api, "GET", f"/transactions/{p}")))
    case(f"path-events-{_name}", BAD_ID)(lambda c, p=_path: judge(c, send(c.api, "GET", f"/transactions/{p}/events")))
case("path-traversal", "403:(gateway)|404:(gateway)|" + BAD_ID)(
    lambda c: judge(c, send(c.api, "GET", "/transactions/..%2f..%2fetc%2fpasswd"))
)
case("path-own-uppercase", "200:OK")(
    lambda c: (lambda r: Outcome(200, "OK") if r.status_code == 200 else judge(c, r))(
        send(c.api, "GET", f"/transactions/{c.own_settled['tx'].upper()}")
    )
)
BAD_QUERY = "400:INVALID_QUERY"


def lookup(c: Ctx, params) -> Outcome:
    r = send(c.api, "GET", "/transactions", params=params)
    if r.status_code == 200:
        found = r.json().get("transactions")
        if found:
            return Outcome(200, "FOUND", problems=[f"a lookup found {len(found)} transaction(s): {r.text[:200]}"])
        return Outcome(200, "EMPTY")
    return judge(c, r)


case("lookup-victim-uetr", "200:EMPTY")(lambda c: lookup(c, {"uetr": c.victims["uetr"]}))
case("lookup-victim-uetr-uppercase", "200:EMPTY")(lambda c: lookup(c, {"uetr": c.victims["uetr"].upper()}))
case("lookup-victim-end-to-end-id", "200:EMPTY")(lambda c: lookup(c, {"end_to_end_id": c.victims["end_to_end_id"]}))
case("lookup-sql", "200:EMPTY")(lambda c: lookup(c, {"uetr": "' OR '1'='1"}))
case("lookup-nosql-operator", "200:EMPTY")(lambda c: lookup(c, {"end_to_end_id": '{"$ne": null}'}))
case("lookup-nul", "200:EMPTY|" + BAD_QUERY)(lambda c: lookup(c, {"uetr": "\x00"}))
case("lookup-unicode", "200:EMPTY")(lambda c: lookup(c, {"uetr": "\u202e\U0001f4b8"}))
case("lookup-empty-value", BAD_QUERY)(lambda c: lookup(c, {"uetr": ""}))
case("lookup-65-chars", BAD_QUERY)(lambda c: lookup(c, {"uetr": "a" * 65}))
case("lookup-10kb", BAD_QUERY + "|414:(server)")(lambda c: lookup(c, {"end_to_end_id": "a" * 10_000}))
case("lookup-unknown-param", BAD_QUERY)(lambda c: lookup(c, {"owner": "x"}))
case("lookup-two-params", BAD_QUERY)(lambda c: lookup(c, {"uetr": "a", "end_to_end_id": "b"}))
case("lookup-no-params", BAD_QUERY)(lambda c: lookup(c, None))
case("lookup-victim-uetr-plus-owner", BAD_QUERY)(lambda c: lookup(c, {"uetr": c.victims["uetr"], "owner": "*"}))


# -- the run --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def outcomes(request, api, other_tenant, victims, own_settled, stack) -> dict[str, Outcome]:
    ctx = Ctx(api, other_tenant, victims, own_settled, stack["api_url"])
    names = {
        item.callspec.params["name"]
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec")
    }

    def run(entry) -> Outcome:
        name, fn, _, _ = entry
        try:
            return fn(ctx)
        except Exception as e:
            return Outcome(0, problems=[f"{type(e).__name__}: {e}"])

    chosen = [entry for entry in CASES if entry[0] in names]
    with ThreadPoolExecutor(8) as pool:
        return dict(zip((e[0] for e in chosen), pool.map(run, chosen), strict=True))


def _param(name, expect, bug):
    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
    return pytest.param(name, expect, id=name, marks=marks)


@pytest.mark.parametrize("name, expect", [_param(n, e, b) for n, _, e, b in CASES])
def test_hostile_header(name, expect, outcomes):
    out = outcomes[name]
    LEDGER.record(f"header:{name}", out.ledger if out.status else "0 (no answer)")
    assert 0 < out.status < 500, out.problems
    assert not out.problems, (out.label, out.problems)
    assert out.label in expect, (out.label, out.narrative)
