"""gtlabel.interchange.import_labels: COCO / VOC / YOLO labels -> a Ground Truth output manifest that is (a) the
prior label of an adjustment job (its spec validates offline and the template preloads the boxes) and (b) a
manifest the converter turns into a dataset; class mapping, aliases, predictions, bad input, atomic output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from interchange_helpers import LABELS, make_image

from gtlabel.convert import convert_ground_truth_to_yolo, preflight_dataset
from gtlabel.errors import ConfigError, InputError, LabelError
from gtlabel.interchange import import_labels
from gtlabel.jobs.build import artifact_uris, build_request
from gtlabel.jobs.spec import JobSpec
from gtlabel.jobs.template import render_worker_template
from gtlabel.jobs.validate import validate_create_labeling_job
from gtlabel.jobs.workforce import ResolvedWorkforce
from gtlabel.manifests import iter_output_manifest

GOLDEN = Path(__file__).parents[1] / "formats" / "golden"
ROLE = "arn:aws:iam::123456789012:role/GroundTruthExecution"
TEAM = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/drone-team"


def _coco_set(tmp: Path) -> Path:
    """The golden COCO file with its images (640x480 and 480x640) under tmp/images/flight1/."""
    shutil.copy(GOLDEN / "coco-small.json", tmp / "coco.json")
    make_image(tmp / "images" / "flight1" / "DJI_0001.JPG", (640, 480))
    make_image(tmp / "images" / "flight1" / "DJI_0002.JPG", (480, 640))
    return tmp / "coco.json"


def test_coco_import_keeps_scores_marks_predictions_and_maps_to_the_job_labels(tmp_path: Path) -> None:
    src = _coco_set(tmp_path)
    rep = import_labels("coco", src, tmp_path / "imported.manifest", labels=LABELS, images=str(tmp_path / "images"),
                        label_attribute="vendor-boxes")
    assert (rep.images, rep.boxes, rep.crowd_skipped, rep.predicted_images) == (2, 3, 1, 1)
    lines = [orjson.loads(x) for x in (tmp_path / "imported.manifest").read_bytes().splitlines()]
    assert lines[0]["source-ref"] == "images/flight1/DJI_0001.JPG"
    assert lines[0]["vendor-boxes"] == {"image_size": [{"width": 640, "height": 480, "depth": 3}], "annotations": [
        {"class_id": 2, "left": 100, "top": 120, "width": 50.5, "height": 40},
        {"class_id": 0, "left": 0, "top": 0, "width": 640, "height": 480}]}
    meta = lines[0]["vendor-boxes-metadata"]
    assert meta["class-map"] == {"0": "drone", "2": "person"} and meta["human-annotated"] == "yes"
    assert meta["type"] == "groundtruth/object-detection" and meta["job-name"] == "labeling-job/gtlabel-import"
    meta1 = lines[1]["vendor-boxes-metadata"]
    assert meta1["human-annotated"] == "no" and meta1["objects"] == [{"confidence": 0.87}]
    recs = list(iter_output_manifest(tmp_path / "imported.manifest"))
    assert [b.confidence for b in recs[1].boxes] == [0.87] and recs[1].human_annotated is False


def test_imported_manifest_is_the_prior_label_of_an_adjustment_job(tmp_path: Path) -> None:
    src = _coco_set(tmp_path)
    import_labels("coco", src, tmp_path / "prior.manifest", labels=LABELS, images="s3://data-bucket/raw",
                  label_attribute="vendor-boxes")
    spec = JobSpec.model_validate({
        "input_manifest": "s3://data-bucket/in/prior.manifest", "output_path": "s3://data-bucket/labels/",
        "labels": LABELS, "role_arn": ROLE, "region": "us-east-1", "task_type": "AdjustmentBoundingBox",
        "prior_label_attribute_name": "vendor-boxes", "workforce": {"type": "private", "workteam": TEAM}})
    name = "vendor-review-20261206-000000"
    label_uri, tpl_uri = artifact_uris(spec.output_path, name)
    request = dict(build_request(spec, job_name=name, region="us-east-1", role_arn=ROLE,
                                 workforce=ResolvedWorkforce("private", TEAM), label_config_uri=label_uri,
                                 template_uri=tpl_uri))
    assert request["LabelAttributeName"] == "vendor-boxes-adjusted"
    assert validate_create_labeling_job(request, region="us-east-1", labels=LABELS,
                                        prior_label_attribute_name="vendor-boxes") == []
    # the worker template preloads the imported boxes, named through the line's class-map
    liquid = pytest.importorskip("liquid")
    env = liquid.Environment()
    env.filters["to_json"] = json.dumps
    env.filters["grant_read_access"] = lambda uri: uri
    line = orjson.loads((tmp_path / "prior.manifest").read_bytes().splitlines()[0])
    assert line["source-ref"] == "s3://data-bucket/raw/flight1/DJI_0001.JPG"
    page = env.from_string(render_worker_template(header="Fix", task_type="AdjustmentBoundingBox",
                                                  prior_label_attribute_name="vendor-boxes")).render(
        task={"input": {"taskObject": line["source-ref"], "labels": LABELS, "manifestLine": line}})
    start = page.index('initial-value="') + len('initial-value="')
    value = json.loads(page[start:page.index('"', start)].replace("&quot;", '"'))
    assert value == [{"label": "person", "left": 100, "top": 120, "width": 50.5, "height": 40},
                     {"label": "drone", "left": 0, "top": 0, "width": 640, "height": 480}]


def test_imported_manifest_converts_to_a_dataset(tmp_path: Path) -> None:
    src = _coco_set(tmp_path)
    import_labels("coco", src, tmp_path / "imported.manifest", labels=LABELS, images=str(tmp_path / "images"))
    rep = convert_ground_truth_to_yolo(tmp_path / "imported.manifest", tmp_path / "ds", LABELS, progress=False)
    assert (rep.images, rep.boxes_written) == (2, 3)
    assert rep.labeled_by == {"human": 1, "auto": 1}
    assert rep.class_counts == {"drone": 1, "vehicle": 1, "person": 1, "building": 0}
    assert preflight_dataset(tmp_path / "ds", len(LABELS)) == []


def test_unknown_classes_error_drop_or_alias(tmp_path: Path) -> None:
    src = _coco_set(tmp_path)
    dest = tmp_path / "m.manifest"
    with pytest.raises(LabelError, match="'vehicle' is not one of the job's labels") as info:
        import_labels("coco", src, dest, labels=["drone", "person"])
    assert info.value.file == str(src) and info.value.field == "annotations[3] (id 4).category_id"
    assert not dest.exists()
    rep = import_labels("coco", src, dest, labels=["drone", "person"], drop_unknown=True)
    assert rep.dropped_unknown == {"vehicle": 1} and rep.boxes == 2
    rep = import_labels("coco", src, dest, labels=["aircraft", "car"], aliases=["drone=aircraft", "person=car",
                                                                               "vehicle=car"])
    assert rep.class_counts == {"aircraft": 1, "car": 2}
    rep = import_labels("coco", src, dest, aliases={"person": "vehicle"})  # default labels: the source's, aliased
    assert rep.labels == ["drone", "vehicle"]


def _voc(name: str, filename: str, boxes: list[tuple[str, int, int, int, int]], size: tuple[int, int] = (64, 48)
         ) -> bytes:
    objs = "".join(f"<object><name>{n}</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax>"
                   f"<ymax>{d}</ymax></bndbox></object>" for n, a, b, c, d in boxes)
    return (f"<annotation><folder>JPEGImages</folder><filename>{filename}</filename><size><width>{size[0]}</width>"
            f"<height>{size[1]}</height><depth>3</depth></size>{objs}</annotation>").encode()


def test_voc_import_sizes_duplicates_and_outside_boxes(tmp_path: Path) -> None:
    ann = tmp_path / "VOC" / "Annotations"
    ann.mkdir(parents=True)
    (ann / "a.xml").write_bytes(_voc("a", "a.jpg", [("car", 1, 1, 64, 48), ("person", 11, 21, 20, 40)]))
    (ann / "b.xml").write_bytes(_voc("b", "b.jpg", []))
    rep = import_labels("voc", ann, tmp_path / "m.manifest", images=str(tmp_path / "VOC" / "JPEGImages"))
    assert (rep.images, rep.boxes, rep.labels) == (2, 2, ["car", "person"])
    first = orjson.loads((tmp_path / "m.manifest").read_bytes().splitlines()[0])
    assert first["source-ref"] == "VOC/JPEGImages/a.jpg"
    assert first["imported"]["annotations"] == [{"class_id": 0, "left": 0, "top": 0, "width": 64, "height": 48},
                                                {"class_id": 1, "left": 10, "top": 20, "width": 10, "height": 20}]
    # no <size>: read from the image (and the box checked against it)
    (ann / "d.xml").write_bytes(_voc("d", "d.jpg", [("car", 1, 1, 30, 20)]).replace(
        b"<size><width>64</width><height>48</height><depth>3</depth></size>", b""))
    with pytest.raises(LabelError, match="no size given") as info:
        import_labels("voc", ann, tmp_path / "m.manifest", images=str(tmp_path / "VOC" / "JPEGImages"))
    assert info.value.field == "size" and str(info.value.file).endswith("d.xml")
    make_image(tmp_path / "VOC" / "JPEGImages" / "d.jpg", (40, 30), orientation=6)  # displayed 30 x 40
    import_labels("voc", ann, tmp_path / "m.manifest", images=str(tmp_path / "VOC" / "JPEGImages"))
    last = orjson.loads((tmp_path / "m.manifest").read_bytes().splitlines()[-1])
    assert last["imported"]["image_size"] == [{"width": 30, "height": 40, "depth": 3}]
    (ann / "d.xml").unlink()
    (ann / "c.xml").write_bytes(_voc("c", "a.jpg", []))
    with pytest.raises(LabelError, match="annotated twice") as info:
        import_labels("voc", ann, tmp_path / "n.manifest")
    assert info.value.file is not None and info.value.file.endswith("c.xml") and "a.xml" in str(info.value)
    (ann / "c.xml").write_bytes(_voc("c", "c.jpg", [("car", 1, 1, 65, 48)]))
    with pytest.raises(LabelError, match="outside the image") as info:
        import_labels("voc", ann, tmp_path / "n.manifest")
    assert info.value.field == "object[0].bndbox"
    assert not (tmp_path / "n.manifest").exists()


def test_yolo_import_reads_sizes_from_the_images_and_a_confidence_column(tmp_path: Path) -> None:
    root = tmp_path / "yolo"
    make_image(root / "images" / "train" / "a.jpg", (64, 48))
    make_image(root / "images" / "train" / "b.jpg", (64, 48), orientation=6)  # displayed 48x64
    make_image(root / "images" / "val" / "c.jpg", (64, 48))
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.25 0.5\n")
    (root / "labels" / "train" / "b.txt").write_text("1 0.5 0.5 1 0.5 0.75\n")
    (root / "data.yaml").write_text("names: {0: drone, 1: vehicle}\ntrain: images/train\nval: images/val\n")
    rep = import_labels("yolo", root, tmp_path / "m.manifest", labels=LABELS)
    assert (rep.images, rep.boxes, rep.predicted_images) == (3, 2, 1)
    recs = list(iter_output_manifest(tmp_path / "m.manifest"))
    assert [r.source_ref for r in recs] == ["yolo/images/train/a.jpg", "yolo/images/train/b.jpg",
                                            "yolo/images/val/c.jpg"]
    assert recs[0].image_size == (64, 48, 3) and tuple(recs[0].boxes[0])[:5] == (0, 24, 12, 16, 24)
    assert recs[1].image_size == (48, 64, 3) and tuple(recs[1].boxes[0]) == (1, 0, 16, 48, 32, 0.75)
    assert recs[2].boxes == []
    (root / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.25 0.5\n7 0.5 0.5 0.1 0.1\n")
    with pytest.raises(LabelError, match=r"0\.\.1") as info:
        import_labels("yolo", root, tmp_path / "n.manifest", labels=LABELS)
    assert info.value.line == 2 and str(info.value.file).endswith("labels/train/a.txt")


def test_source_refs_stay_inside_and_options_are_checked(tmp_path: Path) -> None:
    src = _coco_set(tmp_path)
    doc: dict[str, Any] = json.loads(src.read_text())
    doc["images"][0]["file_name"] = "../../etc/passwd.jpg"
    src.write_text(json.dumps(doc))
    with pytest.raises(LabelError, match=r"\.\.") as info:
        import_labels("coco", src, tmp_path / "m.manifest")
    assert info.value.field == "file_name"
    with pytest.raises(ConfigError, match="inside"):
        import_labels("coco", src, tmp_path / "sub" / "m.manifest", images=str(tmp_path / "images"))
    with pytest.raises(ConfigError, match="label attribute"):
        import_labels("coco", src, tmp_path / "m.manifest", label_attribute="x-metadata")
    with pytest.raises(ConfigError, match="unknown format"):
        import_labels("csv", src, tmp_path / "m.manifest")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"data\.yaml"):
        import_labels("yolo", tmp_path / "images", tmp_path / "m.manifest")
    assert not (tmp_path / "m.manifest").exists()
