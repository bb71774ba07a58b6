"""End to end on the local Ground Truth service: simulated workers (one of them bad) label synthetic drone images
with known truth through the portal; the service consolidates with gtlabel.quality.consolidate and writes GT's
layout; then worker metrics, the report and an audit (adjustment) job run on that real output."""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import pytest
from _quality_sim import truth_error
from typer.testing import CliRunner

LABELS = ["drone", "vehicle", "person", "building"]
GOOD = [("ann", "pw-ann-123", 2.0), ("ben", "pw-ben-123", 2.0), ("cat", "pw-cat-123", 2.0)]
BAD = ("mal", "pw-mal-123", 0.12)


def _wait_done(sm: Any, name: str) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for _ in range(400):
        d = sm.describe_labeling_job(LabelingJobName=name)
        if d["LabelingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return d
        time.sleep(0.05)
    raise AssertionError(f"job {name} did not finish: {d.get('LabelingJobStatus')}")


@pytest.mark.slow
def test_quality_on_local_service_output(local_service: Any, tmp_path: Any) -> None:
    from gtlabel.jobs.build import prepare_job
    from gtlabel.jobs.spec import JobSpec, PrivateWorkforce
    from gtlabel.local.workforce import NoiseConfig, simulate
    from gtlabel.manifests import iter_output_manifest
    from gtlabel.quality.audit import audit
    from gtlabel.quality.workers import compute_worker_metrics, load_worker_answers
    from gtlabel.synth import make_image

    svc = local_service
    s3, sm = svc.client("s3"), svc.client("sagemaker")
    bucket = "quality-e2e"
    s3.create_bucket(Bucket=bucket)
    truth: dict[str, list[dict[str, Any]]] = {}
    lines = []
    for i in range(16):
        img = make_image(i, seed=21, width=320, height=240, empty_every=0, exif_every=0)
        key = f"images/{img.name}"
        s3.put_object(Bucket=bucket, Key=key, Body=img.jpeg)
        ref = f"s3://{bucket}/{key}"
        truth[ref] = [b.as_answer() for b in img.boxes]
        lines.append(json.dumps({"source-ref": ref}))
    s3.put_object(Bucket=bucket, Key="input.manifest", Body="\n".join(lines).encode())
    ids = {user: svc.add_worker(svc.default_team, user, pw) for user, pw, _ in [*GOOD, BAD]}

    spec = JobSpec(name="quality-e2e", input_manifest=f"s3://{bucket}/input.manifest",
                   output_path=f"s3://{bucket}/out/", labels=LABELS, workers_per_object=3,
                   workforce=PrivateWorkforce(workteam=svc.default_workteam_arn))
    sm.create_labeling_job(**prepare_job(spec, sm_client=sm).request)
    noise = NoiseConfig(jitter=0.06, jitter_px=0.5, miss_rate=0.1, false_box_rate=0.1, wrong_label_rate=0.03)
    res = simulate(svc.portal_url, "quality-e2e", [*GOOD, BAD], truth=truth, noise=noise, seed=3,
                   idle_timeout_s=20)
    assert res.submitted == 48 and res.errors == 0
    d = _wait_done(sm, "quality-e2e")
    assert d["LabelingJobStatus"] == "Completed", d.get("FailureReason")
    output = d["LabelingJobOutput"]["OutputDatasetS3Uri"]
    root = f"s3://{bucket}/out/quality-e2e"

    # worker metrics from the service's real worker-response / consolidation-request files
    answers = load_worker_answers(root)
    assert len(answers) == 48 and all(a.source_ref in truth for a in answers)
    records = list(iter_output_manifest(output))
    rep = compute_worker_metrics(answers, records, class_names=dict(enumerate(LABELS)))
    assert [w.worker_id for w in rep.flagged] == [ids["mal"]], [w.as_dict() for w in rep.workers]
    assert {w.worker_id for w in rep.workers} == set(ids.values())
    assert set(rep.workers_per_image.values()) == {3}

    # consensus beats single workers against the known truth
    by_ref = {r.source_ref: r for r in records}
    cons = [truth_error([{"label": LABELS[b.class_id], "left": b.left, "top": b.top, "width": b.width,
                          "height": b.height} for b in by_ref[ref].boxes], t) for ref, t in truth.items()]
    single = [truth_error([{"label": b.label, "left": b.left, "top": b.top, "width": b.width, "height": b.height}
                           for b in a.boxes], truth[a.source_ref]) for a in answers]
    assert statistics.mean(cons) < statistics.mean(single)
    assert all(0.0 <= (b.confidence or 0.0) <= 1.0 for r in records for b in r.boxes)

    # the report from the job prefix
    from gtlabel.cli import app

    r = CliRunner().invoke(app, ["report", root, "-o", str(tmp_path / "q.html"), "--labels", ",".join(LABELS)])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "q.json").read_text())
    assert data["summary"]["images"] == 16 and data["summary"]["flagged_workers"] == [ids["mal"]]

    # audit: the 4 lowest-confidence images -> an adjustment job the service accepts
    res_a = audit(output, f"s3://{bucket}/audit/sample.manifest", output_path=f"s3://{bucket}/audit-out/",
                  kind="adjustment", n=4, labels=LABELS,
                  spec_overrides={"name": "quality-e2e-audit",
                                  "workforce": {"type": "private", "workteam": svc.default_workteam_arn}},
                  sm_client=sm)
    assert len(res_a.items) == 4
    confs = [min((b.confidence or 0.0) for b in r.boxes) for r in records if r.boxes]
    assert res_a.items[-1].min_confidence is not None and res_a.items[-1].min_confidence <= sorted(confs)[3] + 1e-9
    sample = s3.get_object(Bucket=bucket, Key="audit/sample.manifest")["Body"].read().decode().splitlines()
    assert [json.loads(x)["source-ref"] for x in sample] == [i.source_ref for i in res_a.items]
    assert all("bounding-box" in json.loads(x) and "bounding-box-metadata" in json.loads(x) for x in sample)
    assert res_a.built is not None
    req = res_a.built.request
    assert req["LabelAttributeName"] == "bounding-box-adjusted"
    assert "AdjustmentBoundingBox" in req["HumanTaskConfig"]["PreHumanTaskLambdaArn"]
    sm.create_labeling_job(**req)
    assert sm.describe_labeling_job(LabelingJobName="quality-e2e-audit")["LabelingJobStatus"] in (
        "Initializing", "InProgress")
