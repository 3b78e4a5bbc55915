"""Backup of a DynamoDB table to S3 as compressed segments, and restore into an empty table.

The items are copied raw: every attribute as DynamoDB stores it (the events' `state` is
already compressed and encrypted by the application, and any other attribute, such as the
audit chain's, is kept as it is), so a restored table is the same bytes as the backed-up one.

Layout under ``s3://<bucket>/<prefix>/``:

    <label>/segment-<n, 6 digits>.jsonl.gz   gzip of one JSON object per line: a raw item,
                                             DynamoDB's attribute-value form, binary
                                             values base64 (see `encode_item`)
    manifest.json                            per label: the table it came from, the item
                                             count and, per segment, its key, item count
                                             and sha256 (of the object's bytes)

A restore checks every segment's sha256 and item count before it writes a single item, and
refuses a table that is not empty (a restore is not a merge: it could silently shadow
newer events). For the same reason it refuses a table whose aggregates have snapshots in
S3 (the positions' on a deployed stack: chalicelib/eventstore/s3snapshots.py) while that
bucket holds any: a load takes the newest snapshot, which may be of versions the backup
does not have, and the next append would then leave a gap in the restored stream. The
snapshots are not backed up: they are a cache of the events, and a copy taken beside a
Scan could itself be newer than the items read. So the way out is to discard them
(`discard_snapshots`): the aggregates replay their restored events.

The backup is a parallel Scan, so it is a copy of each item as it was when read, not a
point-in-time image of the table: take it from a stack with no traffic, or use DynamoDB's
point-in-time recovery for a consistent image (README "Recovery").
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from chalicelib.eventstore.s3snapshots import KEY_PREFIX as SNAPSHOTS_PREFIX

MANIFEST = "manifest.json"
FORMAT = "pacsflow-table-backup/1"
SEGMENT_ITEMS = 10_000
_BATCH = 25  # BatchWriteItem's limit


class BackupError(Exception):
    """A backup that cannot be restored as asked (corrupt segment, non-empty table, ...)."""


def encode_value(value: dict[str, Any]) -> dict[str, Any]:
    """One attribute value as JSON: B and BS base64, maps and lists recursively."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(bytes(inner)).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(bytes(b)).decode() for b in inner]}
    if kind == "M":
        return {"M": encode_item(inner)}
    if kind == "L":
        return {"L": [encode_value(v) for v in inner]}
    return {kind: inner}


def decode_value(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if kind == "M":
        return {"M": decode_item(inner)}
    if kind == "L":
        return {"L": [decode_value(v) for v in inner]}
    return {kind: inner}


def encode_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: encode_value(v) for name, v in item.items()}


def decode_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: decode_value(v) for name, v in item.items()}


@dataclass(frozen=True)
class Segment:
    key: str
    items: int
    sha256: str


@dataclass
class TableBackup:
    table: str
    items: int = 0
    segments: list[Segment] = field(default_factory=list)


@dataclass
class Manifest:
    taken_at: str
    tables: dict[str, TableBackup]
    format: str = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw = json.loads(data)
        if raw.get("format") != FORMAT:
            raise BackupError(f"not a {FORMAT} manifest: {raw.get('format')!r}")
        tables = {
            label: TableBackup(t["table"], t["items"], [Segment(**s) for s in t["segments"]])
            for label, t in raw["tables"].items()
        }
        return cls(taken_at=raw["taken_at"], tables=tables)


def parse_s3_url(url: str) -> tuple[str, str]:
    """'s3://bucket/some/prefix' -> ('bucket', 'some/prefix')."""
    if not url.startswith("s3://") or len(url) <= len("s3://"):
        raise BackupError(f"not an s3:// URL: {url}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    return bucket, prefix.strip("/")


def _key(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def scan_items(dynamodb: Any, table: str, segments: int = 4) -> Iterator[dict[str, Any]]:
    """Every raw item of `table` (a parallel, strongly consistent Scan)."""
    from chalicelib.adapters.dynamodb import parallel_scan

    yield from parallel_scan(dynamodb, segments, None, TableName=table, ConsistentRead=True)


def _chunks(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def segment_bytes(items: list[dict[str, Any]]) -> bytes:
    lines = "".join(json.dumps(encode_item(i), sort_keys=True, separators=(",", ":")) + "\n" for i in items)
    return gzip.compress(lines.encode(), compresslevel=6, mtime=0)


def backup(
    dynamodb: Any, s3: Any, tables: dict[str, str], bucket: str, prefix: str, segment_items: int = SEGMENT_ITEMS
) -> Manifest:
    """Write each table of `tables` (label -> table name) as segments, then the manifest
    (last: a backup without a manifest is an unfinished one)."""
    manifest = Manifest(taken_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), tables={})
    for label, table in tables.items():
        done = manifest.tables[label] = TableBackup(table)
        for n, chunk in enumerate(_chunks(scan_items(dynamodb, table), segment_items)):
            body = segment_bytes(chunk)
            key = _key(prefix, f"{label}/segment-{n:06d}.jsonl.gz")
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/gzip")
            done.segments.append(Segment(key, len(chunk), hashlib.sha256(body).hexdigest()))
            done.items += len(chunk)
    s3.put_object(Bucket=bucket, Key=_key(prefix, MANIFEST), Body=manifest.to_json(), ContentType="application/json")
    return manifest


def read_manifest(s3: Any, bucket: str, prefix: str) -> Manifest:
    try:
        body = s3.get_object(Bucket=bucket, Key=_key(prefix, MANIFEST))["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise BackupError(f"no {MANIFEST} under s3://{bucket}/{prefix}: not a finished backup") from None
    return Manifest.from_json(body)


def verified_items(s3: Any, bucket: str, segment: Segment) -> list[dict[str, Any]]:
    """A segment's raw items, after checking its sha256 and item count against the manifest."""
    body = s3.get_object(Bucket=bucket, Key=segment.key)["Body"].read()
    if hashlib.sha256(body).hexdigest() != segment.sha256:
        raise BackupError(f"segment {segment.key}: sha256 differs from the manifest's")
    items = [decode_item(json.loads(line)) for line in gzip.decompress(body).decode().splitlines() if line]
    if len(items) != segment.items:
        raise BackupError(f"segment {segment.key}: {len(items)} items, the manifest says {segment.items}")
    return items


def is_empty(dynamodb: Any, table: str) -> bool:
    return not dynamodb.scan(TableName=table, Limit=1, ProjectionExpression="pk").get("Items")


def any_snapshot(s3: Any, bucket: str) -> str | None:
    """The key of one aggregate snapshot in the bucket, None when it holds none."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{SNAPSHOTS_PREFIX}/", MaxKeys=1)
    return next((obj["Key"] for obj in listed.get("Contents", ())), None)


def discard_snapshots(s3: Any, bucket: str) -> int:
    """Delete every aggregate snapshot in the bucket (history and `latest`); return how many."""
    deleted = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{SNAPSHOTS_PREFIX}/"):
        keys = [obj["Key"] for obj in page.get("Contents", ())]  # at most 1,000: DeleteObjects' limit
        if keys:
            answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise BackupError(f"snapshot {first['Key']} not deleted: {first['Code']} {first.get('Message', '')}")
            deleted += len(keys)
    return deleted


def restore(
    dynamodb: Any,
    s3: Any,
    bucket: str,
    prefix: str,
    label: str,
    into: str,
    *,
    snapshots_bucket: str = "",
    discard: bool = False,
) -> int:
    """Write the backup's `label` table into the empty table `into`; return the item count.

    `snapshots_bucket`: where the snapshots of that table's aggregates go, if in S3; while it
    holds any the restore is refused, unless `discard`: then they are deleted first (module
    docstring). Every segment is read and checked first, so a corrupt backup writes nothing
    (and discards nothing)."""
    manifest = read_manifest(s3, bucket, prefix)
    if label not in manifest.tables:
        raise BackupError(f"the backup has no table {label!r} (it has: {', '.join(sorted(manifest.tables))})")
    if not is_empty(dynamodb, into):
        raise BackupError(f"table {into} is not empty: a restore goes into an empty table only")
    found = any_snapshot(s3, snapshots_bucket) if snapshots_bucket else None
    if found is not None and not discard:
        raise BackupError(
            f"s3://{snapshots_bucket}/{SNAPSHOTS_PREFIX}/ holds snapshots (e.g. {found}), maybe newer than the "
            "backup: an aggregate would load one instead of its restored events. They are a cache of the "
            "events: discard them (--discard-snapshots) on a stack with no traffic"
        )
    wanted = manifest.tables[label]
    items = [item for segment in wanted.segments for item in verified_items(s3, bucket, segment)]
    if len(items) != wanted.items:
        raise BackupError(f"{label}: {len(items)} items in the segments, the manifest says {wanted.items}")
    if found is not None:
        discard_snapshots(s3, snapshots_bucket)
    for chunk in _chunks(items, _BATCH):
        _batch_write(dynamodb, into, chunk)
    return len(items)


def _batch_write(dynamodb: Any, table: str, items: list[dict[str, Any]], attempts: int = 10) -> None:
    requests: list[dict[str, Any]] = [{"PutRequest": {"Item": i}} for i in items]
    for attempt in range(attempts):
        left = dynamodb.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems", {})
        requests = left.get(table, [])
        if not requests:
            return
        time.sleep(min(2.0, 0.05 * 2**attempt))  # unprocessed: throttled, back off (AWS guidance)
    raise BackupError(f"{len(requests)} items left unprocessed by BatchWriteItem into {table}")


def stream_heads(dynamodb: Any, events_table: str, segments: int = 4) -> dict[str, int]:
    """Each aggregate's latest version: a keys-only parallel Scan of the events table
    (ProjectionExpression pk, sk; bookkeeping items `$...` skipped).

    A Scan is charged by the size of the items read, projection or not (DynamoDB developer
    guide, "Read consumption for Scan"), so this reads as many capacity units as a full
    scan; what it saves is the transfer and, above all, decrypting, decompressing and
    folding every event: recovery reads the state of the newer events only."""
    from chalicelib.adapters.dynamodb import parallel_scan

    heads: dict[str, int] = {}
    for item in parallel_scan(
        dynamodb, segments, None, TableName=events_table, ProjectionExpression="pk, sk", ConsistentRead=True
    ):
        pk = item["pk"]["S"]
        if pk.startswith("$"):
            continue
        version = int(item["sk"]["N"])
        if version > heads.get(pk, 0):
            heads[pk] = version
    return heads
