"""Plots (PNG, three panels, budget line) and the forecast. `gtlabel job watch`: tests/cli/test_cli_monitor.py."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from monitor_helpers import FakeClock, counters, describe, per_object_cost, stubbed_sagemaker
from PIL import Image

from gtlabel.monitor import Counters, forecast, labeling_rate, watch_labeling_job
from gtlabel.monitor.costs import projected_counters


def _summary():  # type: ignore[no-untyped-def]
    client, stub = stubbed_sagemaker()
    for n in (0, 2, 5, 9, 12, 16, 20):
        st = "Completed" if n == 20 else "InProgress"
        stub.add_response("describe_labeling_job", describe("plot-job", st, counters(n, 20 - n, machine=n // 4)))
    clock = FakeClock()
    with stub:
        return watch_labeling_job("plot-job", sm_client=client, progress=False, cost_fn=per_object_cost(0.25),
                                  budget_usd=4.0, stall_after_seconds=0, poll_seconds=60, max_poll_seconds=60,
                                  clock=clock, sleep=clock.sleep)


def test_plot_png_has_three_panels_and_budget_line(tmp_path: Path) -> None:
    s = _summary()
    out = tmp_path / "watch.png"
    fig = s.plot(str(out), show=False)
    img = Image.open(io.BytesIO(out.read_bytes()))
    assert img.format == "PNG" and img.size == (900, 800)
    ax_counts, ax_rate, ax_cost = fig.axes
    assert [ln.get_label() for ln in ax_counts.get_lines()] == ["labeled", "human", "machine", "failed", "unlabeled"]
    assert list(ax_counts.get_lines()[0].get_ydata()) == [0, 2, 5, 9, 12, 16, 20]
    assert list(ax_rate.get_lines()[0].get_ydata()) == [2.0, 3.0, 4.0, 3.0, 4.0, 4.0]  # objects per minute
    labels = [ln.get_label() for ln in ax_cost.get_lines()]
    assert "cost so far" in labels and "budget $4.00" in labels
    budget_line = ax_cost.get_lines()[labels.index("budget $4.00")]
    assert set(budget_line.get_ydata()) == {4.0}
    assert len(s.alerts) == 3  # $5 spent of $4: 50/80/100 %, marked on the cost panel
    assert [t.get_text() for t in ax_cost.texts] == ["50%", "80%", "100%"]


def test_plot_to_s3(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    _summary().plot(f"s3://{bucket}/plots/watch.png", show=False)
    head = s3.head_object(Bucket=bucket, Key="plots/watch.png")
    assert head["ContentType"] == "image/png" and head["ContentLength"] > 10_000


def test_forecast_eta_and_projected_cost() -> None:
    s = _summary()
    tl = s.timeline[:4]  # 0, 2, 5, 9 labeled at t = 0, 60, 120, 180
    assert labeling_rate(tl) == pytest.approx(9 / 180)
    f = forecast(tl, describe("plot-job", "InProgress", counters(9, 11, machine=2)), per_object_cost(0.25),
                 budget_usd=4.0)
    assert f is not None and f.remaining == 11
    assert f.eta_seconds == pytest.approx(11 / (9 / 180))
    assert f.projected_cost_usd == pytest.approx(5.0) and f.projected_over_budget
    assert labeling_rate(tl, window_seconds=60) == pytest.approx(4 / 60)  # recent window only
    # no movement: no honest ETA
    flat = [s.timeline[1], s.timeline[1]]
    assert forecast(flat) is not None and forecast(flat).eta_seconds is None  # type: ignore[union-attr]


def test_projected_counters_keep_the_machine_share() -> None:
    p = projected_counters(Counters(total_labeled=10, human_labeled=5, machine_labeled=5, failed=1, unlabeled=10))
    assert (p.total_labeled, p.human_labeled, p.machine_labeled, p.failed, p.unlabeled) == (20, 10, 10, 1, 0)
    p = projected_counters(Counters(unlabeled=7))
    assert (p.human_labeled, p.machine_labeled) == (7, 0)
