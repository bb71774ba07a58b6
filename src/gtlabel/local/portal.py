"""The worker portal: login, my jobs, tasks one by one (submit / skip = decline / return), and the JSON API the
simulated workforce uses. Routes and replies are the contract in docs/ARCHITECTURE.md ("local service").

Security: passwords are salted scrypt hashes; sessions are server-side (random cookie token, only its sha256 is
stored); every POST needs the session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``), the
login form a double-submit token; a worker sees only the jobs of their own teams, and another worker's task id
is "not found" (team membership is checked at every claim, task page and answer). Pages are Liquid with
autoescaping; no page may be framed; the task page has a Content-Security-Policy that allows only this origin and
the S3 endpoint. Failed logins back off per account and address and hashing is bounded (:mod:`.logins`); a task is
claimed by POST only; an answer is checked against its job before it is stored (:mod:`gtlabel.formats.answers`);
``grant_read_access`` presigns only what the task's scope allows (:mod:`.scope`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
from liquid import Environment
from markupsafe import Markup

from gtlabel.aws import JobStatus
from gtlabel.errors import LabelError, PortalError, ServiceError, SessionEnded
from gtlabel.formats.answers import AnswerLimits, check_answer, load_answer
from gtlabel.local.backend import Backend
from gtlabel.local.lambdas import BOX_KINDS, job_kind
from gtlabel.local.liquid_env import grant_read_access, make_environment, render_template
from gtlabel.local.logins import LoginGuard
from gtlabel.local.output import S3Store
from gtlabel.local.scope import ReadScope
from gtlabel.local.state.records import Assignment, DataObject, JobRequest

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["NEXT_TASK_PATH", "SUBMIT_PATH", "Portal"]

SESSION_COOKIE = "gtlabel_session"
LOGIN_CSRF_COOKIE = "gtlabel_login_csrf"
TEMPLATES = Path(__file__).resolve().parent / "templates"
WORK_THREADS = 32  # large answers waiting for their group commit's fsync hold a thread each (a few ms)
# an answer up to this size is parsed, checked and stored on the event loop (a few boxes: ~0.3 KB, tens of us);
# a larger one on a thread, so that a big (or hostile) body does not stall every other request
INLINE_ANSWER_BYTES = 8 << 10
#: The two requests of every task (``POST``): the routes here, and :class:`gtlabel.local.server.HotRoutes`.
NEXT_TASK_PATH = "/api/next-task"
SUBMIT_PATH = "/tasks/{task_id}/submit"


class Portal:
    def __init__(self, backend: Backend, store: S3Store, *, s3_endpoint: str = "", secure_cookies: bool = False,
                 presign_seconds: int = 900, answer_limits: AnswerLimits | None = None,
                 logins: LoginGuard | None = None, allowed_prefixes: Sequence[str] = ()) -> None:
        self.backend = backend
        self.allowed_prefixes = tuple(allowed_prefixes)
        self.logins = logins or LoginGuard()
        self._hash_slots = asyncio.Semaphore(self.logins.policy.hash_slots)
        self._hashing = 0  # logins hashing or waiting to (the event loop's thread only)
        self.answer_limits = answer_limits or AnswerLimits()
        self._rules: dict[str, tuple[list[str], bool]] = {}
        self._requests: dict[str, JobRequest] = {}
        self.store = store
        self.s3_endpoint = s3_endpoint.rstrip("/")
        self.secure = secure_cookies
        # a Secure cookie gets the __Host- prefix: the browser then refuses it unless it came over https, for
        # this host only (no Domain), for every path
        prefix = "__Host-" if secure_cookies else ""
        self.session_cookie = prefix + SESSION_COOKIE
        self.login_cookie = prefix + LOGIN_CSRF_COOKIE
        self.worker_liquid = make_environment(lambda uri: store.presign(uri, presign_seconds))
        self.pages = Environment(autoescape=True)
        self._page_cache: dict[str, Any] = {}
        # the threads that do the portal's database work (claims wait for no fsync; answers wait for theirs)
        self._threads = ThreadPoolExecutor(WORK_THREADS, thread_name_prefix="gtlabel-portal")
        # session cookie -> (worker_id, csrf) as last read from the database: the event loop's first guess only
        # (see _session and _as); a session's row never changes, it is only deleted
        self._known: dict[str, tuple[str, str]] = {}

    # ------------------------------------------------------------------ plumbing
    def routes(self) -> list[Any]:
        from starlette.routing import Route

        return [  # the two requests of every task first: routes are matched in this order
            Route(NEXT_TASK_PATH, self.api_next_task, methods=["POST"]),
            Route(SUBMIT_PATH, self.submit, methods=["POST"]),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/jobs/{job}/start", self.start, methods=["POST"]),
            Route("/jobs/{job}/next", self.next_page, methods=["GET", "POST"]),
            Route("/tasks/{task_id}", self.task_page, methods=["GET"]),
            Route("/tasks/{task_id}/decline", self.decline, methods=["POST"]),
            Route("/tasks/{task_id}/return", self.return_task, methods=["POST"]),
            Route("/api/me", self.api_me, methods=["GET"]),
        ]

    def _page(self, name: str, status: int = 200, headers: dict[str, str] | None = None, **ctx: Any) -> Response:
        from starlette.responses import HTMLResponse

        tpl = self._page_cache.get(name)
        if tpl is None:
            tpl = self.pages.from_string((TEMPLATES / name).read_text(encoding="utf-8"))
            self._page_cache[name] = tpl
        # no page of the portal may be framed by another site (clickjacking of the login and job pages); the
        # task page sends its own, fuller policy
        hdrs = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
                "Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY", **(headers or {})}
        return HTMLResponse(str(tpl.render(**ctx)), status_code=status, headers=hdrs)

    @staticmethod
    def _json(content: Any) -> Response:
        """A 200 JSON reply of the two requests of every task, rendered by orjson (what Starlette's
        ``JSONResponse`` sends, a few times cheaper); ``json`` for what orjson cannot hold (an integer over 64
        bits from a manifest line)."""
        from starlette.responses import Response

        try:
            body = orjson.dumps(content)
        except TypeError:
            body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        return Response(body, media_type="application/json")

    async def _run(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on one of the portal's threads (a shared queue: a thread that has just finished takes the
        next call without being woken)."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)

    async def _as(self, request: Request, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on a worker thread, once the request's session has been read again from the database
        there (:meth:`_live`): a session ended meanwhile (logout, ``gtlabel workers remove`` from another process,
        expiry) raises :class:`SessionEnded` before anything is done."""
        return await self._run(self._live, request.cookies.get(self.session_cookie, ""), fn, args)

    async def _here(self, request: Request, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on the event loop itself, once the request's session has been read again from the
        database (:meth:`_live`), as :meth:`_as` does on a thread: for the two requests of every task (short SQL,
        no thread hop). A durable commit ``fn`` makes does not block the loop: its fsync (the group commit's) is
        awaited before anything is answered, also when ``fn`` raises."""
        db = self.backend.db
        deferred = db.deferred()
        try:
            with deferred:
                return self._live(request.cookies.get(self.session_cookie, ""), fn, args)
        finally:
            if deferred.seq:
                await db.synced(deferred.seq)

    def close(self) -> None:
        """Let the portal's threads go (calls already queued still run)."""
        self._threads.shutdown(wait=False)

    def _live(self, token: str, fn: Any, args: tuple[Any, ...]) -> Any:
        sess = self.backend.session(token)
        if sess is None or sess != self._known.get(token, sess):
            self._known.pop(token, None)
            raise SessionEnded()
        return fn(*args)

    async def _session(self, request: Request) -> tuple[str, str] | None:
        """The session's ``(worker_id, csrf)`` as this process read it last for the cookie: a first guess for the
        CSRF check; the database decides when the request's work starts (:meth:`_live`, from :meth:`_as` or
        :meth:`_here`), so an ended session is refused there. A cookie not seen before is read here."""
        token = request.cookies.get(self.session_cookie)
        if not token:
            return None
        known = self._known.get(token)
        if known is None:
            known = self.backend.session(token)  # one indexed read (no thread hop: see _here)
            if known is not None:
                if len(self._known) >= 100_000:  # tokens of sessions gone long ago
                    self._known.clear()
                self._known[token] = known
        return known

    @staticmethod
    def _wants_json(request: Request) -> bool:
        return ("application/json" in request.headers.get("accept", "")
                or request.headers.get("content-type", "").startswith("application/json")
                or request.url.path.startswith("/api/"))

    def _error(self, request: Request, status: int, message: str) -> Response:
        from starlette.responses import JSONResponse

        if self._wants_json(request):
            return JSONResponse({"error": message}, status_code=status)
        return self._page("message.html", status=status, title="Error", message=message)

    def login_required(self, request: Request, exc: Exception | None = None) -> Response:
        """401 (JSON, or a POST), or a GET page's redirect to the login form; also the app's handler of
        :class:`SessionEnded`."""
        from starlette.responses import RedirectResponse

        if self._wants_json(request) or request.method == "POST":
            return self._error(request, 401, "login required")
        return RedirectResponse("/login", status_code=303)

    async def _auth(self, request: Request, *, csrf: bool) -> tuple[str, str] | Response:
        """The session's ``(worker_id, csrf)``, or the error response (401, or 403 for a bad CSRF token). Work
        done for the worker afterwards goes through :meth:`_as`, which checks the session again in the database."""
        sess = await self._session(request)
        if sess is None:
            return self.login_required(request)
        if csrf:
            sent = request.headers.get("x-csrf-token")
            if sent is None and request.headers.get("content-type", "").startswith(
                    ("application/x-www-form-urlencoded", "multipart/form-data")):
                form = await request.form()
                value = form.get("csrf_token")
                sent = value if isinstance(value, str) else None
            if not sent or not hmac.compare_digest(sent, sess[1]):
                return self._error(request, 403, "missing or wrong CSRF token")
        return sess

    # ------------------------------------------------------------------ login / logout / home
    async def login(self, request: Request) -> Response:
        from starlette.responses import RedirectResponse

        if request.method == "GET":
            token = secrets.token_urlsafe(24)
            resp = self._page("login.html", csrf_token=token, error="")
            resp.set_cookie(self.login_cookie, token, path="/", httponly=True, samesite="strict", secure=self.secure)
            return resp
        form = await request.form()
        sent, cookie = form.get("csrf_token"), request.cookies.get(self.login_cookie)
        if not isinstance(sent, str) or not cookie or not hmac.compare_digest(sent, cookie):
            return self._page("login.html", status=403, csrf_token=cookie or "", error="The form expired; try again.")
        username, password = str(form.get("username") or "")[:256], str(form.get("password") or "")[:1024]
        address = request.client.host if request.client else ""
        wait = self.logins.wait(username, address, self.backend.clock.now())
        if wait > 0:  # locked out: the password is not even looked at
            secs = math.ceil(wait)
            return self._page("login.html", status=429, headers={"Retry-After": str(secs)}, csrf_token=cookie,
                              error=f"Too many failed sign-ins for this account or address; try again in {secs} s.")
        policy = self.logins.policy
        if self._hashing >= policy.hash_slots + policy.hash_queue:  # a flood: refuse instead of queueing it all
            return self._page("login.html", status=503, headers={"Retry-After": "1"}, csrf_token=cookie,
                              error="The portal is busy; try again in a moment.")
        self._hashing += 1
        try:
            async with self._hash_slots:
                worker_id = await self._run(self.backend.authenticate, username, password)
        finally:
            self._hashing -= 1
        if worker_id is None:
            self.logins.failed(username, address, self.backend.clock.now())
            return self._page("login.html", status=401, csrf_token=cookie, error="Wrong username or password.")
        self.logins.succeeded(username)
        token, _csrf = await self._run(self.backend.create_session, worker_id)
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(self.session_cookie, token, path="/", httponly=True, samesite="lax", secure=self.secure, max_age=12 * 3600)
        resp.delete_cookie(self.login_cookie, path="/", secure=self.secure, httponly=True)
        return resp

    async def logout(self, request: Request) -> Response:
        from starlette.responses import RedirectResponse

        auth = await self._auth(request, csrf=True)
        if not isinstance(auth, tuple):
            return auth
        await self._as(request, self.backend.delete_session, request.cookies.get(self.session_cookie, ""))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(self.session_cookie, path="/", secure=self.secure, httponly=True)
        return resp

    async def home(self, request: Request) -> Response:
        auth = await self._auth(request, csrf=False)
        if not isinstance(auth, tuple):
            return auth
        worker_id, csrf = auth
        jobs, worker = await self._as(request, self._home, worker_id)
        return self._page("jobs.html", jobs=jobs, csrf_token=csrf, username=worker.username,
                          message=request.query_params.get("msg", ""))

    def _home(self, worker_id: str) -> tuple[list[dict[str, Any]], Any]:
        return self.backend.jobs_for_worker(worker_id), self.backend.worker(worker_id)

    async def api_me(self, request: Request) -> Response:
        from starlette.responses import JSONResponse

        auth = await self._auth(request, csrf=False)
        if not isinstance(auth, tuple):
            return auth
        jobs, worker = await self._as(request, self._home, auth[0])
        return JSONResponse({"worker_id": auth[0], "username": worker.username, "csrf_token": auth[1],
                             "jobs": jobs})

    # ------------------------------------------------------------------ getting tasks
    async def _claim(self, request: Request, job: str, worker_id: str) -> tuple[Assignment | None, bool] | Response:
        try:
            result: tuple[Assignment | None, bool] = await self._as(request, self.backend.claim_next, job, worker_id)
        except (ServiceError, PortalError) as exc:
            return self._error(request, exc.status if exc.status >= 400 and exc.status != 400 else 404, exc.message)
        return result

    async def start(self, request: Request) -> Response:

        auth = await self._auth(request, csrf=True)
        if not isinstance(auth, tuple):
            return auth
        return await self._next_redirect(request, request.path_params["job"], auth[0])

    async def next_page(self, request: Request) -> Response:
        """``GET /jobs/{job}/next`` claims nothing (a link or a cross-site navigation must not take a task): a
        page with the button that does, by ``POST``."""
        auth = await self._auth(request, csrf=False)
        if not isinstance(auth, tuple):
            return auth
        if request.method == "POST":
            csrf = await self._auth(request, csrf=True)
            if not isinstance(csrf, tuple):
                return csrf
            return await self._next_redirect(request, request.path_params["job"], auth[0])
        job = request.path_params["job"]
        mine = await self._as(request, self.backend.jobs_for_worker, auth[0])
        if not any(j["name"].lower() == job.lower() for j in mine):  # as for a claim: other teams' jobs are unknown
            return self._error(request, 404, f"no labeling job {job!r} for you")
        return self._page("message.html", title="Next task", message="Ready for the next task of this job?",
                          start_url=f"/jobs/{quote(job)}/start", csrf_token=auth[1])

    async def _next_redirect(self, request: Request, job: str, worker_id: str) -> Response:
        """Claim the worker's next task of ``job``: 303 to it (or to the jobs page), or ``{"next": url}`` to a
        fetch that asks for JSON (crowd-html-elements.js after a submit)."""
        from starlette.responses import JSONResponse, RedirectResponse

        claimed = await self._claim(request, job, worker_id)
        if not isinstance(claimed, tuple):
            return claimed
        assignment, done = claimed
        if assignment is None:
            msg = "No more tasks in this job for you." if done else "No task is available right now; try again soon."
            url = f"/?msg={quote(msg)}"
        else:
            url = f"/tasks/{assignment.id}"
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"next": url})
        return RedirectResponse(url, status_code=303)

    async def api_next_task(self, request: Request) -> Response:
        """``POST /api/next-task?job=`` (CSRF header): claim a task, as JSON (the simulated workforce)."""

        auth = await self._auth(request, csrf=True)
        if not isinstance(auth, tuple):
            return auth
        job = request.query_params.get("job", "")
        if not job:
            return self._error(request, 400, "query parameter 'job' is required")
        try:  # claim, task input and image URL on the loop (short SQL; a claim waits for no fsync)
            assignment, done, task_input, image_url = await self._here(request, self._next_task, job, auth[0])
        except (ServiceError, PortalError) as exc:
            return self._error(request, exc.status if exc.status >= 400 and exc.status != 400 else 404, exc.message)
        if assignment is None:
            return self._json({"task_id": None, "done": done})
        tid = assignment.id
        return self._json({"task_id": tid, "job": assignment.job, "input": task_input, "image_url": image_url,
                             "submit_url": SUBMIT_PATH.format(task_id=tid), "decline_url": f"/tasks/{tid}/decline",
                             "return_url": f"/tasks/{tid}/return", "csrf_token": auth[1]})

    def _next_task(self, job: str, worker_id: str) -> tuple[Assignment | None, bool, Any, str]:
        assignment, done = self.backend.claim_next(job, worker_id)
        if assignment is None:
            return None, done, None, ""
        obj = self.backend.data_object(assignment.job, assignment.idx)
        task_input = json.loads(obj.task_input) if obj.task_input else {}
        ref = task_input.get("taskObject") if isinstance(task_input, dict) else None
        scope = self._scope(self._request(assignment.job), obj)
        image_url = grant_read_access(self.worker_liquid, str(ref), scope) if ref else ""
        return assignment, done, task_input, image_url

    def _request(self, job: str) -> JobRequest:
        """The job's request as accepted (never changes, and a job name is never reused: cached per job)."""
        found = self._requests.get(job)
        if found is None:
            if len(self._requests) >= 1024:
                self._requests.clear()
            found = self._requests[job] = self.backend.job(job).request
        return found

    def _scope(self, request: JobRequest, obj: DataObject) -> ReadScope:
        """What ``grant_read_access`` may presign for this task (:mod:`gtlabel.local.scope`)."""
        line = json.loads(obj.line) if obj.line else {}
        ref = line.get("source-ref") if isinstance(line, dict) else None
        return ReadScope.for_task(request.raw, ref if isinstance(ref, str) else None, self.allowed_prefixes)

    # ------------------------------------------------------------------ the task page
    def _render_task(self, assignment: Assignment) -> tuple[str, JobRequest]:
        job = self.backend.job(assignment.job)
        obj = self.backend.data_object(assignment.job, assignment.idx)
        task_input = json.loads(obj.task_input) if obj.task_input else {}
        body = render_template(self.worker_liquid, job.template or "", task_input, self._scope(job.request, obj))
        return body, job.request

    async def task_page(self, request: Request) -> Response:
        auth = await self._auth(request, csrf=False)
        if not isinstance(auth, tuple):
            return auth
        worker_id, csrf = auth
        tid = request.path_params["task_id"]
        try:
            assignment = await self._as(request, self.backend.assignment, tid, worker_id)
        except (ServiceError, PortalError) as exc:
            return self._error(request, exc.status, exc.message)
        if assignment.state != "claimed":
            return self._page("message.html", status=409, title="Task closed",
                              message=f"This task is {assignment.state}.",
                              start_url=f"/jobs/{quote(assignment.job)}/start", csrf_token=csrf)
        try:
            body, req = await self._as(request, self._render_task, assignment)
        except Exception as exc:
            return self._error(request, 500, f"the worker template could not be rendered: {type(exc).__name__}: {exc}")
        s3 = self.s3_endpoint
        csp = (f"default-src 'self' {s3}; img-src 'self' data: blob: {s3}; connect-src 'self' {s3}; "
               "script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
               "form-action 'self'; base-uri 'none'")
        return self._page("task.html", headers={"Content-Security-Policy": csp}, csrf_token=csrf, task_id=tid,
                          job=assignment.job, title=req.title, description=req.description,
                          time_limit=int(req.task_time_limit), body=Markup(body))

    # ------------------------------------------------------------------ answers
    async def submit(self, request: Request) -> Response:

        auth = await self._auth(request, csrf=True)
        if not isinstance(auth, tuple):
            return auth
        raw = await request.body()  # BodyLimit: at most MAX_ANSWER_BYTES
        # a large answer is parsed and checked off the event loop: it must not stall every other request
        run = self._here if len(raw) <= INLINE_ANSWER_BYTES else self._as
        try:
            assignment, first = await run(request, self._submit, request.path_params["task_id"], auth[0], raw)
        except LabelError as exc:  # refused before it is stored: the task stays the worker's, to fix and resend
            return self._error(request, 400, f"Your answer was not accepted: {exc}")
        except (ServiceError, PortalError) as exc:
            return self._error(request, exc.status, exc.message)
        # the next task is claimed by a POST to "next" (crowd-html-elements.js does it); a GET of it claims nothing
        return self._json({"ok": True, "task_id": assignment.id, "duplicate": not first,
                             "next": f"/jobs/{quote(assignment.job)}/next"})

    def _submit(self, task_id: str, worker_id: str, raw: bytes) -> tuple[Assignment, bool]:
        """Parse the answer and check it against its job (:func:`gtlabel.formats.answers.check_answer`), then
        store it."""
        answer = load_answer(raw)
        assignment = self.backend.assignment(task_id, worker_id)
        labels, boxes = self._answer_rules(assignment.job)
        check_answer(answer, labels=labels, bounding_box=boxes, limits=self.answer_limits)
        result: tuple[Assignment, bool] = self.backend.submit(task_id, worker_id, answer)
        return result

    def _answer_rules(self, job: str) -> tuple[list[str], bool]:
        """The job's labels and whether it consolidates boxes (fixed once the job runs; cached per job)."""
        rules = self._rules.get(job)
        if rules is None:
            found = self.backend.job(job)
            rules = (list(found.labels), job_kind(found.request) in BOX_KINDS)
            if found.status is not JobStatus.INITIALIZING:
                if len(self._rules) >= 1024:
                    self._rules.clear()
                self._rules[job] = rules
        return rules

    async def _close(self, request: Request, action: str) -> Response:
        from starlette.responses import JSONResponse, RedirectResponse

        auth = await self._auth(request, csrf=True)
        if not isinstance(auth, tuple):
            return auth
        fn = self.backend.decline if action == "decline" else self.backend.return_task
        try:
            assignment = await self._as(request, fn, request.path_params["task_id"], auth[0])
        except (ServiceError, PortalError) as exc:
            return self._error(request, exc.status, exc.message)
        nxt = f"/jobs/{quote(assignment.job)}/next" if action == "decline" else "/"
        if self._wants_json(request) or request.headers.get("x-csrf-token"):
            return JSONResponse({"ok": True, "task_id": assignment.id, "state": assignment.state, "next": nxt})
        return RedirectResponse(nxt, status_code=303)

    async def decline(self, request: Request) -> Response:
        return await self._close(request, "decline")

    async def return_task(self, request: Request) -> Response:
        return await self._close(request, "return")
