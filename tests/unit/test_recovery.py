"""View snapshots and recovery, table backup and restore, positions' snapshots in S3 (moto)."""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from unittest import mock
from uuid import UUID, uuid4

import boto3
import pytest
from moto import mock_aws

from bench.messages import fresh
from chalicelib import bootstrap, cli
from chalicelib.adapters.dynamodb import TransactionView, aggregate_ids
from chalicelib.adapters.settings import Settings
from chalicelib.cli_recovery import latest_snapshot_key
from chalicelib.domain.action_ids import keyed
from chalicelib.domain.position import position_id
from chalicelib.eventstore.backup import BackupError, backup, read_manifest, restore, stream_heads
from chalicelib.eventstore.dynamodb import DynamoDBDatastore
from chalicelib.pipeline.failover import Regions
from chalicelib.pipeline.liquidity import Liquidity, Positions
from chalicelib.pipeline.messages import StepMessage
from chalicelib.pipeline.payments import Payments
from chalicelib.projections import follower
from chalicelib.projections.records import TransactionIds, TransactionRecord
from chalicelib.projections.recovery import (
    FORMAT,
    FORMAT_1,
    ViewSnapshot,
    full_replay,
    object_key,
    recover,
    unvouched,
)
from tests import messages
from tests.unit.fakes import drain, memory_adapters
from tests.unit.test_view_lookups import create_view_table

OWNER = "client-a"
BUCKET = "backups"


@pytest.fixture
def aws() -> Iterator[Any]:
    environ = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    with mock.patch.dict(os.environ, environ, clear=True), mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_view_table(dynamodb, "transactions")
        for table in ("events", "events-restored", "positions"):
            DynamoDBDatastore(table).create_table()
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield dynamodb


def events_env(table: str = "events") -> dict[str, str]:
    s = Settings(events_table=table, cipher_secret_arn="")
    return bootstrap.payments_env(s)


@pytest.fixture
def svc(aws: Any) -> bootstrap.Service:
    return bootstrap.build(
        Settings(events_table="events", transactions_table="transactions"),
        **{**memory_adapters(), "payments": Payments(env=events_env()), "view": TransactionView("transactions", aws)},
    )


def begin(svc: bootstrap.Service, i: int) -> str:
    payment = svc.issue_transaction("pacs.008", "test", OWNER)
    svc.submit(payment.id, "pacs.008", fresh(i), OWNER)
    return str(payment.id)


def follow(svc: bootstrap.Service, *tids: str) -> None:
    """What the stream follower does for these transactions."""
    for tid in tids:
        follower.refresh(svc.payments, svc.adapters.view, tid)


def recovered(svc: bootstrap.Service, snapshot: ViewSnapshot, aws: Any) -> Any:
    heads = stream_heads(aws, "events")
    return recover(snapshot, heads.items(), lambda tid, gt: svc.payments.events.get(tid, gt=gt))


def live_items(svc: bootstrap.Service) -> dict[str, dict[str, Any]]:
    return {i["transaction_id"]["S"]: i for i in svc.adapters.view.scan_items()}


def test_snapshot_plus_newer_events_equals_the_live_view(svc: bootstrap.Service, aws: Any) -> None:
    settled = [begin(svc, i) for i in range(3)]
    drain(svc)
    midway = begin(svc, 3)  # submitted, not yet processed: its events go on after the snapshot
    follow(svc, *settled, midway)
    snapshot = ViewSnapshot.from_bytes(ViewSnapshot.of(svc.adapters.view.scan_items()).to_bytes())
    assert snapshot.version_of(midway) is not None
    later = [begin(svc, i) for i in range(4, 6)]  # transactions the snapshot has never seen
    drain(svc)
    follow(svc, midway, *later)

    report = recovered(svc, snapshot, aws)

    assert report.items == live_items(svc)
    assert (report.from_snapshot, report.tail_streams, report.new_streams) == (3, 1, 2)
    full = sum(len(list(svc.payments.events.get(UUID(t)))) for t in later)
    tail = len(list(svc.payments.events.get(UUID(midway), gt=snapshot.version_of(midway))))
    assert report.events_read == full + tail > 0  # only what is newer than the snapshot
    assert snapshot.events_covered == sum(int(i["version"]["N"]) for i in snapshot.items.values())


def test_an_older_snapshot_recovers_the_same_view_reading_more(svc: bootstrap.Service, aws: Any) -> None:
    first = begin(svc, 0)
    follow(svc, first)
    older = ViewSnapshot.of(svc.adapters.view.scan_items())
    drain(svc)
    follow(svc, first)
    newer = ViewSnapshot.of(svc.adapters.view.scan_items())
    second = begin(svc, 1)
    drain(svc)
    follow(svc, second)

    from_older, from_newer = recovered(svc, older, aws), recovered(svc, newer, aws)

    assert from_older.items == from_newer.items
    assert from_newer.items == live_items(svc)
    assert from_older.events_read > from_newer.events_read
    assert from_newer.items == full_replay(
        stream_heads(aws, "events").items(), lambda t, gt: svc.payments.events.get(t, gt=gt)
    )


def test_recovery_applied_to_an_empty_view_passes_the_rebuild_check(svc: bootstrap.Service, aws: Any) -> None:
    tids = [begin(svc, i) for i in range(3)]
    drain(svc)
    follow(svc, *tids)
    snapshot = ViewSnapshot.of(svc.adapters.view.scan_items())
    for tid in tids:  # the view lost: recover it into an empty table
        aws.delete_item(TableName="transactions", Key={"transaction_id": {"S": tid}})

    report = recovered(svc, snapshot, aws)
    for tid in report.items:
        svc.adapters.view.put_unless_newer(report.record(tid))

    assert report.events_read == 0
    check = follower.rebuild(svc.payments, svc.adapters.view, aggregate_ids("events", aws))
    assert check.ok and check.matching == 3


def test_a_snapshot_ahead_of_the_events_and_a_record_without_events(svc: bootstrap.Service, aws: Any) -> None:
    tid = begin(svc, 0)
    follow(svc, tid)
    early = ViewSnapshot.of(svc.adapters.view.scan_items())
    drain(svc)
    follow(svc, tid)
    ahead = ViewSnapshot.of(svc.adapters.view.scan_items())
    ghost = {**ahead.items[tid], "transaction_id": {"S": "00000000-0000-4000-8000-000000000000"}}
    ahead = dataclasses.replace(ahead, items={**ahead.items, ghost["transaction_id"]["S"]: ghost})
    heads = [(tid, early.version_of(tid) or 0)]  # the events as a restored, older backup has them

    report = recover(ahead, heads, lambda t, gt: svc.payments.events.get(t, gt=gt, lte=heads[0][1]))

    assert report.items[tid] == early.items[tid]  # a full fold, not the snapshot
    assert report.new_streams == 1
    assert report.dropped == ["00000000-0000-4000-8000-000000000000"]


def test_a_regions_stream_in_the_events_table_is_skipped_not_unfoldable(svc: bootstrap.Service, aws: Any) -> None:
    """A Region's failover decisions share the events table (chalicelib/domain/region.py): after
    any takeover, or an operator's keyed action answered without deciding (`Answered`),
    `recover view` must not report that stream unfoldable (it exited 1)."""
    tid = begin(svc, 0)
    drain(svc)
    follow(svc, tid)
    regions, now = Regions(svc.payments), datetime.now(UTC)
    assert regions.take_over("eu-west-1", "us-east-1", "down", "ops", now)
    assert not regions.take_over("eu-west-1", "us-east-1", "down", "ops", now, action_id=keyed("ops", "k"))
    region = regions.get("eu-west-1")
    assert region is not None and region.answer(keyed("ops", "k")) == "us-east-1"
    heads = stream_heads(aws, "events")
    assert len(heads) == 2  # the payment's stream and the Region's

    report = recovered(svc, ViewSnapshot(taken_at="t", items={}), aws)

    assert (report.unfoldable, report.unreadable) == ([], [])
    assert (report.new_streams, report.other_streams) == (1, 1)
    assert (
        report.items == live_items(svc) == full_replay(heads.items(), lambda t, gt: svc.payments.events.get(t, gt=gt))
    )


def test_a_snapshot_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="not a pacsflow-view-snapshot"):
        ViewSnapshot.from_bytes(gzip.compress(b'{"format": "x"}\n'))


@pytest.mark.parametrize("prefix", ["", "/", "view-snapshots", "/view-snapshots/"])
def test_the_latest_view_snapshot_is_found_under_a_prefix_or_at_the_bucket_root(aws: Any, prefix: str) -> None:
    """`recover snapshot-view --to s3://B` writes at the bucket's root; a backup's segments
    (`<label>/segment-....jsonl.gz`) below the same place are not view snapshots."""
    s3 = boto3.client("s3", region_name="us-east-1")
    older, newer = (object_key(prefix, at) for at in ("20250101T000000000000Z", "20250102T000000000000Z"))
    for key in (older, newer, object_key(prefix, "events/segment-000000")):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    assert latest_snapshot_key(s3, BUCKET, prefix) == newer


# -- backup and restore ---------------------------------------------------------------------


def raw_items(aws: Any, table: str) -> list[dict[str, Any]]:
    items = aws.scan(TableName=table)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], int(i["sk"]["N"])))


def test_backup_and_restore_round_trip_raw_items(svc: bootstrap.Service, aws: Any) -> None:
    tids = [begin(svc, i) for i in range(3)]
    drain(svc)
    s3 = boto3.client("s3", region_name="us-east-1")

    manifest = backup(aws, s3, {"events": "events"}, BUCKET, "b1", segment_items=7)

    source = raw_items(aws, "events")
    t = manifest.tables["events"]
    assert t.items == len(source) == sum(s.items for s in t.segments)
    assert len(t.segments) == -(-len(source) // 7) > 1
    assert read_manifest(s3, BUCKET, "b1") == manifest
    assert restore(aws, s3, BUCKET, "b1", "events", "events-restored") == len(source)
    assert raw_items(aws, "events-restored") == source  # byte for byte: state, cid, any attribute
    restored = Payments(env=events_env("events-restored"))
    for tid in tids:
        assert restored.get_payment(UUID(tid)).__dict__ == svc.payments.get_payment(UUID(tid)).__dict__


def test_restore_refuses_a_table_that_is_not_empty(svc: bootstrap.Service, aws: Any) -> None:
    begin(svc, 0)
    s3 = boto3.client("s3", region_name="us-east-1")
    backup(aws, s3, {"events": "events"}, BUCKET, "b2")
    with pytest.raises(BackupError, match="not empty"):
        restore(aws, s3, BUCKET, "b2", "events", "events")


def test_a_corrupted_segment_is_detected_and_nothing_is_written(svc: bootstrap.Service, aws: Any) -> None:
    for i in range(2):
        begin(svc, i)
    drain(svc)
    s3 = boto3.client("s3", region_name="us-east-1")
    manifest = backup(aws, s3, {"events": "events"}, BUCKET, "b3", segment_items=5)
    last = manifest.tables["events"].segments[-1]
    lines = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=last.key)["Body"].read()).splitlines()
    s3.put_object(Bucket=BUCKET, Key=last.key, Body=gzip.compress(b"\n".join(lines[:-1]) + b"\n"))  # one item lost

    with pytest.raises(BackupError, match="sha256"):
        restore(aws, s3, BUCKET, "b3", "events", "events-restored")
    assert raw_items(aws, "events-restored") == []


def test_a_backup_without_its_manifest_is_not_restored(aws: Any) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    with pytest.raises(BackupError, match="not a finished backup"):
        restore(aws, s3, BUCKET, "nothing-here", "events", "events-restored")


# -- positions' snapshots in S3 ---------------------------------------------------------------


def test_positions_snapshot_to_s3_and_load_back(aws: Any) -> None:
    s = Settings(positions_table="positions", snapshots_bucket=BUCKET)
    env = bootstrap.positions_env(s)
    assert env["SNAPSHOTS_BUCKET"] == BUCKET
    liquidity = Liquidity(Positions(env=env), {"BANKDEFFXXX": Decimal("1e9")})
    at = datetime.now(UTC)
    for n in range(55):  # the position reaches version 50: a snapshot (Positions.snapshotting_intervals)
        assert liquidity.reserve(f"tx-{n}", "BANKDEFFXXX", {"EUR": Decimal("10")}, at)[0].passed

    s3 = boto3.client("s3", region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="snapshots/").get("Contents", [])]
    assert sorted(k.split("/")[1] for k in keys) == ["history", "latest"]  # history/<id>/<version>, latest/<id>
    assert next(k for k in keys if k.startswith("snapshots/history/")).endswith("/" + "50".zfill(20))
    assert not [i for i in aws.scan(TableName="positions")["Items"] if i["pk"]["S"].startswith("$snapshots")]

    fresh_app = Positions(env=env)  # a cold start: loads the snapshot, then versions 51..
    (position_id,) = {k.split("/")[2] for k in keys}  # snapshots/history|latest/<id>...
    loaded = fresh_app.repository.get(UUID(position_id))
    assert loaded.version == liquidity.positions.repository.get(UUID(position_id)).version
    assert json.dumps(vars(loaded), default=str) == json.dumps(
        vars(liquidity.positions.repository.get(UUID(position_id))), default=str
    )


# -- restoring positions whose snapshots are in S3 ---------------------------------------------

SNAPSHOTS = "snapshots"
AGENT = "BANKDEFFXXX"
POSITION = position_id(AGENT, "EUR")


def positions_app(table: str) -> Positions:
    s = Settings(positions_table=table, snapshots_bucket=SNAPSHOTS, position_snapshot_interval=2)
    return Positions(env=bootstrap.positions_env(s))


def reserve(liquidity: Liquidity, n: int) -> None:
    for _ in range(n):
        assert liquidity.reserve(f"tx-{uuid4()}", AGENT, {"EUR": Decimal("10")}, datetime.now(UTC))[0].passed


def snapshot_keys() -> list[str]:
    listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=SNAPSHOTS, Prefix="snapshots/")
    return [o["Key"] for o in listed.get("Contents", [])]


@pytest.fixture
def backed_up_position(aws: Any) -> dict[str, Any]:
    """A position backed up (to "b-pos"), then moved on, with snapshots in S3 newer than the backup.
    Returns its state as backed up."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=SNAPSHOTS)
    DynamoDBDatastore("positions-restored").create_table()
    liquidity = Liquidity(positions_app("positions"), {AGENT: Decimal("1e9")})
    reserve(liquidity, 2)
    backed_up = liquidity.positions.repository.get(POSITION)
    backup(aws, s3, {"positions": "positions"}, BUCKET, "b-pos")
    reserve(liquidity, 3)
    newest = liquidity.positions.repository.get(POSITION).version
    assert newest > backed_up.version and any(k.endswith(str(newest).zfill(20)) for k in snapshot_keys())
    return vars(backed_up)


def test_positions_are_not_restored_while_the_snapshots_bucket_holds_snapshots(
    aws: Any, backed_up_position: dict[str, Any]
) -> None:
    """A position would load its newest snapshot, of versions the backup does not have."""
    s3 = boto3.client("s3", region_name="us-east-1")
    before = snapshot_keys()
    with pytest.raises(BackupError, match="holds snapshots"):
        restore(aws, s3, BUCKET, "b-pos", "positions", "positions-restored", snapshots_bucket=SNAPSHOTS)
    assert raw_items(aws, "positions-restored") == []
    assert snapshot_keys() == before


def test_a_restore_that_discards_the_snapshots_loads_what_was_backed_up_and_appends_without_a_gap(
    aws: Any, backed_up_position: dict[str, Any]
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    restore(aws, s3, BUCKET, "b-pos", "positions", "positions-restored", snapshots_bucket=SNAPSHOTS, discard=True)
    assert snapshot_keys() == []

    restored = Liquidity(positions_app("positions-restored"), {AGENT: Decimal("1e9")})
    loaded = restored.positions.repository.get(POSITION)
    assert json.dumps(vars(loaded), default=str, sort_keys=True) == json.dumps(
        backed_up_position, default=str, sort_keys=True
    )
    reserve(restored, 1)
    versions = [e.originator_version for e in restored.positions.events.get(POSITION)]
    assert versions == list(range(1, backed_up_position["_version"] + 2))


def test_recover_restore_refuses_positions_until_told_to_discard_the_snapshots(
    aws: Any, backed_up_position: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    restore_positions = ["recover", "restore", "--from", f"s3://{BUCKET}/b-pos", "--into", "positions-restored"]
    restore_positions += ["--table", "positions"]
    with mock.patch.dict(os.environ, {"PACSFLOW_SNAPSHOTS_BUCKET": SNAPSHOTS}):
        assert cli.main(restore_positions) == 1
        assert "restore refused" in capsys.readouterr().out and snapshot_keys() != []
        assert cli.main([*restore_positions, "--discard-snapshots"]) == 0
    assert "restored" in capsys.readouterr().out and snapshot_keys() == []


def test_recover_restore_of_a_stage_without_its_snapshots_bucket_named_refuses(
    aws: Any, backed_up_position: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """PACSFLOW_SNAPSHOTS_BUCKET unset and no stack to ask: the check cannot be made, so no restore."""
    restore_positions = ["recover", "restore", "--from", f"s3://{BUCKET}/b-pos", "--into", "positions-restored"]
    assert "PACSFLOW_SNAPSHOTS_BUCKET" not in os.environ
    assert cli.main([*restore_positions, "--table", "positions"]) == 1
    out = capsys.readouterr().out
    assert "restore refused" in out and "PACSFLOW_SNAPSHOTS_BUCKET" in out and "--stack" in out
    assert raw_items(aws, "positions-restored") == [] and snapshot_keys() != []


def stack_naming(name: str, outputs: dict[str, str]) -> None:
    """A CloudFormation stack (in moto) with these outputs, as the deployed stage's has them."""
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))


@pytest.mark.parametrize("stack", [None, "pacsflow-blue"])
def test_recover_restore_of_a_stage_finds_its_snapshots_bucket_in_the_stack(
    aws: Any, backed_up_position: dict[str, Any], capsys: pytest.CaptureFixture[str], stack: str | None
) -> None:
    """As `dlq` finds the queues: the stack's outputs (--stack, else pacsflow-<Region>)."""
    stack_naming(stack or "pacsflow-us-east-1", {"SnapshotsBucketName": SNAPSHOTS})
    restore_positions = ["recover", "restore", "--from", f"s3://{BUCKET}/b-pos", "--into", "positions-restored"]
    restore_positions += ["--table", "positions", *(["--stack", stack] if stack else [])]
    assert cli.main(restore_positions) == 1
    assert "holds snapshots" in capsys.readouterr().out and snapshot_keys() != []
    assert cli.main([*restore_positions, "--discard-snapshots"]) == 0
    assert "restored" in capsys.readouterr().out and snapshot_keys() == []


def test_recovery_derives_a_later_transactions_index_items_and_applies_them(
    svc: bootstrap.Service, aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A view snapshot holds the records; the index items of a multi-transaction payment's
    later transactions are derived from its record, by recovery as by the follower."""
    single = begin(svc, 0)
    multi = str(svc.issue_transaction("pacs.008", "test", OWNER).id)
    svc.submit(UUID(multi), "pacs.008", messages.fresh("pacs008_two_txs.xml"), OWNER)
    drain(svc)
    follow(svc, single, multi)
    before = live_items(svc)
    assert set(before) == {single, multi, f"{multi}#2"}
    env = {"PACSFLOW_EVENTS_TABLE": "events", "PACSFLOW_TRANSACTIONS_TABLE": "transactions"}
    with mock.patch.dict(os.environ, {**env, "PACSFLOW_CIPHER_SECRET_ARN": ""}):
        assert cli.main(["recover", "snapshot-view", "--to", f"s3://{BUCKET}/snaps"]) == 0
        key = latest_snapshot_key(boto3.client("s3"), BUCKET, "snaps")
        body = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert set(ViewSnapshot.from_bytes(body).items) == {single, multi}  # records only
        assert recovered(svc, ViewSnapshot.from_bytes(body), aws).items == before
        for lost in (multi, f"{multi}#2"):
            aws.delete_item(TableName="transactions", Key={"transaction_id": {"S": lost}})
        assert cli.main(["recover", "view", "--from", f"s3://{BUCKET}/snaps"]) == 1
        assert "2 differ from the live view" in capsys.readouterr().out
        assert cli.main(["recover", "view", "--from", f"s3://{BUCKET}/snaps", "--apply"]) == 0
    assert live_items(svc) == before
    assert follower.rebuild(svc.payments, svc.adapters.view, aggregate_ids("events", aws)).ok


def multi_transaction_payment(svc: bootstrap.Service) -> str:
    tid = str(svc.issue_transaction("pacs.008", "test", OWNER).id)
    svc.submit(UUID(tid), "pacs.008", messages.fresh("pacs008_two_txs.xml"), OWNER)
    drain(svc)
    follow(svc, tid)
    return tid


def test_a_format_1_snapshot_is_read_and_its_records_are_folded_from_their_events(
    svc: bootstrap.Service, aws: Any
) -> None:
    """Format 1 predates `later_transactions`: its records are refolded, not taken as stored."""
    tid = multi_transaction_payment(svc)
    current = ViewSnapshot.of(svc.adapters.view.scan_items())
    older = ViewSnapshot.from_bytes(dataclasses.replace(current, format=FORMAT_1).to_bytes())
    assert (current.format, older.format) == (FORMAT, FORMAT_1)

    report = recovered(svc, older, aws)

    assert report.items == live_items(svc) and f"{tid}#2" in report.items
    assert (report.from_snapshot, report.refolded, report.new_streams) == (0, 1, 0)
    assert report.events_read == len(list(svc.payments.events.get(UUID(tid))))
    assert recovered(svc, current, aws).from_snapshot == 1


def unmigrated(svc: bootstrap.Service, tid: str) -> TransactionRecord:
    """Writes the record as a follower of before `later_transactions` did (a view that
    `rebuild --apply` has not migrated yet) and returns the record as the fold has it."""
    live = svc.adapters.view.get(tid)
    assert live is not None and live.later_transactions
    svc.adapters.view.put_unconditionally(dataclasses.replace(live, later_transactions=()))
    return live


def test_a_record_that_lists_fewer_transactions_than_its_message_is_refolded_whatever_the_format(
    svc: bootstrap.Service, aws: Any
) -> None:
    """`ViewSnapshot.of` labels whatever the live view holds FORMAT, and a view not yet
    migrated holds multi-transaction records without `later_transactions`. Such a record (its
    `nb_of_txs` says 2) is folded from its events, not taken as stored: the recovered view has
    the second transaction and its index item `<id>#2`, so lookups and pacs.028 by it keep
    working after a table loss recovered from such a snapshot."""
    tid = multi_transaction_payment(svc)
    unmigrated(svc, tid)
    snapshot = ViewSnapshot.from_bytes(ViewSnapshot.of(svc.adapters.view.scan_items()).to_bytes())
    assert snapshot.format == FORMAT and snapshot.records_are_folds

    report = recovered(svc, snapshot, aws)

    heads = stream_heads(aws, "events")
    folded = full_replay(heads.items(), lambda t, gt: svc.payments.events.get(t, gt=gt))
    assert f"{tid}#2" in folded and report.items == folded
    assert (report.from_snapshot, report.refolded) == (0, 1)


@pytest.mark.parametrize("statuses", [("ACSC",), ("ACSC", "RJCT")])
def test_unvouched_tells_a_record_missing_its_later_transactions(statuses: tuple[str, ...]) -> None:
    """By its `nb_of_txs`, or (whatever the header said) a status per transaction."""
    record = TransactionRecord(
        transaction_id="t", owner=OWNER, status="ACSC", message_type="pacs.008", region_id="r",
        created_at="c", updated_at="u", version=5, nb_of_txs="1", tx_statuses=statuses,
    )  # fmt: skip
    assert unvouched(record.to_item()) is (len(statuses) > 1)
    assert unvouched(dataclasses.replace(record, nb_of_txs="2").to_item())
    migrated = dataclasses.replace(record, nb_of_txs="2", later_transactions=(TransactionIds(uetr="u2"),))
    assert not unvouched(migrated.to_item())


def test_recover_view_apply_overwrites_an_equal_version_only_with_the_fold(
    svc: bootstrap.Service, aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`put_unless_newer` overwrites an equal version, so `--apply` writes there only the fold
    of all the events, never a record taken as stored from the snapshot, which may lack what
    the fold produces (here one `unvouched` does not catch: nothing tells the recovery)."""
    tid = multi_transaction_payment(svc)
    live = unmigrated(svc, tid)
    snapshot = ViewSnapshot.of(svc.adapters.view.scan_items())
    boto3.client("s3").put_object(Bucket=BUCKET, Key=object_key("snaps", snapshot.taken_at), Body=snapshot.to_bytes())
    assert svc.adapters.view.put_unless_newer(live)  # the migration (rebuild --apply)
    env = {"PACSFLOW_EVENTS_TABLE": "events", "PACSFLOW_TRANSACTIONS_TABLE": "transactions"}
    with (
        mock.patch.dict(os.environ, {**env, "PACSFLOW_CIPHER_SECRET_ARN": ""}),
        mock.patch("chalicelib.projections.recovery.unvouched", return_value=False),
    ):
        # exit 1: the snapshot's record is not the fold (the live view has its index item)
        assert cli.main(["recover", "view", "--from", f"s3://{BUCKET}/snaps", "--apply"]) == 1
    assert f"only in the live view: {tid}#2" in capsys.readouterr().out
    assert svc.adapters.view.get(tid) == live
    second = live.later_transactions[0].uetr
    assert [r["transaction_id"] for r in follower.find(svc.adapters.view, OWNER, {"uetr": second}).transactions] == [
        tid
    ]


@pytest.mark.parametrize("told", [True, False], ids=["refolded", "folded-onto"])
def test_recover_view_apply_keeps_the_later_transactions_of_a_migrated_record_whose_stream_moved_on(
    aws: Any, capsys: pytest.CaptureFixture[str], told: bool
) -> None:
    """A snapshot of a view not yet migrated holds a multi-transaction record without its
    later transactions; after the migration the payment settles, so the live record (head
    version, later transactions, index item `<id>#2`) and the one recovered through the
    snapshot's record are the same version. The recovery refolds that record (`unvouched`);
    and even when nothing tells it (folded onto, tail only, the record keeps what it lacks),
    `--apply` writes over the equal version only the fold of all the events. Either way the
    second transaction's UETR still finds the payment."""
    s = bootstrap.build(
        Settings(events_table="events", transactions_table="transactions", step_handoff="queue"),
        **{**memory_adapters(), "payments": Payments(env=events_env()), "view": TransactionView("transactions", aws)},
    )
    tid = s.issue_transaction("pacs.008", "test", OWNER).id
    s.submit(tid, "pacs.008", messages.fresh("pacs008_two_txs.xml"), OWNER)
    _, _, body = s.adapters.incoming.sent.pop(0)
    s.incoming(StepMessage(tid, body))  # Received: the record has its later transactions
    follow(s, str(tid))
    received = unmigrated(s, str(tid))
    snapshot = ViewSnapshot.of(s.adapters.view.scan_items())
    boto3.client("s3").put_object(Bucket=BUCKET, Key=object_key("snaps", snapshot.taken_at), Body=snapshot.to_bytes())
    drain(s)
    follow(s, str(tid))  # the migration (rebuild --apply), then settled
    live = s.adapters.view.get(str(tid))
    assert live is not None and live.later_transactions and live.version > received.version
    second = live.later_transactions[0].uetr
    env = {"PACSFLOW_EVENTS_TABLE": "events", "PACSFLOW_TRANSACTIONS_TABLE": "transactions"}
    untold = mock.patch("chalicelib.projections.recovery.unvouched", return_value=False)
    with (
        mock.patch.dict(os.environ, {**env, "PACSFLOW_CIPHER_SECRET_ARN": ""}),
        contextlib.nullcontext() if told else untold,
    ):
        cli.main(["recover", "view", "--from", f"s3://{BUCKET}/snaps", "--apply"])
    out = capsys.readouterr().out
    assert ("1 refolded" in out, "1 with newer events" in out) == (told, not told)
    assert s.adapters.view.get(str(tid)) == live
    found = follower.find(s.adapters.view, OWNER, {"uetr": second})
    assert [r["transaction_id"] for r in found.transactions] == [str(tid)]


def snapshot_before_later_transactions(svc: bootstrap.Service, tid: str) -> ViewSnapshot:
    """A view snapshot as taken before records had `later_transactions` (format 1,
    ViewSnapshot's default): the record at the stream's head version, as the follower of
    then wrote it (no `later_transactions`, so no index item derived from them)."""
    current = svc.adapters.view.get(tid)
    assert current is not None and current.later_transactions
    old = dataclasses.replace(current, later_transactions=())
    return ViewSnapshot(taken_at="20261129T000000000000Z", items={tid: old.to_item()})


def test_recovery_from_a_snapshot_older_than_later_transactions_is_the_fold(svc: bootstrap.Service, aws: Any) -> None:
    """`recover` promises `fold(all events)` for every transaction "whatever the snapshot's
    age". A snapshot taken before `later_transactions` holds a multi-transaction record at the
    stream's head version without them: taken as stored, the recovered view would lack them
    and their index items (lookups and pacs.028 by a later transaction would find nothing), so
    such a record is folded from its events."""
    tid = multi_transaction_payment(svc)
    heads = stream_heads(aws, "events")
    report = recover(
        snapshot_before_later_transactions(svc, tid), heads.items(), lambda t, gt: svc.payments.events.get(t, gt=gt)
    )
    assert report.items == full_replay(heads.items(), lambda t, gt: svc.payments.events.get(t, gt=gt))


def test_recover_view_apply_from_an_older_snapshot_keeps_lookups_of_later_transactions(
    svc: bootstrap.Service, aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`recover view --apply` after the migration (`rebuild --apply`, README) with the latest
    snapshot older than `later_transactions`: the live record (later_transactions, version V)
    and the snapshot's (none, version V) are the same version, and the repair tool leaves the
    live one. Stripped of `later_transactions`, the record would keep its index item `<id>#2`
    but `_indexed` would find no transaction 2 on it, so a lookup or a pacs.028 by the second
    transaction's UETR would answer nothing until the next `rebuild --apply` (a released
    payment gets no further event to heal it)."""
    tid = multi_transaction_payment(svc)
    live = svc.adapters.view.get(tid)
    assert live is not None
    second = live.later_transactions[0]
    assert [
        r["transaction_id"] for r in follower.find(svc.adapters.view, OWNER, {"uetr": second.uetr}).transactions
    ] == [tid]
    snapshot = snapshot_before_later_transactions(svc, tid)
    boto3.client("s3").put_object(Bucket=BUCKET, Key=object_key("snaps", snapshot.taken_at), Body=snapshot.to_bytes())
    env = {
        "PACSFLOW_EVENTS_TABLE": "events",
        "PACSFLOW_TRANSACTIONS_TABLE": "transactions",
        "PACSFLOW_CIPHER_SECRET_ARN": "",
    }
    with mock.patch.dict(os.environ, env):
        cli.main(["recover", "view", "--from", f"s3://{BUCKET}/snaps", "--apply"])
    capsys.readouterr()
    found = follower.find(svc.adapters.view, OWNER, {"uetr": second.uetr})
    assert [r["transaction_id"] for r in found.transactions] == [tid]
