"""Records for the repository tests (no service, no S3)."""

from __future__ import annotations

from typing import Any

from gtlabel.local.state import State
from gtlabel.local.state.records import JobRequest

TEAM_ARN = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/default"


def request(name: str = "Job-1", *, workers: int = 2, **hc_extra: Any) -> JobRequest:
    hc: dict[str, Any] = {
        "WorkteamArn": TEAM_ARN,
        "UiConfig": {"UiTemplateS3Uri": "s3://b/template.liquid.html"},
        "PreHumanTaskLambdaArn": "arn:aws:lambda:us-east-1:432418664414:function:PRE-BoundingBox",
        "TaskTitle": "Boxes", "TaskDescription": "Draw boxes",
        "NumberOfHumanWorkersPerDataObject": workers, "TaskTimeLimitInSeconds": 300,
        "AnnotationConsolidationConfig": {
            "AnnotationConsolidationLambdaArn": "arn:aws:lambda:us-east-1:432418664414:function:ACS-BoundingBox"},
        **hc_extra,
    }
    return JobRequest.parse({
        "LabelingJobName": name, "LabelAttributeName": "boxes",
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://b/in.manifest"}}},
        "OutputConfig": {"S3OutputPath": "s3://b/out/"}, "RoleArn": "arn:aws:iam::123456789012:role/r",
        "LabelCategoryConfigS3Uri": "s3://b/labels.json", "HumanTaskConfig": hc,
        "StoppingConditions": {"MaxHumanLabeledObjectCount": 7},
    })


def add_job(state: State, name: str = "Job-1", *, team: str = "default", now: float = 100.0, **kw: Any) -> str:
    state.jobs.insert(name=name, arn=f"arn:aws:sagemaker:us-east-1:123456789012:labeling-job/{name.lower()}",
                      request=request(name, **kw), workteam_arn=TEAM_ARN, team=team, job_ref="ref-" + name,
                      now=now)
    return name
