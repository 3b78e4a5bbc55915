"""U+FFFD is a legal XML character: only bytes that fail strict UTF-8 decoding are invalid."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib import checks
from chalicelib.checks import CheckSettings
from chalicelib.checks.sanctions import Screening
from chalicelib.iso20022 import MessageRejected, parse_xml, read_credit_transfer

EVENTS = Path(__file__).resolve().parents[2] / "events"
BARE = (EVENTS / "pacs008_bare.xml").read_bytes()
FFFD = "\ufffd".encode()


def _with_debtor_name(name: bytes) -> bytes:
    start = BARE.index(b"<Dbtr>")
    open_nm = BARE.index(b"<Nm>", start) + len(b"<Nm>")
    close_nm = BARE.index(b"</Nm>", open_nm)
    return BARE[:open_nm] + name + BARE[close_nm:]


@pytest.mark.parametrize(
    "raw",
    [
        _with_debtor_name(b"M" + FFFD + b"ller GmbH"),  # in a name
        BARE.replace(b"<Document", b"<!-- " + FFFD + b" -->\n<Document", 1),  # in a comment
        BARE.replace(b"<Document", b"<?note " + FFFD + b"?>\n<Document", 1),  # in a PI
        _with_debtor_name(b"&#xFFFD; as a character reference"),
    ],
)
def test_a_message_carrying_u_fffd_is_read_and_judged(raw):
    ct = read_credit_transfer(raw)
    failed = checks.failed(checks.run(ct, CheckSettings(date_reference="creation"), screening=Screening.load()))
    assert failed == []


def test_u_fffd_in_a_name_is_kept_as_sent():
    ct = read_credit_transfer(_with_debtor_name(b"M" + FFFD + b"ller GmbH"))
    assert ct.transactions[0].debtor_name == "M\ufffdller GmbH"


def test_text_input_with_u_fffd_is_accepted():
    assert parse_xml("<a>x\ufffdy</a>").text == "x\ufffdy"


@pytest.mark.parametrize(
    "bad",
    [
        b"\x80",
        b"\xc0\xaf",
        b"\xc3",
        b"\xe2\x82",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xff",
        b"caf\xe9",
        b"\xef\xbf",
    ],
)
def test_bytes_that_are_not_utf8_are_refused(bad):
    with pytest.raises(MessageRejected, match="invalid UTF-8") as caught:
        read_credit_transfer(_with_debtor_name(b"Name " + bad))
    assert caught.value.reason_code == "FF01"


def test_a_lone_surrogate_in_text_input_is_refused():
    with pytest.raises(MessageRejected, match="invalid UTF-8"):
        parse_xml("<a>x\ud800y</a>")
