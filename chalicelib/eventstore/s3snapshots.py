"""Snapshots as S3 objects: an eventsourcing AggregateRecorder for purpose="snapshots".

Selected by the DynamoDB persistence module when SNAPSHOTS_BUCKET is set. Snapshots can
be large (a whole aggregate's state) and are read rarely, so S3 is cheaper than DynamoDB
items and not bound by the 400 KB item limit.

Object layout, per aggregate:

    snapshots/history/<originator id>/<version, zero-padded to 20 digits>   one per snapshot
    snapshots/latest/<originator id>                                        a copy of the newest

(apart, so that a lifecycle rule can expire old history and never a `latest`)

    body      the stored state (already compressed/encrypted by the mapper, if configured)
    metadata  topic (percent-encoded, since S3 metadata must be ASCII); `latest` also its version

Every aggregate load asks for "the latest snapshot" (select_events desc=True, limit=1, lte
the version asked for or None). That is one GetObject of `latest` (NoSuchKey: no snapshot),
never a listing: constant in the number of snapshots, $0.0004 per 1,000 at the us-east-1
list price. Only the other forms (history: a `latest` newer than `lte`, ascending reads)
list the versioned keys; zero padding makes lexicographic key order equal version order.
Versions must therefore be non-negative.

Writing: the versioned object with If-None-Match: * (a version is never overwritten:
IntegrityError, as the library's recorders), then `latest` advanced with a compare-and-swap
(HeadObject for its version and ETag, then PutObject with If-Match on that ETag, or
If-None-Match: * when there is none yet), and only if the new version is higher. So two
processes snapshotting one aggregate at different versions never leave `latest` older than
one already written there. A process dying between the two writes leaves `latest` behind
(or absent): still correct, since the repository replays the events after whatever snapshot
it gets, only slower until the next snapshot moves it.

On AWS a GetObject of a missing key is 404 NoSuchKey only with s3:ListBucket on the bucket
(403 AccessDenied without it): the roles that load positions have it (infra/template.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from botocore.exceptions import ClientError
from eventsourcing.persistence import (
    AggregateRecorder,
    DataError,
    IntegrityError,
    StoredEvent,
)

from chalicelib.eventstore.aws import MISSING_KEY_CODES, check_unique, error_code, translated_errors

if TYPE_CHECKING:
    from uuid import UUID

    from chalicelib.aws_types import ListObjectsV2RequestPaginateTypeDef, S3Client

KEY_PREFIX = "snapshots"
HISTORY_PREFIX = f"{KEY_PREFIX}/history"
LATEST_PREFIX = f"{KEY_PREFIX}/latest"
VERSION_DIGITS = 20
# 412: an object exists at the key (If-None-Match: *). 409: a concurrent conditional
# write to the same key is in flight; either way another writer owns this version.
_EXISTS_ERROR_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
# Compare-and-swap rounds on `latest`: each lost round means another writer moved it.
LATEST_ATTEMPTS = 10


def _version(metadata: dict[str, str]) -> int | None:
    """The snapshot version `latest` records, None when it has none (S3 writes an object and its
    metadata at once; moto makes a new object visible before it sets its metadata)."""
    value = metadata.get("version", "")
    return int(value) if value.isdigit() else None


class S3SnapshotRecorder(AggregateRecorder):
    """Stores snapshots as S3 objects, written with If-None-Match so a version is never
    overwritten (IntegrityError instead, as the library's recorders do)."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Write each snapshot; on a conflict remove those already written by this call.

        S3 has no multi-object transaction. The application writes one snapshot per
        call, for which this is atomic; for several, the compensation keeps the
        all-or-nothing outcome except if this process dies between the writes.
        """
        check_unique(stored_events)
        written: list[str] = []
        try:
            for stored_event in stored_events:
                written.append(self._put(stored_event))
        except IntegrityError:
            self._delete(written)
            raise
        newest: dict[UUID | str, StoredEvent] = {}
        for stored_event in stored_events:
            known = newest.get(stored_event.originator_id)
            if known is None or stored_event.originator_version > known.originator_version:
                newest[stored_event.originator_id] = stored_event
        for stored_event in newest.values():
            self._advance_latest(stored_event)
        return None

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        if desc and limit == 1:  # the latest (every aggregate load asks this): one GetObject
            latest = self._get_latest(originator_id)
            if latest is None:
                return []
            version = latest.originator_version
            if (gt is None or version > gt) and (lte is None or version <= lte):
                return [latest]
            # a version older than `latest` (history), or `latest` left behind: list
        versions = self._list_versions(originator_id, gt=gt, lte=lte)
        if desc:
            versions.reverse()
        if limit is not None:
            versions = versions[:limit]
        return [self._get(originator_id, version) for version in versions]

    def _put(self, stored_event: StoredEvent) -> str:
        if stored_event.originator_version < 0:
            msg = "S3 snapshot versions must be non-negative"
            raise DataError(msg)
        key = object_key(stored_event.originator_id, stored_event.originator_version)
        with translated_errors("PutObject"):
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=stored_event.state,
                    Metadata={"topic": quote(stored_event.topic)},
                    IfNoneMatch="*",
                )
            except ClientError as error:
                if error_code(error) in _EXISTS_ERROR_CODES:
                    msg = f"Snapshot already recorded: {key}"
                    raise IntegrityError(msg) from None
                raise
        return key

    def _advance_latest(self, stored_event: StoredEvent) -> None:
        """Make `latest` a copy of `stored_event` unless it already holds a version as
        high: compare-and-swap on the ETag read, retried while other writers move it."""
        key = latest_key(stored_event.originator_id)
        for attempt in range(LATEST_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, 0.005 * attempt))  # jittered backoff: others are writing it
            current = self._head_latest(key)
            condition: dict[str, str] = {"IfNoneMatch": "*"}
            if current is not None:
                version, etag = current
                if version is None and attempt < LATEST_ATTEMPTS - 1:
                    continue  # seen before its metadata (moto shows a new object first; S3 does not): read again
                if version is not None and version >= stored_event.originator_version:
                    return
                condition = {"IfMatch": etag}
            with translated_errors("PutObject"):
                try:
                    self.client.put_object(
                        Bucket=self.bucket,
                        Key=key,
                        Body=stored_event.state,
                        Metadata={
                            "topic": quote(stored_event.topic),
                            "version": str(stored_event.originator_version),
                        },
                        **condition,  # type: ignore[arg-type]
                    )
                except ClientError as error:
                    if (
                        error_code(error) in _EXISTS_ERROR_CODES | MISSING_KEY_CODES
                    ):  # If-Match on a missing key: NoSuchKey
                        continue  # moved (or removed) since read: read again
                    raise
            return
        # Still losing after every round: others keep writing newer snapshots, and a
        # `latest` behind this version is correct anyway (module docstring).

    def _head_latest(self, key: str) -> tuple[int | None, str] | None:
        """The version (None: not readable) and ETag of `latest`, None if there is none."""
        with translated_errors("HeadObject"):
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as error:
                if error_code(error) in MISSING_KEY_CODES:
                    return None
                raise
        return _version(head["Metadata"]), head["ETag"]

    def _get_latest(self, originator_id: UUID | str) -> StoredEvent | None:
        with translated_errors("GetObject"):
            try:
                obj = self.client.get_object(Bucket=self.bucket, Key=latest_key(originator_id))
            except ClientError as error:
                if error_code(error) in MISSING_KEY_CODES:
                    return None
                raise
            state = obj["Body"].read()
        version = _version(obj["Metadata"])
        if version is None:
            return None  # not readable: as if absent, the aggregate replays its events
        return StoredEvent(
            originator_id=originator_id,
            originator_version=version,
            topic=unquote(obj["Metadata"]["topic"]),
            state=state,
        )

    def _delete(self, keys: list[str]) -> None:
        with translated_errors("DeleteObject"):
            for key in keys:
                self.client.delete_object(Bucket=self.bucket, Key=key)

    def _list_versions(self, originator_id: UUID | str, *, gt: int | None, lte: int | None) -> list[int]:
        """Versions of an aggregate's snapshots in (gt, lte], ascending."""
        params: ListObjectsV2RequestPaginateTypeDef = {
            "Bucket": self.bucket,
            "Prefix": f"{HISTORY_PREFIX}/{originator_id}/",
        }
        if gt is not None and gt >= 0:
            params["StartAfter"] = object_key(originator_id, gt)
        versions: list[int] = []
        with translated_errors("ListObjectsV2"):
            for page in self.client.get_paginator("list_objects_v2").paginate(**params):
                for obj in page.get("Contents", ()):
                    version = int(obj["Key"].rsplit("/", 1)[1])
                    if lte is not None and version > lte:
                        return versions
                    versions.append(version)
        return versions

    def _get(self, originator_id: UUID | str, version: int) -> StoredEvent:
        with translated_errors("GetObject"):
            obj = self.client.get_object(Bucket=self.bucket, Key=object_key(originator_id, version))
            state = obj["Body"].read()
        return StoredEvent(
            originator_id=originator_id,
            originator_version=version,
            topic=unquote(obj["Metadata"]["topic"]),
            state=state,
        )


def object_key(originator_id: UUID | str, version: int) -> str:
    """The S3 key of one snapshot (see the module docstring)."""
    return f"{HISTORY_PREFIX}/{originator_id}/{version:0{VERSION_DIGITS}d}"


def latest_key(originator_id: UUID | str) -> str:
    """The S3 key of the copy of an aggregate's newest snapshot."""
    return f"{LATEST_PREFIX}/{originator_id}"
