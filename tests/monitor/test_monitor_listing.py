"""Many jobs: ListLabelingJobs pagination (>100 jobs), filters, cost per job, and the `gtlabel job list` table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from monitor_helpers import PRIVATE_TEAM, REGION, counters, describe, per_object_cost, stubbed_sagemaker
from typer.testing import CliRunner

from gtlabel.errors import ConfigError
from gtlabel.monitor import list_labeling_jobs

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _summary(i: int, status: str = "InProgress") -> dict[str, Any]:
    name = f"job-{i:03d}"
    return {"LabelingJobName": name, "LabelingJobArn": f"arn:aws:sagemaker:{REGION}:111122223333:labeling-job/{name}",
            "CreationTime": NOW - timedelta(hours=i), "LastModifiedTime": NOW, "LabelingJobStatus": status,
            "LabelCounters": counters(i % 10, 10 - i % 10), "WorkteamArn": PRIVATE_TEAM}


def _pages(stub: Any, n: int, expected: dict[str, Any]) -> None:
    items = [_summary(i) for i in range(n)]
    for start in range(0, n, 100):
        page: dict[str, Any] = {"LabelingJobSummaryList": items[start:start + 100]}
        params = dict(expected, MaxResults=100)
        if start + 100 < n:
            page["NextToken"] = f"token-{start + 100}"
        if start:
            params["NextToken"] = f"token-{start}"
        stub.add_response("list_labeling_jobs", page, params)


def test_pagination_over_250_jobs_with_filters() -> None:
    client, stub = stubbed_sagemaker()
    since = NOW - timedelta(days=30)
    expected = {"SortBy": "CreationTime", "SortOrder": "Descending", "StatusEquals": "InProgress",
                "NameContains": "job", "CreationTimeAfter": since}
    _pages(stub, 250, expected)
    with stub:
        rows = list_labeling_jobs(sm_client=client, status="InProgress", name_contains="job", since=since,
                                  with_cost=False)
        stub.assert_no_pending_responses()
    assert len(rows) == 250 and len({r.name for r in rows}) == 250
    assert rows[0].name == "job-000" and rows[-1].name == "job-249"
    assert rows[7].counters.total_labeled == 7 and rows[7].progress == pytest.approx(0.7)
    assert rows[3].age_seconds(NOW) == 3 * 3600 and rows[0].cost_usd is None


def test_limit_stops_paging_early() -> None:
    client, stub = stubbed_sagemaker()
    _pages(stub, 250, {"SortBy": "CreationTime", "SortOrder": "Descending"})
    with stub:
        rows = list_labeling_jobs(sm_client=client, limit=120, with_cost=False)
    assert len(rows) == 120  # two pages read, the third never requested


def test_cost_per_job_from_describe() -> None:
    client, stub = stubbed_sagemaker()
    stub.add_response("list_labeling_jobs", {"LabelingJobSummaryList": [_summary(1), _summary(2)]})
    for i in (1, 2):
        stub.add_response("describe_labeling_job",
                          describe(f"job-{i:03d}", "InProgress", counters(5 * i, 10), tags={"gtlabel:max-budget-usd": "3"}),
                          {"LabelingJobName": f"job-{i:03d}"})
    with stub:
        rows = list_labeling_jobs(sm_client=client, cost_fn=per_object_cost(0.10), max_workers=1)
    assert [(r.name, r.cost_usd, r.budget_usd) for r in rows] == [("job-001", 0.5, 3.0), ("job-002", 1.0, 3.0)]
    assert rows[1].counters.total_labeled == 10  # described counters, fresher than the summary's


def test_bad_status_filter() -> None:
    with pytest.raises(ConfigError, match="InProgress"):
        list_labeling_jobs(sm_client=object(), status="Running")


def test_cli_job_list_table_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    from gtlabel.cli import app
    from gtlabel.monitor import listing

    client, stub = stubbed_sagemaker()
    _pages(stub, 130, {"SortBy": "CreationTime", "SortOrder": "Descending", "StatusEquals": "InProgress"})
    _pages(stub, 130, {"SortBy": "CreationTime", "SortOrder": "Descending", "StatusEquals": "InProgress"})
    monkeypatch.setattr(listing, "make_client", lambda *a, **k: client)
    runner = CliRunner()
    with stub:
        res = runner.invoke(app, ["job", "list", "--status", "InProgress", "--no-cost"], env={"COLUMNS": "160"})
        assert res.exit_code == 0, res.output
        assert "130 labeling job(s)" in res.output and "job-129" in res.output and "7/10 70%" in res.output
        res = runner.invoke(app, ["job", "list", "--status", "InProgress", "--no-cost", "--json"])
        assert res.exit_code == 0, res.output
        rows = json.loads(res.output)
        assert len(rows) == 130 and rows[7]["labeled"] == 7 and rows[7]["progress"] == 0.7


def test_cli_job_list_bad_since_is_usage_error() -> None:
    from gtlabel.cli import app

    res = CliRunner().invoke(app, ["job", "list", "--since", "yesterday-ish"])
    assert res.exit_code == 3 and "--since" in res.output


def test_parse_since() -> None:
    from gtlabel.cli.monitor import parse_since

    assert parse_since("2d", NOW) == NOW - timedelta(days=2)
    assert parse_since("90m", NOW) == NOW - timedelta(minutes=90)
    assert parse_since("2026-11-01", NOW) == datetime(2026, 11, 1, tzinfo=UTC)
