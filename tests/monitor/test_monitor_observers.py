"""Each observer of the watch on its own, fed synthetic observations: no sleeps, no network."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from monitor_helpers import FakeClock, counters, describe, per_object_cost

from gtlabel.errors import JobError, WatchTimeout
from gtlabel.monitor import (
    Alert,
    BudgetAlerter,
    BudgetPolicy,
    CostPoint,
    Counters,
    Notifications,
    Observation,
    Polling,
    Sample,
    StallCause,
    StallReport,
    WatchOptions,
    WatchRecord,
)
from gtlabel.monitor.observers import AutoStop, ProgressBar, watch_observers
from gtlabel.monitor.progress import Snapshot
from gtlabel.monitor.stall import StallDetector
from gtlabel.monitor.watch import Poller, Sampler

NAME = "drone-job"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOPIC = "arn:aws:sns:us-east-1:111122223333:alerts"


class Feed:
    """Synthetic observations, one poll at a time, each following the one before."""

    def __init__(self) -> None:
        self.previous: Sample | None = None

    def __call__(self, t: float, labeled: int, *, status: str = "InProgress", cost: float | None = None,
                 budget: float | None = None, total: int = 20) -> Observation:
        c = counters(labeled, total - labeled)
        sample = Sample(t=t, at=T0 + timedelta(seconds=t), status=status, counters=Counters.from_api(c),
                        cost_usd=cost)
        obs = Observation(sample=sample, previous=self.previous, cost=None if cost is None else CostPoint(cost),
                          budget_usd=budget, forecast=None, describe=describe(NAME, status, c))
        self.previous = sample
        return obs


class FakeSns:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def publish(self, **kw: Any) -> dict[str, str]:
        self.messages.append({"Subject": kw["Subject"], **json.loads(kw["Message"])})
        return {"MessageId": f"m-{len(self.messages)}"}


class FakeSageMaker:
    def __init__(self, refuse: bool = False) -> None:
        self.stops: list[str] = []
        self.refuse = refuse

    def stop_labeling_job(self, LabelingJobName: str) -> dict[str, Any]:
        self.stops.append(LabelingJobName)
        if self.refuse:
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "not stoppable"}},
                              "StopLabelingJob")
        return {}


class RecordingView:
    def __init__(self) -> None:
        self.snaps: list[Snapshot] = []
        self.closed = False

    def update(self, snap: Snapshot) -> None:
        self.snaps.append(snap)

    def close(self) -> None:
        self.closed = True


# ------------------------------------------------------------------------------------------ notifications
def test_notifications_observe_every_sample_and_log_status_changes(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Sample] = []
    notes, feed, record = Notifications(on_sample=seen.append), Feed(), WatchRecord(NAME)
    caplog.set_level(logging.INFO, logger="gtlabel.monitor")
    for o in (feed(0, 0, status="Initializing"), feed(10, 0), feed(20, 3), feed(30, 20, status="Completed")):
        notes.observe(o, record)
    assert [s.t for s in seen] == [0, 10, 20, 30]
    changes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("labeling job")]
    assert changes == [f"labeling job {NAME} is Initializing", f"labeling job {NAME} is InProgress",
                       f"labeling job {NAME} is Completed"]


def test_a_raising_callback_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def boom(_: object) -> None:
        raise RuntimeError("callback bug")

    notes = Notifications(on_sample=boom, on_stop=boom)
    notes.observe(Feed()(0, 0), WatchRecord(NAME))
    notes.stop(NAME, stopped=True, reason="r", cost_usd=1.0, budget_usd=1.0)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "on_sample callback raised", "on_stop callback raised"]


def test_notifications_publish_each_kind_to_sns() -> None:
    sns, got = FakeSns(), []
    notes = Notifications(sns_topic_arn=TOPIC, sns_client=sns, on_alert=got.append)
    alert = notes.alert(Alert(NAME, 0.8, 0.8, 1.0, 5.0, T0, "80 %"))
    report = StallReport(NAME, "InProgress", Counters(), 600.0, T0, 600.0, (StallCause("x", "likely", "why"),))
    notes.stalled(report)
    notes.stop(NAME, stopped=False, reason="refused", cost_usd=1.23456, budget_usd=1.0)
    assert alert.sns_message_id == "m-1" and got == [alert]
    assert [m["type"] for m in sns.messages] == ["budget-alert", "stall", "auto-stop"]
    assert sns.messages[0]["threshold"] == 0.8 and sns.messages[1]["causes"] == ["[likely] x: why"]
    assert sns.messages[2] == {"Subject": f"gtlabel: {NAME} auto-stop", "type": "auto-stop", "job": NAME,
                               "stopped": False, "cost_usd": 1.2346, "budget_usd": 1.0, "message": "refused"}
    assert Notifications(sns_client=sns).publish(subject="s", payload={}) is None  # no topic: nothing sent
    assert len(sns.messages) == 3


# ------------------------------------------------------------------------------------------ budget alerts
def test_budget_alerts_fire_once_each_in_order_into_the_record() -> None:
    sns = FakeSns()
    alerter, feed, record = BudgetAlerter(NAME, sns_client=sns, sns_topic_arn=TOPIC), Feed(), WatchRecord(NAME)
    for t, cost in enumerate([0.1, 0.5, 0.6, 0.6, None, 0.85, 0.9, 1.4, 1.5]):
        alerter.observe(feed(t, 1, cost=cost, budget=1.0), record)
    assert [(a.threshold, a.t) for a in record.alerts] == [(0.5, 1), (0.8, 5), (1.0, 7)]
    assert record.alerts == alerter.fired and [a.sns_message_id for a in record.alerts] == ["m-1", "m-2", "m-3"]
    alerter.observe(feed(9, 1, cost=9.0, budget=1.0), record)
    assert len(record.alerts) == 3 and len(sns.messages) == 3


def test_budget_alerts_need_a_cost_and_a_budget() -> None:
    alerter, feed, record = BudgetAlerter(NAME), Feed(), WatchRecord(NAME)
    alerter.observe(feed(0, 1, cost=None, budget=1.0), record)
    alerter.observe(feed(1, 1, cost=5.0, budget=None), record)
    assert record.alerts == []
    alerter.observe(feed(2, 1, cost=5.0, budget=1.0), record)  # one jump crosses all three
    assert [a.threshold for a in record.alerts] == [0.5, 0.8, 1.0]


# ------------------------------------------------------------------------------------------ auto-stop
def test_auto_stop_stops_once_when_due_and_tells_everyone(caplog: pytest.LogCaptureFixture) -> None:
    sm, sns, told = FakeSageMaker(), FakeSns(), []
    stop = AutoStop(NAME, sm, BudgetPolicy(auto_stop=True, stop_at=0.8),
                    Notifications(sns_topic_arn=TOPIC, sns_client=sns, on_stop=told.append))
    feed, record = Feed(), WatchRecord(NAME)
    stop.observe(feed(0, 5, cost=0.5, budget=1.0), record)
    assert sm.stops == [] and not record.stopped_by_us
    caplog.set_level(logging.WARNING, logger="gtlabel.monitor")
    for t in (10, 20):
        stop.observe(feed(t, 9, cost=0.9, budget=1.0), record)
    assert sm.stops == [NAME]  # once
    assert record.stopped_by_us and record.stop_reason == "stopped by gtlabel: cost $0.90 reached 80% of the $1.00 budget"
    assert told == [record.stop_reason] and [m["stopped"] for m in sns.messages] == [True]
    assert any("StopLabelingJob sent" in r.getMessage() for r in caplog.records)


def test_auto_stop_refused_is_reported_not_claimed() -> None:
    sm = FakeSageMaker(refuse=True)
    stop, record = AutoStop(NAME, sm, BudgetPolicy(auto_stop=True), Notifications()), WatchRecord(NAME)
    feed = Feed()
    stop.observe(feed(0, 15, cost=1.5, budget=1.0), record)
    stop.observe(feed(10, 18, cost=1.8, budget=1.0), record)
    assert sm.stops == [NAME] and not record.stopped_by_us
    assert record.stop_reason and "StopLabelingJob was refused" in record.stop_reason


def test_auto_stop_leaves_finished_jobs_and_unbudgeted_jobs_alone() -> None:
    sm = FakeSageMaker()
    stop, feed, record = AutoStop(NAME, sm, BudgetPolicy(auto_stop=True), Notifications()), Feed(), WatchRecord(NAME)
    stop.observe(feed(0, 20, status="Completed", cost=5.0, budget=1.0), record)
    stop.observe(feed(1, 19, cost=5.0, budget=None), record)
    assert sm.stops == [] and record.stop_reason is None


def test_stopping_a_missing_job_is_a_job_error() -> None:
    class Missing:
        def stop_labeling_job(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "ResourceNotFound", "Message": "gone"}}, "StopLabelingJob")

    stop = AutoStop(NAME, Missing(), BudgetPolicy(auto_stop=True), Notifications())
    with pytest.raises(JobError, match="not found"):
        stop.observe(Feed()(0, 15, cost=1.5, budget=1.0), WatchRecord(NAME))


# ------------------------------------------------------------------------------------------ stalls
def test_stall_reported_once_per_episode_with_sorted_causes() -> None:
    calls: list[float] = []

    def diagnose(d: Mapping[str, Any], stalled_for: float, now: datetime) -> list[StallCause]:
        calls.append(stalled_for)
        return [StallCause("zero-counters", "info", "zero"), StallCause("nobody-working", "likely", "nobody")]

    told: list[StallReport] = []
    detector = StallDetector(NAME, 300, diagnose, notifications=Notifications(on_stall=told.append))
    feed, record = Feed(), WatchRecord(NAME)
    for t in range(0, 601, 100):  # no movement for 600 s: one report at 300 s
        detector.observe(feed(t, 2), record)
    assert [r.t for r in record.stalls] == [300] and told == record.stalls and calls == [300]
    assert [c.code for c in record.stalls[0].causes] == ["nobody-working", "zero-counters"]
    assert record.stalls[0].since == T0
    for t in (700, 800, 900, 1000):  # moved at 700: a new episode, reported at 1000
        detector.observe(feed(t, 3), record)
    assert [r.t for r in record.stalls] == [300, 1000]


def test_stall_detection_off_at_zero_and_only_in_progress() -> None:
    detector = StallDetector(NAME, 0, lambda *a: [])
    feed, record = Feed(), WatchRecord(NAME)
    for t in range(0, 10_000, 1000):
        detector.observe(feed(t, 2), record)
    on = StallDetector(NAME, 10, lambda *a: [])
    for t in range(0, 100, 10):
        on.observe(feed(t, 0, status="Initializing"), record)
    assert record.stalls == []


def test_a_failing_diagnosis_still_reports_the_stall() -> None:
    def broken(*_: Any) -> list[StallCause]:
        raise RuntimeError("no credentials")

    detector, feed, record = StallDetector(NAME, 10, broken), Feed(), WatchRecord(NAME)
    for t in (0, 10):
        detector.observe(feed(t, 1), record)
    assert [c.code for c in record.stalls[0].causes] == ["diagnosis-failed"]


# ------------------------------------------------------------------------------------------ progress bar
def test_progress_bar_shows_each_poll_with_its_note() -> None:
    view, feed, record = RecordingView(), Feed(), WatchRecord(NAME)
    bar = ProgressBar(NAME, view)
    bar.observe(feed(0, 2, cost=0.2, budget=1.0), record)
    o = feed(300, 2, cost=0.2, budget=1.0)
    record.stalls.append(StallReport(NAME, "InProgress", o.counters, 300.0, T0, 300.0, ()))
    bar.observe(o, record)
    bar.observe(feed(360, 2, cost=0.2, budget=1.0), record)  # the stall was reported earlier: no note
    record.stopped_by_us = True
    bar.observe(feed(400, 9, cost=1.0, budget=1.0), record)
    assert [s.note for s in view.snaps] == ["", "stalled 5m00s", "", "stopped by gtlabel (budget)"]
    assert view.snaps[-1].counters.total_labeled == 9 and view.snaps[-1].cost_usd == 1.0
    assert view.snaps[-1].budget_usd == 1.0 and not view.closed


# ------------------------------------------------------------------------------------------ the pieces of the loop
def test_observers_are_lined_up_in_order() -> None:
    observers = watch_observers(NAME, FakeSageMaker(), WatchOptions(), RecordingView())
    assert [type(o).__name__ for o in observers] == ["Notifications", "BudgetAlerter", "AutoStop",
                                                       "StallDetector", "ProgressBar"]


def test_sampler_prices_budgets_and_forecasts_each_response(caplog: pytest.LogCaptureFixture) -> None:
    sampler = Sampler(NAME, per_object_cost(0.10), BudgetPolicy())
    record = WatchRecord(NAME)
    a = sampler.sample(describe(NAME, "InProgress", counters(2, 8), tags={"gtlabel:max-budget-usd": "4"}), 0.0, record)
    b = sampler.sample(describe(NAME, "InProgress", counters(6, 4)), 60.0, record)
    assert a.previous is None and a.moved and b.previous == a.sample and b.moved
    assert (a.budget_usd, b.budget_usd) == (4.0, None)  # the tag, read on each response
    assert b.cost == CostPoint(0.6) and record.cost == b.cost and record.polls == 2
    assert [s.t for s in record.timeline] == [0.0, 60.0] and b.at - a.at == timedelta(seconds=60)
    assert b.forecast is not None and b.forecast.eta_seconds == pytest.approx(60.0)  # 4 left at 4/min
    assert b.forecast.projected_cost_usd == pytest.approx(1.0)

    def broken(_: Mapping[str, Any]) -> CostPoint:
        raise ValueError("no price")

    caplog.set_level(logging.WARNING, logger="gtlabel.monitor")
    priceless = Sampler(NAME, broken, BudgetPolicy(budget_usd=2.0))
    for t in (0.0, 1.0):
        o = priceless.sample(describe(NAME, "InProgress", counters(1, 9)), t, record)
    assert o.cost is None and o.budget_usd == 2.0 and o.sample.cost_usd is None
    assert sum("could not compute the cost" in r.getMessage() for r in caplog.records) == 1  # warned once


class ScriptedSageMaker:
    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)

    def describe_labeling_job(self, LabelingJobName: str) -> Any:
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def _throttled() -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "DescribeLabelingJob")


def test_poller_waits_out_throttling_and_backs_off_while_nothing_moves() -> None:
    clock = FakeClock()
    ok = describe(NAME, "InProgress", counters(1, 9))
    poller = Poller(NAME, ScriptedSageMaker(_throttled(), ok), Polling(poll_seconds=10, max_poll_seconds=100),
                    clock=clock, sleep=clock.sleep)
    assert poller.describe(WatchRecord(NAME)) is ok and clock.sleeps == [30]
    feed = Feed()
    poller.wait(feed(clock.now, 1))  # moved (the first): poll_seconds
    poller.wait(feed(clock.now, 1))  # unchanged: x1.5
    poller.wait(feed(clock.now, 1, status="Stopping"))  # Stopping: poll_seconds again
    assert clock.sleeps == [30, 10, 15, 10]


def test_poller_gives_up_at_the_deadline_with_what_it_saw() -> None:
    clock = FakeClock()
    record = WatchRecord(NAME)
    record.last_response = describe(NAME, "InProgress", counters(1, 9))
    poller = Poller(NAME, ScriptedSageMaker(_throttled()), Polling(poll_seconds=10, max_wait_seconds=0),
                    clock=clock, sleep=clock.sleep)
    with pytest.raises(WatchTimeout, match="last call failed") as ei:
        poller.describe(record)
    assert ei.value.summary.final_status == "InProgress" and clock.sleeps == []
    late = Feed()(3600.0, 1)
    with pytest.raises(WatchTimeout, match="still InProgress"):
        Poller(NAME, None, Polling(max_wait_seconds=3600), clock=clock).check_deadline(late, record)
