"""Helpers for the local-service tests: job inputs on S3, a valid CreateLabelingJob request, a scripted worker."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests
from PIL import Image

from gtlabel import facts

LABELS = ["drone", "vehicle", "person", "building"]
TEMPLATE = (Path(__file__).resolve().parents[2] / "src/gtlabel/templates/drone-bounding-box.liquid.html")


def png(width: int = 64, height: int = 48) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 60)).save(buf, format="PNG")
    return buf.getvalue()


def put_inputs(s3: Any, bucket: str, n_images: int = 3, *, labels: Sequence[str] = LABELS,
               extra_lines: Sequence[dict[str, Any]] = (), missing: Sequence[int] = (),
               template: str | None = None, prefix: str = "job") -> dict[str, str]:
    """Images, manifest, label file and template in ``bucket``; returns their URIs."""
    image = png()
    lines = []
    for i in range(n_images):
        key = f"{prefix}/images/img-{i:04d}.png"
        if i not in missing:
            s3.put_object(Bucket=bucket, Key=key, Body=image)
        lines.append({"source-ref": f"s3://{bucket}/{key}", "site": f"field-{i % 2}"})
    lines.extend(extra_lines)
    s3.put_object(Bucket=bucket, Key=f"{prefix}/input.manifest",
                  Body="".join(json.dumps(x) + "\n" for x in lines).encode())
    s3.put_object(Bucket=bucket, Key=f"{prefix}/labels.json",
                  Body=json.dumps({"document-version": "2018-11-28", "labels": [{"label": x} for x in labels]}).encode())
    if template is None:
        template = (TEMPLATE.read_text()
                    .replace("__GTLABEL_HEADER__", "Draw a box around each object")
                    .replace("__GTLABEL_SHORT_INSTRUCTIONS__", "<p>Tight boxes.</p>")
                    .replace("__GTLABEL_FULL_INSTRUCTIONS__", "<p>Box every drone, vehicle, person and building.</p>")
                    .replace("__GTLABEL_INITIAL_VALUE__", ""))
    s3.put_object(Bucket=bucket, Key=f"{prefix}/template.liquid.html", Body=template.encode())
    return {
        "manifest": f"s3://{bucket}/{prefix}/input.manifest",
        "labels": f"s3://{bucket}/{prefix}/labels.json",
        "template": f"s3://{bucket}/{prefix}/template.liquid.html",
        "output": f"s3://{bucket}/{prefix}/output",
    }


def job_request(name: str, uris: dict[str, str], workteam_arn: str, *, workers: int = 1, region: str = "us-east-1",
                task_type: str = "BoundingBox", attr: str = "boxes", **hc_extra: Any) -> dict[str, Any]:
    hc: dict[str, Any] = {
        "WorkteamArn": workteam_arn,
        "UiConfig": {"UiTemplateS3Uri": uris["template"]},
        "PreHumanTaskLambdaArn": facts.pre_lambda_arn(region, task_type),
        "TaskTitle": "Drone boxes",
        "TaskDescription": "Draw a box around each drone, vehicle, person and building",
        "NumberOfHumanWorkersPerDataObject": workers,
        "TaskTimeLimitInSeconds": 300,
        "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": facts.acs_lambda_arn(region, task_type)},
    }
    hc.update(hc_extra)
    return {
        "LabelingJobName": name,
        "LabelAttributeName": attr,
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": uris["manifest"]}}},
        "OutputConfig": {"S3OutputPath": uris["output"]},
        "RoleArn": "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-GroundTruthExecutionRole",
        "LabelCategoryConfigS3Uri": uris["labels"],
        "HumanTaskConfig": hc,
    }


class Worker:
    """A scripted worker on the portal's HTTP API (requests.Session with the cookie jar)."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.base = base.rstrip("/")
        self.http = requests.Session()
        self.username = username
        page = self.http.get(f"{self.base}/login", timeout=10)
        m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert m, page.text
        r = self.http.post(f"{self.base}/login", data={"username": username, "password": password,
                                                       "csrf_token": m.group(1)}, allow_redirects=False, timeout=10)
        self.login_status = r.status_code
        me = self.http.get(f"{self.base}/api/me", timeout=10)
        self.csrf = me.json()["csrf_token"] if me.status_code == 200 else ""

    def next_task(self, job: str) -> dict[str, Any]:
        r = self.http.post(f"{self.base}/api/next-task", params={"job": job}, json={}, timeout=10,
                           headers={"X-CSRF-Token": self.csrf})
        r.raise_for_status()
        return dict(r.json())

    def post(self, url: str, body: Any, csrf: str | None = None) -> requests.Response:
        return self.http.post(f"{self.base}{url}", json=body, timeout=10,
                              headers={"X-CSRF-Token": self.csrf if csrf is None else csrf})

    def submit(self, task: dict[str, Any], boxes: list[dict[str, Any]], size: tuple[int, int] = (64, 48)) -> requests.Response:
        answer = {"boundingBox": {"boundingBoxes": boxes,
                                  "inputImageProperties": {"width": size[0], "height": size[1]}}}
        return self.post(str(task["submit_url"]), answer)
