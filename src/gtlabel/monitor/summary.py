""":class:`WatchSummary`: what :func:`watch_labeling_job` saw, start to end (JSON-ready, plottable), and the
:class:`WatchRecord` it is built from while the watch runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from gtlabel.aws import JobStatus
from gtlabel.monitor.model import Alert, CostPoint, Counters, Forecast, Sample, StallReport
from gtlabel.monitor.plots import plot_watch


@dataclass
class WatchSummary:
    """What :func:`watch_labeling_job` saw, start to end."""

    job_name: str
    job_arn: str | None
    final_status: str
    counters: Counters
    timeline: list[Sample]
    alerts: list[Alert]
    stalls: list[StallReport]
    stopped_by_us: bool
    stop_reason: str | None
    failure_reason: str | None
    output_manifest: str | None
    cost: CostPoint | None
    forecast: Forecast | None
    budget_usd: float | None
    polls: int
    elapsed_seconds: float
    last_response: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @property
    def completed(self) -> bool:
        return self.final_status == JobStatus.COMPLETED

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (datetimes as ISO strings); the raw last response is left out."""
        d = asdict(self)
        d.pop("last_response", None)
        return jsonable(d)  # type: ignore[no-any-return]

    def plot(self, path: str | None = None, *, show: bool | None = None) -> Any:
        """Counters, rate and cost over time (see :func:`gtlabel.monitor.plots.plot_watch`)."""
        return plot_watch(self, path, show=show)


@dataclass
class WatchRecord:
    """What a running watch has seen so far. The sampler adds each poll; the observers add alerts, stalls and
    the auto-stop; :meth:`summary` freezes a copy."""

    job_name: str
    budget_usd: float | None = None
    timeline: list[Sample] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    stalls: list[StallReport] = field(default_factory=list)
    stopped_by_us: bool = False
    stop_reason: str | None = None
    cost: CostPoint | None = None
    forecast: Forecast | None = None
    polls: int = 0
    last_response: Mapping[str, Any] = field(default_factory=dict)

    @property
    def last_status(self) -> str:
        return str(self.last_response.get("LabelingJobStatus", "Unknown"))

    def summary(self, final_status: str, elapsed_seconds: float) -> WatchSummary:
        last = self.last_response
        output = last.get("LabelingJobOutput") or {}
        return WatchSummary(
            job_name=self.job_name, job_arn=last.get("LabelingJobArn"), final_status=final_status,
            counters=self.timeline[-1].counters if self.timeline else Counters(), timeline=list(self.timeline),
            alerts=list(self.alerts), stalls=list(self.stalls), stopped_by_us=self.stopped_by_us,
            stop_reason=self.stop_reason, failure_reason=last.get("FailureReason"),
            output_manifest=output.get("OutputDatasetS3Uri"), cost=self.cost, forecast=self.forecast,
            budget_usd=self.budget_usd, polls=self.polls, elapsed_seconds=elapsed_seconds, last_response=last)


def jsonable(obj: Any) -> Any:
    """``obj`` with datetimes as ISO strings and tuples as lists, mappings' keys as strings."""
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    return obj
