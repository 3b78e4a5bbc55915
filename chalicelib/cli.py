"""pacsflow's command line: ``python -m chalicelib.cli <command> ...``.

- ``validate FILE... [--json] [--as-of creation|today|YYYY-MM-DD]``: recognition, XSD and
  the stateless business rules, offline. One line per file (plus indented reasons), or one
  JSON object per line with ``--json``. Exit 0 when every file is valid, 1 otherwise,
  2 on usage errors.
- ``rebuild [--apply] [--local-stack FILE]``: recompute the transaction view from the
  events, report whether it matches the live view (exit 0) or not (exit 1); ``--apply``
  repairs what differs, never moving a record backwards (one the follower has meanwhile
  advanced is left and listed). It is also the migration of records written before the
  view's owner-keyed lookup attributes. Both tables are scanned in parallel segments
  (``--segments``, 4 by default). The Region comes from the PACSFLOW_* environment of a deployed
  stage, or from ``local-stack.json`` for the stack `make run` started.
- ``view-failures replay [--local-stack FILE] [--queue-url URL]``: re-fold the transactions of
  every stream batch the view follower gave up on (chalicelib/cli_stream.py); exit 0 when
  every failure record was replayed and deleted.
- ``dlq list|peek QUEUE [--max N] [--local-stack FILE | --stack NAME]``: the stack's
  dead-letter queues, their depth, and their messages shown without consuming them and without
  payment data (chalicelib/cli_ops.py).
- ``timeouts [--run]`` and ``stuck`` (``--local-stack FILE``): payments past their SLA,
  timed out as the scheduled sweep does, or counted by step and age (chalicelib/cli_timeouts.py).
- ``redrive TX|--dlq QUEUE --reason WHY``, ``failover REGION --reason WHY``, ``failback REGION
  --reason WHY``: the operators' actions (chalicelib/cli_failover.py).
- ``audit verify|show|export``: the hash chains and digests checked, a transaction at an
  instant, the events of a period for an auditor (chalicelib/cli_audit.py).
- ``recover snapshot-view|view|backup|restore``: view snapshots in S3 and recovery from the
  latest one plus newer events; backup of the tables to S3 and restore into an empty table
  (chalicelib/cli_recovery.py).
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
from pathlib import Path
from typing import Any

from chalicelib.adapters.settings import Settings
from chalicelib.cli_audit import add_parser as add_audit_parser
from chalicelib.cli_conformance import KNOWN_SAMPLES as KNOWN_SAMPLES
from chalicelib.cli_conformance import Expectation as Expectation
from chalicelib.cli_conformance import Row as Row
from chalicelib.cli_conformance import cmd_conformance as cmd_conformance
from chalicelib.cli_conformance import conformance as conformance
from chalicelib.cli_conformance import expected_outcome as expected_outcome
from chalicelib.cli_conformance import format_table as format_table
from chalicelib.cli_failover import add_parsers as add_failover_parsers
from chalicelib.cli_ops import add_parser as add_dlq_parser
from chalicelib.cli_ops import positive_int
from chalicelib.cli_recovery import add_parser as add_recover_parser
from chalicelib.cli_stream import add_parser as add_view_failures_parser
from chalicelib.cli_timeouts import add_parsers as add_timeouts_parsers
from chalicelib.cli_validate import _as_of as _as_of
from chalicelib.cli_validate import _settings_for as _settings_for
from chalicelib.cli_validate import _sniff_type as _sniff_type
from chalicelib.cli_validate import cmd_validate as cmd_validate
from chalicelib.cli_validate import validate_bytes as validate_bytes

# -- rebuild ------------------------------------------------------------------------------


def settings_of_local_stack(stack: dict[str, Any]) -> Settings:
    """The Region's settings as deployed by `make run` (local-stack.json, read): its Region
    is the file's (a sweep or a takeover acts as that Region, never as the default). Its peers are
    the other Regions of the file (what the deploy passed to the stack as Peers): without them
    the Region would take over or fail back none."""
    import os

    outputs = stack["outputs"]
    os.environ.setdefault("AWS_ENDPOINT_URL", stack["endpoint_url"])
    os.environ.setdefault("AWS_DEFAULT_REGION", stack["region"])
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    return Settings(
        region_id=stack["region"],
        events_table=outputs["EventsTableName"],
        transactions_table=outputs["TransactionsTableName"],
        cipher_secret_arn=outputs.get("EventCipherSecretArn", ""),
        peers={r["region"]: r["api_url"] for r in stack.get("regions", []) if r["region"] != stack["region"]},
    )


def cmd_rebuild(args: argparse.Namespace) -> int:
    from chalicelib.adapters.dynamodb import TransactionView, aggregate_ids
    from chalicelib.bootstrap import payments_env
    from chalicelib.pipeline.payments import Payments
    from chalicelib.projections.follower import rebuild

    s = settings_of_local_stack(json.loads(Path(args.local_stack).read_text())) if args.local_stack else Settings()
    report = rebuild(
        Payments(env=payments_env(s)),
        TransactionView(s.transactions_table, scan_segments=args.segments),
        aggregate_ids(s.events_table, segments=args.segments),
        apply=args.apply,
    )
    print(
        f"checked {report.checked} transactions: {report.matching} match, {len(report.mismatched)} differ, "
        f"{len(report.missing)} missing from the view, {len(report.orphaned)} in the view without events, {len(report.unreadable)} unreadable, "
        f"{len(report.unfoldable)} with events the view cannot fold"
        + (f"; repaired {report.written}, {len(report.newer_in_view)} newer in the view left" if args.apply else "")
    )
    for label, ids in (
        ("differs", report.mismatched),
        ("missing", report.missing),
        ("orphaned", report.orphaned),
        ("unreadable", report.unreadable),
        ("unfoldable", report.unfoldable),
        ("newer in the view, left", report.newer_in_view),
    ):
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
    p.add_argument(
        "--as-of",
        type=_as_of,
        default="creation",
        metavar="WHEN",
        help="reference date of the date rules: creation (GrpHdr/CreDtTm, default), today, YYYY-MM-DD",
    )
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("rebuild", help="recompute the transaction view from the events and compare")
    p.add_argument("--apply", action="store_true", help="write the recomputed records where they differ")
    p.add_argument("--local-stack", metavar="FILE", help="the local-stack.json that `make run` wrote")
    p.add_argument(
        "--segments", type=positive_int, default=4, metavar="N", help="parallel scan segments (threads), default 4"
    )
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser("conformance", help="check every sample of a folder against its expected outcome")
    p.add_argument("folder", metavar="FOLDER")
    p.set_defaults(func=cmd_conformance)

    add_view_failures_parser(sub)
    add_dlq_parser(sub)
    add_timeouts_parsers(sub)
    add_failover_parsers(sub)
    add_audit_parser(sub)
    add_recover_parser(sub)
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
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
