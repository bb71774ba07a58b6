"""Pre-annotations: model boxes written in Ground Truth output format for an adjustment job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from gtlabel.cli import app
from gtlabel.errors import ConfigError, ManifestError
from gtlabel.manifests import iter_output_manifest
from gtlabel.model.common import ImageItem
from gtlabel.model.preannotate import (
    Detection,
    Prediction,
    class_index,
    detections_to_label,
    ground_truth_line,
    preannotate,
    validate_attribute,
)

MODEL_NAMES = {0: "drone", 1: "vehicle", 2: "person"}


# ----------------------------------------------------------------------------------------------- pure core
def test_detections_become_clipped_integer_gt_boxes_highest_confidence_first() -> None:
    pred = Prediction(100, 80, (
        Detection(0, "drone", 0.40, 10.4, 20.6, 30.5, 40.2),
        Detection(2, "person", 0.91, -5.0, 70.0, 12.0, 95.0),   # crosses the left and bottom edges
        Detection(1, "vehicle", 0.55, 50.0, 50.0, 50.3, 50.2),  # rounds to zero area: dropped
    ))
    label, objects, class_map, unmapped = detections_to_label(pred, {0: 0, 1: 1, 2: 2}, MODEL_NAMES)
    assert label == {"image_size": [{"width": 100, "height": 80, "depth": 3}], "annotations": [
        {"class_id": 2, "left": 0, "top": 70, "width": 12, "height": 10},
        {"class_id": 0, "left": 10, "top": 21, "width": 20, "height": 19},
    ]}
    assert objects == [{"confidence": 0.91}, {"confidence": 0.4}]
    assert class_map == {"0": "drone", "2": "person"} and unmapped == 0


def test_class_ids_follow_the_job_labels() -> None:
    mapping = class_index(MODEL_NAMES, ["person", "building", "drone"])
    assert mapping == {0: 2, 2: 0}  # vehicle is not a job label
    names = dict(enumerate(["person", "building", "drone"]))
    pred = Prediction(50, 50, (Detection(1, "vehicle", 0.9, 1, 1, 9, 9), Detection(0, "drone", 0.8, 1, 1, 9, 9)))
    label, _, class_map, unmapped = detections_to_label(pred, mapping, names)
    assert [a["class_id"] for a in label["annotations"]] == [2] and class_map == {"2": "drone"}
    assert unmapped == 1
    with pytest.raises(ConfigError, match="none of the model's classes"):
        class_index(MODEL_NAMES, ["cat"])
    with pytest.raises(ConfigError, match="unique"):
        class_index(MODEL_NAMES, ["drone", "drone"])


@pytest.mark.parametrize("name", ["x-metadata", "boxes-ref", "source-ref", "source", "-bad", "a b", "a" * 128])
def test_label_attribute_rules(name: str) -> None:
    with pytest.raises(ConfigError):
        validate_attribute(name)


def test_line_keeps_pass_through_keys_and_trims_to_the_attribute_limit() -> None:
    dets = tuple(Detection(0, "drone", 1.0 - i / 1000, i, i, i + 5, i + 5) for i in range(200))
    item = ImageItem(uri="s3://b/a.jpg", source_ref="s3://b/a.jpg",
                     extra={"batch": "b1", "prelabels": {"old": 1}, "prelabels-metadata": {"old": 1}})
    line, unmapped, trimmed = ground_truth_line(item, Prediction(300, 300, dets), attribute="prelabels",
                                                mapping={0: 0}, names={0: "drone"}, job_name="j",
                                                creation_date="2026-01-01T00:00:00.000000",
                                                max_attribute_chars=4000)
    assert line["batch"] == "b1" and "old" not in line["prelabels"]
    assert trimmed > 0 and unmapped == 0
    assert len(json.dumps(line["prelabels"], separators=(",", ":"))) <= 4000
    n = len(line["prelabels"]["annotations"])
    assert n == 200 - trimmed == len(line["prelabels-metadata"]["objects"])
    # what was kept is the most confident
    assert line["prelabels-metadata"]["objects"][0]["confidence"] == 1.0
    meta = line["prelabels-metadata"]
    assert meta["type"] == "groundtruth/object-detection" and meta["human-annotated"] == "no"
    assert meta["job-name"] == "j" and meta["creation-date"] == "2026-01-01T00:00:00.000000"


# ----------------------------------------------------------------------------------------------- with the model
def _rotated_jpeg(path: Path) -> None:
    """Stored 200x120 with EXIF orientation 6: shown (and labeled) as 120x200."""
    im = Image.new("RGB", (200, 120), (120, 120, 120))
    im.paste((230, 40, 40), (20, 20, 80, 60))
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(path, exif=exif)


def test_preannotate_folder_round_trips_through_the_output_parser(trained: dict[str, object], yolo_dataset: Path,
                                                                  tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for p in sorted((yolo_dataset.parent / "images" / "test").glob("*.jpg"))[:4]:
        (images / p.name).write_bytes(p.read_bytes())
    _rotated_jpeg(images / "rotated.jpg")
    out = tmp_path / "pre.manifest"
    s = preannotate(str(trained["weights"]), images, out, conf=0.0001, imgsz=160, max_det=5,
                    class_names=["person", "vehicle", "drone"], job_name="prelabel-job")
    assert s.images == 5 and s.boxes > 0  # a near-untrained model still yields low-confidence boxes
    records = list(iter_output_manifest(out, label_attribute="prelabels"))
    assert [r.source_ref for r in records] == sorted(f"images/{p.name}" for p in images.iterdir())
    auto = list(iter_output_manifest(out))  # the -metadata pairing finds the attribute by itself
    assert [r.label_attribute for r in auto] == ["prelabels"] * 5
    for rec in records:
        assert rec.human_annotated is False and rec.job_name == "prelabel-job"
        w, h = rec.image_size[:2] if rec.image_size else (0, 0)
        if rec.source_ref.endswith("rotated.jpg"):
            assert (w, h) == (120, 200)  # the displayed frame, not the stored 200x120
        for b in rec.boxes:
            assert b.left >= 0 and b.left + b.width <= w and b.top >= 0 and b.top + b.height <= h
            assert b.width >= 1 and b.height >= 1 and b.confidence is not None and 0 < b.confidence <= 1
            assert rec.class_map[b.class_id] == ["person", "vehicle", "drone"][b.class_id]
    assert sum(len(r.boxes) for r in records) == s.boxes


def test_preannotate_manifest_on_s3_keeps_keys(trained: dict[str, object], yolo_dataset: Path, bucket: str) -> None:
    from gtlabel import storage

    lines = []
    for i, p in enumerate(sorted((yolo_dataset.parent / "images" / "val").glob("*.jpg"))[:3]):
        storage.copy(str(p), f"s3://{bucket}/img/{p.name}")
        lines.append(json.dumps({"source-ref": f"s3://{bucket}/img/{p.name}", "batch": i}))
    storage.write_text(f"s3://{bucket}/in.manifest", "\n".join(lines) + "\n")
    s = preannotate(str(trained["weights"]), f"s3://{bucket}/in.manifest", f"s3://{bucket}/out.manifest",
                    attribute="model-boxes", conf=0.0001, imgsz=160, max_det=3)
    assert s.images == 3
    out = [json.loads(x) for x in storage.read_text(f"s3://{bucket}/out.manifest").splitlines()]
    assert [o["batch"] for o in out] == [0, 1, 2]
    assert all("model-boxes" in o and "model-boxes-metadata" in o for o in out)


def test_preannotate_bad_manifest_line_names_file_and_line(trained: dict[str, object], tmp_path: Path) -> None:
    bad = tmp_path / "in.manifest"
    bad.write_text('{"source-ref": "a.jpg"}\n{"nope": 1}\n')
    out = tmp_path / "out.manifest"
    with pytest.raises(ManifestError) as ei:
        preannotate(str(trained["weights"]), bad, out, imgsz=160)
    assert ei.value.line == 2 and ei.value.field == "source-ref"
    assert not out.exists()  # nothing half-written


def test_cli_preannotate(trained: dict[str, object], yolo_dataset: Path, tmp_path: Path) -> None:
    images = tmp_path / "imgs"
    images.mkdir()
    src = sorted((yolo_dataset.parent / "images" / "test").glob("*.jpg"))[0]
    (images / src.name).write_bytes(src.read_bytes())
    out = tmp_path / "pre.manifest"
    r = CliRunner().invoke(app, ["preannotate", str(trained["weights"]), str(images), "-o", str(out),
                                 "--conf", "0.0001", "--imgsz", "160", "--attribute", "draft"])
    assert r.exit_code == 0, r.output
    assert "1 image(s)" in r.output
    rec = json.loads(out.read_text())
    assert rec["draft-metadata"]["type"] == "groundtruth/object-detection"
    r = CliRunner().invoke(app, ["preannotate", str(trained["weights"]), str(images), "-o", str(out),
                                 "--attribute", "draft-ref"])
    assert r.exit_code == 3 and "-ref" in r.output
