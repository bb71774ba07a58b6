"""Job monitoring and live cost control.

- :func:`watch_labeling_job` / :func:`watch_job`: bounded polling with a live progress bar (terminal or
  notebook), cost so far and forecast, budget alerts (callback, log, SNS) with optional auto-stop, and stall
  reports. The loop describes the job, turns the response into an :class:`Observation` and hands it to the
  observers; its options come in groups: :class:`Polling`, :class:`BudgetPolicy`, :class:`StallPolicy`,
  :class:`Notifications`, all in :class:`WatchOptions`.
- :func:`plot_watch`: counters, labeling rate and cost against the budget (PNG; inline in notebooks).
- :func:`list_labeling_jobs`: many jobs with status, progress, cost so far and age (paginated).
- :func:`create_state_change_rule`: EventBridge rule for job state changes with an SNS target.

Modules: ``watch`` (the loop: poller, sampler), ``options``, ``observers`` (auto-stop, progress bar, their
order), ``alerts``, ``stall``, ``notify``, ``progress``, ``forecast``, ``model`` (records), ``summary``,
``plots``, ``listing``, ``events``, ``costs`` (the seam to :mod:`gtlabel.cost`), ``clients`` (boto3 clients,
AWS errors). Price math lives in :mod:`gtlabel.cost`, not here.
"""

from __future__ import annotations

from gtlabel.errors import WatchTimeout
from gtlabel.monitor.alerts import BudgetAlerter
from gtlabel.monitor.events import (
    StateChangeRule,
    create_state_change_rule,
    sample_event,
    state_change_event_pattern,
)
from gtlabel.monitor.forecast import forecast, labeling_rate
from gtlabel.monitor.listing import JobRow, list_labeling_jobs
from gtlabel.monitor.model import (
    TERMINAL_STATUSES,
    Alert,
    CostPoint,
    Counters,
    Forecast,
    Observation,
    Sample,
    StallCause,
    StallReport,
)
from gtlabel.monitor.notify import Notifications
from gtlabel.monitor.options import DEFAULT_THRESHOLDS, BudgetPolicy, Polling, StallPolicy, WatchOptions
from gtlabel.monitor.plots import plot_watch
from gtlabel.monitor.stall import diagnose_stall
from gtlabel.monitor.summary import WatchRecord, WatchSummary
from gtlabel.monitor.watch import watch_job, watch_labeling_job

__all__ = [
    "DEFAULT_THRESHOLDS",
    "TERMINAL_STATUSES",
    "Alert",
    "BudgetAlerter",
    "BudgetPolicy",
    "CostPoint",
    "Counters",
    "Forecast",
    "JobRow",
    "Notifications",
    "Observation",
    "Polling",
    "Sample",
    "StallCause",
    "StallPolicy",
    "StallReport",
    "StateChangeRule",
    "WatchOptions",
    "WatchRecord",
    "WatchSummary",
    "WatchTimeout",
    "create_state_change_rule",
    "diagnose_stall",
    "forecast",
    "labeling_rate",
    "list_labeling_jobs",
    "plot_watch",
    "sample_event",
    "state_change_event_pattern",
    "watch_job",
    "watch_labeling_job",
]
