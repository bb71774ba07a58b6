"""Typed records of a watched labeling job: counters, cost, samples, alerts, stall reports.

The summary of a whole watch is :class:`gtlabel.monitor.summary.WatchSummary`.

Pure values: parsed once from ``DescribeLabelingJob`` at the edge, never dict-sniffed later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from gtlabel.aws import TERMINAL, JobStatus

TERMINAL_STATUSES: frozenset[str] = frozenset(TERMINAL)  # the statuses' home is gtlabel.aws
ALL_STATUSES: tuple[str, ...] = tuple(JobStatus)


@dataclass(frozen=True)
class Counters:
    """``LabelCounters`` of a job (all optional in the API; missing means 0)."""

    total_labeled: int = 0
    human_labeled: int = 0
    machine_labeled: int = 0
    failed: int = 0
    unlabeled: int = 0

    @classmethod
    def from_api(cls, counters: Mapping[str, Any] | None) -> Counters:
        c = counters or {}
        return cls(
            total_labeled=int(c.get("TotalLabeled", 0) or 0),
            human_labeled=int(c.get("HumanLabeled", 0) or 0),
            machine_labeled=int(c.get("MachineLabeled", 0) or 0),
            failed=int(c.get("FailedNonRetryableError", 0) or 0),
            unlabeled=int(c.get("Unlabeled", 0) or 0),
        )

    def to_api(self) -> dict[str, int]:
        return {
            "TotalLabeled": self.total_labeled,
            "HumanLabeled": self.human_labeled,
            "MachineLabeled": self.machine_labeled,
            "FailedNonRetryableError": self.failed,
            "Unlabeled": self.unlabeled,
        }

    @property
    def total(self) -> int:
        """Every data object the job knows of: labeled + failed + still unlabeled."""
        return self.total_labeled + self.failed + self.unlabeled

    @property
    def done(self) -> int:
        """Objects that will not change any more (labeled or failed for good)."""
        return self.total_labeled + self.failed

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


@dataclass(frozen=True)
class CostPoint:
    """Cost so far as :mod:`gtlabel.cost` computes it, reduced to what the monitor needs."""

    total_usd: float
    budget_usd: float | None = None
    breakdown: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Forecast:
    """Where the job is heading at the current labeling rate."""

    rate_per_second: float  # objects finished (labeled or failed) per second, over the recent window
    remaining: int
    eta_seconds: float | None  # None when the rate is 0 (no movement: no honest ETA)
    projected_cost_usd: float | None  # cost at completion if the rest is labeled like so far
    budget_usd: float | None = None

    @property
    def projected_over_budget(self) -> bool:
        return (
            self.projected_cost_usd is not None
            and self.budget_usd is not None
            and self.projected_cost_usd > self.budget_usd
        )


@dataclass(frozen=True)
class Sample:
    """One poll: seconds since the watch started, wall-clock time, status, counters and cost."""

    t: float
    at: datetime
    status: str
    counters: Counters
    cost_usd: float | None


@dataclass(frozen=True)
class Observation:
    """One poll as the observers see it: the :class:`Sample` (and the one before), the cost so far, the budget
    in force, the forecast, and the ``DescribeLabelingJob`` response it came from."""

    sample: Sample
    previous: Sample | None
    cost: CostPoint | None
    budget_usd: float | None
    forecast: Forecast | None
    describe: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @property
    def t(self) -> float:
        return self.sample.t

    @property
    def at(self) -> datetime:
        return self.sample.at

    @property
    def status(self) -> str:
        return self.sample.status

    @property
    def counters(self) -> Counters:
        return self.sample.counters

    @property
    def moved(self) -> bool:
        """The first sample, or the counters or the status changed since the one before."""
        p = self.previous
        return p is None or p.counters != self.counters or p.status != self.status


@dataclass(frozen=True)
class Alert:
    """A budget threshold crossed (fired once per threshold per watch)."""

    job_name: str
    threshold: float  # fraction of the budget, e.g. 0.8
    cost_usd: float
    budget_usd: float
    t: float
    at: datetime
    message: str
    sns_message_id: str | None = None


Likelihood = Literal["likely", "possible", "info", "ok"]


@dataclass(frozen=True)
class StallCause:
    """One candidate reason a job is not moving, with what was checked."""

    code: str  # stable id: nobody-working, tasks-expired, mturk-expiry, no-cors, lambda-region, ...
    likelihood: Likelihood
    message: str

    def __str__(self) -> str:
        return f"[{self.likelihood}] {self.code}: {self.message}"


@dataclass(frozen=True)
class StallReport:
    """A job ``InProgress`` whose counters did not move for ``stalled_for_seconds``."""

    job_name: str
    status: str
    counters: Counters
    stalled_for_seconds: float
    since: datetime  # wall-clock time of the last movement seen (or watch start)
    t: float
    causes: tuple[StallCause, ...]

    def __str__(self) -> str:
        lines = [
            f"labeling job {self.job_name!r} is {self.status} but its counters have not moved for "
            f"{human_duration(self.stalled_for_seconds)} (labeled {self.counters.total_labeled}/"
            f"{self.counters.total}, failed {self.counters.failed}). Likely causes, most likely first:"
        ]
        lines += [f"  - {c}" for c in self.causes]
        return "\n".join(lines)


def human_duration(seconds: float) -> str:
    """``42s``, ``5m03s``, ``2h07m``, ``3d04h``: a duration for people."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"

