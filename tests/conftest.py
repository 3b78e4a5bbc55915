"""Shared fixtures: a MiniStack of the test session's own, on a free loopback port; each test
starts with the actor it found (a route called in process sets who acts, for the request)."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest

from chalicelib.eventstore.chain import acting
from infra import ministack

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SAMPLES = SHARED / "iso20022" / "samples"


@pytest.fixture(autouse=True)
def _actor_restored():
    """The acting client, Region and step of a route called in process stay with the test that
    called it (on Lambda each request sets its own): later tests record as no one."""
    with acting():
        yield


@pytest.fixture(scope="session")
def aws_endpoint(tmp_path_factory):
    """Endpoint URL of a MiniStack started for this test session (or PACSFLOW_TEST_ENDPOINT)."""
    given = os.environ.get("PACSFLOW_TEST_ENDPOINT")
    for k, v in ministack.CREDENTIALS.items():
        os.environ.setdefault(k, v)
    os.environ.setdefault("AWS_DEFAULT_REGION", ministack.REGION)
    if given:
        yield given
        return
    port = ministack.free_port()
    state = tmp_path_factory.mktemp("ministack")
    proc = ministack.start(port, state / "ministack.log", state_dir=state)
    try:
        yield ministack.endpoint(port)
    finally:
        ministack.stop(proc.pid)


@pytest.fixture(scope="session")
def boto_session(aws_endpoint):
    return boto3.session.Session(
        region_name=ministack.REGION,
        aws_access_key_id=ministack.CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=ministack.CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="session")
def samples_dir():
    if not SAMPLES.is_dir():
        pytest.skip("../shared/iso20022/samples is absent")
    return SAMPLES
