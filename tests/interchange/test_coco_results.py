"""A COCO results list (a detector's ``[{image_id, category_id, bbox, score}]``) imported with the ground-truth file
that holds its images and categories: pycocotools' ``loadRes`` is the judge of what the detections are; scores
kept, every line human-annotated no, bad results named by field; and the streamed COCO import's bad input."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from gtlabel.cli import app
from gtlabel.errors import ConfigError, LabelError
from gtlabel.interchange import import_labels
from gtlabel.manifests import iter_output_manifest

NAMES = ["drone", "vehicle", "person"]


def _gt_and_results(tmp: Path, n: int = 12, seed: int = 3) -> tuple[Path, Path, dict[str, Any], list[dict[str, Any]]]:
    """A ground-truth file (ids not in order, category ids not 0-based) and a detector's results on it (some
    images without any detection, float boxes, one box 0.5 px past its image's edge)."""
    rng = random.Random(seed)
    images = [{"id": 100 + 7 * i, "file_name": f"flight/f{i:03d}.jpg", "width": 640, "height": 480} for i in range(n)]
    cats = [{"id": 5 + 2 * k, "name": name} for k, name in enumerate(NAMES)]
    anns = [{"id": 1, "image_id": images[0]["id"], "category_id": 5, "bbox": [1, 2, 30, 40], "area": 1200,
             "iscrowd": 0}]
    gt = {"images": images, "annotations": anns, "categories": cats}
    results = []
    for im in images:
        if rng.random() < 0.25:
            continue  # the detector found nothing here
        for _ in range(rng.randint(1, 4)):
            w, h = rng.uniform(4, 200), rng.uniform(4, 200)
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            results.append({"image_id": im["id"], "category_id": rng.choice(cats)["id"],
                            "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                            "score": round(rng.random(), 4)})
    results.append({"image_id": images[-1]["id"], "category_id": 7, "bbox": [600.5, 400, 40, 80], "score": 0.5})
    (tmp / "gt.json").write_bytes(orjson.dumps(gt))
    (tmp / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return tmp / "gt.json", tmp / "results.json", gt, results


def test_results_list_is_imported_as_pycocotools_reads_it(tmp_path: Path) -> None:
    coco_mod = pytest.importorskip("pycocotools.coco")
    gt_path, res_path, gt, results = _gt_and_results(tmp_path)
    rep = import_labels("coco", res_path, tmp_path / "pred.manifest", results_of=gt_path, label_attribute="det")
    judge = coco_mod.COCO(str(gt_path))
    res = judge.loadRes(json.loads(res_path.read_text()))
    expected: dict[str, list[tuple[str, float, float, float, float, float]]] = defaultdict(list)
    for ann in res.dataset["annotations"]:
        x, y, w, h = ann["bbox"]
        x2, y2 = min(x + w, 640), min(y + h, 480)  # ours clips a box past the edge by < 1 px
        expected[res.imgs[ann["image_id"]]["file_name"]].append(
            (res.cats[ann["category_id"]]["name"], round(x, 3), round(y, 3), round(x2 - x, 3), round(y2 - y, 3),
             ann["score"]))
    recs = list(iter_output_manifest(tmp_path / "pred.manifest"))
    assert [r.source_ref for r in recs] == [im["file_name"] for im in gt["images"]]  # every image, in order
    got = {r.source_ref: [(r.class_map[b.class_id], b.left, b.top, b.width, b.height, b.confidence) for b in r.boxes]
           for r in recs}
    assert {k: v for k, v in got.items() if v} == dict(expected)
    assert all(r.human_annotated is False for r in recs)  # also the images without a detection
    assert (rep.images, rep.boxes, rep.predicted_images, rep.boxes_clipped) == (12, len(results), 12, 1)
    assert rep.labels == NAMES and sum(not v for v in got.values()) == 12 - len(expected)
    # the CLI does the same (same bytes)
    r = CliRunner().invoke(app, ["import", "coco", str(res_path), "--results-of", str(gt_path), "--to",
                                 str(tmp_path / "cli.manifest"), "--label-attribute", "det"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "cli.manifest").read_bytes() == (tmp_path / "pred.manifest").read_bytes()


@pytest.mark.parametrize(("mutate", "field", "match"), [
    (lambda r: r[0].update(image_id=99), "[0].image_id", r"image id 99 is not in the images of .*gt\.json"),
    (lambda r: r[1].update(category_id=1), "[1].category_id", r"category id 1 is not in the categories of"),
    (lambda r: r[0].pop("score"), "[0].score", "missing"),
    (lambda r: r[2].update(score="high"), "[2].score", "finite number"),
    (lambda r: r[1].update(bbox=[630, 0, 50, 10]), "[1].bbox", "outside its image"),
    (lambda r: r[0].update(bbox=[1, 2, 3]), "[0].bbox", r"\[x, y"),
])
def test_bad_results_name_the_result_and_write_nothing(tmp_path: Path, mutate: Any, field: str, match: str) -> None:
    gt_path, res_path, _gt, results = _gt_and_results(tmp_path)
    mutate(results)
    res_path.write_bytes(orjson.dumps(results))
    with pytest.raises(LabelError, match=match) as info:
        import_labels("coco", res_path, tmp_path / "m.manifest", results_of=gt_path)
    assert info.value.file == str(res_path) and info.value.field == field
    assert not (tmp_path / "m.manifest").exists()


def test_results_list_needs_its_ground_truth_and_only_it(tmp_path: Path) -> None:
    gt_path, res_path, *_ = _gt_and_results(tmp_path)
    with pytest.raises(ConfigError, match=r"results list .* give the COCO ground-truth file"):
        import_labels("coco", res_path, tmp_path / "m.manifest")
    with pytest.raises(ConfigError, match="not one"):
        import_labels("coco", gt_path, tmp_path / "m.manifest", results_of=gt_path)
    with pytest.raises(ConfigError, match="COCO results list"):
        import_labels("voc", res_path, tmp_path / "m.manifest", results_of=gt_path)
    res_path.write_bytes(b'  [{"image_id": 100, "category_id": 5, "bbox": [1, 2, 3, 4], "score": 0.5}')  # cut short
    with pytest.raises(LabelError, match="not valid JSON") as info:
        import_labels("coco", res_path, tmp_path / "m.manifest", results_of=gt_path)
    assert info.value.file == str(res_path)
    res_path.write_bytes(b"[]")  # no detection at all: every image, no box
    rep = import_labels("coco", res_path, tmp_path / "m.manifest", results_of=gt_path)
    assert (rep.images, rep.boxes, rep.predicted_images) == (12, 0, 12)
    assert not list(tmp_path.glob("*.tmp*")) and sorted(p.name for p in tmp_path.iterdir()) == [
        "gt.json", "m.manifest", "results.json"]


@pytest.mark.parametrize(("mutate", "field", "match"), [
    (lambda d: d.pop("images"), "images", "missing"),
    (lambda d: d.pop("categories"), "categories", "missing"),
    (lambda d: d["annotations"][0].update(image_id=5), "annotations[0] (id 1).image_id", "not in 'images'"),
    (lambda d: d["annotations"][0].update(category_id=6), "annotations[0] (id 1).category_id", "not in 'categories'"),
    (lambda d: d["images"][3].update(file_name="flight/f001.jpg"), "images[3].file_name",
     r"'flight/f001\.jpg' is given twice \(images\[1\] has it too\)"),
])
def test_bad_coco_file_streamed_names_file_and_field(tmp_path: Path, mutate: Any, field: str, match: str) -> None:
    gt_path, _res, gt, _results = _gt_and_results(tmp_path)
    mutate(gt)
    gt_path.write_bytes(orjson.dumps(gt))
    with pytest.raises(LabelError, match=match) as info:
        import_labels("coco", gt_path, tmp_path / "m.manifest")
    assert info.value.file == str(gt_path) and info.value.field == field
    assert not (tmp_path / "m.manifest").exists()
