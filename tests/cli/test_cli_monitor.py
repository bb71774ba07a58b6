"""``gtlabel job watch`` (cli/monitor.py) in-process on a stubbed SageMaker client: JSON and plot output, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from monitor_helpers import counters, describe, per_object_cost, stubbed_sagemaker
from typer.testing import CliRunner

from gtlabel.cli import app
from gtlabel.monitor import costs, watch


def _cli(monkeypatch: pytest.MonkeyPatch, responses: list[tuple[str, dict]], args: list[str]):  # type: ignore[no-untyped-def]
    client, stub = stubbed_sagemaker()
    for op, resp in responses:
        stub.add_response(op, resp)
    monkeypatch.setattr(watch, "make_client", lambda *a, **k: client)
    monkeypatch.setattr(costs, "default_cost_fn", per_object_cost(0.10))
    with stub:
        res = CliRunner().invoke(app, ["job", "watch", "cli-job", "--poll", "0.01", "--max-poll", "0.01",
                                       "--no-progress", *args])
    return res


def test_cli_watch_completed_with_plot_and_json(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    png = tmp_path / "w.png"
    res = _cli(monkeypatch, [("describe_labeling_job", describe("cli-job", "InProgress", counters(3, 7))),
                             ("describe_labeling_job", describe("cli-job", "Completed", counters(10, 0)))],
               ["--json", "--plot", str(png)])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)  # log lines go to stderr
    assert d["final_status"] == "Completed" and d["counters"]["total_labeled"] == 10 and len(d["timeline"]) == 2
    assert png.stat().st_size > 10_000


def test_cli_watch_auto_stop_exits_4(monkeypatch: pytest.MonkeyPatch) -> None:
    res = _cli(monkeypatch, [("describe_labeling_job", describe("cli-job", "InProgress", counters(6, 4))),
                             ("stop_labeling_job", {}),
                             ("describe_labeling_job", describe("cli-job", "Stopped", counters(6, 4)))],
               ["--budget", "0.5", "--auto-stop"])
    assert res.exit_code == 4, res.output
    assert "Stopped" in res.output and "stopped by gtlabel" in res.output


def test_cli_watch_failed_exits_6(monkeypatch: pytest.MonkeyPatch) -> None:
    failed = describe("cli-job", "Failed", counters(0, 10))
    failed["FailureReason"] = "ClientError: Lambda ARN is in another region"
    res = _cli(monkeypatch, [("describe_labeling_job", failed)], [])
    assert res.exit_code == 6 and "Lambda ARN is in another region" in res.output


def test_cli_watch_timeout_exits_6(monkeypatch: pytest.MonkeyPatch) -> None:
    res = _cli(monkeypatch, [("describe_labeling_job", describe("cli-job", "InProgress", counters(1, 9)))] * 3,
               ["--max-wait", "0.02"])
    assert res.exit_code == 6 and "still InProgress" in res.output
