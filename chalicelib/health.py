"""GET /: is this Region able to take payments? Never reveals transactions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chalicelib.bootstrap import Adapters
from chalicelib.pipeline.failover import FailoverController

log = logging.getLogger(__name__)


def _check(probe: Callable[[], Any]) -> str:
    try:
        probe()
        return "ok"
    except Exception as e:  # a health check reports, it does not fail
        log.warning("health check failed: %s", type(e).__name__)
        return "unreachable"


def region_health(a: Adapters, controller: FailoverController | None = None) -> tuple[dict[str, Any], int]:
    """This Region's checks and, with its failover controller, its view of each peer (last
    heartbeat age, consecutive failed probes, taken over or not)."""
    s = a.settings
    checks = {
        "event_store": _check(lambda: a.view.dynamodb.describe_table(TableName=s.events_table)),
        "transaction_view": _check(a.view.is_reachable),
        "archive": _check(a.archive.is_reachable),
        "incoming_queue": _check(a.incoming.is_reachable),
        "processing_queue": _check(a.processing.is_reachable),
        "releasing_queue": _check(a.releasing.is_reachable),
    }
    healthy = all(v == "ok" for v in checks.values())
    body: dict[str, Any] = {
        "region_id": s.region_id,
        "stage": s.stage,
        "status": "ok" if healthy else "degraded",
        "checks": checks,
    }
    if controller is not None:
        try:
            body["taken_over"] = controller.failover.regions.is_taken_over(s.region_id)
            body["peers"] = [p._asdict() for p in controller.view()]
        except Exception as e:  # a health check reports, it does not fail
            log.warning("peer view failed: %s", type(e).__name__)
            body["peers"] = "unreachable"
    return body, 200 if healthy else 503
