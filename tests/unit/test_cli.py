"""The offline validator: `python -m chalicelib.cli validate FILE... [--json]`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib import cli

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
BAH = EVENTS / "pacs008_bah_envelope.xml"


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().out


def test_valid_files_exit_0(capsys):
    code, out = run(capsys, "validate", BAH, EVENTS / "pacs008_bare.xml")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2 and all(line.startswith("VALID ") for line in lines)


def test_json_lines_name_every_failing_reason(tmp_path, capsys):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(BAH.read_bytes().replace(b'Ccy="EUR"', b'Ccy="XAU"').replace(b"<ChrgBr>SHAR", b"<ChrgBr>SLEV"))
    code, out = run(capsys, "validate", "--json", BAH, bad, EVENTS / "pacs008_invalid_schema.xml")
    assert code == 1
    good, rules, schema = (json.loads(line) for line in out.splitlines())
    assert good == {
        "file": str(BAH),
        "message_type": "pacs.008.001.08",
        "valid": True,
        "reason_code": None,
        "reasons": [],
    }
    assert rules["valid"] is False and rules["reason_code"] == "AM03"
    assert [r["code"] for r in rules["reasons"]] == ["AM03", "BE19"]
    assert all(set(r) >= {"code", "text"} for r in rules["reasons"])
    assert schema["reason_code"] == "FF01" and len(schema["reasons"]) == 1
    assert "schema violation" in schema["reasons"][0]["text"]


def test_human_output_indents_the_reasons(tmp_path, capsys):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(BAH.read_bytes().replace(b"<BizMsgIdr>PFW", b"<BizMsgIdr>XFW"))
    code, out = run(capsys, "validate", bad)
    assert code == 1
    first, reason = out.splitlines()
    assert first.startswith("INVALID ") and first.endswith("pacs.008.001.08  FF01")
    assert reason.startswith("    FF01  BAH BizMsgIdr")


def test_dates_are_judged_as_of_creation_by_default_or_as_asked(capsys):
    assert run(capsys, "validate", BAH)[0] == 0  # created 2026-04-15
    assert run(capsys, "validate", "--as-of", "2026-04-20", BAH)[0] == 0
    code, out = run(capsys, "validate", "--as-of", "2027-01-01", "--json", BAH)
    assert code == 1 and json.loads(out)["reason_code"] == "DT01"


def test_a_refused_message_still_shows_its_type(tmp_path, capsys):
    other = tmp_path / "pacs002.xml"
    other.write_bytes(b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"/>')
    junk = tmp_path / "junk.xml"
    junk.write_bytes(b"not xml")
    code, out = run(capsys, "validate", "--json", other, junk)
    a, b = (json.loads(line) for line in out.splitlines())
    assert code == 1 and a["message_type"] == "pacs.002.001.10" and a["reason_code"] == "FF01"
    assert b["message_type"] is None and b["reason_code"] == "FF01"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["validate"],
        ["validate", "missing-file.xml"],
        ["frobnicate"],
        ["validate", "--as-of", "someday", "x.xml"],
        ["conformance", "no-such-dir"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2


def test_runs_as_a_module():
    done = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "validate", "--json", str(BAH)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["valid"] is True
