"""Constants shared by the jobs tests (imported by conftest and by hypothesis tests, which cannot use fixtures)."""

from __future__ import annotations

from typing import Any

ROLE = "arn:aws:iam::123456789012:role/GroundTruthExecution"
TEAM_ARN = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/drone-team"

GOOD_REQUEST: dict[str, Any] = {
    "LabelingJobName": "drone-objects-20261125-060000",
    "LabelAttributeName": "bounding-box",
    "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://data-bucket/in/input.manifest"}}},
    "OutputConfig": {"S3OutputPath": "s3://data-bucket/labels/"},
    "RoleArn": ROLE,
    "LabelCategoryConfigS3Uri": "s3://data-bucket/labels/job/gtlabel/label-categories.json",
    "HumanTaskConfig": {
        "WorkteamArn": TEAM_ARN,
        "UiConfig": {"UiTemplateS3Uri": "s3://data-bucket/labels/job/gtlabel/template.liquid.html"},
        "PreHumanTaskLambdaArn": "arn:aws:lambda:us-east-1:432418664414:function:PRE-BoundingBox",
        "TaskTitle": "Draw boxes: drone, vehicle",
        "TaskDescription": "Draw a tight box around every drone and vehicle",
        "NumberOfHumanWorkersPerDataObject": 3,
        "TaskTimeLimitInSeconds": 600,
        "AnnotationConsolidationConfig": {
            "AnnotationConsolidationLambdaArn": "arn:aws:lambda:us-east-1:432418664414:function:ACS-BoundingBox"},
    },
    "Tags": [{"Key": "gtlabel:max-budget-usd", "Value": "50"}],
}


def team(name: str, arn: str | None = None) -> dict[str, Any]:
    """A Workteam as ListWorkteams returns it (valid for the Stubber's output-shape check)."""
    return {"WorkteamName": name, "Description": f"{name} team",
            "WorkteamArn": arn or f"arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/{name}",
            "MemberDefinitions": [{"CognitoMemberDefinition": {"UserPool": "us-east-1_abc", "UserGroup": name,
                                                               "ClientId": "client"}}]}
