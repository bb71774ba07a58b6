"""The ``jobs`` table: one row per labeling job. Status writes go through the job lifecycle
(:data:`gtlabel.local.lifecycle.JOB`); the stored request comes back parsed (:class:`JobRequest`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from gtlabel.aws import JobStatus
from gtlabel.local.lifecycle import JOB, LIVE_JOB
from gtlabel.local.state.db import Database
from gtlabel.local.state.records import Job, JobRequest

__all__ = ["Jobs"]

_LIVE = tuple(sorted(LIVE_JOB))
_LIVE_MARKS = ",".join("?" * len(_LIVE))


def _job(row: sqlite3.Row) -> Job:
    return Job(name=str(row["name"]), arn=str(row["arn"]), status=JobStatus(row["status"]),
               request=JobRequest.from_json(row["request"]), workteam_arn=str(row["workteam_arn"]),
               team=str(row["team"]), job_ref=str(row["job_ref"]), created=float(row["created"]),
               modified=float(row["modified"]), failure_reason=row["failure_reason"],
               labels=json.loads(row["labels"] or "[]"), template=row["template"], n_objects=int(row["n_objects"]),
               iteration=int(row["iteration"]), output_uri=row["output_uri"])


class Jobs:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ reading
    def get(self, name: str) -> Job | None:
        """The job named ``name`` (names are unique case-insensitively)."""
        row = self.db.one("SELECT * FROM jobs WHERE name_lower=?", (name.lower(),))
        return _job(row) if row is not None else None

    def exists(self, name: str) -> bool:
        return self.db.one("SELECT 1 FROM jobs WHERE name_lower=?", (name.lower(),)) is not None

    def status(self, name: str) -> JobStatus | None:
        row = self.db.one("SELECT status FROM jobs WHERE name_lower=?", (name.lower(),))
        return JobStatus(row["status"]) if row is not None else None

    def all(self) -> list[Job]:
        return [_job(r) for r in self.db.query("SELECT * FROM jobs")]

    def for_workteam(self, workteam_arn: str) -> list[Job]:
        return [_job(r) for r in self.db.query("SELECT * FROM jobs WHERE workteam_arn=?", (workteam_arn,))]

    def for_teams(self, teams: Sequence[str]) -> list[Job]:
        """The jobs of these local teams, newest first."""
        if not teams:
            return []
        marks = ",".join("?" * len(teams))
        return [_job(r) for r in self.db.query(f"SELECT * FROM jobs WHERE team IN ({marks}) ORDER BY created DESC",
                                               tuple(teams))]

    def live(self) -> list[tuple[str, JobStatus]]:
        """``(name, status)`` of every job that is not finished (Initializing, InProgress, Stopping), oldest first."""
        rows = self.db.query(f"SELECT name, status FROM jobs WHERE status IN ({_LIVE_MARKS}) ORDER BY created", _LIVE)
        return [(str(r["name"]), JobStatus(r["status"])) for r in rows]

    def live_in_team(self, team: str) -> str | None:
        """The name of a job of ``team`` that is not finished, if there is one."""
        row = self.db.one(f"SELECT name FROM jobs WHERE team=? AND status IN ({_LIVE_MARKS}) LIMIT 1", (team, *_LIVE))
        return str(row["name"]) if row is not None else None

    # ------------------------------------------------------------------ writing
    def insert(self, *, name: str, arn: str, request: JobRequest, workteam_arn: str, team: str, job_ref: str,
               now: float) -> None:
        status = JOB.check_initial(JobStatus.INITIALIZING, record=repr(name))
        with self.db.tx() as con:
            con.execute("INSERT INTO jobs (name, name_lower, arn, status, request, workteam_arn, team, job_ref, "
                        "created, modified) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (name, name.lower(), arn, status, request.to_json(), workteam_arn, team, job_ref, now, now))

    def set_status(self, name: str, to: JobStatus, *, now: float, reason: str | None = None,
                   output_uri: str | None = None) -> JobStatus:
        """Move the job to ``to`` (:class:`IllegalTransition` when its lifecycle does not allow it); ``reason`` and
        ``output_uri``, when given, become its ``FailureReason`` and output manifest. Returns the former status."""
        with self.db.tx() as con:
            row = con.execute("SELECT name, status FROM jobs WHERE name_lower=?", (name.lower(),)).fetchone()
            if row is None:
                raise KeyError(f"no labeling job {name!r}")
            JOB.check(row["status"], to, record=repr(str(row["name"])))
            con.execute("UPDATE jobs SET status=?, modified=?, failure_reason=coalesce(?, failure_reason), "
                        "output_uri=coalesce(?, output_uri) WHERE name=?", (to, now, reason, output_uri, row["name"]))
        return JobStatus(row["status"])

    def initialized(self, name: str, *, now: float, labels: list[str], template: str, n_objects: int) -> None:
        """Record what initialization read, and move an ``Initializing`` job to ``InProgress`` (a job stopped
        meanwhile stays ``Stopping``)."""
        with self.db.tx() as con:
            if self.status(name) is JobStatus.INITIALIZING:
                self.set_status(name, JobStatus.IN_PROGRESS, now=now)
            con.execute("UPDATE jobs SET modified=?, labels=?, template=?, n_objects=? WHERE name_lower=?",
                        (now, json.dumps(labels, allow_nan=False), template, n_objects, name.lower()))

    def set_iteration(self, name: str, iteration: int, *, now: float) -> None:
        with self.db.tx() as con:
            con.execute("UPDATE jobs SET iteration=?, modified=? WHERE name_lower=?", (iteration, now, name.lower()))

    def touch(self, name: str, *, now: float) -> None:
        with self.db.tx() as con:
            con.execute("UPDATE jobs SET modified=? WHERE name_lower=?", (now, name.lower()))
