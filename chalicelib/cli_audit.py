"""``audit``: verify the event store, show a transaction at an instant, export for an auditor.

- ``audit verify [--transaction ID] [--since T] [--local-stack FILE]``: every stream of the
  events table against its hash chain (chalicelib/eventstore/chain.py) and against the
  digests in the digests bucket (chalicelib/eventstore/digests.py; ``--since`` reads only
  the digests of that hour on). Prints each transaction whose history was changed,
  reordered, had an event inserted or removed, or is missing, and what; exit 0 when
  everything checks, 1 otherwise.
- ``audit show ID [--as-of T] [--local-stack FILE]``: the transaction as it was at T (ISO
  8601; UTC without an offset), folded from its events; now without ``--as-of``.
- ``audit export --from T --to T [--client ID] --format jsonl|csv --out FILE``: the decoded
  events recorded in [from, to] (and the ``ReportRetrieved`` records: who fetched which
  report), one per line, with who did it, the chain (prev, hash) and the archive keys and
  sha256 of the messages they refer to. One stream in memory at a time (paged Scan of the
  stream ids, a Query per stream), written as it goes, with a rich progress bar on stderr.

The Region comes from the PACSFLOW_* environment of a deployed stage, or from
``local-stack.json`` for the stack `make run` started.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from chalicelib.adapters.settings import Settings


@dataclass(frozen=True)
class AuditContext:
    settings: Settings
    payments: Any  # Payments
    dynamodb: Any  # a DynamoDB client
    retrievals: Any  # Retrievals
    digests: Any  # DigestStore | None


def context_of(local_stack: str | None) -> AuditContext:
    from chalicelib.adapters.aws import client
    from chalicelib.adapters.dynamodb import Retrievals
    from chalicelib.bootstrap import payments_env
    from chalicelib.eventstore.digests import DigestStore
    from chalicelib.pipeline.payments import Payments

    s = Settings()
    if local_stack:
        from chalicelib.cli import settings_of_local_stack

        stack = json.loads(Path(local_stack).read_text())
        s = settings_of_local_stack(stack).model_copy(
            update={"digests_bucket": stack["outputs"].get("DigestsBucketName", "")}
        )
    dynamodb = client("dynamodb")
    return AuditContext(
        settings=s,
        payments=Payments(env=payments_env(s)),
        dynamodb=dynamodb,
        retrievals=Retrievals(s.events_table, dynamodb),
        digests=DigestStore(s.digests_bucket) if s.digests_bucket else None,
    )


def instant(text: str) -> datetime:
    """An ISO 8601 date-time for argparse (UTC when it has no offset)."""
    from chalicelib.projections.errors import InvalidAsOf
    from chalicelib.projections.follower import parse_as_of

    try:
        return parse_as_of(text)
    except InvalidAsOf as e:
        raise argparse.ArgumentTypeError(str(e)) from None


# -- verify ------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    ctx = context_of(args.local_stack)
    return run_verify(ctx, args.transaction, args.since)


def run_verify(ctx: AuditContext, only: str | None = None, since: datetime | None = None) -> int:
    from chalicelib.eventstore.chain import plaintext
    from chalicelib.eventstore.digests import expected_heads
    from chalicelib.eventstore.verify import stream_ids, stream_reader, verify

    mapper = ctx.payments.mapper

    def plain_sha256(state: bytes) -> str | None:
        try:
            return hashlib.sha256(plaintext(mapper, state)).hexdigest()
        except Exception:  # not decryptable with the store's key, or not a zlib stream
            return None

    if ctx.digests is None:
        print("no digests bucket: checking the hash chains only (a removed last event or stream goes unseen)")
        vouched: dict[str, dict[int, str]] = {}
        problems: list[str | tuple[str, str]] = []
    else:
        vouched, problems = expected_heads(ctx.digests.digests(since))
    table = ctx.settings.events_table
    ids = [only] if only else stream_ids(ctx.dynamodb, table)
    report = verify(ids, stream_reader(ctx.dynamodb, table, plain_sha256), vouched, problems, only)
    for stream, findings in sorted(report.by_stream().items()):
        print(f"{stream}:")
        for f in findings:
            print(f"  {f.kind}: {f.detail}")
    print(
        f"checked {report.streams} streams, {report.events} events, "
        f"{sum(len(v) for v in vouched.values())} digest entries: "
        + ("all sound" if report.ok else f"{len(report.by_stream())} with findings")
    )
    return 0 if report.ok else 1


# -- show --as-of --------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace) -> int:
    from chalicelib.pipeline.payments import PaymentNotFound
    from chalicelib.projections.follower import state_as_of

    ctx = context_of(args.local_stack)
    try:
        state = state_as_of(ctx.payments, UUID(args.transaction_id), None, args.as_of or datetime.now(UTC))
    except (PaymentNotFound, ValueError) as e:
        print(f"not found: {e}", file=sys.stderr)
        return 1
    print(json.dumps(state, indent=2, sort_keys=True, default=str))
    return 0


# -- export --------------------------------------------------------------------------------

COLUMNS = (
    "transaction_id",
    "version",
    "type",
    "timestamp",
    "client",
    "request_id",
    "region",
    "step",
    "archive_key",
    "message_sha256",
    "prev",
    "hash",
    "data",
)
_ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def export_rows(
    ctx: AuditContext, start: datetime, end: datetime, client_id: str | None = None, progress: Any = None
) -> Iterator[dict[str, Any]]:
    """One row per event recorded in [start, end] (and per report fetched then), stream by stream."""
    from chalicelib.eventstore.chain import Actor
    from chalicelib.eventstore.verify import stream_ids

    table = ctx.settings.events_table
    mapper = ctx.payments.mapper
    for stream in stream_ids(ctx.dynamodb, table, first_only=True):  # constant memory
        if progress is not None:
            progress()
        owner: str | None = None
        params: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": stream}},
        }
        skip = False  # another client's stream (its owner is on the creation event)
        while not skip:
            page = ctx.dynamodb.query(**params)
            for item in page["Items"]:
                row = _event_row(mapper, stream, item, Actor)
                if row is None:
                    continue
                owner = owner or row.pop("_owner")
                row.pop("_owner", None)
                if client_id is not None and owner != client_id:
                    skip = True
                    break
                if start <= row["_at"] <= end:
                    del row["_at"]
                    yield row
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if skip or (client_id is not None and owner != client_id):
            continue
        for fetched in ctx.retrievals.of(stream):
            at = datetime.fromisoformat(fetched.retrieved_at)
            if start <= at <= end:
                yield {
                    "transaction_id": stream,
                    "version": "",
                    "type": "ReportRetrieved",
                    "timestamp": fetched.retrieved_at,
                    "client": fetched.client_id,
                    "request_id": fetched.request_id,
                    "region": fetched.region,
                    "step": "api /outbox",
                    "archive_key": fetched.archive_key,
                    "message_sha256": fetched.sha256,
                    "prev": "",
                    "hash": "",
                    "data": {"message_type": fetched.message_type},
                }


def _event_row(mapper: Any, stream: str, item: dict[str, Any], actor_class: Any) -> dict[str, Any] | None:
    from eventsourcing.persistence import StoredEvent

    from chalicelib.eventstore.chain import stored_hash

    try:
        stream_id: Any = UUID(stream)
    except ValueError:
        stream_id = stream
    try:
        event = mapper.to_domain_event(
            StoredEvent(stream_id, int(item["sk"]["N"]), item["topic"]["S"], bytes(item["state"]["B"]))
        )
    except Exception:  # not an event this application can decode (another aggregate, or altered)
        return None
    data = {k: v for k, v in vars(event).items() if k not in _ENVELOPE}
    who = actor_class.from_json(item.get("who", {}).get("S", ""))
    return {
        "transaction_id": stream,
        "version": event.originator_version,
        "type": type(event).__name__,
        "timestamp": event.timestamp.isoformat(),
        "client": who.client,
        "request_id": who.request_id,
        "region": who.region,
        "step": who.step,
        # the messages an event refers to: Received (inbound message), Released (report), ...
        "archive_key": next((str(v) for k, v in sorted(data.items()) if k.endswith("_key") and v), ""),
        "message_sha256": next((str(v) for k, v in sorted(data.items()) if k.endswith("sha256") and v), ""),
        "prev": stored_hash(item.get("prev")) or "",
        "hash": stored_hash(item.get("hash")) or "",
        "data": json.loads(json.dumps(data, default=_plain)),
        "_owner": data.get("owner"),
        "_at": event.timestamp,
    }


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)


def write_export(rows: Iterator[dict[str, Any]], out: IO[str], fmt: str) -> int:
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row | {"data": json.dumps(row["data"], sort_keys=True, separators=(",", ":"))})
            count += 1
    else:
        for row in rows:
            out.write(json.dumps(row, sort_keys=True, separators=(",", ":")) + "\n")
            count += 1
    return count


def cmd_export(args: argparse.Namespace) -> int:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    ctx = context_of(args.local_stack)
    with (
        Path(args.out).open("w", newline="", encoding="utf-8") as out,
        Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed} streams"),
            TimeElapsedColumn(),
            transient=False,
            console=None,
        ) as bar,
    ):
        task = bar.add_task("exporting", total=None)
        rows = export_rows(ctx, args.start, args.end, args.client, lambda: bar.advance(task))
        count = write_export(rows, out, args.format)
    print(f"exported {count} records to {args.out}", file=sys.stderr)
    return 0


def add_parser(sub: Any) -> None:
    audit = sub.add_parser("audit", help="verify the event store, state at an instant, export for an auditor")
    commands = audit.add_subparsers(dest="audit_command", required=True, metavar="AUDIT_COMMAND")

    p = commands.add_parser("verify", help="check every stream against its hash chain and the digests")
    p.add_argument("--transaction", metavar="ID", help="only this transaction")
    p.add_argument("--since", type=instant, metavar="T", help="only the digests from the hour of T on")
    p.add_argument("--local-stack", metavar="FILE", help="the local-stack.json that `make run` wrote")
    p.set_defaults(func=cmd_verify)

    p = commands.add_parser("show", help="a transaction as it was at an instant, from its events")
    p.add_argument("transaction_id", metavar="ID")
    p.add_argument("--as-of", type=instant, metavar="T", help="ISO 8601 date-time (UTC without an offset)")
    p.add_argument("--local-stack", metavar="FILE", help="the local-stack.json that `make run` wrote")
    p.set_defaults(func=cmd_show)

    p = commands.add_parser("export", help="the decoded events of a period, for an auditor")
    p.add_argument("--from", dest="start", type=instant, required=True, metavar="T")
    p.add_argument("--to", dest="end", type=instant, required=True, metavar="T")
    p.add_argument("--client", metavar="ID", help="only this client's transactions")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--local-stack", metavar="FILE", help="the local-stack.json that `make run` wrote")
    p.set_defaults(func=cmd_export)
