"""How the domain's typed values are stored in events: eventsourcing transcodings.

Each value is stored as its plain dict under a `_type_` name (eventsourcing's JSON
transcoder), so an event decodes back to the same frozen dataclass. Events recorded before
a value was typed hold a bare dict; the event classes upcast those (`Payment.Received`...).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from chalicelib.domain.models import CancellationCase, CreditTransfer, Original, Plain, Reason, TxOutcome, Verdict


class PlainAsDict(Transcoding):
    def __init__(self, cls: type[Plain], name: str) -> None:
        self.type = cls
        self.name = name

    def encode(self, obj: Plain) -> dict[str, Any]:
        return obj.to_dict(compact=True)  # defaults are not stored: smaller events

    def decode(self, data: dict[str, Any]) -> Plain:
        return self.type.from_dict(data)  # type: ignore[attr-defined, no-any-return]


TYPES: dict[str, type[Plain]] = {
    "credit_transfer": CreditTransfer,
    "reason": Reason,
    "verdict": Verdict,
    "tx_outcome": TxOutcome,
    "original": Original,
    "cancellation_case": CancellationCase,
}


def register(transcoder: JSONTranscoder) -> None:
    for name, cls in TYPES.items():
        transcoder.register(PlainAsDict(cls, name))
