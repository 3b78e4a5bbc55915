"""``recover``: snapshots of the transaction view, its recovery, and backup/restore of the tables.

- ``recover snapshot-view [--to s3://BUCKET/PREFIX] [--local-stack FILE]``: the view's records,
  each with the version it reflects, as one gzip JSONL object (chalicelib/projections/recovery.py);
  by default under ``s3://<archive bucket>/view-snapshots/``.
- ``recover view [--from s3://BUCKET/PREFIX] [--apply] [--local-stack FILE]``: the latest
  snapshot plus only the events newer than it, compared with the live view (exit 0 when
  equal); ``--apply`` writes what differs (never moving a record backwards; over a live
  record of the same version, only the fold of its events).
- ``recover backup --to s3://BUCKET/PREFIX [--segment-items N] [--local-stack FILE]``: the
  events and positions tables, raw items, as gzip JSONL segments with a manifest
  (chalicelib/eventstore/backup.py).
- ``recover restore --from s3://BUCKET/PREFIX --into TABLE [--table events|positions]
  [--discard-snapshots] [--stack NAME]``: one table of a backup into an EMPTY table, after
  checking every segment's sha256; the positions only while the stack's snapshots bucket holds
  no snapshot, or after deleting them with ``--discard-snapshots`` (chalicelib/eventstore/backup.py).
  The bucket is PACSFLOW_SNAPSHOTS_BUCKET, else the stack's SnapshotsBucketName output; a
  stack that cannot be read refuses the restore rather than skip the check.

The Region comes from the PACSFLOW_* environment of a deployed stage, or from
``local-stack.json`` for the stack `make run` started.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from chalicelib.adapters.aws import operator_client
from chalicelib.adapters.settings import Settings
from chalicelib.cli_ops import positive_int


def settings_for(local_stack: str | None) -> Settings:
    if not local_stack:
        return Settings()
    from chalicelib.cli import settings_of_local_stack

    stack = json.loads(Path(local_stack).read_text())
    s = settings_of_local_stack(stack)
    positions = s.positions_table
    if stack.get("stack_name"):  # the positions table has no stack output: ask CloudFormation
        cfn = operator_client("cloudformation")
        described = cfn.describe_stack_resource(StackName=stack["stack_name"], LogicalResourceId="PositionsTable")
        positions = described["StackResourceDetail"]["PhysicalResourceId"]
    outputs = stack["outputs"]
    return s.model_copy(
        update={
            "archive_bucket": outputs["ArchiveBucketName"],
            "positions_table": positions,
            "snapshots_bucket": outputs.get("SnapshotsBucketName", ""),
        }
    )


def _snapshot_location(url: str | None, s: Settings) -> tuple[str, str]:
    from chalicelib.eventstore.backup import parse_s3_url
    from chalicelib.projections.recovery import KEY_PREFIX

    return parse_s3_url(url) if url else (s.archive_bucket, KEY_PREFIX)


def cmd_snapshot_view(args: argparse.Namespace) -> int:
    from chalicelib.adapters.dynamodb import TransactionView
    from chalicelib.projections.recovery import ViewSnapshot, object_key

    s = settings_for(args.local_stack)
    bucket, prefix = _snapshot_location(args.to, s)
    snapshot = ViewSnapshot.of(TransactionView(s.transactions_table, scan_segments=args.segments).scan_items())
    key = object_key(prefix, snapshot.taken_at)
    body = snapshot.to_bytes()
    operator_client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/gzip", IfNoneMatch="*")
    print(
        f"s3://{bucket}/{key}: {len(snapshot.items)} records covering {snapshot.events_covered} events, "
        f"{len(body)} bytes"
    )
    return 0


def latest_snapshot_key(s3: Any, bucket: str, prefix: str) -> str | None:
    """The last key listed directly under the prefix, the bucket's root when it is empty (keys
    are timestamps: see object_key). Not deeper: a backup's segments (`<label>/segment-...`)
    in the same place are not view snapshots."""
    folder = prefix.strip("/")
    listing = {"Bucket": bucket, "Prefix": f"{folder}/" if folder else "", "Delimiter": "/"}
    last = None
    for page in s3.get_paginator("list_objects_v2").paginate(**listing):
        for obj in page.get("Contents", ()):
            if obj["Key"].endswith(".jsonl.gz"):
                last = obj["Key"]
    return last


def cmd_recover_view(args: argparse.Namespace) -> int:
    from chalicelib.adapters.dynamodb import TransactionView
    from chalicelib.bootstrap import payments_env
    from chalicelib.eventstore.backup import stream_heads
    from chalicelib.pipeline.payments import Payments
    from chalicelib.projections.records import indexed_transaction
    from chalicelib.projections.recovery import ViewSnapshot, recover
    from chalicelib.projections.transactions import fold

    s = settings_for(args.local_stack)
    bucket, prefix = _snapshot_location(args.from_, s)
    s3 = operator_client("s3")
    key = latest_snapshot_key(s3, bucket, prefix)
    if key is None:
        print(f"no view snapshot under s3://{bucket}/{prefix}/")
        return 1
    started = time.perf_counter()
    snapshot = ViewSnapshot.from_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    payments = Payments(env=payments_env(s))
    heads = stream_heads(operator_client("dynamodb"), s.events_table, args.segments)
    report = recover(snapshot, heads.items(), lambda tid, gt: payments.events.get(tid, gt=gt))
    elapsed = time.perf_counter() - started
    view = TransactionView(s.transactions_table, scan_segments=args.segments)
    live = {i["transaction_id"]["S"]: i for i in view.scan_items()}
    differ = sorted(key for key, item in report.items.items() if live.get(key) != item)
    extra = sorted(set(live) - set(report.items))
    print(
        f"{key}: {report.from_snapshot} records from the snapshot, {report.tail_streams} with newer events, "
        f"{report.new_streams} new, {report.other_streams} not a payment's"
        + (f", {report.refolded} refolded (records the snapshot cannot vouch for)" if report.refolded else "")
        + f"; {report.events_read} events read in {elapsed:.2f} s; "
        f"{len(differ)} differ from the live view, {len(extra)} only in the live view"
        + (
            f", {len(report.unreadable)} unreadable, {len(report.unfoldable)} unfoldable"
            if report.unreadable or report.unfoldable
            else ""
        )
    )
    written, newer = 0, []
    if args.apply:
        for tid in sorted({indexed_transaction(key)[0] for key in differ}):  # a payment's record, or its index items
            record = report.record(tid)
            if tid in live and int(live[tid]["version"]["N"]) == record.version:
                # put_unless_newer overwrites an equal version: only ever with the fold of all
                # the events, never with a record recovered through the snapshot's (taken as
                # stored or folded onto), which may lack what the fold produces (a snapshot of
                # a view not yet migrated by `rebuild --apply`). One Query per such record,
                # which differs from the live one at the same version: none in a sound view.
                record = fold(payments.events.get(UUID(tid))) or record
            view.put_lookup_items(record)  # first, as the follower writes them
            if view.put_unless_newer(record):
                written += 1
            else:
                newer.append(tid)
        print(f"wrote {written}; {len(newer)} newer in the view, left")
    for label, ids in (("differs", differ), ("only in the live view", extra), ("dropped", report.dropped)):
        for tid in ids:
            print(f"  {label}: {tid}")
    if report.unreadable or report.unfoldable or extra:
        return 1
    return 0 if args.apply or not differ else 1


def cmd_backup(args: argparse.Namespace) -> int:
    from chalicelib.eventstore.backup import backup, parse_s3_url

    s = settings_for(args.local_stack)
    bucket, prefix = parse_s3_url(args.to)
    tables = {"events": s.events_table, "positions": s.positions_table}
    manifest = backup(operator_client("dynamodb"), operator_client("s3"), tables, bucket, prefix, args.segment_items)
    for label, t in manifest.tables.items():
        print(f"{label} ({t.table}): {t.items} items in {len(t.segments)} segments")
    print(f"s3://{bucket}/{prefix}/manifest.json")
    return 0


def snapshots_bucket_of(args: argparse.Namespace, s: Settings) -> str:
    """The stack's snapshots bucket, checked before positions are restored: the settings'
    (PACSFLOW_SNAPSHOTS_BUCKET, or local-stack.json's outputs), else the SnapshotsBucketName
    output of the stage's stack (`--stack`, default pacsflow-<Region>, as `dlq` finds its
    queues); "" when the stack names none (it keeps the snapshots in the positions table).
    A stack that cannot be read refuses the restore: an unnamed bucket would skip the check."""
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.cli_ops import stack_outputs
    from chalicelib.eventstore.backup import BackupError

    if s.snapshots_bucket or args.local_stack:
        return s.snapshots_bucket
    try:
        outputs = stack_outputs(args)
    except (BotoCoreError, ClientError) as e:
        raise BackupError(
            f"the stage's snapshots bucket is not known (its stack: {type(e).__name__}), so whether it holds "
            "snapshots cannot be checked: set PACSFLOW_SNAPSHOTS_BUCKET to the stack's SnapshotsBucketName "
            "output, or name the stack with --stack"
        ) from None
    return outputs.get("SnapshotsBucketName", "")


def cmd_restore(args: argparse.Namespace) -> int:
    from chalicelib.eventstore.backup import BackupError, parse_s3_url, restore

    s = settings_for(args.local_stack)
    bucket, prefix = parse_s3_url(args.from_)
    try:
        # only the positions' snapshots go to S3 (positions_env)
        snapshots = snapshots_bucket_of(args, s) if args.table == "positions" else ""
        count = restore(
            operator_client("dynamodb"),
            operator_client("s3"),
            bucket,
            prefix,
            args.table,
            args.into,
            snapshots_bucket=snapshots,
            discard=args.discard_snapshots,
        )
    except BackupError as e:
        print(f"restore refused: {e}")
        return 1
    print(f"restored {count} {args.table} items into {args.into}")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("recover", help="view snapshots and recovery; backup and restore of the tables")
    rsub = p.add_subparsers(dest="recover_command", required=True, metavar="WHAT")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--local-stack", metavar="FILE", help="the local-stack.json that `make run` wrote")
        q.add_argument("--segments", type=positive_int, default=4, metavar="N", help="parallel scan segments")

    q = rsub.add_parser("snapshot-view", help="write a snapshot of the transaction view to S3")
    q.add_argument("--to", metavar="S3URL", help="s3://bucket/prefix (default: the archive's view-snapshots/)")
    common(q)
    q.set_defaults(func=cmd_snapshot_view)

    q = rsub.add_parser("view", help="recover the view: latest snapshot + newer events; compare or --apply")
    q.add_argument("--from", dest="from_", metavar="S3URL", help="s3://bucket/prefix of the snapshots")
    q.add_argument("--apply", action="store_true", help="write the recovered records that differ")
    common(q)
    q.set_defaults(func=cmd_recover_view)

    q = rsub.add_parser("backup", help="back up the events and positions tables to S3 (gzip segments)")
    q.add_argument("--to", required=True, metavar="S3URL")
    q.add_argument("--segment-items", type=positive_int, default=10_000, metavar="N")
    common(q)
    q.set_defaults(func=cmd_backup)

    q = rsub.add_parser("restore", help="restore one table of a backup into an empty table")
    q.add_argument("--from", dest="from_", required=True, metavar="S3URL")
    q.add_argument("--into", required=True, metavar="TABLE")
    q.add_argument("--table", choices=("events", "positions"), default="events")
    q.add_argument(
        "--discard-snapshots",
        action="store_true",
        help="delete the positions' snapshots in the stack's snapshots bucket first (they may be newer than the backup)",
    )
    q.add_argument(
        "--stack",
        metavar="NAME",
        help="the stage's stack, whose outputs name the snapshots bucket when PACSFLOW_SNAPSHOTS_BUCKET is unset "
        "(default pacsflow-<AWS Region>)",
    )
    common(q)
    q.set_defaults(func=cmd_restore)
