"""Backend models of the local service: workteams, workers and sessions, labeling jobs, task assignments.

Everything here works on plain values and the repositories of :mod:`gtlabel.local.state` (which hold the SQL);
nothing parses HTTP.
Wire handlers (:mod:`gtlabel.local.api`) and the portal (:mod:`gtlabel.local.portal`) call these methods; the
job engine (:mod:`gtlabel.local.engine`) drives the lifecycle.

Errors are the :class:`gtlabel.errors.ServiceError` family, with the AWS error code (``ValidationException``,
``ResourceInUse``, ``ResourceNotFound``, ``ResourceLimitExceeded``), or, for the worker portal,
:class:`gtlabel.errors.PortalError` (``PortalNotFound`` 404, ``TaskConflict`` 409).

Task model (one object goes to ``NumberOfHumanWorkersPerDataObject`` = N distinct workers):

- a worker *claims* an active object -> an assignment in state ``claimed`` (takes one of the N slots);
- ``submit`` -> ``submitted`` (answer stored, committed before the reply; a retried submit is a no-op);
- ``decline`` (skip) -> ``declined``: the slot is used up without an answer; if all N slots end declined the
  object is marked expired (failed), as Ground Truth documents;
- ``return`` -> ``returned`` and a claim not submitted within ``TaskTimeLimitInSeconds`` -> ``timedout``: the
  slot goes back to the pool (another worker, or the same one later, can take it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from gtlabel.aws import TERMINAL, JobStatus, is_public_workteam
from gtlabel.errors import (
    PortalNotFound,
    ResourceInUse,
    ResourceLimitExceeded,
    ResourceNotFound,
    ServiceValidationError,
    TaskConflict,
)
from gtlabel.local.lifecycle import JOB, OPEN_OBJECT, AssignmentState, ObjectState
from gtlabel.local.logins import check_password_policy
from gtlabel.local.state import Database, State
from gtlabel.local.state.records import Assignment, DataObject, Job, JobRequest, Session, Team, Worker

__all__ = [
    "DEFAULT_TEAM",
    "WORKTEAM_LIMIT",
    "Backend",
    "Clock",
    "ManualClock",
    "SystemClock",
]

WORKTEAM_LIMIT = 25  # "You cannot create more than 25 work teams in an account and region." (CreateWorkteam doc)
DEFAULT_TEAM = "default"
SESSION_SECONDS = 12 * 3600


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock tests move by hand: ``clock.advance(3600)``."""

    def __init__(self, start: float | None = None) -> None:
        self._t = time.time() if start is None else start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._t += seconds
            return self._t


# ----------------------------------------------------------------------------------------------- helpers
def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${salt.hex()}${dk.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt_hex, dk_hex = stored.split("$")
    except ValueError:
        return False
    if algo != "scrypt":
        return False
    dk = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r), p=int(p),
                        dklen=len(dk_hex) // 2)
    return hmac.compare_digest(dk.hex(), dk_hex)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def encode_token(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "f": fingerprint}, separators=(",", ":"), allow_nan=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, fingerprint: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        offset = int(data["o"])
        ok = data["f"] == fingerprint and offset >= 0
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise ServiceValidationError("The NextToken is invalid for this request "
                                     "(it must come from the previous page of the same request).")
    return offset


def paginate(items: Sequence[Any], params: Mapping[str, Any], default_max: int = 10) -> tuple[list[Any], str | None]:
    """Slice ``items`` by ``MaxResults``/``NextToken``; the token is bound to the other parameters."""
    fp_src = {k: v for k, v in params.items() if k not in ("NextToken", "MaxResults")}
    fingerprint = hashlib.sha1(json.dumps(fp_src, sort_keys=True, default=str, allow_nan=False).encode()).hexdigest()[:12]
    offset = decode_token(str(params["NextToken"]), fingerprint) if params.get("NextToken") else 0
    limit = int(params.get("MaxResults") or default_max)
    page = list(items[offset:offset + limit])
    nxt = encode_token(offset + limit, fingerprint) if offset + limit < len(items) else None
    return page, nxt


def _sort(items: list[dict[str, Any]], key: str, order: str | None) -> list[dict[str, Any]]:
    return sorted(items, key=lambda d: (d[key], d.get("_tiebreak", "")), reverse=(order == "Descending"))


# ----------------------------------------------------------------------------------------------- backend
class Backend:
    """State of one local SageMaker (labeling part): account ``account_id`` in ``region``."""

    def __init__(self, db: Database, *, clock: Clock | None = None, region: str = "us-east-1",
                 account_id: str = "123456789012", portal_url: str = "") -> None:
        self.db = db
        self.state = State(db)
        self.clock: Clock = clock or SystemClock()
        self.region = region
        self.account_id = account_id
        self.portal_url = portal_url
        self.on_change: Callable[[], None] | None = None  # the engine's wake-up

    # ------------------------------------------------------------------ ARNs
    def team_arn(self, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:workteam/private-crowd/{name}"

    def job_arn(self, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:labeling-job/{name.lower()}"

    def workforce_arn(self) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:workforce/default"

    # ------------------------------------------------------------------ workteams
    def _team_dict(self, team: Team) -> dict[str, Any]:
        out: dict[str, Any] = {
            "WorkteamName": team.name,
            "MemberDefinitions": team.members,
            "WorkteamArn": team.arn,
            "WorkforceArn": self.workforce_arn(),
            "ProductListingIds": [],
            "Description": team.description,
            "SubDomain": self.portal_url.split("://", 1)[-1].rstrip("/"),
            "CreateDate": team.created,
            "LastUpdatedDate": team.updated,
        }
        for key in ("NotificationConfiguration", "WorkerAccessConfiguration"):
            if key in team.extra:
                out[key] = team.extra[key]
        return out

    def create_workteam(self, params: Mapping[str, Any]) -> str:
        name = str(params["WorkteamName"])
        now = self.clock.now()
        extra = {k: params[k] for k in ("NotificationConfiguration", "WorkerAccessConfiguration", "Tags",
                                        "WorkforceName") if k in params}
        teams = self.state.teams
        with self.state.tx():
            if teams.exists(name, ignore_case=True):
                raise ResourceInUse(f"Workteam {name!r} already exists.")
            count = teams.count()
            if count >= WORKTEAM_LIMIT:
                raise ResourceLimitExceeded(f"You cannot create more than {WORKTEAM_LIMIT} work teams in an account and "
                                            f"region ({count} exist).")
            arn = self.team_arn(name)
            teams.insert(Team(name=name, arn=arn, description=str(params["Description"]),
                              members=list(params["MemberDefinitions"]), extra=extra, created=now, updated=now))
        return arn

    def _team(self, name: str) -> Team:
        team = self.state.teams.get(name)
        if team is None:
            raise ResourceNotFound(f"Workteam {name!r} does not exist.")
        return team

    def describe_workteam(self, name: str) -> dict[str, Any]:
        return self._team_dict(self._team(name))

    def list_workteams(self, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        teams = [self._team_dict(t) for t in self.state.teams.all()]
        if params.get("NameContains"):
            teams = [t for t in teams if str(params["NameContains"]).lower() in t["WorkteamName"].lower()]
        key = "CreateDate" if params.get("SortBy") == "CreateDate" else "WorkteamName"
        for t in teams:
            t["_tiebreak"] = t["WorkteamName"]
        teams = _sort(teams, key, params.get("SortOrder"))
        for t in teams:
            t.pop("_tiebreak")
        return paginate(teams, params)

    def update_workteam(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name = str(params["WorkteamName"])
        with self.state.tx():
            team = self._team(name)
            extra = dict(team.extra)
            for k in ("NotificationConfiguration", "WorkerAccessConfiguration"):
                if k in params:
                    extra[k] = params[k]
            members = list(params["MemberDefinitions"]) if "MemberDefinitions" in params else team.members
            self.state.teams.update(name, members=members, description=str(params.get("Description", team.description)),
                                    extra=extra, updated=self.clock.now())
        return self.describe_workteam(name)

    def delete_workteam(self, name: str) -> None:
        with self.state.tx():
            self._team(name)
            busy = self.state.jobs.live_in_team(name)
            if busy:
                raise ServiceValidationError(f"Workteam {name!r} has a running labeling job ({busy}); stop it first.")
            self.state.teams.delete(name)
            self.state.workers.remove_team(name)

    def team_for_arn(self, arn: str) -> str | None:
        """The local team behind a WorkteamArn; the public (MTurk) workforce maps to the default team."""
        if is_public_workteam(arn):
            return DEFAULT_TEAM if self.state.teams.exists(DEFAULT_TEAM) else None
        team = self.state.teams.by_arn(arn)
        return team.name if team is not None else None

    def has_team(self, name: str) -> bool:
        return self.state.teams.exists(name)

    # ------------------------------------------------------------------ workers and sessions
    def add_worker(self, team: str, username: str, password: str) -> str:
        """Create (or re-use) a worker account and add it to ``team``; returns the worker id."""
        if not username or not password:
            raise ServiceValidationError("username and password must not be empty")
        weak = check_password_policy(password)
        if weak:
            raise ServiceValidationError(f"worker {username!r}: {weak}")
        self._team(team)
        workers = self.state.workers
        known = workers.by_username(username)
        if known is not None:
            if not check_password(password, known.pw_hash):
                raise ResourceInUse(f"worker {username!r} exists with another password")
            worker_id = known.worker_id
        else:
            worker_id = f"private.{self.region}.{secrets.token_hex(8)}"
            workers.insert(Worker(worker_id=worker_id, username=username, pw_hash=hash_password(password),
                                  sub=str(uuid.uuid4()), created=self.clock.now()))
        workers.add_member(team, worker_id)
        return worker_id

    def remove_worker(self, team: str, username: str) -> bool:
        """Take ``username`` out of ``team`` at once: the membership, every session of the worker (they must log
        in again) and their unfinished claims in the team's jobs (back to the pool). ``False`` if they were not in
        it."""
        known = self.state.workers.by_username(username)
        if known is None:
            raise PortalNotFound(f"no worker {username!r}")
        with self.state.tx():
            gone = self.state.workers.remove_member(team, known.worker_id)
            self.state.workers.delete_sessions_of(known.worker_id)
            for job in self.state.jobs.for_teams([team]):
                while (claim := self.state.tasks.open_claim(job.name, known.worker_id)) is not None:
                    self.state.tasks.release_claim(claim, AssignmentState.RETURNED)
        return gone

    def list_workers(self) -> list[tuple[str, str, list[str]]]:
        """``(username, worker_id, teams)`` of every portal account, by username."""
        return [(w.username, w.worker_id, sorted(self.state.workers.teams_of(w.worker_id)))
                for w in self.state.workers.all()]

    def authenticate(self, username: str, password: str) -> str | None:
        known = self.state.workers.by_username(username)
        if known is None:
            check_password(password, hash_password("x"))  # same time for unknown users
            return None
        return known.worker_id if check_password(password, known.pw_hash) else None

    def worker(self, worker_id: str) -> Worker:
        found = self.state.workers.get(worker_id)
        if found is None:
            raise PortalNotFound("no such worker")
        return found

    def create_session(self, worker_id: str) -> tuple[str, str]:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        self.state.workers.add_session(_token_hash(token), Session(worker_id, csrf, time.time() + SESSION_SECONDS))
        return token, csrf

    def session(self, token: str | None) -> tuple[str, str] | None:
        """``(worker_id, csrf)`` for a live session cookie, else ``None``."""
        if not token:
            return None
        found = self.state.workers.session(_token_hash(token))
        if found is None or found.expires < time.time():
            return None
        return found.worker_id, found.csrf

    def delete_session(self, token: str) -> None:
        self.state.workers.delete_session(_token_hash(token))

    def worker_teams(self, worker_id: str) -> list[str]:
        return self.state.workers.teams_of(worker_id)

    # ------------------------------------------------------------------ labeling jobs
    def _job(self, name: str) -> Job:
        job = self.state.jobs.get(name)
        if job is None:
            raise ResourceNotFound(f"Could not find labeling job {name!r}.")
        return job

    def create_labeling_job(self, request: JobRequest) -> str:
        name = request.name
        team = self.team_for_arn(request.workteam_arn)
        if team is None:
            raise ServiceValidationError(f"HumanTaskConfig.WorkteamArn: work team {request.workteam_arn!r} does not "
                                         f"exist in this account ({self.account_id}) and region ({self.region}).")
        now = self.clock.now()
        arn = self.job_arn(name)
        with self.state.tx():
            if self.state.jobs.exists(name):
                raise ResourceInUse(f"A labeling job named {name!r} already exists (job names "
                                    "are unique per account and region, case-insensitively, and never freed).")
            self.state.jobs.insert(name=name, arn=arn, request=request, workteam_arn=request.workteam_arn, team=team,
                                   job_ref=secrets.token_hex(16), now=now)
        if self.on_change:
            self.on_change()
        return arn

    def counters(self, job: str) -> dict[str, int]:
        human = machine = failed = unlabeled = 0
        for (state, by_human), n in self.state.tasks.counts(job).items():
            if state is ObjectState.DONE:
                if by_human:
                    human += n
                else:
                    machine += n
            elif state is ObjectState.FAILED:
                failed += n
            else:
                unlabeled += n
        return {"TotalLabeled": human + machine, "HumanLabeled": human, "MachineLabeled": machine,
                "FailedNonRetryableError": failed, "Unlabeled": unlabeled}

    def describe_labeling_job(self, name: str) -> dict[str, Any]:
        job = self._job(name)
        req = job.request.raw
        out: dict[str, Any] = {
            "LabelingJobStatus": str(job.status),
            "LabelCounters": self.counters(job.name),
        }
        if job.failure_reason:
            out["FailureReason"] = job.failure_reason[:1024]
        out.update({
            "CreationTime": job.created,
            "LastModifiedTime": job.modified,
            "JobReferenceCode": job.job_ref,
            "LabelingJobName": job.name,
            "LabelingJobArn": job.arn,
            "LabelAttributeName": req["LabelAttributeName"],
            "InputConfig": req["InputConfig"],
            "OutputConfig": req["OutputConfig"],
            "RoleArn": req["RoleArn"],
        })
        for key in ("LabelCategoryConfigS3Uri", "StoppingConditions", "LabelingJobAlgorithmsConfig"):
            if key in req:
                out[key] = req[key]
        out["HumanTaskConfig"] = req["HumanTaskConfig"]
        if "Tags" in req:
            out["Tags"] = req["Tags"]
        if job.output_uri:
            out["LabelingJobOutput"] = {"OutputDatasetS3Uri": job.output_uri}
        return out

    def _summary(self, job: Job) -> dict[str, Any]:
        req = job.request
        out: dict[str, Any] = {
            "LabelingJobName": job.name, "LabelingJobArn": job.arn, "CreationTime": job.created,
            "LastModifiedTime": job.modified, "LabelingJobStatus": str(job.status),
            "LabelCounters": self.counters(job.name), "WorkteamArn": job.workteam_arn,
        }
        if req.pre_lambda:
            out["PreHumanTaskLambdaArn"] = req.pre_lambda
        if req.acs_lambda:
            out["AnnotationConsolidationLambdaArn"] = req.acs_lambda
        if job.failure_reason:
            out["FailureReason"] = job.failure_reason[:1024]
        if job.output_uri:
            out["LabelingJobOutput"] = {"OutputDatasetS3Uri": job.output_uri}
        out["InputConfig"] = req.raw["InputConfig"]
        return out

    def list_labeling_jobs(self, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        selected = []
        for j in self.state.jobs.all():
            if params.get("NameContains") and str(params["NameContains"]).lower() not in j.name.lower():
                continue
            if params.get("StatusEquals") and j.status != params["StatusEquals"]:
                continue
            if not _in_range(j.created, params.get("CreationTimeAfter"), params.get("CreationTimeBefore")):
                continue
            if not _in_range(j.modified, params.get("LastModifiedTimeAfter"), params.get("LastModifiedTimeBefore")):
                continue
            selected.append(j)
        sort_by = params.get("SortBy") or "CreationTime"
        key: Callable[[Job], Any] = {"Name": lambda j: j.name, "CreationTime": lambda j: j.created,
                                     "Status": lambda j: str(j.status)}[str(sort_by)]
        selected.sort(key=lambda j: (key(j), j.name), reverse=params.get("SortOrder") == "Descending")
        page, nxt = paginate(selected, params)
        return [self._summary(j) for j in page], nxt

    def list_labeling_jobs_for_workteam(self, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        arn = str(params["WorkteamArn"])
        team = self.team_for_arn(arn)
        if team is None:
            raise ResourceNotFound(f"Work team {arn!r} does not exist.")
        jobs = [j for j in self.state.jobs.for_workteam(arn)
                if _in_range(j.created, params.get("CreationTimeAfter"), params.get("CreationTimeBefore"))
                and (not params.get("JobReferenceCodeContains") or str(params["JobReferenceCodeContains"]) in j.job_ref)]
        jobs.sort(key=lambda j: (j.created, j.name), reverse=params.get("SortOrder") == "Descending")
        page, nxt = paginate(jobs, params)
        out = []
        for j in page:
            c = self.counters(j.name)
            out.append({
                "LabelingJobName": j.name, "JobReferenceCode": j.job_ref,
                "WorkRequesterAccountId": self.account_id, "CreationTime": j.created,
                "LabelCounters": {"HumanLabeled": c["HumanLabeled"],
                                  "PendingHuman": self.state.tasks.count(j.name, OPEN_OBJECT), "Total": j.n_objects},
                "NumberOfHumanWorkersPerDataObject": j.request.workers_per_object,
            })
        return out, nxt

    def stop_labeling_job(self, name: str) -> None:
        with self.state.tx():
            job = self._job(name)
            if JOB.allowed(job.status, JobStatus.STOPPING):  # Initializing, InProgress
                self.state.jobs.set_status(job.name, JobStatus.STOPPING, now=self.clock.now())
            # stopping a stopping/finished job is a no-op, as on AWS
        if self.on_change:
            self.on_change()

    def job(self, name: str) -> Job:
        return self._job(name)

    # ------------------------------------------------------------------ portal: jobs and tasks
    def jobs_for_worker(self, worker_id: str) -> list[dict[str, Any]]:
        out = []
        for j in self.state.jobs.for_teams(self.worker_teams(worker_id)):
            avail = self.state.tasks.available_to(j.name, worker_id, workers=j.request.workers_per_object)
            out.append({"name": j.name, "title": j.request.title, "description": j.request.description,
                        "status": str(j.status), "available": avail, "counters": self.counters(j.name)})
        return out

    def _check_member(self, job: Job, worker_id: str) -> None:
        if not self.state.workers.is_member(job.team, worker_id):
            # same answer as for a job that does not exist: do not reveal other teams' jobs
            raise PortalNotFound(f"no labeling job {job.name!r} for you")

    def claim_next(self, job_name: str, worker_id: str) -> tuple[Assignment | None, bool]:
        """Give the worker a task of ``job_name``: ``(assignment, done)``.

        An unfinished claim of this worker in the job is returned again (idempotent). ``done`` is True when the
        job has nothing more for this worker (finished, or every remaining object already answered by them).
        """
        now = self.clock.now()
        tasks = self.state.tasks
        # not durable: a claim lost in a power cut only means the task is offered again (kill -9 keeps it)
        with self.state.tx(durable=False):
            job = self.state.jobs.get(job_name)
            if job is None:
                raise PortalNotFound(f"no labeling job {job_name!r} for you")
            self._check_member(job, worker_id)
            if job.status in TERMINAL or job.status is JobStatus.STOPPING:
                return None, True
            if job.status is not JobStatus.IN_PROGRESS:
                return None, False
            mine = tasks.open_claim(job.name, worker_id)
            if mine is not None and mine.claimed + job.request.task_time_limit > now:
                return mine, False
            if mine is not None:
                tasks.release_claim(mine, AssignmentState.TIMEDOUT)
            idx = tasks.next_for(job.name, worker_id, workers=job.request.workers_per_object)
            if idx is None:
                return None, not tasks.any_left_for(job.name, worker_id)
            return tasks.claim(secrets.token_urlsafe(18), job.name, idx, worker_id, now=now), False

    def assignment(self, aid: str, worker_id: str) -> Assignment:
        """The worker's own assignment; another worker's task id is 'not found' (nothing is revealed)."""
        return self._own_claim(aid, worker_id)[0]

    def _own_claim(self, aid: str, worker_id: str) -> tuple[Assignment, Job]:
        """The worker's own assignment and its job (one read of each)."""
        found = self.state.tasks.assignment(aid)
        if found is None or not hmac.compare_digest(found.worker_id, worker_id):
            raise PortalNotFound("no such task")
        job = self._job(found.job)
        if not self.state.workers.is_member(job.team, worker_id):
            raise PortalNotFound("no such task")  # removed from the job's team: checked at every claim and answer
        return found, job

    def submit(self, aid: str, worker_id: str, answer: Mapping[str, Any]) -> tuple[Assignment, bool]:
        """Store a worker's answer; committed when this returns. ``(assignment, first_time)``."""
        now = self.clock.now()
        body = json.dumps(answer, separators=(",", ":"), allow_nan=False)
        late: TaskConflict | None = None
        with self.state.tx():
            mine, job = self._own_claim(aid, worker_id)
            if mine.state is AssignmentState.SUBMITTED:
                return mine, False
            if mine.state is not AssignmentState.CLAIMED:
                raise TaskConflict(f"this task is no longer yours (it was {mine.state})")
            limit = job.request.task_time_limit
            if job.status is not JobStatus.IN_PROGRESS:
                raise TaskConflict(f"the labeling job is {job.status}")
            if mine.claimed + limit < now:
                # the slot goes back to the pool (committed with this transaction), then the worker hears why
                self.state.tasks.release_claim(mine, AssignmentState.TIMEDOUT)
                late = TaskConflict(f"the task time limit ({int(limit)} s) has passed")
            else:
                self.state.tasks.submit(mine, answer=body, now=now)
        if late is not None:
            raise late
        return Assignment(aid, mine.job, mine.idx, worker_id, AssignmentState.SUBMITTED, mine.claimed, now, body), True

    def decline(self, aid: str, worker_id: str) -> Assignment:
        with self.state.tx():
            mine, _job = self._own_claim(aid, worker_id)
            if mine.state is AssignmentState.DECLINED:
                return mine
            if mine.state is not AssignmentState.CLAIMED:
                raise TaskConflict(f"this task is no longer yours (it was {mine.state})")
            self.state.tasks.decline(mine, now=self.clock.now())
        return self.assignment(aid, worker_id)

    def return_task(self, aid: str, worker_id: str) -> Assignment:
        with self.state.tx():
            mine, _job = self._own_claim(aid, worker_id)
            if mine.state is AssignmentState.RETURNED:
                return mine
            if mine.state is not AssignmentState.CLAIMED:
                raise TaskConflict(f"this task is no longer yours (it was {mine.state})")
            self.state.tasks.release_claim(mine, AssignmentState.RETURNED)
        return self.assignment(aid, worker_id)

    def data_object(self, job: str, idx: int) -> DataObject:
        found = self.state.tasks.get(job, idx)
        if found is None:
            raise PortalNotFound("no such data object")
        return found


def _in_range(value: float, after: Any, before: Any) -> bool:
    if after is not None and not value > _epoch(after):
        return False
    return not (before is not None and not value < _epoch(before))


def _epoch(v: Any) -> float:
    if isinstance(v, int | float):
        return float(v)
    try:
        return datetime.fromisoformat(str(v).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ServiceValidationError(f"invalid timestamp {v!r}") from None
