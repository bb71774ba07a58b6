"""Import existing labels (YOLO, COCO, Pascal VOC) as a Ground Truth output manifest.

Each image becomes one output-manifest line under ``label_attribute``, built with
:mod:`gtlabel.formats.ground_truth`'s writers (the same shape a bounding-box job writes)::

    {"source-ref": ..., "<attr>": {"image_size": [{"width", "height", "depth": 3}], "annotations": [...]},
     "<attr>-metadata": {"objects": [{"confidence"}...], "class-map": {"<id>": "<name>"}, "type":
                         "groundtruth/object-detection", "human-annotated": "yes" | "no", "job-name": ...}}

``class_id`` is the index of the class in the job's labels (``labels=`` / the label category config / a job spec),
so the manifest is the prior label of an adjustment or verification job over those labels, and converts, merges
and versions like any job's output. A source class is renamed by ``aliases`` first; a class that is not among
the labels is an error naming the file and field, unless ``drop_unknown`` (counted). ``human-annotated`` is
``"no"`` for a line whose boxes carry a confidence (a detector's: COCO results' ``score``, YOLO's 6th column),
``"yes"`` otherwise, unless ``human_annotated`` says. A COCO results list (a detector's ``[{image_id, category_id,
bbox, score}]``) is imported with the ground-truth file that holds its images and categories (``results_of``):
one line per image of that file, every line ``"no"``. Boxes that leave their image by less than 1 px are clipped,
zero-area ones dropped (both counted). The manifest is written streamed and atomically (nothing on an error);
a rerun gives the same bytes (no creation date unless ``created`` is given).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from gtlabel import storage
from gtlabel.convert.classes import check_aliases, load_label_config, resolve_class_names
from gtlabel.errors import ConfigError, InputError, LabelError
from gtlabel.formats.coco import CocoBox
from gtlabel.formats.ground_truth import (
    LABEL_ATTRIBUTE_PATTERN,
    RESERVED_KEYS,
    bbox_label,
    check_source_ref,
    labeling_job_name,
    output_line,
    output_metadata,
)
from gtlabel.formats.json_stream import first_token
from gtlabel.geometry import clip_box, pixel
from gtlabel.interchange.readers import CocoSource, Item, image_size, iter_voc, iter_yolo
from gtlabel.manifests import resolve_source_ref
from gtlabel.settings import get_settings

__all__ = ["FORMATS", "ImportFormat", "ImportReport", "class_targets", "import_labels"]

ImportFormat = Literal["yolo", "coco", "voc"]
FORMATS: tuple[str, ...] = ("yolo", "coco", "voc")
DEFAULT_ATTRIBUTE = "imported"
DEFAULT_JOB = "gtlabel-import"
_TOLERANCE_PX = 1.0  # a box may leave its image by this much (rounding in other tools) and is clipped


@dataclass
class ImportReport:
    """What an import wrote."""

    source: str
    dest: str
    format: str
    label_attribute: str
    labels: list[str]
    images: int = 0
    boxes: int = 0
    predicted_images: int = 0  # lines written with human-annotated "no"
    boxes_clipped: int = 0
    boxes_zero_area: int = 0
    crowd_skipped: int = 0
    dropped_unknown: Counter[str] = field(default_factory=Counter)
    class_counts: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "dest": self.dest, "format": self.format,
                "label_attribute": self.label_attribute, "labels": self.labels, "images": self.images,
                "boxes": self.boxes, "predicted_images": self.predicted_images, "boxes_clipped": self.boxes_clipped,
                "boxes_zero_area": self.boxes_zero_area, "crowd_skipped": self.crowd_skipped,
                "dropped_unknown": dict(sorted(self.dropped_unknown.items())),
                "class_counts": dict(sorted(self.class_counts.items()))}

    def summary(self) -> str:
        dropped = sum(self.dropped_unknown.values())
        extra = f", {dropped} boxes of unknown classes dropped" if dropped else ""
        return (f"{self.format}: {self.images} images, {self.boxes} boxes ({self.predicted_images} images with "
                f"predicted boxes){extra} -> {self.dest} (label attribute {self.label_attribute!r})")


class _Refs:
    """``source-ref`` s of the imported images: under ``images`` (an ``s3://`` prefix, or a folder inside the
    manifest's folder), else the name as the source gives it (relative: to the manifest's folder)."""

    def __init__(self, images: str | None, dest: str) -> None:
        self.dest = dest
        self.prefix: str | None = None
        self.dest_dir = None if storage.is_s3(dest) else Path(dest).expanduser().resolve().parent
        if images is None:
            return
        if storage.is_s3(images):
            self.prefix = images.rstrip("/") + "/"
            return
        if self.dest_dir is None:
            raise ConfigError(f"images {images!r}: with a manifest on S3, give the images' s3:// prefix")
        rel = os.path.relpath(Path(images).expanduser().resolve(), self.dest_dir).replace(os.sep, "/")
        if rel.startswith("..") or os.path.isabs(rel):
            raise ConfigError(f"images {images}: source-refs are relative to the manifest's folder "
                              f"({self.dest_dir}), so the images must be inside it; write the manifest higher up, "
                              f"or give their s3:// prefix")
        self.prefix = "" if rel == "." else rel + "/"

    def ref(self, name: str, item: Item, fld: str) -> str:
        """The checked ``source-ref`` of an image named ``name`` by its source."""
        if storage.is_s3(name):
            ref = name
        elif self.prefix is not None:
            ref = self.prefix + name.lstrip("/")
        elif self.dest_dir is not None and os.path.isabs(name):  # a local image found by listing (YOLO)
            ref = os.path.relpath(name, self.dest_dir).replace(os.sep, "/")
        else:
            ref = name
        try:
            return check_source_ref(ref, file=item.file, line=item.line)
        except InputError as exc:
            raise LabelError(f"{exc.reason} (give --images: where the images are, an s3:// prefix or a folder "
                             "inside the manifest's folder)", file=item.file, line=item.line, field=fld) from None


def class_targets(labels: Sequence[str] | None, label_category_config: str | os.PathLike[str] | Mapping[str, Any] | None,
                  source_names: Sequence[str], aliases: Mapping[str, str]) -> list[str]:
    """The dataset's class names in id order: ``labels``, else the label category config's, else the source's
    (``source_names`` after ``aliases``, in order of first appearance)."""
    cfg = load_label_config(label_category_config)
    if labels is not None or cfg is not None:
        return resolve_class_names(list(labels) if labels is not None else None, cfg)
    out: dict[str, None] = {}
    for n in source_names:
        out.setdefault(aliases.get(n, n), None)
    if not out:
        raise ConfigError("no class names: give the job's labels (labels= / --labels / --label-config)")
    return list(out)


def import_labels(fmt: ImportFormat, source: str | os.PathLike[str], dest: str | os.PathLike[str], *,
                  label_attribute: str = DEFAULT_ATTRIBUTE, labels: Sequence[str] | None = None,
                  label_category_config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
                  drop_unknown: bool = False, aliases: Mapping[str, str] | Sequence[str] | None = None,
                  images: str | None = None, classes: Sequence[str] | None = None,
                  human_annotated: bool | None = None, job_name: str = DEFAULT_JOB,
                  created: str | None = None, results_of: str | os.PathLike[str] | None = None) -> ImportReport:
    """Import ``fmt`` labels from ``source`` as a Ground Truth output manifest at ``dest`` (local or ``s3://``).

    Args:
        fmt: ``"coco"`` (a COCO JSON file, or a results list with ``results_of``), ``"voc"`` (a folder of VOC XML files, or one), ``"yolo"`` (a YOLO
            dataset folder with ``data.yaml``, or ``classes``).
        label_attribute: the attribute the labels go under (an adjustment job's prior label attribute).
        labels / label_category_config: the job's labels in order (``class_id`` = index); default: the source's
            classes (after ``aliases``), in its order.
        drop_unknown: drop (and count) boxes of classes not among the labels instead of failing.
        aliases: ``{"car": "vehicle"}`` or ``["car=vehicle"]``: source class names renamed first.
        images: where the images are (``s3://`` prefix, or a folder inside the manifest's folder); each
            ``source-ref`` is this + the source's file name. Default: the name as the source gives it.
        classes: the YOLO class names when the source has no data.yaml.
        human_annotated: force ``human-annotated`` (default: ``"no"`` where boxes carry a confidence).
        job_name / created: the metadata's ``job-name`` (``labeling-job/<name>``) and ``creation-date``.
        results_of: COCO only, for a ``source`` that is a results list (a detector's ``[{image_id, category_id,
            bbox, score}, ...]``, as pycocotools' ``loadRes`` reads it): the COCO ground-truth file holding its
            images and categories. Every image of that file becomes a line, with its detections (none: no box),
            each ``score`` kept as the box's confidence, ``human-annotated: no`` (unless ``human_annotated``). A
            results list without ``results_of`` (or ``results_of`` with a whole COCO file) is a
            :class:`~gtlabel.errors.ConfigError`.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if not LABEL_ATTRIBUTE_PATTERN.fullmatch(label_attribute) or label_attribute in RESERVED_KEYS \
            or label_attribute.endswith(("-metadata", "-ref")):
        raise ConfigError(f"label attribute {label_attribute!r}: letters, digits and inner hyphens, at most 127, "
                          f"not ending in -metadata or -ref")
    src, out = str(source), str(dest)
    amap = check_aliases(aliases)
    refs = _Refs(images, out)
    report = ImportReport(src, out, fmt, label_attribute, [])
    items: Iterator[Item]
    if results_of is not None and fmt != "coco":
        raise ConfigError("results_of (--results-of) is for a COCO results list")
    if fmt == "coco":
        coco = _coco_source(src, None if results_of is None else str(results_of))
        if results_of is not None and human_annotated is None:
            human_annotated = False  # a detector's boxes, also on an image where it found none
        report.crowd_skipped = coco.crowd
        source_names = list(coco.categories.values())
        items = _coco_items(coco)
    elif fmt == "voc":
        source_names = []
        if labels is None and label_category_config is None:  # the classes first (VOC files are small)
            source_names = list(dict.fromkeys(b[0] for it in iter_voc(src) for b in it.boxes))
        items = iter_voc(src)
    else:
        source_names, items = iter_yolo(src, classes, threads=get_settings().max_concurrency)
    lines = _Lines(class_targets(labels, label_category_config, source_names, amap), amap, drop_unknown,
                   human_annotated, labeling_job_name(job_name), created, label_attribute, refs, report)
    report.labels = lines.targets
    with storage.atomic_writer(out, content_type="application/jsonlines") as fh:
        for item in items:
            fh.write(lines.line(item))
        if report.images == 0:
            raise InputError("no image found; nothing was written", file=src)
    return report


def _coco_source(src: str, results_of: str | None) -> CocoSource:
    """A COCO file, or a results list (told apart by its first character) with the ground truth it refers to."""
    is_list = first_token(storage.read_range(src, 0, 4096).data) == "["
    if is_list and results_of is None:
        raise ConfigError(f"{src} is a COCO results list (detections without images or categories): give the COCO "
                          "ground-truth file that holds its images and categories (results_of= / --results-of "
                          "GT.json)")
    if results_of is not None and not is_list:
        raise ConfigError(f"results_of (--results-of) is for a COCO results list (a JSON list of detections); {src} "
                          "is not one")
    return CocoSource(src, results_of=results_of)


def _coco_field(coco: CocoSource, boxes: Sequence[CocoBox]) -> Callable[[int], str]:
    return lambda i: coco.check.box_path(boxes[i].pos, boxes[i].ann_id) + ".category_id"


def _coco_items(coco: CocoSource) -> Iterator[Item]:
    cats = coco.categories
    for im, boxes in coco.items():
        yield Item(im.file_name, im.width, im.height,
                   [(cats[c], x, y, w, h, score) for c, x, y, w, h, score, _pos, _id in boxes], coco.uri,
                   _coco_field(coco, boxes))


class _Lines:
    """Output-manifest lines of imported images (classes mapped, boxes checked and clipped, all counted)."""

    def __init__(self, targets: list[str], amap: Mapping[str, str], drop_unknown: bool, human: bool | None,
                 job: str, created: str | None, attr: str, refs: _Refs, report: ImportReport) -> None:
        self.targets, self.amap, self.drop_unknown, self.human = targets, amap, drop_unknown, human
        self.job, self.created, self.attr, self.refs, self.report = job, created, attr, refs, report
        self.index = {n: i for i, n in enumerate(targets)}

    def line(self, item: Item) -> bytes:
        report, amap, index = self.report, self.amap, self.index
        ref = self.refs.ref(item.name, item, "file_name" if item.alt_name is None else "path")
        w, h = item.width, item.height
        if not w or not h:  # the source does not say (a VOC file without <size>): the image's header does
            where = resolve_source_ref(ref, self.refs.dest)
            size = image_size(where)
            if isinstance(size, str):
                raise LabelError(f"no size given, and the image {where} cannot be read for it ({size})",
                                 file=item.file, line=item.line, field="size")
            w, h = size
        anns: list[dict[str, Any]] = []
        objects: list[dict[str, Any]] = []
        present: dict[int, str] = {}
        scored = False
        for i, (name, left, top, bw, bh, conf) in enumerate(item.boxes):
            target = amap.get(name, name)
            cid = index.get(target)
            if cid is None:
                if self.drop_unknown:
                    report.dropped_unknown[name] += 1
                    continue
                raise LabelError(f"class {name!r}{f' (alias of {target!r})' if target != name else ''} is not "
                                 f"one of the job's labels {self.targets}; add it, alias it (--alias "
                                 f"{name}=LABEL) or drop it (--drop-unknown)", file=item.file, line=item.line,
                                 field=item.field(i))
            if left < 0 or top < 0 or left + bw > w or top + bh > h:
                if left < -_TOLERANCE_PX or top < -_TOLERANCE_PX or left + bw > w + _TOLERANCE_PX \
                        or top + bh > h + _TOLERANCE_PX:
                    raise LabelError(f"box ({left:g}, {top:g}, {bw:g}, {bh:g}) is outside the image ({w}x{h})",
                                     file=item.file, line=item.line, field=item.field(i))
                box = clip_box(left, top, bw, bh, w, h)
                if box is None:
                    report.boxes_zero_area += 1
                    continue
                report.boxes_clipped += 1
                left, top, bw, bh = box
            elif bw <= 0 or bh <= 0:
                report.boxes_zero_area += 1
                continue
            anns.append({"class_id": cid, "left": pixel(left), "top": pixel(top), "width": pixel(bw),
                         "height": pixel(bh)})
            objects.append({"confidence": conf} if conf is not None else {})
            scored = scored or conf is not None
            present[cid] = target
            report.class_counts[target] += 1
        is_human = (not scored) if self.human is None else self.human
        meta = output_metadata(objects, {str(k): v for k, v in sorted(present.items())}, job_name=self.job,
                               created=self.created, human_annotated=is_human)
        report.images += 1
        report.boxes += len(anns)
        report.predicted_images += not is_human
        return orjson.dumps(output_line({"source-ref": ref}, self.attr, bbox_label(w, h, anns), meta)) + b"\n"
