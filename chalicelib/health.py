"""GET /: is this Region able to take payments? Never reveals transactions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.dynamodb import TransactionView
from chalicelib.adapters.settings import Settings
from chalicelib.pipeline.service import Pipeline

log = logging.getLogger(__name__)


def _check(probe: Callable[[], Any]) -> str:
    try:
        probe()
        return "ok"
    except Exception as e:  # a health check reports, it does not fail
        log.warning("health check failed: %s", type(e).__name__)
        return "unreachable"


def region_health(s: Settings, pipeline: Pipeline, view: TransactionView) -> tuple[dict[str, Any], int]:
    checks = {
        "event_store": _check(lambda: view.dynamodb.describe_table(TableName=s.events_table)),
        "transaction_view": _check(view.is_reachable),
        "archive": _check(pipeline.archive.is_reachable),
        "incoming_queue": _check(pipeline.incoming.is_reachable),
        "processing_queue": _check(pipeline.processing.is_reachable),
        "releasing_queue": _check(pipeline.releasing.is_reachable),
    }
    healthy = all(v == "ok" for v in checks.values())
    body = {"region_id": s.region_id, "stage": s.stage, "status": "ok" if healthy else "degraded", "checks": checks}
    return body, 200 if healthy else 503
