"""eventsourcing's in-memory (POPO) persistence that pays what a deployed commit pays
besides the network: the audit hash chain linked as chalicelib/eventstore/dynamodb.py links
it (through the same `chain.links`, with the same ChainingMapper), and the state compressed
and encrypted as `bootstrap.payments_env` configures it. The in-process bench selects it with
PERSISTENCE_MODULE=bench.chained_popo (`env()`); the DynamoDB item encoding is the one cost
left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing import popo  # not its factory by name: the module must name one factory class
from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import AggregateRecorder, StoredEvent

from chalicelib.eventstore.chain import GENESIS, ChainHeads, ChainingMapper, links


class ChainedPOPOAggregateRecorder(popo.POPOAggregateRecorder):
    """Keeps every event's (prev, hash, who) beside it, and the heads as the DynamoDB
    recorder does (a head known from the last read or write; else the stored hash, which
    DynamoDB would fetch with a GetItem)."""

    def __init__(self) -> None:
        super().__init__()
        self.heads = ChainHeads()
        self.chain: dict[tuple[str, int], tuple[str, str, str]] = {}  # (stream, version) -> (prev, hash, who)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        made = links(stored_events, str, self._hash_at)
        self._insert_events(stored_events, **kwargs)
        for k in made:
            self.chain[(k.stream, k.version)] = (k.prev, k.hash, k.who)
            self.heads.remember(k.stream, k.version, k.hash)
        return None

    def _hash_at(self, stream: str, version: int) -> str:
        if version < 1:
            return GENESIS
        known = self.heads.hash_at(stream, version)
        return known if known is not None else self.chain[(stream, version)][1]


class Factory(popo.POPOFactory):
    def mapper(self, transcoder: Any = None, mapper_class: Any = None) -> Any:
        return super().mapper(transcoder=transcoder, mapper_class=mapper_class or ChainingMapper)

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        return ChainedPOPOAggregateRecorder() if purpose == "events" else super().aggregate_recorder(purpose)


def env() -> dict[str, str]:
    """The bench's persistence: this module, zlib and AES-GCM with a fresh key (as deployed)."""
    return {
        "PERSISTENCE_MODULE": __name__,
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": AESCipher.create_key(num_bytes=32),
    }
