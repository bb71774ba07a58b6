"""The local Ground-Truth-compatible service: the ASGI app and :class:`LocalService` (what ``gtlabel serve`` runs).

Routing only; the parts are

- ``POST /`` with ``X-Amz-Target: SageMaker.<Operation>`` -> SigV4 check (:mod:`.sigv4`) -> :class:`.api.Api`
  (``AWSCognitoIdentityProviderService.ListUsers`` -> :class:`.cognito.CognitoApi`);
- the worker portal (:mod:`.portal`) on the other paths, ``/static/`` for crowd-html-elements.js;
- the job engine (:mod:`.engine`) on a background thread, state in SQLite (:mod:`.state`).

``LocalService`` starts the embedded S3 (moto's server on 127.0.0.1, in memory, in a child process of its own:
:mod:`.embedded_s3`) unless an S3 endpoint is given, then uvicorn on a thread. It binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from gtlabel.aws import boto3_session
from gtlabel.errors import AuthFailure, ConfigError, RequestTooLarge, ServiceError, SessionEnded
from gtlabel.formats import strict_json
from gtlabel.formats.answers import DEFAULT_MAX_BOXES, AnswerLimits
from gtlabel.local.api import Api
from gtlabel.local.backend import DEFAULT_TEAM, Backend, Clock
from gtlabel.local.bodies import MAX_API_BODY, BodyLimit
from gtlabel.local.cognito import SERVICE as COGNITO_SERVICE
from gtlabel.local.cognito import TARGET as COGNITO_TARGET
from gtlabel.local.cognito import CognitoApi
from gtlabel.local.embedded_s3 import EmbeddedS3, OwnCalls
from gtlabel.local.engine import Engine
from gtlabel.local.lambdas import LambdaFn, LambdaRegistry
from gtlabel.local.output import S3Store, lean_s3_config
from gtlabel.local.portal import NEXT_TASK_PATH, SUBMIT_PATH, Portal
from gtlabel.local.scope import normalize_prefix
from gtlabel.local.sigv4 import Credentials, precheck, verify
from gtlabel.local.state import Database
from gtlabel.local.wire import http_protocol
from gtlabel.storage import write_private_json

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["HotRoutes", "LocalService", "build_app"]

log = logging.getLogger("gtlabel.local")

STATIC_DIR = Path(__file__).resolve().parent / "static"
JSON_11 = "application/x-amz-json-1.1"
DEFAULT_ROLE_ARN = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-GroundTruthExecutionRole"


def _api_error(code: str, message: str, status: int = 400) -> Response:
    from starlette.responses import Response

    return Response(json.dumps({"__type": code, "message": message}, allow_nan=False), status_code=status, media_type=JSON_11,
                    headers={"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": code})


def build_app(api: Api, credentials: Credentials, region: str, portal: Any | None = None,
              cognito: CognitoApi | None = None) -> Any:
    """The ASGI app: the SageMaker API (and Cognito's ``ListUsers``) on ``POST /`` plus the portal routes and
    ``/static``; every body under :class:`BodyLimit`, the portal's two requests of every task on
    :class:`HotRoutes`."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    services: dict[str, tuple[str, Callable[[str, Mapping[str, Any]], dict[str, Any]]]] = {
        "SageMaker": ("sagemaker", api.dispatch)}
    if cognito is not None:
        services[COGNITO_TARGET] = (COGNITO_SERVICE, cognito.dispatch)

    async def sagemaker_api(request: Request) -> Response:
        headers: dict[str, list[str]] = {}
        for k, v in request.headers.raw:
            headers.setdefault(k.decode("latin-1").lower(), []).append(v.decode("latin-1"))
        target = request.headers.get("x-amz-target", "")
        prefix, _, operation = target.partition(".")
        service, dispatch = services.get(prefix, ("sagemaker", None))
        try:  # the access key, date and scope before a byte of the body is read
            precheck(headers=headers, credentials=credentials, region=region, service=service)
        except AuthFailure as exc:
            return _api_error(exc.code, exc.message, 403)
        body = await request.body()  # BodyLimit: at most MAX_API_BODY
        try:
            verify(method=request.method, path=request.scope.get("raw_path", b"/").decode("latin-1").split("?")[0],
                   raw_query=request.scope.get("query_string", b"").decode("latin-1"), headers=headers, body=body,
                   credentials=credentials, region=region, service=service)
        except AuthFailure as exc:
            return _api_error(exc.code, exc.message, 403)
        if dispatch is None or not operation:
            return _api_error("UnknownOperationException", f"X-Amz-Target {target!r} is not a SageMaker operation.")
        try:
            params = strict_json.loads(body or b"{}")
        except ValueError as exc:
            return _api_error("SerializationException", f"request body is not valid JSON: {exc}")
        if not isinstance(params, dict):
            return _api_error("SerializationException", "request body must be a JSON object")
        try:
            result = await run_in_threadpool(dispatch, operation, params)
        except ServiceError as exc:
            return _api_error(exc.code, exc.message, 400 if exc.status >= 400 and exc.status < 500 else 500)
        except Exception as exc:
            log.exception("%s failed", operation)
            return _api_error("InternalFailure", f"{type(exc).__name__}: {exc}", 500)
        return Response(json.dumps(result, allow_nan=False), media_type=JSON_11,
                        headers={"x-amzn-RequestId": str(uuid.uuid4())})

    async def root(request: Request) -> Response:
        if request.method == "POST":
            return await sagemaker_api(request)
        if portal is None:
            return Response("gtlabel local service", media_type="text/plain")
        resp: Response = await portal.home(request)
        return resp

    routes: list[Any] = [Route("/", root, methods=["GET", "POST"])]
    if portal is not None:
        routes.extend(portal.routes())
    STATIC_DIR.mkdir(parents=True, exist_ok=True)
    routes.append(Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"))

    async def body_too_large(request: Request, exc: Exception) -> Response:
        limit = exc.limit if isinstance(exc, RequestTooLarge) else MAX_API_BODY
        return _too_large(request.scope, limit)

    handlers: dict[Any, Any] = {RequestTooLarge: body_too_large}
    if portal is not None:  # a session found ended in a worker-thread hop (Portal._as)
        handlers[SessionEnded] = _session_ended(portal)
    app = Starlette(routes=routes, exception_handlers=handlers)
    return BodyLimit(HotRoutes(app, portal) if portal is not None else app, too_large=_too_large)


_SUBMIT_HEAD, _, _SUBMIT_TAIL = SUBMIT_PATH.partition("{task_id}")


class HotRoutes:
    """ASGI: the two requests of every task (``POST /api/next-task``, ``POST /tasks/{task_id}/submit``) go
    straight to their portal handlers, everything else to ``app``. The same handlers and checks as through
    ``app``'s routes (:meth:`Portal.routes`), without its router walk and middleware layers (about a quarter of
    the event loop's time at 300 answers/s); their two errors are answered as the app answers them: a session
    found ended (:class:`SessionEnded`) with the portal's 401, a body over its limit (:class:`RequestTooLarge`)
    with the 413. Anything else raised reaches the server, which answers 500."""

    def __init__(self, app: Any, portal: Any) -> None:
        self.app = app
        self.portal = portal

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        handler = None
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path == NEXT_TASK_PATH:
                handler, params = self.portal.api_next_task, {}
            elif path.startswith(_SUBMIT_HEAD) and path.endswith(_SUBMIT_TAIL):
                # what the route's {task_id} matches: one non-empty path segment
                task_id = path[len(_SUBMIT_HEAD):len(path) - len(_SUBMIT_TAIL)]
                if task_id and "/" not in task_id:
                    handler, params = self.portal.submit, {"task_id": task_id}
        if handler is None:
            await self.app(scope, receive, send)
            return
        from starlette.requests import Request

        scope["path_params"] = params
        request = Request(scope, receive, send)
        try:
            response = await handler(request)
        except SessionEnded:
            response = self.portal.login_required(request)
        except RequestTooLarge as exc:
            response = _too_large(scope, exc.limit)
        await response(scope, receive, send)


def _session_ended(portal: Any) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(request: Request, exc: Exception) -> Response:
        resp: Response = portal.login_required(request)
        return resp

    return handler


def _too_large(scope: Any, limit: int) -> Response:
    """The 413 reply, in the caller's dialect: the SageMaker API's JSON 1.1 error or the portal's ``{"error"}``."""
    from starlette.responses import JSONResponse

    message = f"the request body is larger than {limit} bytes"
    if scope.get("path") == "/" and scope.get("method") == "POST":
        resp = _api_error("ValidationException", message, 413)
    else:
        resp = JSONResponse({"error": message}, status_code=413)
    resp.headers["Connection"] = "close"  # the rest of the body is never read
    return resp


def _free_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def private_data_dir(path: Path) -> Path:
    """The service's data folder, made (or narrowed to) 0700: it holds the keys, the worker accounts and every
    answer. A folder the service cannot write is a :class:`ConfigError` that says so, not a traceback."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.stat().st_uid == os.getuid():
            os.chmod(path, 0o700)
    except OSError as exc:
        raise ConfigError(f"the data folder {path} cannot be created or used: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"the data folder {path} is not writable by this user; the service keeps its state "
                          "there (give --data-dir a folder you can write)")
    for name in ("gtlabel.sqlite3", "gtlabel.sqlite3-wal", "gtlabel.sqlite3-shm"):
        if (path / name).exists() and not os.access(path / name, os.R_OK | os.W_OK):
            raise ConfigError(f"{path / name} is not readable and writable by this user")
    return path


class LocalService:
    """The local Ground-Truth-compatible service, as a context manager.

    ``with LocalService() as svc: svc.client("sagemaker").create_labeling_job(...)``. ``env()`` gives the
    variables that point unmodified boto3 code at it. State lives in ``data_dir`` (a temporary folder, removed
    at exit, when none is given). ``clock`` and ``engine_interval=None`` let tests drive time and the engine
    (``svc.engine.tick()``). Without ``s3_endpoint`` an embedded moto S3 runs in this process; moto keeps its
    buckets per *process*, so services started one after another in one process see each other's buckets
    (use distinct bucket names, as the demo does). ``max_boxes_per_answer`` caps the boxes of one worker answer
    (more are refused with 400 at submit; default :data:`gtlabel.formats.answers.DEFAULT_MAX_BOXES`).
    ``s3_allow``: S3 prefixes the service may read and presign (:mod:`gtlabel.local.scope`; default: each job's
    own locations). ``public_url``: the ``http(s)://host[:port]`` workers and clients use when a proxy is in
    front (put in every URL); ``secure_cookies`` (default: on when ``public_url`` is https) marks the portal's
    cookies ``Secure`` with the ``__Host-`` prefix.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        s3_endpoint: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        account_id: str = "123456789012",
        clock: Clock | None = None,
        engine_interval: float | None = 0.5,
        lambdas: Mapping[str, str | LambdaFn] | None = None,
        synchronous: str = "FULL",
        default_team: str | None = DEFAULT_TEAM,
        public_host: str | None = None,
        max_boxes_per_answer: int = DEFAULT_MAX_BOXES,
        s3_allow: Sequence[str] = (),
        secure_cookies: bool | None = None,
        public_url: str | None = None,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="gtlabel-serve-")
            data_dir = self._tmp.name
        self.data_dir = private_data_dir(Path(data_dir))
        self.region = region
        self.host = host
        if not _is_loopback(host) and not s3_endpoint:
            raise ConfigError(
                f"host {host!r} would let other machines reach the service, but the embedded S3 checks no "
                "credentials (anyone who can reach it could read and change every image and label). Serve "
                "workers on other machines with a real object store: --s3-endpoint (S3, MinIO), and "
                "--public-host for the address they use.")
        # the address put in URLs (endpoints, portal, presigned images): never the wildcard itself
        self.public_host = public_host or (host if host not in ("0.0.0.0", "::", "") else "127.0.0.1")
        self.port = port
        self.account_id = account_id
        self._s3_given = s3_endpoint
        self.s3_endpoint = s3_endpoint or ""
        self.access_key, self.secret_key = self._credentials(access_key, secret_key)
        self.clock = clock
        self.engine_interval = engine_interval
        self.lambdas = LambdaRegistry(lambdas)
        self.synchronous = synchronous
        self.default_team = default_team
        if max_boxes_per_answer < 1:
            raise ConfigError(f"max_boxes_per_answer must be at least 1, got {max_boxes_per_answer}")
        self.answer_limits = AnswerLimits(max_boxes=max_boxes_per_answer)
        self.s3_allow = tuple(normalize_prefix(p) for p in s3_allow)
        if public_url is not None and not re.fullmatch(r"https?://[^/?#\s]+", public_url.rstrip("/")):
            raise ConfigError(f"public_url must be http(s)://host[:port] (the address of a proxy in front), got "
                              f"{public_url!r}")
        self.public_url = public_url.rstrip("/") if public_url else None
        # Secure cookies (and their __Host- names) when workers reach the portal over https (a TLS proxy in front)
        self.secure_cookies = secure_cookies if secure_cookies is not None else \
            bool(self.public_url and self.public_url.startswith("https://"))
        self.sagemaker_endpoint = ""
        self.portal_url = ""
        self._moto: EmbeddedS3 | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.db: Database | None = None
        self._backend: Backend | None = None
        self._engine: Engine | None = None
        self._store: S3Store | None = None
        self._portal: Portal | None = None

    # ------------------------------------------------------------------ properties
    @property
    def backend(self) -> Backend:
        if self._backend is None:
            raise RuntimeError("the service is not started")
        return self._backend

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the service is not started")
        return self._engine

    @property
    def role_arn(self) -> str:
        return DEFAULT_ROLE_ARN.replace("123456789012", self.account_id)

    @property
    def default_workteam_arn(self) -> str:
        return self.backend.team_arn(self.default_team or DEFAULT_TEAM)

    def _credentials(self, access_key: str | None, secret_key: str | None) -> tuple[str, str]:
        if access_key and secret_key:
            return access_key, secret_key
        path = self.data_dir / "credentials.json"
        if path.exists():
            data = json.loads(path.read_text())
            return access_key or str(data["access_key"]), secret_key or str(data["secret_key"])
        ak = access_key or "GTLABEL" + secrets.token_hex(6).upper()
        sk = secret_key or secrets.token_urlsafe(30)
        write_private_json(path, {"access_key": ak, "secret_key": sk})
        return ak, sk

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalService:
        import uvicorn

        s3_config = lean_s3_config(32)  # the engine's client: many small PUTs of worker responses
        if not self._s3_given:  # moto's S3 in a process of its own (local/embedded_s3.py), not on our GIL
            self._moto = EmbeddedS3()
            self.s3_endpoint = self._moto.start()
            s3 = boto3.client("s3", endpoint_url=self.s3_endpoint, region_name=self.region,
                              aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                              config=s3_config)
        else:
            s3 = boto3.client("s3", endpoint_url=self.s3_endpoint, region_name=self.region,
                              config=s3_config)
        sock = _free_socket(self.host, self.port)
        self.bound_address = sock.getsockname()[:2]  # (interface, port) actually listened on
        port = sock.getsockname()[1]
        shown = f"[{self.public_host}]" if ":" in self.public_host else self.public_host
        self.sagemaker_endpoint = self.public_url or f"http://{shown}:{port}"
        self.portal_url = self.sagemaker_endpoint + "/"
        db_path = self.data_dir / "gtlabel.sqlite3"
        os.close(os.open(db_path, os.O_RDWR | os.O_CREAT, 0o600))  # SQLite gives its -wal and -shm the same mode
        os.chmod(db_path, 0o600)
        self.db = Database(db_path, synchronous=self.synchronous)
        self._backend = Backend(self.db, clock=self.clock, region=self.region, account_id=self.account_id,
                                portal_url=self.sagemaker_endpoint)
        if self._moto is not None:  # our own S3: the service's writes go down its pipe (no botocore, no HTTP)
            store = S3Store(s3, direct=OwnCalls(self._moto, access_key=self.access_key, region=self.region,
                                                secret_key=self.secret_key))
        else:  # writer processes reach the given endpoint with boto3's credential chain, as `s3` does
            store = S3Store(s3, client_kwargs={"endpoint_url": self.s3_endpoint, "region_name": self.region})
        self._store = store
        self._engine = Engine(self._backend, store, lambdas=self.lambdas, issuer=self.sagemaker_endpoint,
                              interval=self.engine_interval, answer_limits=self.answer_limits,
                              allowed_prefixes=self.s3_allow)
        api = Api(self._backend, lambdas=self.lambdas, presign=store.presign, read_bytes=store.read_bytes,
                  allowed_prefixes=self.s3_allow)
        portal = Portal(self._backend, store, s3_endpoint=self.s3_endpoint, secure_cookies=self.secure_cookies,
                        answer_limits=self.answer_limits, allowed_prefixes=self.s3_allow)
        self._portal = portal
        app = build_app(api, Credentials(self.access_key, self.secret_key), self.region, portal,
                        CognitoApi(self._backend))
        if self.default_team and not self._backend.has_team(self.default_team):
            self._backend.create_workteam({
                "WorkteamName": self.default_team,
                "Description": "Default private team of the local gtlabel service",
                "MemberDefinitions": [{"CognitoMemberDefinition": {
                    "UserPool": f"{self.region}_gtlabel", "UserGroup": self.default_team, "ClientId": "gtlabel-local"}}],
            })
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                timeout_keep_alive=30, backlog=2048, http=http_protocol())
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="gtlabel-uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the local service did not start")
            time.sleep(0.01)
        if not self._s3_given:
            # the embedded S3 lives in memory: the images and outputs of jobs from an earlier run are gone
            lost = self._engine.fail_unfinished(
                "ClientError: the local service restarted with its embedded, in-memory S3, so this job's input "
                "and output objects are gone. Give gtlabel serve --s3-endpoint (MinIO, moto_server, S3) for jobs "
                "that survive a restart.")
            if lost:
                log.warning("failed %d unfinished job(s) of an earlier run (embedded S3 is in memory): %s",
                            len(lost), ", ".join(lost))
        self._engine.start()
        log.info("gtlabel local service on %s (S3 %s)", self.sagemaker_endpoint, self.s3_endpoint)
        return self

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.stop()
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = None
        if self._portal is not None:
            self._portal.close()
            self._portal = None
        if self.db is not None:
            self.db.close()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()

    # ------------------------------------------------------------------ helpers for callers
    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 (and gtlabel) at this service."""
        return {
            "AWS_ENDPOINT_URL_SAGEMAKER": self.sagemaker_endpoint,
            "AWS_ENDPOINT_URL_S3": self.s3_endpoint,
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": self.sagemaker_endpoint,  # ListUsers: worker usernames
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "GTLABEL_ROLE_ARN": self.role_arn,
            "GTLABEL_WORKTEAM_ARN": self.default_workteam_arn,
        }

    def export_lines(self) -> list[str]:
        return [f"export {k}={v}" for k, v in self.env().items()]

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for ``sagemaker`` (this service), ``cognito-idp`` (its ListUsers: worker usernames) or
        ``s3`` (its S3 endpoint)."""
        endpoint = {"sagemaker": self.sagemaker_endpoint, "cognito-idp": self.sagemaker_endpoint,
                    "s3": self.s3_endpoint}.get(service)
        if endpoint is None:
            raise ConfigError(f"the local service serves 'sagemaker', 'cognito-idp' and 's3', not {service!r}")
        kwargs.setdefault("config", Config(retries={"max_attempts": 2, "mode": "standard"}))
        session = boto3_session(aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                                region_name=self.region)
        return session.client(service, endpoint_url=endpoint, **kwargs)

    def add_worker(self, team: str, username: str, password: str) -> str:
        """Create a portal account in ``team`` (the team must exist); returns the GT-style worker id."""
        return self.backend.add_worker(team, username, password)
