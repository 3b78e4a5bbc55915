"""The peer Regions' replicas: is a write of ours readable there yet? (docs/multi-region.md §5)

The events table is a global table with the same name in every Region; each archive bucket
is replicated to every peer's bucket by S3 cross-Region replication. A `strong` write asks
each peer directly: `GetItem(ConsistentRead=True)` on the peer's replica for each event key,
`HeadObject` on the peer's archive bucket for each archive key, polling with back-off until
the deadline. Under MREC a consistent read is consistent with that replica only, which is
exactly the question: can a client (or a takeover) in that Region read the write?

A peer that errors (down, throttled, denied) is simply not confirmed on that poll: a strong
write then times out into 503 NOT_YET_REPLICATED, which is the truth from here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws import peer_client
from chalicelib.eventstore.aws import MISSING_KEY_CODES, error_code
from chalicelib.pipeline.ports import EventKey, Replicated

if TYPE_CHECKING:
    from chalicelib.aws_types import DynamoDBClient, S3Client

log = logging.getLogger(__name__)

FIRST_DELAY_S = 0.05
MAX_DELAY_S = 0.5


@dataclass(frozen=True)
class _Item:
    kind: Literal["event", "object"]
    key: str  # the event's pk, or the object's key
    version: int = 0  # the event's sk


class PeerReplicas:
    def __init__(
        self,
        events_table: str,
        peers: Sequence[str],
        archive_buckets: Mapping[str, str],
        *,
        dynamodb: Callable[[str], DynamoDBClient] = lambda region: peer_client("dynamodb", region),
        s3: Callable[[str], S3Client] = lambda region: peer_client("s3", region),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.events_table = events_table
        self._peers = tuple(peers)
        self.archive_buckets = dict(archive_buckets)
        self.dynamodb = dynamodb
        self.s3 = s3
        self.clock = clock
        self.sleep = sleep
        self._warned: set[tuple[str, str]] = set()

    @property
    def peers(self) -> tuple[str, ...]:
        return self._peers

    def confirm(self, event_keys: Sequence[EventKey], archive_keys: Sequence[str], deadline: float) -> Replicated:
        wanted = {_Item("event", pk, sk) for pk, sk in event_keys} | {_Item("object", key) for key in archive_keys}
        pending = {peer: set(wanted) for peer in self._peers}
        self._warned.clear()  # each peer's each error is said once per confirm
        delay = FIRST_DELAY_S
        while True:
            for peer, items in pending.items():
                items -= {item for item in items if self._readable(peer, item)}
            if not any(pending.values()) or self.clock() >= deadline:
                break
            self.sleep(max(0.0, min(delay, deadline - self.clock())))
            delay = min(delay * 2, MAX_DELAY_S)
        return Replicated(
            replicated_to=tuple(p for p in self._peers if not pending[p]),
            missing=tuple(p for p in self._peers if pending[p]),
        )

    def _readable(self, peer: str, item: _Item) -> bool:
        kind, key = item.kind, item.key
        try:
            if kind == "event":
                found = self.dynamodb(peer).get_item(
                    TableName=self.events_table,
                    Key={"pk": {"S": key}, "sk": {"N": str(item.version)}},
                    ConsistentRead=True,
                    ProjectionExpression="pk",
                )
                return "Item" in found
            bucket = self.archive_buckets.get(peer)
            if bucket is None:  # a deployment error (PACSFLOW_PEER_ARCHIVE_BUCKETS): never confirmed
                self._warn(peer, "no archive bucket configured")
                return False
            self.s3(peer).head_object(Bucket=bucket, Key=key)
            return True
        except ClientError as e:
            # Without s3:ListBucket on the peer bucket, S3 answers a missing key 403, not 404.
            code = error_code(e)
            if code not in MISSING_KEY_CODES:
                self._warn(peer, f"{code} on {kind}")
            return False
        except BotoCoreError as e:  # unreachable, timed out
            self._warn(peer, f"unreachable: {type(e).__name__}")
            return False

    def _warn(self, peer: str, what: str) -> None:
        if (peer, what) not in self._warned:
            self._warned.add((peer, what))
            log.warning("peer Region %s: %s", peer, what)
