"""The observers of a watch: each gets every poll (an :class:`Observation`) and the :class:`WatchRecord`.

In the order the watch calls them:

- :class:`~gtlabel.monitor.notify.Notifications`: ``on_sample``, a log line when the status changes;
- :class:`~gtlabel.monitor.alerts.BudgetAlerter`: budget thresholds, once each;
- :class:`AutoStop`: ``StopLabelingJob`` once when the cost reaches the budget's ``stop_at``;
- :class:`~gtlabel.monitor.stall.StallDetector`: a report of likely causes, once per stall;
- :class:`ProgressBar`: the live view (terminal or notebook).

Each does its one job and can be fed synthetic observations in a test; :func:`watch_observers` lines them
up from :class:`~gtlabel.monitor.options.WatchOptions`.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from gtlabel.aws import is_not_found
from gtlabel.errors import JobError
from gtlabel.monitor.alerts import BudgetAlerter
from gtlabel.monitor.model import Observation, human_duration
from gtlabel.monitor.notify import Notifications
from gtlabel.monitor.options import BudgetPolicy, WatchOptions
from gtlabel.monitor.progress import ProgressView, Snapshot
from gtlabel.monitor.stall import ClientDiagnosis, StallDetector
from gtlabel.monitor.summary import WatchRecord

log = logging.getLogger("gtlabel.monitor")


class Observer(Protocol):
    def observe(self, obs: Observation, record: WatchRecord) -> None: ...


class AutoStop:
    """Stops the job, once, when :meth:`BudgetPolicy.stop_due`; says so in the record, the log and the
    notifications (SNS ``auto-stop``, ``on_stop``). A refused stop is reported, not claimed."""

    def __init__(self, job_name: str, sm_client: Any, policy: BudgetPolicy, notifications: Notifications) -> None:
        self.job_name = job_name
        self.sm_client = sm_client
        self.policy = policy
        self.notifications = notifications
        self.attempted = False

    def observe(self, obs: Observation, record: WatchRecord) -> None:
        cost, budget = obs.cost, obs.budget_usd
        if self.attempted or cost is None or budget is None or not self.policy.stop_due(obs):
            return
        self.attempted = True
        reason = f"cost ${cost.total_usd:,.2f} reached {self.policy.stop_at:.0%} of the ${budget:,.2f} budget"
        stopped = stop_labeling_job(self.sm_client, self.job_name)
        if stopped:
            message = f"stopped by gtlabel: {reason}"
            log.warning("%s: %s (StopLabelingJob sent)", self.job_name, message)
        else:
            message = f"gtlabel tried to stop the job ({reason}) but StopLabelingJob was refused"
        record.stopped_by_us, record.stop_reason = stopped, message
        self.notifications.stop(self.job_name, stopped=stopped, reason=message, cost_usd=cost.total_usd,
                                budget_usd=budget)


def stop_labeling_job(sm_client: Any, name: str) -> bool:
    """``StopLabelingJob``; True when accepted. A refusal (e.g. the job just finished) is logged, not raised."""
    try:
        sm_client.stop_labeling_job(LabelingJobName=name)
    except ClientError as exc:
        if is_not_found(exc):
            raise JobError(f"could not stop labeling job {name!r}: not found") from exc
        log.error("StopLabelingJob(%s) refused: %s", name, exc)
        return False
    except BotoCoreError as exc:
        log.error("StopLabelingJob(%s) failed: %s", name, exc)
        return False
    return True


class ProgressBar:
    """Shows each poll in a :class:`ProgressView`, with a note when the job was stopped or just stalled."""

    def __init__(self, job_name: str, view: ProgressView) -> None:
        self.job_name = job_name
        self.view = view

    def observe(self, obs: Observation, record: WatchRecord) -> None:
        note = ""
        if record.stopped_by_us:
            note = "stopped by gtlabel (budget)"
        elif record.stalls and record.stalls[-1].t == obs.t:
            note = f"stalled {human_duration(record.stalls[-1].stalled_for_seconds)}"
        self.view.update(Snapshot(job_name=self.job_name, status=obs.status, counters=obs.counters,
                                  cost_usd=obs.cost.total_usd if obs.cost else None, budget_usd=obs.budget_usd,
                                  forecast=obs.forecast, note=note))


def watch_observers(job_name: str, sm_client: Any, options: WatchOptions, view: ProgressView) -> list[Observer]:
    """The observers of one watch, in order (see the module docstring); ``options.notifications`` should
    already be :meth:`~Notifications.connected`."""
    notes = options.notifications
    budget, stall = options.budget, options.stall
    diagnose = stall.diagnose or ClientDiagnosis(sm_client, stall.s3_client, stall.logs_client)
    return [
        notes,
        BudgetAlerter(job_name, budget.thresholds, on_alert=notes.on_alert, sns_client=notes.sns_client,
                      sns_topic_arn=notes.sns_topic_arn),
        AutoStop(job_name, sm_client, budget, notes),
        StallDetector(job_name, stall.after_seconds, diagnose, notifications=notes),
        ProgressBar(job_name, view),
    ]
