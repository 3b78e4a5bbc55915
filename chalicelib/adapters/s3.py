"""The message archive: every inbound and outbound message, content-addressed in S3.

Keys are derived from the bytes (sha256), so a retried step rewrites the very same object
and an archived message can be checked against the hash its event recorded.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.adapters.aws import client
from chalicelib.eventstore.aws import MISSING_KEY_CODES, error_code
from chalicelib.pipeline.ports import MissingObject

if TYPE_CHECKING:
    from chalicelib.aws_types import S3Client


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Archive:
    def __init__(self, bucket: str, s3: S3Client | None = None) -> None:
        self.bucket = bucket
        self.s3 = s3 or client("s3")

    @staticmethod
    def key_for(kind: str, digest: str) -> str:
        return f"{kind}/sha256/{digest[:2]}/{digest}.xml"

    def put(self, kind: str, data: bytes) -> tuple[str, str]:
        """Store `data` under its content address; return (key, sha256)."""
        digest = sha256(data)
        key = self.key_for(kind, digest)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType="application/xml",
            ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode(),
        )
        return key, digest

    def get(self, key: str) -> bytes:
        """MissingObject for a missing key (404 NoSuchKey: the role may ListBucket)."""
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as e:
            if error_code(e) in MISSING_KEY_CODES:
                raise MissingObject(key) from None
            raise

    def exists(self, key: str) -> bool:
        """HeadObject: False for a missing key (404; the role may ListBucket, so S3 does not
        answer 403 instead); throttling, a 5xx or a timeout raise."""
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as e:
            if error_code(e) in MISSING_KEY_CODES:
                return False
            raise

    def is_reachable(self) -> bool:
        self.s3.head_bucket(Bucket=self.bucket)
        return True
