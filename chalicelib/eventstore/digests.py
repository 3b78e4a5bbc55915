"""Digests of the event streams, written to S3 under Object Lock (QLDB's journal digests).

A hash chain (chain.py) shows an event changed, swapped or inserted, but not a stream cut
short: delete a stream's last event, or the whole stream, and what is left still chains.
So the Digester, a second consumer of the events table's stream (NEW_IMAGE), writes once
per stream batch a digest: for each stream of the batch its id, last version and last
hash, sorted, and the sha256 over that list (the root). The version and hash are the
records' own (each event item's image carries its ``hash``): no read at all. Its batches
are long (up to 1000 records, or what the stack's DigestWindowSeconds brings), so one
PutObject covers many payments; a digest then trails the events by that window, not an
hour, with no scan of the table, and off the view follower's path.

An event item is only ever inserted: a stream record that modifies or removes one is
logged as an error and its stream is left out of the batch's digest (earlier digests keep
vouching for what was inserted). A digest that cannot be written fails the batch, which
Lambda then retries whole.

The digests bucket has Object Lock (COMPLIANCE, default retention) and versioning: no one,
the root account included, can delete or overwrite a digest version during its retention;
only the Digester's role may put objects there, under ``digests/``. Digests are not
chained to one another: the stream's shards are followed in parallel, so a chain would be a
serialisation point; immutability comes from Object Lock instead, and a digest whose root
does not match its list is reported by `audit verify`. The key is content-addressed
(``digests/<YYYY-MM-DD>/<HH>/<root>.json``, the hour of the batch), so a retried batch
writes the same key again (a new version of identical content).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.eventstore.aws import new_client
from chalicelib.eventstore.chain import stored_hash
from chalicelib.eventstore.dynamodb import RESERVED_PREFIX

if TYPE_CHECKING:
    from chalicelib.aws_types import S3Client

PREFIX = "digests/"

log = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class StreamHead:
    """A stream's last event as the digest writer read it."""

    stream: str
    version: int
    hash: str


def root_of(heads: Iterable[StreamHead]) -> str:
    canonical = json.dumps([[h.stream, h.version, h.hash] for h in sorted(heads)], separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Digest:
    hour: str  # YYYY-MM-DDTHH, UTC
    heads: tuple[StreamHead, ...]
    root: str
    key: str = ""
    problems: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, heads: Iterable[StreamHead], now: datetime | None = None) -> Digest:
        latest: dict[str, StreamHead] = {}
        for head in heads:
            if head.stream not in latest or latest[head.stream].version < head.version:
                latest[head.stream] = head
        ordered = tuple(sorted(latest.values()))
        hour = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H")
        root = root_of(ordered)
        return cls(hour=hour, heads=ordered, root=root, key=f"{PREFIX}{hour[:10]}/{hour[11:]}/{root}.json")

    def to_json(self) -> str:
        return json.dumps(
            {"hour": self.hour, "root": self.root, "streams": [[h.stream, h.version, h.hash] for h in self.heads]},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, key: str, text: str) -> Digest:
        data = json.loads(text)
        heads = tuple(StreamHead(str(s), int(v), str(h)) for s, v, h in data["streams"])
        problems = () if root_of(heads) == data["root"] else (f"digest {key}: its root does not match its list",)
        return cls(hour=data["hour"], heads=heads, root=data["root"], key=key, problems=problems)


class DigestStore:
    """The digests bucket: put one digest, read them back (paged, oldest hour first)."""

    def __init__(self, bucket: str, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> S3Client:
        if self._client is None:
            self._client = new_client("s3", None)
        return self._client

    def put(self, digest: Digest) -> str:
        # Object Lock needs an integrity checksum on PutObject (Content-MD5 or x-amz-checksum-*)
        self.client.put_object(
            Bucket=self.bucket,
            Key=digest.key,
            Body=digest.to_json().encode("ascii"),
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",
        )
        return digest.key

    def digests(self, since: datetime | None = None) -> Iterator[Digest]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": PREFIX}
        if since is not None:
            params["StartAfter"] = f"{PREFIX}{since.astimezone(UTC):%Y-%m-%d/%H}"
        for page in self.client.get_paginator("list_objects_v2").paginate(**params):
            for obj in page.get("Contents", []):
                body = self.client.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                yield Digest.from_json(obj["Key"], body.decode("ascii"))


def expected_heads(
    digests: Iterable[Digest],
) -> tuple[dict[str, dict[int, str]], list[str | tuple[str, str]]]:
    """Every (stream, version) -> hash the digests vouch for; and what is unsound: a digest
    that does not check, or (stream, why) for a version two digests vouch for with different
    hashes. An event never changes, so that is a rewritten event re-digested later (a forger
    holding the cipher key): whichever digest is listed last must not silently win."""
    expected: dict[str, dict[int, str]] = {}
    problems: list[str | tuple[str, str]] = []
    for digest in digests:
        problems.extend(digest.problems)
        for head in digest.heads:
            known = expected.setdefault(head.stream, {})
            earlier = known.setdefault(head.version, head.hash)
            if earlier != head.hash:
                problems.append((head.stream, f"version {head.version} is vouched for with two different hashes"))
    return expected, problems


def heads_of(records: Iterable[Mapping[str, Any]]) -> list[StreamHead]:
    """Each event item's (stream, version, hash) as the stream records' new images carry
    it; a stream with a modified or removed event item in `records` is left out (and
    logged), and so is an item with no hash (not chained: none of this module's)."""
    heads: list[StreamHead] = []
    rewritten: set[str] = set()
    for raw in records:
        change = raw["dynamodb"]
        stream = change["Keys"]["pk"]["S"]
        if stream.startswith(RESERVED_PREFIX):
            continue  # bookkeeping: claims, leases, retrievals, snapshots
        if raw.get("eventName") != "INSERT":
            rewritten.add(stream)
            continue
        image = change.get("NewImage", {})
        if "hash" not in image:
            log.error("an event item without a hash is not digested", extra={"transaction_id": stream})
            continue
        heads.append(StreamHead(stream, int(image["sk"]["N"]), stored_hash(image["hash"]) or ""))
    for stream in sorted(rewritten):
        log.error("an event item was modified or removed", extra={"transaction_id": stream})
    return [h for h in heads if h.stream not in rewritten]


def digest_batch(store: DigestStore, records: Iterable[Any]) -> dict[str, Any]:
    """The Digester's batch: one digest of the streams its records end (no read); an error
    writing it fails the whole batch (Lambda retries it: the same key, the same content)."""
    heads = heads_of(r.to_dict() for r in records)
    if heads:
        store.put(Digest.of(heads))
    return {"batchItemFailures": []}
