"""The watch's option objects: each checks itself when made, and does its own small arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gtlabel.errors import ConfigError
from gtlabel.monitor import (
    DEFAULT_THRESHOLDS,
    BudgetPolicy,
    CostPoint,
    Counters,
    Notifications,
    Observation,
    Polling,
    Sample,
    StallPolicy,
    WatchOptions,
    watch_labeling_job,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"poll_seconds": 0}, "poll_seconds"),
    ({"poll_seconds": 60, "max_poll_seconds": 30}, "max_poll_seconds"),
    ({"backoff": 0.5}, "backoff"),
    ({"max_wait_seconds": -1}, "max_wait_seconds"),
    ({"max_consecutive_errors": -1}, "max_consecutive_errors"),
    ({"retry_mode": "sometimes"}, "retry_mode"),
])
def test_polling_refuses_bad_values_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        Polling(**kwargs)  # type: ignore[arg-type]


def test_polling_intervals_back_off_reset_and_end_on_the_deadline() -> None:
    p = Polling(poll_seconds=10, max_poll_seconds=30, backoff=2.0, max_wait_seconds=100)
    assert p.next_interval(10, moved=False) == 20
    assert p.next_interval(20, moved=False) == 30  # capped
    assert p.next_interval(30, moved=True) == 10  # movement resets
    assert p.after_error(10) == 30 and Polling(poll_seconds=10, max_poll_seconds=100).after_error(10) == 30
    assert p.pause(30, elapsed=90) == 10 and p.pause(30, elapsed=120) == 0.0


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"budget_usd": 0}, "budget_usd"),
    ({"budget_usd": -5}, "budget_usd"),
    ({"stop_at": 0}, "stop_at"),
    ({"thresholds": (0.5, 0.0)}, "thresholds"),
    ({"thresholds": (-0.1,)}, "thresholds"),
])
def test_budget_policy_refuses_bad_values_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        BudgetPolicy(**kwargs)  # type: ignore[arg-type]


def test_budget_policy_sorts_thresholds_and_picks_the_budget_in_force() -> None:
    assert BudgetPolicy(thresholds=(1.0, 0.5, 0.5, 0.8)).thresholds == DEFAULT_THRESHOLDS
    assert BudgetPolicy(budget_usd=3.0).budget_for(CostPoint(1.0, budget_usd=9.0), 7.0) == 3.0
    assert BudgetPolicy().budget_for(CostPoint(1.0, budget_usd=9.0), 7.0) == 9.0
    assert BudgetPolicy().budget_for(CostPoint(1.0), 7.0) == 7.0
    assert BudgetPolicy().budget_for(None, None) is None


def _obs(status: str, cost: float | None, budget: float | None) -> Observation:
    sample = Sample(t=0.0, at=AT, status=status, counters=Counters(total_labeled=1), cost_usd=cost)
    return Observation(sample=sample, previous=None, cost=None if cost is None else CostPoint(cost),
                       budget_usd=budget, forecast=None)


def test_stop_is_due_only_when_on_running_over_the_fraction_and_priced() -> None:
    policy = BudgetPolicy(auto_stop=True, stop_at=0.9)
    assert policy.stop_due(_obs("InProgress", 0.9, 1.0))
    assert policy.stop_due(_obs("Initializing", 5.0, 1.0))
    assert not policy.stop_due(_obs("InProgress", 0.89, 1.0))
    assert not policy.stop_due(_obs("Completed", 5.0, 1.0))
    assert not policy.stop_due(_obs("Stopping", 5.0, 1.0))
    assert not policy.stop_due(_obs("InProgress", None, 1.0))
    assert not policy.stop_due(_obs("InProgress", 5.0, None))
    assert not BudgetPolicy(stop_at=0.9).stop_due(_obs("InProgress", 5.0, 1.0))  # auto_stop off


def test_notifications_refuse_non_callables_and_non_sns_topics() -> None:
    with pytest.raises(ConfigError, match="on_alert"):
        Notifications(on_alert="print")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="sns_topic_arn"):
        Notifications(sns_topic_arn="my-topic")
    with pytest.raises(ConfigError, match="sns_topic_arn"):
        Notifications(sns_topic_arn="arn:aws:sqs:us-east-1:111122223333:queue")
    assert Notifications(sns_topic_arn="arn:aws:sns:us-east-1:111122223333:alerts", on_stop=print).on_stop is print


def test_watch_options_defaults_and_window() -> None:
    o = WatchOptions()
    assert o.polling == Polling() and o.budget == BudgetPolicy() and o.stall == StallPolicy()
    assert o.stall.after_seconds == 3600.0 and o.progress is True
    with pytest.raises(ConfigError, match="forecast_window_seconds"):
        WatchOptions(forecast_window_seconds=0)


def test_flat_keywords_are_checked_before_any_call() -> None:
    class NoCalls:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"{name} called before the options were checked")

    with pytest.raises(ConfigError, match="stop_at"):
        watch_labeling_job("job", sm_client=NoCalls(), stop_at=0, progress=False)
    with pytest.raises(ConfigError, match="retry_mode"):
        watch_labeling_job("job", sm_client=NoCalls(), retry_mode="never", progress=False)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="sns_topic_arn"):
        watch_labeling_job("job", sm_client=NoCalls(), sns_topic_arn="alerts", progress=False)
