"""The typed records the repositories of :mod:`gtlabel.local.state` return (no SQL here, no I/O).

:class:`JobRequest` is the accepted ``CreateLabelingJob`` request, parsed once (per distinct stored text) into the
fields the service uses; ``raw`` keeps the request as accepted for ``DescribeLabelingJob``. Treat ``raw`` as
read-only: parsed requests are cached and shared between threads.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gtlabel.aws import JobStatus
from gtlabel.local.lifecycle import AssignmentState, ObjectState

__all__ = ["Assignment", "DataObject", "Job", "JobRequest", "NewObject", "ObjectOutcome", "Session", "Team", "Worker"]


def _int(value: Any) -> int | None:
    return int(value) if value else None


@dataclass(frozen=True)
class JobRequest:
    """The fields of a ``CreateLabelingJob`` request the local service reads (the request passed validation)."""

    name: str
    label_attribute: str
    manifest_uri: str
    output_path: str
    role_arn: str
    label_category_uri: str | None
    workteam_arn: str
    template_uri: str | None  # HumanTaskConfig.UiConfig.UiTemplateS3Uri (the only UI the service renders)
    pre_lambda: str | None
    acs_lambda: str | None
    title: str
    description: str
    workers_per_object: int
    task_time_limit: float
    availability_lifetime: float | None  # None: the workforce's default
    max_concurrent: int | None  # None: the default of the facts file
    max_human_labeled: int | None  # StoppingConditions
    max_percent_labeled: int | None
    raw: Mapping[str, Any]

    @staticmethod
    def parse(request: Mapping[str, Any]) -> JobRequest:
        hc = request["HumanTaskConfig"]
        acs = (hc.get("AnnotationConsolidationConfig") or {}).get("AnnotationConsolidationLambdaArn")
        sc = request.get("StoppingConditions") or {}
        return JobRequest(
            name=str(request["LabelingJobName"]),
            label_attribute=str(request["LabelAttributeName"]),
            manifest_uri=str(request["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"]),
            output_path=str(request["OutputConfig"]["S3OutputPath"]),
            role_arn=str(request["RoleArn"]),
            label_category_uri=str(request["LabelCategoryConfigS3Uri"]) if request.get("LabelCategoryConfigS3Uri")
            else None,
            workteam_arn=str(hc["WorkteamArn"]),
            template_uri=str(hc["UiConfig"]["UiTemplateS3Uri"]) if "UiTemplateS3Uri" in hc.get("UiConfig", {})
            else None,
            pre_lambda=str(hc["PreHumanTaskLambdaArn"]) if hc.get("PreHumanTaskLambdaArn") else None,
            acs_lambda=str(acs) if acs else None,
            title=str(hc["TaskTitle"]),
            description=str(hc["TaskDescription"]),
            workers_per_object=int(hc["NumberOfHumanWorkersPerDataObject"]),
            task_time_limit=float(hc["TaskTimeLimitInSeconds"]),
            availability_lifetime=float(hc["TaskAvailabilityLifetimeInSeconds"])
            if hc.get("TaskAvailabilityLifetimeInSeconds") else None,
            max_concurrent=_int(hc.get("MaxConcurrentTaskCount")),
            max_human_labeled=_int(sc.get("MaxHumanLabeledObjectCount")),
            max_percent_labeled=_int(sc.get("MaxPercentageOfInputDatasetLabeled")),
            raw=request,
        )

    @staticmethod
    @functools.lru_cache(maxsize=256)
    def from_json(text: str) -> JobRequest:
        """The stored request (the jobs table's ``request`` column), parsed once per distinct text."""
        return JobRequest.parse(json.loads(text))

    def to_json(self) -> str:
        return json.dumps(self.raw, allow_nan=False)


@dataclass(frozen=True)
class Team:
    name: str
    arn: str
    description: str
    members: list[Any]  # MemberDefinitions
    extra: dict[str, Any]  # NotificationConfiguration, WorkerAccessConfiguration, Tags, WorkforceName
    created: float
    updated: float


@dataclass(frozen=True)
class Worker:
    worker_id: str
    username: str
    pw_hash: str
    sub: str
    created: float


@dataclass(frozen=True)
class Session:
    worker_id: str
    csrf: str
    expires: float


@dataclass(frozen=True)
class Job:
    name: str
    arn: str
    status: JobStatus
    request: JobRequest
    workteam_arn: str
    team: str
    job_ref: str
    created: float
    modified: float
    failure_reason: str | None
    labels: list[str]
    template: str | None
    n_objects: int
    iteration: int
    output_uri: str | None


@dataclass(frozen=True)
class NewObject:
    """A data object as the engine creates it at initialization (``pending``, or ``failed`` with its line)."""

    idx: int
    line: str  # the input-manifest line (JSON)
    task_input: str | None  # JSON
    human_required: bool
    state: ObjectState
    result: str | None = None  # JSON output line of a failed object
    failure: str | None = None
    finished: float | None = None


@dataclass(frozen=True)
class DataObject:
    job: str
    idx: int  # datasetObjectId
    line: str  # JSON
    task_input: str | None  # JSON
    human_required: bool
    state: ObjectState
    iteration: int | None
    released: float | None
    n_taken: int
    n_submitted: int
    n_declined: int
    result: str | None  # JSON output line
    human: bool
    failure: str | None
    finished: float | None


@dataclass(frozen=True)
class Assignment:
    id: str
    job: str
    idx: int
    worker_id: str
    state: AssignmentState
    claimed: float
    submitted: float | None
    answer: str | None  # JSON


@dataclass(frozen=True)
class ObjectOutcome:
    """How consolidation leaves a data object: ``done`` (with its output line), ``failed`` (with the reason and
    a failed output line) or back to ``pending`` (the job stopped before anyone answered)."""

    idx: int
    state: ObjectState
    result: str | None = None  # JSON output line
    failure: str | None = None
    finished: float | None = None
    human: bool = False
