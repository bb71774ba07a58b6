"""Audit: sample selection (lowest confidence / seeded random), byte-exact sample manifest, the job spec and
request from the core builder, and the CLI dry run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gtlabel.errors import ConfigError, InputError
from gtlabel.manifests import iter_output_manifest
from gtlabel.quality.audit import audit, audit_job_spec, select_sample, write_sample_manifest
from gtlabel.quality.validate import validate_records

NAMES = ["drone", "vehicle", "person", "building"]
TEAM = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/drone-team"
ROLE = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-GroundTruth"


def _manifest(tmp: Path) -> str:
    lines = []
    confs = [0.9, 0.3, 0.75, 0.5, 0.95, 0.1, 0.8, 0.6]
    for i, c in enumerate(confs):
        lines.append(json.dumps({
            "source-ref": f"s3://data/img{i}.jpg", "extra-key": i,
            "bounding-box": {"image_size": [{"width": 640, "height": 480, "depth": 3}],
                             "annotations": [{"class_id": i % 4, "left": 10, "top": 10, "width": 40, "height": 40},
                                             {"class_id": 0, "left": 200, "top": 10, "width": 40, "height": 40}]},
            "bounding-box-metadata": {"objects": [{"confidence": c}, {"confidence": 0.99}],
                                      "class-map": {str(i % 4): NAMES[i % 4], "0": "drone"},
                                      "type": "groundtruth/object-detection", "human-annotated": "yes"}},
            separators=(", ", ": ")))
    lines.append(json.dumps({"source-ref": "s3://data/failed.jpg", "bounding-box-metadata": {
        "failure-reason": "expired", "type": "groundtruth/object-detection"}}))
    p = tmp / "output.manifest"
    p.write_text("\n".join(lines) + "\n")
    return str(p)


def test_lowest_confidence_first(tmp_path: Path) -> None:
    recs = list(iter_output_manifest(_manifest(tmp_path)))
    items = select_sample(recs, n=3)
    assert [i.source_ref for i in items] == ["s3://data/img5.jpg", "s3://data/img1.jpg", "s3://data/img3.jpg"]
    assert items[0].min_confidence == 0.1 and "0.10" in items[0].reason
    # a fraction rounds (8 labeled images x 0.25 = 2)
    rep = validate_records(recs, class_names=NAMES)
    assert len(select_sample(recs, fraction=0.25, validation=rep)) == 2
    # findings break ties between equal confidences; they never outrank a lower confidence
    from types import SimpleNamespace

    def finding(ref: str) -> SimpleNamespace:
        return SimpleNamespace(source_ref=ref, severity="warning")

    confs = {i.source_ref: i.min_confidence for i in select_sample(recs, n=100)}
    high = max(confs, key=lambda r: confs[r] or 0)
    ties = [r for r in confs if confs[r] == confs[high]]
    flagged = SimpleNamespace(findings=[finding(high)] * 3)
    order = [i.source_ref for i in select_sample(recs, n=100, validation=flagged)]  # type: ignore[arg-type]
    assert order[0] == "s3://data/img5.jpg" and order.index(high) == min(order.index(r) for r in ties)
    assert "3 validation finding(s)" in next(i.reason for i in select_sample(
        recs, n=100, validation=flagged) if i.source_ref == high)  # type: ignore[arg-type]
    assert all("failed" not in i.source_ref for i in select_sample(recs, n=100))  # failed lines are left out
    assert len(select_sample(recs, n=100)) == 8


def test_random_is_seeded_and_order_free(tmp_path: Path) -> None:
    recs = list(iter_output_manifest(_manifest(tmp_path)))
    a = [i.source_ref for i in select_sample(recs, n=4, strategy="random", seed=7)]
    b = [i.source_ref for i in select_sample(list(reversed(recs)), n=4, strategy="random", seed=7)]
    c = [i.source_ref for i in select_sample(recs, n=4, strategy="random", seed=8)]
    assert a == b and a != c and len(set(a)) == 4


def test_bad_arguments(tmp_path: Path) -> None:
    recs = list(iter_output_manifest(_manifest(tmp_path)))
    with pytest.raises(ConfigError, match="exactly one"):
        select_sample(recs)
    with pytest.raises(ConfigError, match="exactly one"):
        select_sample(recs, n=1, fraction=0.5)
    with pytest.raises(ConfigError, match="fraction"):
        select_sample(recs, fraction=1.5)
    with pytest.raises(ConfigError, match="strategy"):
        select_sample(recs, n=1, strategy="worst")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no labeled images"):
        select_sample([r for r in recs if r.failed], n=1)


def test_sample_manifest_is_byte_exact(tmp_path: Path) -> None:
    src = _manifest(tmp_path)
    recs = list(iter_output_manifest(src))
    items = select_sample(recs, n=3)
    dest = tmp_path / "audit" / "sample.manifest"
    assert write_sample_manifest(items, str(dest)) == 3
    original = Path(src).read_text().splitlines()
    assert dest.read_text().splitlines() == [original[i.line - 1] for i in items]


def test_spec_and_request_for_verification(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = audit_job_spec("s3://b/audit.manifest", kind="verification", labels=NAMES, output_path="s3://b/out/",
                          prior_label_attribute_name="bounding-box", workers_per_object=3)
    assert spec.task_type == "VerificationBoundingBox" and spec.resolved_label_attribute_name == "bounding-box-verified"
    with pytest.raises(ConfigError, match="kind"):
        audit_job_spec("s3://b/a.manifest", kind="review", labels=NAMES, output_path="s3://b/o/",  # type: ignore[arg-type]
                       prior_label_attribute_name="bounding-box")
    monkeypatch.setenv("GTLABEL_ROLE_ARN", ROLE)
    res = audit(_manifest(tmp_path), str(tmp_path / "s.manifest"), output_path="s3://b/out/", kind="verification",
                n=2, labels=NAMES, spec_overrides={"name": "audit-verify-1", "input_manifest": "s3://b/s.manifest",
                                                  "workforce": {"type": "private", "workteam": TEAM}},
                upload=False, check_name=False)
    assert res.built is not None
    req = res.built.request
    assert req["LabelingJobName"] == "audit-verify-1"
    assert req["LabelAttributeName"] == "bounding-box-verified"
    assert req["HumanTaskConfig"]["WorkteamArn"] == TEAM
    assert "VerificationBoundingBox" in req["HumanTaskConfig"]["AnnotationConsolidationConfig"][
        "AnnotationConsolidationLambdaArn"]
    assert {"Key": "gtlabel:purpose", "Value": "audit-verification"} in req["Tags"]
    json.dumps(res.as_dict(), default=str)


def test_cli_dry_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gtlabel.cli import app

    monkeypatch.setenv("GTLABEL_ROLE_ARN", ROLE)
    out = tmp_path / "sample.manifest"
    r = CliRunner().invoke(app, ["audit", _manifest(tmp_path), "--manifest-out", str(out), "--output-path",
                                 "s3://b/audit/", "--sample", "2", "--labels", ",".join(NAMES), "--workteam", TEAM,
                                 "--name", "audit-dry-1"])
    assert r.exit_code == 3, r.output  # a local sample manifest is not a valid job input (must be s3://)
    assert "input_manifest" in r.output and not out.exists()  # nothing written for an invalid request
    r = CliRunner().invoke(app, ["audit", _manifest(tmp_path), "--manifest-out", str(out), "--output-path",
                                 "s3://b/audit/", "--sample", "2", "--strategy", "best"])
    assert r.exit_code == 3 and "--strategy" in r.output


def test_cli_dry_run_on_s3(bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3: Any) -> None:
    from gtlabel.cli import app

    monkeypatch.setenv("GTLABEL_ROLE_ARN", ROLE)
    src = _manifest(tmp_path)
    s3.put_object(Bucket=bucket, Key="job/manifests/output/output.manifest", Body=Path(src).read_bytes())
    r = CliRunner().invoke(app, ["audit", f"s3://{bucket}/job", "--manifest-out", f"s3://{bucket}/audit/s.manifest",
                                 "--output-path", f"s3://{bucket}/audit-out/", "--sample", "2", "--labels",
                                 ",".join(NAMES), "--workteam", TEAM, "--name", "audit-dry-2"])
    assert r.exit_code == 0, r.output
    assert "img5.jpg" in r.output and "dry run" in r.output and "bounding-box-adjusted" in r.output
    body = s3.get_object(Bucket=bucket, Key="audit/s.manifest")["Body"].read().decode().splitlines()
    assert [json.loads(x)["source-ref"] for x in body] == ["s3://data/img5.jpg", "s3://data/img1.jpg"]
