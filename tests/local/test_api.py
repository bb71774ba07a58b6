"""The SageMaker labeling API of the local service, with unmodified boto3 as the client."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from localsvc_helpers import LABELS, job_request, put_inputs

MEMBERS = [{"CognitoMemberDefinition": {"UserPool": "us-east-1_gtlabel", "UserGroup": "g", "ClientId": "c"}}]


def code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


@pytest.fixture()
def sm(local_service: Any) -> Any:
    # plain boto3: endpoint and credentials come from AWS_ENDPOINT_URL_SAGEMAKER etc. set by the fixture
    return boto3.client("sagemaker", config=Config(retries={"max_attempts": 1}))


# ----------------------------------------------------------------------------------------------- workteams
def test_workteam_lifecycle(sm: Any, local_service: Any) -> None:
    default = sm.describe_workteam(WorkteamName="default")["Workteam"]
    assert default["WorkteamArn"] == "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/default"
    assert isinstance(default["CreateDate"], dt.datetime)

    arn = sm.create_workteam(WorkteamName="team-a", Description="A team", MemberDefinitions=MEMBERS)["WorkteamArn"]
    assert arn.endswith(":workteam/private-crowd/team-a")
    with pytest.raises(sm.exceptions.ResourceInUse):
        sm.create_workteam(WorkteamName="team-a", Description="again", MemberDefinitions=MEMBERS)

    upd = sm.update_workteam(WorkteamName="team-a", Description="Renamed")["Workteam"]
    assert upd["Description"] == "Renamed"
    assert sm.describe_workteam(WorkteamName="team-a")["Workteam"]["Description"] == "Renamed"

    assert sm.delete_workteam(WorkteamName="team-a")["Success"] is True
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.describe_workteam(WorkteamName="team-a")
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.delete_workteam(WorkteamName="team-a")


def test_workteam_limit_is_25(sm: Any) -> None:
    for i in range(24):  # + the default team = 25
        sm.create_workteam(WorkteamName=f"t{i:02d}", Description="x", MemberDefinitions=MEMBERS)
    with pytest.raises(sm.exceptions.ResourceLimitExceeded) as ei:
        sm.create_workteam(WorkteamName="one-too-many", Description="x", MemberDefinitions=MEMBERS)
    assert "25" in str(ei.value)


def test_list_workteams_sort_filter_paginate(sm: Any) -> None:
    for name in ("zeta", "alpha", "mid"):
        sm.create_workteam(WorkteamName=name, Description="x", MemberDefinitions=MEMBERS)
    names = [t["WorkteamName"] for t in sm.list_workteams(SortBy="Name", SortOrder="Ascending")["Workteams"]]
    assert names == ["alpha", "default", "mid", "zeta"]
    desc = [t["WorkteamName"] for t in sm.list_workteams(SortBy="Name", SortOrder="Descending")["Workteams"]]
    assert desc == names[::-1]
    assert [t["WorkteamName"] for t in sm.list_workteams(NameContains="ET")["Workteams"]] == ["zeta"]
    page1 = sm.list_workteams(SortBy="Name", MaxResults=3)
    assert [t["WorkteamName"] for t in page1["Workteams"]] == ["alpha", "default", "mid"]
    page2 = sm.list_workteams(SortBy="Name", MaxResults=3, NextToken=page1["NextToken"])
    assert [t["WorkteamName"] for t in page2["Workteams"]] == ["zeta"] and "NextToken" not in page2
    pages = sm.get_paginator("list_workteams").paginate(SortBy="Name", PaginationConfig={"PageSize": 1})
    assert [t["WorkteamName"] for p in pages for t in p["Workteams"]] == names


def test_workteam_validation(sm: Any) -> None:
    with pytest.raises(ClientError) as ei:
        sm.create_workteam(WorkteamName="bad_name!", Description="x", MemberDefinitions=MEMBERS)
    assert code(ei.value) == "ValidationException" and "WorkteamName" in str(ei.value)


# ----------------------------------------------------------------------------------------------- jobs
def test_create_describe_list_stop(sm: Any, local_service: Any, s3: Any, bucket: str) -> None:
    uris = put_inputs(s3, bucket, 3)
    req = job_request("Drone-Job-1", uris, local_service.default_workteam_arn, workers=2)
    req["StoppingConditions"] = {"MaxHumanLabeledObjectCount": 10}
    req["Tags"] = [{"Key": "project", "Value": "drones"}]
    arn = sm.create_labeling_job(**req)["LabelingJobArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/drone-job-1"

    d = sm.describe_labeling_job(LabelingJobName="Drone-Job-1")
    assert d["LabelingJobStatus"] in ("Initializing", "InProgress")
    assert d["LabelingJobName"] == "Drone-Job-1" and d["LabelingJobArn"] == arn
    assert d["HumanTaskConfig"] == req["HumanTaskConfig"]
    assert d["InputConfig"] == req["InputConfig"] and d["OutputConfig"] == req["OutputConfig"]
    assert d["StoppingConditions"] == {"MaxHumanLabeledObjectCount": 10}
    assert d["Tags"] == req["Tags"] and len(d["JobReferenceCode"]) > 8
    assert isinstance(d["CreationTime"], dt.datetime) and isinstance(d["LastModifiedTime"], dt.datetime)

    local_service.engine.tick()
    d = sm.describe_labeling_job(LabelingJobName="drone-job-1")  # names are case-insensitive
    assert d["LabelingJobStatus"] == "InProgress"
    assert d["LabelCounters"] == {"TotalLabeled": 0, "HumanLabeled": 0, "MachineLabeled": 0,
                                  "FailedNonRetryableError": 0, "Unlabeled": 3}

    # case-insensitive uniqueness
    with pytest.raises(sm.exceptions.ResourceInUse):
        sm.create_labeling_job(**{**req, "LabelingJobName": "drone-JOB-1"})

    summary = sm.list_labeling_jobs()["LabelingJobSummaryList"]
    assert [s["LabelingJobName"] for s in summary] == ["Drone-Job-1"]
    assert summary[0]["WorkteamArn"] == local_service.default_workteam_arn
    assert summary[0]["PreHumanTaskLambdaArn"] == req["HumanTaskConfig"]["PreHumanTaskLambdaArn"]
    assert summary[0]["LabelCounters"]["Unlabeled"] == 3
    assert "HumanTaskConfig" not in summary[0] and "Tags" not in summary[0]

    sm.stop_labeling_job(LabelingJobName="Drone-Job-1")
    assert sm.describe_labeling_job(LabelingJobName="Drone-Job-1")["LabelingJobStatus"] in ("Stopping", "Stopped")
    local_service.engine.tick()
    d = sm.describe_labeling_job(LabelingJobName="Drone-Job-1")
    assert d["LabelingJobStatus"] == "Stopped"
    assert d["LabelingJobOutput"]["OutputDatasetS3Uri"] == f"{uris['output']}/Drone-Job-1/manifests/output/output.manifest"
    sm.stop_labeling_job(LabelingJobName="Drone-Job-1")  # stopping a stopped job is a no-op

    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.stop_labeling_job(LabelingJobName="no-such-job")
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.describe_labeling_job(LabelingJobName="no-such-job")


def test_create_rejects_invalid_requests(sm: Any, local_service: Any, s3: Any, bucket: str) -> None:
    uris = put_inputs(s3, bucket, 1)
    team = local_service.default_workteam_arn
    bad_workers = job_request("bad-1", uris, team)
    bad_workers["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"] = 10  # max 9: botocore does not check
    with pytest.raises(ClientError) as ei:
        sm.create_labeling_job(**bad_workers)
    assert code(ei.value) == "ValidationException"
    assert "NumberOfHumanWorkersPerDataObject" in str(ei.value)

    bad_name = job_request("-bad-name-", uris, team)
    with pytest.raises(ClientError) as ei:
        sm.create_labeling_job(**bad_name)
    assert code(ei.value) == "ValidationException" and "LabelingJobName" in str(ei.value)

    bad_attr = job_request("bad-3", uris, team, attr="boxes-metadata")
    with pytest.raises(ClientError) as ei:
        sm.create_labeling_job(**bad_attr)
    assert code(ei.value) == "ValidationException"

    unknown_team = job_request("bad-4", uris, "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/nobody")
    with pytest.raises(ClientError) as ei:
        sm.create_labeling_job(**unknown_team)
    assert code(ei.value) == "ValidationException" and "nobody" in str(ei.value)

    # duplicate labels in the label category file are caught at create, as on AWS
    s3.put_object(Bucket=bucket, Key="job/dup-labels.json",
                  Body=json.dumps({"labels": [{"label": "car"}, {"label": "car"}]}).encode())
    dup = job_request("bad-5", {**uris, "labels": f"s3://{bucket}/job/dup-labels.json"}, team)
    with pytest.raises(ClientError) as ei:
        sm.create_labeling_job(**dup)
    assert code(ei.value) == "ValidationException"

    custom_lambda = job_request("bad-6", uris, team)
    custom_lambda["HumanTaskConfig"]["PreHumanTaskLambdaArn"] = "arn:aws:lambda:us-east-1:123456789012:function:my-pre"
    with pytest.raises(ClientError) as ei:
        sm.create_labeling_job(**custom_lambda)
    assert code(ei.value) == "ValidationException" and "my-pre" in str(ei.value)

    # nothing was created by the rejected requests
    assert sm.list_labeling_jobs()["LabelingJobSummaryList"] == []


def test_list_labeling_jobs_filters_sort_pagination(sm: Any, local_service: Any, s3: Any, bucket: str) -> None:
    uris = put_inputs(s3, bucket, 1)
    names = ["job-c", "job-a", "other-b", "job-d", "job-e"]
    for n in names:
        sm.create_labeling_job(**job_request(n, uris, local_service.default_workteam_arn))
    local_service.engine.tick()
    sm.stop_labeling_job(LabelingJobName="job-d")
    local_service.engine.tick()

    by_time = [s["LabelingJobName"] for s in sm.list_labeling_jobs(SortBy="CreationTime")["LabelingJobSummaryList"]]
    assert by_time == names
    by_name = [s["LabelingJobName"] for s in
               sm.list_labeling_jobs(SortBy="Name", SortOrder="Descending")["LabelingJobSummaryList"]]
    assert by_name == sorted(names, reverse=True)
    assert [s["LabelingJobName"] for s in sm.list_labeling_jobs(NameContains="JOB-")["LabelingJobSummaryList"]] == \
        ["job-c", "job-a", "job-d", "job-e"]
    assert [s["LabelingJobName"] for s in sm.list_labeling_jobs(StatusEquals="Stopped")["LabelingJobSummaryList"]] == \
        ["job-d"]
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert sm.list_labeling_jobs(CreationTimeAfter=future)["LabelingJobSummaryList"] == []
    assert len(sm.list_labeling_jobs(CreationTimeBefore=future)["LabelingJobSummaryList"]) == 5

    first = sm.list_labeling_jobs(SortBy="Name", MaxResults=2)
    assert [s["LabelingJobName"] for s in first["LabelingJobSummaryList"]] == ["job-a", "job-c"]
    second = sm.list_labeling_jobs(SortBy="Name", MaxResults=2, NextToken=first["NextToken"])
    assert [s["LabelingJobName"] for s in second["LabelingJobSummaryList"]] == ["job-d", "job-e"]
    pages = sm.get_paginator("list_labeling_jobs").paginate(SortBy="Name", PaginationConfig={"PageSize": 2})
    assert [s["LabelingJobName"] for p in pages for s in p["LabelingJobSummaryList"]] == sorted(names)

    # a token from another query is refused
    with pytest.raises(ClientError) as ei:
        sm.list_labeling_jobs(SortBy="Status", MaxResults=2, NextToken=first["NextToken"])
    assert code(ei.value) == "ValidationException"
    with pytest.raises(ClientError) as ei:
        sm.list_labeling_jobs(NextToken="garbage")
    assert code(ei.value) == "ValidationException"
    with pytest.raises(ClientError) as ei:
        sm.list_labeling_jobs(MaxResults=101)
    assert code(ei.value) == "ValidationException"


def test_list_labeling_jobs_for_workteam(sm: Any, local_service: Any, s3: Any, bucket: str) -> None:
    uris = put_inputs(s3, bucket, 2)
    team_b = sm.create_workteam(WorkteamName="team-b", Description="b", MemberDefinitions=MEMBERS)["WorkteamArn"]
    sm.create_labeling_job(**job_request("for-default", uris, local_service.default_workteam_arn, workers=3))
    sm.create_labeling_job(**job_request("for-b", uris, team_b))
    local_service.engine.tick()
    items = sm.list_labeling_jobs_for_workteam(WorkteamArn=local_service.default_workteam_arn)["LabelingJobSummaryList"]
    assert [i["LabelingJobName"] for i in items] == ["for-default"]
    assert items[0]["WorkRequesterAccountId"] == "123456789012"
    assert items[0]["NumberOfHumanWorkersPerDataObject"] == 3
    assert items[0]["LabelCounters"] == {"HumanLabeled": 0, "PendingHuman": 2, "Total": 2}
    ref = items[0]["JobReferenceCode"]
    assert sm.list_labeling_jobs_for_workteam(WorkteamArn=local_service.default_workteam_arn,
                                              JobReferenceCodeContains=ref[:6])["LabelingJobSummaryList"]
    assert [i["LabelingJobName"] for i in
            sm.list_labeling_jobs_for_workteam(WorkteamArn=team_b)["LabelingJobSummaryList"]] == ["for-b"]
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.list_labeling_jobs_for_workteam(
            WorkteamArn="arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/ghost")
    with pytest.raises(ClientError) as ei:  # a team with a running job cannot be deleted
        sm.delete_workteam(WorkteamName="team-b")
    assert code(ei.value) == "ValidationException"


def test_render_ui_template(sm: Any, local_service: Any) -> None:
    tpl = ('<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>'
           '<crowd-bounding-box src="{{ task.input.taskObject | grant_read_access }}" '
           'labels="{{ task.input.labels | to_json | escape }}" header="{{ task.input.header }}"></crowd-bounding-box>')
    out = sm.render_ui_template(
        UiTemplate={"Content": tpl}, RoleArn=local_service.role_arn,
        Task={"Input": json.dumps({"taskObject": "s3://some-bucket/a b.png", "labels": LABELS,
                                   "header": "<script>alert(1)</script>"})})
    html = out["RenderedContent"]
    assert out["Errors"] == []
    # absolute, so a preview shown outside the portal (a notebook's iframe, a saved file) still loads it
    assert f'<script src="{local_service.sagemaker_endpoint}/static/crowd-html-elements.js">' in html
    assert "assets.crowd.aws" not in html
    # no job, so no job locations: nothing is presigned unless the service is given prefixes (--s3-allow)
    assert '<crowd-bounding-box src=""' in html and "Signature=" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "[&#34;drone&#34;, &#34;vehicle&#34;, &#34;person&#34;, &#34;building&#34;]" in html
    bad = sm.render_ui_template(UiTemplate={"Content": "{% if %}"}, RoleArn=local_service.role_arn,
                                Task={"Input": "{}"})
    assert bad["RenderedContent"] == "" and bad["Errors"]


def test_unknown_operation(sm: Any) -> None:
    with pytest.raises(ClientError) as ei:
        sm.list_training_jobs()
    assert code(ei.value) == "UnknownOperationException"
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# ----------------------------------------------------------------------------------------------- signatures
def _client(local_service: Any, **kw: Any) -> Any:
    args = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
    args.update(kw)
    return boto3.client("sagemaker", endpoint_url=local_service.sagemaker_endpoint,
                        config=Config(retries={"max_attempts": 1}, **args.pop("config", {})), **args)


def test_unsigned_and_badly_signed_calls_are_refused(local_service: Any) -> None:
    from botocore import UNSIGNED

    cases = {
        "MissingAuthenticationTokenException": _client(local_service, config={"signature_version": UNSIGNED}),
        "InvalidSignatureException": _client(local_service, aws_secret_access_key="not-the-secret"),
        "UnrecognizedClientException": _client(local_service, aws_access_key_id="AKIAOTHERKEY"),
    }
    for expected, client in cases.items():
        with pytest.raises(ClientError) as ei:
            client.list_workteams()
        assert code(ei.value) == expected
        assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    wrong_region = _client(local_service, region_name="eu-west-1")
    with pytest.raises(ClientError) as ei:
        wrong_region.list_workteams()
    assert code(ei.value) == "InvalidSignatureException" and "region" in str(ei.value)
    # the refused calls changed nothing
    assert _client(local_service).list_workteams()["Workteams"][0]["WorkteamName"] == "default"


def test_tampered_body_and_old_signature(local_service: Any) -> None:
    import requests

    from gtlabel.local.sigv4 import Credentials, sign_headers

    host = local_service.sagemaker_endpoint.split("://")[1]
    body = json.dumps({"WorkteamName": "default"}).encode()
    base = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.DescribeWorkteam"}
    creds = Credentials("testing", "testing")
    ok = sign_headers(method="POST", url_path="/", raw_query="", host=host, headers=base, body=body,
                      credentials=creds, region="us-east-1")
    r = requests.post(local_service.sagemaker_endpoint + "/", data=body, headers={**base, **ok}, timeout=10)
    assert r.status_code == 200 and r.json()["Workteam"]["WorkteamName"] == "default"
    tampered = json.dumps({"WorkteamName": "other"}).encode()
    r = requests.post(local_service.sagemaker_endpoint + "/", data=tampered, headers={**base, **ok}, timeout=10)
    assert r.status_code == 403 and r.json()["__type"] == "InvalidSignatureException"
    old = sign_headers(method="POST", url_path="/", raw_query="", host=host, headers=base, body=body,
                       credentials=creds, region="us-east-1",
                       now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20))
    r = requests.post(local_service.sagemaker_endpoint + "/", data=body, headers={**base, **old}, timeout=10)
    assert r.status_code == 403 and "expired" in r.json()["message"]
    # a signed header changed after signing (the target) is caught too
    r = requests.post(local_service.sagemaker_endpoint + "/", data=body,
                      headers={**base, **ok, "X-Amz-Target": "SageMaker.DeleteWorkteam"}, timeout=10)
    assert r.status_code == 403


def test_sigv4_matches_botocore_signer() -> None:
    """The verifier accepts exactly what botocore's SigV4Auth produces (query strings, paths, extra headers)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCreds

    from gtlabel.errors import AuthFailure
    from gtlabel.local.sigv4 import Credentials, verify

    for url in ("http://127.0.0.1:9000/", "http://127.0.0.1:9000/a/b%20c/?z=1&a=b%2Fc&a=a"):
        req = AWSRequest(method="POST", url=url, data=b'{"x": 1}',
                         headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.X",
                                  "X-Custom": "  a   b  "})
        SigV4Auth(BotoCreds("AK", "SK"), "sagemaker", "us-east-1").add_auth(req)
        prepared = req.prepare()
        headers: dict[str, list[str]] = {}
        for k, v in prepared.headers.items():
            headers.setdefault(k.lower(), []).append(v if isinstance(v, str) else v.decode())
        headers["host"] = ["127.0.0.1:9000"]
        path, _, query = prepared.url.split("127.0.0.1:9000", 1)[1].partition("?")
        assert verify(method="POST", path=path, raw_query=query, headers=headers, body=prepared.body,
                      credentials=Credentials("AK", "SK"), region="us-east-1") == "AK"
        with pytest.raises(AuthFailure):
            verify(method="PUT", path=path, raw_query=query, headers=headers, body=prepared.body,
                   credentials=Credentials("AK", "SK"), region="us-east-1")


def test_loopback_by_default_and_no_open_embedded_s3(moto_server: str, tmp_path: Any) -> None:
    from gtlabel.errors import ConfigError
    from gtlabel.local import LocalService

    with LocalService(data_dir=tmp_path / "a", engine_interval=None) as svc:
        assert svc.bound_address[0] == "127.0.0.1" and svc.sagemaker_endpoint.startswith("http://127.0.0.1:")
        assert svc.s3_endpoint.startswith("http://127.0.0.1:")
    # another interface with the embedded S3 (no credential checks) is refused, with the way out
    with pytest.raises(ConfigError, match="--s3-endpoint"):
        LocalService(data_dir=tmp_path / "b", host="0.0.0.0", engine_interval=None)
    # with a real object store it binds there, and advertises the public host (never 0.0.0.0)
    with LocalService(data_dir=tmp_path / "c", host="0.0.0.0", s3_endpoint=moto_server, access_key="testing",
                      secret_key="testing", engine_interval=None) as svc:
        assert svc.bound_address[0] == "0.0.0.0" and svc.sagemaker_endpoint.startswith("http://127.0.0.1:")
        assert svc.client("sagemaker").list_workteams()["Workteams"]
    with LocalService(data_dir=tmp_path / "d", host="0.0.0.0", s3_endpoint=moto_server, access_key="testing",
                      secret_key="testing", engine_interval=None, public_host="labeling.example.internal") as svc:
        assert svc.portal_url.startswith("http://labeling.example.internal:")
