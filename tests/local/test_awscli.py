"""The AWS CLI as a second, independent client of the local service (create / describe / list / stop)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from localsvc_helpers import job_request, put_inputs

AWS = Path(sys.executable).with_name("aws")


def aws(local_service: Any, *args: str) -> Any:
    env = {**os.environ, **local_service.env(), "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1"}
    out = subprocess.run([str(AWS), "sagemaker", *args, "--endpoint-url", local_service.sagemaker_endpoint,
                          "--output", "json"], env=env, capture_output=True, text=True, timeout=120)
    return out


def test_aws_cli_create_describe_list(local_service: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    uris = put_inputs(s3, bucket, 2)
    req = job_request("cli-job", uris, local_service.default_workteam_arn)
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps(req))
    created = aws(local_service, "create-labeling-job", "--cli-input-json", f"file://{spec}")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["LabelingJobArn"].endswith(":labeling-job/cli-job")

    described = aws(local_service, "describe-labeling-job", "--labeling-job-name", "cli-job")
    assert described.returncode == 0, described.stderr
    d = json.loads(described.stdout)
    assert d["LabelingJobName"] == "cli-job" and d["LabelAttributeName"] == "boxes"
    assert d["HumanTaskConfig"]["TaskTitle"] == "Drone boxes"

    listed = aws(local_service, "list-labeling-jobs", "--name-contains", "cli")
    assert listed.returncode == 0, listed.stderr
    assert [j["LabelingJobName"] for j in json.loads(listed.stdout)["LabelingJobSummaryList"]] == ["cli-job"]

    again = aws(local_service, "create-labeling-job", "--cli-input-json", f"file://{spec}")
    assert again.returncode != 0 and "ResourceInUse" in again.stderr

    stopped = aws(local_service, "stop-labeling-job", "--labeling-job-name", "cli-job")
    assert stopped.returncode == 0, stopped.stderr
    missing = aws(local_service, "describe-labeling-job", "--labeling-job-name", "nope")
    assert missing.returncode != 0 and "ResourceNotFound" in missing.stderr


def test_aws_cli_with_wrong_secret_is_refused(local_service: Any) -> None:
    env = {**os.environ, **local_service.env(), "AWS_SECRET_ACCESS_KEY": "wrong", "AWS_MAX_ATTEMPTS": "1"}
    out = subprocess.run([str(AWS), "sagemaker", "list-workteams", "--endpoint-url", local_service.sagemaker_endpoint],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "InvalidSignatureException" in out.stderr
