"""gtlabel.interchange.export: COCO (pycocotools loads it and COCOeval runs on it) and VOC from an output manifest
and from a converted dataset (EXIF-upright frame), aliases, bad input, atomic output, same bytes on a rerun."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from interchange_helpers import ATTR, LABELS, gt_line, make_image, write_manifest

from gtlabel.convert import convert_ground_truth_to_yolo
from gtlabel.errors import ConfigError, DatasetExists, InputError, LabelError
from gtlabel.formats.voc import parse_voc
from gtlabel.interchange import export_coco, export_voc

LABEL_CONFIG = {"document-version": "2018-11-28", "labels": [{"label": n} for n in LABELS]}


def _manifest(tmp: Path) -> str:
    make_image(tmp / "imgs" / "a.jpg", (64, 48))
    make_image(tmp / "imgs" / "b.jpg", (64, 48), orientation=6)  # stored 64x48, displayed 48x64
    make_image(tmp / "imgs" / "c.jpg", (64, 48))
    return write_manifest(tmp / "out.manifest", [
        gt_line("imgs/a.jpg", (64, 48), [("drone", 1, 2, 10, 20), ("person", 30, 5, 20, 40)]),
        gt_line("imgs/b.jpg", (48, 64), [("vehicle", 0, 0, 48, 64), ("drone", 40, 60, 20, 10)]),  # 2nd: clipped
        gt_line("imgs/c.jpg", (64, 48)),
    ])


def _quiet(fn: Any, *args: Any) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def test_coco_from_manifest_is_what_pycocotools_loads_and_evaluates(tmp_path: Path) -> None:
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    m = _manifest(tmp_path)
    rep = export_coco(m, tmp_path / "coco.json", label_category_config=LABEL_CONFIG)
    assert (rep.images, rep.boxes, rep.boxes_zero_area) == (3, 4, 0)
    doc = json.loads((tmp_path / "coco.json").read_text())
    assert [(c["id"], c["name"]) for c in doc["categories"]] == [(1, "drone"), (2, "vehicle"), (3, "person"),
                                                                 (4, "building")]
    assert [(i["file_name"], i["width"], i["height"]) for i in doc["images"]] == [
        ("imgs/a.jpg", 64, 48), ("imgs/b.jpg", 48, 64), ("imgs/c.jpg", 64, 48)]
    anns = doc["annotations"]
    assert anns[0] == {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20], "area": 200, "iscrowd": 0}
    assert anns[3]["bbox"] == [40, 60, 8, 4] and anns[3]["area"] == 32  # clipped to the 48x64 frame
    assert doc["info"]["version"] == rep.version and rep.version.startswith("v-")

    gt = _quiet(COCO, str(tmp_path / "coco.json"))
    assert gt.getCatIds() == [1, 2, 3, 4] and len(gt.getAnnIds()) == 4
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
               for a in anns]
    ev = COCOeval(gt, _quiet(gt.loadRes, results), "bbox")
    _quiet(ev.evaluate)
    _quiet(ev.accumulate)
    _quiet(ev.summarize)
    assert ev.stats[0] == pytest.approx(1.0)  # the labels as detections: AP 1.0
    shifted = [{**r, "bbox": [r["bbox"][0] + r["bbox"][2], *r["bbox"][1:]]} for r in results]
    ev2 = COCOeval(gt, _quiet(gt.loadRes, shifted), "bbox")
    for step in (ev2.evaluate, ev2.accumulate, ev2.summarize):
        _quiet(step)
    assert ev2.stats[0] < 0.5  # and it does judge


def test_coco_from_dataset_uses_the_displayed_frame_and_the_version(tmp_path: Path) -> None:
    m = _manifest(tmp_path)
    conv = convert_ground_truth_to_yolo(m, tmp_path / "ds", LABELS, progress=False)
    rep = export_coco(tmp_path / "ds", tmp_path / "ds.json")
    doc = json.loads((tmp_path / "ds.json").read_text())
    assert doc["info"]["version"] == conv.version == rep.version
    by_source = {i["file_name"].rsplit("/", 1)[-1].split("-")[0]: i for i in doc["images"]}
    assert (by_source["b"]["width"], by_source["b"]["height"]) == (48, 64)  # EXIF orientation 6: upright
    b_anns = sorted(a["bbox"] for a in doc["annotations"] if a["image_id"] == by_source["b"]["id"])
    assert b_anns == [[0, 0, 48, 64], [40, 60, 8, 4]]
    assert all(i["file_name"].startswith("images/") for i in doc["images"])


def test_voc_export_one_based_with_source_ref_and_overwrite_rules(tmp_path: Path) -> None:
    m = _manifest(tmp_path)
    rep = export_voc(m, tmp_path / "voc", class_mapping=LABELS)
    files = sorted((tmp_path / "voc").iterdir())
    assert rep.images == 3 and len(files) == 3
    ann = parse_voc(files[0].read_bytes(), file=str(files[0]))
    assert (ann.filename, ann.path, ann.width, ann.height) == ("a.jpg", "imgs/a.jpg", 64, 48)
    assert [(o.name, o.xmin, o.ymin, o.xmax, o.ymax) for o in ann.objects] == [("drone", 2, 3, 11, 22),
                                                                              ("person", 31, 6, 50, 45)]
    with pytest.raises(DatasetExists, match="not empty"):
        export_voc(m, tmp_path / "voc", class_mapping=LABELS)
    before = {p.name: p.read_bytes() for p in files}
    export_voc(m, tmp_path / "voc", class_mapping=LABELS, overwrite=True)
    assert {p.name: p.read_bytes() for p in sorted((tmp_path / "voc").iterdir())} == before  # same bytes
    with pytest.raises(DatasetExists, match="more than VOC"):
        export_voc(m, tmp_path / "imgs", class_mapping=LABELS, overwrite=True)
    assert (tmp_path / "imgs" / "a.jpg").exists()


def test_aliases_merge_categories_and_change_the_version(tmp_path: Path) -> None:
    m = _manifest(tmp_path)
    plain = export_coco(m, tmp_path / "a.json", class_mapping=LABELS)
    rep = export_coco(m, tmp_path / "b.json", class_mapping=LABELS, aliases=["drone=aircraft", "vehicle=aircraft"])
    doc = json.loads((tmp_path / "b.json").read_text())
    assert [c["name"] for c in doc["categories"]] == ["aircraft", "person", "building"]
    assert doc["info"]["aliases"] == {"drone": "aircraft", "vehicle": "aircraft"}
    assert [a["category_id"] for a in doc["annotations"]] == [1, 2, 1, 1]
    assert rep.version != plain.version and rep.class_counts["aircraft"] == 3
    with pytest.raises(ConfigError, match="not one of the classes"):
        export_coco(m, tmp_path / "c.json", class_mapping=LABELS, aliases={"car": "vehicle"})
    with pytest.raises(ConfigError, match="aliased themselves"):
        export_coco(m, tmp_path / "c.json", class_mapping=LABELS, aliases={"drone": "vehicle", "vehicle": "car"})


def test_class_names_from_class_maps_and_a_rerun_gives_the_same_bytes(tmp_path: Path) -> None:
    m = _manifest(tmp_path)
    export_coco(m, tmp_path / "a.json")
    first = (tmp_path / "a.json").read_bytes()
    names = [c["name"] for c in json.loads(first)["categories"]]
    assert names == ["drone", "vehicle", "person"]  # the ids present in the class-maps, in id order
    export_coco(m, tmp_path / "a.json")
    assert (tmp_path / "a.json").read_bytes() == first


def test_bad_manifest_writes_nothing(tmp_path: Path) -> None:
    make_image(tmp_path / "imgs" / "a.jpg")
    good = gt_line("imgs/a.jpg", (64, 48), [("drone", 1, 2, 10, 20)])
    bad = gt_line("imgs/a.jpg", (64, 48), [("drone", 1, 2, 10, 20)])
    bad[ATTR]["annotations"][0]["width"] = "wide"
    m = write_manifest(tmp_path / "bad.manifest", [good] * 3 + [bad])
    with pytest.raises(InputError, match="width") as info:
        export_coco(m, tmp_path / "out.json", class_mapping=LABELS)
    assert info.value.line == 4
    with pytest.raises(InputError):
        export_voc(m, tmp_path / "voc", class_mapping=LABELS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.manifest", "imgs"]
    unknown = write_manifest(tmp_path / "u.manifest", [good])
    with pytest.raises(LabelError, match="not one of the classes") as info2:
        export_coco(unknown, tmp_path / "out.json", class_mapping=["vehicle"])
    assert info2.value.field == f"{ATTR}.annotations[0].class_id"
    assert not (tmp_path / "out.json").exists()


def test_dataset_without_image_copies_reads_the_sources(tmp_path: Path) -> None:
    m = _manifest(tmp_path)
    convert_ground_truth_to_yolo(m, tmp_path / "ds", LABELS, progress=False)
    convert_ground_truth_to_yolo(m, tmp_path / "labels-only", LABELS, progress=False, copy_images=False)
    export_coco(tmp_path / "ds", tmp_path / "a.json")
    export_coco(tmp_path / "labels-only", tmp_path / "b.json")
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert a["annotations"] == b["annotations"]
    assert [(i["width"], i["height"]) for i in a["images"]] == [(i["width"], i["height"]) for i in b["images"]]
    (tmp_path / "imgs" / "a.jpg").unlink()
    with pytest.raises(InputError, match="image not found"):
        export_coco(tmp_path / "labels-only", tmp_path / "c.json")
    assert not (tmp_path / "c.json").exists()
