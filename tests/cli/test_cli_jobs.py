"""``gtlabel job build``, ``job validate`` and ``estimate`` (cli/jobs.py) in-process (typer CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jobs_helpers import GOOD_REQUEST, ROLE, TEAM_ARN
from typer.testing import CliRunner

from gtlabel.cli import app


@pytest.fixture()
def role_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GTLABEL_ROLE_ARN", ROLE)
    monkeypatch.delenv("GTLABEL_REGION", raising=False)
    monkeypatch.delenv("GTLABEL_FACTS_DIR", raising=False)
    return ROLE


def _keys(s3: Any, bucket: str, prefix: str = "labels/") -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


runner = CliRunner()


def test_cli_estimate() -> None:
    r = runner.invoke(app, ["estimate", "--objects", "1000", "--workers", "3", "--workforce", "public",
                            "--price", "0.036"])
    assert r.exit_code == 0, r.output
    assert "$188.00" in r.output
    r = runner.invoke(app, ["estimate", "--objects", "1000", "--workers", "3", "--workforce", "public",
                            "--price", "0.036", "--budget", "100"])
    assert r.exit_code == 4 and "over budget" in r.output.lower()
    r = runner.invoke(app, ["estimate", "--objects", "10", "--workforce", "public", "--price", "0.05"])
    assert r.exit_code == 3 and "allowed" in r.output
    r = runner.invoke(app, ["estimate", "--objects", "10", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["total_usd"] == 0.8


def test_cli_validate(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(GOOD_REQUEST))
    r = runner.invoke(app, ["job", "validate", str(good), "--no-read-labels"])
    assert r.exit_code == 0 and "valid" in r.output
    bad_req = json.loads(json.dumps(GOOD_REQUEST))
    bad_req["LabelingJobName"] = "bad name"
    bad_req["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"] = 12
    bad_req["LabelAttributeName"] = "source-ref"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bad_req))
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"document-version": "2018-11-28", "labels": [{"label": "a"}, {"label": "a"}]}))
    r = runner.invoke(app, ["job", "validate", str(bad), "--labels-file", str(labels)])
    assert r.exit_code == 3
    for path in ("LabelingJobName", "HumanTaskConfig.NumberOfHumanWorkersPerDataObject", "LabelAttributeName",
                 "LabelCategoryConfigS3Uri.labels[1]"):
        assert path in r.output, path
    broken = tmp_path / "broken.json"
    broken.write_text('{"LabelingJobName": \n')
    r = runner.invoke(app, ["job", "validate", str(broken)])
    assert r.exit_code == 3 and "broken.json:2" in r.output
    r = runner.invoke(app, ["job", "validate", str(tmp_path / "missing.json")])
    assert r.exit_code == 5


def test_cli_build_spec_and_options(tmp_path: Path, bucket: str, s3: Any, role_env: str) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text(f"input_manifest: s3://{bucket}/in/input.manifest\noutput_path: s3://{bucket}/labels/\n"
                    f"labels: [drone, vehicle]\nheader: Box the drones\nworkers_per_object: 2\n")
    out = tmp_path / "request.json"
    r = runner.invoke(app, ["job", "build", str(spec), "-o", str(out), "--name", "cli-job-1", "--workteam", TEAM_ARN,
                            "--objects", "100", "--no-name-check", "--region", "us-east-1"])
    assert r.exit_code == 0, r.output
    req = json.loads(out.read_text())
    assert req["LabelingJobName"] == "cli-job-1" and req["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"] == 2
    assert "$8.00" in r.output  # the estimate table
    assert _keys(s3, bucket) == ["labels/cli-job-1/gtlabel/label-categories.json",
                                 "labels/cli-job-1/gtlabel/template.liquid.html"]
    r = runner.invoke(app, ["job", "validate", str(out), "--region", "us-east-1"])  # reads the uploaded labels
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["job", "build", str(spec), "--name", "cli-job-2", "--workteam", TEAM_ARN,
                            "--objects", "100", "--no-name-check", "--budget", "1", "--no-upload"])
    assert r.exit_code == 4 and "$8.00" in r.output
    r = runner.invoke(app, ["job", "build", "--input", f"s3://{bucket}/m.manifest", "--output-path",
                            f"s3://{bucket}/o/", "--label", "a", "--label", "a", "--workteam", TEAM_ARN,
                            "--no-name-check", "--objects", "1"])
    assert r.exit_code == 3 and "unique" in r.output


def test_cli_estimate_from_a_manifest(bucket: str, s3: Any) -> None:
    body = "".join(json.dumps({"source-ref": f"s3://{bucket}/img/{i}.jpg"}) + "\n" for i in range(30))
    s3.put_object(Bucket=bucket, Key="in/input.manifest", Body=body.encode())
    r = runner.invoke(app, ["estimate", "--manifest", f"s3://{bucket}/in/input.manifest", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["objects"] == 30 and json.loads(r.output)["total_usd"] == 2.4
    r = runner.invoke(app, ["estimate", "--manifest", f"s3://{bucket}/in/input.manifest", "--objects", "3"])
    assert r.exit_code == 3 and "exactly one" in r.output
    r = runner.invoke(app, ["estimate", "--manifest", f"s3://{bucket}/nope.manifest"])
    assert r.exit_code == 5
