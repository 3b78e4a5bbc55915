"""bench/inprocess.py: every step it reports is timed, /outbox apart from the rate."""

from __future__ import annotations

from bench import inprocess


def test_every_step_and_the_outbox_are_timed_and_every_report_is_fetched(monkeypatch):
    fetched = []
    real = inprocess.fetch_reports
    monkeypatch.setattr(
        inprocess, "fetch_reports", lambda p, clock: fetched.append(len(p.adapters.notifier.ids)) or real(p, clock)
    )
    result = inprocess.pipeline_rate(0.0, batch=4)
    assert len(result["rates"]) == 3 and result["payments"] == 12 and fetched == [4, 4, 4]
    assert set(result["per_step_us"]) == {*inprocess.STEPS, "outbox"}
    assert all(us > 0 for us in result["per_step_us"].values())
