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

Reading, two ways, one set of checks (:class:`CocoChecker`): :func:`parse_coco` / :func:`loads_coco` take the
decoded document (memory about 6-8x the file's size while orjson parses it); :func:`iter_coco` reads the file in
chunks and gives each top-level array's elements a batch at a time (memory: a chunk and one batch, whatever the
file's size), which :class:`gtlabel.interchange.readers.CocoSource` uses to import with memory near flat (the image
table: 20-32 bytes an image, no Python object per image).
Writing is streamed: :func:`coco_head`, :func:`coco_image`, :data:`ANNOTATIONS_START`, :func:`coco_annotation`,
:data:`COCO_END` are the file's pieces in order (one element a line), so the caller writes images as it goes
and spools the annotations.
"""

from __future__ import annotations

import bisect
import math
import os
import tempfile
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, NamedTuple

import orjson

from gtlabel.errors import LabelError
from gtlabel.formats import strict_json
from gtlabel.formats.json_stream import iter_object
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
    "iter_coco",
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


class CocoImage(NamedTuple):
    """One image: ``id``, ``file_name``, ``width``, ``height`` and ``pos``, its position in ``images`` (a tuple:
    made for each image read back, ~25x cheaper than a frozen dataclass)."""

    id: int
    file_name: str
    width: int
    height: int
    pos: int


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


_NUMBER = (int, float)
_LO, _HI = -1e300, 1e300  # finite (NaN fails every comparison)
_GOLDEN, _U64 = 0x9E3779B97F4A7C15, (1 << 64) - 1  # Fibonacci hashing of image ids: the top bits of id * _GOLDEN
_NAMES_IN_MEMORY = 1 << 20  # file names past this many bytes go to a temporary file


def _err(msg: str, file: str, fld: str) -> LabelError:
    return LabelError(msg, file=file, field=fld)


def _int(v: object, file: str, fld: str) -> int:
    if type(v) is int:
        return v
    if type(v) is float and v.is_integer():
        return int(v)
    raise _err(f"expected an integer, got {type(v).__name__} {v!r}"[:200], file, fld)


def _text(v: object, file: str, fld: str) -> str:
    if isinstance(v, str) and v:
        return v
    raise _err(f"expected a non-empty string, got {v!r}"[:200], file, fld)


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


class CocoChecker:
    """The element-by-element checks of a COCO file, shared by :func:`parse_coco` (a decoded document) and a
    streamed read (:func:`iter_coco`: batches of elements as they come). Categories and images are kept; each
    annotation is checked against its image as it comes, against the categories when they are known (a file
    may list them last: :meth:`check_category` then checks each box afterwards)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.categories: dict[int, str] = {}
        self.crowd = 0
        self.categories_seen = False
        self._names: set[str] = set()
        # the image table, flat (no Python object per image, 20-32 bytes an image in memory): widths and heights
        # by position (array "H", "q" once one is past 16 bits); ids by position only once they stop running
        # first, first + 1, ... (then positions + 1 by id in _id_slots: open addressing, <= 2/3 full); file names as UTF-8 with end offsets by position,
        # spilled to a temporary file past _NAMES_IN_MEMORY bytes; duplicate names found through an open-addressing
        # set of the names' hashes (array "q", at most 2/3 full), a hit checked against the stored names
        self._w, self._h, self._ends = array("H"), array("H"), array("I")
        self._ids: array[int] | None = None
        self._blob = bytearray()  # the names after the spilled ones
        self._spool: IO[bytes] | None = None
        self._spilled = 0  # bytes of names in _spool
        self._slots, self._mask, self._hashes = array("q", bytes(8 * 1024)), 1023, 0
        self._first: int | None = None  # ids run from it (no by-id table) while _ids is None
        self._id_slots, self._id_shift = array("I", bytes(4 * 1024)), 54
        self._annotations = 0
        self._array = "annotations"  # what the boxes' fields are named under (a results list: "")
        self._images, self._categories = "'images'", "'categories'"
        self._scored = False  # a results list: every box has a score

    def results(self, file: str) -> None:
        """Check a results list (detections: ``[{image_id, category_id, bbox, score}, ...]``, the file ``file``)
        against the images and categories read so far (from its ground-truth file): fields are named ``[i].bbox``
        in ``file``, and each box needs a ``score``."""
        gt, self.file, self._array, self._scored = self.file, file, "", True
        self._images, self._categories = f"the images of {gt}", f"the categories of {gt}"
        self._annotations = 0

    def add_categories(self, batch: Sequence[object]) -> None:
        file, cats = self.file, self.categories
        self.categories_seen = True
        for c in batch:
            i = len(cats)
            p = f"categories[{i}]"
            if not isinstance(c, dict):
                raise _err(f"expected an object, got {type(c).__name__}", file, p)
            cid = _int(c.get("id"), file, p + ".id")
            name = _text(c.get("name"), file, p + ".name")
            if cid in cats:
                raise _err(f"category id {cid} is given twice", file, p + ".id")
            if name in self._names:
                raise _err(f"category name {name!r} is given twice", file, p + ".name")
            cats[cid] = name
            self._names.add(name)

    @property
    def image_count(self) -> int:
        return len(self._w)

    @property
    def sizes(self) -> tuple[array[int], array[int]]:
        """The images' widths and heights by position (the table's own arrays, to read: a caller checking boxes
        against their images takes them once)."""
        return self._w, self._h

    @property
    def images(self) -> list[CocoImage]:
        """Every image, in the file's order (made for the caller: the checker keeps them compact)."""
        return list(self.images_between(0, self.image_count))

    def image(self, pos: int) -> CocoImage:
        """The image at position ``pos`` of ``images``."""
        return CocoImage(self._id(pos), self._name(pos), self._w[pos], self._h[pos], pos)

    def images_between(self, lo: int, hi: int) -> Iterator[CocoImage]:
        """The images at positions ``lo`` to ``hi - 1`` (their names read at once)."""
        ends = self._ends
        base = ends[lo - 1] if lo else 0
        blob = self._name_bytes(base, ends[hi - 1]) if hi > lo else b""
        start = 0
        new, widths, heights = tuple.__new__, self._w, self._h
        for pos in range(lo, hi):
            end = ends[pos] - base
            yield new(CocoImage, (self._id(pos), blob[start:end].decode("utf-8"), widths[pos], heights[pos], pos))
            start = end

    def close(self) -> None:
        """Remove the spilled names (the table is read no more)."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def _id(self, pos: int) -> int:
        return self._ids[pos] if self._ids is not None else pos + (self._first or 0)

    def _name_bytes(self, a: int, b: int) -> bytes:
        spilled = self._spilled
        if a >= spilled:
            return bytes(self._blob[a - spilled:b - spilled])
        assert self._spool is not None
        head = os.pread(self._spool.fileno(), min(b, spilled) - a, a)
        return head + bytes(self._blob[:b - spilled]) if b > spilled else head

    def _name(self, pos: int) -> str:
        return self._name_bytes(self._ends[pos - 1] if pos else 0, self._ends[pos]).decode("utf-8")

    def position(self, iid: int) -> int | None:
        """The position of the image whose id is ``iid``, ``None`` when there is none."""
        if self._ids is not None:
            ids, slots, mask = self._ids, self._id_slots, len(self._id_slots) - 1
            s = ((iid * _GOLDEN) & _U64) >> self._id_shift
            while v := slots[s]:
                if ids[v - 1] == iid:
                    return v - 1
                s = (s + 1) & mask
            return None
        k = iid - self._first if self._first is not None else -1
        return k if 0 <= k < len(self._w) else None

    def _earlier(self, fn: str) -> int | None:
        """The position of the image named ``fn`` (a hash hit: read the stored names), ``None`` when none is."""
        ends, target = self._ends, fn.encode("utf-8")
        data = self._name_bytes(0, ends[-1]) if ends else b""
        at = data.find(target)
        while at >= 0:
            pos = bisect.bisect_right(ends, at)
            if (ends[pos - 1] if pos else 0) == at and ends[pos] == at + len(target):
                return pos
            at = data.find(target, at + 1)
        return None

    def _add_name(self, fn: str, i: int) -> None:
        h = hash(fn) or 1  # 0 marks a free slot
        slots, mask = self._slots, self._mask
        s = h & mask
        while (v := slots[s]) != 0:
            if v == h:  # the same name, or (very rarely) another one with the same hash
                j = self._earlier(fn)
                if j is not None:
                    raise _err(f"file_name {fn!r} is given twice (images[{j}] has it too)", self.file,
                               f"images[{i}].file_name")
                break
            s = (s + 1) & mask
        else:
            slots[s] = h
            self._hashes += 1
            if self._hashes * 3 > mask * 2:
                self._grow()
        self._blob += fn.encode("utf-8")
        n = len(self._blob) + self._spilled
        try:
            self._ends.append(n)
        except OverflowError:
            self._ends = array("Q", self._ends)
            self._ends.append(n)
        if len(self._blob) >= _NAMES_IN_MEMORY:
            if self._spool is None:
                self._spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
            self._spool.seek(0, os.SEEK_END)
            self._spool.write(self._blob)
            self._spool.flush()
            self._spilled += len(self._blob)
            self._blob.clear()

    def _grow(self) -> None:
        old = self._slots
        mask = len(old) * 2 - 1
        slots = array("q", bytes(8 * (mask + 1)))
        for h in old:
            if h:
                s = h & mask
                while slots[s]:
                    s = (s + 1) & mask
                slots[s] = h
        self._slots, self._mask = slots, mask

    def _add_id(self, iid: int, i: int) -> None:
        if self._ids is None:
            if self._first is None:
                self._first = iid
            if iid == self._first + i:
                return
            self._ids = array("q", range(self._first, self._first + i))  # the ids stopped running
            self._ids.append(iid)
            self._rehash_ids()
            return
        self._ids.append(iid)
        if (i + 1) * 3 > len(self._id_slots) * 2:
            self._rehash_ids()
        else:
            self._place_id(i)

    def _rehash_ids(self) -> None:
        """A table for the ids, 1/3 to 2/3 full."""
        assert self._ids is not None
        bits = max(10, (len(self._ids) * 3 // 2).bit_length())
        self._id_slots, self._id_shift = array("I", bytes(4 << bits)), 64 - bits
        for k in range(len(self._ids)):
            self._place_id(k)

    def _place_id(self, pos: int) -> None:
        slots, mask = self._id_slots, len(self._id_slots) - 1
        assert self._ids is not None
        s = ((self._ids[pos] * _GOLDEN) & _U64) >> self._id_shift
        while slots[s]:
            s = (s + 1) & mask
        slots[s] = pos + 1

    def _image_fields(self, raw: object, i: int) -> tuple[int, str, int, int]:
        file, p = self.file, f"images[{i}]"
        if not isinstance(raw, dict):
            raise _err(f"expected an object, got {type(raw).__name__}", file, p)
        return (_int(raw.get("id"), file, p + ".id"), _text(raw.get("file_name"), file, p + ".file_name"),
                _int(raw.get("width"), file, p + ".width"), _int(raw.get("height"), file, p + ".height"))

    def add_images(self, batch: Sequence[object]) -> None:
        file = self.file
        for raw in batch:
            i = len(self._w)
            if not (type(raw) is dict and type(iid := raw.get("id")) is int
                    and type(fn := raw.get("file_name")) is str and fn
                    and type(iw := raw.get("width")) is int and type(ih := raw.get("height")) is int):
                iid, fn, iw, ih = self._image_fields(raw, i)  # the precise checks: an error naming the field
            if iw <= 0 or ih <= 0:
                raise _err(f"width and height must be > 0, got {iw}x{ih}", file, f"images[{i}]")
            if max(abs(iid), iw, ih).bit_length() > 62:
                raise _err(f"a number beyond 62 bits ({iid}, {iw}x{ih})", file, f"images[{i}]")
            if self.position(iid) is not None:
                raise _err(f"image id {iid} is given twice", file, f"images[{i}].id")
            self._add_name(fn, i)
            self._add_id(iid, i)
            if (iw > 0xFFFF or ih > 0xFFFF) and self._w.typecode == "H":
                self._w, self._h = array("q", self._w), array("q", self._h)
            self._w.append(iw)
            self._h.append(ih)

    def annotations(self, batch: Sequence[object]) -> Iterator[tuple[int, CocoBox]]:
        """Each checked box of a batch of ``annotations`` elements with its image's position (crowd regions
        counted)."""
        new, scored, widths, heights, n = tuple.__new__, self._scored, self._w, self._h, len(self._w)
        by_id, first = self.position if self._ids is not None else None, self._first if self._first is not None else 0
        cats = self.categories if self.categories_seen else None
        number, lo, hi = _NUMBER, _LO, _HI
        start = self._annotations
        self._annotations += len(batch)
        last_id: object = None
        last_k: int | None = None
        for i, a in enumerate(batch, start):
            # fast path: a well-formed annotation (what tools write); anything else gets the precise check below
            try:
                aid, iid, cid, iscrowd, score = (a.get("id"), a["image_id"], a["category_id"],  # type: ignore[attr-defined, index]
                                                 a.get("iscrowd", 0), a.get("score"))  # type: ignore[attr-defined]
                x, y, w, h = a["bbox"]  # type: ignore[index]
                k: int | None = None
                if type(iid) is int:
                    if by_id is None:
                        k = iid - first if 0 <= iid - first < n else None
                    elif iid == last_id:  # an image's boxes usually come together: one look-up for them
                        k = last_k
                    else:
                        k = last_k = by_id(iid)
                        last_id = iid
            except (KeyError, TypeError, AttributeError, ValueError):
                k = None
            if (k is not None and type(cid) is int and (cats is None or cid in cats)
                    and (aid is None or type(aid) is int) and (iscrowd == 0 or iscrowd == 1)
                    and type(iscrowd) in (int, bool) and type(x) in number and type(y) in number
                    and type(w) in number and type(h) in number and lo < x < hi and lo < y < hi
                    and 0 <= w < hi and 0 <= h < hi and x >= -1 and y >= -1 and x + w <= widths[k] + 1
                    and y + h <= heights[k] + 1 and (score is None or (type(score) in number and lo < score < hi))
                    and (score is not None or not scored)):
                if iscrowd:
                    self.crowd += 1
                    continue
                yield k, new(CocoBox, (cid, x, y, w, h, None if score is None else float(score), i, aid))
                continue
            checked = self._checked(a, i, cats)
            if checked is None:
                self.crowd += 1
            else:
                yield checked

    def check_category(self, box: CocoBox) -> None:
        """A box read before the categories were: its ``category_id`` must be one of them."""
        if box.category_id not in self.categories:
            raise _err(f"category id {box.category_id} is not in {self._categories} (ids "
                       f"{sorted(self.categories)[:20]})", self.file, self.box_path(box.pos, box.ann_id) + ".category_id")

    def box_path(self, i: int, aid: object) -> str:
        """How an annotation (or a result) is named in errors: ``annotations[12] (id 7)``, ``[12]``."""
        return f"{self._array}[{i}] (id {aid})" if aid is not None else f"{self._array}[{i}]"

    def _checked(self, a: object, i: int, cats: Mapping[int, str] | None) -> tuple[int, CocoBox] | None:
        """One annotation checked field by field: its image and box, ``None`` for a crowd region, or the
        :class:`~gtlabel.errors.LabelError` naming the field (``cats`` ``None``: categories not known yet)."""
        file = self.file
        if not isinstance(a, dict):
            raise _err(f"expected an object, got {type(a).__name__}", file, f"{self._array}[{i}]")
        aid = a.get("id")
        p = self.box_path(i, aid)
        if aid is not None:
            aid = _int(aid, file, p + ".id")
        iid = _int(a.get("image_id"), file, p + ".image_id")
        k = self.position(iid)
        if k is None:
            raise _err(f"image id {iid} is not in {self._images}", file, p + ".image_id")
        im = self.image(k)
        cid = _int(a.get("category_id"), file, p + ".category_id")
        if cats is not None and cid not in cats:
            raise _err(f"category id {cid} is not in {self._categories} (ids {sorted(cats)[:20]})", file,
                       p + ".category_id")
        if a.get("iscrowd", 0) not in (0, 1, False, True):
            raise _err(f"expected 0 or 1, got {a.get('iscrowd')!r}"[:200], file, p + ".iscrowd")
        if a.get("iscrowd"):
            return None
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
        elif self._scored:
            raise _err("missing: each detection of a results list has its score", file, p + ".score")
        return k, CocoBox(cid, x, y, w, h, score, i, aid)


def parse_coco(doc: object, *, file: str) -> CocoDataset:
    """A decoded COCO file -> :class:`CocoDataset`, checked: :class:`~gtlabel.errors.LabelError` naming the file
    and field (``annotations[12] (id 7).image_id``) for a missing ``images`` or ``categories`` list, a wrong
    type, a duplicate id or ``file_name``, an annotation pointing at an unknown image or category, a box with a
    negative size or outside its image (more than 1 px)."""
    if not isinstance(doc, dict):
        raise LabelError(f"expected a COCO JSON object {{images, annotations, categories}}, got "
                         f"{type(doc).__name__}", file=file)
    check = CocoChecker(file)
    check.add_categories(_list(doc, "categories", file, True))
    check.add_images(_list(doc, "images", file, True))
    images = check.images
    boxes: dict[int, list[CocoBox]] = {im.id: [] for im in images}
    try:
        for k, box in check.annotations(_list(doc, "annotations", file, False)):
            boxes[images[k].id].append(box)
    finally:
        check.close()
    info = doc.get("info")
    return CocoDataset(file, check.categories, images, boxes, check.crowd,
                       dict(info) if isinstance(info, dict) else {})


def loads_coco(data: bytes, *, file: str) -> CocoDataset:
    """:func:`parse_coco` of a file's bytes (malformed JSON is a :class:`~gtlabel.errors.LabelError` too)."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise LabelError(f"not valid JSON ({exc})", file=file) from None
    return parse_coco(doc, file=file)


# ----------------------------------------------------------------------------------------------- read (streamed)
def iter_coco(read: Callable[[int], bytes], *, file: str, chunk: int = 1 << 20) -> Iterator[tuple[str, Any, bool]]:
    """A COCO file read in chunks of ``chunk`` bytes (``read(n)`` as a file's):
    :func:`gtlabel.formats.json_stream.iter_object` (``(key, batch, True)`` for batches of each top-level array's
    elements, ``[]`` last; ``(key, value, False)`` for other values). Memory: a chunk and one batch, whatever the
    file's size. Malformed JSON is a :class:`~gtlabel.errors.LabelError` naming the byte."""
    return iter_object(read, file=file, chunk=chunk, what="a COCO JSON object {images, annotations, categories}")


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
