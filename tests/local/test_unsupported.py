"""What the local service does not run is refused at CreateLabelingJob with ValidationException, never accepted and
then failed or run as something else: streaming jobs, SNS output, automated data labeling, other built-in task
types (AWS's notebooks found each)."""

from __future__ import annotations

import copy
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from localsvc_helpers import job_request, put_inputs

from gtlabel.local.unsupported import LOCAL_BUILTINS

SNS_IN = "arn:aws:sns:us-east-1:123456789012:drone-images"
SNS_OUT = "arn:aws:sns:us-east-1:123456789012:drone-labels"


@pytest.fixture()
def good(local_service: Any, s3: Any, bucket: str) -> dict[str, Any]:
    return job_request("good-job", put_inputs(s3, bucket, 2), local_service.default_workteam_arn)


def _refused(sm: Any, request: dict[str, Any]) -> str:
    with pytest.raises(ClientError) as ei:
        sm.create_labeling_job(**request)
    err = ei.value.response["Error"]
    assert err["Code"] == "ValidationException", err
    with pytest.raises(ClientError, match=r"ResourceNotFound|Could not find"):  # nothing was created
        sm.describe_labeling_job(LabelingJobName=request["LabelingJobName"])
    return str(err["Message"])


def test_streaming_jobs_are_refused_at_create(local_service: Any, good: dict[str, Any]) -> None:
    sm = boto3.client("sagemaker")
    sns_only = copy.deepcopy(good)
    sns_only["LabelingJobName"] = "stream-only"
    sns_only["InputConfig"] = {"DataSource": {"SnsDataSource": {"SnsTopicArn": SNS_IN}}}
    sns_only["OutputConfig"]["SnsTopicArn"] = SNS_OUT
    msg = _refused(sm, sns_only)  # was: 200, then the job failed with InternalServerError: KeyError 'S3DataSource'
    assert "does not run streaming labeling jobs (SnsDataSource)" in msg and "OutputConfig.SnsTopicArn" in msg
    both = copy.deepcopy(good)
    both["LabelingJobName"] = "stream-and-batch"
    both["InputConfig"]["DataSource"]["SnsDataSource"] = {"SnsTopicArn": SNS_IN}
    both["OutputConfig"]["SnsTopicArn"] = SNS_OUT
    assert "streaming" in _refused(sm, both)  # was: run silently as a batch job
    out_only = copy.deepcopy(good)
    out_only["LabelingJobName"] = "sns-output"
    out_only["OutputConfig"]["SnsTopicArn"] = SNS_OUT
    assert "publishes no SNS notifications" in _refused(sm, out_only)


def test_automated_data_labeling_is_refused_at_create(local_service: Any, good: dict[str, Any]) -> None:
    sm = boto3.client("sagemaker")
    adl = copy.deepcopy(good)
    adl["LabelingJobName"] = "with-adl"
    adl["LabelingJobAlgorithmsConfig"] = {
        "LabelingJobAlgorithmSpecificationArn":
            "arn:aws:sagemaker:us-east-1:027400017018:labeling-job-algorithm-specification/object-detection",
        "InitialActiveLearningModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/drone-detector"}
    msg = _refused(sm, adl)  # was: accepted and ignored (MachineLabeled 0, no FinalActiveLearningModelArn)
    assert "does not run automated data labeling" in msg and "LabelingJobAlgorithmsConfig" in msg
    sm.create_labeling_job(**good)  # the same job without it runs


def test_other_builtin_task_types_say_they_are_not_supported_locally(local_service: Any,
                                                                    good: dict[str, Any]) -> None:
    sm = boto3.client("sagemaker")
    req = copy.deepcopy(good)
    req["LabelingJobName"] = "image-classes"
    req["HumanTaskConfig"]["PreHumanTaskLambdaArn"] = "arn:aws:lambda:us-east-1:432418664414:function:PRE-ImageMultiClass"
    req["HumanTaskConfig"]["AnnotationConsolidationConfig"]["AnnotationConsolidationLambdaArn"] = (
        "arn:aws:lambda:us-east-1:432418664414:function:ACS-ImageMultiClass")
    msg = _refused(sm, req)
    assert "not a built-in Ground Truth Lambda" not in msg  # it is one (the old message said it was not)
    assert "is Ground Truth's built-in ImageMultiClass Lambda, which the local service does not run" in msg
    assert all(t in msg for t in LOCAL_BUILTINS) and "--lambda ARN=module:function" in msg
    custom = copy.deepcopy(good)
    custom["LabelingJobName"] = "custom-lambda"
    custom["HumanTaskConfig"]["PreHumanTaskLambdaArn"] = "arn:aws:lambda:us-east-1:123456789012:function:my-pre"
    assert "is not mapped to a local callable" in _refused(sm, custom)
