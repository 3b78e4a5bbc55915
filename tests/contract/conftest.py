"""Contract-test fixtures: hand the session's MiniStack endpoint to unittest-style cases.

eventsourcing's recorder test cases are unittest TestCases, which cannot take fixture
arguments; this autouse fixture sets the endpoint as a class attribute instead.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _endpoint_for_unittest_cases(request: pytest.FixtureRequest, aws_endpoint: str) -> None:
    if request.cls is not None:
        request.cls.endpoint_url = aws_endpoint
