"""Sample messages for tests: current and unique per use (see infra/examples.py)."""

from infra.examples import EVENTS, fresh, redated, unique_ids

__all__ = ["EVENTS", "fresh", "redated", "unique_ids"]
