"""``gtlabel import yolo|coco|voc`` and ``gtlabel export coco|voc`` in-process (typer CliRunner)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import orjson
from PIL import Image
from typer.testing import CliRunner

from gtlabel.cli import Exit, app

runner = CliRunner()
GOLDEN = Path(__file__).parents[1] / "formats" / "golden"


def test_import_coco_then_export_coco_and_voc(tmp_path: Path) -> None:
    shutil.copy(GOLDEN / "coco-small.json", tmp_path / "coco.json")
    (tmp_path / "job.yaml").write_text("input_manifest: s3://b/in.manifest\noutput_path: s3://b/out/\n"
                                       "labels: [drone, vehicle, person, building]\n")
    res = runner.invoke(app, ["import", "coco", str(tmp_path / "coco.json"), "--to", str(tmp_path / "m.manifest"),
                              "--job-config", str(tmp_path / "job.yaml"), "--images", "s3://b/raw/",
                              "--label-attribute", "vendor", "--json"])
    assert res.exit_code == Exit.OK, res.output
    report = orjson.loads(res.output)
    assert report["images"] == 2 and report["labels"] == ["drone", "vehicle", "person", "building"]
    first = orjson.loads((tmp_path / "m.manifest").read_bytes().splitlines()[0])
    assert first["source-ref"] == "s3://b/raw/flight1/DJI_0001.JPG" and "vendor-metadata" in first

    res = runner.invoke(app, ["export", "coco", str(tmp_path / "m.manifest"), str(tmp_path / "out.json"),
                              "--alias", "person=drone", "--classes", "drone,vehicle,person,building"])
    assert res.exit_code == Exit.OK, res.output
    assert "2 images, 3 boxes, 3 classes" in res.output
    doc = json.loads((tmp_path / "out.json").read_text())
    assert [c["name"] for c in doc["categories"]] == ["drone", "vehicle", "building"]
    res = runner.invoke(app, ["export", "voc", str(tmp_path / "m.manifest"), str(tmp_path / "voc")])
    assert res.exit_code == Exit.OK, res.output
    assert len(list((tmp_path / "voc").glob("*.xml"))) == 2
    res = runner.invoke(app, ["import", "voc", str(tmp_path / "voc"), "--to", str(tmp_path / "v.manifest"),
                              "--labels", "drone", "--drop-unknown"])
    assert res.exit_code == Exit.OK and "boxes of unknown classes dropped" in res.output


def test_cli_errors_name_the_file_and_field(tmp_path: Path) -> None:
    doc = json.loads((GOLDEN / "coco-small.json").read_text())
    doc["annotations"][1]["image_id"] = 42
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    res = runner.invoke(app, ["import", "coco", str(tmp_path / "bad.json"), "--to", str(tmp_path / "m.manifest")])
    assert res.exit_code == Exit.INVALID
    assert "bad.json" in res.output and "annotations[1] (id 2).image_id" in res.output
    assert not (tmp_path / "m.manifest").exists()
    res = runner.invoke(app, ["import", "coco", str(tmp_path / "bad.json"), "--to", "x", "--alias", "car"])
    assert res.exit_code == Exit.INVALID and "NAME=TARGET" in res.output
    res = runner.invoke(app, ["import", "yolo", "--help"])
    assert res.exit_code == Exit.OK and "data.yaml" in res.output


def test_import_coco_to_yolo(tmp_path: Path) -> None:
    """``import coco --to-yolo``: a dataset with the images linked; errors for a wrong combination."""
    doc = json.loads((GOLDEN / "coco-small.json").read_text())
    root = tmp_path / "raw"
    for im in doc["images"]:
        (root / im["file_name"]).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (im["width"], im["height"])).save(root / im["file_name"], "JPEG")
    (tmp_path / "coco.json").write_text(json.dumps(doc))
    res = runner.invoke(app, ["import", "coco", str(tmp_path / "coco.json"), "--to-yolo", str(tmp_path / "ds"),
                              "--images", str(root), "--split", "1,0", "--labels", "drone,vehicle,person,building",
                              "--json"])
    assert res.exit_code == Exit.OK, res.output
    report = orjson.loads(res.output)
    assert report["images"] == 2 and report["splits"]["train"] == 2 and report["version"].startswith("v-")
    assert (tmp_path / "ds" / "images" / "train").resolve() == root.resolve()
    assert "train: train.txt" in (tmp_path / "ds" / "data.yaml").read_text()
    (tmp_path / "job.yaml").write_text("input_manifest: s3://b/in.manifest\noutput_path: s3://b/out/\n"
                                       "labels: [drone, vehicle, person, building]\n")
    # the same labels from a job spec: the same dataset
    res = runner.invoke(app, ["import", "coco", str(tmp_path / "coco.json"), "--to-yolo", str(tmp_path / "ds"),
                              "--images", str(root), "--split", "1,0", "--job-config", str(tmp_path / "job.yaml")])
    assert res.exit_code == Exit.OK and "unchanged" in res.output
    for dest in (["--to", str(tmp_path / "m.manifest")], ["--to-yolo", str(tmp_path / "d4")]):
        res = runner.invoke(app, ["import", "coco", str(tmp_path / "coco.json"), *dest, "--images", str(root),
                                  "--job-config", str(tmp_path / "job.yaml"), "--labels", "drone"])
        assert res.exit_code == Exit.INVALID and "give the job's labels once" in res.output, (dest, res.output)
    for bad in (["--to", "m.manifest"], [], ["--split", "a,b"]):
        res = runner.invoke(app, ["import", "coco", str(tmp_path / "coco.json"), "--to-yolo", str(tmp_path / "d2"),
                                  *bad] if bad != [] else ["import", "coco", str(tmp_path / "coco.json")])
        assert res.exit_code == Exit.INVALID, (bad, res.output)
    res = runner.invoke(app, ["import", "voc", str(tmp_path), "--to-yolo", str(tmp_path / "d3")])
    assert res.exit_code == Exit.INVALID and "gtlabel convert" in res.output
    res = runner.invoke(app, ["import", "coco", "--help"])
    assert res.exit_code == Exit.OK and "--to-yolo" in res.output
