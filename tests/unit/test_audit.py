"""Tamper evidence, point-in-time state and the auditor's export, on moto.

A payment runs through the real pipeline (in-memory queues and archive) with its events in a
moto DynamoDB table, encrypted and compressed as deployed; the Digester writes digests of the
stream records to a moto S3 bucket with Object Lock. Then the table is tampered with, as an attacker with
write access to it would, and `audit verify` must name the transaction and what was done.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any
from unittest import mock
from uuid import UUID

import boto3
import pytest
from botocore.exceptions import ClientError
from eventsourcing.cipher import AESCipher
from eventsourcing.persistence import StoredEvent
from moto import mock_aws

from chalicelib import bootstrap
from chalicelib.adapters.dynamodb import Retrievals
from chalicelib.adapters.settings import Settings
from chalicelib.cli_audit import AuditContext, export_rows, run_verify, write_export
from chalicelib.domain.action_ids import keyed
from chalicelib.domain.region import region_aggregate_id
from chalicelib.eventstore.chain import GENESIS, Actor, acting, event_hash, hash_attribute, plaintext, stored_hash
from chalicelib.eventstore.digests import Digest, DigestStore, StreamHead, digest_batch, expected_heads
from chalicelib.eventstore.dynamodb import DynamoDBAggregateRecorder, DynamoDBDatastore
from chalicelib.pipeline.failover import CONTROLLER, Regions
from chalicelib.pipeline.payments import Payments
from chalicelib.pipeline.ports import ReportRetrieved
from chalicelib.projections.follower import RecentRecords, follow, state_as_of
from tests.messages import fresh
from tests.unit.fakes import MemoryView, drain, memory_adapters

TABLE, BUCKET, OWNER, OTHER = "audit-events", "audit-digests", "client-a", "client-b"


@dataclass
class Store:
    svc: bootstrap.Service
    payments: Payments
    ddb: Any
    ctx: AuditContext

    def pay(self, owner: str = OWNER) -> str:
        with acting(client=owner, request_id="req-1", region="eu-west-1", step="api"):
            tx = str(self.svc.issue_transaction("pacs.008", "req-1", owner).id)
            self.svc.submit(UUID(tx), "pacs.008", fresh("pacs008_bare.xml"), owner)
        with acting(client="pacsflow", step="pipeline"):
            drain(self.svc)
        return tx

    def follow(self, *txs: str) -> None:
        """The stream's two consumers on these transactions' event items: the view follower,
        and the Digester (it writes a digest)."""
        records = [stream_record(item) for tx in txs for item in self.items(tx)]
        assert follow(self.payments, self.svc.adapters.view, records, RecentRecords()) == {"batchItemFailures": []}
        assert self.ctx.digests is not None
        assert digest_batch(self.ctx.digests, records) == {"batchItemFailures": []}

    def items(self, tx: str) -> list[dict[str, Any]]:
        got = self.ddb.query(
            TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": tx}}
        )
        return list(got["Items"])

    def put(self, item: dict[str, Any]) -> None:
        self.ddb.put_item(TableName=TABLE, Item=item)

    def delete(self, tx: str, version: int) -> None:
        self.ddb.delete_item(TableName=TABLE, Key={"pk": {"S": tx}, "sk": {"N": str(version)}})


@dataclass
class _Record:
    raw: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.raw


def stream_record(item: dict[str, Any], name: str = "INSERT") -> _Record:
    """The NEW_IMAGE stream record of `item` (as a Query returned it) as Lambda hands it
    over: binary attributes as base64 text."""
    image = {k: {"B": b64encode(v["B"]).decode()} if "B" in v else v for k, v in item.items()}
    keys = {"pk": item["pk"], "sk": item["sk"]}
    return _Record({"eventName": name, "dynamodb": {"Keys": keys, "NewImage": image, "SequenceNumber": "1"}})


@pytest.fixture
def store() -> Iterator[Store]:
    environ = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environ |= {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    with mock.patch.dict(os.environ, environ, clear=True), mock_aws():
        DynamoDBDatastore(TABLE).create_table()
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(
            Bucket=BUCKET,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
            },
        )
        settings = Settings(events_table=TABLE, digests_bucket=BUCKET)
        env = bootstrap.payments_env(settings) | {
            "CIPHER_TOPIC": "eventsourcing.cipher:AESCipher",
            "CIPHER_KEY": AESCipher.create_key(32),
        }
        payments = Payments(env=env)
        ddb = boto3.client("dynamodb")
        adapters = memory_adapters() | {
            "payments": payments,
            "view": MemoryView(),
            "retrievals": Retrievals(TABLE, ddb),
        }
        svc = bootstrap.build(settings, **adapters)
        ctx = AuditContext(settings, payments, ddb, Retrievals(TABLE, ddb), DigestStore(BUCKET, s3))
        yield Store(svc, payments, ddb, ctx)


def findings(store: Store, capsys: pytest.CaptureFixture[str], only: str | None = None) -> tuple[int, str]:
    code = run_verify(store.ctx, only)
    return code, capsys.readouterr().out


# -- the chain, stored at append ----------------------------------------------------------


def test_every_event_links_to_its_predecessor_over_its_plaintext_with_who_did_it(store):
    tx = store.pay()
    items = store.items(tx)
    assert [int(i["sk"]["N"]) for i in items] == [1, 2, 3, 4, 5]  # Initiated, Submitted, Received, Accepted, Released
    assert stored_hash(items[0]["prev"]) == GENESIS
    for before, after in pairwise(items):
        assert stored_hash(after["prev"]) == stored_hash(before["hash"])
    for item in items:
        plain = plaintext(store.payments.mapper, bytes(item["state"]["B"]))
        assert plain != bytes(item["state"]["B"])  # stored encrypted; hashed before that
        expected = event_hash(
            tx,
            int(item["sk"]["N"]),
            item["topic"]["S"],
            hashlib.sha256(plain).hexdigest(),
            stored_hash(item["prev"]),
            item["who"]["S"],
        )
        assert stored_hash(item["hash"]) == expected
    who = [Actor.from_json(i["who"]["S"]) for i in items]
    assert (who[0].client, who[0].request_id, who[0].region, who[0].step) == (OWNER, "req-1", "eu-west-1", "api")
    # the steps run inline by the incoming step name themselves (chalicelib/pipeline/handoff.py)
    assert [w.step for w in who[2:]] == ["pipeline", "processing", "releasing"]
    assert {w.client for w in who[2:]} == {"pacsflow"}


def test_the_predecessors_hash_comes_from_the_read_before_the_command_not_an_extra_read(store):
    store.pay()
    store.pay()
    assert store.payments.recorder.head_misses == 0  # type: ignore[attr-defined]


def test_a_cold_recorder_reads_the_predecessors_hash_once_and_chains_on(store):
    tx = store.pay()
    cold = DynamoDBAggregateRecorder(DynamoDBDatastore(TABLE))  # another process: nothing read yet
    cold.insert_events([StoredEvent(UUID(tx), 6, "x:Y", b"{}")])
    assert cold.head_misses == 1
    sixth, fifth = store.items(tx)[5], store.items(tx)[4]
    assert stored_hash(sixth["prev"]) == stored_hash(fifth["hash"])


def test_the_digester_takes_each_streams_last_hash_from_the_records(store):
    """No read: the version and hash are the records' own; bookkeeping items are not events."""
    tx, other = store.pay(), store.pay(OTHER)
    items = store.items(tx)
    claim = {"pk": {"S": "$claim#uetr#x"}, "sk": {"N": "0"}}
    records = [stream_record(i) for i in items[1:3] + items[:1]] + [stream_record(store.items(other)[0])]
    records.append(stream_record(claim))
    assert store.ctx.digests is not None
    digest_batch(store.ctx.digests, records)
    (digest,) = store.ctx.digests.digests()
    expected = [
        StreamHead(tx, 3, stored_hash(items[2]["hash"])),
        StreamHead(other, 1, stored_hash(store.items(other)[0]["hash"])),
    ]
    assert digest.heads == tuple(sorted(expected))
    assert not digest.problems


def test_a_modified_or_removed_event_item_is_told_and_its_stream_left_out(store, caplog):
    tx, other = store.pay(), store.pay(OTHER)
    records = [stream_record(store.items(tx)[0]), stream_record(store.items(tx)[1], "MODIFY")]
    records.append(stream_record(store.items(other)[4], "REMOVE"))
    records.append(stream_record(store.items(other)[3]))
    assert store.ctx.digests is not None
    digest_batch(store.ctx.digests, records)
    assert list(store.ctx.digests.digests()) == []  # nothing left to vouch for: no digest at all
    told = [r for r in caplog.records if r.getMessage() == "an event item was modified or removed"]
    assert sorted(r.transaction_id for r in told) == sorted([tx, other])  # type: ignore[attr-defined]


def test_a_digest_that_cannot_be_written_fails_the_batch(store):
    tx = store.pay()
    missing = DigestStore("no-such-bucket", store.ctx.digests.client)  # type: ignore[union-attr]
    with pytest.raises(ClientError):
        digest_batch(missing, [stream_record(store.items(tx)[0])])


def test_a_clean_store_verifies(store, capsys):
    txs = [store.pay(), store.pay(OTHER)]
    store.follow(*txs)
    code, out = findings(store, capsys)
    assert code == 0, out
    assert "checked 2 streams, 10 events, 2 digest entries: all sound" in out


def test_a_regions_stream_with_an_answer_that_decided_nothing_is_chained_digested_and_not_in_the_view(store, capsys):
    """A Region's failover decisions share the events table: its `Answered` (an operator's
    keyed action that decided nothing) is chained and digested as any event, and the view's
    follower skips the stream as a Region's."""
    regions, now = Regions(store.payments), datetime.now(UTC)
    with acting(client="ops", request_id="req-9", region="us-east-1", step="api"):
        assert regions.take_over("eu-west-1", "us-east-1", "3 failed probes", CONTROLLER, now)
        assert not regions.take_over("eu-west-1", "us-east-1", "down", "ops", now, action_id=keyed("ops", "k"))
    stream = str(region_aggregate_id("eu-west-1"))
    assert [i["topic"]["S"].rsplit(".", 1)[-1] for i in store.items(stream)] == ["Registered", "TakenOver", "Answered"]
    store.follow(stream)
    assert store.svc.adapters.view.get(stream) is None
    code, out = findings(store, capsys)
    assert code == 0, out
    assert "checked 1 streams, 3 events, 1 digest entries: all sound" in out


# -- tampering: each kind is caught and the transaction named -----------------------------


def _settled_and_digested(store: Store) -> tuple[str, str]:
    tx, bystander = store.pay(), store.pay(OTHER)
    store.follow(tx, bystander)
    return tx, bystander


def _assert_caught(store, capsys, tx: str, bystander: str, kind: str) -> str:
    code, out = findings(store, capsys)
    assert code == 1
    assert f"{tx}:" in out and f"  {kind}:" in out, out
    assert f"{bystander}:" not in out  # the untouched transaction is not named
    return out


def test_one_byte_of_stored_state_changed_is_caught(store, capsys):
    tx, bystander = _settled_and_digested(store)
    item = store.items(tx)[1]
    state = bytearray(item["state"]["B"])
    state[len(state) // 2] ^= 0x01
    store.put(item | {"state": {"B": bytes(state)}})
    _assert_caught(store, capsys, tx, bystander, "changed")


def test_a_deleted_event_is_caught(store, capsys):
    tx, bystander = _settled_and_digested(store)
    store.delete(tx, 2)
    out = _assert_caught(store, capsys, tx, bystander, "removed")
    assert "version 2 is missing" in out


def test_two_swapped_events_are_caught(store, capsys):
    tx, bystander = _settled_and_digested(store)
    two, three = store.items(tx)[1:3]
    keys = ("pk", "sk")
    store.put({**{k: v for k, v in three.items() if k not in keys}, "pk": two["pk"], "sk": two["sk"]})
    store.put({**{k: v for k, v in two.items() if k not in keys}, "pk": three["pk"], "sk": three["sk"]})
    out = _assert_caught(store, capsys, tx, bystander, "reordered")
    assert "version 2 holds the event recorded as version 3" in out


def test_a_deleted_last_event_is_caught_by_the_digest(store, capsys):
    tx, bystander = _settled_and_digested(store)
    store.delete(tx, 5)
    out = _assert_caught(store, capsys, tx, bystander, "removed")
    assert "its last event: version 5" in out


def test_a_deleted_stream_is_caught_by_the_digest(store, capsys):
    tx, bystander = _settled_and_digested(store)
    for item in store.items(tx):
        store.delete(tx, int(item["sk"]["N"]))
    _assert_caught(store, capsys, tx, bystander, "missing stream")


def test_a_version_two_digests_vouch_for_with_different_hashes_names_its_transaction(store, capsys):
    """An event rewritten (by someone holding the key) and re-digested later: the earlier
    digest must not be silently replaced by the later one, whichever is listed last."""
    tx, bystander = _settled_and_digested(store)
    last = store.items(tx)[-1]
    version, genuine = int(last["sk"]["N"]), stored_hash(last["hash"])
    store.ctx.digests.put(Digest.of([StreamHead(tx, version, "f" * 64)]))  # type: ignore[union-attr]
    _, problems = expected_heads(store.ctx.digests.digests())  # type: ignore[union-attr]
    assert problems == [(tx, f"version {version} is vouched for with two different hashes")]
    out = _assert_caught(store, capsys, tx, bystander, "digest")
    assert genuine  # the stored event itself is untouched: only the digests disagree
    assert "two different hashes" in out


def test_a_forged_event_inserted_with_a_well_formed_link_is_caught(store, capsys):
    tx, bystander = _settled_and_digested(store)
    items = store.items(tx)
    for item in reversed(items[2:]):  # shift versions 3 and 4 up to make room
        store.put(item | {"sk": {"N": str(int(item["sk"]["N"]) + 1)}})
    forged_state = os.urandom(64)  # an attacker without the cipher key
    prev = stored_hash(items[1]["hash"])
    forged_hash = event_hash(tx, 3, items[2]["topic"]["S"], hashlib.sha256(forged_state).hexdigest(), prev, "")
    store.put(
        {
            "pk": {"S": tx},
            "sk": {"N": "3"},
            "topic": items[2]["topic"],
            "state": {"B": forged_state},
            "prev": hash_attribute(prev),
            "hash": hash_attribute(forged_hash),
        }
    )
    out = _assert_caught(store, capsys, tx, bystander, "inserted")
    assert "version 4 holds the event recorded as version 3" in out


def test_verify_of_one_transaction_checks_only_it(store, capsys):
    tx, bystander = _settled_and_digested(store)
    store.delete(tx, 4)
    code, out = findings(store, capsys, only=bystander)
    assert code == 0 and "checked 1 streams" in out
    assert findings(store, capsys, only=tx)[0] == 1


def test_the_cli_entry_point_verifies_with_a_local_stack_file(store, tmp_path, capsys, monkeypatch):
    from chalicelib import cli, cli_audit

    tx, _ = _settled_and_digested(store)
    monkeypatch.setattr(cli_audit, "context_of", lambda local_stack: store.ctx)
    assert cli.main(["audit", "verify", "--local-stack", "unused.json"]) == 0
    store.delete(tx, 4)
    assert cli.main(["audit", "verify", "--transaction", tx]) == 1
    assert tx in capsys.readouterr().out


# -- point in time -------------------------------------------------------------------------


def test_state_as_of_each_step_of_a_payment(store):
    tx = store.pay()
    events = store.payments.history(UUID(tx))
    states = [state_as_of(store.payments, UUID(tx), OWNER, e.timestamp) for e in events]
    assert [s["status"] for s in states] == ["ACCP", "ACCP", "ACTC", "ACSP", "ACSC"]  # Submitted keeps ACCP
    assert [s["version"] for s in states] == [1, 2, 3, 4, 5]
    assert states[1].get("uetr") is None and states[2]["uetr"]


# -- export --------------------------------------------------------------------------------


def test_export_streams_decoded_events_with_archive_keys_hashes_and_fetches(store, tmp_path):
    tx, other = store.pay(), store.pay(OTHER)
    with acting(client=OWNER, request_id="req-9", region="eu-west-1"):
        report = store.svc.status_report(UUID(tx), OWNER)
    events = store.payments.history(UUID(tx))
    start, end = events[0].timestamp, events[-1].timestamp.replace(year=events[-1].timestamp.year + 1)
    rows = list(export_rows(store.ctx, start, end, OWNER))
    assert {r["transaction_id"] for r in rows} == {tx}
    types = ["Initiated", "Submitted", "Received", "Accepted", "Released", "ReportRetrieved"]
    assert [r["type"] for r in rows] == types
    received, released, fetched = rows[2], rows[4], rows[5]
    assert (
        received["archive_key"]
        and received["message_sha256"] == hashlib.sha256(fresh_sha_source(store, received)).hexdigest()
    )
    assert released["archive_key"]
    assert (
        fetched["archive_key"] == released["archive_key"]
        and fetched["message_sha256"] == hashlib.sha256(report).hexdigest()
    )
    assert fetched["client"] == OWNER and fetched["request_id"] == "req-9"
    assert all(r["hash"] for r in rows[:5])
    out = tmp_path / "x.jsonl"
    with out.open("w") as f:
        assert write_export(iter(rows), f, "jsonl") == 6
    assert [json.loads(line)["type"] for line in out.read_text().splitlines()][-1] == "ReportRetrieved"
    out = tmp_path / "x.csv"
    with out.open("w", newline="") as f:
        write_export(export_rows(store.ctx, start, end), f, "csv")
    with out.open() as f:
        table = list(csv.DictReader(f))
    assert {r["transaction_id"] for r in table} == {tx, other} and len(table) == 11
    assert not list(export_rows(store.ctx, end, end, OWNER))[:4]  # nothing recorded in the future


def fresh_sha_source(store: Store, row: dict[str, Any]) -> bytes:
    """The archived inbound message the Received event refers to."""
    return store.svc.adapters.archive.get(row["archive_key"])


def test_two_fetches_in_the_same_microsecond_are_both_recorded_and_a_retried_put_once(store):
    retrievals = store.ctx.retrievals
    at = "2026-11-29T10:00:00.000001+00:00"
    fetch = ReportRetrieved("tx-1", "tenant-a", "pacs.002", "outbound/k", "s" * 64, "req-1", "us-east-1", at)
    retrievals.retrieved(fetch)
    retrievals.retrieved(fetch)  # the same put again (a retry after a lost answer): recorded once
    retrievals.retrieved(replace(fetch, request_id="req-2"))  # another fetch
    assert sorted(r.request_id for r in retrievals.of("tx-1")) == ["req-1", "req-2"]
