"""COCO straight to a YOLO dataset with linked images (``coco_to_yolo``, ``gtlabel import coco --to-yolo``): the
layout Ultralytics reads (its own loader is the judge), the round trip back to COCO, bad input (an error naming
the file and field, nothing written), reruns (same bytes, a no-op), splits by folder."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from interchange_helpers import LABELS, make_image

from gtlabel.errors import ConfigError, DatasetExists, InputError, LabelError
from gtlabel.formats.coco import CocoBox, CocoChecker
from gtlabel.geometry import clip_box, format_row, to_yolo
from gtlabel.interchange import coco_to_yolo, export_coco
from gtlabel.interchange.yolo_spool import RowSpool
from gtlabel.lineage import load as load_lineage
from gtlabel.lineage import recompute_version, verify

SIZE = (64, 48)


def coco_doc(names: list[str], boxes: dict[str, list[tuple[str, float, float, float, float]]], *,
             size: tuple[int, int] = SIZE, categories_last: bool = False) -> dict[str, Any]:
    """A COCO document: one image per name (``size``), its boxes ``(class, x, y, w, h)``."""
    cats = [{"id": i + 10, "name": n, "supercategory": "object"} for i, n in enumerate(LABELS)]
    images = [{"id": i + 1, "file_name": n, "width": size[0], "height": size[1]} for i, n in enumerate(names)]
    pairs = [(i, b) for i, n in enumerate(names) for b in boxes.get(n, [])]
    anns = [{"id": 1000 + j, "image_id": i + 1, "category_id": LABELS.index(c) + 10, "bbox": [x, y, w, h],
             "area": w * h, "iscrowd": 0} for j, (i, (c, x, y, w, h)) in enumerate(pairs)]
    if categories_last:
        return {"info": {}, "images": images, "annotations": anns, "categories": cats}
    return {"info": {}, "categories": cats, "images": images, "annotations": anns}


def write_coco(tmp: Path, names: list[str], boxes: dict[str, list[tuple[str, float, float, float, float]]],
               **kw: Any) -> Path:
    for n in names:
        make_image(tmp / "images" / n, kw.get("size", SIZE))
    path = tmp / "images" / "_annotations.coco.json"  # beside the images, as Roboflow exports them
    path.write_bytes(orjson.dumps(coco_doc(names, boxes, **kw)))
    return path


def tree(root: Path) -> dict[str, str]:
    """Every file (sha256) and link (target) under ``root``, links not followed."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = Path(dirpath, n)
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


NAMES = [f"frame_{i:03d}.jpg" for i in range(12)]
BOXES = {n: [("drone", 4 + i, 5, 10, 8), ("person", 30, 20, 12.5, 9)] for i, n in enumerate(NAMES)}


def test_layout_labels_lists_and_lineage(tmp_path: Path) -> None:
    src = write_coco(tmp_path, NAMES, BOXES | {NAMES[0]: [("vehicle", 60, 40, 4.5, 8.6)]}, categories_last=True)
    rep = coco_to_yolo(src, tmp_path / "ds", splits=(0.5, 0.5, 0))
    ds = tmp_path / "ds"
    assert rep.images == 12 and rep.boxes == 23 and rep.boxes_clipped == 1 and not rep.noop
    assert rep.labels == LABELS  # the COCO categories, in the file's order
    assert os.readlink(ds / "images" / "train") == str(tmp_path / "images")
    assert sum(rep.splits.values()) == 12 and rep.splits["test"] == 0 and not (ds / "test.txt").exists()
    train = (ds / "train.txt").read_text().splitlines()
    assert len(train) == rep.splits["train"] and all(t.startswith("./images/train/frame_") for t in train)
    first = ds / "labels" / ("train" if f"./images/train/{NAMES[0]}" in train else "val") / "frame_000.txt"
    # the box 60..64.5 x 40..48.6 (within COCO's 1 px of slack) clipped to the 64x48 frame: 60..64 x 40..48
    assert first.read_text() == format_row(1, *to_yolo(60, 40, 4, 8, *SIZE)) + "\n"
    data = (ds / "data.yaml").read_text()
    assert "train: train.txt" in data and "val: val.txt" in data and f"path: {ds}" in data
    lin = load_lineage(ds)
    assert lin.version == rep.version == recompute_version(lin) and len(lin.images) == 12  # `lineage verify` agrees
    assert {r.source_ref for r in lin.images} == set(NAMES)
    assert orjson.loads((ds / "conversion-report.json").read_bytes())["boxes"] == 23


def test_round_trip_back_to_coco(tmp_path: Path) -> None:
    src = write_coco(tmp_path, NAMES, BOXES)
    coco_to_yolo(src, tmp_path / "ds")
    export_coco(tmp_path / "ds", tmp_path / "back.json")
    back = orjson.loads((tmp_path / "back.json").read_bytes())
    files = {im["id"]: im["file_name"].rsplit("/", 1)[-1] for im in back["images"]}
    got = sorted((files[a["image_id"]], back["categories"][a["category_id"] - 1]["name"], *a["bbox"])
                 for a in back["annotations"])
    want = sorted((n, c, x, y, w, h) for n, bs in BOXES.items() for c, x, y, w, h in bs)
    assert [g[:2] for g in got] == [w[:2] for w in want]
    for g, w in zip(got, want, strict=True):
        assert all(abs(a - b) <= 1e-3 for a, b in zip(g[2:], w[2:], strict=True))


def test_rerun_is_a_no_op_and_overwrite_gives_the_same_bytes(tmp_path: Path) -> None:
    src = write_coco(tmp_path, NAMES, BOXES)
    first = coco_to_yolo(src, tmp_path / "ds", seed=3)
    before = tree(tmp_path / "ds")
    again = coco_to_yolo(src, tmp_path / "ds", seed=3)
    assert again.noop and again.version == first.version and tree(tmp_path / "ds") == before
    coco_to_yolo(src, tmp_path / "ds", seed=3, overwrite=True)
    assert tree(tmp_path / "ds") == before
    assert (tmp_path / "images" / NAMES[0]).is_file()  # the linked images survive the replacement
    with pytest.raises(DatasetExists, match="different dataset"):
        coco_to_yolo(src, tmp_path / "ds", seed=4)
    # overwrite replaces only a dataset of ours, whole: not with someone's file in it, never someone's folder
    (tmp_path / "ds" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetExists, match=r"notes\.txt"):
        coco_to_yolo(src, tmp_path / "ds", seed=4, overwrite=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "thesis.tex").write_text("keep me")
    with pytest.raises(DatasetExists, match="not a gtlabel dataset"):
        coco_to_yolo(src, tmp_path / "other", overwrite=True)
    assert (tmp_path / "ds" / "notes.txt").read_text() == "mine" and tree(tmp_path / "ds") == {
        **before, "notes.txt": tree(tmp_path / "ds")["notes.txt"]}
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["thesis.tex"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_classes_through_labels_aliases_and_drop(tmp_path: Path) -> None:
    src = write_coco(tmp_path, NAMES[:4], {NAMES[0]: [("drone", 1, 1, 5, 5), ("building", 2, 2, 5, 5)]})
    with pytest.raises(LabelError, match=r"class 'building' is not one of") as exc:
        coco_to_yolo(src, tmp_path / "ds", labels=["uav", "vehicle"], aliases={"drone": "uav"})
    assert exc.value.field == "annotations[1] (id 1001).category_id" and exc.value.file == str(src)
    assert not (tmp_path / "ds").exists()
    rep = coco_to_yolo(src, tmp_path / "ds", labels=["uav", "vehicle"], aliases=["drone=uav"], drop_unknown=True)
    assert rep.dropped_unknown == {"building": 1} and rep.class_counts == {"uav": 1} and rep.boxes == 1
    assert "aliases" in load_lineage(tmp_path / "ds").settings
    config = tmp_path / "label-config.json"  # a label category config file: its labels, in its order
    config.write_bytes(orjson.dumps({"document-version": "2018-11-28",
                                     "labels": [{"label": "building"}, {"label": "drone"}]}))
    rep = coco_to_yolo(src, tmp_path / "ds2", label_category_config=config)
    assert rep.labels == ["building", "drone"] and rep.class_counts == {"building": 1, "drone": 1}
    assert load_lineage(tmp_path / "ds2").names == {0: "building", 1: "drone"}


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d["annotations"][0].update(image_id=999), "annotations[0] (id 1000).image_id"),
    (lambda d: d["annotations"][1].update(category_id=77), "annotations[1] (id 1001).category_id"),
    (lambda d: d["annotations"][0].update(bbox=[50, 40, 30, 30]), "annotations[0] (id 1000).bbox"),
    (lambda d: d["images"][2].update(file_name="../outside.jpg"), "images[2].file_name"),
    (lambda d: d["images"][2].update(file_name="/etc/passwd.jpg"), "images[2].file_name"),
    (lambda d: d["images"][2].update(file_name="two\nlines.jpg"), "images[2].file_name"),
    (lambda d: d["images"][2].update(file_name="a/../../b.jpg"), "images[2].file_name"),
    (lambda d: d["images"].pop(), "images[11].file_name"),  # then a duplicate below
])
def test_bad_input_names_the_field_and_writes_nothing(tmp_path: Path, mutate: Any, field: str) -> None:
    src = write_coco(tmp_path, NAMES, BOXES)
    doc = orjson.loads(src.read_bytes())
    mutate(doc)
    if field == "images[11].file_name":
        doc["images"].append({"id": 99, "file_name": NAMES[0], "width": 64, "height": 48})
    src.write_bytes(orjson.dumps(doc))
    with pytest.raises(LabelError) as exc:
        coco_to_yolo(src, tmp_path / "ds")
    assert exc.value.field == field and exc.value.file == str(src)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images"]


def test_images_skipped_or_missing(tmp_path: Path) -> None:
    src = write_coco(tmp_path, NAMES, BOXES)
    doc = orjson.loads(src.read_bytes())
    doc["images"][0]["file_name"] = "_annotations.coco.json"
    doc["images"][1]["file_name"] = "gone.jpg"
    src.write_bytes(orjson.dumps(doc))
    rep = coco_to_yolo(src, tmp_path / "ds")
    assert rep.images == 10 and rep.skipped == {"not an image format Ultralytics reads": 1, "image not found": 1}
    assert rep.boxes == 20 and rep.class_counts == {"drone": 10, "person": 10}
    with pytest.raises(InputError, match="no image to write"):
        coco_to_yolo(src, tmp_path / "ds2", images=tmp_path)  # the wrong folder: nothing is there
    assert not (tmp_path / "ds2").exists()
    with pytest.raises(ConfigError, match="local folder"):
        coco_to_yolo(src, "s3://bucket/ds")


def test_duplicate_rows_and_names_with_an_images_folder(tmp_path: Path) -> None:
    names = ["images/a.jpg", "set/images/b.jpg", "c.jpg"]
    src = write_coco(tmp_path, names, {"images/a.jpg": [("drone", 1, 1, 5, 5), ("drone", 1, 1, 5, 5)],
                                       "c.jpg": [("person", 2, 2, 6, 6)]})
    rep = coco_to_yolo(src, tmp_path / "ds", splits=(1, 0, 0))
    assert rep.boxes == 2 and rep.boxes_duplicate == 1 and rep.class_counts == {"drone": 1, "person": 1}
    lines = (tmp_path / "ds" / "train.txt").read_text().splitlines()
    linked = [line for line in lines if "/train-linked/" in line]
    assert len(linked) == 2 and "./images/train/c.jpg" in lines
    for line in linked:  # linked one by one, its label where Ultralytics looks for it
        image = tmp_path / "ds" / line[2:]
        assert image.is_symlink() and image.resolve().is_file()
        label = Path(str(image).replace("/images/", "/labels/").rsplit(".", 1)[0] + ".txt")
        assert label.is_file()


def test_split_by_folder_keeps_a_flight_together(tmp_path: Path) -> None:
    names = [f"flight{f}/f{i:02d}.jpg" for f in range(6) for i in range(5)]
    src = write_coco(tmp_path, names, {n: [("drone", 1, 1, 5, 5)] for n in names})
    rep = coco_to_yolo(src, tmp_path / "ds", split_by="prefix:1", splits=(0.67, 0.33, 0))
    by_flight: dict[str, set[str]] = {}
    for r in load_lineage(tmp_path / "ds").images:
        by_flight.setdefault(r.source_ref.split("/")[0], set()).add(r.split)
    assert all(len(s) == 1 for s in by_flight.values()) and rep.splits["val"] > 0
    with pytest.raises(ConfigError, match="prefix:N"):
        coco_to_yolo(src, tmp_path / "ds2", split_by="video")


@settings(max_examples=200, deadline=None)
@given(st.integers(10, 6000), st.integers(10, 6000), st.floats(-1, 6000), st.floats(-1, 6000), st.floats(0, 6000),
       st.floats(0, 6000))
def test_row_coords_are_the_converters_rows(fw: int, fh: int, x: float, y: float, w: float, h: float) -> None:
    """RowSpool's per-box step gives what clip_box + to_yolo + format_row give (the converter's rows), and counts
    the boxes it clips and drops."""
    check = CocoChecker("t.json")
    check.add_images([{"id": 1, "file_name": "a.jpg", "width": fw, "height": fh}])
    spool = RowSpool(check)
    try:
        spool.add([(0, CocoBox(7, x, y, w, h, None, 0, 1))], 1)
        spool.flush()
        rows = list(spool.bucket(0))
    finally:
        spool.close()
        check.close()
    box = clip_box(x, y, w, h, fw, fh) if x < 0 or y < 0 or x + w > fw or y + h > fh else \
        ((x, y, w, h) if w > 0 and h > 0 else None)
    assert spool.first == {7: (0, 1)}
    assert spool.clipped == (box is not None and box != (x, y, w, h))
    if box is None or box[2] / fw < 5e-7 or box[3] / fh < 5e-7:
        assert rows == [] and spool.zero_area == 1
        return
    assert spool.zero_area == 0 and len(rows) == 1
    (k, cid, coords), = rows
    assert (k, cid, len(coords)) == (0, 7, 35)
    assert b"0 " + coords == format_row(0, *to_yolo(*box, fw, fh)).encode()


@settings(max_examples=15, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from(LABELS), st.integers(0, 60), st.integers(0, 44),
                                   st.integers(1, 30), st.integers(1, 30)), max_size=4), min_size=1, max_size=6))
def test_round_trip_property(per_image: list[list[tuple[str, int, int, int, int]]]) -> None:
    """Random boxes (clipped to the frame) come back from the dataset through export_coco within 1e-3 px."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        names = [f"im{i}.jpg" for i in range(len(per_image))]
        per_image = [[(c, x, y, min(w, SIZE[0] + 1 - x), min(h, SIZE[1] + 1 - y)) for c, x, y, w, h in bs]
                     for bs in per_image]  # at most 1 px outside the frame (COCO's slack), clipped to it
        src = write_coco(tmp, names, {n: [(c, float(x), float(y), float(w), float(h)) for c, x, y, w, h in bs]
                                      for n, bs in zip(names, per_image, strict=True)})
        coco_to_yolo(src, tmp / "ds", splits=(1, 0, 0))
        export_coco(tmp / "ds", tmp / "back.json")
        back = orjson.loads((tmp / "back.json").read_bytes())
        files = {im["id"]: im["file_name"].rsplit("/", 1)[-1] for im in back["images"]}
        got = sorted((files[a["image_id"]], a["category_id"] - 1, *(round(v, 3) for v in a["bbox"]))
                     for a in back["annotations"])
        want = sorted({(n, LABELS.index(c), *(round(v, 3) for v in clip_box(x, y, w, h, *SIZE) or ()))
                       for n, bs in zip(names, per_image, strict=True) for c, x, y, w, h in bs})
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g[:2] == w[:2] and all(abs(a - b) <= 2e-3 for a, b in zip(g[2:], w[2:], strict=True))


@pytest.mark.train
def test_ultralytics_reads_the_dataset(tmp_path: Path) -> None:
    """Ultralytics is the judge: check_det_dataset resolves the list files, its dataset finds every label (none
    missing, corrupt or empty) and a dataloader gives a batch."""
    os.environ["YOLO_OFFLINE"] = "1"
    utils = pytest.importorskip("ultralytics.data.utils")
    from ultralytics.data import YOLODataset, build_dataloader

    names = [*NAMES, "images/sub/linked.jpg"]
    src = write_coco(tmp_path, names, BOXES | {"images/sub/linked.jpg": [("building", 3, 3, 20, 20)]})
    rep = coco_to_yolo(src, tmp_path / "ds", splits=(0.6, 0.4, 0))
    data = utils.check_det_dataset(str(tmp_path / "ds" / "data.yaml"))
    assert data["nc"] == 4 and data["names"] == dict(enumerate(LABELS))
    total = 0
    for split in ("train", "val"):
        ds = YOLODataset(img_path=data[split], data=data, task="detect", imgsz=64, augment=False)
        assert len(ds.im_files) == rep.splits[split]
        total += sum(len(lb["cls"]) for lb in ds.labels)
        assert all(len(lb["cls"]) for lb in ds.labels)  # every label file found (no image left without boxes)
    assert total == rep.boxes == 25
    batch = next(iter(build_dataloader(ds, batch=2, workers=0, shuffle=False)))
    assert batch["img"].shape[0] == 2


def test_missing_images_found_in_folders_that_alternate(tmp_path: Path) -> None:
    """Images listed folder by folder, and names that alternate between folders (each folder listed again, then
    asked file by file): every missing image is found."""
    names = [f"{d}/{i:02d}.jpg" for i in range(8) for d in ("a", "b")]  # a/00, b/00, a/01, ...
    src = write_coco(tmp_path, names, {n: [("drone", 1, 1, 5, 5)] for n in names})
    for gone in ("a/03.jpg", "b/07.jpg", "a/07.jpg"):
        (tmp_path / "images" / gone).unlink()
    rep = coco_to_yolo(src, tmp_path / "ds", splits=(1, 0, 0))
    assert rep.images == 13 and rep.skipped == {"image not found": 3}
    listed = {line.rsplit("/", 2)[-2] + "/" + line.rsplit("/", 1)[-1]
              for line in (tmp_path / "ds" / "train.txt").read_text().splitlines()}
    assert listed == set(names) - {"a/03.jpg", "b/07.jpg", "a/07.jpg"}


def test_annotations_before_images_gives_the_same_dataset(tmp_path: Path) -> None:
    """A file listing its annotations first (parsed whole instead of streamed) gives the same bytes."""
    src = write_coco(tmp_path, NAMES, BOXES | {NAMES[1]: [("vehicle", 60, 40, 4.5, 8.6), ("drone", 1, 1, 0, 5)]})
    first = coco_to_yolo(src, tmp_path / "ds")
    doc = orjson.loads(src.read_bytes())
    src.write_bytes(orjson.dumps({"annotations": doc["annotations"], "images": doc["images"],
                                  "categories": doc["categories"]}))
    again = coco_to_yolo(src, tmp_path / "ds2")
    assert (again.boxes, again.boxes_clipped, again.boxes_zero_area) == (first.boxes, 1, 1) == (23, 1, 1)
    assert again.version == first.version
    a, b = tree(tmp_path / "ds"), tree(tmp_path / "ds2")
    assert {k: v for k, v in a.items() if not k.endswith((".yaml", ".json"))} == \
        {k: v for k, v in b.items() if not k.endswith((".yaml", ".json"))}


def test_lineage_verify_checks_a_linked_dataset(tmp_path: Path) -> None:
    """`lineage verify`: the version recomputes, the labels match, the sources are checked (no copies to compare)."""
    src = write_coco(tmp_path, NAMES, BOXES)
    coco_to_yolo(src, tmp_path / "ds", images=tmp_path / "images")
    rep = verify(tmp_path / "ds")
    assert rep.ok and rep.sources_checked == 12 and any("linked" in n for n in rep.notes), rep.problems
    (tmp_path / "images" / NAMES[3]).unlink()
    assert {(p.kind, Path(p.file).name) for p in verify(tmp_path / "ds").problems} == {("source-missing", NAMES[3])}
