"""Bounded, reproducible property fuzz of the XML intake, in process (no stack needed).

tests/unit/test_iso20022_fuzz.py feeds random bytes and random edits of the samples to
`read_credit_transfer`. This goes further along the path a message takes:
- every field the code extracts gets oversized and odd values (any Unicode, huge numbers,
  raw markup and bytes spliced in unescaped);
- valid messages (bare, BAH envelope, SOAP wrapper) get byte-level mutations that aim at the
  parser: DTD and entity tokens, CDATA, comments, invalid UTF-8, duplicated and cut chunks;
and whatever is accepted then goes through the business checks and the pacs.002 build, as
the pipeline would do, so a value that passes the intake but crashes a later step (a
message stuck in a queue) fails here too. Only MessageRejected may escape; a rejection is
FF01 with a short narrative that quotes no payment data.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import checks
from chalicelib.checks.sanctions import load_screening
from chalicelib.domain.models import Transaction
from chalicelib.iso20022 import (
    CreditTransfer,
    MessageRejected,
    StatusReason,
    build_pacs002,
    read_credit_transfer,
    validate_pacs002,
)
from tests.hostile.messages import CANARIES, DROP, FIELDS, bah, pacs008, wrap

SCREENING = load_screening()
pytestmark = pytest.mark.hostile
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NOW = datetime(2026, 4, 15, 12, 0, tzinfo=UTC)
# what extract.py clips each value to: an accepted message never yields longer ones
MAX_LEN = {
    "msg_id": 35,
    "creation_date_time": 35,
    "nb_of_txs": 15,
    "interbank_settlement_date": 10,
    "instructing_agent": 35,
    "instructed_agent": 35,
}  # the group header's
TX_MAX_LEN = {
    "end_to_end_id": 35,
    "tx_id": 35,
    "instr_id": 35,
    "uetr": 36,
    "amount": 40,
    "currency": 3,
    "interbank_settlement_date": 10,
    "debtor_name": 140,
    "creditor_name": 140,
    "debtor_account": 34,
    "creditor_account": 34,
    "instructing_agent": 35,
    "instructed_agent": 35,
    "charge_bearer": 4,
    "debtor_country": 2,
}  # each transaction's


def through_the_pipeline(raw: bytes) -> str:
    """Intake, then what the pipeline does with the result; 'ACSC', 'RJCT <code>'."""
    try:
        ct = read_credit_transfer(raw)
    except MessageRejected as r:
        assert r.reason_code == "FF01"
        assert 0 < len(r.narrative) <= 200 and "\n" not in r.narrative
        assert not any(c in r.narrative for c in CANARIES), r.narrative  # no payment data
        assert r.msg_id is None or 0 < len(r.msg_id) <= 35
        report = build_pacs002(
            None,
            msg_id="PFFUZZ",
            created_at=NOW,
            tx_status="RJCT",
            reasons=[StatusReason(r.reason_code, r.narrative)],
            original_message_id_fallback=r.msg_id or "NOTPROVIDED",
            original_message_name_fallback=r.message_type or "pacs.008",
        )
        validate_pacs002(report)
        return "RJCT FF01"
    assert isinstance(ct, CreditTransfer) and ct.message_type.startswith("pacs.008.001.0")
    data = ct.to_dict()
    for values, limits in ((data, MAX_LEN), *((t, TX_MAX_LEN) for t in data["transactions"])):
        for name, limit in limits.items():
            assert values[name] is None or len(values[name]) <= limit, (name, values[name])
    assert CreditTransfer.from_dict(data) == ct
    assert all(isinstance(t, Transaction) for t in ct.transactions)
    verdicts = checks.run(ct, screening=SCREENING)
    failed = checks.failed(verdicts)
    for v in failed:
        assert v.reason_code and len(v.reason_code) == 4 and len(v.narrative) <= 200
        assert not any(c in v.narrative for c in CANARIES), v  # narratives carry no payment data
    report = build_pacs002(
        ct,
        msg_id="PFFUZZ",
        created_at=NOW,
        tx_status="RJCT" if failed else "ACSC",
        reasons=[StatusReason(v.reason_code, v.narrative) for v in failed],
    )
    validate_pacs002(report)
    return f"RJCT {failed[0].reason_code}" if failed else "ACSC"


# -- every extracted field, oversized and odd values ----------------------------------------

_odd_text = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=60),  # any Unicode but surrogates
    st.text("0123456789.-+eE ,", max_size=120),  # number-ish
    st.builds(lambda c, n: c * n, st.sampled_from("A9 .\u00e9\U0001f4b8\u202e\ufeff"), st.integers(0, 200_000)),
    st.integers(-(10**120), 10**120).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(
        [
            "",
            " ",
            "\n",
            "NaN",
            "INF",
            "-0",
            "0E-10",
            "9" * 100,
            "1" * 19,
            "EUR",
            "eur",
            "XXX",
            "2026-02-30",
            "10000-01-01",
            "0000-01-01",
            "2026-04-15T24:00:00",
            "DEUTDEFF",
            "deutdeffxxx",
            "DE89370400440532013000",
            "00000000-0000-0000-0000-000000000000",
            str(uuid.uuid4()).upper(),
        ]
    ),
)
_raw_bytes = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [
            b"&x;",
            b"&#0;",
            b"&#xD800;",
            b"&#x110000;",
            b"]]>",
            b"<![CDATA[x]]>",
            b"<!-- c -->",
            b"<?pi x?>",
            b"<a/>",
            b"</Nm>",
            b"<!DOCTYPE x>",
            b"\xc0\xaf",
            b"\xed\xa0\x80",
            b"\xff\xfe",
            b"\x00",
            b'" evil="1',
            b"&amp;&lt;",
            b"\r\n",
            b"\xef\xbb\xbf",
        ]
    ),
)
_value = st.one_of(_odd_text, _raw_bytes, st.just(DROP))


@SETTINGS
@given(st.dictionaries(st.sampled_from(FIELDS), _value, min_size=1, max_size=3), st.booleans())
def test_odd_values_in_every_extracted_field(fields, in_envelope):
    msg = pacs008(**fields)
    if in_envelope:
        msg = bah(msg)
    through_the_pipeline(msg)


@pytest.mark.parametrize("field", FIELDS)
def test_each_field_oversized_is_rejected(field):
    """1 MB minus the rest in one field: refused by the XSD (or the size limit), never extracted."""
    assert through_the_pipeline(pacs008(**{field: "9" * 1_000_000})) == "RJCT FF01"
    assert through_the_pipeline(pacs008(**{field: "9" * 5_000})) == "RJCT FF01"


# -- byte-level mutations of valid messages ------------------------------------------------

_TOKENS = [
    b'<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    b"&x;",
    b"&lol9;",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"-->",
    b"<?pi?>",
    b'xmlns=""',
    b'xmlns:p="urn:x"',
    b"\x00",
    b"\xc0\xaf",
    b"\xff",
    b"\xef\xbb\xbf",
    b"<",
    b">",
    b"/>",
    b"&#0;",
    b"&#65;",
    b"</Document>",
    b"<Document>",
    b' xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.09"',
    b"\r",
    b'"',
    b"'",
    b"=",
    b":",
]
_edit = st.tuples(
    st.sampled_from(["token", "flip", "delete", "duplicate", "cut", "swap"]),
    st.integers(min_value=0),
    st.integers(min_value=1, max_value=400),
    st.sampled_from(_TOKENS),
)
_seeds = st.sampled_from(["bare", "bah", "soap", "prefixed"])


def _seed(kind: str) -> bytes:
    msg = pacs008()
    if kind == "bah":
        return bah(msg)
    if kind == "soap":
        return wrap(
            msg, b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>', b"</s:Body></s:Envelope>"
        )
    if kind == "prefixed":
        return msg.replace(b"<Document xmlns=", b'<Document xmlns:unused="urn:x" xmlns=', 1)
    return msg


@SETTINGS
@given(_seeds, st.lists(_edit, min_size=1, max_size=5))
def test_byte_mutations_of_valid_messages(seed, edits):
    raw = bytearray(_seed(seed))
    for kind, pos, length, token in edits:
        if not raw:
            break  # cut to nothing: an empty body is a case of its own
        pos %= len(raw)
        if kind == "token":
            raw[pos:pos] = token
        elif kind == "flip":
            raw[pos] ^= 1 << (length % 8)
        elif kind == "delete":
            del raw[pos : pos + length]
        elif kind == "duplicate":
            raw[pos:pos] = raw[pos : pos + length]
        elif kind == "cut":
            del raw[pos:]
        else:  # swap two chunks
            other = (pos + length) % (len(raw) or 1)
            a, b = sorted((pos, other))
            raw[a : b + length] = (
                raw[b : b + length] + raw[a + length : b] + raw[a : a + length]
                if b > a + length
                else raw[a : b + length]
            )
    through_the_pipeline(bytes(raw))


def test_the_seeds_settle():
    for kind in ("bare", "bah", "soap", "prefixed"):
        assert through_the_pipeline(_seed(kind)) == "ACSC", kind
