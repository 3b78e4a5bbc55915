"""`python -m chalicelib.cli validate` judges every inbound type (pacs.008, camt.056,
pacs.028), recognised by namespace, with one JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib import cli

EVENTS = Path(__file__).resolve().parents[2] / "events"
SHAPE = {"file", "message_type", "valid", "reason_code", "reasons"}


def _validate(capsys, *paths):
    code = cli.main(["validate", "--json", *map(str, paths)])
    return code, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize(
    "name, message_type",
    [
        ("pacs008_bare.xml", "pacs.008.001.08"),
        ("camt056_cancel.xml", "camt.056.001.09"),
        ("camt056_group_cancel.xml", "camt.056.001.12"),
        ("pacs028_status_request.xml", "pacs.028.001.03"),
    ],
)
def test_each_inbound_type_is_valid(capsys, name, message_type):
    code, (result,) = _validate(capsys, EVENTS / name)
    assert code == 0
    assert set(result) == SHAPE
    assert (result["message_type"], result["valid"], result["reason_code"], result["reasons"]) == (
        message_type,
        True,
        None,
        [],
    )


@pytest.mark.parametrize(
    "name, old, new, message_type",
    [
        ("pacs008_bare.xml", b"<ChrgBr>SHAR", b"<ChrgBr>NOPE", "pacs.008.001.08"),
        ("camt056_cancel.xml", b"<Cd>DUPL</Cd>", b"<Cd>DUPLICATE</Cd>", "camt.056.001.09"),
        ("pacs028_status_request.xml", b"<OrgnlUETR>", b"<OrgnlUETR>X", "pacs.028.001.03"),
    ],
)
def test_each_inbound_type_is_invalid_when_its_schema_says_so(tmp_path, capsys, name, old, new, message_type):
    raw = (EVENTS / name).read_bytes()
    assert old in raw
    bad = tmp_path / name
    bad.write_bytes(raw.replace(old, new, 1))
    code, (result,) = _validate(capsys, bad)
    assert code == 1 and set(result) == SHAPE
    assert (result["message_type"], result["valid"], result["reason_code"]) == (message_type, False, "FF01")
    assert "schema violation" in result["reasons"][0]["text"]


def test_a_pacs008_still_gets_its_business_rules(tmp_path, capsys):
    bad = tmp_path / "xau.xml"
    bad.write_bytes((EVENTS / "pacs008_bare.xml").read_bytes().replace(b'Ccy="EUR"', b'Ccy="XAU"'))
    code, (result,) = _validate(capsys, bad)
    assert code == 1 and result["reason_code"] == "AM03" and result["reasons"][0]["rule"] == "currency_allowed"


def test_a_mixed_batch_in_human_form(tmp_path, capsys):
    code = cli.main(["validate", str(EVENTS / "camt056_cancel.xml"), str(EVENTS / "pacs028_status_request.xml")])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].startswith("VALID ") and lines[0].endswith("camt.056.001.09")
    assert lines[1].startswith("VALID ") and lines[1].endswith("pacs.028.001.03")


def test_types_the_service_does_not_take_are_refused_with_their_type(tmp_path, capsys):
    other = tmp_path / "camt029.xml"
    other.write_bytes(b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.029.001.09"/>')
    code, (result,) = _validate(capsys, other)
    assert code == 1 and (result["message_type"], result["reason_code"]) == ("camt.029.001.09", "FF01")


@pytest.mark.parametrize(
    "name",
    [
        "valid/fedwire_camt056_returnscn1.xml",
        "valid/rtp_camt056_refund.xml",
        "valid/fedwire_pacs028_status_request.xml",
    ],
)
def test_the_real_samples_of_each_type(samples_dir, capsys, name):
    code, (result,) = _validate(capsys, samples_dir / name)
    assert code == 0 and result["valid"] is True
