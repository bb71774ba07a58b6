"""What the service reads and presigns with its own S3 identity: each job's own locations, or the prefixes it
is given (gtlabel.local.scope)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from localsvc_helpers import Worker, job_request, put_inputs

from gtlabel.errors import ConfigError
from gtlabel.local.scope import ReadScope, job_locations, normalize_prefix, problems_for_job

REQ = {"InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://in/proj/a/input.manifest"}}},
       "OutputConfig": {"S3OutputPath": "s3://out/proj/out"},
       "LabelCategoryConfigS3Uri": "s3://in/proj/a/labels.json",
       "HumanTaskConfig": {"UiConfig": {"UiTemplateS3Uri": "s3://out/proj/out/job/gtlabel/template.html"}}}


def test_pure_rules() -> None:
    assert normalize_prefix("s3://b/p") == "s3://b/p/" and normalize_prefix("s3://b") == "s3://b/"
    for bad in ("b/p", "s3://", "s3:///k", "s3://b/../x"):
        with pytest.raises(ConfigError):
            normalize_prefix(bad)
    assert job_locations(REQ) == ("s3://in/", "s3://out/")
    assert problems_for_job(REQ, ()) == []
    shared = {**REQ, "LabelCategoryConfigS3Uri": "s3://in/templates/labels.json"}  # another folder, same bucket
    assert problems_for_job(shared, ()) == []
    far = {**REQ, "LabelCategoryConfigS3Uri": "s3://secrets/payroll.json"}
    (p,) = problems_for_job(far, ())
    assert p.path == "LabelCategoryConfigS3Uri" and "bucket of the input manifest" in p.message
    assert [p.path for p in problems_for_job(REQ, ("s3://in/proj/",))] == [
        "OutputConfig.S3OutputPath", "HumanTaskConfig.UiConfig.UiTemplateS3Uri"]
    assert problems_for_job(far, ("s3://in/", "s3://out/", "s3://secrets/")) == []
    task = ReadScope.for_task(REQ, "s3://images/x/1.png", ())
    assert task.allows("s3://images/x/1.png") and task.allows("s3://in/proj/other.png")
    assert not task.allows("s3://images/x/2.png") and not task.allows("s3://secrets/b.png")
    assert not task.allows("s3://in/a/../b.png")
    inside = ReadScope.for_task(REQ, "s3://images/x/1.png", ("s3://in/proj/",))
    assert not inside.allows("s3://images/x/1.png") and inside.allows("s3://in/proj/a/y.png")
    assert not inside.allows("s3://in/other/y.png")
    assert not ReadScope().allows("s3://in/proj/a/y.png")


def test_create_refuses_label_and_template_files_outside_the_job(local_service: Any, s3: Any, bucket: str) -> None:
    uris = put_inputs(s3, bucket, 1)
    s3.create_bucket(Bucket=f"{bucket}-secret")
    s3.put_object(Bucket=f"{bucket}-secret", Key="keys.json", Body=b'{"labels": [{"label": "AKIA..."}]}')
    sm = local_service.client("sagemaker")
    req = job_request("outside-labels", {**uris, "labels": f"s3://{bucket}-secret/keys.json"},
                      local_service.default_workteam_arn)
    with pytest.raises(sm.exceptions.ClientError, match=r"LabelCategoryConfigS3Uri.*bucket of the input manifest"):
        sm.create_labeling_job(**req)  # on main: read with the service's identity, and the job created
    req = job_request("outside-template", {**uris, "template": f"s3://{bucket}-secret/keys.json"},
                      local_service.default_workteam_arn)
    with pytest.raises(sm.exceptions.ClientError, match="UiTemplateS3Uri"):
        sm.create_labeling_job(**req)


def test_task_pages_presign_only_their_own_object(clocked: Any, s3: Any, bucket: str) -> None:
    other = f"s3://{bucket}-other/private/photo.png"
    s3.create_bucket(Bucket=f"{bucket}-other")
    s3.put_object(Bucket=f"{bucket}-other", Key="private/photo.png", Body=b"x")
    template = ('<crowd-form><crowd-bounding-box name="boundingBox" src="{{ task.input.taskObject | '
                'grant_read_access }}" labels="[]"></crowd-bounding-box>'
                f'<img id="leak" src="{{{{ "{other}" | grant_read_access }}}}"></crowd-form>')
    uris = put_inputs(s3, bucket, 1, template=template)
    clocked.client("sagemaker").create_labeling_job(**job_request("scoped", uris, clocked.default_workteam_arn))
    clocked.engine.tick()
    clocked.add_worker("default", "ann", "pw-ann-123")
    ann = Worker(clocked.portal_url, "ann", "pw-ann-123")
    task = ann.next_task("scoped")
    assert "Signature=" in task["image_url"]  # the task's own image
    page = ann.http.get(f"{ann.base}/tasks/{task['task_id']}", timeout=10).text
    assert 'id="leak" src=""' in page  # on main: a presigned link to another bucket
    assert "img-0000.png?" in page


def test_render_ui_template_presigns_only_configured_prefixes(moto_server: str, tmp_path: Any, s3: Any,
                                                              bucket: str) -> None:
    from gtlabel.local import LocalService

    tpl = '<img src="{{ task.input.a | grant_read_access }}"><img src="{{ task.input.b | grant_read_access }}">'
    task = {"Input": json.dumps({"a": f"s3://{bucket}/ok/x.png", "b": f"s3://{bucket}/secret/y.png"})}
    with LocalService(data_dir=tmp_path / "svc", s3_endpoint=moto_server, access_key="testing", secret_key="testing",
                      engine_interval=None, s3_allow=[f"s3://{bucket}/ok"]) as svc:
        html = svc.client("sagemaker").render_ui_template(UiTemplate={"Content": tpl}, RoleArn=svc.role_arn,
                                                          Task=task)["RenderedContent"]
        assert f"/{bucket}/ok/x.png?" in html and 'src=""' in html and "secret" not in html
        # with prefixes, a job outside them is refused whole
        uris = put_inputs(s3, bucket, 1)
        sm = svc.client("sagemaker")
        with pytest.raises(sm.exceptions.ClientError, match="outside the S3 locations"):
            sm.create_labeling_job(**job_request("outside", uris, svc.default_workteam_arn))


def test_source_refs_outside_the_configured_prefixes_fail(moto_server: str, tmp_path: Any, s3: Any,
                                                          bucket: str) -> None:
    from gtlabel.local import LocalService

    uris = put_inputs(s3, bucket, 2, extra_lines=[{"source-ref": f"s3://{bucket}-elsewhere/photo.png"}])
    with LocalService(data_dir=tmp_path / "svc", s3_endpoint=moto_server, access_key="testing", secret_key="testing",
                      engine_interval=None, s3_allow=[f"s3://{bucket}/job/"]) as svc:
        svc.client("sagemaker").create_labeling_job(**job_request("mixed", uris, svc.default_workteam_arn))
        svc.engine.tick()
        d = svc.client("sagemaker").describe_labeling_job(LabelingJobName="mixed")
        assert d["LabelingJobStatus"] == "InProgress" and d["LabelCounters"]["FailedNonRetryableError"] == 1
        assert "outside the S3 locations" in svc.backend.state.tasks.get("mixed", 2).failure
