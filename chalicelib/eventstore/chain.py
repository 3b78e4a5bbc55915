"""Tamper evidence stored at append: every event item links to its predecessor's hash.

An event item of an aggregate's stream carries, besides its state:

    prev   the ``hash`` of the event before it in the stream (``GENESIS`` for version 1)
    hash   sha256 over the canonical encoding of (originator id, version, topic,
           sha256 of the state *before* compression and encryption, prev, who)

(``prev`` and ``hash`` are stored as 32-byte binary values since issue 12, hex strings
before: 64 bytes less per item, which keeps an Accepted event within one write unit; the
hash is computed over the hex form either way, so `stored_hash` reads both.)
    who    JSON of the acting client, request id, Region and step (``Actor``)

Hashing the plaintext (the transcoder's bytes) rather than the stored bytes keeps the chain
valid when the state is re-encrypted under another key; `plaintext` undoes the mapper's
cipher and compressor to check it. The chain alone shows a changed, swapped or inserted
event; a removed *last* event or a removed stream leaves a shorter chain that is still
sound, which is what the digests (chalicelib/eventstore/digests.py) are for.

The acting context (`Actor`) is a context variable set by the API handler and the step
handlers (chalicelib/observability.py), so the domain commands stay as they are: every event
of every aggregate recorded by this persistence module gets it, whatever its class.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from chalicelib.eventstore.newest import Newest

GENESIS = "0" * 64


def hash_attribute(hex_digest: str) -> dict[str, Any]:
    """A hash as stored in an event item: 32 bytes (an empty one, of a predecessor written
    before the chain, as an empty string)."""
    return {"B": bytes.fromhex(hex_digest)} if hex_digest else {"S": ""}


def stored_hash(attribute: Mapping[str, Any] | None) -> str | None:
    """The hex form of a stored `prev` or `hash` (binary: bytes from boto3, base64 text in a
    Lambda event's stream image; or a hex string as written before issue 12); None when the
    item has none."""
    if not attribute:
        return None
    if "B" in attribute:
        value = attribute["B"]
        return (base64.b64decode(value, validate=True) if isinstance(value, str) else bytes(value)).hex()
    return str(attribute.get("S", ""))


CHAIN_VERSION = "pacsflow-chain-v1"

# What json.dumps(..., separators=(",", ":"), ensure_ascii=True) writes, without building an
# encoder per call as dumps does when given options (twice per commit: `who` and its hash).
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)
_SORTED_COMPACT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@dataclass(frozen=True)
class Actor:
    """Who did what: the acting client (its client id; the tenant owns the payment), the request,
    the Region and the step."""

    client: str = ""
    request_id: str = ""
    region: str = ""
    step: str = ""

    def to_json(self) -> str:
        # vars(), not asdict(): the fields are strings, and asdict's deep copy is most of the cost
        return _SORTED_COMPACT.encode(vars(self))

    @classmethod
    def from_json(cls, text: str) -> Actor:
        data = json.loads(text) if text else {}
        return cls(**{k: str(v) for k, v in data.items() if k in cls.__dataclass_fields__})


_actor: ContextVar[Actor] = ContextVar("pacsflow_actor", default=Actor())  # noqa: B039  # immutable default


def current_actor() -> Actor:
    return _actor.get()


def set_actor(**changes: str | None) -> None:
    """Update the acting context of this thread / task (unknown values left as they are)."""
    _actor.set(replace(_actor.get(), **{k: v for k, v in changes.items() if v is not None}))


@contextmanager
def acting(**changes: str | None) -> Iterator[Actor]:
    token = _actor.set(replace(_actor.get(), **{k: v for k, v in changes.items() if v is not None}))
    try:
        yield _actor.get()
    finally:
        _actor.reset(token)


@dataclass(frozen=True)
class ChainedStoredEvent(StoredEvent):
    """A stored event that knows the sha256 of its state before compression and encryption."""

    plain_sha256: str = ""


class ChainingMapper(Mapper[Any]):
    """eventsourcing's Mapper, also handing the recorder the digest of the plaintext state."""

    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        """As eventsourcing's Mapper.to_stored_event (9.5), hashing the transcoded state
        before it is compressed and encrypted (rather than undoing both to hash it)."""
        event_state = dict(vars(domain_event))
        originator_id = event_state.pop("originator_id")
        originator_version = event_state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        plain = state = self.transcoder.encode(event_state)
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return ChainedStoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=state,
            plain_sha256=hashlib.sha256(plain).hexdigest(),
        )


def plaintext(mapper: Mapper[Any] | None, state: bytes) -> bytes:
    """The transcoder's bytes of a stored state: decrypted, then decompressed."""
    if mapper is not None and mapper.cipher:
        state = mapper.cipher.decrypt(state)
    if mapper is not None and mapper.compressor:
        state = mapper.compressor.decompress(state)
    return state


def plain_sha256_of(stored_event: StoredEvent) -> str:
    """From the chaining mapper; else the state as given is the plaintext (no cipher)."""
    given = getattr(stored_event, "plain_sha256", "")
    return given or hashlib.sha256(stored_event.state).hexdigest()


def event_hash(originator_id: str, version: int, topic: str, plain_sha256: str, prev: str, who: str) -> str:
    """sha256 (hex) over the canonical encoding of one event's link (JSON array, no spaces)."""
    canonical = _CANONICAL.encode([CHAIN_VERSION, originator_id, version, topic, plain_sha256, prev, who])
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Link:
    """One event's chain attributes (stored as ``prev``, ``hash``, ``who``)."""

    stream: str
    version: int
    prev: str
    hash: str
    who: str


def links(
    stored_events: Sequence[StoredEvent], stream_of: Callable[[Any], str], hash_at: Callable[[str, int], str]
) -> list[Link]:
    """The links of the events of one commit, in order: the predecessor's hash is the event
    before it in this commit, else `hash_at(stream, version - 1)` (which gives GENESIS for
    version 0). Every recorder that keeps the chain (DynamoDB, the bench's in-memory one)
    links through here, so the chain has one definition."""
    who = current_actor().to_json()
    made: dict[tuple[str, int], str] = {}
    out = []
    for e in stored_events:
        stream = stream_of(e.originator_id)
        version = e.originator_version
        prev = made.get((stream, version - 1)) or hash_at(stream, version - 1)
        digest = event_hash(stream, version, e.topic, plain_sha256_of(e), prev, who)
        made[(stream, version)] = digest
        out.append(Link(stream, version, prev, digest, who))
    return out


class ChainHeads(Newest[str]):
    """The last (version, hash) seen of each stream, as read or written by this process.

    The unit of work reads the aggregate before every command, so the head is known when
    the next event is appended: no extra read. Bounded (least recently used out); a miss
    costs one GetItem of the predecessor's hash. An entry is a fact (a recorded event's
    hash never changes), so a stale entry is only ever of a lower version, never wrong.
    """

    def hash_at(self, stream: str, version: int) -> str | None:
        known = self.newest(stream)
        return known[1] if known is not None and known[0] == version else None
