"""Check the event store against its hash chains and its digests (`audit verify`).

For each stream (an aggregate's events; a payment's is its transaction) in version order:

- each event's stored ``hash`` must be the hash of its own content at its own version
  (chain.py); if it is the hash of that content at *another* version, the event moved:
  two events that took each other's place were **reordered**; events all shifted up by one
  mean an event was **inserted** before them, shifted down, one was **removed**; a hash
  that matches no version (or a state that no longer decrypts) means the event was
  **changed** (a forged event without the cipher key is one);
- each event's ``prev`` must be its predecessor's hash: a sound event whose predecessor is
  missing means that one was **removed**, one that does not follow it was **inserted**;
- every (stream, version, hash) a digest vouches for must be there with that hash: this
  is what catches a removed *last* event and a **missing stream**.

Memory: one stream's events at a time, plus the set of stream ids and what the digests
vouch for (one entry per stream and digest): a few hundred bytes per stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.eventstore.chain import GENESIS, event_hash, stored_hash

CHANGED, REORDERED, INSERTED, REMOVED, MISSING_STREAM, UNCHAINED, DIGEST = (
    "changed",
    "reordered",
    "inserted",
    "removed",
    "missing stream",
    "unchained",
    "digest",
)


@dataclass(frozen=True)
class ChainItem:
    """What verification needs of one stored event."""

    version: int
    topic: str
    plain_sha256: str | None  # None: the state does not decrypt / decompress
    prev: str | None
    hash: str | None
    who: str


@dataclass(frozen=True)
class Finding:
    stream: str
    kind: str
    detail: str


@dataclass
class VerifyReport:
    streams: int = 0
    events: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def by_stream(self) -> dict[str, list[Finding]]:
        named: dict[str, list[Finding]] = {}
        for f in self.findings:
            named.setdefault(f.stream, []).append(f)
        return named


def _valid_at(stream: str, item: ChainItem, version: int) -> bool:
    if item.plain_sha256 is None or item.hash is None or item.prev is None:
        return False
    return event_hash(stream, version, item.topic, item.plain_sha256, item.prev, item.who) == item.hash


def check_stream(stream: str, items: list[ChainItem], vouched: Mapping[int, str]) -> list[Finding]:
    """The findings of one stream (items in version order; `vouched`: version -> hash)."""
    if not items:
        if vouched:
            last = max(vouched)
            return [Finding(stream, MISSING_STREAM, f"the stream is gone; a digest vouches for version {last}")]
        return []
    findings: list[Finding] = []
    by_version = {item.version: item for item in items}
    top = max(max(by_version), max(vouched, default=0))
    moved: dict[int, int] = {}  # stored at -> recorded as
    flagged: set[int] = set()
    for item in items:
        v = item.version
        if item.hash is None:
            findings.append(
                Finding(stream, UNCHAINED, f"version {v} has no hash (written before the chain, or stripped)")
            )
            flagged.add(v)
        elif item.plain_sha256 is None:
            findings.append(Finding(stream, CHANGED, f"version {v}: its state does not decrypt (altered, or forged)"))
            flagged.add(v)
        elif not _valid_at(stream, item, v):
            recorded_as = next((w for w in range(1, top + 2) if w != v and _valid_at(stream, item, w)), None)
            if recorded_as is None:
                findings.append(Finding(stream, CHANGED, f"version {v}: its content does not match its hash"))
            else:
                moved[v] = recorded_as
            flagged.add(v)
    for v, w in sorted(moved.items()):
        swapped = moved.get(w) == v or w not in (v - 1, v + 1)
        kind = REORDERED if swapped else (INSERTED if w == v - 1 else REMOVED)
        findings.append(Finding(stream, kind, f"version {v} holds the event recorded as version {w}"))
    for item in items:
        v = item.version
        if v in flagged:
            continue
        if v == 1:
            if item.prev != GENESIS:
                findings.append(Finding(stream, INSERTED, "version 1 claims a predecessor"))
            continue
        before = by_version.get(v - 1)
        if before is None:
            findings.append(Finding(stream, REMOVED, f"version {v - 1} is missing"))
        elif v - 1 not in flagged and before.hash != item.prev:
            findings.append(Finding(stream, INSERTED, f"version {v} does not follow version {v - 1}"))
    last = max(by_version)
    for v, digest_hash in sorted(vouched.items()):
        found = by_version.get(v)
        if found is None:
            where = "its last event" if v > last else "an event"
            findings.append(Finding(stream, REMOVED, f"{where}: version {v}, vouched for by a digest, is missing"))
        elif v not in flagged and found.hash != digest_hash:
            findings.append(Finding(stream, CHANGED, f"version {v} differs from its digest"))
    return findings


def verify(
    stream_ids: Iterable[str],
    read_stream: Callable[[str], list[ChainItem]],
    vouched: Mapping[str, Mapping[int, str]],
    digest_problems: Iterable[str | tuple[str, str]] = (),
    only: str | None = None,
) -> VerifyReport:
    """Check every stream of the table and every stream a digest names (or just `only`)."""
    report = VerifyReport()
    for problem in digest_problems:  # (stream, why) names its transaction
        stream, why = problem if isinstance(problem, tuple) else ("-", problem)
        if only is None or stream in ("-", only):
            report.findings.append(Finding(stream, DIGEST, why))
    seen: set[str] = set()
    for stream in stream_ids:
        if (only is not None and stream != only) or stream in seen:
            continue
        seen.add(stream)
        items = read_stream(stream)
        report.streams += 1
        report.events += len(items)
        report.findings.extend(check_stream(stream, items, vouched.get(stream, {})))
    for stream in sorted(set(vouched) - seen):
        if only is None or stream == only:
            report.findings.extend(check_stream(stream, [], vouched[stream]))
    return report


def stream_ids(client: Any, table: str, page_size: int = 1000, *, first_only: bool = False) -> Iterator[str]:
    """Every stream of the events table (a keys-only Scan, paged), bookkeeping items ($...)
    skipped. By default every item is read, so a stream whose first event was removed is
    still found (and a set of the ids seen is kept: each stream once); `first_only` reads
    only the first events (a filter: the same read capacity, constant memory)."""
    params: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": "pk",
        "ConsistentRead": True,
        "Limit": page_size,
    }
    if first_only:
        params |= {"FilterExpression": "sk = :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}
    seen: set[str] = set()
    while True:
        page = client.scan(**params)
        for item in page.get("Items", []):
            pk = item["pk"]["S"]
            if pk.startswith("$") or pk in seen:
                continue
            if not first_only:
                seen.add(pk)
            yield pk
        if "LastEvaluatedKey" not in page:
            return
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def stream_reader(
    client: Any, table: str, plain_sha256: Callable[[bytes], str | None]
) -> Callable[[str], list[ChainItem]]:
    """Read one stream's chain items (a strongly consistent Query, paged)."""

    def read(stream: str) -> list[ChainItem]:
        params: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": stream}},
            "ConsistentRead": True,
        }
        items: list[ChainItem] = []
        while True:
            page = client.query(**params)
            for item in page.get("Items", []):
                items.append(
                    ChainItem(
                        version=int(item["sk"]["N"]),
                        topic=item.get("topic", {}).get("S", ""),
                        plain_sha256=plain_sha256(bytes(item["state"]["B"])) if "state" in item else None,
                        prev=stored_hash(item.get("prev")),
                        hash=stored_hash(item.get("hash")),
                        who=item.get("who", {}).get("S", ""),
                    )
                )
            if "LastEvaluatedKey" not in page:
                return items
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    return read
