"""Backup of the session's stack to S3, restore into a fresh stack, and the view recovered there
(`python -m chalicelib.cli recover ...`, README "Recovery")."""

from __future__ import annotations

import json
import re
from uuid import UUID

import pytest

from chalicelib.bootstrap import payments_env
from chalicelib.cli import main as cli
from chalicelib.cli import settings_of_local_stack
from chalicelib.pipeline.payments import Payments
from infra import deploy
from infra.deploy import deploy_local
from tests.e2e.conftest import E2E_SLA_SECONDS, LIQUIDITY_LIMITS
from tests.messages import fresh

pytestmark = pytest.mark.e2e

FRESH_STACK = "pacsflow-restored"


def payments_of(stack: dict) -> Payments:
    return Payments(env=payments_env(settings_of_local_stack(stack)))


def test_backup_restore_into_a_fresh_stack_and_recover_the_view(stack, api, aws_endpoint, tmp_path, capsys):
    paid = [api.pay(fresh("pacs008_bare.xml")) for _ in range(3)]
    for tx in paid:
        assert api.report(tx).status_code == 200
    versions = {tx: len(api.call("GET", f"/transactions/{tx}/events").json()["events"]) for tx in paid}
    for tx, version in versions.items():
        api.view(tx, version)
    source = tmp_path / "source.json"
    source.write_text(json.dumps(stack))
    bucket = stack["outputs"]["ArchiveBucketName"]
    backup_url = f"s3://{bucket}/backups/e2e"

    assert cli(["recover", "snapshot-view", "--local-stack", str(source)]) == 0
    late = api.pay(fresh("pacs008_bah_envelope.xml"))  # newer than the snapshot: recovered from its events
    assert api.report(late).status_code == 200
    assert cli(["recover", "backup", "--to", backup_url, "--local-stack", str(source)]) == 0
    assert "events (" in capsys.readouterr().out

    pytest.MonkeyPatch().setenv("PACSFLOW_SLA_SECONDS", E2E_SLA_SECONDS)
    # The Cognito domain prefix is global: the fresh stack needs its own. Its functions keep no
    # call log: test_least_privilege.py judges the session stack's functions only.
    parameters = {"LiquidityLimits": LIQUIDITY_LIMITS, "AuthDomainPrefix": FRESH_STACK, "CallLog": ""}
    restored = deploy_local(aws_endpoint, stack=FRESH_STACK, parameters=parameters)
    target = tmp_path / "restored.json"
    target.write_text(json.dumps(restored))
    # The events are encrypted with the source stack's key: the fresh stack gets that key first
    # (an operator's step: the key is never part of the backup).
    sm = deploy.local_session().client("secretsmanager", endpoint_url=aws_endpoint)
    key = sm.get_secret_value(SecretId=stack["outputs"]["EventCipherSecretArn"])["SecretString"]
    sm.put_secret_value(SecretId=restored["outputs"]["EventCipherSecretArn"], SecretString=key)

    events_table = restored["outputs"]["EventsTableName"]
    restore = ["recover", "restore", "--from", backup_url, "--local-stack", str(target), "--into"]
    assert cli([*restore, events_table]) == 0
    assert cli([*restore, f"{FRESH_STACK}-positions", "--table", "positions"]) == 0
    assert cli([*restore, events_table]) == 1  # not empty: refused
    assert "not empty" in capsys.readouterr().out

    before, after = payments_of(stack), payments_of(restored)
    for tx in [*paid, late]:
        assert after.get_payment(UUID(tx)).__dict__ == before.get_payment(UUID(tx)).__dict__

    snapshots = f"s3://{bucket}/view-snapshots"
    assert cli(["recover", "view", "--from", snapshots, "--apply", "--local-stack", str(target)]) == 0
    counts = re.search(r"(\d+) records from the snapshot, (\d+) with newer events, (\d+) new", capsys.readouterr().out)
    assert counts is not None and int(counts[1]) >= len(paid) and int(counts[3]) >= 1  # `late` at least
    assert cli(["rebuild", "--local-stack", str(target)]) == 0, capsys.readouterr().out
