"""``python -m chalicelib.cli conformance``: every sample of a folder against its expected outcome.

Part of ``chalicelib/cli.py`` (see its docstring); the names are imported back there.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from chalicelib import checks
from chalicelib.checks import Screening
from chalicelib.cli_validate import _settings_for, validate_bytes

# -- conformance --------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    outcome: str  # "valid", "FF01" (refused by the intake), "rules"
    codes: tuple[str, ...] | None  # failing reason codes in rule order; None: any
    note: str = ""


# Samples whose rule outcome is more precise than the naming convention can say.
KNOWN_SAMPLES: dict[str, Expectation] = {
    "invalid/cbprur_INVALIDRULE_pacs008_iban_bic_mismatch.xml": Expectation(
        "rules", ("AGNT", "AC01"), "BAH Fr/To are not InstgAgt/InstdAgt; debtor IBAN check digits"
    ),
    "invalid/cbprur_INVALIDRULE_pacs008_fixture.xml": Expectation(
        "FF01",
        ("FF01",),
        "named INVALIDRULE but fails the XSD (InstdAmt after ChrgBr); "
        "repaired, it breaks MsgDefIdr and BizMsgIdr (FF01, FF01)",
    ),
    "valid/prowide_pacs008_001_07.xml": Expectation(
        "rules",
        ("AM16", "AM16", "DT01"),
        "synthetic: CtrlSum/TtlIntrBkSttlmAmt 10000 vs one tx of 5000; settles 95 days after creation",
    ),
    "valid/fedwire_pacs008_ccts2_rejected.xml": Expectation(
        "rules", ("RC08",), "InstdAgt ABA routing number check digit (Fedwire rejected it: E433)"
    ),
    "valid/fedwire_camt056_returnscn1.xml": Expectation(
        "valid", (), "camt.056.001.08 (FedNow/Fedwire, CBPR+ version): schema-valid cancellation request"
    ),
    "valid/rtp_camt056_refund.xml": Expectation(
        "valid", (), "camt.056.001.08 bare FIToFIPmtCxlReq in a TCH RTP wrapper"
    ),
    "valid/fedwire_pacs028_status_request.xml": Expectation("valid", (), "pacs.028.001.03 status request"),
}
# The inbound types the service accepts (validate judges each); other types are refused.
INBOUND = ("pacs008", "camt056", "pacs028")


def expected_outcome(name: str) -> Expectation:
    """What the samples README promises for ``folder/file`` (and KNOWN_SAMPLES refines)."""
    if name in KNOWN_SAMPLES:
        return KNOWN_SAMPLES[name]
    folder, _, file = name.rpartition("/")
    if file == "moov_INVALID_pain_v11.xml":
        return Expectation("FF01", ("FF01",), "no ISO namespace: unknown message type")
    if file.startswith("issettled_"):
        return Expectation("FF01", ("FF01",), "scheme extensions outside the official XSD")
    if "_INVALIDRULE_" in file:
        broken = file[:-4].split("_INVALIDRULE_", 1)[1]
        if not broken.startswith("pacs008"):
            return Expectation("FF01", ("FF01",), f"unsupported type for now (breaks: {broken})")
        return Expectation("rules", None, f"breaks: {broken}")
    if "_INVALID_" in file:
        return Expectation("FF01", ("FF01",), "fails the official XSD")
    if folder.endswith("valid") and any(kind in file for kind in INBOUND):
        return Expectation("valid", ())
    return Expectation("FF01", ("FF01",), "unsupported message type for now")


@dataclass(frozen=True)
class Row:
    file: str
    message_type: str | None
    expected: Expectation
    outcome: str
    codes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.outcome == self.expected.outcome and (
            self.expected.codes is None or self.codes == self.expected.codes
        )


def conformance(folder: Path, screening: Screening | None = None) -> list[Row]:
    """Validate every ``*.xml`` below ``folder`` (dates as of each message's creation), screened
    against ``screening`` (default: the list of the environment, loaded once here)."""
    settings, today = _settings_for("creation")
    if screening is None:
        screening = checks.load_screening()
    rows = []
    for path in sorted(folder.rglob("*.xml")):
        name = path.relative_to(folder).as_posix()
        result = validate_bytes(path.read_bytes(), settings, screening, today)
        codes = tuple(r["code"] for r in result["reasons"])
        outcome = "valid" if result["valid"] else ("FF01" if "rule" not in result["reasons"][0] else "rules")
        rows.append(Row(name, result["message_type"], expected_outcome(name), outcome, codes))
    return rows


def format_table(rows: list[Row]) -> str:
    header = ("file", "type", "expected", "actual", "codes", "ok", "note")
    lines = [
        (
            r.file,
            r.message_type or "-",
            r.expected.outcome
            if r.expected.outcome != "rules"
            else "rules " + (",".join(r.expected.codes) if r.expected.codes else "(any)"),
            r.outcome,
            ",".join(r.codes) or "-",
            "yes" if r.ok else "NO",
            r.expected.note,
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header[:-1])]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)) + "  note"]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)) + "  " + line[-1] for line in lines]
    matched = sum(r.ok for r in rows)
    out.append(f"{matched}/{len(rows)} samples have their expected outcome")
    return "\n".join(out)


def cmd_conformance(args: argparse.Namespace) -> int:
    rows = conformance(Path(args.folder))
    print(format_table(rows))
    return 0 if rows and all(r.ok for r in rows) else 1
