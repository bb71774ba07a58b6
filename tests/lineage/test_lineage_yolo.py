"""gtlabel.lineage on datasets written by the real converter (gtlabel.convert.convert_ground_truth_to_yolo),
on local disk and on S3 (moto): show, verify (clean and tampered), diff, and the recomputed version id."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from gtlabel import lineage, storage
from gtlabel.cli import app
from gtlabel.convert import convert_ground_truth_to_yolo

JOB = "labeling-job/drones-2026-11-25"


def _jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (i * 37 % 256, 90, 160)).save(buf, "JPEG")
    return buf.getvalue()


def _line(ref: str, boxes: list[tuple[int, int, int, int, int]], job: str = JOB) -> str:
    return json.dumps({
        "source-ref": ref,
        "boxes": {"image_size": [{"width": 64, "height": 48, "depth": 3}],
                  "annotations": [{"class_id": c, "left": x, "top": y, "width": w, "height": h}
                                  for c, x, y, w, h in boxes]},
        "boxes-metadata": {"objects": [{"confidence": 0.9}] * len(boxes), "class-map": {"0": "car", "1": "person"},
                           "type": "groundtruth/object-detection", "human-annotated": "yes",
                           "creation-date": "2026-11-25T05:00:00.000000", "job-name": job},
    })


def _make_job_output(src: str, n: int, *, changed: int | None = None, extra: int = 0) -> str:
    """Images under ``src/images`` and an output manifest at ``src/output.manifest``; returns its URI."""
    lines = []
    for i in range(n + extra):
        path = storage.join(src, "images", f"img{i:03d}.jpg")
        storage.write_bytes(path, _jpeg(i))
        ref = path if storage.is_s3(src) else f"images/img{i:03d}.jpg"  # local manifests: relative refs
        boxes = [(i % 2, 5, 5, 20, 10)] if i % 5 else []
        if i == changed:
            boxes = [(1, 30, 20, 10, 10)]
        lines.append(_line(ref, boxes))
    manifest = storage.join(src, "output.manifest")
    storage.write_text(manifest, "\n".join(lines) + "\n")
    return manifest


@pytest.fixture(params=["local", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "local":
        return str(tmp_path / "ds"), str(tmp_path / "job")
    b = request.getfixturevalue("bucket")
    return f"s3://{b}/datasets/drones", f"s3://{b}/job"


def test_real_dataset_show_and_verify(where: tuple[str, str]) -> None:
    root, src = where
    manifest = _make_job_output(src, 12)
    rep = convert_ground_truth_to_yolo(manifest, root, ["car", "person"], progress=False)
    lin = lineage.load(root)
    assert lin.version == rep.version
    assert lineage.recompute_version(lin) == rep.version  # the payload gtlabel.convert hashes, rebuilt
    ref = storage.join(src, "images", "img007.jpg")
    [rec] = lineage.find_images(lin, ref)
    p = lineage.provenance(lin, rec)
    assert p["source"]["uri"] == ref
    assert p["source"]["ref"] == (ref if storage.is_s3(ref) else "images/img007.jpg")
    assert p["source"]["etag"] == storage.head(ref, hash_local=True).etag
    assert p["jobs"] == [JOB] and p["manifest"]["uri"] == manifest and p["manifest"]["etag"]
    assert p["settings"]["splits"] == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert p["package_version"] and p["names"] == {"0": "car", "1": "person"}
    [by_name] = lineage.find_images(lin, rec.name)
    assert by_name == rec

    clean = lineage.verify(root)
    assert clean.ok, clean.summary()
    assert (clean.labels_checked, clean.images_checked, clean.sources_checked) == (12, 12, 12)

    # an image changed after conversion: named, non-zero exit
    tampered = lin.path(rec.image)
    storage.write_bytes(tampered, _jpeg(99))
    r = CliRunner().invoke(app, ["lineage", "verify", root])
    assert r.exit_code == 3
    assert tampered in r.output.replace("\n", "") and "image-changed" in r.output
    # and a label
    lbl = lin.path(lin.images[0].label)
    storage.write_bytes(lbl, b"0 0.5 0.5 0.9 0.9\n")
    kinds = {(p.kind, p.file) for p in lineage.verify(root).problems}
    assert kinds == {("image-changed", tampered), ("label-changed", lbl)}


def test_real_datasets_diff(tmp_path: Path) -> None:
    src1 = str(tmp_path / "job1")
    m1 = _make_job_output(src1, 10)
    a = convert_ground_truth_to_yolo(m1, tmp_path / "v1", ["car", "person"], progress=False)
    b = convert_ground_truth_to_yolo(m1, tmp_path / "v2", ["car", "person"], seed=5, progress=False)
    d = lineage.diff(lineage.load(tmp_path / "v1"), lineage.load(tmp_path / "v2"))
    assert (d.version_a, d.version_b) == (a.version, b.version) and a.version != b.version
    assert d.settings == {"seed": {"before": 0, "after": 5}}
    assert not d.added and not d.removed and all(c.what == ["split"] for c in d.changed)
    # the job's output again after an adjustment: one image's boxes changed, two images added
    m2 = _make_job_output(src1, 10, changed=3, extra=2)
    c = convert_ground_truth_to_yolo(m2, tmp_path / "v3", ["car", "person", "truck"], progress=False)
    d = lineage.diff(lineage.load(tmp_path / "v1"), lineage.load(tmp_path / "v3"))
    images = str(tmp_path / "job1" / "images")
    assert d.added == [f"{images}/img010.jpg", f"{images}/img011.jpg"] and d.removed == []
    assert [(ch.source_ref, ch.what) for ch in d.changed] == [(f"{images}/img003.jpg", ["label"])]
    assert d.classes["added"] == ["truck"] and d.other["manifest"]["before"]["etag"] != d.other["manifest"]["after"]["etag"]
    assert lineage.load(tmp_path / "v3").version == c.version


def test_recomputed_version_with_an_image_moved_to_val(tmp_path: Path) -> None:
    """Tiny sets: when hashing leaves val empty the converter moves one train image there; the version id
    is still recomputed exactly (the move is undone for hashing)."""
    src = str(tmp_path / "job")
    manifest = _make_job_output(src, 3)
    for seed in range(50):
        out = tmp_path / f"ds{seed}"
        rep = convert_ground_truth_to_yolo(manifest, out, ["car", "person"], splits=(0.95, 0.05, 0.0), seed=seed,
                                           progress=False)
        if any("moved" in w for w in rep.warnings):
            break
    else:
        pytest.fail("no seed made the converter move an image to val")
    lin = lineage.load(out)
    assert [r.split for r in lin.images].count("val") == 1
    assert lineage.recompute_version(lin) == rep.version
    assert lineage.verify(out).ok


def test_real_dataset_without_copied_images(tmp_path: Path) -> None:
    src = str(tmp_path / "job")
    manifest = _make_job_output(src, 6)
    out = tmp_path / "ds"
    convert_ground_truth_to_yolo(manifest, out, ["car", "person"], copy_images=False, progress=False)
    rep = lineage.verify(out, sources=False)  # sources are still checked: they are the dataset's images
    assert rep.ok and rep.sources_checked == 6 and rep.images_checked == 0
    assert any("copy_images=false" in n for n in rep.notes)
    storage.write_bytes(str(tmp_path / "job" / "images" / "img002.jpg"), _jpeg(50))
    probs: list[Any] = lineage.verify(out).problems
    assert [(p.kind, Path(p.file).name) for p in probs] == [("source-changed", "img002.jpg")]


def test_lineage_records_quality_summary_and_job_settings(tmp_path: Path) -> None:
    import boto3
    from botocore.stub import Stubber

    manifest = _make_job_output(str(tmp_path / "src"), 6)
    report_json = tmp_path / "quality-report.json"
    report_json.write_text(json.dumps({"summary": {"images": 6, "mean_confidence": 0.81,
                                                   "findings_by_code": {"box.tiny": 1}}}))
    sm = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    arn = "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/drones-2026-11-25"
    with Stubber(sm) as stub:
        stub.add_response("describe_labeling_job", {
            "LabelingJobStatus": "Completed", "LabelCounters": {"TotalLabeled": 6}, "CreationTime": "2026-11-25",
            "LastModifiedTime": "2026-11-25", "JobReferenceCode": "x", "LabelingJobName": "drones-2026-11-25",
            "LabelingJobArn": arn, "LabelAttributeName": "boxes",
            "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://b/in.manifest"}}},
            "OutputConfig": {"S3OutputPath": "s3://b/out/"}, "RoleArn": "arn:aws:iam::123456789012:role/r",
            "HumanTaskConfig": {
                "WorkteamArn": "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/t",
                "UiConfig": {"UiTemplateS3Uri": "s3://b/t.liquid"}, "TaskTitle": "t", "TaskDescription": "d",
                "NumberOfHumanWorkersPerDataObject": 3, "TaskTimeLimitInSeconds": 600,
                "PreHumanTaskLambdaArn": "arn:aws:lambda:us-east-1:432418664414:function:PRE-BoundingBox",
                "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn":
                                                  "arn:aws:lambda:us-east-1:432418664414:function:ACS-BoundingBox"}},
        }, {"LabelingJobName": "drones-2026-11-25"})
        rep = convert_ground_truth_to_yolo(manifest, tmp_path / "ds", ["car", "person"], quality=str(report_json),
                                           describe_jobs=True, sm_client=sm, progress=False)
        stub.assert_no_pending_responses()
    head = json.loads((tmp_path / "ds" / "lineage.json").read_text())
    assert head["quality"] == {"images": 6, "mean_confidence": 0.81, "report": str(report_json)}
    job = head["job_details"]["drones-2026-11-25"]
    assert job["LabelingJobArn"] == arn and job["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"] == 3
    assert job["HumanTaskConfig"]["UiConfig"] == {"UiTemplateS3Uri": "s3://b/t.liquid"}
    assert lineage.provenance(lineage.load(tmp_path / "ds"))["job_details"]["drones-2026-11-25"]["RoleArn"]
    res = CliRunner(env={"COLUMNS": "400"}).invoke(app, ["lineage", "show", str(tmp_path / "ds")])
    assert res.exit_code == 0 and f"job drones-2026-11-25 {arn}" in " ".join(res.output.split())
    # the summary describes the labels; it is not part of the version id
    again = convert_ground_truth_to_yolo(manifest, tmp_path / "ds2", ["car", "person"], progress=False)
    assert again.version == rep.version

    # a job that cannot be described is a warning, not a failed dataset; a bad report is a clear error
    with Stubber(sm) as stub:
        stub.add_client_error("describe_labeling_job", "ResourceNotFound", "no such job")
        rep3 = convert_ground_truth_to_yolo(manifest, tmp_path / "ds3", ["car", "person"], describe_jobs=True,
                                            sm_client=sm, progress=False)
    assert any("drones-2026-11-25: not described (ResourceNotFound" in w for w in rep3.warnings)
    (tmp_path / "bad.json").write_text("[1, 2]")
    from gtlabel.errors import ConfigError

    with pytest.raises(ConfigError, match=r"bad\.json has no 'summary' object"):
        convert_ground_truth_to_yolo(manifest, tmp_path / "ds4", ["car", "person"], quality=str(tmp_path / "bad.json"),
                                     progress=False)
    assert not (tmp_path / "ds4").exists()
