"""Unit tests: each makes its own AWS clients."""

from __future__ import annotations

import pytest

from chalicelib.adapters import aws


@pytest.fixture(autouse=True)
def _clients_of_this_test():
    """The process keeps one client per service (adapters/aws.py), as a Lambda container
    should. Across unit tests that would carry a client from one test's moto mock, Region or
    endpoint into the next, whose requests then reach a backend without its tables: tests
    that passed alone failed in the suite (test_recovery after earlier moto tests)."""
    yield
    for made in (aws._client, aws._peer_client, aws.streams):
        made.cache_clear()
