"""What an import reads: YOLO, COCO and Pascal VOC labels as :class:`Item` s (one image: where it is, its
displayed size, its boxes by class name, in pixels), in a deterministic order. Bad input raises
:class:`~gtlabel.errors.InputError` naming the file, line and field.

- COCO: one JSON file, read streamed (:class:`CocoSource`: memory flat: ~25 bytes an image, nothing per box); image
  sizes from ``images``; ``score`` kept as the confidence. Or a results list (a detector's ``[{image_id,
  category_id, bbox, score}]``) with the ground-truth file that holds its images and categories.
- VOC: a folder (or prefix) of ``*.xml`` files, or one file, read one at a time in name order; sizes from
  ``<size>`` (without one: 0 x 0, read from the image by the importer); two files for the same image are an
  error naming both.
- YOLO: a dataset folder (``data.yaml`` names; images anywhere under it, each label found as Ultralytics finds it:
  the last ``/images/`` of its path replaced by ``/labels/``, else beside it, suffix ``.txt``; no label file is
  an image without boxes); sizes read from each image's header (EXIF-upright), 6th column kept as confidence.
"""

from __future__ import annotations

import math
import struct
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

from gtlabel import storage
from gtlabel.convert.probe import displayed_size_of, probe_image
from gtlabel.errors import InputError, LabelError, NotFound
from gtlabel.formats.coco import CocoBox, CocoChecker, CocoDataset, CocoImage, iter_coco, loads_coco
from gtlabel.formats.json_stream import iter_array
from gtlabel.formats.voc import from_voc, parse_voc
from gtlabel.formats.yolo import ULTRALYTICS_IMG_FORMATS, parse_data_yaml_names, parse_label_rows
from gtlabel.geometry import displayed_size

__all__ = ["BUCKET_IMAGES", "RESULTS_SHAPE", "CocoSource", "Item", "NamedBox", "image_size", "iter_voc", "iter_yolo",
           "read_coco", "yolo_label_uri"]

#: class name, left, top, width, height (pixels), confidence
NamedBox = tuple[str, float, float, float, float, float | None]
_PROBE_BATCH = 256
#: what a COCO results list (a detector's output, as pycocotools' ``loadRes`` reads it) looks like
RESULTS_SHAPE = "a COCO results list [{image_id, category_id, bbox, score}, ...]"


@dataclass(slots=True)
class Item:
    """One image of the source: ``name`` (where it is: a COCO ``file_name``, a VOC ``<path>``/``<filename>``, a
    YOLO image's URI), ``file``/``line`` for errors, ``field(i)`` the path of box ``i`` in its file."""

    name: str
    width: int
    height: int
    boxes: list[NamedBox]
    file: str
    field: Callable[[int], str]
    line: int | None = None
    alt_name: str | None = None  # VOC: ``<filename>`` when ``name`` is its ``<path>``


_REC = struct.Struct("<iqqqddddd")  # image index, category id, position, annotation id, x, y, w, h, score
_NO_ID = -(1 << 63)
#: images per spool file: the boxes of this many images are in memory at once when they are given back
BUCKET_IMAGES = 4096


def read_coco(uri: str, check: CocoChecker,
              on_annotations: Callable[[list[object]], None] | None) -> CocoDataset | None:
    """Read the COCO file ``uri`` streamed into ``check``: its categories and images kept there, each batch of
    ``annotations`` handed to ``on_annotations`` (which checks them with ``check.annotations``; ``None``: the
    annotations are not read, as for the ground truth of a results list). A file that lists
    ``annotations`` before ``images`` (unusual) is parsed whole instead and returned (``on_annotations`` then saw
    nothing); ``None`` otherwise. A missing ``images`` or ``categories`` list, or one that is not a list, is a
    :class:`~gtlabel.errors.LabelError` naming the field."""
    seen: set[str] = set()
    spooled = False
    with storage.open_read(uri) as fh:
        for key, payload, is_array in iter_coco(fh.read, file=uri):
            seen.add(key)
            if not is_array:
                if key in ("images", "annotations", "categories"):
                    raise LabelError(f"expected a list, got {type(payload).__name__}", file=uri, field=key)
                continue
            if key == "categories":
                check.add_categories(payload)
            elif key == "images":
                if spooled:
                    raise LabelError("'images' continues after 'annotations' began", file=uri, field="images")
                check.add_images(payload)
            elif key == "annotations" and payload and on_annotations is not None:
                if "images" not in seen:  # boxes before their images: parse the whole file instead
                    return loads_coco(storage.read_bytes(uri), file=uri)
                spooled = True
                on_annotations(payload)
    for key in ("images", "categories"):
        if key not in seen:
            raise LabelError("missing", file=uri, field=key)
    return None


class CocoSource:
    """A COCO file read streamed (:func:`gtlabel.formats.coco.iter_coco`, checked by
    :class:`~gtlabel.formats.coco.CocoChecker`): categories and images are kept (flat arrays: 20-32 bytes of memory
    an image), each annotation is checked as it comes and spooled (68 bytes) to a temporary file for its range of
    :data:`BUCKET_IMAGES` images; :meth:`items` then gives the images back in the file's order with their boxes.
    Memory therefore grows by those few bytes an image only, not with the boxes or the file. A file that lists
    ``annotations`` before ``images`` (unusual) is parsed whole instead (:func:`gtlabel.formats.coco.loads_coco`).

    ``results_of``: ``uri`` is a results list (detections, :data:`RESULTS_SHAPE`: no images or categories of its
    own) and ``results_of`` the COCO ground-truth file whose images and categories it refers to (its annotations
    are not read). Every image of the ground truth is given back, with the detections on it (none: no box), each
    with its ``score``; a result naming an image or category the ground truth lacks is an error naming the
    result (``[12].image_id``) and the ground-truth file."""

    def __init__(self, uri: str, *, results_of: str | None = None) -> None:
        self.uri = uri
        self.check = CocoChecker(results_of if results_of is not None else uri)
        self._buckets: list[IO[bytes]] = []
        self._whole: CocoDataset | None = None
        self._deferred = False  # categories came after the annotations: each box is checked when given back
        if results_of is None:
            self._read(uri, boxes=True)
            return
        self._read(results_of, boxes=False)  # the ground truth's images and categories
        self.check.results(uri)
        with storage.open_read(uri) as fh:
            for batch in iter_array(fh.read, file=uri, what=RESULTS_SHAPE):
                if batch:
                    self._spool(batch)

    def _read(self, uri: str, *, boxes: bool) -> None:
        whole = read_coco(uri, self.check, self._spool if boxes else None)
        if whole is not None:  # boxes before their images: the file was parsed whole instead
            self._close()
            self._whole = whole

    def _spool(self, batch: list[object]) -> None:
        if not self._buckets:
            n = max(1, -(-self.check.image_count // BUCKET_IMAGES))
            self._buckets = [tempfile.TemporaryFile() for _ in range(n)]  # noqa: SIM115 - closed by items() or _close()
            self._deferred = not self.check.categories_seen
        pack, buckets = _REC.pack, self._buckets
        for k, b in self.check.annotations(batch):
            try:
                rec = pack(k, b.category_id, b.pos, _NO_ID if b.ann_id is None else b.ann_id, b.x, b.y, b.w,
                           b.h, math.nan if b.score is None else b.score)
            except struct.error:
                raise LabelError("an id is beyond 64 bits", file=self.uri, field=self.check.box_path(b.pos, None)) \
                    from None
            buckets[k // BUCKET_IMAGES].write(rec)

    def _close(self) -> None:
        for f in self._buckets:
            f.close()
        self._buckets = []
        self.check.close()

    @property
    def categories(self) -> dict[int, str]:
        return self._whole.categories if self._whole is not None else self.check.categories

    @property
    def crowd(self) -> int:
        return self._whole.crowd if self._whole is not None else self.check.crowd

    def items(self) -> Iterator[tuple[CocoImage, list[CocoBox]]]:
        """Each image in the file's order with its boxes (in the file's order); the spool is removed after."""
        if self._whole is not None:
            for im in self._whole.images:
                yield im, self._whole.boxes[im.id]
            return
        new, check = tuple.__new__, self.check
        count = check.image_count
        checked: set[int] = set() if self._deferred else set(check.categories)
        try:
            for k in range(max(1, len(self._buckets))):
                by_index: dict[int, list[CocoBox]] = {}
                if self._buckets:
                    f = self._buckets[k]
                    f.seek(0)
                    for idx, cid, pos, aid, x, y, w, h, score in _REC.iter_unpack(f.read()):
                        box = new(CocoBox, (cid, x, y, w, h, None if score != score else score, pos,
                                            None if aid == _NO_ID else aid))
                        if cid not in checked:  # categories listed after the boxes: each id checked once
                            check.check_category(box)
                            checked.add(cid)
                        boxes = by_index.get(idx)
                        if boxes is None:
                            by_index[idx] = [box]
                        else:
                            boxes.append(box)
                    f.close()
                for im in check.images_between(k * BUCKET_IMAGES, min(count, (k + 1) * BUCKET_IMAGES)):
                    yield im, by_index.get(im.pos, [])
        finally:
            self._close()


def iter_voc(source: str) -> Iterator[Item]:
    """The VOC files of a folder/prefix (``*.xml``, in name order) or one file, one at a time."""
    uris = [source] if source.lower().endswith(".xml") else \
        [o.uri for o in storage.list_objects(source, suffixes=[".xml"])]
    if not uris:
        raise InputError("no VOC annotation (*.xml) found", file=source)
    seen: dict[str, str] = {}
    for uri in uris:
        ann = parse_voc(storage.read_bytes(uri), file=uri)
        key = ann.path or f"{ann.folder}/{ann.filename}"
        if key in seen:
            raise LabelError(f"the image {key!r} is annotated twice (also in {seen[key]})", file=uri,
                             field="path" if ann.path else "filename")
        seen[key] = uri
        boxes: list[NamedBox] = [(o.name, *from_voc(o.xmin, o.ymin, o.xmax, o.ymax), None) for o in ann.objects]
        yield Item(ann.path or ann.filename, ann.width, ann.height, boxes, uri, lambda i: f"object[{i}].name",
                   alt_name=ann.filename if ann.path else None)


def yolo_label_uri(image_uri: str) -> str:
    """Where Ultralytics looks for an image's label file (``img2label_paths``): the last ``/images/`` replaced by
    ``/labels/`` (beside the image when there is none), the suffix by ``.txt``."""
    head, sep, tail = image_uri.rpartition("/images/")
    path = f"{head}/labels/{tail}" if sep else image_uri
    return path.rsplit(".", 1)[0] + ".txt"


def image_size(uri: str) -> tuple[int, int] | str:
    """The displayed size of an image, or why it has none."""
    if storage.is_s3(uri):
        probe = probe_image(uri)
        if probe.size is None:
            return f"{probe.error}: {probe.detail or ''}".strip()
        return displayed_size(probe.size[0], probe.size[1], probe.orientation)
    try:
        return displayed_size_of(uri)
    except FileNotFoundError:
        return "image not found"
    except Exception as exc:  # PIL raises many types for non-images
        return f"not a readable image: {type(exc).__name__}: {exc}"


def _label_text(uri: str) -> str | None:
    try:
        return storage.read_bytes(uri).decode("utf-8-sig")
    except (NotFound, FileNotFoundError):
        return None
    except UnicodeDecodeError as exc:
        raise LabelError(f"not UTF-8 text ({exc})", file=uri) from None


def iter_yolo(source: str, names: Sequence[str] | None = None, *, threads: int = 8) -> tuple[list[str], Iterator[Item]]:
    """The class names (``names``, else ``data.yaml``'s) and the images of a YOLO dataset folder/prefix."""
    root = source.rstrip("/")
    if names is None:
        yaml_uri = storage.join(root, "data.yaml")
        try:
            data = storage.read_bytes(yaml_uri)
        except (NotFound, FileNotFoundError):
            raise InputError("no data.yaml here: give the class names (CLI: --classes a,b,...)", file=yaml_uri) \
                from None
        names = parse_data_yaml_names(data, file=yaml_uri)
    found = list(names)
    suffixes = [f".{s}" for s in sorted(ULTRALYTICS_IMG_FORMATS)]

    def items() -> Iterator[Item]:
        listing = (o.uri for o in storage.list_objects(root, suffixes=suffixes) if "/labels/" not in o.uri)
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            batch: list[str] = []
            for uri in listing:
                batch.append(uri)
                if len(batch) >= _PROBE_BATCH:
                    yield from _yolo_batch(batch, found, pool)
                    batch = []
            yield from _yolo_batch(batch, found, pool)

    return found, items()


def _yolo_batch(uris: list[str], names: list[str], pool: ThreadPoolExecutor) -> Iterator[Item]:
    sizes = list(pool.map(image_size, uris))
    texts = list(pool.map(_label_text, (yolo_label_uri(u) for u in uris)))
    for uri, size, text in zip(uris, sizes, texts, strict=True):
        if isinstance(size, str):
            raise InputError(f"{size} (its size is needed to place the boxes)", file=uri)
        w, h = size
        label_uri = yolo_label_uri(uri)
        rows = parse_label_rows(text, file=label_uri, nc=len(names)) if text else []
        boxes: list[NamedBox] = [(names[c], (xc - bw / 2) * w, (yc - bh / 2) * h, bw * w, bh * h, conf)
                                 for c, xc, yc, bw, bh, conf in rows]
        yield Item(uri, w, h, boxes, label_uri, lambda i: f"row {i + 1}")
