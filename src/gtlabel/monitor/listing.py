"""Many jobs at once: ListLabelingJobs (through its paginator) + DescribeLabelingJob for cost."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gtlabel.errors import ConfigError, JobError
from gtlabel.monitor import costs
from gtlabel.monitor.clients import make_client
from gtlabel.monitor.model import ALL_STATUSES, Counters

log = logging.getLogger("gtlabel.monitor")


@dataclass(frozen=True)
class JobRow:
    name: str
    status: str
    counters: Counters
    created: datetime
    cost_usd: float | None
    budget_usd: float | None
    failure_reason: str | None = None

    @property
    def progress(self) -> float:
        return self.counters.fraction

    def age_seconds(self, now: datetime | None = None) -> float:
        now = now or datetime.now(UTC)
        created = self.created if self.created.tzinfo else self.created.replace(tzinfo=UTC)
        return max(0.0, (now - created).total_seconds())


def iter_job_summaries(
    sm_client: Any,
    *,
    status: str | None = None,
    name_contains: str | None = None,
    since: datetime | None = None,
    page_size: int = 100,
) -> Iterator[Mapping[str, Any]]:
    """Every LabelingJobSummary matching the filters, newest first, across all pages."""
    if status is not None and status not in ALL_STATUSES:
        raise ConfigError(f"status must be one of {', '.join(ALL_STATUSES)}; got {status!r}")
    if not 1 <= page_size <= 100:
        raise ConfigError(f"page_size must be 1..100 (ListLabelingJobs MaxResults); got {page_size}")
    kwargs: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending",
                              "PaginationConfig": {"PageSize": page_size}}
    if status:
        kwargs["StatusEquals"] = status
    if name_contains:
        kwargs["NameContains"] = name_contains
    if since is not None:
        kwargs["CreationTimeAfter"] = since
    for page in sm_client.get_paginator("list_labeling_jobs").paginate(**kwargs):
        yield from page.get("LabelingJobSummaryList") or ()


def list_labeling_jobs(
    *,
    sm_client: Any = None,
    status: str | None = None,
    name_contains: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    with_cost: bool = True,
    cost_fn: costs.CostFn | None = None,
    max_workers: int = 4,
    on_progress: Callable[[int, int], Any] | None = None,
) -> list[JobRow]:
    """Rows for a table of jobs; with ``with_cost`` each job is described (summaries carry no price/tags)."""
    sm = sm_client if sm_client is not None else make_client("sagemaker")
    try:
        summaries = []
        for s in iter_job_summaries(sm, status=status, name_contains=name_contains, since=since):
            summaries.append(s)
            if limit is not None and len(summaries) >= limit:
                break
    except (ClientError, BotoCoreError) as exc:
        raise JobError(f"ListLabelingJobs failed: {exc}") from exc

    cost_of = cost_fn or costs.default_cost_fn

    def row(s: Mapping[str, Any]) -> JobRow:
        cost = budget = None
        counters = Counters.from_api(s.get("LabelCounters"))
        status_ = str(s.get("LabelingJobStatus"))
        if with_cost:
            try:
                d = sm.describe_labeling_job(LabelingJobName=s["LabelingJobName"])
                counters = Counters.from_api(d.get("LabelCounters"))
                status_ = str(d.get("LabelingJobStatus", status_))
                budget = costs.budget_from_tags(d)
                c = cost_of(d)
                cost = c.total_usd
                budget = c.budget_usd or budget
            except Exception as exc:  # one unreadable job must not hide the others
                log.warning("could not get the cost of %s: %s", s.get("LabelingJobName"), exc)
        return JobRow(name=str(s["LabelingJobName"]), status=status_, counters=counters,
                      created=s["CreationTime"], cost_usd=cost, budget_usd=budget,
                      failure_reason=s.get("FailureReason"))

    rows: list[JobRow] = []
    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        for i, r in enumerate(pool.map(row, summaries), 1):
            rows.append(r)
            if on_progress is not None:
                on_progress(i, len(summaries))
    return rows
