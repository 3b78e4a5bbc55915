"""Every real-world sample through the offline validator, against what its name promises.

The table is built by `python -m chalicelib.cli conformance FOLDER` (chalicelib/cli.py:
`expected_outcome` says what each file name promises, `KNOWN_SAMPLES` the cases the naming
convention cannot say); `pytest -s` shows it here. Decisions recorded in the table:
- the inbound types (pacs.008, camt.056 including the .08 of FedNow and CBPR+, pacs.028)
  are judged; other messages, valid or INVALIDRULE, are refused FF01 (unsupported message
  type); their rule (XAU currency, MsgDefIdr...) applies once supported;
- invalid/cbprur_INVALIDRULE_pacs008_fixture.xml is named INVALIDRULE but fails the XSD
  (InstdAmt after ChrgBr): FF01. Repaired, it breaks the BAH rules (tested below);
- valid/prowide_pacs008_001_07.xml is XSD-valid but synthetic: its CtrlSum and
  TtlIntrBkSttlmAmt (10000) are not its one transaction's 5000, and it settles 95 days
  after its creation: AM16, AM16, DT01;
- valid/fedwire_pacs008_ccts2_rejected.xml (Fedwire's own rejection scenario) names an
  Instructed Agent whose ABA routing number fails its check digit: RC08;
- dates are judged as of each message's own GrpHdr/CreDtTm (the samples are years old).
"""

from __future__ import annotations

import re

from chalicelib import checks, cli, iso20022
from chalicelib.checks import CheckSettings
from chalicelib.checks.sanctions import Screening


def test_every_sample_has_its_expected_outcome(samples_dir):
    rows = cli.conformance(samples_dir)
    print("\n" + cli.format_table(rows))
    assert len(rows) >= 39
    wrong = [(r.file, r.expected, r.outcome, r.codes) for r in rows if not r.ok]
    assert not wrong, wrong
    by_name = {r.file: r for r in rows}
    # the pacs.008 samples that are real-world valid pass every rule
    for name in (
        "valid/cbprur_pacs008_max_2025.xml",
        "valid/cbprur_pacs008_sample_2025.xml",
        "valid/fedwire_pacs008_ccts1.xml",
        "valid/fedwire_pacs008_returnscn1.xml",
        "valid/rtp_pacs008.xml",
    ):
        assert by_name[name].outcome == "valid", name
    assert by_name["invalid/cbprur_INVALIDRULE_pacs008_iban_bic_mismatch.xml"].codes == ("AGNT", "AC01")
    # the real camt.056.001.08 samples (FedNow, TCH RTP) are accepted, and the pacs.028
    for name in ("valid/fedwire_camt056_returnscn1.xml", "valid/rtp_camt056_refund.xml"):
        assert (by_name[name].message_type, by_name[name].outcome) == ("camt.056.001.08", "valid"), name
    assert by_name["valid/fedwire_pacs028_status_request.xml"].outcome == "valid"


def test_the_conformance_command_prints_the_table_and_exits_0(samples_dir, capsys):
    assert cli.main(["conformance", str(samples_dir)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^(\d+)/\1 samples have their expected outcome$", out, re.M)


def test_the_mislabelled_fixture_once_repaired_breaks_the_bah_rules(samples_dir):
    raw = (samples_dir / "invalid/cbprur_INVALIDRULE_pacs008_fixture.xml").read_bytes()
    instd = re.search(rb"\s*<InstdAmt[^>]*>[^<]*</InstdAmt>", raw).group(0)
    repaired = raw.replace(instd, b"").replace(b"<ChrgBr>", instd.strip() + b"\n        <ChrgBr>", 1)
    ct = iso20022.read_credit_transfer(repaired)
    verdicts = checks.failed(checks.run(ct, CheckSettings(date_reference="creation"), screening=Screening.load()))
    assert [(v.rule, v.reason_code) for v in verdicts] == [
        ("bah_message_definition", "FF01"),
        ("bah_business_message_id", "FF01"),
    ]


def test_expected_outcome_follows_the_readme_naming():
    e = cli.expected_outcome
    assert e("valid/x_pacs008_y.xml").outcome == "valid"
    assert e("valid/x_pacs009_y.xml").codes == ("FF01",)
    assert e("invalid/x_INVALID_pacs008.xml").codes == ("FF01",)
    assert e("invalid/x_INVALIDRULE_pacs008_new_rule.xml") == cli.Expectation("rules", None, "breaks: pacs008_new_rule")
    assert e("invalid/x_INVALIDRULE_pacs004_XAU_currency.xml").codes == ("FF01",)
    assert e("invalid/issettled_pacs008_payment.xml").codes == ("FF01",)
