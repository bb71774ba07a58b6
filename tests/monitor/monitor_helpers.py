"""Helpers for the monitor tests: DescribeLabelingJob shapes, a fake clock, a stubbed SageMaker client."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.stub import Stubber

from gtlabel.monitor import CostPoint

REGION = "us-east-1"
ACCOUNT = "111122223333"
PRIVATE_TEAM = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/drone-team"
PUBLIC_TEAM = f"arn:aws:sagemaker:{REGION}:394669845002:workteam/public-crowd/default"


def counters(labeled: int = 0, unlabeled: int = 10, *, machine: int = 0, failed: int = 0) -> dict[str, int]:
    return {"TotalLabeled": labeled, "HumanLabeled": labeled - machine, "MachineLabeled": machine,
            "FailedNonRetryableError": failed, "Unlabeled": unlabeled}


def describe(
    name: str = "drone-job",
    status: str = "InProgress",
    c: Mapping[str, int] | None = None,
    *,
    created: datetime | None = None,
    tags: Mapping[str, str] | None = None,
    workteam: str = PRIVATE_TEAM,
    manifest: str = "s3://images-bucket/manifests/input.manifest",
    pre_lambda: str | None = None,
    acs_lambda: str | None = None,
    availability: int | None = None,
    task_price: str | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    created = created or datetime.now(UTC) - timedelta(minutes=5)
    htc: dict[str, Any] = {
        "WorkteamArn": workteam,
        "UiConfig": {"UiTemplateS3Uri": "s3://images-bucket/template.liquid.html"},
        "PreHumanTaskLambdaArn": pre_lambda or f"arn:aws:lambda:{REGION}:432418664414:function:PRE-BoundingBox",
        "TaskTitle": "Draw boxes",
        "TaskDescription": "Draw a box around each drone",
        "NumberOfHumanWorkersPerDataObject": workers,
        "TaskTimeLimitInSeconds": 300,
        "AnnotationConsolidationConfig": {
            "AnnotationConsolidationLambdaArn": acs_lambda
            or f"arn:aws:lambda:{REGION}:432418664414:function:ACS-BoundingBox"},
    }
    if availability is not None:
        htc["TaskAvailabilityLifetimeInSeconds"] = availability
    if task_price is not None:
        dollars, _, cents = task_price.partition(".")
        cents = (cents + "00")[:2]
        tenth = (task_price.partition(".")[2] + "000")[2:3]
        htc["PublicWorkforceTaskPrice"] = {"AmountInUsd": {"Dollars": int(dollars), "Cents": int(cents),
                                                             "TenthFractionsOfACent": int(tenth)}}
    resp: dict[str, Any] = {
        "LabelingJobStatus": status,
        "LabelCounters": dict(c or counters()),
        "CreationTime": created,
        "LastModifiedTime": created,
        "JobReferenceCode": "ref-123",
        "LabelingJobName": name,
        "LabelingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/{name}",
        "LabelAttributeName": "boxes",
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": manifest}}},
        "OutputConfig": {"S3OutputPath": "s3://images-bucket/output/"},
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/GroundTruthRole",
        "HumanTaskConfig": htc,
    }
    if tags:
        resp["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    if status == "Completed":
        resp["LabelingJobOutput"] = {"OutputDatasetS3Uri": f"s3://images-bucket/output/{name}/manifests/output/output.manifest"}
    return resp


class FakeClock:
    """Monotonic seconds that only move when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        self.sleeps.append(seconds)
        self.now += seconds


def per_object_cost(price: float = 0.10) -> Any:
    """A test double for gtlabel.cost: price per labeled object (the real one is tested in tests/cost)."""

    def fn(d: Mapping[str, Any]) -> CostPoint:
        return CostPoint(total_usd=round(price * d["LabelCounters"].get("TotalLabeled", 0), 6))

    return fn


def stubbed_sagemaker() -> tuple[Any, Stubber]:
    client = boto3.client("sagemaker", region_name=REGION)
    return client, Stubber(client)
