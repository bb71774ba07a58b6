"""Watching a labeling job: describe -> sample -> observers, until a terminal state or the deadline.

- :class:`Poller` describes the job (``DescribeLabelingJob``) at the pace of :class:`Polling`: bounded
  waiting in the manner of botocore's waiters, back-off while nothing moves, transient errors tried again a
  bounded number of times, :class:`WatchTimeout` with the last response at the deadline.
- :class:`Sampler` turns each response into an :class:`Observation`: counters, cost so far, budget in force,
  forecast, time.
- the observers (:mod:`gtlabel.monitor.observers`) act on it: notifications, budget alerts, auto-stop, stall
  reports, the progress bar.

:func:`watch_job` is the loop; :func:`watch_labeling_job` is the same with the options as flat keywords.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gtlabel.aws import TERMINAL, JobStatus, is_not_found
from gtlabel.errors import JobError, WatchTimeout
from gtlabel.monitor import costs
from gtlabel.monitor.clients import RetryMode, is_transient, make_client
from gtlabel.monitor.forecast import forecast
from gtlabel.monitor.model import (
    Alert,
    CostPoint,
    Counters,
    Observation,
    Sample,
    StallReport,
    human_duration,
)
from gtlabel.monitor.notify import Notifications
from gtlabel.monitor.observers import watch_observers
from gtlabel.monitor.options import DEFAULT_THRESHOLDS, BudgetPolicy, Polling, StallPolicy, WatchOptions
from gtlabel.monitor.progress import ProgressView, Snapshot, describe_line, make_view
from gtlabel.monitor.stall import Diagnose
from gtlabel.monitor.summary import WatchRecord, WatchSummary

log = logging.getLogger("gtlabel.monitor")


class Poller:
    """``DescribeLabelingJob`` at a bounded, backing-off pace, on an injectable clock (seconds, monotonic)."""

    def __init__(self, job_name: str, sm_client: Any, polling: Polling, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.job_name = job_name
        self.sm_client = sm_client
        self.polling = polling
        self.clock = clock
        self.sleep = sleep
        self.start = clock()
        self.interval = polling.poll_seconds
        self.errors_in_row = 0

    def elapsed(self) -> float:
        return self.clock() - self.start

    def describe(self, record: WatchRecord) -> Mapping[str, Any]:
        """The job's description; transient failures are waited out (bounded), others raise :class:`JobError`."""
        while True:
            try:
                resp: Mapping[str, Any] = self.sm_client.describe_labeling_job(LabelingJobName=self.job_name)
            except Exception as exc:
                self._failed(exc, record)
                continue
            self.errors_in_row = 0
            return resp

    def _failed(self, exc: Exception, record: WatchRecord) -> None:
        name = self.job_name
        if is_not_found(exc):
            raise JobError(f"labeling job {name!r} not found: {exc}") from exc
        if not is_transient(exc):
            raise JobError(f"DescribeLabelingJob({name!r}) failed: {exc}") from exc
        self.errors_in_row += 1
        if self.errors_in_row > self.polling.max_consecutive_errors:
            raise JobError(f"DescribeLabelingJob({name!r}) kept failing ({self.errors_in_row} times in a row "
                           f"after botocore's retries): {exc}") from exc
        log.warning("DescribeLabelingJob(%s) failed (%s); retrying", name, exc)
        t = self.elapsed()
        if t >= self.polling.max_wait_seconds:
            raise WatchTimeout(f"gave up watching {name!r} after {human_duration(t)}: last call failed with {exc}",
                               record.last_response, record.summary(record.last_status, self.elapsed())) from exc
        self.interval = self.polling.after_error(self.interval)
        self.sleep(self.polling.pause(self.interval, t))

    def check_deadline(self, obs: Observation, record: WatchRecord) -> None:
        """:class:`WatchTimeout` when the job still runs at ``max_wait_seconds``."""
        max_wait, c = self.polling.max_wait_seconds, obs.counters
        if obs.t >= max_wait:
            raise WatchTimeout(
                f"labeling job {self.job_name!r} is still {obs.status} after {human_duration(obs.t)} (max_wait_seconds="
                f"{max_wait:g}); labeled {c.total_labeled}/{c.total}. Watch again, or stop it with StopLabelingJob.",
                obs.describe, record.summary(obs.status, self.elapsed()))

    def wait(self, obs: Observation) -> None:
        """Sleep until the next poll: ``poll_seconds`` after movement (or while Stopping), longer otherwise."""
        self.interval = self.polling.next_interval(self.interval, moved=obs.moved or obs.status == JobStatus.STOPPING)
        self.sleep(self.polling.pause(self.interval, obs.t))


class Sampler:
    """Turns a ``DescribeLabelingJob`` response into an :class:`Observation`, and adds it to the record."""

    def __init__(self, job_name: str, cost_fn: costs.CostFn, budget: BudgetPolicy, *,
                 forecast_window_seconds: float = 900.0) -> None:
        self.job_name = job_name
        self.cost_fn = cost_fn
        self.budget = budget
        self.forecast_window_seconds = forecast_window_seconds
        self.start_wall = datetime.now(UTC)
        self.cost_warned = False

    def sample(self, resp: Mapping[str, Any], t: float, record: WatchRecord) -> Observation:
        cost = self._cost(resp)
        budget = self.budget.budget_for(cost, costs.budget_from_tags(resp))
        previous = record.timeline[-1] if record.timeline else None
        sample = Sample(t=t, at=self.start_wall + timedelta(seconds=t), status=str(resp.get("LabelingJobStatus",
                        "Unknown")), counters=Counters.from_api(resp.get("LabelCounters")),
                        cost_usd=cost.total_usd if cost else None)
        record.polls += 1
        record.last_response, record.cost, record.budget_usd = resp, cost, budget
        record.timeline.append(sample)
        record.forecast = forecast(record.timeline, resp, self.cost_fn if cost is not None else None,
                                   budget_usd=budget, window_seconds=self.forecast_window_seconds)
        return Observation(sample=sample, previous=previous, cost=cost, budget_usd=budget,
                           forecast=record.forecast, describe=resp)

    def _cost(self, resp: Mapping[str, Any]) -> CostPoint | None:
        try:
            return self.cost_fn(resp)
        except Exception as exc:  # a watch without money is still a watch: warn once, go on with counters
            if not self.cost_warned:
                log.warning("could not compute the cost of %s: %s", self.job_name, exc)
                self.cost_warned = True
            return None


def watch_job(name: str, options: WatchOptions | None = None, *, sm_client: Any = None,
              clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], None] = time.sleep) -> WatchSummary:
    """Watch a labeling job until it is Completed, Failed or Stopped, and return what happened.

    ``options`` (:class:`WatchOptions`) says how to poll, what the budget allows, when a job is stalled and
    whom to tell; ``sm_client`` defaults to a SageMaker client with the polling's retry mode;
    ``clock``/``sleep`` are injectable for tests. Raises :class:`WatchTimeout` at the deadline and
    :class:`JobError` when the job cannot be described.
    """
    opts = options or WatchOptions()
    sm = sm_client if sm_client is not None else make_client("sagemaker", retry_mode=opts.polling.retry_mode)
    opts = replace(opts, notifications=opts.notifications.connected())
    view = make_view(opts.progress)
    observers = watch_observers(name, sm, opts, view)
    poller = Poller(name, sm, opts.polling, clock=clock, sleep=sleep)
    sampler = Sampler(name, opts.cost_fn or costs.default_cost_fn, opts.budget,
                      forecast_window_seconds=opts.forecast_window_seconds)
    record = WatchRecord(name, budget_usd=opts.budget.budget_usd)
    try:
        while True:
            resp = poller.describe(record)
            obs = sampler.sample(resp, poller.elapsed(), record)
            for observer in observers:
                observer.observe(obs, record)
            if obs.status in TERMINAL:
                summary = record.summary(obs.status, poller.elapsed())
                log.info("watch ended: %s", describe_line(Snapshot(name, obs.status, obs.counters, obs.cost.total_usd
                                                                     if obs.cost else None, obs.budget_usd, obs.forecast)))
                return summary
            poller.check_deadline(obs, record)
            poller.wait(obs)
    finally:
        view.close()


def watch_labeling_job(
    name: str,
    *,
    sm_client: Any = None,
    poll_seconds: float = 30.0,
    max_poll_seconds: float = 300.0,
    backoff: float = 1.5,
    max_wait_seconds: float = 24 * 3600.0,
    budget_usd: float | None = None,
    thresholds: Iterable[float] = DEFAULT_THRESHOLDS,
    on_alert: Callable[[Alert], Any] | None = None,
    sns_topic_arn: str | None = None,
    sns_client: Any = None,
    auto_stop: bool = False,
    stop_at: float = 1.0,
    on_stop: Callable[[str], Any] | None = None,
    stall_after_seconds: float = 3600.0,
    on_stall: Callable[[StallReport], Any] | None = None,
    s3_client: Any = None,
    logs_client: Any = None,
    diagnose: Diagnose | None = None,
    on_sample: Callable[[Sample], Any] | None = None,
    progress: bool | ProgressView = True,
    cost_fn: costs.CostFn | None = None,
    retry_mode: RetryMode = "adaptive",
    max_consecutive_errors: int = 8,
    forecast_window_seconds: float = 900.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WatchSummary:
    """Watch a labeling job until it is Completed, Failed or Stopped, and return what happened.

    :func:`watch_job` with its options as flat keywords, each documented on its option object:
    :class:`Polling` (``poll_seconds``, ``max_poll_seconds``, ``backoff``, ``max_wait_seconds``,
    ``max_consecutive_errors``, ``retry_mode``), :class:`BudgetPolicy` (``budget_usd``, ``thresholds``,
    ``auto_stop``, ``stop_at``), :class:`StallPolicy` (``stall_after_seconds``, ``diagnose``, ``s3_client``,
    ``logs_client``), :class:`Notifications` (``on_sample``, ``on_alert``, ``on_stall``, ``on_stop``,
    ``sns_topic_arn``, ``sns_client``) and :class:`WatchOptions` (``progress``, ``cost_fn``,
    ``forecast_window_seconds``).
    """
    options = WatchOptions(
        polling=Polling(poll_seconds=poll_seconds, max_poll_seconds=max_poll_seconds, backoff=backoff,
                        max_wait_seconds=max_wait_seconds, max_consecutive_errors=max_consecutive_errors,
                        retry_mode=retry_mode),
        budget=BudgetPolicy(budget_usd=budget_usd, thresholds=tuple(thresholds), auto_stop=auto_stop,
                            stop_at=stop_at),
        stall=StallPolicy(after_seconds=stall_after_seconds, diagnose=diagnose, s3_client=s3_client,
                          logs_client=logs_client),
        notifications=Notifications(on_sample=on_sample, on_alert=on_alert, on_stall=on_stall, on_stop=on_stop,
                                    sns_topic_arn=sns_topic_arn, sns_client=sns_client),
        progress=progress, cost_fn=cost_fn, forecast_window_seconds=forecast_window_seconds)
    return watch_job(name, options, sm_client=sm_client, clock=clock, sleep=sleep)
