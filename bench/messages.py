"""The sample pacs.008 messages of events/, made current and unique per payment
(infra/examples.py: today's dates, identifiers of their own), so every payment settles."""

from __future__ import annotations

from infra.examples import fresh as _fresh

NAMES = ("pacs008_bare.xml", "pacs008_bah_envelope.xml")


def fresh(i: int) -> bytes:
    """A current, unique message for payment i (bare and enveloped alternately)."""
    return _fresh(NAMES[i % 2])
