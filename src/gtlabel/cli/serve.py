"""``gtlabel serve``: run the local Ground-Truth-compatible labeling service (see gtlabel.local)."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from gtlabel import errors, local
from gtlabel.cli._common import console, err_console, handle_errors
from gtlabel.formats.answers import DEFAULT_MAX_BOXES
from gtlabel.local.logins import check_password_policy
from gtlabel.storage import write_private_json

DEFAULT_DATA_DIR = Path.home() / ".gtlabel" / "serve"
SWITCH_INTERVAL_S = 0.001  # the serve process's GIL switch interval (Python's default: 0.005)


def _parse_workers(values: list[str], team: str) -> list[tuple[str, str, str]]:
    out = []
    for v in values:
        who, sep, password = v.partition(":")
        if not sep or not who or not password:
            raise errors.ConfigError(f"--worker {v!r}: expected [TEAM/]USERNAME:PASSWORD")
        t, slash, user = who.rpartition("/")
        out.append((t if slash else team, user, password))
    if out:
        err_console.print("[yellow]warning:[/] passwords given with --worker are visible to every user of this machine "
                          "(ps, /proc); put them in a file only you can read and give --worker-file instead.",
                          highlight=False)
    return out


def read_worker_file(path: Path, team: str) -> list[tuple[str, str, str]]:
    """Portal accounts from a private JSON file: ``{"workers": [[USERNAME, PASSWORD(, SKILL)], ...]}`` (the form
    the notebooks keep) or ``[{"username", "password"(, "team")}, ...]``. The file must be readable by its owner
    only (mode 0600): it holds passwords."""
    try:
        mode = path.stat().st_mode
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise errors.ConfigError(f"--worker-file {path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise errors.ConfigError(f"--worker-file {path}: cannot read it as JSON: {exc}") from None
    if mode & 0o077:
        raise errors.ConfigError(f"--worker-file {path}: readable by others (mode {mode & 0o777:o}); it holds "
                                 f"passwords: chmod 600 {path}")
    items = raw.get("workers") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise errors.ConfigError(f"--worker-file {path}: expected {{\"workers\": [[username, password], ...]}}")
    out = []
    for n, item in enumerate(items):
        if isinstance(item, list) and len(item) >= 2:
            user, password, t = item[0], item[1], team
        elif isinstance(item, dict):
            user, password, t = item.get("username"), item.get("password"), item.get("team", team)
        else:
            user = password = t = None
        if not all(isinstance(x, str) and x for x in (user, password, t)):
            raise errors.ConfigError(f"--worker-file {path}: entry {n}: expected a username and a password")
        out.append((str(t), str(user), str(password)))
    return out


def _check_passwords(workers: list[tuple[str, str, str]]) -> None:
    for _, user, password in workers:
        weak = check_password_policy(password)
        if weak:
            raise errors.ConfigError(f"worker {user!r}: {weak}")


def _parse_lambdas(values: list[str]) -> dict[str, str]:
    out = {}
    for v in values:
        arn, sep, target = v.partition("=")
        if not sep or ":" not in target:
            raise errors.ConfigError(f"--lambda {v!r}: expected ARN_OR_FUNCTION_NAME=package.module:function")
        out[arn] = target
    return out


def _write_endpoints(data_dir: Path, svc: Any, *, embedded_s3: bool) -> Path:
    """``DATA_DIR/endpoints.json`` (0600: it holds the keys): how other processes (the notebooks) find and
    reach this running service. Written atomically; removed when the service stops."""
    path = Path(data_dir) / "endpoints.json"
    write_private_json(path, {"pid": os.getpid(), "env": svc.env(), "portal_url": svc.portal_url,
                              "s3_embedded": embedded_s3})
    return path


def _remove_endpoints(path: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def banner_lines(svc: Any, data_dir: Path, *, embedded_s3: bool, workers: list[tuple[str, str, str]],
                 paste: bool = True) -> list[str]:
    """What ``gtlabel serve`` prints once it is up: endpoints, workteam, workers and the lines to paste. Without
    ``paste`` (stdout is no terminal: a log file, a pipe) the export lines, which hold the secret key, are left
    out and the banner says where they are: the private ``endpoints.json``."""
    lines = [f"gtlabel local labeling service (state in {data_dir})",
             f"  SageMaker API : {svc.sagemaker_endpoint}",
             f"  worker portal : {svc.portal_url}",
             f"  S3            : {svc.s3_endpoint}{' (embedded, in memory)' if embedded_s3 else ''}"]
    if embedded_s3:
        lines.append("  note          : the embedded S3 checks no credentials: any process on this machine can read and "
                     "change its images and labels while the service runs (docs/SECURITY.md, section 7).")
        lines.append("  note          : the embedded S3 is lost when the service stops; unfinished jobs of an earlier "
                     "run are failed at start. Use --s3-endpoint to keep them.")
    lines.append(f"  workteam      : {svc.default_workteam_arn}")
    lines += [f"  worker        : {user} (team {t})" for t, user, _ in workers]
    if not paste:
        lines.append(f"  environment   : {Path(data_dir) / 'endpoints.json'} (readable by you only; \"env\" holds "
                     "the variables that point boto3 at the service, its keys included)")
        return lines
    lines.append("Paste into your shell to point boto3 at it:")
    return lines + list(svc.export_lines())


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""

    @app.command("serve")
    @handle_errors
    def serve(
        data_dir: Annotated[Path, typer.Option(help="Where the service keeps its state (SQLite, credentials).")] = DEFAULT_DATA_DIR,
        host: Annotated[str, typer.Option(help="Interface to bind; loopback unless you mean otherwise (another "
                                                "interface needs --s3-endpoint: the embedded S3 checks no credentials).")] = "127.0.0.1",
        public_host: Annotated[str | None, typer.Option(
            help="Host name or address workers and clients use to reach the service (in the printed endpoints, "
                 "the portal and image URLs); default: --host, or 127.0.0.1 for 0.0.0.0.")] = None,
        port: Annotated[int, typer.Option(help="Port of the API and portal (0 = a free port).")] = 0,
        s3_endpoint: Annotated[str | None, typer.Option(
            help="Use this S3 endpoint (MinIO, a moto_server, real S3) instead of the embedded in-memory S3.")] = None,
        region: Annotated[str, typer.Option(help="Region the service answers for.")] = "us-east-1",
        access_key: Annotated[str | None, typer.Option(help="Access key callers must sign with (default: generated, kept in DATA_DIR).")] = None,
        secret_key: Annotated[str | None, typer.Option(help="Secret key callers must sign with.")] = None,
        worker: Annotated[list[str] | None, typer.Option(help="Create a portal account: [TEAM/]USERNAME:PASSWORD (repeatable; the password is visible in the process list: prefer --worker-file).")] = None,
        worker_file: Annotated[Path | None, typer.Option(help='Create the portal accounts listed in this private (0600) JSON file: {"workers": [[USERNAME, PASSWORD], ...]} or [{"username", "password", "team"}].')] = None,
        team: Annotated[str, typer.Option(help="Team of --worker accounts without TEAM/.")] = "default",
        lambda_: Annotated[list[str] | None, typer.Option("--lambda", help="Map a Lambda ARN (or function name) to a local callable: ARN=package.module:function (repeatable).")] = None,
        synchronous: Annotated[str, typer.Option(help="SQLite synchronous mode: FULL (fsync each answer) or NORMAL.")] = "FULL",
        s3_allow: Annotated[list[str] | None, typer.Option(
            help="An S3 prefix (s3://bucket/prefix/) the service may read and hand to workers (repeatable); with "
                 "it, jobs and images outside every such prefix are refused. Default: each job's own locations.")]
        = None,
        public_url: Annotated[str | None, typer.Option(
            help="https://host[:port] of a TLS proxy in front of the service: put in every URL, and the portal's "
                 "cookies become Secure (__Host-).")] = None,
        secure_cookies: Annotated[bool | None, typer.Option(
            "--secure-cookies/--no-secure-cookies",
            help="Mark the portal's cookies Secure (default: when --public-url is https).")] = None,
        max_boxes_per_answer: Annotated[int, typer.Option(
            min=1, help="Most boxes one worker answer may hold; more are refused at submit (the worker sees why).")]
        = DEFAULT_MAX_BOXES,
    ) -> None:
        """Start the local labeling service (SageMaker labeling API + worker portal + embedded S3) until Ctrl-C."""
        workers = _parse_workers(worker or [], team)
        if worker_file is not None:
            workers += read_worker_file(worker_file, team)
        _check_passwords(workers)
        lambdas = _parse_lambdas(lambda_ or [])
        svc = local.LocalService(data_dir=data_dir, s3_endpoint=s3_endpoint, region=region, access_key=access_key,
                           secret_key=secret_key, host=host, port=port, lambdas=lambdas, synchronous=synchronous,
                           public_host=public_host, max_boxes_per_answer=max_boxes_per_answer,
                           s3_allow=s3_allow or (), public_url=public_url, secure_cookies=secure_cookies)
        stop = threading.Event()

        def _on_signal(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
        with svc:
            for t, user, password in workers:
                if t != "default" and t not in {w["WorkteamName"] for w in svc.backend.list_workteams({"MaxResults": 100})[0]}:
                    svc.backend.create_workteam({"WorkteamName": t, "Description": f"team {t}", "MemberDefinitions": [
                        {"CognitoMemberDefinition": {"UserPool": f"{region}_gtlabel", "UserGroup": t,
                                                     "ClientId": "gtlabel-local"}}]})
                svc.add_worker(t, user, password)
            paste = console.file.isatty()  # the export lines hold the secret key: never into a log file
            for i, line in enumerate(banner_lines(svc, data_dir, embedded_s3=not s3_endpoint, workers=workers,
                                                  paste=paste)):
                # soft_wrap: never break a line (rich wraps at 80 columns when stdout is no terminal), so an ARN,
                # a URL or an export line is copied whole; the terminal, if any, folds long lines for display
                console.print(line, style="bold" if i == 0 else None, soft_wrap=True, markup=False, highlight=False)
            console.file.flush()
            endpoints = _write_endpoints(data_dir, svc, embedded_s3=not s3_endpoint)
            # what start-up made (modules, botocore's models, the app) lives as long as the process: out of the
            # cyclic collector's sight, a full collection stops every request for ~20 ms instead of ~165 ms
            gc.freeze()
            # a thread that wants the GIL (the event loop, most often) waits at most 1 ms, not 5, for a busy one
            # (the engine consolidating, a thread checking a large answer) to let go: shorter tails per request
            sys.setswitchinterval(SWITCH_INTERVAL_S)
            try:
                stop.wait()
            finally:
                _remove_endpoints(endpoints)
            err_console.print("stopping")
