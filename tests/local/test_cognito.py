"""The local service's Cognito ListUsers: usernames of the workteams' pools, so the quality report puts each
worker's username beside the Ground Truth worker id (the same lookup as against AWS)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from localsvc_helpers import Worker, job_request, put_inputs

from gtlabel.quality.report import write_report

POOL = "us-east-1_gtlabel"  # the pool of the service's teams (their MemberDefinitions)
BOX = {"label": "drone", "left": 5, "top": 6, "width": 20, "height": 10}


def test_list_users_of_the_workteam_pool(clocked: Any) -> None:
    ids = {clocked.add_worker("default", name, f"pw-{name}-1234") for name in ("carol", "ann", "bob")}
    cognito = boto3.client("cognito-idp")  # found through AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER
    users = [u for page in cognito.get_paginator("list_users").paginate(UserPoolId=POOL, PaginationConfig={
        "PageSize": 2}) for u in page["Users"]]
    assert [u["Username"] for u in users] == ["ann", "bob", "carol"]  # every page, in order
    subs = {a["Value"] for u in users for a in u["Attributes"] if a["Name"] == "sub"}
    assert len(subs) == 3 and len(ids) == 3
    with pytest.raises(ClientError) as ei:
        cognito.list_users(UserPoolId="us-east-1_nosuchpool")
    assert ei.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError, match="UnknownOperation"):
        cognito.describe_user_pool(UserPoolId=POOL)


def test_quality_report_names_the_local_workers(clocked: Any, s3: Any, bucket: str, tmp_path: Any) -> None:
    uris = put_inputs(s3, bucket, 2)
    boto3.client("sagemaker").create_labeling_job(**job_request("named", uris, clocked.default_workteam_arn,
                                                                workers=2))
    clocked.engine.tick()
    ids = {}
    for name in ("ann", "bob"):
        ids[clocked.add_worker("default", name, f"pw-{name}-1234")] = name
        w = Worker(clocked.portal_url, name, f"pw-{name}-1234")
        while (t := w.next_task("named"))["task_id"]:
            assert w.submit(t, [BOX]).status_code == 200
    clocked.engine.tick()
    root = f"{uris['output']}/named"
    write_report(root, str(tmp_path / "r.html"), json_out=str(tmp_path / "r.json"), thumbnails=False, progress=False)
    workers = json.loads((tmp_path / "r.json").read_text())["workers"]["workers"]
    assert {w["worker_id"]: w["username"] for w in workers} == ids
    assert "<span class='user'>(ann)</span>" in (tmp_path / "r.html").read_text()
