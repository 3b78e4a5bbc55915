"""A payment's immutable history as the API shows it: type, version, time, data, hash.

`hash` chains each event to its predecessor: sha256 over the previous hash and the
event's canonical JSON, so an auditor can recompute the chain from the exported list.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

_ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def describe(events: Iterable[Any]) -> list[dict[str, Any]]:
    history = []
    previous = ""
    for event in events:
        data = {k: v for k, v in vars(event).items() if k not in _ENVELOPE}
        entry = {
            "type": type(event).__name__,
            "version": event.originator_version,
            "timestamp": event.timestamp.isoformat(),
            "data": json.loads(_canonical(data)),
        }
        digest = hashlib.sha256((previous + _canonical(entry)).encode()).hexdigest()
        entry["previous_hash"] = previous or None
        entry["hash"] = digest
        history.append(entry)
        previous = digest
    return history
