"""bench/dollars.py: dollars per million payments from a hand-made costs detail, each line
recomputed here from bench/prices.json; prices.json dated and sourced; nothing unpriced."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench import dollars, wcu

PRICES = dollars.load_prices()
P, M = PRICES["services"], PRICES["model"]
GB = 1024**3
MEMORY = 512


def write(table: str, stored: int, index_stored: dict | None = None, lives_s: float | None = None) -> dict:
    """One entry of bench/costs.py's writes_of_last_payment (what bench/wcu.py's Charge says)."""
    return {
        "table": table,
        "op": "Put",
        "size_bytes": stored,
        "index_wcu": dict.fromkeys(index_stored or {}, 1),
        "failed": False,
        "stored_bytes": stored,
        "index_stored_bytes": index_stored or {},
        "lives_s": lives_s,
    }


def detail_mode(scale: float = 1.0) -> dict:
    """One configuration as bench/costs.py summarises it, every count times `scale`."""
    return {
        "requests_by_step": {
            "issue (GET /uuid)": {"dynamodb:PutItem": 1 * scale, "sqs:SendMessage": 1 * scale},
            "incoming": {"dynamodb:Query": 1 * scale, "s3:PutObject": 1 * scale},
            "view follower": {"dynamodb:Query": 2 * scale, "s3:PutObject": 2 * scale},
            "outbox (POST /outbox)": {"s3:GetObject": 1 * scale},
        },
        "wcu_per_payment": 3 * scale,
        "rcu_per_payment": 2 * scale,
        "sqs_billed_requests_per_payment": {"fifo": 3 * scale, "standard": 1 * scale},
        "s3_bytes_put_per_payment": {"archive": 3000, "digests": 1000},
        "lambda_sqs_polling_detail": {"ReceiveMessage": 1, "DeleteMessage": 1},
        "writes_of_last_payment": [
            write("events_table", 500),
            write("transactions_table", 200, index_stored={"by_pending": 60}),
            write("transactions_table", 700, index_stored={"by_uetr": 90}),
        ],
    }


TIMES = {"issue": 100.0, "incoming": 300.0}  # microseconds, as bench/inprocess.py reports them


def priced(mode: dict, memory: int = MEMORY) -> dict:
    return dollars.price(dollars.usage_of_mode(mode, dollars.step_us(TIMES), memory, PRICES), PRICES)


def test_each_line_is_the_usage_times_its_price() -> None:
    lines = priced(detail_mode())["by_line"]
    io = M["io_ms"]
    assert lines["dynamodb writes"] == pytest.approx(3 * P["dynamodb"]["write_request_unit_per_million"], abs=1e-3)
    assert lines["dynamodb reads"] == pytest.approx(2 * P["dynamodb"]["read_request_unit_per_million"], abs=1e-3)
    sqs = 3 * P["sqs"]["fifo_requests_per_million"] + 1 * P["sqs"]["standard_requests_per_million"]
    assert lines["sqs requests"] == pytest.approx(sqs, abs=1e-3)
    s3 = 3 * P["s3"]["put_per_thousand"] * 1000 + 1 * P["s3"]["get_per_thousand"] * 1000
    assert lines["s3 requests"] == pytest.approx(s3, abs=1e-3)
    # invocations: GET /uuid, incoming, two follower batches (two digests), POST /outbox
    assert lines["lambda requests"] == pytest.approx(5 * P["lambda"]["requests_per_million"], abs=1e-3)
    cpu_us = 100 + 300 + 2 * dollars.DEFAULT_STEP_US["view follower"] + dollars.DEFAULT_STEP_US["outbox"]
    io_ms = 1 * io["dynamodb:write"] + 1 * io["sqs"] + 3 * io["dynamodb:read"] + 3 * io["s3:put"] + 1 * io["s3:get"]
    gb_s = MEMORY / 1024 * (cpu_us / 1e6 * M["cpu_full_vcpu_mb"] / MEMORY + io_ms / 1000)
    assert lines["lambda duration"] == pytest.approx(gb_s * 1e6 * P["lambda"]["gb_second_x86_64"], abs=1e-3)
    assert lines["apigateway requests"] == pytest.approx(2 * P["apigateway"]["rest_requests_per_million"], abs=1e-3)
    # the event; the view's last version and the one index entry it left (not by_pending's, gone)
    dynamodb_bytes = (500 + 100) + (700 + 100) + (90 + 100)
    assert lines["dynamodb storage"] == pytest.approx(
        dynamodb_bytes * 1e6 / GB * P["dynamodb"]["storage_gb_month"] * M["storage_months"], abs=1e-3
    )
    assert lines["s3 storage"] == pytest.approx(
        4000 * 1e6 / GB * P["s3"]["storage_gb_month"] * M["storage_months"], abs=1e-3
    )


def test_an_item_with_a_time_to_live_is_stored_for_its_share_of_the_months() -> None:
    months = M["storage_months"]
    period = months * 30.4375 * 86400
    claim = 30 * 86400  # the duplicate window
    writes = [write("events_table", 400), write("events_table", 200, lives_s=claim)]
    share = (claim + dollars.TTL_DELETION_LAG_S) / period
    assert dollars.dynamodb_stored_bytes(writes, 100, months) == pytest.approx(500 + 300 * share)
    forever = [write("events_table", 400), write("events_table", 200, lives_s=10 * period)]
    assert dollars.dynamodb_stored_bytes(forever, 100, months) == pytest.approx(500 + 300)


def test_the_cost_meter_says_what_each_write_leaves_stored() -> None:
    events = wcu.TableSpec("events", ("pk", "sk"), ttl_attribute="expires_at")
    view = wcu.TableSpec("view", ("id",), (wcu.Index("by_pending", ("pending",), "KEYS_ONLY"),))
    model = wcu.TableModel([events, view])
    claim = model.put("events", {"pk": {"S": "$claim#x"}, "sk": {"N": "0"}, "expires_at": {"N": "4102444800"}})
    assert claim.stored == wcu.item_size({"pk": {"S": "$claim#x"}, "sk": {"N": "0"}, "expires_at": {"N": "4102444800"}})
    assert claim.lives_s is not None and claim.lives_s > 0
    event = model.put("events", {"pk": {"S": "t"}, "sk": {"N": "1"}})
    assert event.lives_s is None
    pending = model.put("view", {"id": {"S": "t"}, "pending": {"S": "p01"}})
    assert pending.index_stored == {"by_pending": wcu.item_size({"id": {"S": "t"}, "pending": {"S": "p01"}})}
    released = model.put("view", {"id": {"S": "t"}, "status": {"S": "ACSC"}})
    assert released.index_stored == {} and released.index == {"by_pending": pending.index["by_pending"]}


def test_the_total_is_the_sum_of_the_services() -> None:
    result = priced(detail_mode())
    assert result["total"] == pytest.approx(sum(result["by_line"].values()), abs=0.01)
    assert result["total"] == pytest.approx(sum(result["by_service"].values()), abs=0.05)


def test_doubling_the_requests_doubles_the_request_lines_and_leaves_storage() -> None:
    once, twice = priced(detail_mode(1))["by_line"], priced(detail_mode(2))["by_line"]
    for line in ("dynamodb writes", "dynamodb reads", "sqs requests", "s3 requests", "sns publish"):
        assert twice[line] == pytest.approx(2 * once[line], abs=2e-3), line
    for line in ("dynamodb storage", "s3 storage", "apigateway requests", "cognito tokens"):
        assert twice[line] == once[line], line


def test_a_smaller_function_pays_the_same_cpu_but_less_waiting() -> None:
    """Below a full vCPU, CPU time stretches as memory shrinks (GB-s of CPU unchanged); the
    wait for requests does not, so it costs in proportion to memory."""
    big, small = priced(detail_mode(), 1024)["usage_per_payment"], priced(detail_mode(), 128)["usage_per_payment"]
    assert small["cpu_ms_stretched"] == pytest.approx(big["cpu_ms_stretched"] * 1024 / 128, rel=1e-3)
    assert small["lambda_gb_s"] < big["lambda_gb_s"]


@pytest.mark.parametrize(
    ("step", "call"),
    [
        ("incoming", "kms:Decrypt"),
        ("incoming", "sts:AssumeRole"),
        ("incoming", "s3:DeleteObject"),
        ("releasing", "sns:PublishBatch"),
    ],
)
def test_a_service_or_operation_without_a_price_fails_loudly(step: str, call: str) -> None:
    mode = detail_mode()
    mode["requests_by_step"].setdefault(step, {})[call] = 1
    with pytest.raises(dollars.UnpricedError, match=call.split(":")[0]):
        priced(mode)


def test_sqs_requests_without_their_queue_kind_fail_loudly() -> None:
    mode = detail_mode()
    mode["sqs_billed_requests_per_payment"] = {}
    with pytest.raises(dollars.UnpricedError, match="SQS"):
        priced(mode)


def test_every_request_the_committed_costs_detail_reports_has_a_price() -> None:
    results = json.loads((Path(dollars.HERE) / "results.json").read_text())
    seen = set()
    for mode in results["costs_detail"].values():
        for ops in mode.get("requests_by_step", {}).values():
            for key in ops:
                service, operation = key.split(":", 1)
                assert dollars.io_class(service, operation, PRICES) in M["io_ms"]
                seen.add(service)
    assert seen <= {"dynamodb", "sqs", "sns", "s3"}
    assert seen


def test_modes_are_selected_by_key_and_the_headline_is_one_of_them() -> None:
    detail = {
        "a/view_per_commit": detail_mode(1),
        "a/view_once": detail_mode(2),
        "b/new_mode": detail_mode(3),
        "a/commit_stats": {"commits": 3, "retries": 0},
    }
    out = dollars.breakdown(detail, TIMES, PRICES, MEMORY, "a/view_once")
    modes = out["usd_breakdown"]["modes"]
    assert set(modes) == {"a/view_per_commit", "a/view_once", "b/new_mode"}
    assert out["usd_per_million_payments"] == modes["a/view_once"]["total"]
    assert modes["a/view_per_commit"]["total"] < modes["a/view_once"]["total"] < modes["b/new_mode"]["total"]
    assert out["usd_breakdown"]["step_us_source"] == "bench/inprocess.py"
    assert dollars.breakdown(detail, None, PRICES, MEMORY, "a/view_once")["usd_breakdown"]["step_us_source"].startswith(
        "stated"
    )


def test_the_guidance_is_24_requests_8_write_units_and_128_mb() -> None:
    out = dollars.breakdown({"h": detail_mode()}, TIMES, PRICES, MEMORY, "h")
    usage = out["usd_breakdown"]["aws_guidance"]["usage_per_payment"]
    assert sum(n for ops in usage["requests"].values() for n in ops.values()) >= 24
    assert usage["wcu"] >= 8
    assert usage["lambda_memory_mb"] == 128
    # its polling and archive bytes are ours
    assert usage["sqs_billed"] == {"fifo": 5 + 2}
    assert usage["s3_bytes"] == 3000
    assert out["usd_per_million_payments_aws_guidance"] == out["usd_breakdown"]["aws_guidance"]["total"]


def test_measured_times_override_the_stated_ones() -> None:
    times = dollars.step_us({"processing": 1.5, "outbox": 250.0})
    assert times["processing"] == 1.5 and times["outbox (POST /outbox)"] == 250.0
    assert times["releasing"] == dollars.DEFAULT_STEP_US["releasing"]
    assert set(times) == {*dollars.API_STEPS, *dollars.QUEUE_STEPS, dollars.FOLLOWER}


def test_previous_step_times_come_from_this_run_then_the_last_file(tmp_path: Path) -> None:
    last = tmp_path / "results.json"
    assert dollars.previous_step_us({}, last) is None
    last.write_text(json.dumps({"inprocess_detail": {"per_step_us": {"issue": 9.0}}}))
    assert dollars.previous_step_us({}, last) == {"issue": 9.0}
    assert dollars.previous_step_us({"inprocess_detail": {"per_step_us": {"issue": 1.0}}}, last) == {"issue": 1.0}


def test_prices_are_dated_for_one_region_with_sources() -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", PRICES["as_of"])
    assert PRICES["region"] == "us-east-1"
    for name, service in P.items():
        assert service["sources"], name
        assert all(url.startswith("https://") for url in service["sources"]), name
        assert isinstance(service["confirmed"], bool), name
    assert P["lambda"]["architecture"] in ("x86_64", "arm64")


def test_the_priced_memory_is_the_functions() -> None:
    config = json.loads(dollars.CHALICE_CONFIG.read_text())
    assert dollars.function_memory_mb() == config["lambda_memory_size"]


@pytest.mark.parametrize(
    ("size", "consistent", "units"),
    [(0, True, 1.0), (4096, True, 1.0), (4097, True, 2.0), (4097, False, 1.0), (100, False, 0.5)],
)
def test_read_units(size: int, consistent: bool, units: float) -> None:
    assert wcu.read_units(size, consistent) == units


def test_the_costs_meter_counts_read_units_queue_kinds_and_bytes_put() -> None:
    """bench/costs.py's UsageMeter on stubbed clients: a projected GetItem is billed on the
    whole item the run wrote; a Query on the items it returned; SQS by queue kind; S3 bytes."""
    import io

    import boto3
    from botocore.stub import Stubber

    from bench import costs

    table = "bench-abc123-events_table"
    model = wcu.TableModel([wcu.TableSpec(table, ("pk", "sk"))])
    whole = {"pk": {"S": "t"}, "sk": {"N": "1"}, "state": {"B": b"x" * 5000}}
    model.put(table, whole)
    meter = costs.Meter(model)
    meter.step = "incoming"
    session = boto3.session.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1")
    ddb, sqs, s3 = (session.client(name) for name in ("dynamodb", "sqs", "s3"))
    for client in (ddb, sqs, s3):
        meter.attach(client)
    with Stubber(ddb) as d, Stubber(sqs) as q, Stubber(s3) as b:
        d.add_response("get_item", {"Item": {"pk": {"S": "t"}, "sk": {"N": "1"}}})
        ddb.get_item(
            TableName=table, Key={"pk": {"S": "t"}, "sk": {"N": "1"}}, ConsistentRead=True, ProjectionExpression="pk"
        )
        d.add_response("query", {"Items": [{"pk": {"S": "u"}, "sk": {"N": "1"}}]})
        ddb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "u"}})
        q.add_response("send_message", {"MessageId": "m", "MD5OfMessageBody": "0" * 32})
        sqs.send_message(QueueUrl="https://q/1/bench-abc123-incoming.fifo", MessageBody="x" * (64 * 1024 + 1))
        q.add_response("send_message", {"MessageId": "m", "MD5OfMessageBody": "0" * 32})
        sqs.send_message(QueueUrl="https://q/1/bench-abc123-deadlines", MessageBody="{}")
        b.add_response("put_object", {})
        s3.put_object(Bucket="bench-abc123-archive", Key="k", Body=io.BytesIO(b"0123456789"))
    meter.detach()
    summary = meter.usage.summary(1)
    assert summary["rcu_by_step"] == {"incoming": 2.0 + 0.5}  # 5 KB strongly consistent; one small item, eventually
    assert summary["sqs_billed_requests_per_payment"] == {"fifo": 2, "standard": 1}  # 64 KB + 1 byte is two chunks
    assert summary["s3_bytes_put_per_payment"] == {"archive": 10}
