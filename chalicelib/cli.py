"""pacsflow's command line: ``python -m chalicelib.cli <command> ...``.

- ``validate FILE... [--json] [--as-of creation|today|YYYY-MM-DD]``: recognition, XSD and
  the stateless business rules, offline. One line per file (plus indented reasons), or one
  JSON object per line with ``--json``. Exit 0 when every file is valid, 1 otherwise,
  2 on usage errors.
- ``rebuild [--apply] [--local-stack FILE]``: recompute the transaction view from the
  events, report whether it matches the live view (exit 0) or not (exit 1); ``--apply``
  repairs what differs. The Region comes from the PACSFLOW_* environment of a deployed
  stage, or from ``local-stack.json`` for the stack `make run` started.
- ``conformance FOLDER``: every sample of FOLDER (``valid/``, ``invalid/``) against the
  outcome its file name promises (see ``expected_outcome``); prints a table, exit 0 when
  every row matches.

Offline, dates are judged relative to the message's own GrpHdr/CreDtTm by default
(``--as-of creation``): an archived or sample message is checked as on the day it was
written. The pipeline judges them against the clock.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from chalicelib import checks, iso20022
from chalicelib.checks import CheckSettings, Screening

# -- validate -----------------------------------------------------------------------------

def validate_bytes(raw: bytes, settings: CheckSettings, screening: Screening,
                   today: date | None = None) -> dict[str, Any]:
    """``{message_type, valid, reason_code, reasons}`` for one message (no ``file``)."""
    try:
        ct = iso20022.read_credit_transfer(raw)
    except iso20022.MessageRejected as r:
        return {"message_type": r.message_type or _sniff_type(raw), "valid": False,
                "reason_code": r.reason_code, "reasons": [{"code": r.reason_code, "text": r.narrative}]}
    failed = checks.failed(checks.run(ct, settings, screening=screening, today=today))
    return {"message_type": ct.message_type, "valid": not failed,
            "reason_code": failed[0].reason_code if failed else None,
            "reasons": [{"code": v.reason_code, "text": v.narrative, "rule": v.rule} for v in failed]}


def _sniff_type(raw: bytes) -> str | None:
    """The ISO message a refused body carries, for display only (secure parse, first hit)."""
    from chalicelib.iso20022.recognise import message_id_of, split_tag
    try:
        root = iso20022.parse_xml(raw)
    except iso20022.MessageRejected:
        return None
    for n, el in enumerate(root.iter()):
        if n > 200:
            break
        if isinstance(el.tag, str):
            ident = message_id_of(split_tag(el.tag)[0])
            if ident and not ident.startswith("head."):
                return ident
    return None


def _settings_for(as_of: str) -> tuple[CheckSettings, date | None]:
    if as_of == "creation":
        return CheckSettings(date_reference="creation"), None
    if as_of == "today":
        return CheckSettings(date_reference="clock"), None
    return CheckSettings(), date.fromisoformat(as_of)


def _as_of(value: str) -> str:
    if value not in ("creation", "today"):
        try:
            date.fromisoformat(value)
        except ValueError:
            raise argparse.ArgumentTypeError("expected creation, today or YYYY-MM-DD") from None
    return value


def cmd_validate(args: argparse.Namespace) -> int:
    settings, today = _settings_for(args.as_of)
    screening = checks.load_screening()  # once for every file (PACSFLOW_SANCTIONS_*)
    all_valid = True
    for name in args.files:
        result = {"file": name, **validate_bytes(Path(name).read_bytes(), settings, screening, today)}
        all_valid &= result["valid"]
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        else:
            status = "VALID  " if result["valid"] else "INVALID"
            code = "" if result["valid"] else f"  {result['reason_code']}"
            print(f"{status} {name}  {result['message_type'] or '-'}{code}")
            for reason in result["reasons"]:
                print(f"    {reason['code']}  {reason['text']}")
    return 0 if all_valid else 1


# -- conformance --------------------------------------------------------------------------

@dataclass(frozen=True)
class Expectation:
    outcome: str                      # "valid", "FF01" (refused by the intake), "rules"
    codes: tuple[str, ...] | None     # failing reason codes in rule order; None: any
    note: str = ""


# Samples whose rule outcome is more precise than the naming convention can say.
KNOWN_SAMPLES: dict[str, Expectation] = {
    "invalid/cbprur_INVALIDRULE_pacs008_iban_bic_mismatch.xml": Expectation(
        "rules", ("AGNT", "AC01"), "BAH Fr/To are not InstgAgt/InstdAgt; debtor IBAN check digits"),
    "invalid/cbprur_INVALIDRULE_pacs008_fixture.xml": Expectation(
        "FF01", ("FF01",), "named INVALIDRULE but fails the XSD (InstdAmt after ChrgBr); "
        "repaired, it breaks MsgDefIdr and BizMsgIdr (FF01, FF01)"),
    "valid/prowide_pacs008_001_07.xml": Expectation(
        "rules", ("AM16", "AM16", "DT01"), "synthetic: CtrlSum/TtlIntrBkSttlmAmt 10000 vs one tx "
        "of 5000; settles 95 days after creation"),
    "valid/fedwire_pacs008_ccts2_rejected.xml": Expectation(
        "rules", ("RC08",), "InstdAgt ABA routing number check digit (Fedwire rejected it: E433)"),
}


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
    if folder.endswith("valid") and "pacs008" in file:
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
            self.expected.codes is None or self.codes == self.expected.codes)


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
    lines = [(r.file, r.message_type or "-",
              r.expected.outcome if r.expected.outcome != "rules" else
              "rules " + (",".join(r.expected.codes) if r.expected.codes else "(any)"),
              r.outcome, ",".join(r.codes) or "-", "yes" if r.ok else "NO", r.expected.note) for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(header[:-1])]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  note"]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths)) + "  " + line[-1] for line in lines]
    matched = sum(r.ok for r in rows)
    out.append(f"{matched}/{len(rows)} samples have their expected outcome")
    return "\n".join(out)


def cmd_conformance(args: argparse.Namespace) -> int:
    rows = conformance(Path(args.folder))
    print(format_table(rows))
    return 0 if rows and all(r.ok for r in rows) else 1


# -- rebuild ------------------------------------------------------------------------------

def settings_of_local_stack(stack: dict[str, Any]):
    """The Region's settings as deployed by `make run` (local-stack.json, read)."""
    import os

    from chalicelib.adapters.settings import Settings

    outputs = stack["outputs"]
    os.environ.setdefault("AWS_ENDPOINT_URL", stack["endpoint_url"])
    os.environ.setdefault("AWS_DEFAULT_REGION", stack["region"])
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    return Settings(
        events_table=outputs["EventsTableName"],
        transactions_table=outputs["TransactionsTableName"],
        cipher_secret_arn=outputs.get("EventCipherSecretArn", ""),
    )


def cmd_rebuild(args: argparse.Namespace) -> int:
    from chalicelib.adapters.dynamodb import TransactionView, aggregate_ids
    from chalicelib.adapters.settings import Settings
    from chalicelib.bootstrap import payments_env
    from chalicelib.pipeline.payments import Payments
    from chalicelib.projections.follower import rebuild

    s = settings_of_local_stack(json.loads(Path(args.local_stack).read_text())) if args.local_stack else Settings()
    report = rebuild(
        Payments(env=payments_env(s)), TransactionView(s.transactions_table), aggregate_ids(s.events_table), apply=args.apply
    )
    print(f"checked {report.checked} transactions: {report.matching} match, {len(report.mismatched)} differ, "
          f"{len(report.missing)} missing from the view, {len(report.orphaned)} in the view without events, {len(report.unreadable)} unreadable, "
          f"{len(report.unfoldable)} with events the view cannot fold"
          + (f"; repaired {report.written}" if args.apply else ""))
    for label, ids in (("differs", report.mismatched), ("missing", report.missing),
                       ("orphaned", report.orphaned), ("unreadable", report.unreadable),
                       ("unfoldable", report.unfoldable)):
        for tid in ids:
            print(f"  {label}: {tid}")
    return 0 if report.ok or (args.apply and not (report.orphaned or report.unfoldable)) else 1


# -- entry point --------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description="pacsflow tools")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="validate ISO 20022 messages offline (intake, XSD, business rules)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--as-of", type=_as_of, default="creation", metavar="WHEN",
                   help="reference date of the date rules: creation (GrpHdr/CreDtTm, default), today, YYYY-MM-DD")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("rebuild", help="recompute the transaction view from the events and compare")
    p.add_argument("--apply", action="store_true", help="write the recomputed records where they differ")
    p.add_argument("--local-stack", metavar="FILE", help="the local-stack.json that `make run` wrote")
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser("conformance", help="check every sample of a folder against its expected outcome")
    p.add_argument("folder", metavar="FOLDER")
    p.set_defaults(func=cmd_conformance)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "validate":
        unreadable = [f for f in args.files if not Path(f).is_file()]
        if unreadable:
            parser.error(f"not a readable file: {unreadable[0]}")
    elif args.command == "conformance" and not Path(args.folder).is_dir():
        parser.error(f"not a folder: {args.folder}")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
