"""Snapshots as S3 objects: an eventsourcing AggregateRecorder for purpose="snapshots".

Selected by the DynamoDB persistence module when SNAPSHOTS_BUCKET is set. Snapshots can
be large (a whole aggregate's state) and are read rarely, so S3 is cheaper than DynamoDB
items and not bound by the 400 KB item limit.

Object layout, one object per snapshot:

    key       snapshots/<originator id>/<originator version, zero-padded to 20 digits>
    body      the stored state (already compressed/encrypted by the mapper, if configured)
    metadata  topic (percent-encoded, since S3 metadata must be ASCII)

Zero padding makes lexicographic key order equal version order, so ListObjectsV2 lists
an aggregate's snapshots oldest first; "the latest snapshot" (select_events with
desc=True, limit=1) is the last key listed. Versions must therefore be non-negative.
"""

from __future__ import annotations

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

from chalicelib.eventstore.aws import check_unique, error_code, translated_errors

if TYPE_CHECKING:
    from uuid import UUID

    from chalicelib.aws_types import ListObjectsV2RequestPaginateTypeDef, S3Client

KEY_PREFIX = "snapshots"
VERSION_DIGITS = 20
# 412: an object exists at the key (If-None-Match: *). 409: a concurrent conditional
# write to the same key is in flight; either way another writer owns this version.
_EXISTS_ERROR_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


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

    def _delete(self, keys: list[str]) -> None:
        with translated_errors("DeleteObject"):
            for key in keys:
                self.client.delete_object(Bucket=self.bucket, Key=key)

    def _list_versions(self, originator_id: UUID | str, *, gt: int | None, lte: int | None) -> list[int]:
        """Versions of an aggregate's snapshots in (gt, lte], ascending."""
        params: ListObjectsV2RequestPaginateTypeDef = {
            "Bucket": self.bucket,
            "Prefix": f"{KEY_PREFIX}/{originator_id}/",
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
    return f"{KEY_PREFIX}/{originator_id}/{version:0{VERSION_DIGITS}d}"
