"""Worker usernames beside Ground Truth worker ids: Cognito ListUsers (moto's, then a stubbed SageMaker for the
workteam route), optional and failure-tolerant."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import boto3
import pytest
from _quality_sim import BAD, GOOD, make_images, write_job
from botocore.stub import Stubber
from typer.testing import CliRunner

from gtlabel.cli import app
from gtlabel.quality.identities import identities, job_pools, lookup_usernames, pools_of
from gtlabel.quality.report import write_report
from gtlabel.quality.workers import load_worker_answers

TEAM = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/drone-team"


@pytest.fixture()
def cognito(moto_server: str) -> Any:
    return boto3.client("cognito-idp", endpoint_url=moto_server, region_name="us-east-1")


def _pool_with_users(cognito: Any, usernames: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A user pool with one user per worker id; returns (pool id, worker id -> sub)."""
    pool = cognito.create_user_pool(PoolName="drone-labelers")["UserPool"]["Id"]
    subs = {}
    for wid, user in usernames.items():
        cognito.admin_create_user(UserPoolId=pool, Username=user)
        attrs = cognito.admin_get_user(UserPoolId=pool, Username=user)["UserAttributes"]
        subs[wid] = next(a["Value"] for a in attrs if a["Name"] == "sub")
    return pool, subs


def _job(tmp_path: Path, identity: dict[str, tuple[str, str]]) -> str:
    root = str(tmp_path / "out" / "drone-job")
    write_job(root, make_images(8, seed=3), [*GOOD[:3], BAD], per_image=3, seed=9, gold_every=0, identity=identity)
    return root


def test_report_names_workers_from_the_pool_their_issuer_names(tmp_path: Path, cognito: Any, moto_server: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    names = {"w-alice": "alice", "w-bob": "bob", BAD.worker_id: "mallory"}  # w-carol: no identity data (as public)
    pool, subs = _pool_with_users(cognito, names)
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool}"
    root = _job(tmp_path, {wid: (sub, issuer) for wid, sub in subs.items()})
    answers = load_worker_answers(root)
    assert identities(answers) == {wid: (sub, issuer) for wid, sub in subs.items()}
    assert pools_of([issuer, "http://127.0.0.1:1234", None]) == [pool]

    rep = write_report(root, str(tmp_path / "r.html"), json_out=str(tmp_path / "r.json"), thumbnails=False,
                       progress=False, cognito_client=cognito)
    shown = {w["worker_id"]: w["username"] for w in json.loads((tmp_path / "r.json").read_text())["workers"]["workers"]}
    assert shown == {**names, "w-carol": None}
    page = (tmp_path / "r.html").read_text()
    assert "<td class='id'>w-alice <span class='user'>(alice)</span></td>" in page
    assert "<td class='id'>w-carol</td>" in page
    assert rep.data["summary"]["flagged_workers"] == [BAD.worker_id]
    # the CLI finds the pool with boto3's own endpoint settings and names the flagged worker
    monkeypatch.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", moto_server)
    r = CliRunner().invoke(app, ["report", root, "-o", str(tmp_path / "cli.html"), "--no-thumbnails"])
    assert r.exit_code == 0, r.output
    assert "flagged workers: w-mallory (mallory)" in r.output


def test_lookup_failures_leave_ids_only(tmp_path: Path, cognito: Any, caplog: pytest.LogCaptureFixture) -> None:
    issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_doesnotexist"
    root = _job(tmp_path, {"w-alice": ("a-sub", issuer)})
    with caplog.at_level(logging.WARNING, logger="gtlabel"):
        write_report(root, str(tmp_path / "r.html"), json_out=str(tmp_path / "r.json"), thumbnails=False,
                     progress=False, cognito_client=cognito)
    workers = json.loads((tmp_path / "r.json").read_text())["workers"]["workers"]
    assert all(w["username"] is None for w in workers)
    assert any("us-east-1_doesnotexist" in r.getMessage() and "by id only" in r.getMessage() for r in caplog.records)
    # and when asked not to, nothing is looked up
    write_report(root, str(tmp_path / "r2.html"), thumbnails=False, progress=False, usernames=False,
                 cognito_client=object())


def test_pool_found_through_the_jobs_workteam(tmp_path: Path, cognito: Any) -> None:
    """Where the issuer is no Cognito URL (the local service's), the pool comes from the job's workteam."""
    pool, subs = _pool_with_users(cognito, {"w-bob": "bob"})
    root = _job(tmp_path, {"w-bob": (subs["w-bob"], "http://127.0.0.1:9/")})
    sm = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(sm) as stub:
        stub.add_response("describe_labeling_job", _describe_job("sim", TEAM), {"LabelingJobName": "sim"})
        stub.add_response("describe_workteam", {"Workteam": {
            "WorkteamName": "drone-team", "WorkteamArn": TEAM, "Description": "d",
            "MemberDefinitions": [{"CognitoMemberDefinition": {"UserPool": pool, "UserGroup": "g",
                                                               "ClientId": "c"}}]}},
            {"WorkteamName": "drone-team"})
        names = lookup_usernames(load_worker_answers(root), cognito_client=cognito,
                                 find_pools=lambda: job_pools(sm, ["sim", "sim"]))
    assert names == {"w-bob": "bob"}


def _describe_job(name: str, team: str) -> dict[str, Any]:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    return {"LabelingJobStatus": "Completed", "LabelCounters": {}, "CreationTime": now, "LastModifiedTime": now,
            "JobReferenceCode": "x", "LabelingJobName": name,
            "LabelingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:labeling-job/{name}",
            "LabelAttributeName": "drones",
            "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://b/m"}}},
            "OutputConfig": {"S3OutputPath": "s3://b/o"}, "RoleArn": "arn:aws:iam::123456789012:role/r",
            "HumanTaskConfig": {"WorkteamArn": team, "UiConfig": {"UiTemplateS3Uri": "s3://b/t"},
                                "PreHumanTaskLambdaArn": "arn:aws:lambda:us-east-1:432418664414:function:PRE-x",
                                "TaskTitle": "t", "TaskDescription": "d", "NumberOfHumanWorkersPerDataObject": 1,
                                "TaskTimeLimitInSeconds": 60, "AnnotationConsolidationConfig": {
                                    "AnnotationConsolidationLambdaArn":
                                        "arn:aws:lambda:us-east-1:432418664414:function:ACS-x"}}}
