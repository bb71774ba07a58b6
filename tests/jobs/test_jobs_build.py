"""JobSpec -> CreateLabelingJob request: golden file, region ARNs, variants, and the files written next to the job."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st
from jobs_helpers import ROLE, TEAM_ARN, team

from gtlabel import facts, storage
from gtlabel.errors import BudgetExceeded, ConfigError, InputError, JobNameInUse, ValidationFailed
from gtlabel.jobs.build import artifact_uris, build_request, label_category_config, prepare_job, resolve_role
from gtlabel.jobs.spec import JobSpec, load_spec
from gtlabel.jobs.validate import validate_create_labeling_job
from gtlabel.jobs.workforce import ResolvedWorkforce

GOLDEN = Path(__file__).parent / "golden"


def _spec(**kw: Any) -> JobSpec:
    base: dict[str, Any] = {
        "input_manifest": "s3://data-bucket/in/input.manifest", "output_path": "s3://data-bucket/labels/",
        "labels": ["drone", "vehicle", "person", "building"], "role_arn": ROLE, "region": "us-east-1",
        "workforce": {"type": "private", "workteam": TEAM_ARN}, "workers_per_object": 3,
    }
    base.update(kw)
    return JobSpec.model_validate(base)


def _build(spec: JobSpec, region: str = "us-east-1", wf: ResolvedWorkforce | None = None) -> dict[str, Any]:
    name = "drone-objects-20261125-060000"
    label_uri, tpl_uri = artifact_uris(spec.output_path, name)
    wf = wf or ResolvedWorkforce("private", TEAM_ARN.replace("us-east-1", region))
    return dict(build_request(spec, job_name=name, region=region, role_arn=ROLE, workforce=wf,
                              label_config_uri=label_uri, template_uri=tpl_uri))


def test_golden_request() -> None:
    spec = _spec(kms_key_id="alias/gtlabel", tags={"project": "drones"},
                 stopping={"max_human_labeled_objects": 1000}, max_concurrent_tasks=500,
                 task_availability_lifetime_s=86400)
    got = _build(spec)
    golden = GOLDEN / "request-bbox-private.json"
    if os.environ.get("GTLABEL_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=2) + "\n")
    assert got == json.loads(golden.read_text())
    assert validate_create_labeling_job(got, region="us-east-1", labels=spec.labels) == []


@pytest.mark.parametrize("region", facts.supported_regions())
def test_region_correct_lambda_arns(region: str) -> None:
    got = _build(_spec(region=region), region=region)
    htc = got["HumanTaskConfig"]
    account = facts.lambda_account(region)
    assert htc["PreHumanTaskLambdaArn"] == f"arn:aws:lambda:{region}:{account}:function:PRE-BoundingBox"
    assert htc["AnnotationConsolidationConfig"]["AnnotationConsolidationLambdaArn"] == \
        f"arn:aws:lambda:{region}:{account}:function:ACS-BoundingBox"
    assert validate_create_labeling_job(got, region=region) == []


def test_twelve_regions_with_the_reference_accounts() -> None:
    assert len(facts.supported_regions()) == 12
    assert facts.lambda_account("eu-central-1") == "203001061592"
    assert facts.lambda_account("us-east-1") == "432418664414"
    with pytest.raises(ConfigError, match="supported regions"):
        facts.lambda_account("sa-east-1")


@pytest.mark.parametrize(("task_type", "attr"), [("AdjustmentBoundingBox", "bounding-box-adjusted"),
                                                 ("VerificationBoundingBox", "bounding-box-verified")])
def test_variants(task_type: str, attr: str) -> None:
    spec = _spec(task_type=task_type, prior_label_attribute_name="bounding-box")
    got = _build(spec)
    assert got["LabelAttributeName"] == attr
    assert got["HumanTaskConfig"]["PreHumanTaskLambdaArn"].endswith(f":function:PRE-{task_type}")
    assert validate_create_labeling_job(got, prior_label_attribute_name="bounding-box") == []
    with pytest.raises(ValueError, match="prior_label_attribute_name"):
        _spec(task_type=task_type)
    with pytest.raises(ValueError, match="must differ"):
        _spec(task_type=task_type, prior_label_attribute_name="bb", label_attribute_name="BB")


def test_public_workforce_request() -> None:
    from decimal import Decimal

    spec = _spec(workforce={"type": "public", "price_usd": "0.036", "free_of_adult_content": True},
                 content_classifiers=["FreeOfAdultContent"])
    wf = ResolvedWorkforce("public", facts.public_workteam_arn("us-east-1"), Decimal("0.036"))
    got = _build(spec, wf=wf)
    assert got["HumanTaskConfig"]["PublicWorkforceTaskPrice"] == {
        "AmountInUsd": {"Dollars": 0, "Cents": 3, "TenthFractionsOfACent": 6}}
    assert got["InputConfig"]["DataAttributes"]["ContentClassifiers"] == [
        "FreeOfPersonallyIdentifiableInformation", "FreeOfAdultContent"]
    assert validate_create_labeling_job(got, region="us-east-1") == []


def test_adl_puts_the_volume_key_only_in_the_algorithms_config() -> None:
    got = _build(_spec(automated_labeling=True, kms_key_id="alias/k"))
    assert got["OutputConfig"]["KmsKeyId"] == "alias/k"
    assert got["LabelingJobAlgorithmsConfig"] == {
        "LabelingJobAlgorithmSpecificationArn":
            "arn:aws:sagemaker:us-east-1:027400017018:labeling-job-algorithm-specification/object-detection",
        "LabelingJobResourceConfig": {"VolumeKmsKeyId": "alias/k"}}
    assert "LabelingJobAlgorithmsConfig" not in _build(_spec(kms_key_id="alias/k"))
    assert validate_create_labeling_job(got) == []


def test_spec_field_errors() -> None:
    with pytest.raises(InputError) as ei:
        JobSpec.from_dict({"input_manifest": "/local/file", "output_path": "s3://b/o/", "labels": ["a", "a"],
                           "workers_per_object": 10}, source="job.yaml")
    msg = str(ei.value)
    assert "job.yaml" in msg and "input_manifest" in msg and "labels" in msg and "workers_per_object" in msg
    with pytest.raises(InputError, match="examples"):
        JobSpec.from_dict({"input_manifest": "s3://b/m", "output_path": "s3://b/o/", "labels": ["a"],
                           "examples": [{"uri": "javascript:alert(1)"}]})


def test_load_spec_yaml(tmp_path: Path) -> None:
    p = tmp_path / "job.yaml"
    p.write_text("input_manifest: s3://b/in.manifest\noutput_path: s3://b/out/\nlabels: [drone, car]\n"
                 "workforce: {type: public, price_usd: 0.048}\n")
    spec = load_spec(p)
    assert spec.labels == ["drone", "car"] and spec.workforce.type == "public"
    p.write_text("labels: [a\n")
    with pytest.raises(InputError, match="YAML"):
        load_spec(p)


def test_role_from_env_or_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GTLABEL_ROLE_ARN", raising=False)
    with pytest.raises(ConfigError, match="GTLABEL_ROLE_ARN"):
        resolve_role(None)
    monkeypatch.setenv("GTLABEL_ROLE_ARN", ROLE)
    assert resolve_role(None) == ROLE


# ------------------------------------------------------------------------------------------ on moto S3
def _manifest(s3: Any, bucket: str, n: int) -> str:
    body = "".join(json.dumps({"source-ref": f"s3://{bucket}/img/{i:04d}.jpg"}) + "\n" for i in range(n))
    s3.put_object(Bucket=bucket, Key="in/input.manifest", Body=body.encode())
    return f"s3://{bucket}/in/input.manifest"


def test_prepare_job_writes_label_config_and_template(bucket: str, s3: Any, sm: Any, sm_stub: Stubber,
                                                      role_env: str) -> None:
    manifest = _manifest(s3, bucket, 25)
    spec = JobSpec.model_validate({
        "name": "drone-job-1", "workforce": {"type": "private"}, "input_manifest": manifest, "output_path": f"s3://{bucket}/labels/",
        "labels": ["drone", "vehicle"], "region": "us-east-1", "header": "Find <drones>",
        "max_budget_usd": 10, "workers_per_object": 2})
    sm_stub.add_response("list_workteams", {"Workteams": [team("drone-team", TEAM_ARN)]},
                         {"MaxResults": 100, "SortBy": "Name"})
    sm_stub.add_response("list_labeling_jobs", {"LabelingJobSummaryList": []},
                         {"NameContains": "drone-job-1", "MaxResults": 100})
    built = prepare_job(spec, sm_client=sm)
    assert built.estimate is not None and built.estimate.objects == 25
    label_uri = f"s3://{bucket}/labels/drone-job-1/gtlabel/label-categories.json"
    tpl_uri = f"s3://{bucket}/labels/drone-job-1/gtlabel/template.liquid.html"
    assert built.request["LabelCategoryConfigS3Uri"] == label_uri
    assert built.request["HumanTaskConfig"]["UiConfig"]["UiTemplateS3Uri"] == tpl_uri
    assert json.loads(storage.read_text(label_uri)) == {
        "document-version": "2018-11-28", "labels": [{"label": "drone"}, {"label": "vehicle"}]}
    html = storage.read_text(tpl_uri)
    assert "Find &lt;drones&gt;" in html and "__GTLABEL_" not in html
    tags = {t["Key"]: t["Value"] for t in built.request["Tags"]}
    assert tags["gtlabel:max-budget-usd"] == "10" and tags["gtlabel:workers-per-object"] == "2"
    assert label_category_config(["a"]) == {"document-version": "2018-11-28", "labels": [{"label": "a"}]}


def _written(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_nothing_written_when_over_budget(bucket: str, s3: Any, role_env: str) -> None:
    manifest = _manifest(s3, bucket, 1000)
    spec = _spec(input_manifest=manifest, output_path=f"s3://{bucket}/labels/", max_budget_usd=5)
    with pytest.raises(BudgetExceeded) as ei:
        prepare_job(spec, job_name="over-budget-1")
    assert "$80.00" in str(ei.value) and "$5.00" in str(ei.value)
    assert ei.value.estimate is not None
    assert _written(s3, bucket) == ["in/input.manifest"]


def test_nothing_written_when_invalid(bucket: str, s3: Any, role_env: str) -> None:
    manifest = _manifest(s3, bucket, 3)
    spec = _spec(input_manifest=manifest, output_path=f"s3://{bucket}/labels/", label_attribute_name="x-metadata",
                 tags={"bad!": "v"})
    with pytest.raises(ValidationFailed) as ei:
        prepare_job(spec, job_name="invalid-1")
    assert {p.path for p in ei.value.problems} >= {"LabelAttributeName", "Tags[0].Key"}
    assert _written(s3, bucket) == ["in/input.manifest"]
    with pytest.raises(ValidationFailed, match="LabelingJobName"):
        prepare_job(spec, job_name="bad_name")


def test_nothing_written_when_name_in_use(bucket: str, s3: Any, sm: Any, sm_stub: Stubber, role_env: str) -> None:
    manifest = _manifest(s3, bucket, 3)
    spec = _spec(input_manifest=manifest, output_path=f"s3://{bucket}/labels/")
    from datetime import UTC, datetime
    now = datetime(2026, 11, 25, tzinfo=UTC)
    sm_stub.add_response("list_labeling_jobs", {"LabelingJobSummaryList": [{
        "LabelingJobName": "Taken-Name", "LabelingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/t",
        "CreationTime": now, "LastModifiedTime": now, "LabelingJobStatus": "Completed", "LabelCounters": {},
        "WorkteamArn": TEAM_ARN}]}, {"NameContains": "taken-name", "MaxResults": 100})
    with pytest.raises(JobNameInUse, match="Taken-Name"):
        prepare_job(spec, job_name="taken-name", sm_client=sm)
    assert _written(s3, bucket) == ["in/input.manifest"]


def test_bucket_in_another_region_is_caught(bucket: str, s3: Any, role_env: str) -> None:
    import uuid

    other = f"eu-bucket-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=other, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    manifest = _manifest(s3, bucket, 3)
    spec = _spec(input_manifest=manifest, output_path=f"s3://{other}/labels/")
    with pytest.raises(ValidationFailed) as ei:
        prepare_job(spec, job_name="cross-region-1")
    bad = {p.path for p in ei.value.problems if "eu-west-1" in p.message}
    assert bad == {"OutputConfig.S3OutputPath", "LabelCategoryConfigS3Uri", "HumanTaskConfig.UiConfig.UiTemplateS3Uri"}
    assert s3.list_objects_v2(Bucket=other).get("KeyCount", 0) == 0
    built = prepare_job(spec, job_name="cross-region-1", check_bucket_regions=False, upload=False)
    assert built.request["OutputConfig"]["S3OutputPath"] == f"s3://{other}/labels/"


_label = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda s: bool(s.strip()))


@settings(max_examples=120, deadline=None)
@given(
    labels=st.lists(_label, min_size=1, max_size=12, unique_by=lambda s: s.strip()),
    region=st.sampled_from(facts.supported_regions()),
    task_type=st.sampled_from(facts.TASK_TYPES),
    workers=st.integers(1, 9),
    ttl=st.integers(30, 28800),
    kind=st.sampled_from(["private", "public", "vendor"]),
    price=st.sampled_from(["0.036", "0.12", "1.2"]),
    header=st.text(max_size=60),
)
def test_any_valid_spec_builds_a_valid_request(labels: list[str], region: str, task_type: str, workers: int,
                                               ttl: int, kind: str, price: str, header: str) -> None:
    from decimal import Decimal

    spec = _spec(labels=labels, region=region, task_type=task_type, workers_per_object=workers,
                 task_time_limit_s=ttl, header=header,
                 prior_label_attribute_name=None if task_type == "BoundingBox" else "bounding-box")
    arn = {"private": f"arn:aws:sagemaker:{region}:123456789012:workteam/private-crowd/t",
           "public": facts.public_workteam_arn(region),
           "vendor": f"arn:aws:sagemaker:{region}:123456789012:workteam/vendor-crowd/v"}[kind]
    wf = ResolvedWorkforce(kind, arn, Decimal(price) if kind != "private" else None)  # type: ignore[arg-type]
    got = _build(spec, region=region, wf=wf)
    assert validate_create_labeling_job(got, region=region, labels=spec.labels,
                                        prior_label_attribute_name=spec.prior_label_attribute_name) == []


def test_spec_label_limits() -> None:
    with pytest.raises(ValueError, match="at most 256"):
        _spec(labels=["x" * 257])
    with pytest.raises(ValueError, match="at most 50"):
        _spec(labels=[f"l{i}" for i in range(51)])
    assert len(_spec(labels=[f"l{i}" for i in range(50)]).labels) == 50
