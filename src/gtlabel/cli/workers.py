"""``gtlabel workers``: portal accounts of a local service (``add``, ``remove``, ``list``, on the service's data
folder, also while it runs) and simulated workers on its portal (``simulate``, gtlabel.local.workforce).

``add`` gives every new account its own generated password and writes them to a private (0600) file, the form
``gtlabel serve --worker-file`` and ``workers simulate --worker-file`` read; passwords are never printed or put
on a command line. ``remove`` takes a worker out of a team at once: their sessions end and their unfinished
tasks of that team go back to the pool.

Exit codes (gtlabel.cli._common.Exit): 3 bad options or truth manifest, 5 truth file or data folder not found, 1
a worker could not log in or the portal refused.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gtlabel.cli._common import Exit, console, err_console, handle_errors
from gtlabel.cli.serve import DEFAULT_DATA_DIR, read_worker_file
from gtlabel.errors import ConfigError, NotFound, PortalError, ServiceError
from gtlabel.local.backend import Backend
from gtlabel.local.state import Database
from gtlabel.local.workforce import NoiseConfig, simulate
from gtlabel.settings import get_settings
from gtlabel.storage import write_private_json

workers_app = typer.Typer(name="workers", help="Portal accounts of the local service, and simulated workers.",
                          no_args_is_help=True)


def _parse_workers(explicit: list[str] | None, count: int | None, prefix: str, password: str | None,
                   skills: str | None, worker_file: Path | None = None) -> list[tuple[str, str, float]]:
    out: list[tuple[str, str, float]] = []
    if worker_file is not None:
        out += [(user, pw, 1.0) for _, user, pw in read_worker_file(worker_file, "default")]
    for spec in explicit or []:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise ConfigError(f"--worker {spec!r}: expected USERNAME:PASSWORD or USERNAME:PASSWORD:SKILL")
        try:
            skill = float(parts[2]) if len(parts) == 3 else 1.0
        except ValueError:
            raise ConfigError(f"--worker {spec!r}: SKILL must be a number, got {parts[2]!r}") from None
        out.append((parts[0], parts[1], skill))
    if count:
        if not password:
            raise ConfigError("--workers N needs --password (all N workers share it: PREFIX-1 ... PREFIX-N); "
                              "better: `gtlabel workers add --workers N --out FILE`, then --worker-file FILE")
        err_console.print("[yellow]warning:[/] --workers N --password P: every account shares one password; give "
                          "each its own with `gtlabel workers add --workers N --out FILE` and use --worker-file FILE.",
                          highlight=False)
        out += [(f"{prefix}-{i}", password, 1.0) for i in range(1, count + 1)]
    if not out:
        raise ConfigError("give --worker-file FILE, --worker USERNAME:PASSWORD (repeat) or --workers N --password P")
    if skills:
        try:
            values = [float(x) for x in skills.split(",") if x.strip()]
        except ValueError:
            raise ConfigError(f"--skills {skills!r}: expected numbers separated by commas") from None
        if len(values) != len(out):
            raise ConfigError(f"--skills gives {len(values)} values for {len(out)} workers")
        out = [(u, p, s) for (u, p, _), s in zip(out, values, strict=True)]
    return out


@handle_errors
def simulate_cmd(
    portal: Annotated[str, typer.Option(help="the portal URL printed by `gtlabel serve`, e.g. http://127.0.0.1:8000")],
    job: Annotated[str, typer.Option(help="labeling job name")],
    workers: Annotated[int | None, typer.Option("--workers", help="N workers named PREFIX-1..N (with --password)")]
    = None,
    worker: Annotated[list[str] | None, typer.Option("--worker", help="USERNAME:PASSWORD[:SKILL] (repeat)")] = None,
    worker_file: Annotated[Path | None, typer.Option(
        help="a private (0600) logins file, as `gtlabel workers add --out` writes it")] = None,
    prefix: Annotated[str, typer.Option(help="username prefix for --workers")] = "worker",
    password: Annotated[str | None, typer.Option(help="password for --workers (else GTLABEL_WORKER_PASSWORD)")]
    = None,
    skills: Annotated[str | None, typer.Option(help="per-worker skill, comma separated (1.0 = nominal)")] = None,
    truth: Annotated[str | None, typer.Option(help="truth manifest (GT output manifest or {source-ref, boxes})")]
    = None,
    jitter: Annotated[float, typer.Option(help="edge noise sigma, relative to the box side")] = 0.03,
    jitter_px: Annotated[float, typer.Option(help="edge noise sigma added in pixels")] = 0.5,
    miss_rate: Annotated[float, typer.Option(help="probability a true box is missed")] = 0.05,
    false_box_rate: Annotated[float, typer.Option(help="mean number of false boxes per image")] = 0.05,
    wrong_label_rate: Annotated[float, typer.Option(help="probability a box gets another label")] = 0.02,
    decline_rate: Annotated[float, typer.Option(help="probability a task is skipped")] = 0.0,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    max_tasks: Annotated[int | None, typer.Option(help="stop after this many tasks in total")] = None,
    concurrency: Annotated[int | None, typer.Option(help="workers running at once (default: all)")] = None,
    idle_timeout: Annotated[float, typer.Option(help="seconds to wait for new tasks before stopping")] = 30.0,
    answer_name: Annotated[str, typer.Option(help="name of the answer (the crowd-bounding-box element's name= in "
                                                  "the job's template)")] = "boundingBox",
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Run simulated workers through the portal's HTTP endpoints until the job has no more work for them."""
    if password is None and (configured := get_settings().worker_password) is not None:
        password = configured.get_secret_value()
    profiles = _parse_workers(worker, workers, prefix, password, skills, worker_file)
    noise = NoiseConfig(jitter=jitter, jitter_px=jitter_px, miss_rate=miss_rate, false_box_rate=false_box_rate,
                        wrong_label_rate=wrong_label_rate, decline_rate=decline_rate)
    result = simulate(portal, job, profiles, truth=truth, noise=noise, seed=seed, max_tasks=max_tasks,
                      concurrency=concurrency, idle_timeout_s=idle_timeout, answer_name=answer_name,
                      progress=not as_json)
    summary = result.summary()
    if as_json:
        typer.echo(json.dumps(summary, indent=2, allow_nan=False))
    else:
        table = Table(title=f"simulated workers on {job}")
        for col in ("worker", "submitted", "declined", "errors", "boxes"):
            table.add_column(col, justify="left" if col == "worker" else "right")
        for name, w in summary["per_worker"].items():
            table.add_row(name, str(w["submitted"]), str(w["declined"]), str(w["errors"]), str(w["boxes"]))
        console.print(table)
        console.print(f"{summary['submitted']} submitted, {summary['declined']} declined, {summary['errors']} errors "
                      f"in {summary['elapsed_s']} s ({summary['submissions_per_s']}/s; "
                      f"p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms)")
    for name, w in result.per_worker.items():
        for msg in w.messages[:5]:
            err_console.print(f"[yellow]{name}:[/] {msg}", markup=True, highlight=False)
    if result.errors:
        raise typer.Exit(int(Exit.ERROR))


# ------------------------------------------------------------------------------------------ accounts
DataDir = Annotated[Path, typer.Option(help="the data folder of the service (gtlabel serve --data-dir)")]


def _backend(data_dir: Path) -> Backend:
    """The service's state, opened beside a running service (SQLite in WAL mode: both may write)."""
    path = data_dir / "gtlabel.sqlite3"
    if not path.exists():
        raise NotFound("no gtlabel serve state here (give the service's --data-dir)", str(path))
    region = "us-east-1"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        region = str(json.loads((data_dir / "endpoints.json").read_text())["env"]["AWS_REGION"])
    return Backend(Database(path), region=region)


@handle_errors
def add_cmd(
    usernames: Annotated[list[str] | None, typer.Argument(help="accounts to create")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    team: Annotated[str, typer.Option(help="the team they join (it must exist)")] = "default",
    workers: Annotated[int | None, typer.Option("--workers", help="also create PREFIX-1 .. PREFIX-N")] = None,
    prefix: Annotated[str, typer.Option(help="username prefix for --workers")] = "worker",
    out: Annotated[Path, typer.Option(help="private (0600) file the new logins are written to (merged into it "
                                           "if it exists); give it to --worker-file")] = Path("workers.json"),
) -> None:
    """Create portal accounts, each with its own generated password (written to --out, never printed)."""
    names = list(usernames or []) + [f"{prefix}-{i}" for i in range(1, (workers or 0) + 1)]
    if not names:
        raise ConfigError("name the accounts (USERNAME ...) or give --workers N")
    backend = _backend(data_dir)
    known = read_worker_file(out, team) if out.exists() else []
    logins = {user: pw for _, user, pw in known}
    for user in names:
        password = logins.get(user) or secrets.token_urlsafe(15)
        try:
            backend.add_worker(team, user, password)
        except (ServiceError, PortalError) as exc:
            raise ConfigError(f"{user}: {exc}") from None
        logins[user] = password
        write_private_json(out, {"workers": [[u, p] for u, p in logins.items()]})
    console.print(f"{len(names)} account(s) in team {team}; logins in {out} (0600): " + ", ".join(names),
                  highlight=False)


@handle_errors
def remove_cmd(
    usernames: Annotated[list[str], typer.Argument(help="accounts to take out of the team")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    team: Annotated[str, typer.Option(help="the team they leave")] = "default",
) -> None:
    """Take workers out of a team at once (sessions ended, unfinished tasks back to the pool), even while the
    service runs."""
    backend = _backend(data_dir)
    for user in usernames:
        try:
            was = backend.remove_worker(team, user)
        except PortalError as exc:
            raise ConfigError(str(exc)) from None
        console.print(f"{user}: {'removed from' if was else 'was not in'} team {team}", highlight=False)


@handle_errors
def list_cmd(data_dir: DataDir = DEFAULT_DATA_DIR,
             as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """List the portal accounts and their teams."""
    rows = _backend(data_dir).list_workers()
    if as_json:
        typer.echo(json.dumps([{"username": u, "worker_id": w, "teams": t} for u, w, t in rows], indent=2,
                              allow_nan=False))
        return
    for user, worker_id, teams in rows:
        console.print(f"{user}  {worker_id}  {','.join(teams) or '(no team)'}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``gtlabel workers ...``."""
    workers_app.command("simulate")(simulate_cmd)
    workers_app.command("add")(add_cmd)
    workers_app.command("remove")(remove_cmd)
    workers_app.command("list")(list_cmd)
    app.add_typer(workers_app, name="workers")
