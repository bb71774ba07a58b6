"""The options of a watch, grouped: how to poll, what the budget allows, when a job counts as stalled.

Each group checks itself when it is made (:class:`gtlabel.errors.ConfigError` naming the field), so a bad
option fails before any AWS call. :class:`WatchOptions` holds one of each, with the
:class:`~gtlabel.monitor.notify.Notifications`, the progress view and the cost function;
:func:`gtlabel.monitor.watch.watch_job` takes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gtlabel.aws import JobStatus
from gtlabel.errors import ConfigError
from gtlabel.monitor.clients import RetryMode, check_retry_mode
from gtlabel.monitor.costs import CostFn
from gtlabel.monitor.model import CostPoint, Observation
from gtlabel.monitor.notify import Notifications
from gtlabel.monitor.progress import ProgressView
from gtlabel.monitor.stall import Diagnose

DEFAULT_THRESHOLDS: tuple[float, ...] = (0.5, 0.8, 1.0)
RUNNING_STATUSES = frozenset({JobStatus.INITIALIZING, JobStatus.IN_PROGRESS})  # a job the auto-stop may still stop


def check_thresholds(thresholds: Iterable[float]) -> tuple[float, ...]:
    """Sorted, de-duplicated thresholds; each a fraction of the budget > 0 (1.0 = the whole budget)."""
    out = sorted(set(float(t) for t in thresholds))
    bad = [t for t in out if not t > 0]
    if bad:
        raise ConfigError(f"budget thresholds are fractions of the budget and must be > 0 (e.g. 0.5, 0.8, 1.0); got {bad}")
    return tuple(out)


@dataclass(frozen=True)
class Polling:
    """Bounded polling of ``DescribeLabelingJob``, in the manner of botocore's waiters.

    Polls every ``poll_seconds``; while nothing moves the interval grows by ``backoff`` up to
    ``max_poll_seconds``, and any movement resets it. Gives up after ``max_wait_seconds`` (``WatchTimeout``
    with the last response). botocore's ``retry_mode`` absorbs throttling inside each call; a call that
    still fails with a throttling or connection error is tried again by the watch, with twice the back-off,
    at most ``max_consecutive_errors`` times in a row.
    """

    poll_seconds: float = 30.0
    max_poll_seconds: float = 300.0
    backoff: float = 1.5
    max_wait_seconds: float = 24 * 3600.0
    max_consecutive_errors: int = 8
    retry_mode: RetryMode = "adaptive"

    def __post_init__(self) -> None:
        if self.poll_seconds <= 0 or self.max_poll_seconds < self.poll_seconds or self.backoff < 1.0:
            raise ConfigError(f"need 0 < poll_seconds <= max_poll_seconds and backoff >= 1; got poll_seconds="
                              f"{self.poll_seconds}, max_poll_seconds={self.max_poll_seconds}, backoff={self.backoff}")
        if self.max_wait_seconds < 0:
            raise ConfigError(f"max_wait_seconds must be >= 0; got {self.max_wait_seconds}")
        if self.max_consecutive_errors < 0:
            raise ConfigError(f"max_consecutive_errors must be >= 0; got {self.max_consecutive_errors}")
        check_retry_mode(self.retry_mode)

    def next_interval(self, interval: float, *, moved: bool) -> float:
        """The pause after a poll: back to ``poll_seconds`` when something moved, else ``backoff`` longer."""
        return self.poll_seconds if moved else min(interval * self.backoff, self.max_poll_seconds)

    def after_error(self, interval: float) -> float:
        """The pause after a failed call: twice the back-off, bounded by ``max_poll_seconds``."""
        return min(interval * self.backoff * 2, self.max_poll_seconds)

    def pause(self, interval: float, elapsed: float) -> float:
        """``interval``, shortened so that the last poll falls exactly on ``max_wait_seconds``."""
        return min(interval, max(self.max_wait_seconds - elapsed, 0.0))


@dataclass(frozen=True)
class BudgetPolicy:
    """What the budget allows: alerts at ``thresholds`` (fractions of it), and optionally a stop.

    The budget is ``budget_usd``, or else the one :mod:`gtlabel.cost` reads from the job (tag
    ``gtlabel:max-budget-usd``). Each threshold fires once. With ``auto_stop``, a job still running whose
    cost reaches ``stop_at`` x budget is stopped (``StopLabelingJob``, once).
    """

    budget_usd: float | None = None
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    auto_stop: bool = False
    stop_at: float = 1.0

    def __post_init__(self) -> None:
        if self.budget_usd is not None and self.budget_usd <= 0:
            raise ConfigError(f"budget_usd must be > 0; got {self.budget_usd}")
        if self.stop_at <= 0:
            raise ConfigError(f"stop_at is a fraction of the budget and must be > 0; got {self.stop_at}")
        object.__setattr__(self, "thresholds", check_thresholds(self.thresholds))

    def budget_for(self, cost: CostPoint | None, tagged: float | None) -> float | None:
        """The budget in force: ``budget_usd``, else the cost model's, else ``tagged`` (the job's tag)."""
        if self.budget_usd is not None:
            return self.budget_usd
        return (cost.budget_usd if cost and cost.budget_usd else None) or tagged

    def stop_due(self, obs: Observation) -> bool:
        """The auto-stop applies to this poll: on, a running job, a budget, and the cost at ``stop_at`` of it."""
        budget = obs.budget_usd
        return bool(self.auto_stop and obs.cost is not None and budget and obs.status in RUNNING_STATUSES
                    and obs.cost.total_usd >= self.stop_at * budget)


@dataclass(frozen=True)
class StallPolicy:
    """When a job ``InProgress`` counts as stalled, and how its likely causes are looked for.

    Counters that do not move for ``after_seconds`` (0 disables) give one report per stall. The checks use
    the watch's SageMaker client, ``s3_client`` (the image bucket's CORS; made when needed) and, when given,
    ``logs_client`` (CloudWatch Logs worker activity, AWS only); ``diagnose`` replaces them all.
    """

    after_seconds: float = 3600.0
    diagnose: Diagnose | None = None
    s3_client: Any = None
    logs_client: Any = None


@dataclass(frozen=True)
class WatchOptions:
    """Everything a watch needs to know besides the job: the option groups, the progress view (True: a live
    bar, rich in a terminal or HTML in Jupyter; False: none; or your own view) and the cost function
    (default :func:`gtlabel.cost.cost_so_far`), with the window the labeling rate is measured over."""

    polling: Polling = field(default_factory=Polling)
    budget: BudgetPolicy = field(default_factory=BudgetPolicy)
    stall: StallPolicy = field(default_factory=StallPolicy)
    notifications: Notifications = field(default_factory=Notifications)
    progress: bool | ProgressView = True
    cost_fn: CostFn | None = None
    forecast_window_seconds: float = 900.0

    def __post_init__(self) -> None:
        if self.forecast_window_seconds <= 0:
            raise ConfigError(f"forecast_window_seconds must be > 0; got {self.forecast_window_seconds}")
