"""The logic of the e2e drift and saturation figures (bench/e2e.py, bench/saturation.py):
percentile blocks, first/last ratio, the stepping and stop rule. Not their speed."""

from __future__ import annotations

from typing import Any

from bench import e2e, saturation


def step(rate: float, p99: float | None, **over: Any) -> dict[str, Any]:
    base = {
        "rate_target_per_s": rate,
        "e2e_p50_s": None if p99 is None else p99 / 2,
        "e2e_p99_s": p99,
        "aborted_after": None,
        "error_count": 0,
        "never_completed": 0,
        "completion_rate_per_s": rate,
    }
    return {**base, **over}


def test_a_step_holds_only_complete_error_free_and_within_the_limit():
    assert saturation.holds(step(10, 0.4))
    assert saturation.holds(step(10, 1.0))
    assert not saturation.holds(step(10, 1.01))
    assert not saturation.holds(step(10, 0.4, aborted_after=120))
    assert not saturation.holds(step(10, 0.4, error_count=1))
    assert not saturation.holds(step(10, 0.4, never_completed=2))
    assert not saturation.holds(step(10, None))


def test_climb_stops_after_the_first_failing_step_and_reports_the_last_held_rate():
    p99 = {10.0: 0.3, 20.0: 0.5, 30.0: 2.5, 40.0: 0.2}
    ran: list[float] = []

    def run(rate: float) -> dict[str, Any]:
        ran.append(rate)
        return step(rate, p99[rate])

    result = saturation.climb(run, [40.0, 10.0, 30.0, 20.0])
    assert ran == [10.0, 20.0, 30.0]  # in increasing order; 40 never run though it would hold
    assert result["e2e_max_rate_per_s"] == 20.0
    assert [s["holds"] for s in result["steps"]] == [True, True, False]
    assert [p["rate_per_s"] for p in saturation.curve(result)] == [10.0, 20.0, 30.0]


def test_climb_reports_no_rate_when_the_first_step_fails():
    result = saturation.climb(lambda rate: step(rate, 3.0), [10.0, 20.0])
    assert result["e2e_max_rate_per_s"] is None
    assert len(result["steps"]) == 1


def test_climb_reports_the_top_rate_when_every_step_holds():
    assert saturation.climb(lambda rate: step(rate, 0.2), [10.0, 20.0])["e2e_max_rate_per_s"] == 20.0


def test_latency_blocks_follow_issue_order_and_skip_payments_that_never_completed():
    latencies = {i: float(i) for i in range(10) if i != 3}
    blocks = e2e.latency_blocks(latencies, count=10, block=4)
    assert [(b["from"], b["n"]) for b in blocks] == [(0, 3), (4, 4), (8, 2)]
    assert blocks[1]["p50_s"] in (5.0, 6.0) and blocks[1]["p99_s"] == 7.0


def test_first_last_ratio_compares_the_p99_of_the_first_and_last_blocks():
    ordered = [0.1] * 100 + [0.5] * 50 + [0.2] * 100
    drift = e2e.first_last(ordered, block=100)
    assert drift == {"p99_first_s": 0.1, "p99_last_s": 0.2, "p99_last_over_first": 2.0}


def test_first_last_needs_two_whole_blocks():
    assert e2e.first_last([0.1] * 150, block=100)["p99_last_over_first"] is None


def test_worst_ratio_is_the_max_and_an_unjudged_run_is_not_flat():
    assert e2e.worst_ratio([{"p99_last_over_first": 1.1}, {"p99_last_over_first": 1.4}]) == 1.4
    assert e2e.worst_ratio([{"p99_last_over_first": 1.1}, {"p99_last_over_first": None}]) is None
    assert e2e.worst_ratio([]) is None


def test_plot_writes_a_png(tmp_path):
    path = tmp_path / "curve.png"
    points = [{"rate_per_s": 10.0, "p50_s": 0.2, "p99_s": 0.5}, {"rate_per_s": 20.0, "p50_s": 0.4, "p99_s": 1.5}]
    saturation.plot(points, 1.0, path, "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
