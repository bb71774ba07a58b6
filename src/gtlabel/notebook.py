"""Helpers for the notebook templates (``notebooks/``): the AWS/local choice in one call, and the hand-over
from one notebook to the next.

``connect("local" | "aws", workdir=...)`` returns a :class:`NotebookSession`:

- ``"aws"``: nothing is started; boto3 resolves credentials, region and endpoints exactly as always (the
  Studio execution role, ``AWS_PROFILE``, ``AWS_REGION``); the Ground Truth role comes from ``role_arn=`` or
  ``GTLABEL_ROLE_ARN``.
- ``"local"``: the local Ground-Truth-compatible service. When ``AWS_ENDPOINT_URL_SAGEMAKER`` is already set
  (you ran ``gtlabel serve`` and pasted its ``export`` lines) that service is used. Otherwise a ``gtlabel
  serve`` process is started in the background with its state in ``<workdir>/service`` (SQLite, credentials,
  ``endpoints.json``) and a few simulated-worker accounts; it outlives the notebook's kernel, so the next
  notebook finds it again, and :func:`stop_local_service` (or ``session.stop()``) ends it. Its embedded S3
  lives in that process's memory: stopping the service discards the images and labels in it.

A service started or found here is reached without touching ``os.environ``: ``session.client(service)`` passes
its endpoint, keys and region to boto3, and gtlabel's own S3 calls (:mod:`gtlabel.storage`, in every thread of the
kernel) go to its S3 through a :func:`gtlabel.storage.use_endpoint` target held by the session (until
``session.stop()`` or the next :func:`connect`). A service you point the environment at yourself
(``AWS_ENDPOINT_URL_SAGEMAKER`` ...) is used through that environment, as boto3 always does.

The hand-over file ``<workdir>/notebook-state.json`` carries what a later notebook needs (job name, output
manifest, dataset folder...): ``session.remember(job_name=...)`` and ``session.recall("job_name")``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3

from gtlabel import storage
from gtlabel.errors import ConfigError, JobError
from gtlabel.settings import get_settings

__all__ = ["BACKENDS", "NotebookSession", "connect", "stop_local_service"]

Backend = Literal["local", "aws"]
BACKENDS: tuple[str, ...] = ("local", "aws")
STATE_FILE = "notebook-state.json"
ENDPOINTS_FILE = "endpoints.json"
WORKERS_FILE = "notebook-workers.json"
#: simulated-worker accounts of a service started by :func:`connect` (login, skill)
SIM_WORKERS: tuple[tuple[str, float], ...] = (("sim-alice", 1.5), ("sim-bob", 1.0), ("sim-carol", 1.0))
_START_TIMEOUT_S = 90.0


#: boto3's per-service endpoint variables (AWS_ENDPOINT_URL_<key>) where the key is not the client name upper-cased
ENDPOINT_KEYS = {"cognito-idp": "COGNITO_IDENTITY_PROVIDER"}


@dataclass
class NotebookSession:
    """Where the notebooks run: the backend, its region and role, and the hand-over file."""

    backend: Backend
    workdir: Path
    region: str
    role_arn: str | None
    env: dict[str, str] = field(default_factory=dict, repr=False)  # holds the local service's secret key
    portal_url: str | None = None
    workteam_arn: str | None = None
    #: portal logins (username, password, skill) of simulated workers, when the service was started here
    workers: list[tuple[str, str, float]] = field(default_factory=list, repr=False)
    started_here: bool = False
    #: where gtlabel.storage sends S3 calls while this session is the current one (a local service found here)
    target: storage.S3Target | None = field(default=None, repr=False)

    @property
    def is_local(self) -> bool:
        return self.backend == "local"

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for ``service``, pointed where this session points (region included)."""
        if self.target is not None:  # a service found or started here: its endpoint and keys, explicitly
            endpoint = self.env.get(f"AWS_ENDPOINT_URL_{ENDPOINT_KEYS.get(service, service.upper().replace('-', '_'))}")
            if endpoint:
                kwargs.setdefault("endpoint_url", endpoint)
            kwargs.setdefault("aws_access_key_id", self.env.get("AWS_ACCESS_KEY_ID"))
            kwargs.setdefault("aws_secret_access_key", self.env.get("AWS_SECRET_ACCESS_KEY"))
        return boto3.client(service, region_name=self.region, **kwargs)  # type: ignore[call-overload]

    # ------------------------------------------------------------------ hand-over between notebooks
    @property
    def state_path(self) -> Path:
        return self.workdir / STATE_FILE

    def state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise ConfigError(f"{self.state_path}: not valid JSON ({exc}); delete it to start over") from None
        return data if isinstance(data, dict) else {}

    def remember(self, **values: Any) -> None:
        """Record values for the next notebooks (merged into the hand-over file, written atomically)."""
        data = self.state()
        data.update({k: (str(v) if isinstance(v, Path) else v) for k, v in values.items()})
        storage.write_bytes(str(self.state_path), json.dumps(data, indent=2, sort_keys=True, allow_nan=False).encode() + b"\n")

    def recall(self, key: str, given: Any = None, *, required: bool = True) -> Any:
        """``given`` when it is not ``None``, else what an earlier notebook recorded under ``key``."""
        if given is not None:
            return given
        value = self.state().get(key)
        if value is None and required:
            raise ConfigError(f"{key} is not set: give it as a parameter, or run the earlier notebook first "
                              f"(it records {key} in {self.state_path})")
        return value

    def stop(self) -> None:
        """Stop the local service if this session's workdir started it (no-op otherwise), and point
        gtlabel.storage back where the environment says."""
        if self.target is not None:
            self.target.deactivate()
        if self.is_local:
            stop_local_service(self.workdir)

    def _repr_markdown_(self) -> str:
        rows = [("backend", self.backend), ("region", self.region), ("Ground Truth role", self.role_arn or "-")]
        if self.is_local:
            rows += [("SageMaker API", self.env.get("AWS_ENDPOINT_URL_SAGEMAKER", "")),
                     ("S3", self.env.get("AWS_ENDPOINT_URL_S3", "")), ("worker portal", self.portal_url or "-"),
                     ("workteam", self.workteam_arn or "-")]
        return "| | |\n|---|---|\n" + "\n".join(f"| {k} | `{v}` |" for k, v in rows)


_current_target: storage.S3Target | None = None  # the latest connect()'s, replaced by the next one


def _point_storage(env: dict[str, str] | None) -> storage.S3Target | None:
    """Point gtlabel.storage at the local service's S3 (``env``: its variables), or back at the environment."""
    global _current_target
    if _current_target is not None:
        _current_target.deactivate()
        _current_target = None
    if env is not None:
        _current_target = storage.use_endpoint(
            env["AWS_ENDPOINT_URL_S3"], (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]),
            region=env.get("AWS_REGION")).activate()
    return _current_target


def _reachable(endpoint: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(endpoint.rstrip("/") + "/login", timeout=timeout) as resp:
            return int(resp.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _worker_logins(data_dir: Path) -> list[tuple[str, str, float]]:
    """The simulated workers' logins for this data dir (made once, kept 0600 beside the service's state)."""
    path = data_dir / WORKERS_FILE
    known = _read_json(path)
    if known and isinstance(known.get("workers"), list):
        return [(str(w[0]), str(w[1]), float(w[2])) for w in known["workers"]]
    logins = [(user, secrets.token_urlsafe(12), skill) for user, skill in SIM_WORKERS]
    storage.write_private_json(path, {"workers": logins})
    return logins


def _start_service(data_dir: Path, region: str) -> dict[str, Any]:
    _worker_logins(data_dir)  # made once (0600), read by the service from the file
    (data_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
    # the logins' file (0600) is given by name: passwords never appear in the process list
    cmd = [sys.executable, "-m", "gtlabel", "serve", "--data-dir", str(data_dir), "--region", region,
           "--worker-file", str(data_dir / WORKERS_FILE)]
    # private (0600): the service's log must not be readable by others on a shared notebook host
    log = os.fdopen(os.open(data_dir / "serve.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")
    os.chmod(data_dir / "serve.log", 0o600)
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        log.close()
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        info = _read_json(data_dir / ENDPOINTS_FILE)
        if info is not None and info.get("pid") == proc.pid:
            return info
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    tail = (data_dir / "serve.log").read_text(errors="replace")[-2000:]
    raise JobError(f"gtlabel serve did not start (log {data_dir / 'serve.log'}):\n{tail}")


def _local(workdir: Path, region: str) -> NotebookSession:
    given = os.environ.get("AWS_ENDPOINT_URL_SAGEMAKER")
    data_dir = workdir / "service"
    info = _read_json(data_dir / ENDPOINTS_FILE)
    ours = info is not None and given == info.get("env", {}).get("AWS_ENDPOINT_URL_SAGEMAKER")
    if given and not ours:  # a service the user started (gtlabel serve + its export lines)
        if not _reachable(given):
            raise JobError(f"AWS_ENDPOINT_URL_SAGEMAKER={given} does not answer: start `gtlabel serve` again and "
                           "paste its export lines, or unset the variable to let the notebook start one")
        _point_storage(None)
        env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "GTLABEL_"))}
        settings = get_settings()
        return NotebookSession("local", workdir, os.environ.get("AWS_REGION") or
                               os.environ.get("AWS_DEFAULT_REGION") or region,
                               settings.role_arn, env, given.rstrip("/") + "/", settings.workteam_arn)
    started = False
    if info is None or not _pid_alive(int(info.get("pid", -1))) or \
            not _reachable(str(info["env"]["AWS_ENDPOINT_URL_SAGEMAKER"])):
        info = _start_service(data_dir, region)
        started = True
    env = {str(k): str(v) for k, v in info["env"].items()}
    return NotebookSession("local", workdir, env["AWS_REGION"], env.get("GTLABEL_ROLE_ARN"), env,
                           str(info["portal_url"]), env.get("GTLABEL_WORKTEAM_ARN"), _worker_logins(data_dir),
                           started_here=started, target=_point_storage(env))


def connect(backend: str = "local", *, workdir: str | os.PathLike[str] = "gtlabel-work", region: str | None = None,
            role_arn: str | None = None) -> NotebookSession:
    """The notebooks' one backend switch. See the module docstring."""
    if backend not in BACKENDS:
        raise ConfigError(f"BACKEND must be one of {', '.join(BACKENDS)}, got {backend!r}")
    wd = Path(workdir).expanduser().resolve()
    wd.mkdir(parents=True, exist_ok=True)
    if backend == "local":
        sess = _local(wd, region or "us-east-1")
        if role_arn:
            sess.role_arn = role_arn
        return sess
    for k in ("AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_S3"):
        if os.environ.get(k):
            raise ConfigError(f"BACKEND='aws' but {k}={os.environ[k]} points boto3 elsewhere: unset it first")
    _point_storage(None)
    storage.reset_clients()
    reg = region or boto3.session.Session().region_name
    if not reg:
        raise ConfigError("no AWS region: set AWS_REGION (or region=...) for BACKEND='aws'")
    if region:
        os.environ["AWS_REGION"] = region
    role = role_arn or get_settings().role_arn
    if role:
        os.environ["GTLABEL_ROLE_ARN"] = role
    return NotebookSession("aws", wd, reg, role)


def stop_local_service(workdir: str | os.PathLike[str] = "gtlabel-work", *, timeout_s: float = 20.0) -> bool:
    """Stop the ``gtlabel serve`` that :func:`connect` started for ``workdir``. True if one was running."""
    data_dir = Path(workdir).expanduser().resolve() / "service"
    info = _read_json(data_dir / ENDPOINTS_FILE)
    if info is None:
        return False
    pid = int(info.get("pid", -1))
    if pid <= 0 or not _pid_alive(pid):
        (data_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _pid_alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    (data_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
    return True
