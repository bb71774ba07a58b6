"""The streamed COCO read: formats.coco.iter_coco gives the same elements as a whole-file parse whatever the chunk
size (strings and nested objects holding braces included); interchange.readers.CocoSource spools boxes per range
of images, checks categories listed last, falls back to a whole parse when annotations come first, and names the
byte of malformed JSON."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtlabel.errors import LabelError
from gtlabel.formats.coco import iter_coco
from gtlabel.interchange import readers
from gtlabel.interchange.readers import CocoSource

GOLDEN = Path(__file__).parents[1] / "formats" / "golden" / "coco-small.json"


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(GOLDEN.read_text())
    doc["info"] = {"a": {"b": "}]"}, "c": [1, {"d": 2}], "s": "quote \" and \\ and }"}
    doc["annotations"][0]["attributes"] = {"x": {"y": "},{"}, "z": [[1, 2], {"w": "]"}]}
    doc["licenses"] = [{"id": 1, "name": "cc"}]
    doc["empty"] = []
    return doc


def _read(data: bytes, chunk: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, payload, is_array in iter_coco(io.BytesIO(data).read, file="x.json", chunk=chunk):
        if is_array:
            out.setdefault(key, []).extend(payload)
        else:
            out[key] = payload
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.booleans())
def test_iter_coco_gives_the_whole_parse_at_any_chunk_size(chunk: int, indent: bool) -> None:
    doc = _doc()
    data = json.dumps(doc, indent=2 if indent else None).encode()
    assert _read(data, chunk) == doc


@pytest.mark.parametrize(("data", "match"), [
    (b'{"images": [{"id": 1}', "unterminated"),
    (b'{"images": [{"id": 1}, {"id": }]}', "not valid JSON"),
    (b'{"images" [] }', "expected ':'"),
    (b'{"info": {}} trailing', "after the JSON object"),
    (b"[1, 2]", "expected a COCO JSON object"),
    (b'{"info": nope}', "expected a value"),
])
def test_malformed_json_names_the_file(data: bytes, match: str) -> None:
    with pytest.raises(LabelError, match=match) as info:
        _read(data, 4)
    assert info.value.file == "x.json"


def _write(tmp: Path, doc: dict[str, Any], order: list[str]) -> str:
    p = tmp / "c.json"
    p.write_bytes(b"{" + b",".join(orjson.dumps(k) + b":" + orjson.dumps(doc[k]) for k in order) + b"}")
    return str(p)


def test_coco_source_buckets_categories_last_and_annotations_first(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "BUCKET_IMAGES", 1)  # every image its own spool file
    doc = _doc()
    for order in (["info", "images", "annotations", "categories"], ["categories", "images", "annotations"],
                  ["annotations", "categories", "images"]):
        src = CocoSource(_write(tmp_path, doc, order))
        got = [(im.file_name, [(b.category_id, b.x, b.y, b.w, b.h, b.score, b.pos, b.ann_id) for b in boxes])
               for im, boxes in src.items()]
        assert got == [("flight1/DJI_0001.JPG", [(3, 100, 120, 50.5, 40, None, 0, 1), (1, 0, 0, 640, 480, None, 1, 2)]),
                       ("flight1/DJI_0002.JPG", [(2, 10.25, 20.75, 30, 60, 0.87, 3, 4)])], order
        assert src.crowd == 1 and src.categories == {1: "drone", 2: "vehicle", 3: "person"}
    doc["annotations"][3]["category_id"] = 9
    late = CocoSource(_write(tmp_path, doc, ["images", "annotations", "categories"]))
    with pytest.raises(LabelError, match="category id 9") as info:
        list(late.items())
    assert info.value.field == "annotations[3] (id 4).category_id"
    with pytest.raises(LabelError, match="category id 9"):
        CocoSource(_write(tmp_path, doc, ["categories", "images", "annotations"]))
    with pytest.raises(LabelError, match="missing") as info:
        CocoSource(_write(tmp_path, doc, ["images", "annotations"]))
    assert info.value.field == "categories"


def test_iter_coco_streams_an_array_without_reading_past_it() -> None:
    """A batch never reaches past its array's end: the images are given while most of the file is unread."""
    doc = {"images": [{"id": i, "file_name": f"{i}.jpg", "width": 9, "height": 9} for i in range(200)],
           "annotations": [{"id": i, "image_id": 0, "category_id": 1, "bbox": [1, 1, 2, 2]} for i in range(5000)],
           "categories": [{"id": 1, "name": "a"}]}
    data = orjson.dumps(doc)  # compact: a '}' of the annotations follows the images' ']' closely
    stream = io.BytesIO(data)
    read_at_first_annotations = None
    got: dict[str, list[Any]] = {}
    for key, batch, _ in iter_coco(stream.read, file="x.json", chunk=4096):
        if key == "annotations" and read_at_first_annotations is None:
            read_at_first_annotations = stream.tell()
        got.setdefault(key, []).extend(batch)
    assert got == doc
    assert read_at_first_annotations is not None and read_at_first_annotations < len(data) // 4


def test_an_array_of_strings_before_a_long_array_does_not_read_the_file_whole() -> None:
    """An array of non-objects (lineage.json's ``jobs``) is read a value at a time: a ``}`` after it (in the next
    array) is not taken for its end, so the next array still comes in batches of about a chunk."""
    from gtlabel.formats.json_stream import iter_object

    doc = {"version": "v-1", "jobs": ["labeling-job/a", "labeling-job/b"], "n": [1, 2.5, None, [3, 4]],
           "images": [{"image": f"images/train/{i}.jpg", "split": "train"} for i in range(3000)]}
    for data in (orjson.dumps(doc), orjson.dumps(doc, option=orjson.OPT_INDENT_2)):
        stream = io.BytesIO(data)
        got: dict[str, Any] = {}
        biggest = 0
        for key, value, is_array in iter_object(stream.read, file="lineage.json", chunk=4096):
            if is_array:
                got.setdefault(key, []).extend(value)
                if key == "images":
                    biggest = max(biggest, len(value))
            else:
                got[key] = value
        assert got == doc
        assert 0 < biggest < 400  # batches of about 4 KiB, not the whole array
