"""COCO object-detection JSON, pure: a decoded file -> checked records, and the bytes of a file written piece by
piece (so a writer streams: memory does not grow with the dataset). No I/O.

The shape (https://cocodataset.org/#format-data, as pycocotools reads it)::

    {"info": {...}, "licenses": [...],
     "images":      [{"id": int, "file_name": str, "width": int, "height": int}, ...],
     "annotations": [{"id": int, "image_id": int, "category_id": int, "bbox": [x, y, w, h],
                      "area": float, "iscrowd": 0 | 1, "score"?: float}, ...],
     "categories":  [{"id": int, "name": str, "supercategory"?: str}, ...]}

``bbox`` is ``[x, y, width, height]`` in pixels, (x, y) the top-left corner, origin at the image's top-left.
``score`` is what a detector's results carry (pycocotools ``loadRes``); we keep it as the box's confidence.

Reading (:func:`loads_coco`) parses the whole file at once (orjson: a COCO file is one JSON document; the
memory it takes is about 6-8x the file's size while parsing, then the compact records below, about 120 bytes a
box): we state this bound instead of a streaming parser, which would be 10x slower in pure Python.
Writing is streamed: :func:`coco_head`, :func:`coco_image`, :data:`ANNOTATIONS_START`, :func:`coco_annotation`,
:data:`COCO_END` are the file's pieces in order (one element a line), so the caller writes images as it goes
and spools the annotations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from gtlabel.errors import LabelError
from gtlabel.formats import strict_json
from gtlabel.geometry import pixel

__all__ = [
    "ANNOTATIONS_START",
    "COCO_END",
    "CocoBox",
    "CocoDataset",
    "CocoImage",
    "coco_annotation",
    "coco_head",
    "coco_image",
    "loads_coco",
    "parse_coco",
]

#: between the images and the annotations of a written file
ANNOTATIONS_START = b'\n],\n"annotations": [\n'
#: the end of a written file
COCO_END = b"\n]}\n"


class CocoBox(NamedTuple):
    """One annotation's box: ``[x, y, w, h]`` in pixels; ``score`` for detector results; ``pos`` its position in
    ``annotations`` (for error messages); ``ann_id`` its ``id``."""

    category_id: int
    x: float
    y: float
    w: float
    h: float
    score: float | None
    pos: int
    ann_id: int | None


@dataclass(frozen=True, slots=True)
class CocoImage:
    id: int
    file_name: str
    width: int
    height: int
    pos: int  # position in ``images``


@dataclass
class CocoDataset:
    """A checked COCO file: categories ``{id: name}`` in the file's order, images in the file's order, the boxes of
    each image id (crowd boxes left out and counted: Ground Truth has no crowd regions)."""

    file: str
    categories: dict[int, str]
    images: list[CocoImage]
    boxes: dict[int, list[CocoBox]]
    crowd: int = 0
    info: dict[str, Any] = field(default_factory=dict)


def _err(msg: str, file: str, fld: str) -> LabelError:
    return LabelError(msg, file=file, field=fld)


def _int(v: object, file: str, fld: str) -> int:
    if type(v) is int:
        return v
    if type(v) is float and v.is_integer():
        return int(v)
    raise _err(f"expected an integer, got {type(v).__name__} {v!r}"[:200], file, fld)


def _num(v: object, file: str, fld: str) -> float:
    if (type(v) is int or type(v) is float) and math.isfinite(v):
        return v
    raise _err(f"expected a finite number, got {type(v).__name__} {v!r}"[:200], file, fld)


def _list(doc: Mapping[str, Any], key: str, file: str, required: bool) -> list[Any]:
    v = doc.get(key)
    if v is None and not required:
        return []
    if not isinstance(v, list):
        what = "missing" if v is None else f"expected a list, got {type(v).__name__}"
        raise _err(what, file, key)
    return v


def parse_coco(doc: object, *, file: str) -> CocoDataset:
    """A decoded COCO file -> :class:`CocoDataset`, checked: :class:`~gtlabel.errors.LabelError` naming the file
    and field (``annotations[12] (id 7).image_id``) for a missing ``images`` or ``categories`` list, a wrong
    type, a duplicate id or ``file_name``, an annotation pointing at an unknown image or category, a box with a
    negative size or outside its image (more than 1 px)."""
    if not isinstance(doc, dict):
        raise LabelError(f"expected a COCO JSON object {{images, annotations, categories}}, got "
                         f"{type(doc).__name__}", file=file)
    cats: dict[int, str] = {}
    names: set[str] = set()
    for i, c in enumerate(_list(doc, "categories", file, True)):
        p = f"categories[{i}]"
        if not isinstance(c, dict):
            raise _err(f"expected an object, got {type(c).__name__}", file, p)
        cid = _int(c.get("id"), file, p + ".id")
        name = c.get("name")
        if not isinstance(name, str) or not name:
            raise _err(f"expected a non-empty string, got {name!r}"[:200], file, p + ".name")
        if cid in cats:
            raise _err(f"category id {cid} is given twice", file, p + ".id")
        if name in names:
            raise _err(f"category name {name!r} is given twice", file, p + ".name")
        cats[cid] = name
        names.add(name)
    images: list[CocoImage] = []
    by_id: dict[int, CocoImage] = {}
    files: dict[str, int] = {}
    for i, im in enumerate(_list(doc, "images", file, True)):
        p = f"images[{i}]"
        if not isinstance(im, dict):
            raise _err(f"expected an object, got {type(im).__name__}", file, p)
        iid = _int(im.get("id"), file, p + ".id")
        fn = im.get("file_name")
        if not isinstance(fn, str) or not fn:
            raise _err(f"expected a non-empty string, got {fn!r}"[:200], file, p + ".file_name")
        iw = _int(im.get("width"), file, p + ".width")
        ih = _int(im.get("height"), file, p + ".height")
        if iw <= 0 or ih <= 0:
            raise _err(f"width and height must be > 0, got {iw}x{ih}", file, p)
        if iid in by_id:
            raise _err(f"image id {iid} is given twice", file, p + ".id")
        if fn in files:
            raise _err(f"file_name {fn!r} is given twice (images[{files[fn]}] has it too)", file, p + ".file_name")
        files[fn] = i
        rec = CocoImage(iid, fn, iw, ih, i)
        images.append(rec)
        by_id[iid] = rec
    boxes: dict[int, list[CocoBox]] = {im.id: [] for im in images}
    crowd = 0
    new = tuple.__new__
    for i, a in enumerate(_list(doc, "annotations", file, False)):
        if not isinstance(a, dict):
            raise _err(f"expected an object, got {type(a).__name__}", file, f"annotations[{i}]")
        aid = a.get("id")
        p = f"annotations[{i}] (id {aid})" if aid is not None else f"annotations[{i}]"
        if aid is not None:
            aid = _int(aid, file, p + ".id")
        iid = _int(a.get("image_id"), file, p + ".image_id")
        im = by_id.get(iid)
        if im is None:
            raise _err(f"image id {iid} is not in 'images'", file, p + ".image_id")
        cid = _int(a.get("category_id"), file, p + ".category_id")
        if cid not in cats:
            raise _err(f"category id {cid} is not in 'categories' (ids {sorted(cats)[:20]})", file,
                       p + ".category_id")
        if a.get("iscrowd", 0) not in (0, 1, False, True):
            raise _err(f"expected 0 or 1, got {a.get('iscrowd')!r}"[:200], file, p + ".iscrowd")
        if a.get("iscrowd"):
            crowd += 1
            continue
        bb = a.get("bbox")
        if not isinstance(bb, list) or len(bb) != 4:
            raise _err(f"expected [x, y, width, height], got {bb!r}"[:200], file, p + ".bbox")
        x, y, w, h = [_num(v, file, p + ".bbox") for v in bb]
        if w < 0 or h < 0:
            raise _err(f"width and height must be >= 0, got {w} x {h}", file, p + ".bbox")
        if x < -1 or y < -1 or x + w > im.width + 1 or y + h > im.height + 1:
            raise _err(f"box {bb} is outside its image {im.file_name!r} ({im.width}x{im.height})", file,
                       p + ".bbox")
        score = a.get("score")
        if score is not None:
            score = float(_num(score, file, p + ".score"))
        boxes[iid].append(new(CocoBox, (cid, x, y, w, h, score, i, aid)))
    info = doc.get("info")
    return CocoDataset(file, cats, images, boxes, crowd, dict(info) if isinstance(info, dict) else {})


def loads_coco(data: bytes, *, file: str) -> CocoDataset:
    """:func:`parse_coco` of a file's bytes (malformed JSON is a :class:`~gtlabel.errors.LabelError` too)."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise LabelError(f"not valid JSON ({exc})", file=file) from None
    return parse_coco(doc, file=file)


# ----------------------------------------------------------------------------------------------- write (streamed)
def coco_head(info: Mapping[str, Any], categories: Sequence[tuple[int, str]]) -> bytes:
    """The start of a file: ``info``, ``licenses`` (empty), ``categories`` (in the order given), then the opening
    of ``images``."""
    cats = b",\n".join(strict_json.dumps({"id": cid, "name": name, "supercategory": name})
                       for cid, name in categories)
    return (b'{"info": ' + strict_json.dumps(dict(info), option=orjson.OPT_SORT_KEYS)
            + b',\n"licenses": [],\n"categories": [\n' + cats + b'\n],\n"images": [\n')


def coco_image(image_id: int, file_name: str, width: int, height: int, *, first: bool) -> bytes:
    """One ``images`` element (with its separator unless ``first``)."""
    item = strict_json.dumps({"id": image_id, "file_name": file_name, "width": width, "height": height})
    return item if first else b",\n" + item


def coco_annotation(ann_id: int, image_id: int, category_id: int, x: float, y: float, w: float, h: float, *,
                    first: bool, score: float | None = None) -> bytes:
    """One ``annotations`` element: ``bbox`` ``[x, y, w, h]`` and ``area`` in pixels (3 decimals), ``iscrowd`` 0,
    ``score`` when given (detector results)."""
    ann: dict[str, Any] = {"id": ann_id, "image_id": image_id, "category_id": category_id,
                           "bbox": [pixel(x), pixel(y), pixel(w), pixel(h)], "area": pixel(w * h), "iscrowd": 0}
    if score is not None:
        ann["score"] = score
    item = strict_json.dumps(ann)
    return item if first else b",\n" + item
