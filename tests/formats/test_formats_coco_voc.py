"""gtlabel.formats.coco / .voc / yolo's reader: golden files, hostile and malformed input, round trips (no disk
except the golden files)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gtlabel.errors import LabelError
from gtlabel.formats.coco import (
    ANNOTATIONS_START,
    COCO_END,
    coco_annotation,
    coco_head,
    coco_image,
    loads_coco,
    parse_coco,
)
from gtlabel.formats.voc import VocAnnotation, VocObject, from_voc, parse_voc, render_voc, to_voc
from gtlabel.formats.yolo import parse_data_yaml_names, parse_label_rows

GOLDEN = Path(__file__).parent / "golden"


def test_golden_coco_is_read_with_crowd_left_out_and_scores_kept() -> None:
    ds = loads_coco((GOLDEN / "coco-small.json").read_bytes(), file="coco-small.json")
    assert ds.categories == {1: "drone", 2: "vehicle", 3: "person"}
    assert [(i.id, i.file_name, i.width, i.height) for i in ds.images] == [
        (10, "flight1/DJI_0001.JPG", 640, 480), (11, "flight1/DJI_0002.JPG", 480, 640)]
    assert [(b.category_id, b.x, b.y, b.w, b.h, b.score, b.ann_id) for b in ds.boxes[10]] == [
        (3, 100, 120, 50.5, 40, None, 1), (1, 0, 0, 640, 480, None, 2)]
    assert [(b.category_id, b.score) for b in ds.boxes[11]] == [(2, 0.87)]
    assert ds.crowd == 1


def _coco(**over: Any) -> dict[str, Any]:
    doc = json.loads((GOLDEN / "coco-small.json").read_text())
    doc.update(over)
    return doc


@pytest.mark.parametrize(("mutate", "field", "match"), [
    (lambda d: d.pop("images"), "images", "missing"),
    (lambda d: d.pop("categories"), "categories", "missing"),
    (lambda d: d["annotations"][1].update(image_id=99), "annotations[1] (id 2).image_id", "not in 'images'"),
    (lambda d: d["annotations"][0].update(category_id=7), "annotations[0] (id 1).category_id", "not in"),
    (lambda d: d["annotations"][3].update(bbox=[1, 2, 3]), "annotations[3] (id 4).bbox", r"\[x, y"),
    (lambda d: d["annotations"][3].update(bbox=[1, "2", 3, 4]), "annotations[3] (id 4).bbox", "str"),
    (lambda d: d["annotations"][0].update(bbox=[600, 0, 50, 10]), "annotations[0] (id 1).bbox", "outside"),
    (lambda d: d["annotations"][0].update(bbox=[6, 0, -5, 10]), "annotations[0] (id 1).bbox", ">= 0"),
    (lambda d: d["images"][1].update(file_name="flight1/DJI_0001.JPG"), "images[1].file_name", "twice"),
    (lambda d: d["images"][1].update(id=10), "images[1].id", "twice"),
    (lambda d: d["images"][0].update(width="640"), "images[0].width", "integer"),
    (lambda d: d["categories"][2].update(name="drone"), "categories[2].name", "twice"),
    (lambda d: d["annotations"][3].update(score=float("nan")), "annotations[3] (id 4).score", "finite"),
])
def test_bad_coco_names_the_field(mutate: Any, field: str, match: str) -> None:
    doc = _coco()
    mutate(doc)
    with pytest.raises(LabelError, match=match) as info:
        parse_coco(doc, file="bad.json")
    assert info.value.file == "bad.json" and info.value.field == field


def test_malformed_coco_json_names_the_file() -> None:
    with pytest.raises(LabelError, match="not valid JSON") as info:
        loads_coco(b'{"images": [', file="broken.json")
    assert info.value.file == "broken.json"
    with pytest.raises(LabelError, match="expected a COCO JSON object"):
        loads_coco(b"[]", file="list.json")


def test_written_coco_pieces_make_one_json_document_with_integral_values_kept() -> None:
    out = coco_head({"version": "v-1"}, [(1, "drone"), (2, "vehicle")])
    out += coco_image(1, "a.jpg", 640, 480, first=True) + coco_image(2, "b.jpg", 10, 10, first=False)
    out += ANNOTATIONS_START
    out += coco_annotation(1, 1, 2, 10, 20, 30.123456, 40, first=True)
    out += coco_annotation(2, 2, 1, 0, 0, 10, 10, first=False, score=0.5) + COCO_END
    doc = orjson.loads(out)
    assert doc["categories"] == [{"id": 1, "name": "drone", "supercategory": "drone"},
                                 {"id": 2, "name": "vehicle", "supercategory": "vehicle"}]
    assert doc["annotations"][0] == {"id": 1, "image_id": 1, "category_id": 2, "bbox": [10, 20, 30.123, 40],
                                     "area": 1204.938, "iscrowd": 0}
    assert doc["annotations"][1]["score"] == 0.5
    assert parse_coco(doc, file="x").boxes[2][0].score == 0.5


def test_golden_voc_is_read_one_based() -> None:
    ann = parse_voc((GOLDEN / "voc-small.xml").read_bytes(), file="voc-small.xml")
    assert (ann.filename, ann.width, ann.height, ann.depth, ann.folder) == ("DJI_0001.JPG", 640, 480, 3, "VOC2012")
    assert ann.objects == (VocObject("person", 101, 121, 150, 160), VocObject("drone", 1, 1, 640, 480, True, True))
    # 1-based inclusive corners: the whole image is 1..W, i.e. left 0, width W in the continuous frame
    assert from_voc(1, 1, 640, 480) == (0, 0, 640, 480)
    assert from_voc(101, 121, 150, 160) == (100, 120, 50, 40)


def test_voc_render_parse_round_trip_and_same_bytes() -> None:
    ann = VocAnnotation("a.jpg", 100, 50, 3, (VocObject("car", 1, 2.5, 100, 50), VocObject("x", 3, 3, 3, 3)))
    data = render_voc(ann)
    assert data == render_voc(ann)
    assert b"<xmin>1</xmin>" in data and b"<ymin>2.5</ymin>" in data
    assert parse_voc(data, file="a.xml") == ann


_VOC = (b"<annotation><filename>a.jpg</filename><size><width>100</width><height>50</height></size>"
        b"<object><name>car</name><bndbox><xmin>%s</xmin><ymin>1</ymin><xmax>%s</xmax><ymax>50</ymax></bndbox>"
        b"</object></annotation>")


@pytest.mark.parametrize(("data", "field", "match"), [
    (_VOC % (b"1", b"101"), "object[0].bndbox", "outside the image"),
    (_VOC % (b"-3", b"10"), "object[0].bndbox", "outside the image"),
    (_VOC % (b"20", b"10"), "object[0].bndbox", "below"),
    (_VOC % (b"one", b"10"), "object[0].bndbox.xmin", "expected a number"),
    (_VOC % (b"1", b"nan"), "object[0].bndbox.xmax", "finite"),
    (b"<annotation><filename>a.jpg</filename><size><width>0</width><height>5</height></size></annotation>",
     "size.width", "positive integer"),
    (b"<annotation><size><width>5</width><height>5</height></size></annotation>", "filename", "missing"),
])
def test_bad_voc_names_the_field(data: bytes, field: str, match: str) -> None:
    with pytest.raises(LabelError, match=match) as info:
        parse_voc(data, file="ann/a.xml")
    assert info.value.file == "ann/a.xml" and info.value.field == field


def test_voc_without_size_reads_as_zero_for_the_caller_to_probe() -> None:
    for size in (b"", b"<size><width>0</width><height>0</height><depth>3</depth></size>"):
        ann = parse_voc(b"<annotation><filename>a.jpg</filename>" + size + b"<object><name>car</name><bndbox>"
                        b"<xmin>1</xmin><ymin>1</ymin><xmax>900</xmax><ymax>9</ymax></bndbox></object></annotation>",
                        file="a.xml")
        assert (ann.width, ann.height, len(ann.objects)) == (0, 0, 1)


def test_hostile_voc_is_refused_before_any_expansion() -> None:
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
              b"<annotation><filename>&lol2;</filename></annotation>")
    with pytest.raises(LabelError, match="DOCTYPE"):
        parse_voc(laughs, file="evil.xml")
    external = (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b"<annotation><filename>&x;</filename></annotation>")
    with pytest.raises(LabelError, match="DOCTYPE"):
        parse_voc(external, file="evil.xml")
    with pytest.raises(LabelError, match="not valid VOC XML"):
        parse_voc(b"<annotation><filename>&undefined;</filename></annotation>", file="evil.xml")
    with pytest.raises(LabelError, match="larger than"):
        parse_voc(b" " * (8 * 1024 * 1024 + 1), file="big.xml")
    with pytest.raises(LabelError, match="<annotation>"):
        parse_voc(b"<html/>", file="page.xml")


_px = st.integers(min_value=0, max_value=2000)


@given(st.tuples(_px, _px, _px, _px))
def test_voc_corners_round_trip(box: tuple[int, int, int, int]) -> None:
    left, top, w, h = box
    assert from_voc(*to_voc(left, top, w + 1, h + 1)) == (left, top, w + 1, h + 1)


def test_yolo_rows_with_confidence_and_errors_by_line() -> None:
    rows = parse_label_rows("0 0.5 0.5 0.2 0.1\n\n2 0.1 0.2 0.3 0.4 0.9\n1 1.005 0.5 0.1 0.1\n", file="a.txt",
                            nc=3)
    assert rows == [(0, 0.5, 0.5, 0.2, 0.1, None), (2, 0.1, 0.2, 0.3, 0.4, 0.9), (1, 1.0, 0.5, 0.1, 0.1, None)]
    for text, line, match in [("0 0.5 0.5 0.2\n", 1, "5 columns"), ("0 .5 .5 .1 .1\nx .5 .5 .1 .1\n", 2, "numeric"),
                              ("3 .5 .5 .1 .1\n", 1, r"0\.\.2"), ("0 .5 1.2 .1 .1\n", 1, "outside"),
                              ("0.5 .5 .5 .1 .1\n", 1, "integer"), ("0 .5 .5 .1 .1 1.5\n", 1, "outside")]:
        with pytest.raises(LabelError, match=match) as info:
            parse_label_rows(text, file="labels/b.txt", nc=3)
        assert info.value.file == "labels/b.txt" and info.value.line == line


def test_data_yaml_names_list_or_dict() -> None:
    assert parse_data_yaml_names(b"names: [a, b]\n", file="d.yaml") == ["a", "b"]
    assert parse_data_yaml_names(b"names: {1: b, 0: a}\n", file="d.yaml") == ["a", "b"]
    for bad in (b"names: {0: a, 2: b}\n", b"nc: 2\n", b"names: [a, '']\n", b"names: [a\n"):
        with pytest.raises(LabelError, match=re.escape("d.yaml")):
            parse_data_yaml_names(bad, file="d.yaml")


@pytest.mark.parametrize("ids", [[1, 2, 3, 4, 5], [7, 3, 9, 100, 2], [1, 2, 3, 10, 11], [-5, -4, -3, -2, -1]])
@pytest.mark.parametrize("one_hash", [False, True])
def test_the_compact_image_table_finds_images_and_duplicates(ids: list[int], one_hash: bool,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Images are found by id whether the ids run (no dict) or not, file names stay unique even when every name
    has the same hash, and a repeated id or file_name names the image."""
    from gtlabel.formats import coco

    if one_hash:  # every file name collides
        monkeypatch.setattr(coco, "hash", lambda _s: 7, raising=False)
    images = [{"id": i, "file_name": f"dir/é{k}.jpg", "width": 10 + k, "height": 20} for k, i in enumerate(ids)]
    anns = [{"id": k, "image_id": i, "category_id": 1, "bbox": [0, 0, 10 + k, 20]} for k, i in enumerate(ids)]
    doc = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "a"}]}
    ds = parse_coco(doc, file="t.json")
    assert [(im.id, im.file_name, im.width, im.pos) for im in ds.images] == \
        [(i, f"dir/é{k}.jpg", 10 + k, k) for k, i in enumerate(ids)]
    assert all(ds.boxes[i][0].w == 10 + k for k, i in enumerate(ids))
    for bad, fld, match in ((dict(images[2], file_name="x.jpg"), "images[5].id", "given twice"),
                            (dict(images[3], id=max(ids) + 50), "images[5].file_name", r"images\[3\] has it too"),
                            (dict(images[0], id=1 << 70, file_name="y.jpg"), "images[5]", "62 bits")):
        with pytest.raises(LabelError, match=match) as info:
            parse_coco({**doc, "images": [*images, bad]}, file="t.json")
        assert info.value.field == fld
    with pytest.raises(LabelError, match="not in 'images'"):
        parse_coco({**doc, "annotations": [dict(anns[0], image_id=max(ids) + 1)]}, file="t.json")


@pytest.mark.parametrize(("stride", "per_image", "n"), [(1, 32, 50_000), (-3, 56, 20_000)])
def test_the_image_table_holds_no_python_object_per_image(stride: int, per_image: int, n: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """n images cost under 32 bytes each in memory when their ids run (56 when not: a table of ids), in a few
    blocks (flat arrays, names spilled to a temporary file); ids found, names read back across the spill, wide
    images, duplicates after it."""
    import tracemalloc

    from gtlabel.formats import coco

    monkeypatch.setattr(coco, "_NAMES_IN_MEMORY", 1 << 16)
    ids = [k * stride + 1 for k in range(n)]
    batch = [{"id": ids[k], "file_name": f"d/{k:06d}.jpg", "width": 4000, "height": 3000} for k in range(n)]
    check = coco.CocoChecker("t.json")
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        check.add_images(batch)
        stats = tracemalloc.take_snapshot().compare_to(before, "filename")
    finally:
        tracemalloc.stop()
    grown = [s for s in stats if s.size_diff > 0]
    assert sum(s.size_diff for s in grown) < per_image * n
    assert sum(s.count_diff for s in grown) < 100  # blocks, not objects per image
    try:
        assert [check.position(ids[k]) for k in (0, 1, 4321, n - 1)] == [0, 1, 4321, n - 1]
        assert check.position(ids[-1] + stride) is None and check.position(ids[0] - stride) is None
        assert [(im.id, im.file_name) for im in check.images_between(n - 3, n)] == \
            [(ids[k], f"d/{k:06d}.jpg") for k in range(n - 3, n)]
        assert check.image(7).file_name == "d/000007.jpg" and check.image(n - 1).file_name == f"d/{n - 1:06d}.jpg"
        check.add_images([{"id": 10**9, "file_name": "wide.jpg", "width": 100_000, "height": 3000}])
        assert (check.image(n).width, check.image(0).width, check.position(10**9)) == (100_000, 4000, n)
        with pytest.raises(LabelError, match=r"images\[12\] has it too") as info:
            check.add_images([{"id": 10**9 + 1, "file_name": "d/000012.jpg", "width": 1, "height": 1}])
        assert info.value.field == f"images[{n + 1}].file_name"
        with pytest.raises(LabelError, match=f"image id {ids[77]} is given twice"):
            check.add_images([{"id": ids[77], "file_name": "new.jpg", "width": 1, "height": 1}])
    finally:
        check.close()
