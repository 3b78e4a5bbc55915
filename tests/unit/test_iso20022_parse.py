"""Secure intake: every hostile body is refused with MessageRejected(FF01), quickly."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
from lxml import etree

from chalicelib.iso20022 import MAX_BYTES, MessageRejected, parse_xml, read_credit_transfer
from chalicelib.iso20022 import parse as parse_module

EVENTS = Path(__file__).resolve().parents[2] / "events"
BARE = (EVENTS / "pacs008_bare.xml").read_bytes()
NS8 = "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"

XXE_FILE = (
    b'<?xml version="1.0"?>\n<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    b'<Document xmlns="' + NS8.encode() + b'">&x;</Document>'
)
XXE_URL = (
    b'<!DOCTYPE Document [<!ENTITY x SYSTEM "http://127.0.0.1:9/evil">]>'
    b'<Document xmlns="' + NS8.encode() + b'">&x;</Document>'
)
XXE_PARAM = b'<!DOCTYPE d [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]><d/>'
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
    + b"]><lolz>&lol9;</lolz>"
)
EXTERNAL_DTD = b'<!DOCTYPE Document SYSTEM "http://127.0.0.1:9/x.dtd"><Document/>'
PLAIN_DTD = b"<!DOCTYPE Document><Document/>"

HOSTILE = {
    "xxe_file_entity": XXE_FILE,
    "xxe_url_entity": XXE_URL,
    "xxe_parameter_entity": XXE_PARAM,
    "billion_laughs": BILLION_LAUGHS,
    "external_dtd": EXTERNAL_DTD,
    "dtd_without_subset": PLAIN_DTD,
    "two_mib_body": b"<Document>" + b"A" * (2 * 1024 * 1024) + b"</Document>",
    "nesting_10000": b"<a>" * 10_000 + b"</a>" * 10_000,
    "nesting_150": b"<a>" * 150 + b"</a>" * 150,
    "invalid_utf8": BARE.replace(b"Muster", b"M\xc3\x28ster"),
    "latin1_declared": b'<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe9</a>',
    "utf16_body": BARE.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
    "empty": b"",
    "whitespace_only": b"  \n\t ",
    "json": b'{"MsgId": "PFW-1", "amount": "1234.56"}',
    "text": b"hello world",
    "truncated": BARE[: len(BARE) // 2],
    "undeclared_entity": b"<Document>&secret;</Document>",
    "nul_byte": b"<Document>\x00</Document>",
    "two_roots": b"<a/><b/>",
    "xinclude": (
        b'<Document xmlns="' + NS8.encode() + b'" xmlns:xi="http://www.w3.org/2001/XInclude">'
        b'<xi:include href="file:///etc/passwd" parse="text"/></Document>'
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_rejected_quickly(name):
    started = time.perf_counter()
    with pytest.raises(MessageRejected) as caught:
        read_credit_transfer(HOSTILE[name])
    assert time.perf_counter() - started < 1.0
    assert caught.value.reason_code == "FF01"
    assert 0 < len(caught.value.narrative) <= 200
    assert "root:" not in caught.value.narrative


@pytest.mark.parametrize(
    "name, expected",
    [
        ("xxe_file_entity", "DOCTYPE"),
        ("billion_laughs", "DOCTYPE"),
        ("external_dtd", "DOCTYPE"),
        ("two_mib_body", "exceeds 1048576 bytes"),
        ("nesting_150", "deeper than 100"),
        ("nesting_10000", "nesting"),
        ("invalid_utf8", "invalid UTF-8"),
        ("empty", "empty"),
        ("whitespace_only", "empty"),
        ("json", "not XML"),
        ("utf16_body", "UTF-8"),
        ("undeclared_entity", "undeclared entity"),
    ],
)
def test_rejection_narratives_are_precise(name, expected):
    with pytest.raises(MessageRejected, match=expected):
        parse_xml(HOSTILE[name])


def test_parser_itself_never_expands_entities_even_without_the_prescan():
    """Defence in depth: were the DOCTYPE scan bypassed, the parser resolves nothing."""
    root = etree.fromstring(XXE_FILE, parse_module._parser())
    assert "root:" not in etree.tostring(root).decode()
    assert root.getroottree().docinfo.internalDTD is not None  # and parse_xml refuses that


def test_size_limit_is_a_parameter_and_checked_before_parsing():
    with pytest.raises(MessageRejected, match="exceeds 100 bytes"):
        parse_xml(b"<" * 101, max_bytes=100)  # not XML at all: the size check came first
    assert parse_xml(b"<a/>" + b" " * (MAX_BYTES - 4)).tag == "a"


def test_depth_limit_is_a_parameter():
    doc = b"<a>" * 10 + b"</a>" * 10
    assert parse_xml(doc, max_depth=10).tag == "a"
    with pytest.raises(MessageRejected, match="deeper than 9"):
        parse_xml(doc, max_depth=9)


def test_accepts_bytes_like_and_str_and_refuses_other_types():
    assert parse_xml(bytearray(b"<a/>")).tag == "a"
    assert parse_xml(memoryview(b"<a/>")).tag == "a"
    assert parse_xml("<a>é</a>").text == "é"
    with pytest.raises(MessageRejected, match="not bytes"):
        parse_xml(12345)  # type: ignore[arg-type]


def test_processing_instructions_and_comments_are_dropped():
    raw = BARE.replace(b"<GrpHdr>", b"<?evil pi?><!-- note --><GrpHdr>")
    assert read_credit_transfer(raw).msg_id == "PFW-20260415-000123"


def test_utf8_bom_is_accepted():
    assert read_credit_transfer(b"\xef\xbb\xbf" + BARE).transactions[0].amount == "1234.56"


def test_syntax_narrative_does_not_quote_the_input():
    secret = b"SECRETACCOUNT1234567890"
    with pytest.raises(MessageRejected) as caught:
        parse_xml(b"<" + secret + b"><x></" + secret + b"X>")
    assert "SECRET" not in caught.value.narrative
    assert "line 1" in caught.value.narrative


def test_no_network_access_for_entities_or_schema_location_hints():
    """Neither an external entity (parser level, scan bypassed) nor xsi:schemaLocation
    makes the process open a connection."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.settimeout(0.2)
        url = "http://127.0.0.1:%d/x" % listener.getsockname()[1]
        xxe = (f'<!DOCTYPE d [<!ENTITY x SYSTEM "{url}.ent">]><d>&x;</d>').encode()
        with contextlib.suppress(etree.XMLSyntaxError):
            etree.fromstring(xxe, parse_module._parser())
        hinted = BARE.replace(
            b'pacs.008.001.08">',
            b'pacs.008.001.08" xmlns:xsi='
            b'"http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation='
            b'"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08 ' + url.encode() + b'.xsd">',
            1,
        )
        assert read_credit_transfer(hinted).transactions[0].amount == "1234.56"
        with pytest.raises(socket.timeout):
            listener.accept()
