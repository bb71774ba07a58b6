"""Job monitoring and live cost control.

- :func:`watch_labeling_job`: bounded polling with a live progress bar (terminal or notebook), cost so far
  and forecast, budget alerts (callback, log, SNS) with optional auto-stop, and stall reports.
- :func:`plot_watch`: counters, labeling rate and cost against the budget (PNG; inline in notebooks).
- :func:`list_labeling_jobs`: many jobs with status, progress, cost so far and age (paginated).
- :func:`create_state_change_rule`: EventBridge rule for job state changes with an SNS target.

Modules: ``model`` (records), ``summary``, ``watch``, ``alerts``, ``stall``, ``forecast``, ``progress``, ``plots``,
``listing``, ``events``, ``costs`` (the seam to :mod:`gtlabel.cost`), ``clients`` (boto3 clients,
AWS errors). Price math lives in :mod:`gtlabel.cost`, not here.
"""

from __future__ import annotations

from gtlabel.errors import WatchTimeout
from gtlabel.monitor.alerts import DEFAULT_THRESHOLDS, BudgetAlerter
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
    Sample,
    StallCause,
    StallReport,
)
from gtlabel.monitor.plots import plot_watch
from gtlabel.monitor.stall import diagnose_stall
from gtlabel.monitor.summary import WatchSummary
from gtlabel.monitor.watch import watch_labeling_job

__all__ = [
    "DEFAULT_THRESHOLDS",
    "TERMINAL_STATUSES",
    "Alert",
    "BudgetAlerter",
    "CostPoint",
    "Counters",
    "Forecast",
    "JobRow",
    "Sample",
    "StallCause",
    "StallReport",
    "StateChangeRule",
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
    "watch_labeling_job",
]
