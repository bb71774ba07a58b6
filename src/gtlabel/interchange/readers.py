"""What an import reads: YOLO, COCO and Pascal VOC labels as :class:`Item` s (one image: where it is, its
displayed size, its boxes by class name, in pixels), in a deterministic order. Bad input raises
:class:`~gtlabel.errors.InputError` naming the file, line and field.

- COCO: one JSON file (:func:`gtlabel.formats.coco.loads_coco`: the whole file is parsed at once, its memory
  bound is stated there); image sizes from ``images``; ``score`` kept as the confidence.
- VOC: a folder (or prefix) of ``*.xml`` files, or one file, read one at a time in name order; sizes from
  ``<size>``; two files for the same image are an error naming both.
- YOLO: a dataset folder (``data.yaml`` names; images anywhere under it, each label found as Ultralytics finds it:
  the last ``/images/`` of its path replaced by ``/labels/``, else beside it, suffix ``.txt``; no label file is
  an image without boxes); sizes read from each image's header (EXIF-upright), 6th column kept as confidence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gtlabel import storage
from gtlabel.convert.probe import probe_header, probe_image
from gtlabel.errors import InputError, LabelError, NotFound
from gtlabel.formats.coco import CocoDataset, loads_coco
from gtlabel.formats.voc import from_voc, parse_voc
from gtlabel.formats.yolo import ULTRALYTICS_IMG_FORMATS, parse_data_yaml_names, parse_label_rows
from gtlabel.geometry import displayed_size

__all__ = ["Item", "NamedBox", "iter_voc", "iter_yolo", "read_coco", "yolo_label_uri"]

#: class name, left, top, width, height (pixels), confidence
NamedBox = tuple[str, float, float, float, float, float | None]
_PROBE_BATCH = 256


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


def read_coco(uri: str) -> CocoDataset:
    """A COCO file, checked (:func:`gtlabel.formats.coco.loads_coco`)."""
    return loads_coco(storage.read_bytes(uri), file=uri)


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


def _size(uri: str) -> tuple[int, int] | str:
    """The displayed size of an image, or why it has none."""
    if storage.is_s3(uri):
        probe = probe_image(uri)
        if probe.size is None:
            return f"{probe.error}: {probe.detail or ''}".strip()
        return displayed_size(probe.size[0], probe.size[1], probe.orientation)
    try:
        (w, h), orientation, _ = probe_header(uri)
    except FileNotFoundError:
        return "image not found"
    except Exception as exc:  # PIL raises many types for non-images
        return f"not a readable image: {type(exc).__name__}: {exc}"
    return displayed_size(w, h, orientation)


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
    sizes = list(pool.map(_size, uris))
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
