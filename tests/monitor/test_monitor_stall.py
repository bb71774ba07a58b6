"""Stall diagnosis: CORS on moto S3, workforce portal via a stubbed SageMaker, Lambda region, task expiry."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta

from monitor_helpers import (
    ACCOUNT,
    PRIVATE_TEAM,
    PUBLIC_TEAM,
    FakeClock,
    counters,
    describe,
    per_object_cost,
    stubbed_sagemaker,
)

from gtlabel.monitor import diagnose_stall, watch_labeling_job
from gtlabel.monitor.stall import check_cors, check_lambda_region, check_task_expiry, check_workforce

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

CORS_OK = {"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"],
                          "ExposeHeaders": ["Access-Control-Allow-Origin"]}]}


def _manifest(s3, bucket: str, image_bucket: str) -> str:  # type: ignore[no-untyped-def]
    body = "\n".join(json.dumps({"source-ref": f"s3://{image_bucket}/img/{i}.jpg"}) for i in range(3))
    s3.put_object(Bucket=bucket, Key="in/input.manifest", Body=body.encode())
    return f"s3://{bucket}/in/input.manifest"


def test_missing_cors_on_image_bucket_is_a_likely_cause(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    images = bucket + "-img"
    s3.create_bucket(Bucket=images)
    d = describe(manifest=_manifest(s3, bucket, images))
    causes = check_cors(d, s3)
    assert [c.code for c in causes] == ["no-cors"]
    assert causes[0].likelihood == "likely" and repr(images) in causes[0].message
    assert "AllowedOrigins ['*']" in causes[0].message

    s3.put_bucket_cors(Bucket=images, CORSConfiguration=CORS_OK)
    causes = check_cors(d, s3)
    assert [(c.code, c.likelihood) for c in causes] == [("cors-ok", "ok")]

    s3.put_bucket_cors(Bucket=images, CORSConfiguration={"CORSRules": [
        {"AllowedMethods": ["PUT"], "AllowedOrigins": ["https://example.com"]}]})
    assert [c.code for c in check_cors(d, s3)] == ["cors-incomplete"]


def test_unreadable_manifest_falls_back_to_manifest_bucket(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    d = describe(manifest=f"s3://{bucket}/missing.manifest")
    causes = check_cors(d, s3)
    assert causes[0].code == "no-cors" and repr(bucket) in causes[0].message


def test_lambda_in_wrong_region_or_account() -> None:
    d = describe(pre_lambda="arn:aws:lambda:eu-west-1:568282634449:function:PRE-BoundingBox")
    causes = check_lambda_region(d)
    assert [c.code for c in causes] == ["lambda-region"]
    assert "eu-west-1" in causes[0].message and "us-east-1" in causes[0].message

    # right region, wrong account for the built-in function (data/ground-truth-regions.json: 432418664414)
    d = describe(acs_lambda="arn:aws:lambda:us-east-1:081040173940:function:ACS-BoundingBox")
    causes = check_lambda_region(d)
    assert [c.code for c in causes] == ["lambda-account"] and "432418664414" in causes[0].message
    assert check_lambda_region(describe()) == []


def test_task_expiry_private_and_mturk() -> None:
    old = describe(created=NOW - timedelta(hours=13), workteam=PUBLIC_TEAM)
    causes = check_task_expiry(old, NOW)
    assert causes[0].code == "tasks-expired" and "12 h" in causes[0].message  # MTurk maximum from the data file
    young = describe(created=NOW - timedelta(hours=1), availability=7200)
    causes = check_task_expiry(young, NOW)
    assert [c.code for c in causes] == ["tasks-expire"] and causes[0].likelihood == "info"
    expired = describe(created=NOW - timedelta(hours=3), availability=7200)
    assert check_task_expiry(expired, NOW)[0].code == "tasks-expired"
    ancient = describe(created=NOW - timedelta(days=29))
    assert "job-lifetime" in [c.code for c in check_task_expiry(ancient, NOW)]


def test_private_team_nobody_working_names_the_portal() -> None:
    client, stub = stubbed_sagemaker()
    stub.add_response("describe_workteam", {"Workteam": {
        "WorkteamName": "drone-team", "WorkteamArn": PRIVATE_TEAM, "Description": "d",
        "MemberDefinitions": [{"CognitoMemberDefinition": {"UserPool": "p", "UserGroup": "g", "ClientId": "c"}}],
        "SubDomain": "abc123.labeling.us-east-1.sagemaker.aws"}}, {"WorkteamName": "drone-team"})
    stub.add_response("list_labeling_jobs_for_workteam", {"LabelingJobSummaryList": [
        {"JobReferenceCode": "ref-123", "WorkRequesterAccountId": ACCOUNT, "CreationTime": NOW,
         "LabelingJobName": "drone-job", "LabelCounters": {"HumanLabeled": 0, "PendingHuman": 10, "Total": 10}}]})
    with stub:
        causes = check_workforce(describe(), 4000, client)
    assert [c.code for c in causes] == ["nobody-working"]
    msg = causes[0].message
    assert "https://abc123.labeling.us-east-1.sagemaker.aws" in msg and "10 task(s) are waiting" in msg
    assert "1h06m" in msg


def test_public_workforce_is_mturk_pace() -> None:
    causes = check_workforce(describe(workteam=PUBLIC_TEAM), 600, None)
    assert causes[0].code == "mturk-pace" and "batch of 10" in causes[0].message


def test_stalled_job_watch_reports_real_checks(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    """A job nobody works on: InProgress, counters 0; the watch reports a stall with the real checks."""
    images = bucket + "-img"
    s3.create_bucket(Bucket=images)
    d = describe("stalled-job", "InProgress", counters(0, 5), manifest=_manifest(s3, bucket, images),
                 pre_lambda="arn:aws:lambda:us-west-2:081040173940:function:PRE-BoundingBox")
    client, stub = stubbed_sagemaker()
    for _ in range(4):
        stub.add_response("describe_labeling_job", d)
    # after 3 polls x 600 s = 1800 s of no movement the diagnosis asks about the team, then one more poll
    stub.add_client_error("describe_workteam", "ValidationException", "no such team", 400)
    stub.add_client_error("list_labeling_jobs_for_workteam", "ValidationException", "no", 400)
    stub.add_response("describe_labeling_job", d)
    stub.add_response("describe_labeling_job", describe("stalled-job", "Stopped", counters(0, 5)))
    clock = FakeClock()
    with stub:
        s = watch_labeling_job("stalled-job", sm_client=client, s3_client=s3, progress=False, clock=clock,
                               sleep=clock.sleep, poll_seconds=600, max_poll_seconds=600,
                               stall_after_seconds=1800, cost_fn=per_object_cost())
        stub.assert_no_pending_responses()
    assert len(s.stalls) == 1
    report = s.stalls[0]
    codes = [c.code for c in report.causes]
    assert {"nobody-working", "no-cors", "lambda-region", "zero-counters"} <= set(codes)
    likely = [c.code for c in report.causes if c.likelihood == "likely"]
    assert codes[: len(likely)] == likely  # likely ones first
    assert report.stalled_for_seconds == 1800


def test_diagnose_without_clients_still_gives_static_causes() -> None:
    d = describe(created=NOW - timedelta(days=3), availability=3600)
    codes = [c.code for c in diagnose_stall(d, 7200, NOW)]
    assert "tasks-expired" in codes and "nobody-working" in codes and "zero-counters" in codes


def test_worker_activity_from_cloudwatch_logs_on_moto(moto_server: str) -> None:
    import time
    import uuid

    import boto3

    from gtlabel.monitor.stall import WORKER_ACTIVITY_LOG_GROUP, check_worker_activity

    logs = boto3.client("logs", endpoint_url=moto_server, region_name="us-east-1")
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=WORKER_ACTIVITY_LOG_GROUP)
    stream = "stream-" + uuid.uuid4().hex[:8]
    logs.create_log_stream(logGroupName=WORKER_ACTIVITY_LOG_GROUP, logStreamName=stream)
    now = datetime.now(UTC)
    busy = describe("busy-" + uuid.uuid4().hex[:6])
    idle = describe("idle-" + uuid.uuid4().hex[:6])
    ms = int(time.time() * 1000)
    events = [{"timestamp": ms - 1000 * i, "message": json.dumps(
        {"worker_id": "w1", "labeling_job_arn": busy["LabelingJobArn"], "event_type": kind})}
        for i, kind in enumerate(["TasksAccepted", "TasksReturned", "TasksAccepted"])]
    logs.put_log_events(logGroupName=WORKER_ACTIVITY_LOG_GROUP, logStreamName=stream, logEvents=events[::-1])

    causes = check_worker_activity(idle, 600, now + timedelta(seconds=5), logs)
    assert [(c.code, c.likelihood) for c in causes] == [("no-worker-activity", "likely")]
    causes = check_worker_activity(busy, 600, now + timedelta(seconds=5), logs)
    assert [c.code for c in causes] == ["worker-activity"]
    assert "2 TasksAccepted, 1 TasksReturned" in causes[0].message

    # a Region where no private worker ever worked: the log group does not exist
    other = boto3.client("logs", endpoint_url=moto_server, region_name="eu-west-3")
    causes = check_worker_activity(idle, 600, now, other)
    assert causes[0].code == "no-worker-activity" and "does not exist" in causes[0].message


def test_portal_url_scheme() -> None:
    from gtlabel.monitor.stall import portal_url

    assert portal_url("abc123.labeling.us-east-1.sagemaker.aws") == "https://abc123.labeling.us-east-1.sagemaker.aws"
    assert portal_url("127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert portal_url("[::1]:8080") == "http://[::1]:8080"
    assert portal_url("localhost:9000") == "http://localhost:9000"
    assert portal_url("10.0.0.5:8080") == "http://10.0.0.5:8080"
    assert portal_url("https://x.example") == "https://x.example"
