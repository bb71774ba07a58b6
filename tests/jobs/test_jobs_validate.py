"""The offline validator: botocore's checks, the model walker (max/pattern/enum), and every Ground Truth rule."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jobs_helpers import GOOD_REQUEST

from gtlabel.errors import Problem, ValidationFailed
from gtlabel.jobs.validate import (
    check_create_labeling_job,
    label_problems,
    label_warnings,
    task_type_of,
    validate_create_labeling_job,
    validate_or_raise,
    validate_params,
)

Req = Callable[[], dict[str, Any]]
PUBLIC = "arn:aws:sagemaker:us-east-1:394669845002:workteam/public-crowd/default"


def paths(problems: list[Problem]) -> list[str]:
    return [p.path for p in problems]


def by_path(problems: list[Problem], path: str) -> list[str]:
    return [p.message for p in problems if p.path == path]


def test_good_request_has_no_problems(good_request: Req) -> None:
    req = good_request()
    assert validate_create_labeling_job(req, region="us-east-1", labels=["drone", "vehicle"]) == []
    # and boto3 itself accepts it (Stubber validates the params before answering)
    sm = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(sm) as stub:
        stub.add_response("create_labeling_job", {"LabelingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:"
                                                                    "labeling-job/x"}, req)
        sm.create_labeling_job(**req)


def test_botocore_layer_paths(good_request: Req) -> None:
    req = good_request()
    del req["RoleArn"]
    req["HumanTaskConfig"]["TaskTimeLimitInSeconds"] = "600"
    req["HumanTaskConfig"]["Bogus"] = 1
    req["LabelingJobName"] = ""
    problems = validate_params("CreateLabelingJob", req)
    assert set(paths(problems)) >= {"RoleArn", "HumanTaskConfig.TaskTimeLimitInSeconds", "HumanTaskConfig.Bogus",
                                    "LabelingJobName"}
    assert any("Missing required parameter" in m for m in by_path(problems, "RoleArn"))
    assert any("Invalid type" in m for m in by_path(problems, "HumanTaskConfig.TaskTimeLimitInSeconds"))


def test_walker_catches_what_botocore_skips(good_request: Req) -> None:
    req = good_request()
    req["LabelingJobName"] = "bad name!"
    req["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"] = 10
    req["InputConfig"]["DataAttributes"] = {"ContentClassifiers": ["NotAnEnum"]}
    req["HumanTaskConfig"]["TaskTitle"] = "x" * 129
    req["HumanTaskConfig"]["TaskKeywords"] = ["a", "b", "c", "d", "e", "f"]
    # botocore alone lets all of these through
    sm = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(sm) as stub:
        stub.add_response("create_labeling_job", {"LabelingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:"
                                                                    "labeling-job/x"}, req)
        sm.create_labeling_job(**req)
    problems = validate_params("CreateLabelingJob", req)
    assert any("regular expression" in m for m in by_path(problems, "LabelingJobName"))
    assert any("max value: 9" in m for m in by_path(problems, "HumanTaskConfig.NumberOfHumanWorkersPerDataObject"))
    assert any("enum" in m for m in by_path(problems, "InputConfig.DataAttributes.ContentClassifiers[0]"))
    assert any("max length: 128" in m for m in by_path(problems, "HumanTaskConfig.TaskTitle"))
    assert any("max length: 5" in m for m in by_path(problems, "HumanTaskConfig.TaskKeywords"))


def test_java_unicode_classes_in_tag_patterns(good_request: Req) -> None:
    req = good_request()
    req["Tags"] = [{"Key": "projekt:ärger 1", "Value": "ok = +@/"}, {"Key": "bad!", "Value": "x"},
                   {"Key": "k", "Value": "no;semicolons"}]
    problems = validate_params("CreateLabelingJob", req)
    assert paths(problems) == ["Tags[1].Key", "Tags[2].Value"]


def test_validate_params_serves_any_operation() -> None:
    assert validate_params("ListLabelingJobs", {"NameContains": "drone", "SortBy": "Name", "MaxResults": 10}) == []
    problems = validate_params("ListLabelingJobs", {"NameContains": "x y", "SortBy": "Bad", "MaxResults": 101})
    assert paths(problems) == ["NameContains", "SortBy", "MaxResults"]
    assert validate_params("DescribeLabelingJob", {}) == [
        Problem("LabelingJobName", 'Missing required parameter in input: "LabelingJobName"')]
    assert paths(validate_params("CreateWorkteam", {"WorkteamName": "t", "Description": "d",
                                                    "MemberDefinitions": []})) == ["MemberDefinitions"]
    unknown = validate_params("NoSuchOperation", {})
    assert unknown[0].code == "UnknownOperationException"


def test_lambda_account_and_region_rules(good_request: Req) -> None:
    req = good_request()
    # the wrong account for eu-central-1 (the GitHub issue's mistake), in a us-east-1 job
    req["HumanTaskConfig"]["PreHumanTaskLambdaArn"] = \
        "arn:aws:lambda:eu-central-1:326177286064:function:PRE-BoundingBox"
    problems = validate_create_labeling_job(req, region="us-east-1", labels=["drone"])
    msgs = by_path(problems, "HumanTaskConfig.PreHumanTaskLambdaArn")
    assert any("203001061592" in m for m in msgs)
    assert any("job runs in us-east-1" in m for m in msgs)


def test_pre_and_acs_must_match_task_type(good_request: Req) -> None:
    req = good_request()
    req["HumanTaskConfig"]["AnnotationConsolidationConfig"]["AnnotationConsolidationLambdaArn"] = \
        "arn:aws:lambda:us-east-1:432418664414:function:ACS-AdjustmentBoundingBox"
    problems = validate_create_labeling_job(req, region="us-east-1")
    assert any("different task types" in m for m in by_path(
        problems, "HumanTaskConfig.AnnotationConsolidationConfig.AnnotationConsolidationLambdaArn"))
    req2 = good_request()
    req2["HumanTaskConfig"]["PreHumanTaskLambdaArn"] = \
        "arn:aws:lambda:us-east-1:432418664414:function:ACS-BoundingBox"
    assert any("PRE function" in m for m in by_path(validate_create_labeling_job(req2),
                                                    "HumanTaskConfig.PreHumanTaskLambdaArn"))


def test_custom_lambdas_are_not_held_to_builtin_accounts(good_request: Req) -> None:
    req = good_request()
    req["HumanTaskConfig"]["PreHumanTaskLambdaArn"] = "arn:aws:lambda:us-east-1:123456789012:function:SageMaker-pre"
    req["HumanTaskConfig"]["AnnotationConsolidationConfig"]["AnnotationConsolidationLambdaArn"] = \
        "arn:aws:lambda:us-east-1:123456789012:function:SageMaker-acs"
    assert task_type_of(req) is None
    assert validate_create_labeling_job(req, region="us-east-1") == []


@pytest.mark.parametrize(("name", "fragment"), [
    ("bounding-box-metadata", "-metadata"),
    ("source-ref", "reserved"),
    ("source", "reserved"),
    ("boxes-ref", "-ref"),
])
def test_label_attribute_rules(good_request: Req, name: str, fragment: str) -> None:
    req = good_request()
    req["LabelAttributeName"] = name
    msgs = by_path(validate_create_labeling_job(req, region="us-east-1"), "LabelAttributeName")
    assert any(fragment in m for m in msgs), msgs


def test_adjustment_needs_a_new_attribute_name(good_request: Req) -> None:
    req = good_request()
    for key, fn in (("PreHumanTaskLambdaArn", "PRE-AdjustmentBoundingBox"),):
        req["HumanTaskConfig"][key] = f"arn:aws:lambda:us-east-1:432418664414:function:{fn}"
    req["HumanTaskConfig"]["AnnotationConsolidationConfig"]["AnnotationConsolidationLambdaArn"] = \
        "arn:aws:lambda:us-east-1:432418664414:function:ACS-AdjustmentBoundingBox"
    req["LabelAttributeName"] = "Bounding-Box"
    msgs = by_path(validate_create_labeling_job(req, prior_label_attribute_name="bounding-box"), "LabelAttributeName")
    assert any("new label attribute name" in m for m in msgs)
    req["LabelAttributeName"] = "bounding-box-adjusted"
    assert validate_create_labeling_job(req, prior_label_attribute_name="bounding-box") == []


def test_time_limits(good_request: Req) -> None:
    req = good_request()
    req["HumanTaskConfig"]["TaskTimeLimitInSeconds"] = 28801
    req["HumanTaskConfig"]["TaskAvailabilityLifetimeInSeconds"] = 2592001
    problems = validate_create_labeling_job(req)
    assert any("28800" in m for m in by_path(problems, "HumanTaskConfig.TaskTimeLimitInSeconds"))
    assert any("2592000" in m for m in by_path(problems, "HumanTaskConfig.TaskAvailabilityLifetimeInSeconds"))
    req["HumanTaskConfig"]["TaskTimeLimitInSeconds"] = 29
    req["HumanTaskConfig"]["TaskAvailabilityLifetimeInSeconds"] = 59
    problems = validate_create_labeling_job(req)
    assert any("min value: 30" in m for m in by_path(problems, "HumanTaskConfig.TaskTimeLimitInSeconds"))
    assert any("min value: 60" in m for m in by_path(problems, "HumanTaskConfig.TaskAvailabilityLifetimeInSeconds"))


def _public(req: dict[str, Any]) -> dict[str, Any]:
    req["HumanTaskConfig"]["WorkteamArn"] = PUBLIC
    req["HumanTaskConfig"]["PublicWorkforceTaskPrice"] = {"AmountInUsd": {"Dollars": 0, "Cents": 3,
                                                                          "TenthFractionsOfACent": 6}}
    req["InputConfig"]["DataAttributes"] = {"ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation"]}
    return req


def test_public_workforce_rules(good_request: Req) -> None:
    req = _public(good_request())
    assert validate_create_labeling_job(req, region="us-east-1") == []
    req["HumanTaskConfig"]["TaskAvailabilityLifetimeInSeconds"] = 43201
    req["HumanTaskConfig"]["PublicWorkforceTaskPrice"]["AmountInUsd"]["TenthFractionsOfACent"] = 5  # $0.035
    req["InputConfig"]["DataAttributes"]["ContentClassifiers"] = ["FreeOfAdultContent"]
    problems = validate_create_labeling_job(req, region="us-east-1")
    assert any("0.035" in m and "0.036" in m for m in by_path(
        problems, "HumanTaskConfig.PublicWorkforceTaskPrice.AmountInUsd"))
    assert any("FreeOfPersonallyIdentifiableInformation" in m for m in by_path(
        problems, "InputConfig.DataAttributes.ContentClassifiers"))
    assert any("43200" in m for m in by_path(problems, "HumanTaskConfig.TaskAvailabilityLifetimeInSeconds"))
    del req["HumanTaskConfig"]["PublicWorkforceTaskPrice"]
    assert by_path(validate_create_labeling_job(req), "HumanTaskConfig.PublicWorkforceTaskPrice")


def test_public_workteam_of_another_region_or_account(good_request: Req) -> None:
    req = _public(good_request())
    req["HumanTaskConfig"]["WorkteamArn"] = PUBLIC.replace("us-east-1", "eu-west-1").replace("394669845002",
                                                                                            "111111111111")
    msgs = by_path(validate_create_labeling_job(req, region="us-east-1"), "HumanTaskConfig.WorkteamArn")
    assert any("eu-west-1" in m for m in msgs) and any("394669845002" in m for m in msgs)


def test_label_rules() -> None:
    assert label_problems(["drone", "vehicle"]) == []
    assert paths(label_problems([])) == ["LabelCategoryConfigS3Uri"]
    problems = label_problems(["drone", "drone", "", "x" * 257, 5])  # type: ignore[list-item]
    assert paths(problems) == ["LabelCategoryConfigS3Uri.labels[1]", "LabelCategoryConfigS3Uri.labels[2]",
                               "LabelCategoryConfigS3Uri.labels[3]", "LabelCategoryConfigS3Uri.labels[4]"]
    too_many = label_problems([f"l{i}" for i in range(51)])
    assert any("at most 50" in p.message for p in too_many)
    assert label_problems([f"l{i}" for i in range(50)]) == []
    assert any("UNCONFIRMED" in w for w in label_warnings([f"l{i}" for i in range(11)]))
    assert any("case" in w for w in label_warnings(["Car", "car"]))
    assert label_warnings([f"l{i}" for i in range(10)]) == []


def test_uris_must_be_s3_and_in_the_job_region(good_request: Req) -> None:
    req = good_request()
    req["HumanTaskConfig"]["UiConfig"]["UiTemplateS3Uri"] = "https://example.com/t.html"
    problems = validate_create_labeling_job(req, region="us-east-1", bucket_regions={"data-bucket": "eu-west-1"})
    assert any("s3://" in m for m in by_path(problems, "HumanTaskConfig.UiConfig.UiTemplateS3Uri"))
    for path in ("InputConfig.DataSource.S3DataSource.ManifestS3Uri", "OutputConfig.S3OutputPath",
                 "LabelCategoryConfigS3Uri"):
        assert any("eu-west-1" in m for m in by_path(problems, path)), path


def test_every_problem_is_reported_at_once(good_request: Req) -> None:
    req = _public(good_request())
    req["LabelingJobName"] = "-bad-"
    req["LabelAttributeName"] = "x-metadata"
    req["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"] = 0
    req["HumanTaskConfig"]["TaskTimeLimitInSeconds"] = 99999
    req["HumanTaskConfig"]["PublicWorkforceTaskPrice"]["AmountInUsd"]["Cents"] = 1
    req["InputConfig"]["DataAttributes"]["ContentClassifiers"] = []
    req["HumanTaskConfig"]["PreHumanTaskLambdaArn"] = "arn:aws:lambda:us-east-1:111111111111:function:PRE-BoundingBox"
    problems = validate_create_labeling_job(req, region="us-east-1", labels=["a", "a"])
    expected = {"LabelingJobName", "LabelAttributeName", "HumanTaskConfig.NumberOfHumanWorkersPerDataObject",
                "HumanTaskConfig.TaskTimeLimitInSeconds", "HumanTaskConfig.PublicWorkforceTaskPrice.AmountInUsd",
                "InputConfig.DataAttributes.ContentClassifiers", "HumanTaskConfig.PreHumanTaskLambdaArn",
                "LabelCategoryConfigS3Uri.labels[1]"}
    assert expected <= set(paths(problems))
    with pytest.raises(ValidationFailed) as ei:
        validate_or_raise(problems)
    assert len(ei.value.problems) == len(problems)
    text = str(ei.value)
    assert "HumanTaskConfig.PublicWorkforceTaskPrice.AmountInUsd" in text and f"{len(problems)} problem(s)" in text
    validate_or_raise([])  # no problems: no exception


def test_check_reads_the_label_category_file(good_request: Req, bucket: str, s3: Any) -> None:
    req = good_request()
    uri = f"s3://{bucket}/labels.json"
    req["LabelCategoryConfigS3Uri"] = uri
    s3.put_object(Bucket=bucket, Key="labels.json",
                  Body=b'{"document-version": "2018-11-28", "labels": [{"label": "car"}, {"label": "car"}]}')
    problems = check_create_labeling_job(req, region="us-east-1")
    assert paths(problems) == ["LabelCategoryConfigS3Uri.labels[1]"]
    s3.put_object(Bucket=bucket, Key="labels.json", Body=b"{not json")
    assert "not valid JSON" in check_create_labeling_job(req)[0].message
    warnings: list[str] = []
    req["LabelCategoryConfigS3Uri"] = f"s3://{bucket}/missing.json"
    assert check_create_labeling_job(req, on_warning=warnings.append) == []
    assert warnings and "not checked" in warnings[0]


def test_check_looks_up_bucket_regions(good_request: Req) -> None:
    req = good_request()
    problems = check_create_labeling_job(req, region="us-east-1", read_label_config=False,
                                         lookup_bucket_regions=True, bucket_region_of=lambda b: "ap-south-1")
    assert len([p for p in problems if "ap-south-1" in p.message]) == 4


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["LabelingJobName", "HumanTaskConfig", "InputConfig", "OutputConfig",
                                        "Tags", "LabelAttributeName", "RoleArn", "Junk"]), json_values))
def test_never_crashes_on_malformed_requests(req: dict[str, Any]) -> None:
    problems = validate_create_labeling_job(req, region="us-east-1")
    assert problems and all(isinstance(p, Problem) for p in problems)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["HumanTaskConfig", "InputConfig", "OutputConfig"]), json_values)
# NaN (alone or nested) once broke this test by chance: NaN != NaN, so a Stubber given the request as its
# expected parameters raised StubAssertionError. Pinned here so that the draw no longer decides.
@example("InputConfig", float("nan"))
@example("HumanTaskConfig", {"TaskTitle": [float("nan")]})
def test_malformed_sections_of_a_good_request(section: str, value: Any) -> None:
    req = copy.deepcopy(GOOD_REQUEST)
    req[section] = value
    problems = validate_create_labeling_job(req)
    assert all(isinstance(p, Problem) for p in problems)
    # whatever boto3 refuses, we refuse too. The question is only whether botocore's parameter validation
    # passes, so the stub expects no particular parameters (it would compare them with ==).
    sm = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    try:
        with Stubber(sm) as stub:
            stub.add_response("create_labeling_job", {"LabelingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:"
                                                                        "labeling-job/x"})
            sm.create_labeling_job(**req)
    except ParamValidationError:
        assert problems


def test_every_operation_of_the_model_can_be_validated() -> None:
    import botocore.session

    from gtlabel.jobs.validate import error_message

    model = botocore.session.get_session().get_service_model("sagemaker")
    for op in model.operation_names:
        problems = validate_params(op, {"Junk": "x" * 5000})
        assert any(p.path == "Junk" for p in problems), op
    msg = error_message([Problem("A", "bad"), Problem("B.C", "worse")])
    assert msg == "2 validation errors detected: A: bad; B.C: worse"


def test_warm_up_compiles_the_tag_pattern() -> None:
    from gtlabel.jobs.params import compile_pattern, warm_up

    warm_up()
    assert compile_pattern("([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)") is not None
    assert compile_pattern.cache_info().currsize > 5


def test_preflight_label_config_check_can_be_left_to_the_job(good_request: Req) -> None:
    req = good_request()
    del req["LabelCategoryConfigS3Uri"]
    assert paths(validate_create_labeling_job(req)) == ["LabelCategoryConfigS3Uri"]
    assert validate_create_labeling_job(req, preflight=False) == []  # the API itself accepts it
