"""The newest (version, value) seen of each key, bounded: least recently used out.

What the event store's readers keep between calls in a process: the chain's last hash of each
stream (chain.py `ChainHeads`), the view follower's last record of each transaction
(projections/follower.py `RecentRecords`). An entry is a fact about an immutable stream up
to its version, so a stale entry is only ever of a lower version, never wrong. Thread-safe:
a batch runs its messages in threads.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Lock
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass
class Newest(Generic[V]):
    capacity: int = 10_000
    _entries: OrderedDict[str, tuple[int, V]] = field(default_factory=OrderedDict)
    _lock: Lock = field(default_factory=Lock, repr=False)

    def remember(self, key: str, version: int, value: V) -> None:
        """Keep `value` unless a newer version of `key` is kept already."""
        with self._lock:
            known = self._entries.get(key)
            if known is None or known[0] <= version:
                self._entries[key] = (version, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def newest(self, key: str) -> tuple[int, V] | None:
        with self._lock:
            known = self._entries.get(key)
            if known is not None:
                self._entries.move_to_end(key)
            return known
