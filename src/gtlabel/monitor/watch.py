"""``watch_labeling_job``: bounded polling of ``DescribeLabelingJob`` with progress, cost, alerts and stalls.

Bounded waiting in the manner of botocore's waiters: poll at most until ``max_wait_seconds``, stop on a
terminal state (Completed, Failed, Stopped), raise :class:`WatchTimeout` with the last response otherwise.
botocore's retry mode (``adaptive`` by default) absorbs throttling inside each call; a call that still
fails with a throttling/transient error is retried by the loop with backoff, a bounded number of times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gtlabel.errors import ConfigError, JobError, WatchTimeout
from gtlabel.monitor import costs
from gtlabel.monitor.alerts import DEFAULT_THRESHOLDS, BudgetAlerter, publish
from gtlabel.monitor.clients import RetryMode, is_not_found, is_transient, make_client
from gtlabel.monitor.forecast import forecast
from gtlabel.monitor.model import (
    TERMINAL_STATUSES,
    Alert,
    CostPoint,
    Counters,
    Forecast,
    Sample,
    StallReport,
    human_duration,
)
from gtlabel.monitor.progress import ProgressView, Snapshot, describe_line, make_view
from gtlabel.monitor.stall import Diagnose, StallDetector, diagnose_stall
from gtlabel.monitor.summary import WatchSummary

log = logging.getLogger("gtlabel.monitor")


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

    - polls every ``poll_seconds``; while nothing moves the interval grows by ``backoff`` up to
      ``max_poll_seconds``; any movement resets it. Gives up after ``max_wait_seconds`` with
      :class:`WatchTimeout` (carrying the last response).
    - cost so far comes from :mod:`gtlabel.cost` (or ``cost_fn``); the budget is ``budget_usd`` or the
      job's ``gtlabel:max-budget-usd`` tag. Each of ``thresholds`` (fractions of the budget) fires once:
      ``on_alert(alert)``, a warning log line, and an SNS message when ``sns_topic_arn`` is given.
    - ``auto_stop``: when the cost reaches ``stop_at`` x budget, calls ``StopLabelingJob`` and keeps
      watching until the job is Stopped (``summary.stopped_by_us``); it says so in the log, to ``on_stop(reason)``
      and, with ``sns_topic_arn``, in an SNS message of ``"type": "auto-stop"``.
    - a job InProgress whose counters do not move for ``stall_after_seconds`` (0 disables) gets a
      :class:`StallReport` of likely causes (logged, ``on_stall``, SNS), once per stall. The checks use
      ``sm_client``, ``s3_client`` (CORS; created when needed) and, when given, ``logs_client`` (CloudWatch
      Logs worker activity, AWS only); ``diagnose`` replaces them all.
    - ``progress``: True shows a live bar (rich in a terminal, an HTML bar in Jupyter), False nothing,
      or pass your own view.
    - ``clock``/``sleep`` are injectable for tests (seconds, monotonic).
    """
    if poll_seconds <= 0 or max_poll_seconds < poll_seconds or backoff < 1.0:
        raise ConfigError(f"need 0 < poll_seconds <= max_poll_seconds and backoff >= 1; got poll_seconds="
                          f"{poll_seconds}, max_poll_seconds={max_poll_seconds}, backoff={backoff}")
    if max_wait_seconds < 0:
        raise ConfigError(f"max_wait_seconds must be >= 0; got {max_wait_seconds}")
    if budget_usd is not None and budget_usd <= 0:
        raise ConfigError(f"budget_usd must be > 0; got {budget_usd}")
    if stop_at <= 0:
        raise ConfigError(f"stop_at is a fraction of the budget and must be > 0; got {stop_at}")

    sm = sm_client if sm_client is not None else make_client("sagemaker", retry_mode=retry_mode)
    if sns_topic_arn and sns_client is None:
        sns_client = make_client("sns", retry_mode="standard")
    alerter = BudgetAlerter(name, thresholds, on_alert=on_alert, sns_client=sns_client, sns_topic_arn=sns_topic_arn)
    s3_holder: list[Any] = [s3_client]

    def _default_diagnose(describe: Mapping[str, Any], stalled_for: float, now: datetime) -> list[Any]:
        if s3_holder[0] is None:
            s3_holder[0] = make_client("s3", retry_mode="standard", max_attempts=3)
        return diagnose_stall(describe, stalled_for, now, sm_client=sm, s3_client=s3_holder[0],
                              logs_client=logs_client)

    stall = StallDetector(name, stall_after_seconds, diagnose or _default_diagnose)
    view = make_view(progress)
    cost_of = cost_fn or costs.default_cost_fn
    cost_warned = False

    start = clock()
    start_wall = datetime.now(UTC)
    timeline: list[Sample] = []
    stalls: list[StallReport] = []
    stopped_by_us = False
    stop_attempted = False
    stop_reason: str | None = None
    last: Mapping[str, Any] = {}
    cost: CostPoint | None = None
    fc: Forecast | None = None
    budget: float | None = budget_usd
    interval = poll_seconds
    errors_in_row = 0
    polls = 0

    def summary(status: str) -> WatchSummary:
        c = timeline[-1].counters if timeline else Counters()
        out = last.get("LabelingJobOutput") or {}
        return WatchSummary(
            job_name=name, job_arn=last.get("LabelingJobArn"), final_status=status, counters=c,
            timeline=list(timeline), alerts=list(alerter.fired), stalls=list(stalls),
            stopped_by_us=stopped_by_us, stop_reason=stop_reason, failure_reason=last.get("FailureReason"),
            output_manifest=out.get("OutputDatasetS3Uri"), cost=cost, forecast=fc, budget_usd=budget,
            polls=polls, elapsed_seconds=clock() - start, last_response=last)

    try:
        while True:
            try:
                resp = sm.describe_labeling_job(LabelingJobName=name)
                errors_in_row = 0
            except Exception as exc:
                if is_not_found(exc):
                    raise JobError(f"labeling job {name!r} not found: {exc}") from exc
                if not is_transient(exc):
                    raise JobError(f"DescribeLabelingJob({name!r}) failed: {exc}") from exc
                errors_in_row += 1
                if errors_in_row > max_consecutive_errors:
                    raise JobError(f"DescribeLabelingJob({name!r}) kept failing ({errors_in_row} times in a row "
                                   f"after botocore's retries): {exc}") from exc
                log.warning("DescribeLabelingJob(%s) failed (%s); retrying", name, exc)
                t = clock() - start
                if t >= max_wait_seconds:
                    raise WatchTimeout(f"gave up watching {name!r} after {human_duration(t)}: last call failed "
                                       f"with {exc}", last, summary(str(last.get("LabelingJobStatus", "Unknown")))
                                       ) from exc
                interval = min(interval * backoff * 2, max_poll_seconds)
                sleep(min(interval, max(max_wait_seconds - t, 0.0)))
                continue

            polls += 1
            last = resp
            t = clock() - start
            at = start_wall + timedelta(seconds=t)
            status = str(resp.get("LabelingJobStatus", "Unknown"))
            counters = Counters.from_api(resp.get("LabelCounters"))

            try:
                cost = cost_of(resp)
            except Exception as exc:
                if not cost_warned:
                    log.warning("could not compute the cost of %s: %s", name, exc)
                    cost_warned = True
                cost = None
            if budget_usd is None:
                budget = (cost.budget_usd if cost and cost.budget_usd else None) or costs.budget_from_tags(resp)

            prev = timeline[-1] if timeline else None
            sample = Sample(t=t, at=at, status=status, counters=counters,
                            cost_usd=cost.total_usd if cost else None)
            timeline.append(sample)
            if on_sample is not None:
                try:
                    on_sample(sample)
                except Exception:  # like on_alert/on_stall: a broken callback must not end the watch
                    log.exception("on_sample callback raised")
            if prev is None or prev.status != status:
                log.info("labeling job %s is %s", name, status)

            if cost is not None:
                alerter.update(cost.total_usd, budget, t=t, at=at)
                if (auto_stop and not stop_attempted and budget and cost.total_usd >= stop_at * budget
                        and status in ("Initializing", "InProgress")):
                    stop_attempted = True
                    reason = (f"cost ${cost.total_usd:,.2f} reached {stop_at:.0%} of the ${budget:,.2f} budget")
                    if _stop(sm, name):
                        stopped_by_us = True
                        stop_reason = f"stopped by gtlabel: {reason}"
                        log.warning("%s: %s (StopLabelingJob sent)", name, stop_reason)
                    else:
                        stop_reason = f"gtlabel tried to stop the job ({reason}) but StopLabelingJob was refused"
                    # whoever gets the budget alerts also hears that the job was (or could not be) stopped
                    if sns_topic_arn:
                        publish(sns_client, sns_topic_arn, subject=f"gtlabel: {name} auto-stop",
                                payload={"type": "auto-stop", "job": name, "stopped": stopped_by_us,
                                         "cost_usd": round(cost.total_usd, 4), "budget_usd": budget,
                                         "message": stop_reason})
                    if on_stop is not None:
                        try:
                            on_stop(stop_reason)
                        except Exception:
                            log.exception("on_stop callback raised")

            report = stall.update(resp, status=status, counters=counters, t=t, at=at)
            if report is not None:
                stalls.append(report)
                log.warning("%s", report)
                if on_stall is not None:
                    try:
                        on_stall(report)
                    except Exception:
                        log.exception("on_stall callback raised")
                if sns_topic_arn:
                    publish(sns_client, sns_topic_arn, subject=f"gtlabel: {name} stalled",
                            payload={"type": "stall", "job": name, "stalled_for_seconds": report.stalled_for_seconds,
                                     "causes": [str(c) for c in report.causes], "message": str(report)})

            fc = forecast(timeline, resp, cost_of if cost is not None else None, budget_usd=budget,
                          window_seconds=forecast_window_seconds)
            note = ""
            if stopped_by_us:
                note = "stopped by gtlabel (budget)"
            elif stalls and stalls[-1].t == t:
                note = f"stalled {human_duration(report.stalled_for_seconds if report else 0)}"
            view.update(Snapshot(job_name=name, status=status, counters=counters,
                                 cost_usd=cost.total_usd if cost else None, budget_usd=budget, forecast=fc,
                                 note=note))

            if status in TERMINAL_STATUSES:
                result = summary(status)
                log.info("watch ended: %s", describe_line(Snapshot(name, status, counters, result.cost.total_usd
                                                                     if result.cost else None, budget, fc)))
                return result
            if t >= max_wait_seconds:
                raise WatchTimeout(
                    f"labeling job {name!r} is still {status} after {human_duration(t)} (max_wait_seconds="
                    f"{max_wait_seconds:g}); labeled {counters.total_labeled}/{counters.total}. Watch again, or "
                    f"stop it with StopLabelingJob.", resp, summary(status))

            moved = prev is None or prev.counters != counters or prev.status != status
            interval = poll_seconds if (moved or status == "Stopping") else min(interval * backoff, max_poll_seconds)
            sleep(min(interval, max(max_wait_seconds - t, 0.0)))
    finally:
        view.close()


def _stop(sm: Any, name: str) -> bool:
    """``StopLabelingJob``; True when accepted. A refusal (e.g. the job just finished) is logged, not raised."""
    try:
        sm.stop_labeling_job(LabelingJobName=name)
    except ClientError as exc:
        if is_not_found(exc):
            raise JobError(f"could not stop labeling job {name!r}: not found") from exc
        log.error("StopLabelingJob(%s) refused: %s", name, exc)
        return False
    except BotoCoreError as exc:
        log.error("StopLabelingJob(%s) failed: %s", name, exc)
        return False
    return True
