"""Headline figures from the detail, and the printed table."""

from __future__ import annotations

from typing import Any

HEADLINE = "aggregate_recorder/view_per_commit"  # the deployed default, worst case of the view

TARGETS: list[tuple[str, str, str, Any]] = [
    # key, label, comparison, target
    ("requests_per_payment", "AWS requests / payment (our code, view per commit)", "<=", 16),
    ("requests_per_payment_view_per_invocation", "AWS requests / payment (view per invocation)", "<=", 16),
    ("requests_per_payment_view_once", "AWS requests / payment (view once)", "<=", 16),
    ("requests_per_payment_queue_handoff", "AWS requests / payment, steps by queue (view per invocation)", "", None),
    ("lambda_sqs_polling_per_payment", "+ Lambda SQS polling / payment (batch of 1)", "", None),
    ("lambda_sqs_polling_per_payment_queue_handoff", "+ Lambda SQS polling / payment, steps by queue", "", None),
    ("wcu_per_payment", "DynamoDB WCU / payment (default, view per commit)", "<=", 10),
    ("wcu_per_payment_view_per_invocation", "DynamoDB WCU / payment (default, view per invocation)", "<=", 10),
    ("wcu_per_payment_view_once", "DynamoDB WCU / payment (default, view once)", "<=", 10),
    ("wcu_per_payment_notification_log", "DynamoDB WCU / payment (NOTIFICATION_LOG=y)", "<=", 10),
    ("wcu_per_payment_zlib", "DynamoDB WCU / payment (default + zlib events)", "<=", 10),
    ("wcu_per_payment_zlib_view_once", "DynamoDB WCU / payment (zlib, view once)", "<=", 10),
    ("usd_per_million_payments", "USD / million payments, us-east-1 (bench/prices.json)", "", None),
    ("usd_per_million_payments_aws_guidance", "USD / million payments, AWS guidance, same model", "", None),
    ("inprocess_payments_per_s", "in-process payments/s (1 core, POPO + chain, zlib, AES)", ">=", 2500),
    ("inprocess_growing_store_per_s", "in-process payments/s per 250, one growing store", "", None),
    ("lxml_limit_per_s", "lxml parse+XSD alone /s (1 core)", "", None),
    ("inprocess_to_lxml_ratio", "in-process / lxml ratio", "", None),
    ("cold_start_import_ms", "cold start: import app from the package, ms (median of 10)", "", None),
    ("package_mb", "deployment package unzipped, MiB", "", None),
    ("export_events_per_s", "audit export events/s (moto, in process, jsonl)", "", None),
    ("export_peak_kib_growth", "audit export peak memory growth KiB, table doubled", "", None),
    ("replay_events_per_s", "view full replay events/s (1 core, zlib+AES as deployed)", "", None),
    ("replay_events_per_s_stack", "view full replay events/s (local stack, sample)", "", None),
    ("recovery_speedup_100k", "view recovery: snapshot+1% tail vs full replay, 100k events", ">=", 10),
    ("e2e_p50_s", "e2e p50 s (POST /inbox -> pacs.002 notified)", "", None),
    ("e2e_p99_s", "e2e p99 s", "", None),
    ("e2e_p99_last_over_first", "e2e long runs: p99 last / first block (worst run)", "<=", 1.5),
    ("e2e_max_rate_per_s", "e2e max rate /s with p99 <= 1 s (local stack)", "", None),
]


def cost_headlines(detail: dict[str, Any]) -> dict[str, Any]:
    d = detail[HEADLINE]
    once = detail["aggregate_recorder/view_once"]
    invocation = detail["aggregate_recorder/view_per_invocation"]
    queue = detail["queue_handoff/view_per_invocation"]
    return {
        "requests_per_payment_view_per_invocation": invocation["requests_per_payment"],
        "wcu_per_payment_view_per_invocation": invocation["wcu_per_payment"],
        "requests_per_payment_queue_handoff": queue["requests_per_payment"],
        "lambda_sqs_polling_per_payment_queue_handoff": queue["lambda_sqs_polling_per_payment"],
        "requests_per_payment": d["requests_per_payment"],
        "requests_by_service": d["requests_by_service"],
        "requests_per_payment_view_once": once["requests_per_payment"],
        "requests_by_service_view_once": once["requests_by_service"],
        "lambda_sqs_polling_per_payment": d["lambda_sqs_polling_per_payment"],
        "wcu_per_payment": d["wcu_per_payment"],
        "wcu_per_payment_view_once": once["wcu_per_payment"],
        "wcu_per_payment_notification_log": detail["notification_log/view_per_commit"]["wcu_per_payment"],
        "wcu_per_payment_notification_log_view_once": detail["notification_log/view_once"]["wcu_per_payment"],
        "requests_per_payment_notification_log": detail["notification_log/view_per_commit"]["requests_per_payment"],
        "wcu_per_payment_zlib": detail["aggregate_recorder_zlib/view_per_commit"]["wcu_per_payment"],
        "wcu_per_payment_zlib_view_once": detail["aggregate_recorder_zlib/view_once"]["wcu_per_payment"],
    }


def _met(value: Any, op: str, target: Any) -> str:
    if value is None or target is None or not op:
        return ""
    ok = value <= target if op == "<=" else value >= target
    return "yes" if ok else "NO"


def table(results: dict[str, Any]) -> str:
    rows = [("metric", "value", "target", "met?")]
    for key, label, op, target in TARGETS:
        if key not in results:
            continue
        value = results[key]
        rows.append((label, str(value), f"{op} {target}" if target is not None else "", _met(value, op, target)))
    steady = results.get("e2e_steady")
    if steady:
        rows.append(
            (
                "e2e achieved start rate /s",
                str(steady["achieved_start_rate_per_s"]),
                f"= {steady['rate_target_per_s']}",
                "",
            )
        )
        rows.append(
            (
                "e2e errors (non-2xx) / never completed",
                f"{steady['error_count']} / {steady['never_completed']}",
                "0 / 0",
                "yes" if not steady["error_count"] and not steady["never_completed"] else "NO",
            )
        )
        if steady.get("aborted_after") is not None:
            rows.append(("e2e ABORTED (stack not keeping up) after", str(steady["aborted_after"]), "", "NO"))
        rows.append(("e2e completion rate /s", str(steady["completion_rate_per_s"]), "", ""))
        rows.append(("e2e outbox sample", str(steady["outbox_sample_status"]), "all 200", ""))
    for n, long in enumerate(results.get("e2e_long_runs") or [], 1):
        rows.append(
            (
                f"long run {n}: p99 first / last block s; errors / never completed",
                f"{long['p99_first_s']} / {long['p99_last_s']}; {long['error_count']} / {long['never_completed']}",
                "0 / 0",
                "yes" if not long["error_count"] and not long["never_completed"] else "NO",
            )
        )
    for point in results.get("e2e_saturation_curve") or []:
        rows.append(
            (f"saturation {point['rate_per_s']:g}/s: p50 / p99 s", f"{point['p50_s']} / {point['p99_s']}", "", "")
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
