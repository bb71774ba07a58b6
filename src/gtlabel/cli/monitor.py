"""``gtlabel job watch`` / ``gtlabel job list`` / ``gtlabel job notify-rule``: monitoring commands.

They join the ``job`` group that ``cli/jobs.py`` creates (found in ``app.registered_groups``); if no such
group exists yet, this module creates it, and :func:`job_group` returns the same group to any later caller.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.logging import RichHandler
from rich.table import Table

from gtlabel.aws import JobStatus
from gtlabel.cli._common import Exit, console, err_console, handle_errors
from gtlabel.errors import ConfigError
from gtlabel.monitor import (
    DEFAULT_THRESHOLDS,
    BudgetPolicy,
    Notifications,
    Polling,
    StallPolicy,
    WatchOptions,
    create_state_change_rule,
    list_labeling_jobs,
    watch_job,
)
from gtlabel.monitor.clients import make_client
from gtlabel.monitor.events import DOCUMENTED_STATUSES
from gtlabel.monitor.model import human_duration
from gtlabel.monitor.progress import RichView
from gtlabel.monitor.summary import WatchSummary

JOB_GROUP = "job"
_JOB_HELP = "Labeling jobs: create, watch, list."


def _group_name(info: Any) -> str | None:
    name = getattr(info, "name", None)
    if isinstance(name, str):
        return name
    inner = getattr(getattr(info, "typer_instance", None), "info", None)
    name = getattr(inner, "name", None)
    return name if isinstance(name, str) else None


def job_group(app: typer.Typer) -> typer.Typer:
    """The ``job`` sub-app of ``app``: the existing one if registered, else a new one added to ``app``."""
    for info in app.registered_groups:
        if _group_name(info) == JOB_GROUP and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(name=JOB_GROUP, help=_JOB_HELP, no_args_is_help=True)
    app.add_typer(group, name=JOB_GROUP)
    return group


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``30m``, ``12h``, ``7d``, ``2w`` (ago) or an ISO date/time (UTC when no zone is given)."""
    now = now or datetime.now(UTC)
    m = _DURATION.match(text)
    if m:
        return now - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--since: expected a duration like 30m, 12h, 7d, 2w or an ISO date like 2026-01-31; "
                          f"got {text!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _money(v: float | None) -> str:
    return "-" if v is None else f"${v:,.2f}"


@contextlib.contextmanager
def _monitor_log_shown() -> Iterator[None]:
    """Alerts, stalls and the auto-stop are log lines of ``gtlabel.monitor``: show them above the live bar."""
    logger = logging.getLogger("gtlabel.monitor")
    handler = RichHandler(console=err_console, show_path=False, markup=False)
    handler.setLevel(logging.INFO)
    logger.addHandler(handler)
    old_level, old_propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


def _print_summary(summary: WatchSummary, plot: str | None) -> None:
    c = summary.counters
    cost = summary.cost.total_usd if summary.cost else None
    console.print(f"{summary.job_name}: [bold]{summary.final_status}[/]; labeled {c.total_labeled}/{c.total} "
                  f"(human {c.human_labeled}, machine {c.machine_labeled}), failed {c.failed}; cost "
                  f"{_money(cost)}" + (f" of {_money(summary.budget_usd)}" if summary.budget_usd else ""),
                  highlight=False)
    lines = [f"alert: {a.message}" for a in summary.alerts] + [f"stall: {s}" for s in summary.stalls]
    if summary.stop_reason and not summary.stopped_by_us:
        lines.append(summary.stop_reason)
    if summary.failure_reason:
        lines.append(f"failure reason: {summary.failure_reason}")
    if summary.output_manifest:
        lines.append(f"output manifest: {summary.output_manifest}")
    if plot:
        lines.append(f"plot: {plot}")
    for line in lines:
        console.print(f"  {line}", highlight=False)


def watch_cmd(
    name: Annotated[str, typer.Argument(help="Labeling job name.")],
    poll: Annotated[float, typer.Option(help="Seconds between polls (grows while nothing moves).")] = 30.0,
    max_poll: Annotated[float, typer.Option(help="Longest interval between polls, seconds.")] = 300.0,
    max_wait: Annotated[float, typer.Option(help="Give up after this many seconds (exit 6).")] = 86400.0,
    budget: Annotated[float | None, typer.Option(help="Budget in USD (default: the job's gtlabel:max-budget-usd tag).")] = None,
    threshold: Annotated[list[float] | None, typer.Option(help="Alert at this fraction of the budget (repeat). Default 0.5 0.8 1.0.")] = None,
    auto_stop: Annotated[bool, typer.Option("--auto-stop", help="Stop the job (StopLabelingJob) when the budget is reached.")] = False,
    stop_at: Annotated[float, typer.Option(help="With --auto-stop: fraction of the budget that stops the job.")] = 1.0,
    sns_topic: Annotated[str | None, typer.Option(help="SNS topic ARN that receives budget and stall alerts.")] = None,
    stall_after: Annotated[float, typer.Option(help="Report a stall after this many seconds without movement (0: never).")] = 3600.0,
    worker_logs: Annotated[bool, typer.Option("--worker-logs", help="On a stall, also read the CloudWatch WorkerActivity logs (AWS).")] = False,
    plot: Annotated[str | None, typer.Option(help="Save counters/rate/cost plots as PNG here (local or s3://).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Live progress bar on stderr.")] = True,
) -> None:
    """Watch a labeling job until it ends: progress, cost so far, budget alerts, auto-stop, stall reports.

    Exit 0 when Completed, 4 when gtlabel stopped it over budget, 6 when Failed/Stopped or still running at --max-wait.
    """
    options = WatchOptions(
        polling=Polling(poll_seconds=poll, max_poll_seconds=max(max_poll, poll), max_wait_seconds=max_wait),
        budget=BudgetPolicy(budget_usd=budget, thresholds=tuple(threshold) if threshold else DEFAULT_THRESHOLDS,
                            auto_stop=auto_stop, stop_at=stop_at),
        stall=StallPolicy(after_seconds=stall_after,
                          logs_client=make_client("logs", retry_mode="standard") if worker_logs else None),
        notifications=Notifications(sns_topic_arn=sns_topic),
        progress=RichView(err_console) if progress else False,
    )
    with _monitor_log_shown():
        summary = watch_job(name, options)
    if plot:
        summary.plot(plot, show=False)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2, sort_keys=True, allow_nan=False))
    else:
        _print_summary(summary, plot)
    if summary.stopped_by_us:
        err_console.print(summary.stop_reason or "stopped by gtlabel", highlight=False)
        raise typer.Exit(int(Exit.BUDGET))
    if summary.final_status != JobStatus.COMPLETED:
        raise typer.Exit(int(Exit.JOB))


def list_cmd(
    status: Annotated[str | None, typer.Option(help="Only jobs in this status (InProgress, Completed, ...).")] = None,
    name_contains: Annotated[str | None, typer.Option(help="Only jobs whose name contains this.")] = None,
    since: Annotated[str | None, typer.Option(help="Only jobs created since: 30m, 12h, 7d, 2w or an ISO date.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many jobs (newest first).")] = None,
    cost: Annotated[bool, typer.Option("--cost/--no-cost", help="Describe each job for its cost so far.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows instead of a table.")] = False,
) -> None:
    """List labeling jobs with status, progress, cost so far and age."""
    since_dt = parse_since(since) if since else None
    rows = list_labeling_jobs(status=status, name_contains=name_contains, since=since_dt, limit=limit, with_cost=cost)
    now = datetime.now(UTC)
    if as_json:
        typer.echo(json.dumps([
            {"name": r.name, "status": r.status, "labeled": r.counters.total_labeled, "total": r.counters.total,
             "human": r.counters.human_labeled, "machine": r.counters.machine_labeled, "failed": r.counters.failed,
             "progress": round(r.progress, 4), "cost_usd": r.cost_usd, "budget_usd": r.budget_usd,
             "created": r.created.isoformat(), "age_seconds": round(r.age_seconds(now), 1)} for r in rows],
            indent=2, allow_nan=False))
        return
    table = Table(title=f"{len(rows)} labeling job(s)")
    for col, just in (("name", "left"), ("status", "left"), ("progress", "right"), ("human/machine", "right"),
                      ("failed", "right"), ("cost so far", "right"), ("age", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    colours: dict[str, str] = {JobStatus.COMPLETED: "green", JobStatus.FAILED: "red", JobStatus.STOPPED: "yellow",
               JobStatus.IN_PROGRESS: "cyan"}
    for r in rows:
        c = r.counters
        table.add_row(
            r.name, f"[{colours.get(r.status, 'white')}]{r.status}[/]", f"{c.done}/{c.total} {r.progress:.0%}",
            f"{c.human_labeled}/{c.machine_labeled}", str(c.failed),
            _money(r.cost_usd) + (f" / {_money(r.budget_usd)}" if r.budget_usd else ""), human_duration(r.age_seconds(now)))
    console.print(table)


def notify_rule_cmd(
    topic_arn: Annotated[str, typer.Argument(help="SNS topic ARN to notify.")],
    rule_name: Annotated[str, typer.Option(help="EventBridge rule name.")] = "gtlabel-labeling-job-state-change",
    status: Annotated[list[str] | None, typer.Option(help="Statuses to notify on (repeat). Default Completed Failed Stopped.")] = None,
) -> None:
    """Create the EventBridge rule for Ground Truth job state changes, targeting an SNS topic."""
    rule = create_state_change_rule(topic_arn, rule_name=rule_name, statuses=status or DOCUMENTED_STATUSES)
    console.print(f"rule {rule.rule_arn} -> {rule.topic_arn}\npattern {json.dumps(rule.event_pattern, allow_nan=False)}",
                  highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``job watch``, ``job list`` and ``job notify-rule`` to the ``job`` group."""
    group = job_group(app)
    group.command("watch")(handle_errors(watch_cmd))
    group.command("list")(handle_errors(list_cmd))
    group.command("notify-rule")(handle_errors(notify_rule_cmd))
