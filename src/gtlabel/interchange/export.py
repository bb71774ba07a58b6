"""Export labels to COCO JSON and Pascal VOC XML, from an output manifest or a gtlabel dataset
(:mod:`.sources` reads either).

- COCO (:func:`export_coco`): one JSON file; categories in the dataset's id order (COCO id = YOLO id + 1, since
  COCO tools assume 1-based ids), images and annotations numbered from 1 in the source's order, ``bbox``
  ``[x, y, w, h]`` and ``area`` in pixels of the displayed (EXIF-upright) frame, ``iscrowd`` 0, ``info`` with the
  version id, the source and the alias map. Written streamed (images as they come, annotations through a spool
  file), so memory does not grow with the dataset; the file appears whole or not at all.
- VOC (:func:`export_voc`): one XML per image in a folder, 1-based inclusive corners (:mod:`gtlabel.formats.voc`),
  ``<path>`` the image's ``source-ref``; the folder is built beside the destination and renamed into place
  (locally), or, once every file is made, uploaded to a staging prefix and copied into place server-side (S3:
  a failure leaves the destination as it was).

``aliases`` (``{"car": "vehicle", "truck": "vehicle"}``) rename and merge classes on the way out; the map is
recorded in COCO's ``info`` and in the export's version id. A rerun gives the same bytes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gtlabel import __version__, storage
from gtlabel.convert import dataset_name
from gtlabel.convert.classes import alias_names, check_aliases
from gtlabel.errors import DatasetExists, InputError
from gtlabel.formats.coco import ANNOTATIONS_START, COCO_END, coco_annotation, coco_head, coco_image
from gtlabel.formats.voc import VocAnnotation, VocObject, render_voc, to_voc
from gtlabel.geometry import clip_box
from gtlabel.interchange.sources import LabelSource, open_source
from gtlabel.lineage import version_id

__all__ = ["ExportReport", "export_coco", "export_voc"]

_SPOOL_FLUSH = 1 << 20


@dataclass
class ExportReport:
    """What an export wrote."""

    source: str
    dest: str
    format: str
    version: str = ""
    names: list[str] = field(default_factory=list)
    images: int = 0
    boxes: int = 0
    boxes_zero_area: int = 0
    class_counts: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "dest": self.dest, "format": self.format, "version": self.version,
                "names": self.names, "images": self.images, "boxes": self.boxes,
                "boxes_zero_area": self.boxes_zero_area, "class_counts": dict(sorted(self.class_counts.items()))}

    def summary(self) -> str:
        return (f"{self.format}: {self.images} images, {self.boxes} boxes, {len(self.names)} classes -> {self.dest} "
                f"({self.version})")


def _open(source: str | os.PathLike[str], aliases: Mapping[str, str] | Sequence[str] | None,
          kw: Mapping[str, Any]) -> tuple[LabelSource, list[str], list[int], dict[str, str], str]:
    src = open_source(source, **kw)
    amap = check_aliases(aliases)
    names, index = alias_names(src.names, amap)
    version = version_id({"source": src.version, "aliases": amap}) if amap else src.version
    return src, names, index, amap, version


def _frame_box(box: tuple[int, float, float, float, float, float | None], w: int, h: int
               ) -> tuple[float, float, float, float] | None:
    _, left, top, bw, bh, _ = box
    if left < 0 or top < 0 or left + bw > w or top + bh > h:
        return clip_box(left, top, bw, bh, w, h)
    return (left, top, bw, bh) if bw > 0 and bh > 0 else None


def export_coco(source: str | os.PathLike[str], dest: str | os.PathLike[str], *,
                aliases: Mapping[str, str] | Sequence[str] | None = None, label_attribute: str | None = None,
                class_mapping: Mapping[Any, Any] | Sequence[str] | None = None,
                label_category_config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
                scores: bool = False) -> ExportReport:
    """Write the labels of an output manifest or a dataset as one COCO detection JSON file at ``dest`` (local or
    ``s3://``). ``scores=True`` writes each box's confidence as ``score`` (a results file); by default none is
    written, so the file is ground truth. Boxes are clipped to their image; zero-area ones are counted and left
    out. Returns an :class:`ExportReport`; bad input raises :class:`~gtlabel.errors.InputError` naming the file,
    line and field, and nothing is written."""
    src, names, index, amap, version = _open(source, aliases, {
        "label_attribute": label_attribute, "class_mapping": class_mapping,
        "label_category_config": label_category_config})
    report = ExportReport(src.uri, str(dest), "coco", version, names)
    info = {"description": f"gtlabel export of {src.kind} {src.uri}", "version": version,
            "gtlabel_version": __version__, "source": src.uri, "source_version": src.version,
            "aliases": amap, "year": 0}
    with tempfile.TemporaryFile() as spool, storage.atomic_writer(dest, content_type="application/json") as out:
        out.write(coco_head(info, [(i + 1, n) for i, n in enumerate(names)]))
        ann_id = 0
        pending: list[bytes] = []
        size = 0
        for image_id, img in enumerate(src.images, 1):
            out.write(coco_image(image_id, img.ref, img.width, img.height, first=image_id == 1))
            for box in img.boxes:
                fb = _frame_box(box, img.width, img.height)
                if fb is None:
                    report.boxes_zero_area += 1
                    continue
                ann_id += 1
                cid = index[box[0]]
                piece = coco_annotation(ann_id, image_id, cid + 1, *fb, first=ann_id == 1,
                                        score=box[5] if scores else None)
                pending.append(piece)
                size += len(piece)
                report.class_counts[names[cid]] += 1
            if size >= _SPOOL_FLUSH:
                spool.write(b"".join(pending))
                pending, size = [], 0
            report.images += 1
        spool.write(b"".join(pending))
        out.write(ANNOTATIONS_START)
        spool.seek(0)
        shutil.copyfileobj(spool, out, 1 << 20)
        out.write(COCO_END)
        report.boxes = ann_id
    return report


def export_voc(source: str | os.PathLike[str], dest: str | os.PathLike[str], *,
               aliases: Mapping[str, str] | Sequence[str] | None = None, label_attribute: str | None = None,
               class_mapping: Mapping[Any, Any] | Sequence[str] | None = None,
               label_category_config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
               overwrite: bool = False) -> ExportReport:
    """Write one Pascal VOC XML per labeled image into the folder (or ``s3://`` prefix) ``dest``: named like the
    dataset's images (stem + 12 hex of the ``source-ref``, so two images named alike in different folders do not
    collide), ``<filename>`` the image's file name, ``<path>`` its ``source-ref``. A non-empty ``dest`` is
    replaced only with ``overwrite`` (:class:`~gtlabel.errors.DatasetExists`)."""
    src, names, index, _amap, version = _open(source, aliases, {
        "label_attribute": label_attribute, "class_mapping": class_mapping,
        "label_category_config": label_category_config})
    out = str(dest)
    report = ExportReport(src.uri, out, "voc", version, names)
    local = None if storage.is_s3(out) else Path(out).expanduser().resolve()
    if _non_empty(out, local):
        if not overwrite:
            raise DatasetExists(f"{out}: it exists and is not empty; choose another folder or pass overwrite=True "
                                f"(CLI: --overwrite)")
        if not (all(o.uri.endswith(".xml") for o in storage.list_objects(out.rstrip("/") + "/")) if local is None
                else local.is_dir() and all(p.is_file() and p.suffix == ".xml" for p in local.iterdir())):
            raise DatasetExists(f"{out}: it holds more than VOC .xml files; overwrite replaces only a folder of "
                                f"annotations (choose another folder)")
    parent = local.parent if local is not None else Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    staging = parent / f".{local.name if local else 'voc'}.partial-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        seen: dict[str, str] = {}
        for img in src.images:
            objects = []
            for box in img.boxes:
                fb = _frame_box(box, img.width, img.height)
                if fb is None:
                    report.boxes_zero_area += 1
                    continue
                name = names[index[box[0]]]
                objects.append(VocObject(name, *to_voc(*fb)))
                report.class_counts[name] += 1
            xml_name = dataset_name(img.source_ref or img.ref)[1].removesuffix(".txt") + ".xml"
            if xml_name in seen:
                raise InputError(f"{img.ref!r} and {seen[xml_name]!r} would both be written as {xml_name} "
                                 "(the same source-ref twice?)", file=src.uri)
            seen[xml_name] = img.ref
            ann = VocAnnotation(img.ref.rsplit("/", 1)[-1], img.width, img.height, 3, tuple(objects),
                                folder=img.ref.rsplit("/", 1)[0] if "/" in img.ref else "",
                                path=img.source_ref or img.ref)
            (staging / xml_name).write_bytes(render_voc(ann))
            report.images += 1
            report.boxes += len(objects)
        if local is not None:
            if local.exists():
                shutil.rmtree(local)
            os.replace(staging, local)
        else:
            _publish_s3(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _publish_s3(staging: Path, out: str) -> None:
    """The files of ``staging`` published under the prefix ``out`` with nothing half-written: uploaded to a staging
    prefix beside it first (a failure there leaves ``out`` untouched), then copied into place server-side; a copy
    that fails takes back the objects already published that were not there before (an ``overwrite`` keeps its
    old files until the new set is whole); the old ``.xml`` files the new set does not have go last."""
    base = out.rstrip("/")
    parent, _, name = base.rpartition("/")
    if parent in ("s3:/", ""):  # the bucket's root
        parent, name = base, "voc"
    stage = f"{parent}/.{name}.partial-{uuid.uuid4().hex[:12]}/"
    files = sorted(p.name for p in staging.iterdir())
    before = {o.uri for o in storage.list_objects(base + "/") if not o.uri.startswith(stage)}
    published: list[str] = []
    try:
        for f in files:
            storage.write_bytes(stage + f, (staging / f).read_bytes(), content_type="application/xml")
        storage.copy_many(((stage + f, f"{base}/{f}") for f in files), on_done=lambda _s, d: published.append(d))
    except BaseException:
        with contextlib.suppress(Exception):  # the original error is the one to see
            storage.delete_many([d for d in published if d not in before])
        raise
    finally:
        with contextlib.suppress(Exception):
            storage.delete_prefix(stage)
    stale = sorted(before - {f"{base}/{f}" for f in files})
    storage.delete_many(stale)


def _non_empty(out: str, local: Path | None) -> bool:
    if local is not None:
        return local.exists() and (not local.is_dir() or any(local.iterdir()))
    return next(iter(storage.list_objects(out.rstrip("/") + "/")), None) is not None
