"""Backend models of the local service: workteams, workers and sessions, labeling jobs, task assignments.

Everything here works on plain values and the SQLite database (:mod:`gtlabel.local.db`); nothing parses HTTP.
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
import functools
import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gtlabel.errors import (
    PortalNotFound,
    ResourceInUse,
    ResourceLimitExceeded,
    ResourceNotFound,
    ServiceValidationError,
    TaskConflict,
)
from gtlabel.local.lifecycle import TERMINAL
from gtlabel.local.state import Database, State
from gtlabel.local.state.records import Session, Team, Worker

__all__ = [
    "DEFAULT_TEAM",
    "WORKTEAM_LIMIT",
    "Assignment",
    "Backend",
    "Clock",
    "ManualClock",
    "SystemClock",
]

WORKTEAM_LIMIT = 25  # "You cannot create more than 25 work teams in an account and region." (CreateWorkteam doc)
DEFAULT_TEAM = "default"
PUBLIC_CROWD_SUFFIX = ":workteam/public-crowd/default"
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


@dataclass(frozen=True)
class Assignment:
    id: str
    job: str
    idx: int
    worker_id: str
    state: str
    claimed: float
    submitted: float | None
    answer: str | None


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


@functools.lru_cache(maxsize=256)
def _task_settings(request_json: str) -> tuple[float, int]:
    """(task time limit s, workers per object) of a job's stored request (parsed once per job, not per claim)."""
    hc = json.loads(request_json)["HumanTaskConfig"]
    return float(hc["TaskTimeLimitInSeconds"]), int(hc["NumberOfHumanWorkersPerDataObject"])


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def encode_token(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "f": fingerprint}, separators=(",", ":")).encode()
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
    fingerprint = hashlib.sha1(json.dumps(fp_src, sort_keys=True, default=str).encode()).hexdigest()[:12]
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
            busy = self.db.one("SELECT name FROM jobs WHERE team=? AND status IN ('Initializing','InProgress',"
                               "'Stopping') LIMIT 1", (name,))
            if busy:
                raise ServiceValidationError(f"Workteam {name!r} has a running labeling job ({busy['name']}); stop "
                                             "it first.")
            self.state.teams.delete(name)
            self.state.workers.remove_team(name)

    def team_for_arn(self, arn: str) -> str | None:
        """The local team behind a WorkteamArn; the public (MTurk) workforce maps to the default team."""
        if arn.endswith(PUBLIC_CROWD_SUFFIX):
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
    def _job_row(self, name: str) -> sqlite3.Row:
        row = self.db.one("SELECT * FROM jobs WHERE name_lower=?", (name.lower(),))
        if row is None:
            raise ResourceNotFound(f"Could not find labeling job {name!r}.")
        return row

    def create_labeling_job(self, request: Mapping[str, Any]) -> str:
        name = str(request["LabelingJobName"])
        hc = request["HumanTaskConfig"]
        team_arn = str(hc["WorkteamArn"])
        team = self.team_for_arn(team_arn)
        if team is None:
            raise ServiceValidationError(f"HumanTaskConfig.WorkteamArn: work team {team_arn!r} does not exist in this "
                                         f"account ({self.account_id}) and region ({self.region}).")
        now = self.clock.now()
        arn = self.job_arn(name)
        with self.db.tx() as con:
            if con.execute("SELECT 1 FROM jobs WHERE name_lower=?", (name.lower(),)).fetchone():
                raise ResourceInUse(f"A labeling job named {name!r} already exists (job names "
                                    "are unique per account and region, case-insensitively, and never freed).")
            con.execute("INSERT INTO jobs (name, name_lower, arn, status, request, workteam_arn, team, job_ref, "
                        "created, modified) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (name, name.lower(), arn, "Initializing", json.dumps(request), team_arn, team,
                         secrets.token_hex(16), now, now))
        if self.on_change:
            self.on_change()
        return arn

    def counters(self, job: str) -> dict[str, int]:
        rows = self.db.query("SELECT state, human, count(*) AS n FROM objects WHERE job=? GROUP BY state, human",
                             (job,))
        human = machine = failed = unlabeled = 0
        for r in rows:
            if r["state"] == "done":
                if r["human"]:
                    human += r["n"]
                else:
                    machine += r["n"]
            elif r["state"] == "failed":
                failed += r["n"]
            else:
                unlabeled += r["n"]
        return {"TotalLabeled": human + machine, "HumanLabeled": human, "MachineLabeled": machine,
                "FailedNonRetryableError": failed, "Unlabeled": unlabeled}

    def describe_labeling_job(self, name: str) -> dict[str, Any]:
        row = self._job_row(name)
        req = json.loads(row["request"])
        out: dict[str, Any] = {
            "LabelingJobStatus": row["status"],
            "LabelCounters": self.counters(row["name"]),
        }
        if row["failure_reason"]:
            out["FailureReason"] = row["failure_reason"][:1024]
        out.update({
            "CreationTime": row["created"],
            "LastModifiedTime": row["modified"],
            "JobReferenceCode": row["job_ref"],
            "LabelingJobName": row["name"],
            "LabelingJobArn": row["arn"],
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
        if row["output_uri"]:
            out["LabelingJobOutput"] = {"OutputDatasetS3Uri": row["output_uri"]}
        return out

    def _summary(self, row: sqlite3.Row) -> dict[str, Any]:
        req = json.loads(row["request"])
        hc = req["HumanTaskConfig"]
        out: dict[str, Any] = {
            "LabelingJobName": row["name"], "LabelingJobArn": row["arn"], "CreationTime": row["created"],
            "LastModifiedTime": row["modified"], "LabelingJobStatus": row["status"],
            "LabelCounters": self.counters(row["name"]), "WorkteamArn": row["workteam_arn"],
        }
        if hc.get("PreHumanTaskLambdaArn"):
            out["PreHumanTaskLambdaArn"] = hc["PreHumanTaskLambdaArn"]
        acs = (hc.get("AnnotationConsolidationConfig") or {}).get("AnnotationConsolidationLambdaArn")
        if acs:
            out["AnnotationConsolidationLambdaArn"] = acs
        if row["failure_reason"]:
            out["FailureReason"] = row["failure_reason"][:1024]
        if row["output_uri"]:
            out["LabelingJobOutput"] = {"OutputDatasetS3Uri": row["output_uri"]}
        out["InputConfig"] = req["InputConfig"]
        return out

    def list_labeling_jobs(self, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        rows = self.db.query("SELECT * FROM jobs")
        selected = []
        for r in rows:
            if params.get("NameContains") and str(params["NameContains"]).lower() not in r["name_lower"]:
                continue
            if params.get("StatusEquals") and r["status"] != params["StatusEquals"]:
                continue
            if not _in_range(r["created"], params.get("CreationTimeAfter"), params.get("CreationTimeBefore")):
                continue
            if not _in_range(r["modified"], params.get("LastModifiedTimeAfter"), params.get("LastModifiedTimeBefore")):
                continue
            selected.append(r)
        sort_by = params.get("SortBy") or "CreationTime"
        col = {"Name": "name", "CreationTime": "created", "Status": "status"}[str(sort_by)]
        selected.sort(key=lambda r: (r[col], r["name"]), reverse=params.get("SortOrder") == "Descending")
        page, nxt = paginate(selected, params)
        return [self._summary(r) for r in page], nxt

    def list_labeling_jobs_for_workteam(self, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        arn = str(params["WorkteamArn"])
        team = self.team_for_arn(arn)
        if team is None:
            raise ResourceNotFound(f"Work team {arn!r} does not exist.")
        rows = [r for r in self.db.query("SELECT * FROM jobs WHERE workteam_arn=?", (arn,))
                if _in_range(r["created"], params.get("CreationTimeAfter"), params.get("CreationTimeBefore"))
                and (not params.get("JobReferenceCodeContains")
                     or str(params["JobReferenceCodeContains"]) in r["job_ref"])]
        rows.sort(key=lambda r: (r["created"], r["name"]), reverse=params.get("SortOrder") == "Descending")
        page, nxt = paginate(rows, params)
        out = []
        for r in page:
            req = json.loads(r["request"])
            c = self.counters(r["name"])
            pending = self.db.one("SELECT count(*) AS n FROM objects WHERE job=? AND state IN ('pending','active')",
                                  (r["name"],))
            out.append({
                "LabelingJobName": r["name"], "JobReferenceCode": r["job_ref"],
                "WorkRequesterAccountId": self.account_id, "CreationTime": r["created"],
                "LabelCounters": {"HumanLabeled": c["HumanLabeled"], "PendingHuman": int(pending["n"]) if pending else 0,
                                  "Total": int(r["n_objects"])},
                "NumberOfHumanWorkersPerDataObject": req["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"],
            })
        return out, nxt

    def stop_labeling_job(self, name: str) -> None:
        with self.db.tx() as con:
            row = con.execute("SELECT name, status FROM jobs WHERE name_lower=?", (name.lower(),)).fetchone()
            if row is None:
                raise ResourceNotFound(f"Could not find labeling job {name!r}.")
            if row["status"] in ("Initializing", "InProgress"):
                con.execute("UPDATE jobs SET status='Stopping', modified=? WHERE name=?",
                            (self.clock.now(), row["name"]))
            # stopping a stopping/finished job is a no-op, as on AWS
        if self.on_change:
            self.on_change()

    def job_row(self, name: str) -> sqlite3.Row:
        return self._job_row(name)

    # ------------------------------------------------------------------ portal: jobs and tasks
    def jobs_for_worker(self, worker_id: str) -> list[dict[str, Any]]:
        teams = self.worker_teams(worker_id)
        if not teams:
            return []
        marks = ",".join("?" * len(teams))
        rows = self.db.query(f"SELECT * FROM jobs WHERE team IN ({marks}) ORDER BY created DESC", tuple(teams))
        out = []
        for r in rows:
            req = json.loads(r["request"])
            avail = self.db.one(
                "SELECT count(*) AS n FROM objects o WHERE o.job=? AND o.state='active' AND o.human_required=1 AND o.n_taken < ? AND NOT "
                "EXISTS (SELECT 1 FROM assignments a WHERE a.job=o.job AND a.idx=o.idx AND a.worker_id=? AND "
                "a.state IN ('claimed','submitted','declined'))",
                (r["name"], req["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"], worker_id))
            out.append({"name": r["name"], "title": req["HumanTaskConfig"]["TaskTitle"],
                        "description": req["HumanTaskConfig"]["TaskDescription"], "status": r["status"],
                        "available": int(avail["n"]) if avail else 0, "counters": self.counters(r["name"])})
        return out

    def _check_member(self, con: sqlite3.Connection, job: sqlite3.Row, worker_id: str) -> None:
        if not con.execute("SELECT 1 FROM members WHERE team=? AND worker_id=?", (job["team"], worker_id)).fetchone():
            # same answer as for a job that does not exist: do not reveal other teams' jobs
            raise PortalNotFound(f"no labeling job {job['name']!r} for you")

    def claim_next(self, job_name: str, worker_id: str) -> tuple[Assignment | None, bool]:
        """Give the worker a task of ``job_name``: ``(assignment, done)``.

        An unfinished claim of this worker in the job is returned again (idempotent). ``done`` is True when the
        job has nothing more for this worker (finished, or every remaining object already answered by them).
        """
        now = self.clock.now()
        # not durable: a claim lost in a power cut only means the task is offered again (kill -9 keeps it)
        with self.db.tx(durable=False) as con:
            job = con.execute("SELECT * FROM jobs WHERE name_lower=?", (job_name.lower(),)).fetchone()
            if job is None:
                raise PortalNotFound(f"no labeling job {job_name!r} for you")
            self._check_member(con, job, worker_id)
            if job["status"] in TERMINAL or job["status"] == "Stopping":
                return None, True
            if job["status"] != "InProgress":
                return None, False
            limit, n_workers = _task_settings(job["request"])
            mine = con.execute("SELECT * FROM assignments WHERE job=? AND worker_id=? AND state='claimed' "
                               "ORDER BY claimed LIMIT 1", (job["name"], worker_id)).fetchone()
            if mine is not None and mine["claimed"] + limit > now:
                return _assignment(mine), False
            if mine is not None:
                self._release(con, mine, "timedout")
            obj = con.execute(
                "SELECT idx FROM objects o WHERE o.job=? AND o.state='active' AND o.human_required=1 AND o.n_taken < ? AND NOT EXISTS "
                "(SELECT 1 FROM assignments a WHERE a.job=o.job AND a.idx=o.idx AND a.worker_id=? AND "
                "a.state IN ('claimed','submitted','declined')) ORDER BY o.idx LIMIT 1",
                (job["name"], n_workers, worker_id)).fetchone()
            if obj is None:
                left = con.execute(
                    "SELECT 1 FROM objects o WHERE o.job=? AND (o.state='pending' OR (o.state='active' AND NOT "
                    "EXISTS (SELECT 1 FROM assignments a WHERE a.job=o.job AND a.idx=o.idx AND a.worker_id=? AND "
                    "a.state IN ('submitted','declined')))) LIMIT 1", (job["name"], worker_id)).fetchone()
                return None, left is None
            aid = secrets.token_urlsafe(18)
            con.execute("INSERT INTO assignments (id, job, idx, worker_id, state, claimed) VALUES (?,?,?,?,?,?)",
                        (aid, job["name"], obj["idx"], worker_id, "claimed", now))
            con.execute("UPDATE objects SET n_taken=n_taken+1 WHERE job=? AND idx=?", (job["name"], obj["idx"]))
            return Assignment(aid, job["name"], int(obj["idx"]), worker_id, "claimed", now, None, None), False

    def _release(self, con: sqlite3.Connection, a: sqlite3.Row, state: str) -> None:
        con.execute("UPDATE assignments SET state=? WHERE id=?", (state, a["id"]))
        con.execute("UPDATE objects SET n_taken=n_taken-1 WHERE job=? AND idx=?", (a["job"], a["idx"]))

    def assignment(self, aid: str, worker_id: str) -> Assignment:
        """The worker's own assignment; another worker's task id is 'not found' (nothing is revealed)."""
        row = self.db.one("SELECT * FROM assignments WHERE id=?", (aid,))
        if row is None or not hmac.compare_digest(str(row["worker_id"]), worker_id):
            raise PortalNotFound("no such task")
        return _assignment(row)

    def _own_claim(self, con: sqlite3.Connection, aid: str, worker_id: str) -> tuple[sqlite3.Row, sqlite3.Row]:
        row = con.execute("SELECT * FROM assignments WHERE id=?", (aid,)).fetchone()
        if row is None or not hmac.compare_digest(str(row["worker_id"]), worker_id):
            raise PortalNotFound("no such task")
        job = con.execute("SELECT * FROM jobs WHERE name=?", (row["job"],)).fetchone()
        return row, job

    def submit(self, aid: str, worker_id: str, answer: Mapping[str, Any]) -> tuple[Assignment, bool]:
        """Store a worker's answer; committed when this returns. ``(assignment, first_time)``."""
        now = self.clock.now()
        body = json.dumps(answer, separators=(",", ":"))
        late: TaskConflict | None = None
        with self.db.tx() as con:
            row, job = self._own_claim(con, aid, worker_id)
            if row["state"] == "submitted":
                return _assignment(row), False
            if row["state"] != "claimed":
                raise TaskConflict(f"this task is no longer yours (it was {row['state']})")
            limit = _task_settings(job["request"])[0]
            if job["status"] != "InProgress":
                raise TaskConflict(f"the labeling job is {job['status']}")
            if row["claimed"] + limit < now:
                # the slot goes back to the pool (committed with this transaction), then the worker hears why
                self._release(con, row, "timedout")
                late = TaskConflict(f"the task time limit ({int(limit)} s) has passed")
            else:
                con.execute("UPDATE assignments SET state='submitted', submitted=?, answer=? WHERE id=?",
                            (now, body, aid))
                con.execute("UPDATE objects SET n_submitted=n_submitted+1 WHERE job=? AND idx=?",
                            (row["job"], row["idx"]))
        if late is not None:
            raise late
        return Assignment(aid, row["job"], int(row["idx"]), worker_id, "submitted", row["claimed"], now, body), True

    def decline(self, aid: str, worker_id: str) -> Assignment:
        with self.db.tx() as con:
            row, _job = self._own_claim(con, aid, worker_id)
            if row["state"] == "declined":
                return _assignment(row)
            if row["state"] != "claimed":
                raise TaskConflict(f"this task is no longer yours (it was {row['state']})")
            con.execute("UPDATE assignments SET state='declined', submitted=? WHERE id=?", (self.clock.now(), aid))
            con.execute("UPDATE objects SET n_declined=n_declined+1 WHERE job=? AND idx=?", (row["job"], row["idx"]))
        return self.assignment(aid, worker_id)

    def return_task(self, aid: str, worker_id: str) -> Assignment:
        with self.db.tx() as con:
            row, _job = self._own_claim(con, aid, worker_id)
            if row["state"] == "returned":
                return _assignment(row)
            if row["state"] != "claimed":
                raise TaskConflict(f"this task is no longer yours (it was {row['state']})")
            self._release(con, row, "returned")
        return self.assignment(aid, worker_id)

    def object_row(self, job: str, idx: int) -> sqlite3.Row:
        row = self.db.one("SELECT * FROM objects WHERE job=? AND idx=?", (job, idx))
        if row is None:
            raise PortalNotFound("no such data object")
        return row


def _assignment(row: sqlite3.Row) -> Assignment:
    return Assignment(str(row["id"]), str(row["job"]), int(row["idx"]), str(row["worker_id"]), str(row["state"]),
                      float(row["claimed"]), row["submitted"], row["answer"])


def _in_range(value: float, after: Any, before: Any) -> bool:
    if after is not None and not value > _epoch(after):
        return False
    return not (before is not None and not value < _epoch(before))


def _epoch(v: Any) -> float:
    if isinstance(v, int | float):
        return float(v)
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(v).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ServiceValidationError(f"invalid timestamp {v!r}") from None
