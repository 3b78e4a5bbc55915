"""``python -m chalicelib.cli validate``: one message through recognition, XSD and the rules.

Every inbound type the service accepts is judged, recognised by its namespace (inside any
envelope) as the service recognises it: a pacs.008 through the XSDs and the business rules;
a camt.056 cancellation request and a pacs.028 status request through the XSDs and their
extraction (what they refer to is judged by the service against the stored payment, which
an offline file does not have). One JSON shape for all: ``{file, message_type, valid,
reason_code, reasons}``.

Part of ``chalicelib/cli.py`` (see its docstring); the names are imported back there.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path
from typing import Any

from chalicelib import checks, iso20022
from chalicelib.checks import CheckSettings, Screening

# -- validate -----------------------------------------------------------------------------


def validate_bytes(
    raw: bytes, settings: CheckSettings, screening: Screening, today: date | None = None
) -> dict[str, Any]:
    """``{message_type, valid, reason_code, reasons}`` for one message (no ``file``)."""
    try:
        message = iso20022.read_message(raw)
    except iso20022.MessageRejected as r:
        return {
            "message_type": r.message_type or _sniff_type(raw),
            "valid": False,
            "reason_code": r.reason_code,
            "reasons": [{"code": r.reason_code, "text": r.narrative}],
        }
    if not isinstance(message, iso20022.CreditTransfer):
        # camt.056 / pacs.028: recognised, schema-valid and readable is all a file can show
        return {"message_type": message.message_type, "valid": True, "reason_code": None, "reasons": []}
    failed = checks.failed(checks.run(message, settings, screening=screening, today=today))
    return {
        "message_type": message.message_type,
        "valid": not failed,
        "reason_code": failed[0].reason_code if failed else None,
        "reasons": [{"code": v.reason_code, "text": v.narrative, "rule": v.rule} for v in failed],
    }


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
