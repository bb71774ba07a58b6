"""watch_labeling_job against botocore's Stubber (the real client, request and response shapes validated)."""

from __future__ import annotations

import logging

import pytest
from monitor_helpers import FakeClock, counters, describe, per_object_cost, stubbed_sagemaker

from gtlabel.errors import ConfigError, JobError
from gtlabel.monitor import Alert, WatchTimeout, watch_labeling_job

NAME = "drone-job"


def _watch(client, clock, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("progress", False)
    kw.setdefault("cost_fn", per_object_cost(0.10))
    kw.setdefault("stall_after_seconds", 0)
    return watch_labeling_job(NAME, sm_client=client, clock=clock, sleep=clock.sleep, **kw)


def test_watch_to_completion_keeps_timeline_and_forecast() -> None:
    client, stub = stubbed_sagemaker()
    seq = [("Initializing", counters(0, 10)), ("InProgress", counters(0, 10)), ("InProgress", counters(4, 6)),
           ("InProgress", counters(8, 2, machine=1)), ("Completed", counters(10, 0, machine=1))]
    for status, c in seq:
        stub.add_response("describe_labeling_job", describe(NAME, status, c), {"LabelingJobName": NAME})
    clock = FakeClock()
    with stub:
        s = _watch(client, clock, poll_seconds=10, max_poll_seconds=60)
        stub.assert_no_pending_responses()
    assert s.final_status == "Completed" and s.completed
    assert [x.status for x in s.timeline] == [st for st, _ in seq]
    assert [x.counters.total_labeled for x in s.timeline] == [0, 0, 4, 8, 10]
    assert s.counters.machine_labeled == 1 and s.counters.human_labeled == 9
    assert s.polls == 5
    assert s.cost is not None and s.cost.total_usd == pytest.approx(1.0)
    assert s.output_manifest and s.output_manifest.endswith("output.manifest")
    assert not s.stopped_by_us and not s.alerts and not s.stalls
    # movement resets the interval to poll_seconds, status change too
    assert clock.sleeps == [10, 10, 10, 10]
    d = s.to_dict()
    assert d["final_status"] == "Completed" and len(d["timeline"]) == 5 and isinstance(d["timeline"][0]["at"], str)


def test_backoff_grows_while_nothing_moves_and_is_bounded() -> None:
    client, stub = stubbed_sagemaker()
    for _ in range(6):
        stub.add_response("describe_labeling_job", describe(NAME, "InProgress", counters(2, 8)))
    stub.add_response("describe_labeling_job", describe(NAME, "InProgress", counters(3, 7)))
    stub.add_response("describe_labeling_job", describe(NAME, "Completed", counters(10, 0)))
    clock = FakeClock()
    with stub:
        _watch(client, clock, poll_seconds=10, max_poll_seconds=30, backoff=2.0)
    # first poll -> 10 (new), then unchanged: 20, 30 (capped), 30, 30, 30; then moved: back to 10
    assert clock.sleeps == [10, 20, 30, 30, 30, 30, 10]


def test_timeout_raises_with_last_response() -> None:
    client, stub = stubbed_sagemaker()
    for i in range(4):
        stub.add_response("describe_labeling_job", describe(NAME, "InProgress", counters(i, 10 - i)))
    clock = FakeClock()
    with stub, pytest.raises(WatchTimeout) as ei:
        _watch(client, clock, poll_seconds=10, max_poll_seconds=10, max_wait_seconds=25)
    err = ei.value
    assert isinstance(err, JobError)
    assert err.last_response["LabelingJobStatus"] == "InProgress"
    assert err.last_response["LabelCounters"]["TotalLabeled"] == 3
    assert "still InProgress" in str(err) and "max_wait_seconds=25" in str(err)
    # polled at t=0,10,20 and a last time exactly at the deadline (t=25), never beyond
    assert [x.t for x in err.summary.timeline] == [0, 10, 20, 25]
    assert clock.sleeps == [10, 10, 5]


def test_alerts_fire_once_each_even_when_polled_past_thresholds(caplog: pytest.LogCaptureFixture) -> None:
    client, stub = stubbed_sagemaker()
    # budget $1.00 at $0.10/object: 5 objects = 50 %, 8 = 80 %; then many polls sitting past each threshold
    labeled = [1, 5, 5, 6, 6, 8, 8, 8, 9, 9]
    for n in labeled:
        stub.add_response("describe_labeling_job", describe(NAME, "InProgress", counters(n, 20 - n)))
    stub.add_response("describe_labeling_job", describe(NAME, "InProgress", counters(12, 8)))
    for _ in range(3):
        stub.add_response("describe_labeling_job", describe(NAME, "InProgress", counters(12, 8)))
    stub.add_response("describe_labeling_job", describe(NAME, "Completed", counters(20, 0)))
    got: list[Alert] = []
    clock = FakeClock()
    caplog.set_level(logging.WARNING, logger="gtlabel.monitor")
    with stub:
        s = _watch(client, clock, poll_seconds=5, max_poll_seconds=5, budget_usd=1.0, on_alert=got.append)
    assert [a.threshold for a in got] == [0.5, 0.8, 1.0]
    assert [a.threshold for a in s.alerts] == [0.5, 0.8, 1.0]
    assert [round(a.cost_usd, 2) for a in got] == [0.5, 0.8, 1.2]
    assert got[0].t == 5 and got[1].t == 25 and got[2].t == 50
    assert "50% of its $1.00 budget" in got[0].message
    alert_lines = [r for r in caplog.records if "budget alert" in r.getMessage()]
    assert len(alert_lines) == 3
    assert not s.stopped_by_us  # no auto_stop asked


def test_budget_from_job_tag_and_one_jump_fires_every_threshold_in_order() -> None:
    client, stub = stubbed_sagemaker()
    tags = {"gtlabel:max-budget-usd": "2.00"}
    stub.add_response("describe_labeling_job", describe(NAME, "InProgress", counters(0, 30), tags=tags))
    stub.add_response("describe_labeling_job", describe(NAME, "InProgress", counters(25, 5), tags=tags))
    stub.add_response("describe_labeling_job", describe(NAME, "Completed", counters(30, 0), tags=tags))
    got: list[Alert] = []
    with stub:
        s = _watch(client, FakeClock(), on_alert=got.append)
    assert s.budget_usd == 2.0
    assert [a.threshold for a in got] == [0.5, 0.8, 1.0]  # $2.50 crossed all three in one poll
    assert len({a.t for a in got}) == 1


def test_auto_stop_at_budget_calls_stop_and_waits_for_stopped(caplog: pytest.LogCaptureFixture) -> None:
    client, stub = stubbed_sagemaker()
    stub.add_response("describe_labeling_job", describe(NAME, "InProgress", counters(3, 17)))
    stub.add_response("describe_labeling_job", describe(NAME, "InProgress", counters(11, 9)))  # $1.10 >= $1.00
    stub.add_response("stop_labeling_job", {}, {"LabelingJobName": NAME})
    stub.add_response("describe_labeling_job", describe(NAME, "Stopping", counters(12, 8)))
    stub.add_response("describe_labeling_job", describe(NAME, "Stopped", counters(12, 8)))
    caplog.set_level(logging.WARNING, logger="gtlabel.monitor")
    with stub:
        s = _watch(client, FakeClock(), budget_usd=1.0, auto_stop=True)
        stub.assert_no_pending_responses()
    assert s.final_status == "Stopped"
    assert s.stopped_by_us
    assert s.stop_reason and "reached 100% of the $1.00 budget" in s.stop_reason
    assert any("StopLabelingJob sent" in r.getMessage() for r in caplog.records)


def test_auto_stop_is_not_sent_twice_or_for_finished_jobs() -> None:
    client, stub = stubbed_sagemaker()
    # already Completed over budget: nothing to stop
    stub.add_response("describe_labeling_job", describe(NAME, "Completed", counters(20, 0)))
    with stub:
        s = _watch(client, FakeClock(), budget_usd=1.0, auto_stop=True)
    assert s.final_status == "Completed" and not s.stopped_by_us and len(s.alerts) == 3


def test_stall_reported_once_with_causes(caplog: pytest.LogCaptureFixture) -> None:
    client, stub = stubbed_sagemaker()
    for _ in range(8):
        stub.add_response("describe_labeling_job", describe(NAME, "InProgress", counters(0, 10)))
    stub.add_response("describe_labeling_job", describe(NAME, "InProgress", counters(1, 9)))
    stub.add_response("describe_labeling_job", describe(NAME, "Completed", counters(10, 0)))
    seen: list[object] = []

    def diagnose(d, stalled_for, now):  # type: ignore[no-untyped-def]
        from gtlabel.monitor import StallCause

        return [StallCause("zero-counters", "info", "zero"), StallCause("nobody-working", "likely", "nobody")]

    caplog.set_level(logging.WARNING, logger="gtlabel.monitor")
    clock = FakeClock()
    with stub:
        s = _watch(client, clock, poll_seconds=60, max_poll_seconds=60, stall_after_seconds=300,
                   diagnose=diagnose, on_stall=seen.append)
    assert len(s.stalls) == 1 and seen == s.stalls
    r = s.stalls[0]
    assert r.stalled_for_seconds == 300 and r.t == 300
    assert [c.code for c in r.causes] == ["nobody-working", "zero-counters"]  # most likely first
    assert "have not moved for 5m00s" in str(r)
    assert sum("have not moved" in rec.getMessage() for rec in caplog.records) == 1


def test_throttling_error_surviving_botocore_retries_is_retried_by_the_loop() -> None:
    client, stub = stubbed_sagemaker()
    stub.add_client_error("describe_labeling_job", "ThrottlingException", "Rate exceeded", 400)
    stub.add_client_error("describe_labeling_job", "ThrottlingException", "Rate exceeded", 400)
    stub.add_response("describe_labeling_job", describe(NAME, "Completed", counters(10, 0)))
    clock = FakeClock()
    with stub:
        s = _watch(client, clock, poll_seconds=10, max_poll_seconds=100, backoff=1.5)
    assert s.final_status == "Completed" and s.polls == 1
    assert clock.sleeps == [30, 90]  # backoff x2 per failure on top of the growth, capped at max_poll


def test_persistent_throttling_gives_up_with_job_error() -> None:
    client, stub = stubbed_sagemaker()
    for _ in range(3):
        stub.add_client_error("describe_labeling_job", "ThrottlingException", "Rate exceeded", 400)
    with stub, pytest.raises(JobError, match="kept failing"):
        _watch(client, FakeClock(), max_consecutive_errors=2)


def test_missing_job_is_a_clear_job_error() -> None:
    client, stub = stubbed_sagemaker()
    stub.add_client_error("describe_labeling_job", "ResourceNotFound", "Requested resource not found.", 400)
    with stub, pytest.raises(JobError, match="labeling job 'drone-job' not found"):
        _watch(client, FakeClock())


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="poll_seconds"):
        watch_labeling_job(NAME, sm_client=object(), poll_seconds=0, progress=False)
    with pytest.raises(ConfigError, match="budget_usd"):
        watch_labeling_job(NAME, sm_client=object(), budget_usd=-1, progress=False)
    with pytest.raises(ConfigError, match="thresholds"):
        watch_labeling_job(NAME, sm_client=object(), thresholds=(0.5, 0), progress=False)


def test_rich_progress_bar_in_a_terminal_shows_counts_and_cost() -> None:
    import io

    from rich.console import Console

    from gtlabel.monitor.progress import RichView

    client, stub = stubbed_sagemaker()
    stub.add_response("describe_labeling_job", describe(NAME, "InProgress", counters(3, 7)))
    stub.add_response("describe_labeling_job", describe(NAME, "Completed", counters(10, 0, machine=2, failed=0)))
    buf = io.StringIO()
    view = RichView(Console(file=buf, force_terminal=True, width=160, color_system=None))
    with stub:
        _watch(client, FakeClock(), progress=view, budget_usd=5.0)
    out = buf.getvalue()
    assert "10/10" in out and "human 8" in out and "machine 2" in out and "failed 0" in out
    assert "$1.00 of $5.00" in out and "Completed" in out


def test_real_cost_model_budget_tag_alerts_and_auto_stop() -> None:
    """Default cost: gtlabel.cost.cost_so_far on the job's own config (MTurk price x workers) and budget tag."""
    from monitor_helpers import PUBLIC_TEAM

    from gtlabel.cost import cost_so_far

    clock = FakeClock()
    client, stub = stubbed_sagemaker()

    def job2(status: str, n: int) -> dict:  # type: ignore[type-arg]
        return describe(NAME, status, counters(n, 80 - n), workteam=PUBLIC_TEAM, task_price="0.036", workers=3,
                        tags={"gtlabel:max-budget-usd": "10"})

    for n in (0, 10, 30, 45, 54):
        stub.add_response("describe_labeling_job", job2("InProgress", n))
    stub.add_response("stop_labeling_job", {}, {"LabelingJobName": NAME})
    stub.add_response("describe_labeling_job", job2("Stopping", 55))
    stub.add_response("describe_labeling_job", job2("Stopped", 55))
    with stub:
        s = watch_labeling_job(NAME, sm_client=client, clock=clock, sleep=clock.sleep, progress=False,
                               stall_after_seconds=0, auto_stop=True)
        stub.assert_no_pending_responses()
    assert s.budget_usd == 10.0
    # 30 objects = $5.64 (>= 50 %), 45 = $8.46 (>= 80 %), 54 = $10.152 (>= 100 %) -> StopLabelingJob
    assert [(a.threshold, round(a.cost_usd, 3)) for a in s.alerts] == [(0.5, 5.64), (0.8, 8.46), (1.0, 10.152)]
    assert s.stopped_by_us and s.final_status == "Stopped"
    assert s.cost is not None and s.cost.total_usd == pytest.approx(float(cost_so_far(job2("Stopped", 55)).total_usd))
    assert s.cost.breakdown["labeler_usd"] == pytest.approx(55 * 3 * 0.036)
    # forecast prices the projected counters with the same model: 80 objects x $0.188
    assert s.forecast is not None and s.forecast.projected_cost_usd == pytest.approx(80 * 0.188)


def test_refused_stop_is_reported_not_claimed() -> None:
    client, stub = stubbed_sagemaker()
    stub.add_response("describe_labeling_job", describe(NAME, "InProgress", counters(15, 5)))
    stub.add_client_error("stop_labeling_job", "ValidationException", "job is not in a stoppable state", 400)
    stub.add_response("describe_labeling_job", describe(NAME, "InProgress", counters(18, 2)))  # no second stop
    stub.add_response("describe_labeling_job", describe(NAME, "Completed", counters(20, 0)))
    with stub:
        s = _watch(client, FakeClock(), budget_usd=1.0, auto_stop=True)
        stub.assert_no_pending_responses()
    assert s.final_status == "Completed" and not s.stopped_by_us
    assert s.stop_reason and "StopLabelingJob was refused" in s.stop_reason


def test_a_raising_callback_does_not_end_the_watch() -> None:
    client, stub = stubbed_sagemaker()
    stub.add_response("describe_labeling_job", describe(NAME, "InProgress", counters(15, 5)))
    stub.add_response("describe_labeling_job", describe(NAME, "Completed", counters(20, 0)))

    def boom(_: object) -> None:
        raise RuntimeError("callback bug")

    with stub:
        s = _watch(client, FakeClock(), budget_usd=1.0, on_alert=boom, on_sample=boom)
    assert s.final_status == "Completed" and len(s.alerts) == 3


def test_rich_progress_at_80_columns_cuts_no_value() -> None:
    """The demo's status line was truncated at 80 columns ("Comp…", "$1.92 of $2…"): every value is shown whole,
    wrapped between values where the line is too long."""
    import io
    import re

    from rich.console import Console

    from gtlabel.monitor.model import Counters, Forecast
    from gtlabel.monitor.progress import RichView, Snapshot

    name = "drone-demo-20261206-202330-a-longer-name"
    buf = io.StringIO()
    view = RichView(Console(file=buf, force_terminal=True, width=80, color_system=None))
    view.update(Snapshot(name, "InProgress", Counters(12, 12, 0, 0, 12), 0.96, 25.0,
                         Forecast(0.5, 12, 24.0, 1.92, 25.0), note="stalled 1h02m"))
    view.update(Snapshot(name, "Completed", Counters(24, 24, 0, 0, 0), 1.92, 25.0, None))
    view.close()
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue()).replace("\r", "\n")
    assert "…" not in shown
    lines = shown.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert f"{name} InProgress" in lines and f"{name} Completed" in lines
    for value in ("12/24", "24/24", "human 12", "machine 0", "failed 0", "$0.96 of $25.00", "ETA 24s",
                  "projected $1.92", "stalled 1h02m", "human 24", "$1.92 of $25.00"):
        assert any(value in line for line in lines), value
